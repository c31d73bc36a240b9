"""Time of one prompt-tuning step (loss and gradient) against n = Lp + L, exact attention.

Prints a table and the log-log slope of time against n. With ``L = Lp = n/2``
the attention block is ``(n/2) x n``, so the exact backend's time grows like
``n^2`` once attention dominates.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_memory, check_positive_int
from ..measure import best_time, loglog_slope
from ..model import PromptedModel
from ..tuning import tuning_bytes


def add_arguments(p) -> None:
    p.add_argument("--n-min", type=int, default=64)
    p.add_argument("--n-max", type=int, default=8192)
    p.add_argument("--d", type=int, default=8)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="best of this many steps")


def time_step(model, P, X, Y, repeats):
    """Best wall time of ``repeats`` loss-and-gradient steps."""
    return best_time(lambda: model.loss_and_grad(P, X, Y), repeats).seconds


def check_args(args) -> None:
    """Every option's range and the memory of the largest ``n``, before any work (each message names its flag)."""
    for flag, minimum in (("--n-min", 4), ("--n-max", 4), ("--d", 1), ("--batch", 1), ("--repeats", 1)):
        check_positive_int(getattr(args, flag[2:].replace("-", "_")), flag, minimum=minimum)
    if args.n_max < args.n_min:
        raise ValueError(f"--n-max must be >= --n-min, got {args.n_max} < {args.n_min}")
    L = args.n_max // 2
    check_memory(tuning_bytes(args.d, args.d, 4 * args.d, batch=args.batch, L=L, Lp=args.n_max - L),
                 f"a tuning step with --n-max {args.n_max}, --batch {args.batch}, --d {args.d}")


def run(args) -> int:
    check_args(args)
    rng = np.random.default_rng(0)
    model = PromptedModel.from_seed(args.d, seed=0)
    ns, times = [], []
    print(f"one tuning step (loss + gradient w.r.t. P), exact attention, d={args.d}, batch={args.batch}, L=Lp=n/2")
    print(f"{'n':>7} {'seconds':>10} {'us/n':>8}")
    n = args.n_min
    while n <= args.n_max:
        L = n // 2
        P = rng.normal(size=(n - L, args.d))
        X = rng.uniform(size=(args.batch, L, args.d))
        Y = rng.uniform(size=X.shape)
        t = time_step(model, P, X, Y, args.repeats)
        ns.append(n)
        times.append(t)
        print(f"{n:>7} {t:>10.5f} {1e6 * t / n:>8.2f}")
        n *= 2
    if len(ns) >= 2:
        slope = loglog_slope(ns, times)
        half = max(2, len(ns) // 2)
        tail = loglog_slope(ns[-half:], times[-half:])
        print(f"log-log slope of time against n: {slope:.2f} overall, {tail:.2f} on the largest {half} sizes")
    return 0
