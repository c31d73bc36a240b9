"""Check of the threshold arithmetic of the efficiency phase transition (docs/theory.md §5).

Setting (Alman--Song; docs/theory.md §5.2): ``d = log2 n``, ``eps = 1/n``, ``B = c
sqrt(ln n)``, default scale ``1/d`` so the logit range is ``R = B^2 = c^2 ln n``.
The polynomial method needs the least certified degree ``g*`` (the least
over the simulator's kinds of the least ``g`` whose approximation bound is
``<= eps``) and has rank ``r* = C(d + g*, g*)``; it beats quadratic time when
``log_n r* < 1``, i.e. ``r* < n``.

Verified by exact evaluation for ``n = 2^8 .. 2^40``:

* the approximation bounds are the simulator's own (``polyapprox.approximation_bound_interval``,
  the exact-arithmetic certificate; the float64 coefficient-rounding term is left
  out because it, not the mathematics, limits certification at large ``R``),
  evaluated with ``mpmath.iv`` interval arithmetic: ``g*`` is proved least by
  checking every smaller degree;
* ``r* < n`` and ``r* > n`` are decided in exact integer arithmetic;
* for ``c = 0.15`` every ``n`` is below the threshold and for ``c = 0.5``
  every ``n`` is above it; for each ``n`` the crossing ``c*(n)`` is located by
  bisection (``r*`` is non-decreasing in ``c`` because every bound grows with
  ``R``) and both ends of the final bracket are verified with intervals;
* where the simulator's ``least_degree`` (which includes the rounding term)
  can certify ``eps = 1/n``, it is never below ``g*``.
"""

from __future__ import annotations

import math

from .core import Failed, check, require

C_SMALL = "0.15"
C_LARGE = "0.5"
K_RANGE = range(8, 41)


def _float_least(pa, R, k):
    le = -k * math.log(2)
    best = None
    for kind in pa.KINDS:
        g = 0
        while pa.log_approximation_bound(kind, g, R) > le and g <= pa.MAX_DEGREE:
            g += 1
        best = g if best is None else min(best, g)
    return best


def _verified_least(pa, c, k):
    """g* for (c, n = 2^k), proved with interval arithmetic; returns (g*, kind)."""
    from mpmath import iv

    iv.dps = 60
    Ri = iv.mpf(c) ** 2 * k * iv.log(2)
    eps = iv.mpf(2) ** (-k)
    best = None
    for kind in pa.KINDS:
        R_float = float(Ri.mid)
        g_guess = 0
        while pa.log_approximation_bound(kind, g_guess, R_float) > -k * math.log(2) and g_guess <= pa.MAX_DEGREE:
            g_guess += 1
        g = None
        for gp in range(0, g_guess + 3):
            b = pa.approximation_bound_interval(kind, gp, Ri)
            if b.b <= eps.a:
                g = gp
                break
            if not b.a > eps.b:
                raise Failed(f"c={c}, n=2^{k}, {kind} g={gp}: bound interval {b} straddles eps = 2^-{k}")
        if g is None:
            raise Failed(f"c={c}, n=2^{k}, {kind}: no certified degree up to {g_guess + 2}")
        if best is None or g < best[0]:
            best = (g, kind)
    return best


@check("5.threshold",
       statement=f"with d = log2 n, eps = 1/n, R = B^2, B = c sqrt(ln n): r* = C(d+g*, g*) < n for c = {C_SMALL} and "
                 f"> n for c = {C_LARGE} at every n = 2^8..2^40 (g* the least certified degree); crossing c*(n) by "
                 "bisection",
       source="docs/theory.md §5.2 (B = o(sqrt(log n)) vs Theta(sqrt(log n))); Alman-Song 2023",
       method="exact integers + mpmath interval")
def threshold() -> str:
    from promptlimits import polyapprox as pa

    rows = []
    for c in (C_SMALL, C_LARGE):
        exps = []
        for k in K_RANGE:
            g, _ = _verified_least(pa, c, k)
            r = math.comb(k + g, g)
            if c == C_SMALL:
                require(r < 2**k, f"c={c}, n=2^{k}: g*={g}, rank {r} >= n")
            else:
                require(r > 2**k, f"c={c}, n=2^{k}: g*={g}, rank {r} <= n")
            exps.append(math.log(r) / (k * math.log(2)))
        rows.append(f"c={c}: log_n r* in [{min(exps):.3f}, {max(exps):.3f}]")
    # crossing by bisection (floats), then both ends verified with intervals
    crossings = {}
    for k in K_RANGE:
        lo, hi = 0.0, float(C_LARGE)
        for _ in range(30):
            mid = (lo + hi) / 2
            g = _float_least(pa, mid * mid * k * math.log(2), k)
            if math.comb(k + g, g) > 2**k:
                hi = mid
            else:
                lo = mid
        g_lo, _ = _verified_least(pa, repr(lo), k)
        g_hi, _ = _verified_least(pa, repr(hi), k)
        require(math.comb(k + g_lo, g_lo) <= 2**k < math.comb(k + g_hi, g_hi),
                f"n=2^{k}: bracket [{lo}, {hi}] not verified (g* = {g_lo}, {g_hi})")
        crossings[k] = (hi, g_hi)
    # monotonicity in c on a grid (the premise of bisection)
    for k in (8, 20, 40):
        prev = -1
        for i in range(1, 101):
            c = i * float(C_LARGE) / 100
            g = _float_least(pa, c * c * k * math.log(2), k)
            require(g >= prev, f"n=2^{k}: g* decreases in c at c={c}")
            prev = g
    # the simulator's least_degree (with the rounding term) never undercuts g*
    compared = equal = 0
    for k in range(8, 25):
        for c in (C_SMALL, C_LARGE):
            R = float(c) ** 2 * k * math.log(2)
            try:
                gs = pa.least_degree(R, 2.0**-k)
            except ValueError:
                continue
            g, _ = _verified_least(pa, c, k)
            require(gs >= g, f"n=2^{k}, c={c}: least_degree {gs} < exact-arithmetic g* {g}")
            compared += 1
            equal += gs == g
    cross = ", ".join(f"2^{k}:{crossings[k][0]:.4f}(g*={crossings[k][1]})" for k in (8, 12, 16, 20, 24, 28, 32, 36, 40))
    return (f"{'; '.join(rows)}; crossing c*(n) [n:c*(g* at c*)]: {cross}; c* over all n in "
            f"[{min(v[0] for v in crossings.values()):.4f}, {max(v[0] for v in crossings.values()):.4f}]; "
            f"simulator least_degree equals g* in {equal}/{compared} certifiable cases (never below)")



def _least_certified(pa, d, k, R, eps_p, g_top):
    """(g*, rank) at R proved with intervals: the least degree <= g_top some kind certifies, or (None, None) when
    no kind certifies any degree <= g_top; every comparison must be decided by the intervals."""
    from mpmath import iv

    Ri = iv.mpf(R)
    for g in range(g_top + 1):
        bounds = [pa.approximation_bound_interval(kind, g, Ri) for kind in pa.KINDS]
        if any(b.b <= eps_p.a for b in bounds):
            return g, math.comb(d + g, g)
        undecided = [b for b in bounds if not b.a > eps_p.b]
        if undecided:
            raise Failed(f"n=2^{k}, R={R!r}, g={g}: a bound interval {undecided[0]} straddles eps_p")
    return None, None


@check("5b.crossing-theorem-regime",
       statement="with d = log2 n, eps = 1/n (eps_p = 4 eps/(4 + eps^2)) and R = B^2: every bound increases with R, "
                 "and for every n = 2^8..2^64 the simulator's crossing R*(n) = c*(n)^2 ln n "
                 "(promptlimits.threshold.crossing) is bracketed: r* < n at R*(1 - 1e-9) and r* >= n at "
                 "R*(1 + 1e-9), every degree and kind decided in interval arithmetic",
       source="docs/theory.md §5.2, §5.4 (the phase experiment's c*(n)); Alman-Song 2023",
       method="sympy + exact integers + mpmath interval")
def crossing_theorem_regime() -> str:
    import sympy as sp
    from mpmath import iv

    from promptlimits import polyapprox as pa
    from promptlimits.threshold import crossing

    g, R = sp.symbols("g R", positive=True)
    fact = sp.factorial(g + 1)
    for kind, bound in (("taylor", sp.exp(R) * R ** (g + 1) / fact), ("shifted_taylor", (2 * R) ** (g + 1) / fact),
                        ("chebyshev", 2 * sp.exp(2 * R) * (R / 2) ** (g + 1) / fact)):
        slope = sp.simplify(sp.diff(sp.expand_log(sp.log(bound), force=True), R))
        require(slope.is_positive, f"{kind}: d log b / dR = {slope} is not positive")
    saved = iv.dps
    iv.dps = 40
    cs = []
    try:
        for k in range(8, 65):
            n = 2**k
            cr = crossing(k, k, 2.0**-k)
            E = iv.mpf(2) ** (-k)
            eps_p = 4 * E / (4 + E * E)
            g_max = max(gg for gg in range(200) if math.comb(k + gg, gg) < n)
            require(cr.g_max == g_max, f"n=2^{k}: simulator g_max {cr.g_max}, exact integers {g_max}")
            g_lo, r_lo = _least_certified(pa, k, k, cr.R_star * (1 - 1e-9), eps_p, g_max)
            require(r_lo is not None and r_lo < n, f"n=2^{k}: r* < n fails just below R* (g* = {g_lo})")
            g_hi, _ = _least_certified(pa, k, k, cr.R_star * (1 + 1e-9), eps_p, g_max)
            require(g_hi is None and math.comb(k + g_max + 1, g_max + 1) >= n,
                    f"n=2^{k}: degree {g_hi} <= g_max is certified just above R*")
            cs.append((k, cr.c_star, g_max))
    finally:
        iv.dps = saved
    lo, hi = min(c for _, c, _ in cs), max(c for _, c, _ in cs)
    shown = ", ".join(f"2^{k}:{c:.4f}(g_max={gm})" for k, c, gm in cs if k % 8 == 0)
    return (f"each bound's d log b/dR > 0; 57 crossings bracketed to 1e-9 in R; c*(n) [n:c*]: {shown}; c* in "
            f"[{lo:.4f}, {hi:.4f}], max/min {hi / lo:.3f}")


def _smooth_uL(L, theta, phi, delta, beta, k2, c_inf):
    """(c(n)/c_inf - 1) ln n of the smooth model: C(d+x, x) = n with log-Gamma (no Stirling), d = delta L + phi,
    m = x + 1 - theta, and the Chebyshev bound with log-Gamma equal to 1/n; mpmath at the caller's precision."""
    from mpmath import findroot, log, loggamma, mpf, sqrt

    L = mpf(L)
    d = delta * L + phi
    x = findroot(lambda x: loggamma(d + x + 1) - loggamma(d + 1) - loggamma(x + 1) - L, beta * L)
    m = x + 1 - theta
    R = findroot(lambda R: log(2) + 2 * R + m * log(R / 2) - loggamma(m + 1) + L, k2 * L)
    return (sqrt(R / L) / c_inf - 1) * L


@check("5c.crossing-convergence-band",
       statement="with d = log2 n, eps = 1/n: the first-order constants of c*(n)/c_inf = 1 + (C1 ln ln n + D)/ln n "
                 "(promptlimits.threshold.convergence_band) equal their SymPy derivation and an exact smooth model "
                 "at ln n = 1e6..1e7; and 1 <= c*(n)/c_inf <= 1 + C ln ln n/ln n, C = C1 + D_hi/ln ln 2^8, at every "
                 "n = 2^8..2^1024 with c*(n) bracketed in interval arithmetic",
       source="docs/theory.md §5.5 (the rate of c*(n)); §5.2, §5.4; Alman-Song 2023",
       method="sympy + mpmath 40 digits + exact integers + mpmath interval")
def crossing_convergence_band() -> str:
    import sympy as sp
    from mpmath import iv, mp, mpf

    from promptlimits import polyapprox as pa
    from promptlimits.threshold import convergence_band, crossing

    band = convergence_band()
    require(band.kind == "chebyshev", f"the limit is set by {band.kind}, not chebyshev")
    # 1. the limit and the first-order constants, derived afresh in SymPy and solved at 40 digits
    b, k2, dl, L0 = sp.symbols("beta kappa2 delta L0", positive=True)
    theta, phi = sp.symbols("theta phi", nonnegative=True)
    f = 2 * k2 + b * sp.log(sp.E * k2 / (2 * b))  # chebyshev: ln b / ln n to leading order
    h = (dl + b) * sp.log(dl + b) - dl * sp.log(dl) - b * sp.log(b)  # ln C(d+g, g) / ln n to leading order
    f_b, f_k, h1 = sp.diff(f, b), sp.diff(f, k2), sp.diff(h, b)
    # rank = n: beta_m - beta = (ln L/2 + ln(2 pi delta beta/(delta+beta))/2 - phi ln((delta+beta)/delta))/(h' L)
    #          + (1 - theta)/L;  bound = eps: f_b dbeta + f_k dk2 = (ln L/2 + ln(2 pi beta)/2 - ln 2)/L
    lnL = sp.Symbol("lnL")
    dbeta = (lnL / 2 + sp.log(2 * sp.pi * dl * b / (dl + b)) / 2 - phi * sp.diff(h, dl)) / h1 + 1 - theta
    dk2 = (lnL / 2 + sp.log(2 * sp.pi * b) / 2 - sp.log(2) - f_b * dbeta) / f_k
    uL = sp.expand(dk2 / (2 * k2))  # c*/c_inf - 1 = dk2/(2 kappa2), times L
    C1_sym, D_sym = uL.coeff(lnL), uL.subs(lnL, 0)
    require(sp.simplify(sp.diff(h, dl) - sp.log((dl + b) / dl)) == 0, "dh/ddelta is not ln((delta+beta)/delta)")
    saved = mp.dps
    mp.dps = 40
    try:
        delta = 1 / mp.log(2)
        beta = mp.findroot(lambda x: sp.lambdify(b, h.subs(dl, delta), "mpmath")(x) - 1, mpf("0.4"))
        kap2 = mp.findroot(lambda x: sp.lambdify(k2, f.subs(b, beta), "mpmath")(x) + 1, mpf("0.03"))
        c_inf = mp.sqrt(kap2)
        at = {b: beta, k2: kap2, dl: delta}
        C1 = sp.N(C1_sym.subs(at), 30)
        D_hi = sp.N(D_sym.subs({**at, theta: 0, phi: 0}), 30)
        D_lo = sp.N(D_sym.subs({**at, theta: 1, phi: 1}), 30)
        C = C1 + D_hi / sp.log(8 * sp.log(2))
        for name, exact, code in (("c_inf", c_inf, band.c_inf), ("beta_inf", beta, band.beta_inf),
                                  ("C1", C1, band.C1), ("D_hi", D_hi, band.D_hi), ("D_lo", D_lo, band.D_lo),
                                  ("C", sp.N(C, 30), band.C)):
            require(abs(float(exact) - code) <= 1e-9 * abs(float(exact)), f"{name}: SymPy {exact}, code {code}")
        # 2. the expansion against the smooth model (log-Gamma, no Stirling): second order ~ (ln L)^2 / L
        u6, u7 = (_smooth_uL(10**e, 0, 0, delta, beta, kap2, c_inf) for e in (6, 7))
        C1_model = (u7 - u6) / mp.log(10)
        D_hi_model = u7 - C1 * mp.log(10**7)
        D_lo_model = _smooth_uL(10**7, 1, 1, delta, beta, kap2, c_inf) - C1 * mp.log(10**7)
        for name, model, code in (("C1", C1_model, band.C1), ("D_hi", D_hi_model, band.D_hi),
                                  ("D_lo", D_lo_model, band.D_lo)):
            require(abs(float(model) - code) < 1e-3, f"{name}: smooth model {float(model):.6f}, band {code:.6f}")
    finally:
        mp.dps = saved
    # 3. the band on every n = 2^8..2^1024, each crossing bracketed: r* < n at R*(1 - 1e-9) (cr.kind certifies
    #    g_max) and r* >= n at R*(1 + 1e-9) (no kind certifies g_max, so none certifies a lower degree, §5.4)
    saved = iv.dps
    iv.dps = 40
    worst_up, worst_low, Ds = (None, None), (None, None), []
    try:
        ci = iv.mpf([float(c_inf) * (1 - 1e-15), float(c_inf) * (1 + 1e-15)])  # the SymPy-derived limit
        for k in range(8, 1025):
            n = 2**k
            cr = crossing(k, k, 2.0**-k)
            g = cr.g_max
            require(math.comb(k + g, g) < n <= math.comb(k + g + 1, g + 1), f"n=2^{k}: g_max {g} is not exact")
            E = iv.mpf(2) ** (-k)
            eps_p = 4 * E / (4 + E * E)
            R_lo, R_hi = iv.mpf(cr.R_star * (1 - 1e-9)), iv.mpf(cr.R_star * (1 + 1e-9))
            require(pa.approximation_bound_interval(cr.kind, g, R_lo).b <= eps_p.a,
                    f"n=2^{k}: {cr.kind} does not certify g_max = {g} just below R*")
            require(all(pa.approximation_bound_interval(kd, g, R_hi).a > eps_p.b for kd in pa.KINDS),
                    f"n=2^{k}: some kind certifies g_max = {g} just above R*")
            Li = k * iv.log(2)
            ratio = iv.sqrt(iv.mpf([cr.R_star * (1 - 1e-9), cr.R_star * (1 + 1e-9)]) / Li) / ci
            upper = 1 + band.C * iv.log(Li) / Li
            require(ratio.a >= 1 and ratio.b <= upper.a,
                    f"n=2^{k}: c*/c_inf in [{ratio.a}, {ratio.b}] outside [1, {upper.a}]")
            room = float(((upper.a - ratio.b) / (upper.a - 1)).mid)
            if worst_up[0] is None or room < worst_up[0]:
                worst_up = (room, k)
            if worst_low[0] is None or float(ratio.a.mid) - 1 < worst_low[0]:
                worst_low = (float(ratio.a.mid) - 1, k)
            Lf = k * math.log(2)
            Ds.append((float(ratio.mid.mid) - 1) * Lf - band.C1 * math.log(Lf))
    finally:
        iv.dps = saved
    return (f"c_inf = {float(c_inf):.10f}, beta_inf = {float(beta):.10f}; C1 = {float(C1):.6f}, D in "
            f"[{float(D_lo):.4f}, {float(D_hi):.4f}] (SymPy = code to 1e-9; smooth model at ln n = 1e7: C1 "
            f"{float(C1_model):.6f}, D {float(D_lo_model):.4f}..{float(D_hi_model):.4f}); C = {band.C:.6f}; 1017 "
            f"crossings n = 2^8..2^1024 bracketed and inside the band: least room to the upper edge "
            f"{worst_up[0]:.3f} of the band at 2^{worst_up[1]}, least c*/c_inf - 1 = {worst_low[0]:.4f} at "
            f"2^{worst_low[1]}; D(n) = (c*/c_inf - 1) ln n - C1 ln ln n in [{min(Ds):.3f}, {max(Ds):.3f}]")
