"""Exact vs polynomial-method attention: time, speedup, error and GFLOP/s against n.

docs/theory.md §3 and §5 (figure 2). For each ``B`` and ``n`` (``d = 8``,
polynomial error ``eps_p = 1e-6`` by default) it times
:func:`promptlimits.exact_attention` and the fused polynomial kernel
(:class:`promptlimits.poly_attention.PolyPlan`), forward and backward, best of
a few repeats (:func:`promptlimits.measure.best_time`) after a warm-up call
that compiles. It prints the measured max error beside the certified bound
(:meth:`~promptlimits.poly_attention.PolyPlan.output_bound`,
``output_eps_for_eps_p(eps_p) ||V||max``), the degree and rank of the plan, the fused
kernel's GFLOP/s (``4 n r d`` flops forward, ``12 n r d`` backward) beside a
float64 BLAS matmul measured in the same run, and log-log slopes of time
against ``n``. Before the tables it prints the per-call time at ``n = 256``
(forward and backward), where a fixed cost per call would show.

Beside the certified method, a random-features baseline at matched time:
FAVOR+ positive orthogonal random features
(:func:`promptlimits.random_features.random_feature_attention`, numpy and
BLAS), with the feature count ``m`` that takes as long as the polynomial
forward on the same inputs (started from the flop-matched count
:func:`~promptlimits.random_features.matched_features`, scaled once by the
measured time ratio until within 10 %, at most three times; capped where its
``n x m`` features would pass ``2^26`` entries, marked ``cap``). Its error is measured on the same query
rows as the polynomial's, and ``rf/poly`` is the ratio of the two.

Exact attention costs ``n^2``; above ``--exact-full-max`` it is timed on a
sample of ``--exact-rows`` query rows and scaled by ``n / rows`` (its cost is
linear in the number of query rows at fixed keys); such rows are marked
``~``, and their error is measured on the sampled rows. Above
``--exact-max`` exact attention is not run.

``--roofline`` prints instead the flops, vector operations and bytes per row
of each kernel pass and its one-thread rate (:mod:`.attention_roofline`).
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import attention_bytes, check_memory, check_open_interval, check_positive_float
from ..attention import exact_attention, exact_attention_backward
from ..measure import best_time, loglog_slope
from ..poly_attention import make_plan
from ..random_features import draw_projection, matched_features, random_feature_attention
from ._args import check_sizes
from ._table import print_table
from .attention_roofline import roofline

#: Seconds after which a best-of-k timing stops repeating.
_BUDGET = 3.0

#: Largest ``n x m`` of the random-features baseline (its feature matrices are ``n x m``).
_RF_ENTRIES = 2**26

#: Rows at which the per-call time is reported.
_SMALL_N = 256


def add_arguments(parser) -> None:
    parser.add_argument("--n-min", type=int, default=2**10, help="smallest n (default 2^10)")
    parser.add_argument("--n-max", type=int, default=2**18, help="largest n (default 2^18)")
    parser.add_argument("--exact-max", type=int, default=2**16, help="largest n for exact attention (default 2^16)")
    parser.add_argument("--exact-full-max", type=int, default=2**13,
                        help="largest n at which exact attention runs on every query row (default 2^13)")
    parser.add_argument("--exact-rows", type=int, default=2048, help="query rows sampled above --exact-full-max")
    parser.add_argument("--d", type=int, default=8, help="head dimension (default 8)")
    parser.add_argument("--B", type=float, nargs="+", default=[0.25, 0.5, 1.0], help="norm bounds")
    parser.add_argument("--eps-p", type=float, default=1e-6,
                        help="certified relative error of the polynomial, eps_p (default 1e-6)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="best of this many timed runs (default 5; shared machines are noisy)")
    parser.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    parser.add_argument("--no-backward", action="store_true", help="skip the backward table")
    parser.add_argument("--bwd-n-max", type=int, default=2**16, help="largest n for the backward table (default 2^16)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny run (n 2^8..2^11, B=0.5, one repeat)")
    parser.add_argument("--roofline", action="store_true",
                        help="print only the roofline table: flops, vector operations and bytes per row of each "
                             "kernel pass, and its one-thread rate against one-thread BLAS (least CPU time)")
    parser.add_argument("--roofline-rows", type=int, default=4096,
                        help="rows per timed pass of --roofline, a multiple of 8 (default 4096)")


def check_args(args) -> None:
    """Every option's range and the memory of the largest ``n``, before any work (each message names its flag)."""
    import numba

    check_sizes(args, (("--n-min", 4), ("--n-max", 4), ("--exact-rows", 1), ("--d", 1), ("--repeats", 1),
                       ("--exact-max", 0), ("--exact-full-max", 0), ("--bwd-n-max", 0), ("--seed", 0),
                       ("--roofline-rows", 8)))
    if args.roofline_rows % 8:
        raise ValueError(f"--roofline-rows must be a multiple of 8, got {args.roofline_rows}")
    for B in args.B:
        check_positive_float(B, "--B")
    check_open_interval(args.eps_p, "--eps-p", 0.0, 1.0)
    if args.threads is not None and not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"--threads must be between 1 and {numba.config.NUMBA_NUM_THREADS}, got {args.threads}")
    check_memory(attention_bytes(args.n_max, args.d), f"the benchmark with --n-max {args.n_max}, --d {args.d}")


def _best_time(fn, repeats: int):
    """``(best seconds, last result)`` of up to ``repeats`` calls within :data:`_BUDGET` seconds."""
    t = best_time(fn, repeats, budget=_BUDGET)
    return t.seconds, t.result


def _blas_gflops(rng, repeats: int):
    A = rng.standard_normal((2048, 2048))
    A @ A
    t, _ = _best_time(lambda: A @ A, repeats)
    return 2 * 2048**3 / t / 1e9


def _fmt_t(t):
    return "-" if not np.isfinite(t) else f"{t:.4g}"


def _exact_rows(args, n: int) -> int:
    """Query rows on which exact attention runs at size ``n`` (all up to --exact-full-max)."""
    return n if n <= args.exact_full_max else min(n, args.exact_rows)


def _random_features(args, plan, Q, K, V, tp, E, rows, rng):
    """The baseline at the polynomial's time ``tp``: ``(m, capped, t_rf, error on the exact rows)``."""
    n, d = Q.shape
    cap = max(1, _RF_ENTRIES // n)
    m = min(cap, matched_features(plan.rank, n_q=n, n_k=n, d=d, d_v=V.shape[1]))
    for attempt in range(4):  # flop-matched, then scaled by the measured time ratio until within 10 %
        W = draw_projection(m, d, seed=rng)
        t, T = _best_time(lambda W=W: random_feature_attention(Q, K, V, projection=W), args.repeats)
        m_next = min(cap, max(1, round(m * tp / t)))
        if attempt == 3 or m_next == m or abs(t / tp - 1.0) < 0.1:
            break
        m = m_next
    err = math.nan if E is None else float(np.max(np.abs(T[:rows] - E)))
    return m, m == cap, t, err


def _forward_row(args, plan, Q, K, V, blas_sq, rng):
    """One row of the forward table and ``(t_poly, t_exact)`` (``nan`` when exact is not run)."""
    n, d = Q.shape
    tp, T = _best_time(lambda: plan(Q, K, V), args.repeats)
    flops = 4 * n * plan.rank * d
    te, err, E, rows = math.nan, math.nan, None, _exact_rows(args, n)
    if n <= args.exact_max:
        te_rows, E = _best_time(lambda: exact_attention(Q[:rows], K, V), args.repeats)
        te = te_rows * n / rows
        err = float(np.max(np.abs(T[:rows] - E)))
    m, capped, t_rf, rf_err = _random_features(args, plan, Q, K, V, tp, E, rows, rng)
    bound = plan.output_bound(V)
    mark = "" if rows == n else "~"
    row = [f"{plan.B:g}", n, plan.degree, plan.rank, _fmt_t(te) + mark if n <= args.exact_max else "-", _fmt_t(tp),
           "-" if not np.isfinite(te) else f"{te / tp:.1f}",
           "-" if not np.isfinite(err) else f"{err:.2e}", f"{bound:.2e}",
           "-" if not np.isfinite(err) else ("yes" if err <= bound else "NO"),
           f"{flops / tp / 1e9:.2f}", f"{flops / tp / 1e9 / blas_sq:.2f}",
           f"{m}" + (" cap" if capped else ""), _fmt_t(t_rf), "-" if not np.isfinite(rf_err) else f"{rf_err:.2e}",
           "-" if not (np.isfinite(rf_err) and err > 0) else f"{rf_err / err:.1e}"]
    return row, tp, te


def _per_call(args, plan, rng):
    """Forward and backward seconds of one call at ``n = 256`` (best of many): the fixed cost per call."""
    Q, K, V = (rng.uniform(-plan.B, plan.B, (_SMALL_N, args.d)) for _ in range(3))
    fwd = best_time(lambda: plan(Q, K, V), max(20, args.repeats), budget=_BUDGET).seconds
    bwd = best_time(lambda: plan.backward(Q, K, V, V), max(20, args.repeats), budget=_BUDGET).seconds
    return fwd, bwd


def _backward_row(args, plan, Q, K, V, G, blas_sq):
    """One row of the backward table and ``(t_poly, t_exact)``."""
    n, d = Q.shape
    tpb, grads = _best_time(lambda: plan.backward(Q, K, V, G), args.repeats)
    teb, gerr, mark = math.nan, math.nan, ""
    if n <= args.exact_max:
        if n <= args.exact_full_max:
            teb, ref = _best_time(lambda: exact_attention_backward(Q, K, V, G), args.repeats)
            scale = max(float(np.max(np.abs(r))) for r in ref)
            gerr = max(float(np.max(np.abs(a - b))) for a, b in zip(grads, ref)) / scale
        else:
            rows = min(n, args.exact_rows)
            mark = "~"
            teb_rows, _ = _best_time(lambda: exact_attention_backward(Q[:rows], K, V, G[:rows]), 1)
            teb = teb_rows * n / rows
    gflops = 12 * n * plan.rank * d / tpb / 1e9
    row = [f"{plan.B:g}", n, plan.rank, _fmt_t(teb) + mark, _fmt_t(tpb),
           "-" if not np.isfinite(teb) else f"{teb / tpb:.1f}", "-" if not np.isfinite(gerr) else f"{gerr:.2e}",
           f"{gflops:.2f}", f"{gflops / blas_sq:.2f}"]
    return row, tpb, teb


def _bench_one_B(args, rng, B, ns, blas_sq):
    """Forward rows, backward rows and the slopes row for one norm bound ``B``."""
    d = args.d
    plan = make_plan(d, B, eps_p=args.eps_p, keys=args.n_max)
    Q0 = rng.uniform(-B, B, (8, d))
    plan(Q0, Q0, Q0)  # compile / load the kernels
    plan.backward(Q0, Q0, Q0, Q0)
    fwd, bwd = _per_call(args, plan, rng)
    print(f"B={B:g}: R={plan.R:.4g}, {plan.kind} degree {plan.degree}, rank {plan.rank}, eps_p={plan.eps_p:.3e}; "
          f"one call at n = {_SMALL_N}: forward {1e3 * fwd:.3f} ms, backward {1e3 * bwd:.3f} ms", flush=True)
    fwd, bwd, t = [], [], {"fwd": [], "exact_fwd": [], "bwd": [], "exact_bwd": []}
    for n in ns:
        Q = rng.uniform(-B, B, (n, d))
        K = rng.uniform(-B, B, (n, d))
        V = rng.standard_normal((n, d))
        G = rng.standard_normal((n, d))
        row, tp, te = _forward_row(args, plan, Q, K, V, blas_sq, rng)
        fwd.append(row)
        t["fwd"].append(tp)
        t["exact_fwd"].append(te)
        if not args.no_backward and n <= args.bwd_n_max:
            row, tpb, teb = _backward_row(args, plan, Q, K, V, G, blas_sq)
            bwd.append(row)
            t["bwd"].append(tpb)
            t["exact_bwd"].append(teb)
    sel = [i for i, n in enumerate(ns) if 2**12 <= n <= 2**18]
    selb = [i for i in sel if i < len(t["bwd"])]
    slopes = [f"{B:g}", f"{loglog_slope([ns[i] for i in sel], [t['fwd'][i] for i in sel]):.2f}",
              f"{loglog_slope(ns, t['exact_fwd']):.2f}",
              f"{loglog_slope([ns[i] for i in selb], [t['bwd'][i] for i in selb]):.2f}" if t["bwd"] else "-",
              f"{loglog_slope(ns[:len(t['exact_bwd'])], t['exact_bwd']):.2f}" if t["exact_bwd"] else "-"]
    return fwd, bwd, slopes


def run(args) -> int:
    import numba

    check_args(args)
    if args.quick:
        args.n_min, args.n_max, args.B, args.repeats = 2**8, 2**11, [0.5], 1
        args.exact_max, args.exact_full_max = min(args.exact_max, 2**11), min(args.exact_full_max, 2**10)
    if args.threads is not None:
        numba.set_num_threads(int(args.threads))
    rng = np.random.default_rng(args.seed)
    if args.roofline:
        print(f"promptlimits bench attention --roofline: d={args.d}, d_v=8, eps_p={args.eps_p:g}, "
              f"plans for n = {args.n_max} keys")
        roofline([make_plan(args.d, B, eps_p=args.eps_p, keys=args.n_max) for B in args.B], args.roofline_rows, rng)
        return 0
    ns = [2**k for k in range(int(math.log2(args.n_min)), int(math.log2(args.n_max)) + 1)]
    blas_sq = _blas_gflops(rng, args.repeats)
    print(f"promptlimits bench attention: d={args.d}, eps_p={args.eps_p:g}, threads={numba.get_num_threads()}, "
          f"repeats={args.repeats}")
    print(f"BLAS float64 (2048 x 2048) @ (2048 x 2048): {blas_sq:.2f} GFLOP/s")
    fwd_rows, bwd_rows, slopes = [], [], []
    for B in args.B:
        fwd, bwd, sl = _bench_one_B(args, rng, B, ns, blas_sq)
        fwd_rows += fwd
        bwd_rows += bwd
        slopes.append(sl)
    print()
    print_table(
        "Forward (times in s; ~ = exact timed on sampled query rows and scaled; GFLOP/s = 4 n r d / t_poly; "
        "of_BLAS = GFLOP/s / square BLAS GFLOP/s; rf = positive random features at the polynomial's time, "
        "m features, error on the same rows)",
        ["B", "n", "g", "r", "t_exact", "t_poly", "speedup", "max_err", "bound", "ok", "GFLOP/s", "of_BLAS",
         "rf_m", "t_rf", "rf_err", "rf/poly"], fwd_rows)
    if bwd_rows:
        print_table(
            "Backward (grad_err = max |poly - exact| / max |exact grad|; GFLOP/s = 12 n r d / t_poly)",
            ["B", "n", "r", "t_exact", "t_poly", "speedup", "grad_err", "GFLOP/s", "of_BLAS"], bwd_rows)
    print_table("Log-log slopes of time against n (poly on 2^12..2^18 within the range; exact where measured)",
                 ["B", "poly_fwd", "exact_fwd", "poly_bwd", "exact_bwd"], slopes)
    return 0
