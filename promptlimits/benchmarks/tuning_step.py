"""Time of one prompt-tuning step (loss and gradient w.r.t. P) against n = Lp + L, on the exact, poly or auto backend.

With ``L = Lp = n/2`` the attention block is ``(n/2) x n``: exact attention's
step grows like ``n^2`` once attention dominates, the polynomial method's like
``n r``. The model is :meth:`promptlimits.PromptedModel.from_seed` with
``--weight-scale`` (default 0.25: induced norm ``B`` below 0.5 at ``d = 8``),
prompt and inputs uniform in ``[0, 1]``; the poly and auto backends are one
:class:`promptlimits.backend.AttentionBackend` per size, warmed up by one step
(which certifies the plan and loads the kernels), so the timed steps reuse
the plan as tuning does.

Exact reference. Up to ``--exact-full-max`` the exact step is timed as it is.
Above, it is timed on ``rows`` and ``2 rows`` sampled query rows (the step of
the same model with ``L = rows`` inputs and ``n - rows`` prompt rows, so the
attention is ``rows x n``) and extrapolated linearly in the number of query
rows to ``L`` (marked ``~``); the gradient's distance from exact is then
measured on that sampled problem. Above ``--exact-max`` exact is not run.
``grad_err`` is ``max |g - g_exact| / max |g_exact|``.

Adam runs (``--adam-steps K``). Instead of single steps, each size times ``K``
Adam steps of :func:`promptlimits.tuning.tune_prompt` on ``--batch``
sequences (a fresh backend per run, as tuning makes one, after a warm-up run),
on the backend asked and on exact, best of ``--repeats`` runs; the norm, and
so the plan's rank, may grow as the prompt moves (the table gives the plan
the run ended with). A second table times the attention alone, the batched
polynomial forward and backward (:meth:`PolyPlan.forward_batch
<promptlimits.poly_attention.PolyPlan.forward_batch>`, one kernel call per
pass for the batch) against exact attention's, on the queries, keys and
values of the first step, where a plan certifies them. ``--s`` sets the head
size (default ``--d``).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from .._checks import check_memory, check_open_interval, check_positive_float
from ..attention import exact_attention, exact_attention_backward
from ..backend import BACKENDS, AttentionBackend
from ..measure import best_time, loglog_slope
from ..model import PromptedModel
from ..tuning import init_prompt, tune_prompt, tuning_bytes
from ._args import check_sizes
from ._table import print_table

#: Seconds after which a best-of-k timing stops repeating.
_BUDGET = 3.0


def add_arguments(p) -> None:
    p.add_argument("--backend", default="poly", choices=BACKENDS, help="backend timed (default poly)")
    p.add_argument("--n-min", type=int, default=64, help="smallest n = Lp + L (default 64)")
    p.add_argument("--n-max", type=int, default=2**18, help="largest n (default 2^18)")
    p.add_argument("--exact-full-max", type=int, default=2**12,
                   help="largest n at which the exact step runs on every query row (default 2^12)")
    p.add_argument("--exact-max", type=int, default=2**18, help="largest n for the exact reference (default 2^18)")
    p.add_argument("--exact-rows", type=int, default=256,
                   help="query rows of the sampled exact steps above --exact-full-max (and twice as many)")
    p.add_argument("--d", type=int, default=8, help="token width and head size (default 8)")
    p.add_argument("--batch", type=int, default=1, help="sequences per step (default 1)")
    p.add_argument("--s", type=int, default=None, help="head size (default --d)")
    p.add_argument("--adam-steps", type=int, default=0,
                   help="time this many Adam steps of tune_prompt per size instead of single steps (default 0: off)")
    p.add_argument("--weight-scale", type=float, default=0.25, help="the model's weight scale (default 0.25)")
    p.add_argument("--attn-eps", type=float, default=1e-6, help="attention error of the poly backend (default 1e-6)")
    p.add_argument("--repeats", type=int, default=3, help="best of this many steps (default 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the model, prompt and inputs")


def check_args(args) -> None:
    """Every option's range and the memory of the largest ``n``, before any work (each message names its flag)."""
    check_sizes(args, (("--n-min", 4), ("--n-max", 4), ("--d", 1), ("--batch", 1), ("--repeats", 1),
                       ("--adam-steps", 0), ("--exact-full-max", 0), ("--exact-max", 0), ("--exact-rows", 1),
                       ("--seed", 0)))
    if args.s is not None:
        check_sizes(args, (("--s", 1),))
    check_positive_float(args.weight_scale, "--weight-scale")
    check_open_interval(args.attn_eps, "--attn-eps", 0.0, 1.0)
    L = args.n_max // 2
    check_memory(tuning_bytes(args.d, args.s or args.d, 4 * args.d, batch=args.batch, L=L, Lp=args.n_max - L),
                 f"a tuning step with --n-max {args.n_max}, --batch {args.batch}, --d {args.d}")


def _problem(args, n: int, L: int, rng):
    """Prompt, inputs and targets of a step with ``n - L`` prompt rows and ``L`` input rows."""
    P = rng.uniform(size=(n - L, args.d))
    X = rng.uniform(size=(args.batch, L, args.d))
    return P, X, rng.uniform(size=X.shape)


def _step(model, backend, P, X, Y, repeats):
    """Best time of a loss-and-gradient step after one warm-up step; ``(seconds, info, grad)``."""
    model.loss_and_grad(P, X, Y, backend=backend)
    t = best_time(lambda: model.loss_and_grad(P, X, Y, backend=backend), repeats, budget=_BUDGET)
    return t.seconds, t.result[0], t.result[1]


def _grad_err(g, g_exact) -> float:
    return float(np.max(np.abs(g - g_exact)) / np.max(np.abs(g_exact)))


def _exact_reference(args, model, n, L, P, X, Y, backend, g):
    """``(t_exact, mark, grad_err)`` at size ``n`` (module docstring); ``nan`` where not run."""
    if n > args.exact_max:
        return math.nan, "", math.nan
    if n <= args.exact_full_max:
        t, _, ge = _step(model, "exact", P, X, Y, args.repeats)
        return t, "", (math.nan if g is None else _grad_err(g, ge))
    rng = np.random.default_rng(args.seed + n)
    rows = min(args.exact_rows, L // 2)
    times = {}
    for k in (rows, 2 * rows):
        Ps, Xs, Ys = _problem(args, n, k, rng)
        times[k], _, ge = _step(model, "exact", Ps, Xs, Ys, args.repeats)
    slope = (times[2 * rows] - times[rows]) / rows  # seconds per query row
    t = times[rows] + slope * (L - rows)
    if g is None:
        return t, "~", math.nan
    _, _, gs = _step(model, backend, Ps, Xs, Ys, 1)  # the sampled problem on the timed backend
    return t, "~", _grad_err(gs, ge)


def _row(args, model, n, rng):
    """One table row and ``(t_step, t_exact)``."""
    L = n // 2
    P, X, Y = _problem(args, n, L, rng)
    backend = AttentionBackend(args.backend, args.attn_eps)
    t, info, g = _step(model, backend, P, X, Y, args.repeats)
    poly = info.backend == "poly"
    if args.backend == "exact":
        te, mark, gerr = t, "", math.nan
    else:
        te, mark, gerr = _exact_reference(args, model, n, L, P, X, Y, backend, g if poly else None)
    plan = backend.plan if poly else None
    used = f"poly g={plan.degree} r={plan.rank}" if plan else "exact"
    cells = [n, f"{info.B:.3f}", used, f"{t:.4g}", "-" if math.isnan(te) else f"{te:.4g}{mark}",
             "-" if math.isnan(te) or args.backend == "exact" else f"{te / t:.1f}",
             "-" if math.isnan(gerr) else f"{gerr:.2e}", f"{1e6 * t / n:.2f}"]
    return cells, t, te


def _adam(model, backend, X, Y, Lp, args):
    """Best wall time of ``--adam-steps`` Adam steps over ``--repeats`` runs, after a warm-up run; and the last
    run's backend."""
    def once():
        be = AttentionBackend(backend, args.attn_eps)
        tune_prompt(model, X, Y, Lp=Lp, steps=args.adam_steps, backend=be, seed=args.seed, progress=False)
        return be

    once()
    t = best_time(once, args.repeats)
    return t.seconds, t.result


def _attention_alone(args, model, backend, X, Lp, rng):
    """``(t_poly, t_exact)``: the batched polynomial forward + backward against exact attention's, on the first
    step's queries, keys and values (``nan`` where no plan certifies them)."""
    P = init_prompt(Lp, model.d, X=X, seed=args.seed)  # tune_prompt's first prompt
    _, _, _, Q, K, V = model._attention_inputs(P, X)
    plan = backend.choose(d=model.s, scale=model.scale, B=model.induced_norm(P, X).B, n_queries=Q.shape[1],
                          n_keys=K.shape[1]).plan
    if plan is None:
        return math.nan, math.nan
    G = rng.normal(size=Q.shape[:2] + (V.shape[2],))

    def poly():
        plan.forward_batch(Q, K, V, variant=model.variant)
        plan.backward_batch(Q, K, V, G, variant=model.variant)

    def exact():
        exact_attention(Q, K, V, scale=model.scale, variant=model.variant)
        exact_attention_backward(Q, K, V, G, scale=model.scale, variant=model.variant)

    poly()
    exact()
    return best_time(poly, args.repeats).seconds, best_time(exact, args.repeats).seconds


def run_adam(args, model, ns, rng) -> int:
    """The Adam-run tables (module docstring)."""
    rows, alone = [], []
    for n in ns:
        L = n // 2
        _, X, Y = _problem(args, n, L, rng)
        t, be = _adam(model, args.backend, X, Y, n - L, args)
        te, _ = _adam(model, "exact", X, Y, n - L, args)
        used = f"poly g={be.plan.degree} r={be.plan.rank}" if be.plan is not None else "exact"
        rows.append([n, args.batch, used, f"{t:.4g}", f"{te:.4g}", f"{t / te:.2f}"])
        tp, tx = _attention_alone(args, model, AttentionBackend("poly", args.attn_eps), X, n - L, rng)
        if not math.isnan(tp):
            alone.append([n, args.batch, f"{tp:.4g}", f"{tx:.4g}", f"{tx / tp:.2f}"])
        print(f"n = {n}: {args.adam_steps} Adam steps {t:.3g} s ({args.backend}), {te:.3g} s (exact)",
              file=sys.stderr, flush=True)
    print_table(f"{args.adam_steps} Adam steps of tune_prompt, best of {args.repeats} runs (seconds; attention = "
                f"the plan the {args.backend} run ended with)",
                ["n", "batch", "attention", f"t_{args.backend}", "t_exact", f"t_{args.backend}/t_exact"], rows)
    if alone:
        print_table("Attention alone, forward + backward of the batch at the first step (seconds): batched "
                    "polynomial kernels against exact attention",
                    ["n", "batch", "t_poly", "t_exact", "speedup"], alone)
    return 0


def run(args) -> int:
    check_args(args)
    rng = np.random.default_rng(args.seed)
    model = PromptedModel.from_seed(args.d, s=args.s, seed=args.seed, weight_scale=args.weight_scale)
    print(f"one tuning step (loss + gradient w.r.t. P), backend {args.backend}, d={args.d}, s={model.s}, "
          f"batch={args.batch}, "
          f"L = Lp = n/2, attn_eps={args.attn_eps:g}, weight scale {args.weight_scale:g}")
    ns = [2**k for k in range(math.ceil(math.log2(args.n_min)), int(math.log2(args.n_max)) + 1)]
    if args.adam_steps:
        return run_adam(args, model, ns, rng)
    rows, times, exact = [], [], []
    for n in ns:
        cells, t, te = _row(args, model, n, rng)
        rows.append(cells)
        times.append(t)
        exact.append(te)
        print(f"n = {n}: step {t:.3g} s", file=sys.stderr, flush=True)
    print_table("Tuning step (seconds; ~ = exact extrapolated from sampled query rows; grad_err = max|g - g_exact| / "
                "max|g_exact|, on the sampled problem where ~)",
                ["n", "B", "attention", "t_step", "t_exact", "speedup", "grad_err", "us/n"], rows)
    big = [i for i, n in enumerate(ns) if 2**12 <= n <= 2**18]
    slope = loglog_slope([ns[i] for i in big], [times[i] for i in big])
    print(f"log-log slope of the {args.backend} step on n = 2^12..2^18 (within the range): {slope:.2f}; "
          f"exact: {loglog_slope(ns, exact):.2f} over the sizes where it was measured")
    return 0
