"""Checks of the a-priori rounding bound of the polynomial-method kernels (docs/theory.md §4.6;
:mod:`promptlimits.poly_attention._rounding`).

Claim: with ``u = 2^-53``, ``gamma_m = m u/(1 - m u)``, ``M = n + r + 3g + 1``,
``kappa = e^R sum_j |c_j| R^j / (1 - eps_p)`` and ``beta = gamma_M kappa`` (plus
an underflow term), what the kernels return satisfies

    ||T_code - T_p||max <= delta ||V||max,   delta = e + u (1 + e) [+ 2^-24 (1 + e) for float32],
    e = 2 beta / (1 - beta),

whatever the summation order and task split, so that
``||T_code - Att||max <= conv(eps_p + delta) ||V||max`` for any conversion
``conv`` of slope >= 1. Checked here:

* the standard lemmas (Higham, *Accuracy and Stability*, Lemmas 3.1 and
  3.3): a product of ``m`` factors ``(1 + d_i)^(+-1)``, ``|d_i| <= u``, is
  ``1 + theta`` with ``|theta| <= gamma_m``, and ``gamma_a + gamma_b +
  gamma_a gamma_b <= gamma_(a+b)`` (SymPy identities, exact rationals at
  ``u = 2^-53``); every root-to-leaf path of a binary summation tree over
  ``n`` leaves has at most ``n - 1`` additions (all trees, ``n <= 8``);
* the algebra: the division lemma, ``sum_alpha |w_alpha q^alpha k^alpha| =
  sum_j |c_j| rho^j`` (multinomial theorem on absolute values),
  ``kappa >= e^(2R)``, and the composition with both conversions (SymPy);
* the simulator against mpmath at 50 digits on worst-case instances at the
  edge of the certifiable range (corners of the box, fused and factors,
  float64 and float32, both variants);
* the closed-form refusals are sound: the floor ``2 M u e^(2R)`` plus the
  closed-form approximation bound never exceeds the real certificate plus
  rounding, and the largest certifiable norm is where certification stops.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

from .core import check, require

U = Fraction(1, 2**53)


def _tree_depths(n: int):
    """Max root-to-leaf depth of every binary tree with ``n`` leaves (all shapes, as a multiset)."""
    if n == 1:
        return [0]
    out = []
    for k in range(1, n):
        for a in _tree_depths(k):
            for b in _tree_depths(n - k):
                out.append(1 + max(a, b))
    return out


@check("9a.rounding-gamma-lemmas",
       statement="prod of m factors (1+d_i)^(+-1), |d_i| <= u, lies in [1-gamma_m, 1+gamma_m]; "
                 "(1+gamma_a)(1+gamma_b) <= 1+gamma_(a+b); any order of an n-term sum puts each term through "
                 "<= n-1 additions, so a sum of n products meets <= n roundings per term",
       source="Higham, Accuracy and Stability of Numerical Algorithms, Lemmas 3.1, 3.3; docs/theory.md §4.6",
       method="sympy identity + exact rationals + exhaustive trees")
def gamma_lemmas() -> str:
    import sympy as sp

    u, m, a, b = sp.symbols("u m a b", positive=True)
    # Bernoulli step: (1 - m u)(1 - u) = 1 - (m+1) u + m u^2 >= 1 - (m+1) u, so (1-u)^m >= 1 - m u by induction
    require(sp.expand((1 - m * u) * (1 - u) - (1 - (m + 1) * u) - m * u**2) == 0, "Bernoulli step")
    # (1 + u) <= 1/(1 - u): (1 + u)(1 - u) = 1 - u^2 <= 1; so every factor is in [1 - u, 1/(1 - u)]
    require(sp.expand((1 + u) * (1 - u) - (1 - u**2)) == 0, "1 + u <= 1/(1 - u)")
    gamma = m * u / (1 - m * u)
    require(sp.simplify(1 + gamma - 1 / (1 - m * u)) == 0, "1 + gamma_m = 1/(1 - m u)")
    # upper: prod <= (1-u)^-m <= 1/(1 - m u) = 1 + gamma_m;  lower: prod >= (1-u)^m >= 1 - m u >= 1 - gamma_m
    require(sp.simplify((1 - m * u) - (1 - gamma) - gamma * m * u) == 0, "1 - m u - (1 - gamma_m) = gamma_m m u")
    ga, gb, gab = (x * u / (1 - x * u) for x in (a, b, a + b))
    # (1+ga)(1+gb) = 1/((1-au)(1-bu)) and (1-au)(1-bu) = 1 - (a+b)u + ab u^2 >= 1 - (a+b)u
    require(sp.simplify((1 + ga) * (1 + gb) - 1 / ((1 - a * u) * (1 - b * u))) == 0, "product of gammas")
    require(sp.expand((1 - a * u) * (1 - b * u) - (1 - (a + b) * u) - a * b * u**2) == 0, "gamma sum")
    # exact rationals at u = 2^-53: the extreme products of m factors
    for mm in range(1, 65):
        g = mm * U / (1 - mm * U)
        require((1 + U) ** mm <= 1 + g and (1 - U) ** -mm <= 1 + g and (1 - U) ** mm >= 1 - g,
                f"exact product bounds fail at m={mm}")
    trees = 0
    for n in range(1, 9):
        depths = _tree_depths(n)
        trees += len(depths)
        require(max(depths) == n - 1, f"n={n}: a summation tree has depth {max(depths)} > n-1")
    return (f"lemmas proved symbolically; exact at u=2^-53 for m<=64; {trees} summation trees (n<=8): "
            f"every term meets at most n-1 additions")


@check("9b.rounding-bound-algebra",
       statement="N^/D^ - N/D = ((N^-N) - (N/D)(D^-D))/D^, so |N^-N| <= beta D V, |D^-D| <= beta D, |N| <= D V give "
                 "|N^/D^ - N/D| <= 2 beta/(1-beta) V; sum_|alpha|=j j!/alpha! |q^alpha k^alpha| = (sum |q_c k_c|)^j; "
                 "kappa >= e^(2R); conv(e + delta) >= conv(e) + delta for 2e/(1-e), for the sharp F and for the "
                 "simulator's output_eps_for_eps_p",
       source="docs/theory.md §4.6 (this project's derivation); poly_attention._rounding",
       method="sympy identity + inequality")
def bound_algebra() -> str:
    import sympy as sp

    from promptlimits.poly_attention import output_eps_for_eps_p

    N, D, dN, dD = sp.symbols("N D dN dD", real=True)
    lhs = (N + dN) / (D + dD) - N / D
    require(sp.simplify(lhs - (dN - (N / D) * dD) / (D + dD)) == 0, "division identity")
    # worst case: |dN| = beta D V, |N/D| = V, |dD| = beta D against the sign, D + dD >= (1 - beta) D
    beta, V, Dp = sp.symbols("beta V Dp", positive=True)
    worst = (beta * Dp * V + V * beta * Dp) / ((1 - beta) * Dp)
    require(sp.simplify(worst - 2 * beta * V / (1 - beta)) == 0, "division bound")
    # multinomial theorem on absolute values (d <= 3, j <= 4)
    for d in (1, 2, 3):
        x = sp.symbols(f"x0:{d}", nonnegative=True)  # x_c = |q_c k_c|
        for j in range(5):
            total = 0
            for combo in itertools.combinations_with_replacement(range(d), j):
                alpha = [combo.count(c) for c in range(d)]
                coef = sp.factorial(j) / sp.prod([sp.factorial(e) for e in alpha])
                total += coef * sp.prod([x[c] ** alpha[c] for c in range(d)])
            require(sp.expand(total - sum(x) ** j) == 0, f"absolute multinomial d={d} j={j}")
    # conversions: slope >= 1 on (0, 1)
    e = sp.Symbol("e", positive=True)
    lin = sp.diff(2 * e / (1 - e), e) - 1  # 2/(1-e)^2 - 1 >= 1 > 0
    require(sp.simplify(lin - (2 / (1 - e) ** 2 - 1)) == 0, "slope of 2e/(1-e)")
    s = sp.sqrt(1 - e**2)
    F = 2 * e / (1 + s)  # = 2 (1 - sqrt(1 - e^2)) / e
    require(sp.simplify(F - 2 * (1 - s) / e) == 0, "F in two forms")
    dF = sp.diff(F, e)
    # dF = 2/(1+s) + 2 e^2 / (s (1+s)^2) >= 2/(1+s) >= 1 since s <= 1
    require(sp.simplify(dF - (2 / (1 + s) + 2 * e**2 / (s * (1 + s) ** 2))) == 0, "slope of F")
    # the simulator's float conversion: conv(a + dl) - conv(a) >= dl, up to the rounding of the two
    # evaluations and of a + dl (a few units in the last place of conv(a + dl))
    worst_slope = math.inf
    for a in np.geomspace(1e-14, 0.9, 60):
        for dl in np.geomspace(1e-16, 0.09, 30):
            hi = output_eps_for_eps_p(a + dl)
            gain = hi - output_eps_for_eps_p(a) + 8 * np.spacing(hi)
            worst_slope = min(worst_slope, gain / dl)
    require(worst_slope >= 1 - 1e-6, f"output_eps_for_eps_p has slope {worst_slope:.3g} < 1 somewhere (beyond "
                                     "float rounding): adding delta to eps_p no longer bounds the rounding")
    return (f"identities and inequalities hold; the simulator's conversion gains at least {worst_slope:.3f} "
            f"delta when eps_p grows by delta")


def _mp_attention(plan, Q, K, V, d0, poly):
    """Exact attention (``poly=False``) or the exact polynomial attention N/D, at mpmath's precision."""
    import mpmath

    s = mpmath.mpf(plan.scale)
    c = [mpmath.mpf(float(x)) for x in plan.approx.coefficients]
    out = np.zeros((Q.shape[0], V.shape[1]), dtype=object)
    for i in range(Q.shape[0]):
        x = [s * mpmath.fsum(mpmath.mpf(float(a)) * mpmath.mpf(float(b)) for a, b in zip(Q[i], K[j]))
             for j in range(K.shape[0])]
        w = [mpmath.polyval(c[::-1], xj) for xj in x] if poly else [mpmath.exp(xj) for xj in x]
        den = d0 + mpmath.fsum(w)
        for col in range(V.shape[1]):
            out[i, col] = mpmath.fsum(wj * mpmath.mpf(float(V[j, col])) for j, wj in enumerate(w)) / den
    return out


def _max_dist(T, ref):
    """``max |T - ref|`` with ``T`` converted exactly to mpmath."""
    import mpmath

    return max(abs(mpmath.mpf(float(t)) - r) for t, r in zip(np.ravel(T), np.ravel(ref)))


@check("9c.rounding-worst-case",
       statement="at the edge of the certifiable range (R within 5% of the largest for the target), on the corners "
                 "of the box, fused and factors, float64 and float32, softmax and Softmax_1: |T_code - Att| <= "
                 "output_bound and |T_code - T_p| <= delta(n) ||V||max, against mpmath at 50 digits",
       source="docs/theory.md §4.6; PolyPlan.output_bound, PolyPlan.rounding",
       method="mpmath 50 digits")
def worst_cases() -> str:
    import mpmath

    from promptlimits.poly_attention import eps_p_for_output, largest_certifiable_B, make_plan

    mpmath.mp.dps = 50
    rng = np.random.default_rng(12)
    worst_err, worst_rnd, cases = 0.0, 0.0, 0
    for d, eps, kind, n in ((1, 1e-2, "chebyshev", 64), (2, 1e-6, "auto", 16), (3, 1e-8, "taylor", 8),
                            (2, 1e-4, "shifted_taylor", 64), (3, 1e-6, "auto", 1)):
        top = largest_certifiable_B(d, eps_p_for_output(eps), keys=n, kind=kind)
        plan = make_plan(d, math.sqrt(0.97) * top, eps=eps, kind=kind, keys=n)
        B = plan.B
        for corner, method, variant in itertools.product(("aligned", "anti", "mixed"), ("fused", "factors"),
                                                         ("softmax", "softmax1")):
            Q = np.full((2, d), -B if corner == "anti" else B)
            K = np.full((n, d), B)
            if corner == "mixed":
                K[rng.random(n) < 0.5] = -B
                Q[1] = -B
            V = rng.choice([-1.0, 1.0], (n, 2)) * rng.uniform(0.5, 1.0, (n, 2))
            d0 = 1 if variant == "softmax1" else 0
            float32 = plan.eps_p + plan.rounding(n, float32=True) <= plan.eps_p_target and corner == "mixed"
            if float32:
                V = V.astype(np.float32)  # Q, K at +-B stay float64 (B need not be a float32 number)
            T = plan.forward(Q, K, V, method=method, variant=variant)
            err = _max_dist(T, _mp_attention(plan, Q, K, V, d0, poly=False))
            rnd = _max_dist(T, _mp_attention(plan, Q, K, V, d0, poly=True))
            bound = mpmath.mpf(plan.output_bound(V))
            delta = mpmath.mpf(plan.rounding(n, float32=T.dtype == np.float32)) * float(np.max(np.abs(V)))
            require(err <= bound, f"{plan} n={n} {corner} {method} {variant}: |T - Att| = {float(err):.3e} > "
                                  f"output_bound {float(bound):.3e}")
            require(rnd <= delta, f"{plan} n={n} {corner} {method} {variant}: |T - T_p| = {float(rnd):.3e} > "
                                  f"delta ||V|| {float(delta):.3e}")
            worst_err, worst_rnd = max(worst_err, float(err / bound)), max(worst_rnd, float(rnd / delta))
            cases += 1
    return (f"{cases} edge cases: worst |T - Att|/output_bound = {worst_err:.3g}, worst |T - T_p|/(delta ||V||) "
            f"= {worst_rnd:.3g}")


@check("9d.rounding-refusals",
       statement="the closed-form floor (approximation bound + 2 M u e^(2R)) never exceeds the certificate plus the "
                 "rounding bound, so refusing where the floor exceeds the target is sound; least_certified succeeds "
                 "just below largest_certifiable_B and refuses just above it",
       source="docs/theory.md §4.6; poly_attention._cost.least_certified, largest_certifiable_B",
       method="exhaustive")
def refusals() -> str:
    from promptlimits.features import rank
    from promptlimits.poly_attention import eps_p_for_output, largest_certifiable_B, least_certified
    from promptlimits.poly_attention._cost import plan_rounding
    from promptlimits.poly_attention._rounding import log_rounding_floor
    from promptlimits.polyapprox import KINDS, exp_approximation, log_approximation_bound

    tightest, pairs = math.inf, 0
    for d, R, n in itertools.product((1, 3), (0.5, 2.0, 6.0), (1, 512)):
        B = math.sqrt(R)
        for g in (2, 8, 20):
            for kind in KINDS:
                approx = exp_approximation(R, degree=g, kind=kind)
                if approx.eps_p >= 1:
                    continue
                total = approx.eps_p + plan_rounding(d, approx, B, 1.0 / d).delta(n)
                floor = (math.exp(log_approximation_bound(kind, g, R))
                         + math.exp(log_rounding_floor(n, rank(d, g), g, R)))
                require(floor <= total * (1 + 1e-9), f"d={d} R={R} n={n} g={g} {kind}: floor {floor:.6e} > "
                                                     f"certificate + rounding {total:.6e}")
                tightest = min(tightest, total / floor)
                pairs += 1
    edges = []
    for d, eps, n in ((1, 1e-4, 1), (2, 1e-6, 256), (4, 1e-6, 4096)):
        top = largest_certifiable_B(d, eps_p_for_output(eps), keys=n)
        require(least_certified(d, 0.999 * top, eps_p_for_output(eps), keys=n) is not None,
                f"d={d} eps={eps} n={n}: nothing certified at 0.999 x largest_certifiable_B = {0.999 * top:.6g}")
        require(least_certified(d, 1.0001 * top, eps_p_for_output(eps), keys=n) is None,
                f"d={d} eps={eps} n={n}: certified above largest_certifiable_B = {top:.6g}")
        edges.append(f"d={d} eps={eps:g} n={n}: B*={top:.4g}")
    return f"{pairs} (d, R, n, g, kind): floor <= total, tightest total/floor = {tightest:.3g}; " + "; ".join(edges)


def _mp_poly_backward(Q, K, V, G, scale, coefficients, d0):
    """The polynomial backward (gradients of <G, N/D>, docs/theory.md §3.10) in mpmath, as object arrays of mpf;
    exact attention's with ``coefficients=None`` (``exp`` for ``p`` and ``p'``)."""
    import mpmath

    if coefficients is None:
        weight = dweight = mpmath.exp
    else:
        c = [mpmath.mpf(float(x)) for x in coefficients]
        dc = [j * cj for j, cj in enumerate(c)][1:] or [mpmath.mpf(0)]
        weight, dweight = (lambda t: mpmath.polyval(c[::-1], t)), (lambda t: mpmath.polyval(dc[::-1], t))
    Qm, Km, Vm, Gm = ([[mpmath.mpf(float(x)) for x in row] for row in np.asarray(M, dtype=np.float64)]
                      for M in (Q, K, V, G))
    n, d, dv = len(Km), len(Km[0]), len(Vm[0])
    dQ = np.full((len(Qm), d), mpmath.mpf(0), dtype=object)
    dK, dV = np.full((n, d), mpmath.mpf(0), dtype=object), np.full((n, dv), mpmath.mpf(0), dtype=object)
    for i, q in enumerate(Qm):
        x = [scale * mpmath.fsum(a * b for a, b in zip(q, k)) for k in Km]
        P, dP = [weight(t) for t in x], [dweight(t) for t in x]
        D = d0 + mpmath.fsum(P)
        u = [mpmath.fsum(g * v for g, v in zip(Gm[i], vj)) for vj in Vm]
        uh = mpmath.fsum(p * uj for p, uj in zip(P, u)) / D
        for j in range(n):
            dS = dP[j] / D * (u[j] - uh)
            for col in range(d):
                dQ[i, col] += scale * dS * Km[j][col]
                dK[j, col] += scale * dS * q[col]
            for col in range(dv):
                dV[j, col] += P[j] / D * Gm[i][col]
    return dQ, dK, dV


def _backward_algebra():
    """SymPy: the perturbed score identity and its bound, and the multinomial theorem for the derivative."""
    import sympy as sp

    u, gt, gte, D, Dt = sp.symbols("u gt gte D Dt", real=True)
    lhs = (u - gte) / Dt - (u - gt) / D
    require(sp.simplify(lhs - ((u - gte) * (1 / Dt - 1 / D) + (gt - gte) / D)) == 0, "perturbed score identity")
    beta, Dp = sp.symbols("beta Dp", positive=True)
    # |1/Dt - 1/D| = |D - Dt|/(D Dt) <= beta D / (D (1 - beta) D) at the worst Dt = (1 - beta) D
    worst = (1 / ((1 - beta) * Dp) - 1 / Dp)
    require(sp.simplify(worst - beta / ((1 - beta) * Dp)) == 0, "reciprocal bound")
    for d in (1, 2, 3):
        a = sp.symbols(f"a0:{d}", nonnegative=True)  # |q_c|
        b = sp.symbols(f"b0:{d}", nonnegative=True)  # |k_c|
        for j in range(1, 5):
            total = 0
            for combo in itertools.combinations_with_replacement(range(d), j):
                alpha = [combo.count(c) for c in range(d)]
                coef = sp.factorial(j) / sp.prod([sp.factorial(e) for e in alpha])
                mono = sp.prod([(a[c] * b[c]) ** alpha[c] for c in range(d)])
                total += coef * sp.diff(mono, a[0])  # |d m_alpha(q)/dq_0| |m_alpha(k)| on absolute values
            rho = sum(a[c] * b[c] for c in range(d))
            require(sp.expand(total - j * rho ** (j - 1) * b[0]) == 0, f"derivative multinomial d={d} j={j}")


def _backward_cases(rng):
    """Inputs that maximise the backward's rounding: logits at the ends of [-R, R], cancelling values."""
    from promptlimits.experiments.approx_error import extremal_inputs, relative_error_extremes
    from promptlimits.poly_attention import make_plan

    # norms that are float32 numbers, so the float32 copies of the inputs stay within B
    for d, B, g, kind, n in ((1, 1.0, 8, "chebyshev", 48), (2, 1.25, 10, "chebyshev", 32), (3, 0.75, 12, "taylor", 16),
                             (2, 1.0, 20, "chebyshev", 24), (1, 0.5, 3, "shifted_taylor", 40)):
        plan = make_plan(d, B, eps=None, degree=g, kind=kind)
        xp, xm = relative_error_extremes(plan.approx.coefficients, plan.R, derivative=True)
        yield plan, extremal_inputs(plan, n, xp, xm, 1, dv=2)
        yield plan, extremal_inputs(plan, n, plan.R, -plan.R, n // 2, dv=2)  # logits at both ends
        Q, K = rng.choice([-B, B], size=(3, d)), rng.choice([-B, B], size=(n, d))
        V = rng.choice([-1.0, 1.0], size=(n, 2)) * (1 + 1e-3 * rng.random((n, 2)))  # cancellation
        yield plan, (Q, K, V, rng.choice([-1.0, 1.0], size=(3, 2)))


@check("9e.backward-rounding",
       statement="the float64 backward is within GradientBound.rounding_dX of the polynomial backward computed "
                 "exactly, any order: score identity (u - G.T~)/D~ - (u - G.T)/D = (u - G.T~)(1/D~ - 1/D) + "
                 "G.(T - T~)/D, |1/D~ - 1/D| <= beta/((1-beta) D), sum_alpha |w_alpha d m_alpha(q)/dq_c m_alpha(k)| "
                 "= s |k_c| A'(rho); the simulator at the ends of the logit range, both variants, float64 and float32, "
                 "within rounding_dX of the mpmath backward and within the total bound of exact attention's",
       source="docs/theory.md §4.6.1 (this project's derivation); poly_attention._gradient.backward_rounding_columns",
       method="sympy identity + mpmath 40 digits")
def backward_rounding() -> str:
    import mpmath

    from promptlimits.poly_attention._rounding import derivative_condition

    _backward_algebra()
    mpmath.mp.dps = 40
    rng = np.random.default_rng(20)
    worst_rnd, worst_tot, cases = 0.0, 0.0, 0
    for plan, inputs in _backward_cases(rng):
        R = mpmath.mpf(plan.R)
        A1 = mpmath.fsum(j * abs(mpmath.mpf(float(c))) * R ** (j - 1) for j, c in enumerate(plan.approx.coefficients)
                         if j)
        require(derivative_condition(plan.approx.coefficients, plan.R, plan.eps_p)
                >= mpmath.exp(R) * A1 / (1 - mpmath.mpf(plan.eps_p)), f"{plan}: kappa' not rounded up")
        for dtype, (variant, d0) in itertools.product((np.float64, np.float32), (("softmax", 0), ("softmax1", 1))):
            args = tuple(np.asarray(a, dtype=dtype) for a in inputs)
            scale = mpmath.mpf(plan.scale)
            poly = _mp_poly_backward(*args, scale, plan.approx.coefficients, d0)
            exact = _mp_poly_backward(*args, scale, None, d0)
            code = plan.backward(*args, variant=variant)
            bound = plan.gradient_bound(*args)
            for name, x, y, z in zip("QKV", code, poly, exact):
                rb, tb = getattr(bound, f"rounding_d{name}"), getattr(bound, f"d{name}")
                gap = max(abs(mpmath.mpf(float(a)) - b) for a, b in zip(np.ravel(x), np.ravel(y)))
                tot = max(abs(mpmath.mpf(float(a)) - b) for a, b in zip(np.ravel(x), np.ravel(z)))
                what = f"{plan} {variant} {dtype.__name__} d{name}"
                require(gap <= rb, f"{what}: |code - poly| = {float(gap):.3e} > rounding bound {rb:.3e}")
                require(tot <= tb, f"{what}: |code - exact| = {float(tot):.3e} > gradient bound {tb:.3e}")
                worst_rnd = max(worst_rnd, float(gap / rb) if rb > 0 else 0.0)
                worst_tot = max(worst_tot, float(tot / tb) if tb > 0 else 0.0)
            cases += 1
    return (f"{cases} instances (extremal logits, both ends, cancelling corners; float64 and float32; both variants): "
            f"worst |code - poly|/rounding bound = {worst_rnd:.3g}, worst |code - exact|/gradient bound = "
            f"{worst_tot:.3g}")
