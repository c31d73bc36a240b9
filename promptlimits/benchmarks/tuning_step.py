"""Time of one prompt-tuning step (loss and gradient) against n = Lp + L, exact attention.

Prints a table and the log-log slope of time against n. With ``L = Lp = n/2``
the attention block is ``(n/2) x n``, so the exact backend's time grows like
``n^2`` once attention dominates.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_positive_int
from ..measure import best_time, loglog_slope
from ..model import PromptedModel


def add_arguments(p) -> None:
    p.add_argument("--n-min", type=int, default=64)
    p.add_argument("--n-max", type=int, default=8192)
    p.add_argument("--d", type=int, default=8)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3, help="best of this many steps")


def time_step(model, P, X, Y, repeats):
    """Best wall time of ``repeats`` loss-and-gradient steps."""
    return best_time(lambda: model.loss_and_grad(P, X, Y), repeats).seconds


def run(args) -> int:
    check_positive_int(args.n_min, "--n-min", minimum=4)
    check_positive_int(args.n_max, "--n-max", minimum=args.n_min)
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
