"""The efficiency phase transition over ``(n, B)`` (DESIGN section 4).

A point is ``(n, B, d, eps, seed)``. For the polynomial method (DESIGN section
3) with logits in ``[-R, R]``, ``R = B^2`` (scale ``1/d``), and an attention
error target ``eps`` (``||T - Att||max <= eps ||V||max``), the polynomial needs
a certified relative error ``eps_p = eps_p_for_output(eps)``
(:mod:`promptlimits.poly_attention`, docs/theory.md §4).

The point records the least certified degree ``g*`` for that ``eps_p``
(:func:`promptlimits.poly_attention.least_cost`), the rank
``r* = C(d + g*, g*)`` and the predicted cost ratio ``r*/n`` of the
polynomial method, ``O(n r d)``, against exact attention, ``O(n^2 d)``.
With ``measure`` it also times both on random inputs whose largest entries
equal ``B`` and records the measured error.

Two regimes: ``regime="fixed"`` (``d = d_fixed``) and ``regime="log"``
(``d = ceil(c log2 n)``); the target is ``eps`` or, with ``eps_exponent = a >
0``, ``eps = n^-a``.

Frontier and fit (:func:`summarize`): within each curve (regime, d rule, eps
rule) and each ``n``, ``B*(n)`` is the largest ``B`` with ``r*/n < 1``
(measured: ``t_poly / t_exact < 1``); between the last grid point below 1 and
the first at or above 1, ``log(ratio)`` is interpolated linearly in ``B``.
Then ``B*(n) = a sqrt(ln n) + b`` is fitted by least squares and reported with
``R^2``. The sharpness of the transition is reported as the width in ``B`` over
which the predicted ratio goes from 1/10 to 10, relative to ``B*``.
"""

from __future__ import annotations

import math

import numpy as np

from promptlimits.sweep import SweepDef

__all__ = ["phase_point", "check_point", "summarize", "make_sweep", "frontier", "fit_sqrt_log",
           "DEFAULT_N", "DEFAULT_B"]

#: Default grid: n = 2^8 .. 2^14 and 16 values of B, geometric in [0.1, 3].
DEFAULT_N = tuple(2**k for k in range(8, 15))
DEFAULT_B = tuple(float(f"{b:.4g}") for b in np.geomspace(0.1, 3.0, 16))

REGIMES = ("fixed", "log")


def head_dim(params: dict) -> int:
    """``d`` of a point: ``d_fixed``, or ``ceil(c log2 n)`` in the log regime."""
    if params["regime"] == "fixed":
        return int(params["d_fixed"])
    return max(1, math.ceil(params["c"] * math.log2(params["n"]) - 1e-12))


def target_eps(params: dict) -> float:
    """Attention error target: ``eps``, or ``n^-a`` when ``eps_exponent = a > 0``."""
    a = float(params.get("eps_exponent", 0.0) or 0.0)
    return float(params["n"]) ** (-a) if a > 0 else float(params["eps"])


def check_point(params: dict) -> None:
    """Validate one point (called by the sweep engine before anything runs)."""
    n = params.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    B = params.get("B")
    if isinstance(B, bool) or not isinstance(B, (int, float)) or not math.isfinite(B) or B <= 0:
        raise ValueError(f"B must be a finite number > 0, got {B!r}")
    if params.get("regime") not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {params.get('regime')!r}")
    if params["regime"] == "fixed":
        d = params.get("d_fixed")
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"d_fixed must be an integer >= 1, got {d!r}")
    else:
        c = params.get("c")
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 0:
            raise ValueError(f"c must be a number > 0 for the log regime, got {c!r}")
    a = params.get("eps_exponent", 0.0)
    if isinstance(a, bool) or not isinstance(a, (int, float)) or a < 0:
        raise ValueError(f"eps_exponent must be >= 0, got {a!r}")
    eps = target_eps(params)
    if not 0 < eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps!r}")
    kind = params.get("kind", "auto")
    if kind not in ("auto", "chebyshev", "shifted_taylor", "taylor"):
        raise ValueError(f"unknown polynomial kind {kind!r}")


def _inputs(n: int, d: int, B: float, rng):
    """Q, K uniform in [-B, B] with one all-B row each (so ||.||max = B and the logit R is hit); V in [-1, 1]."""
    Q = rng.uniform(-B, B, size=(n, d))
    K = rng.uniform(-B, B, size=(n, d))
    Q[0] = B
    K[rng.integers(n)] = B
    V = rng.uniform(-1.0, 1.0, size=(n, d))
    return Q, K, V


def phase_point(params: dict, seed: int) -> dict:
    """One ``(n, B, d, eps)`` point of the phase sweep (module docstring).

    Parameters (in ``params``)
    --------------------------
    n, B : the sequence length and the norm bound; regime, d_fixed, c: the
    rule for ``d``; eps, eps_exponent: the attention error target; kind: the
    polynomial kind (``"auto"``); measure (bool), measure_max_n,
    measure_max_rank, timing_repeats: the measured part.

    Returns
    -------
    dict : ``d, eps_target, eps_p_target, R, certified, kind_used, g_star,
    eps_p, rank, ratio, log10_ratio`` and, measured or not, ``measured,
    t_exact, t_poly, time_ratio, err_max, err_bound``.
    """
    from promptlimits.poly_attention import eps_p_for_output, least_cost, logit_range

    check_point(params)
    n, B = int(params["n"]), float(params["B"])
    d = head_dim(params)
    eps = target_eps(params)
    eps_p_target = eps_p_for_output(eps)
    R = logit_range(d, B)  # scale 1/d: |q.k|/d <= B^2
    kind = params.get("kind", "auto")
    cost = least_cost(n, d, B, eps=eps, kind=kind)
    row = {"d": d, "eps_target": eps, "eps_p_target": eps_p_target, "R": R}
    if cost is None:
        row.update(certified=False, kind_used="", g_star=None, eps_p=None, rank=None,
                   ratio=math.inf, log10_ratio=math.inf)
    else:
        row.update(certified=True, kind_used=cost.kind, g_star=cost.degree, eps_p=cost.eps_p, rank=cost.rank,
                   ratio=cost.ratio, log10_ratio=math.log10(cost.ratio))
    row.update(measured=False, t_exact=None, t_poly=None, time_ratio=None, err_max=None, err_bound=None)
    if (params.get("measure") and cost is not None and n <= int(params.get("measure_max_n", 4096))
            and row["rank"] <= int(params.get("measure_max_rank", 20000))):
        row.update(_measure(n, d, B, eps_p_target, kind, int(params.get("timing_repeats", 3)), seed))
    return row


def _measure(n, d, B, eps_p_target, kind, repeats, seed) -> dict:
    from promptlimits.attention import exact_attention
    from promptlimits.measure import best_time
    from promptlimits.poly_attention import make_plan, output_eps_for_eps_p

    rng = np.random.default_rng(seed)
    Q, K, V = _inputs(n, d, B, rng)
    plan = make_plan(d, B, eps_p=eps_p_target, kind=kind)
    T_poly = plan.forward(Q, K, V)  # also compiles the kernels before timing
    T_exact = exact_attention(Q, K, V)
    t_exact = best_time(lambda: exact_attention(Q, K, V), repeats).seconds
    t_poly = best_time(lambda: plan.forward(Q, K, V), repeats).seconds
    err = float(np.max(np.abs(T_poly - T_exact)) / np.max(np.abs(V)))
    return {"measured": True, "t_exact": t_exact, "t_poly": t_poly, "time_ratio": t_poly / t_exact,
            "err_max": err, "err_bound": output_eps_for_eps_p(plan.eps_p)}


# ----------------------------------------------------------------------------
# Frontier and fit
# ----------------------------------------------------------------------------


def curve_label(row: dict) -> str:
    """Name of the curve a row belongs to, e.g. ``"d=4, eps=1e-06"`` or ``"d=ceil(1*log2 n), eps=n^-1"``."""
    drule = f"d={row['d_fixed']}" if row["regime"] == "fixed" else f"d=ceil({row['c']:g}*log2 n)"
    a = row.get("eps_exponent") or 0
    erule = f"eps=n^-{a:g}" if a else f"eps={row['eps']:g}"
    return f"{drule}, {erule}"


def frontier(Bs, ratios) -> tuple[float, str]:
    """Largest ``B`` with ``ratio < 1``, interpolating ``log(ratio)`` linearly in ``B``.

    Returns ``(B*, status)`` with status ``"interior"``, ``"above"`` (every
    grid ``B`` is below the frontier: ``B*`` is the largest grid value, a lower
    bound) or ``"below"`` (none is: ``nan``).
    """
    B = np.asarray(Bs, dtype=float)
    r = np.asarray(ratios, dtype=float)
    order = np.argsort(B)
    B, r = B[order], r[order]
    ok = np.isfinite(r) & (r > 0)
    below = np.where(ok & (r < 1))[0]
    if below.size == 0:
        return math.nan, "below"
    i = int(below.max())
    if i == B.size - 1:
        return float(B[i]), "above"
    j = i + 1
    if not np.isfinite(r[j]):
        return float(B[i]), "interior"
    li, lj = math.log(r[i]), math.log(r[j])
    t = (0.0 - li) / (lj - li) if lj > li else 0.0
    return float(B[i] + t * (B[j] - B[i])), "interior"


def _crossing(B, r, level):
    """Smallest interpolated B at which log(ratio) reaches log(level) (nan if never)."""
    lv = math.log(level)
    lr = np.log(np.where(np.isfinite(r) & (r > 0), r, np.inf))
    for k in range(len(B)):
        if lr[k] >= lv:
            if k == 0 or not np.isfinite(lr[k]):
                return float(B[k])
            t = (lv - lr[k - 1]) / (lr[k] - lr[k - 1])
            return float(B[k - 1] + t * (B[k] - B[k - 1]))
    return math.nan


def fit_sqrt_log(ns, Bstars) -> dict:
    """Least squares ``B* = a sqrt(ln n) + b`` with ``R^2`` (needs >= 3 finite points)."""
    x = np.sqrt(np.log(np.asarray(ns, dtype=float)))
    y = np.asarray(Bstars, dtype=float)
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0:
        return {"a": None, "b": None, "r2": None, "n_points": int(x.size)}
    a, b = np.polyfit(x, y, 1)
    resid = y - (a * x + b)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / ss_tot if ss_tot > 0 else 1.0
    return {"a": float(a), "b": float(b), "r2": r2, "n_points": int(x.size)}


def summarize(rows: list[dict]) -> dict:
    """Frontier ``B*(n)`` per curve (predicted and, where measured, measured) and the fits."""
    curves: dict[str, dict[int, list[dict]]] = {}
    for r in rows:
        curves.setdefault(curve_label(r), {}).setdefault(int(r["n"]), []).append(r)
    out = {"frontier": [], "fit": {}, "frontier_measured": [], "fit_measured": {}}
    for label, by_n in curves.items():
        ns, bs, ns_m, bs_m = [], [], [], []
        for n in sorted(by_n):
            pts = sorted(by_n[n], key=lambda r: r["B"])
            B = np.array([p["B"] for p in pts], dtype=float)
            ratio = np.array([math.inf if p["ratio"] is None else p["ratio"] for p in pts], dtype=float)
            bstar, status = frontier(B, ratio)
            lo, hi = _crossing(B, ratio, 0.1), _crossing(B, ratio, 10.0)
            width = hi - lo if np.isfinite(lo) and np.isfinite(hi) else math.nan
            out["frontier"].append({
                "curve": label, "n": n, "d": pts[0]["d"], "B_star": bstar, "status": status,
                "B_ratio_0.1": lo, "B_ratio_10": hi, "width_0.1_to_10": width,
                "relative_width": width / bstar if np.isfinite(width) and bstar else math.nan,
            })
            if status == "interior":
                ns.append(n)
                bs.append(bstar)
            meas = [p for p in pts if p.get("measured") and p.get("time_ratio") is not None]
            if len(meas) >= 2:
                bm, st = frontier([p["B"] for p in meas], [p["time_ratio"] for p in meas])
                out["frontier_measured"].append({"curve": label, "n": n, "B_star": bm, "status": st,
                                                 "n_measured": len(meas)})
                if st == "interior":
                    ns_m.append(n)
                    bs_m.append(bm)
        out["fit"][label] = fit_sqrt_log(ns, bs)
        if ns_m:
            out["fit_measured"][label] = fit_sqrt_log(ns_m, bs_m)
    return _finite(out)


def _finite(obj):
    """Replace nan/inf by None so the sidecar is strict JSON."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def make_sweep(ns=DEFAULT_N, Bs=DEFAULT_B, *, d_fixed=(4,), c=(1.0,), regimes=REGIMES, eps=1e-6,
               eps_exponent=0.0, kind="auto", measure=False, measure_B=None, measure_max_n=2048,
               measure_max_rank=5000, timing_repeats=3, seed=0, name="phase") -> SweepDef:
    """The phase sweep as a :class:`~promptlimits.sweep.SweepDef` (explicit points).

    Points: for each regime (``d_fixed`` values for ``"fixed"``, ``c`` values
    for ``"log"``), each ``n`` and each ``B``. ``measure=True`` measures the
    points whose ``B`` is in ``measure_B`` (default: every ``B``), with
    ``n <= measure_max_n`` and ``r* <= measure_max_rank``.
    """
    ns, Bs = list(ns), [float(b) for b in Bs]
    if not ns:
        raise ValueError("the n grid is empty: give at least one n")
    if not Bs:
        raise ValueError("the B grid is empty: give at least one B")
    for r in regimes:
        if r not in REGIMES:
            raise ValueError(f"unknown regime {r!r}; expected one of {REGIMES}")
    meas = set(Bs) if measure_B is None else {min(Bs, key=lambda b: abs(b - m)) for m in measure_B}
    rules = []
    if "fixed" in regimes:
        rules += [{"regime": "fixed", "d_fixed": int(d), "c": 0.0} for d in d_fixed]
    if "log" in regimes:
        rules += [{"regime": "log", "d_fixed": 0, "c": float(cc)} for cc in c]
    if not rules:
        raise ValueError("no regime selected: give d values or c values")
    points = tuple(
        {**rule, "n": int(n), "B": B, "measure": bool(measure and B in meas)}
        for rule in rules for n in ns for B in Bs
    )
    fixed = {"eps": float(eps), "eps_exponent": float(eps_exponent), "kind": kind,
             "measure_max_n": int(measure_max_n), "measure_max_rank": int(measure_max_rank),
             "timing_repeats": int(timing_repeats)}
    return SweepDef(name=name, point="promptlimits.experiments.phase:phase_point", points=points,
                    fixed=fixed, seed=int(seed), check="promptlimits.experiments.phase:check_point",
                    summary="promptlimits.experiments.phase:summarize",
                    description="efficiency phase transition over (n, B), DESIGN section 4")
