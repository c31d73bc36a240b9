"""Checks of the Hamming-NN -> attention reduction (docs/theory.md §6; :mod:`promptlimits.hardness`).

Claims (the module docstring of :mod:`promptlimits.hardness`, this project's
explicit version of Alman--Song's reduction):

* the encoding gives logits ``q_i.k_j / d = lambda^2 (t + t' - 2 H_ij) / d``
  (SymPy identity per coordinate, plus the simulator's ``encode`` on sampled
  instances), the sentinel logit is 0, and ``B = lambda``;
* the score gap ``gamma = lambda^2 (t' - t) / d`` (``score_gap``) makes one
  close pair outweigh ``n`` far pairs plus the sentinel: with ``gamma >
  ln(3n)`` a far row outputs ``> 3/4`` and a close row ``< 1/4`` (SymPy
  inequality); ``lambda_min`` gives exactly ``gamma = ln(3n)``, at which the
  worst far row is exactly ``3/4`` (so ``lambda_min`` is sharp);
* on sampled instances (the simulator's ``make_instance``) at ``lambda =
  lambda_min``, exact attention evaluated at 50 digits separates the rows, and
  ``decide`` is right;
* with the distance ratio ``t'/t = 1 + gap`` of ``gap_parameters`` (gap 1, 1/2,
  1/4, 1/10, ``n = 2^8..2^20``): the ratio is exact, ``t = Theta(m)``, the
  promise is feasible, ``lambda_min^2 = d ln(3n)/(t' - t)`` and both decision
  margins hold just above it (exact rationals and ``mpmath.iv`` intervals); and
  the sufficient degree of ``sufficient_degree`` keeps every row within 1/4.
"""

from __future__ import annotations

import itertools

from .core import NotVerified, check, require


def _hardness():
    try:
        from promptlimits import hardness
    except ImportError as exc:  # pragma: no cover - depends on the tree
        raise NotVerified(f"module missing: promptlimits.hardness ({exc})") from exc
    for name in ("encode", "lambda_min", "score_gap", "make_instance", "hamming", "extra_dims", "decide",
                 "gap_parameters", "far_threshold", "sufficient_degree"):
        if not hasattr(hardness, name):
            raise NotVerified(f"promptlimits.hardness has no {name}()")
    return hardness


@check("6a.hardness-logits",
       statement="encode() gives q_i.k_j/d = lambda^2 (t + t' - 2 H_ij)/d, sentinel logit 0, ||Q||max, ||K||max <= "
                 "lambda, so the score gap is gamma = lambda^2 (t'-t)/d = score_gap()",
       source="docs/theory.md §6.3; promptlimits.hardness docstring",
       method="sympy identity + exhaustive bits + sampled instances")
def hardness_logits() -> str:
    import numpy as np
    import sympy as sp

    hd = _hardness()
    lam, sigma, e = sp.symbols("lambda sigma e", positive=True)
    # per coordinate: (2a-1)(2c-1) = 1 - 2 [a != c] for bits a, c (exhaustive)
    for a, c in itertools.product((0, 1), repeat=2):
        require((2 * a - 1) * (2 * c - 1) == 1 - 2 * (a != c), f"bits {a},{c}")
    # extra coordinates: e copies of lambda * (-(sigma/e) lambda) = -sigma lambda^2
    require(sp.simplify(e * lam * (-(sigma / e) * lam) + sigma * lam**2) == 0, "extra coordinates")
    m, H, t, tf, d = sp.symbols("m H t tp d", positive=True)
    logit = (lam**2 * (m - 2 * H) - (m - t - tf) * lam**2) / d
    require(sp.simplify(logit - lam**2 * (t + tf - 2 * H) / d) == 0, "affine form of the logit")
    require(sp.simplify(logit.subs(H, t) - lam**2 * (tf - t) / d) == 0, "close pair at H = t: +gamma")
    require(sp.simplify(logit.subs(H, tf) + lam**2 * (tf - t) / d) == 0, "far pair at H = t': -gamma")
    worst = 0.0
    cases = 0
    for n, seed in itertools.product((4, 8, 16), range(3)):
        mm, tt, tfar = hd.gap_parameters(n, (1.0, 0.5)[seed % 2])
        inst = hd.make_instance(n, mm, tt, tfar, planted=bool(seed % 2), seed=seed, close_distance=tt)
        lam_v = 1.25
        Q, K, V = hd.encode(inst, lam_v)
        dd = Q.shape[1]
        Hm = hd.hamming(inst.A, inst.C)
        S = Q @ K.T / dd
        want = lam_v**2 * (tt + tfar - 2 * Hm) / dd
        err = float(np.abs(S[:, :n] - want).max())
        require(err <= 1e-12 * max(1.0, float(np.abs(want).max())), f"n={n}: logits differ from formula by {err:.3e}")
        require(np.all(S[:, n] == 0.0), f"n={n}: sentinel logit not 0")
        require(max(np.abs(Q).max(), np.abs(K).max()) <= lam_v * (1 + 1e-15), f"n={n}: B exceeds lambda")
        require(V[n, 0] == 1.0 and np.all(V[:n] == 0.0), f"n={n}: value rows")
        gap = hd.score_gap(lam_v, mm, tt, tfar)
        require(abs(gap - lam_v**2 * (tfar - tt) / dd) <= 1e-12 * gap, f"n={n}: score_gap {gap}")
        worst = max(worst, err)
        cases += 1
    return f"identities proved; {cases} sampled instances match the affine logit to {worst:.1e}, B = lambda"


@check("6b.hardness-gap",
       statement="gamma > ln(3n) => far row T_i >= 1/(1 + n e^-gamma) > 3/4 and close row T_i <= 1/(1 + e^gamma) "
                 "< 1/4; lambda_min() gives gamma = ln(3n) exactly, where an all-at-t' row is exactly 3/4 (sharp); "
                 "sampled instances at 1.000001 lambda_min are decided right with margin (50 digits)",
       source="docs/theory.md §6.4; promptlimits.hardness (lambda_min, score_gap, decide)",
       method="sympy inequality + mpmath 50 digits")
def hardness_gap() -> str:
    import mpmath
    import numpy as np
    import sympy as sp

    hd = _hardness()
    n = sp.Symbol("n", positive=True)
    xv = sp.Symbol("x", positive=True)  # x = e^-delta in (0, 1), gamma = ln(3n) + delta
    far = 1 / (1 + n * sp.exp(-(sp.log(3 * n) - sp.log(xv)))) - sp.Rational(3, 4)
    far = sp.simplify(far)
    require(sp.simplify(far - 3 * (1 - xv) / (4 * (3 + xv))) == 0, f"far-row margin: {far}")
    # close row: e^gamma = 3 n / x > 3 for n >= 1, x < 1: 1/(1 + 3n/x) < 1/4 <=> 3n/x > 3
    close = sp.Rational(1, 4) - 1 / (1 + 3 * n / xv)
    require(sp.simplify(close - 3 * (n - xv) / (4 * (xv + 3 * n))) == 0, f"close-row margin: {close}")
    # n >= 1 > x, so n - x > 0; far margin > 0 since x < 1: both strict.
    mpmath.mp.dps = 50
    checked = 0
    min_margin = mpmath.inf
    for nn, seed in itertools.product((4, 8, 16, 32), range(4)):
        m, t, tf = hd.gap_parameters(nn, (1.0, 0.5)[seed % 2])
        lam = hd.lambda_min(nn, m, t, tf)
        gamma = hd.score_gap(lam, m, t, tf)
        require(abs(gamma - float(mpmath.log(3 * nn))) <= 1e-12 * gamma,
                f"n={nn}: score_gap(lambda_min) = {gamma} != ln(3n) = {float(mpmath.log(3 * nn))}")
        # worst far row: all n keys at distance exactly t' -> T = 1/(1 + n e^-gamma) = 3/4 at gamma = ln 3n
        G = mpmath.log(3 * nn)
        require(abs(1 / (1 + nn * mpmath.exp(-G)) - mpmath.mpf(3) / 4) < mpmath.mpf(10) ** -45, "sharpness")
        inst = hd.make_instance(nn, m, t, tf, planted=bool(seed % 2), seed=seed, close_distance=t)
        lam_hi = lam * (1 + 1e-6)
        Q, K, V = hd.encode(inst, lam_hi)
        dd = Q.shape[1]
        Hm = hd.hamming(inst.A, inst.C)
        for i in range(nn):
            # exact output at 50 digits from the (exact) affine logits
            logits = [mpmath.mpf(lam_hi) ** 2 * (t + tf - 2 * int(Hm[i, j])) / dd for j in range(nn)]
            T = 1 / (1 + mpmath.fsum(mpmath.exp(s) for s in logits))
            close = inst.pair is not None and inst.pair[0] == i
            if close:
                require(T < mpmath.mpf(1) / 4, f"n={nn} seed={seed}: close row {i} has T = {T}")
                min_margin = min(min_margin, mpmath.mpf(1) / 4 - T)
            else:
                require(T > mpmath.mpf(3) / 4, f"n={nn} seed={seed}: far row {i} has T = {T}")
                min_margin = min(min_margin, T - mpmath.mpf(3) / 4)
        from promptlimits import exact_attention

        dec, _ = hd.decide(inst, lam_hi, exact_attention)
        require(dec == inst.planted, f"n={nn} seed={seed}: decide() with exact attention got {dec}")
        checked += 1
        _ = np  # numpy used by encode outputs
    return (f"margins 3(1-x)/(4(3+x)) and 3(n-x)/(4(3n+x)) > 0 proved; score_gap(lambda_min) = ln(3n); "
            f"{checked} sampled instances decided right at 1.000001 lambda_min, smallest margin to 1/4 or 3/4 = "
            f"{mpmath.nstr(min_margin, 4)}")


def _gap_case(hd, n: int, gap) -> float:
    """One ``(n, gap)`` of 6c; returns ``kappa_min``."""
    import math
    from fractions import Fraction

    from mpmath import iv

    m, t, tf = hd.gap_parameters(n, float(gap))
    where = f"n={n}, gap={gap}"
    require(t >= 1 and Fraction(tf, t) == 1 + gap, f"{where}: t'/t = {tf}/{t} is not 1 + gap")
    tmax = hd.far_threshold(n, m)
    below = sum(math.comb(m, j) for j in range(tmax))  # 2^m P(H < t'_max), exact
    require(4 * n * below <= 2**m < 4 * n * (below + math.comb(m, tmax)), f"{where}: far_threshold {tmax}")
    t_hi = tmax * gap.denominator // (gap.numerator + gap.denominator)  # largest t with t (1 + gap) <= t'_max
    require(tf <= tmax and t_hi <= 2 * t and t <= t_hi, f"{where}: t={t} is not in [t_hi/2, t_hi], t_hi={t_hi}")
    e, sigma = hd.extra_dims(m, t, tf)
    require(e >= abs(sigma) and sigma == m - t - tf, f"{where}: extra coordinates")
    d = m + e
    lam = hd.lambda_min(n, m, t, tf)
    want = iv.mpf(d) * iv.log(3 * n) / (tf - t)
    require(abs((iv.mpf(lam) ** 2 - want) / want).b < 1e-14, f"{where}: lambda_min^2 = {lam**2} != d ln(3n)/(t'-t)")
    lam_hi = lam * (1 + 2.0**-20)
    gamma = iv.mpf(lam_hi) ** 2 * (tf - t) / d
    require(gamma.a > iv.log(3 * n).b, f"{where}: score gap {gamma} not above ln(3n)")
    far = 1 / (1 + n * iv.exp(-gamma)) - iv.mpf(3) / 4
    close = iv.mpf(1) / 4 - 1 / (1 + iv.exp(gamma))
    require(far.a > 0 and close.a > 0, f"{where}: margins {far}, {close} at 1 + 2^-20 times lambda_min")
    return lam / math.sqrt(math.log(n))


def _sufficient_degree_lemma(hd) -> str:
    """|X - Y| <= eps, Y >= 0, eps < 1/5  =>  |1/(1+X) - 1/(1+Y)| <= eps/(1-eps) < 1/4; and delta_g bounds p."""
    import math

    import mpmath
    import sympy as sp

    X, Y, eps = sp.symbols("X Y epsilon", real=True)
    require(sp.simplify(1 / (1 + X) - 1 / (1 + Y) - (Y - X) / ((1 + X) * (1 + Y))) == 0, "difference of inverses")
    # (1 + X)(1 + Y) >= (1 - eps) * 1 when X >= Y - eps >= -eps and Y >= 0; then the ratio is <= eps/(1 - eps):
    require(sp.simplify(eps / (1 - eps) - sp.Rational(1, 4) - (5 * eps - 1) / (4 * (1 - eps))) == 0, "eps/(1-eps)")
    # (5 eps - 1)/(4 (1 - eps)) < 0 on (0, 1/5): numerator < 0 < denominator.
    worst = 0.0
    for R, g in ((1.0, 2), (2.25, 5), (4.0, 8), (4.0, 12)):
        from promptlimits.poly_attention import make_plan

        c = make_plan(1, math.sqrt(R), degree=g, kind="chebyshev", certify=False).approx.coefficients
        delta = 2 * math.exp(R) * (R / 2) ** (g + 1) / math.factorial(g + 1)
        rounding = 1e-14 * sum(abs(cj) * R**j for j, cj in enumerate(c))
        mpmath.mp.dps = 40
        err = max(abs(mpmath.polyval([mpmath.mpf(x) for x in c[::-1]], x) - mpmath.exp(x))
                  for x in (mpmath.mpf(R) * k / 200 for k in range(-200, 201)))
        require(err <= delta + rounding, f"R={R}, g={g}: Chebyshev error {err} above delta_g = {delta}")
        worst = max(worst, float(err / delta))
    for n, R in ((256, 9.0), (1024, 25.0), (2**20, 100.0)):
        g = hd.sufficient_degree(n, R)
        nd = [n * 2 * mpmath.exp(R) * (mpmath.mpf(R) / 2) ** (k + 1) / mpmath.factorial(k + 1) for k in (g - 1, g)]
        require(nd[1] < mpmath.mpf(1) / 5 <= nd[0], f"n={n}, R={R}: sufficient_degree {g} is not the least")
    return f"lemma proved; Chebyshev error / delta_g <= {worst:.2f} on sampled (R, g); sufficient_degree least"


@check("6c.hardness-gap-ratio",
       statement="gap_parameters(n, gap) for gap in {1, 1/2, 1/4, 1/10}, n = 2^8..2^20: t'/t = 1 + gap exactly, "
                 "t in [t_hi/2, t_hi] (t = Theta(m)), t' <= far_threshold (exact binomial sums); lambda_min^2 = "
                 "d ln(3n)/(t'-t) and at (1 + 2^-20) lambda_min gamma > ln(3n) with both margins > 0 (intervals); "
                 "n delta_g < 1/5 => every row within 1/4 (sufficient_degree)",
       source="docs/theory.md §6.2, §6.4, §6.6; promptlimits.hardness (gap_parameters, lambda_min, "
              "sufficient_degree)",
       method="exact rationals + mpmath.iv intervals + sympy identity")
def hardness_gap_ratio() -> str:
    from fractions import Fraction

    from mpmath import iv

    hd = _hardness()
    iv.dps = 40
    kmins = {}
    for gap in (Fraction(1), Fraction(1, 2), Fraction(1, 4), Fraction(1, 10)):
        kmins[gap] = [_gap_case(hd, 2**k, gap) for k in range(8, 21)]
    lemma = _sufficient_degree_lemma(hd)
    spans = ", ".join(f"gap {g}: {min(v):.2f}-{max(v):.2f}" for g, v in kmins.items())
    return f"{sum(map(len, kmins.values()))} (n, gap) cases; kappa_min in {spans}; {lemma}"


@check("6d.hardness-counts",
       statement="on the encoding, the polynomial method's sums sum_j p(q_i.k_j/d) equal sum_h N_ih p(s_h) over the "
                 "distance counts N_ih, s_h = lambda^2 (t + t' - 2h)/d, exactly (rationals), for the plan's own "
                 "float64 coefficients; poly_output() and the fused kernels agree with the exact T_i",
       source="docs/theory.md §6.6; promptlimits.hardness (poly_output, least_poly_degree_counts)",
       method="exact rationals (fractions) + sampled instances through the kernels")
def hardness_counts() -> str:
    from fractions import Fraction

    import numpy as np

    hd = _hardness()
    for name in ("poly_output", "distance_counts", "logits"):
        if not hasattr(hd, name):
            raise NotVerified(f"promptlimits.hardness has no {name}()")
    from promptlimits.poly_attention import make_plan

    worst, cases = 0.0, 0
    for n, g, lam, seed in ((8, 2, Fraction(3, 2), 0), (16, 3, Fraction(5, 4), 1), (24, 4, Fraction(2), 2)):
        mm, tt, tfar = hd.gap_parameters(n, 1.0, c_m=3.0)
        inst = hd.make_instance(n, mm, tt, tfar, planted=bool(seed % 2 == 0), seed=seed, close_distance=tt)
        Q, K, V = hd.encode(inst, float(lam))
        d = Q.shape[1]
        e, sigma = hd.extra_dims(mm, tt, tfar)
        plan = make_plan(d, float(lam), degree=g, kind="chebyshev", certify=False)
        c = [Fraction(float(x)) for x in plan.approx.coefficients]

        def p(x, c=c):
            return sum(cj * x**j for j, cj in enumerate(c))

        # exact rational encoding: entries +-lambda, lambda, -(sigma/e) lambda
        qs = [[lam * (2 * int(a) - 1) for a in row] + [lam] * e for row in inst.A]
        ks = [[lam * (2 * int(b) - 1) for b in row] + [-Fraction(int(sigma)) / e * lam] * e
              for row in inst.C]
        counts = hd.distance_counts(inst)
        s_h = [lam * lam * (tt + tfar - 2 * h) / d for h in range(mm + 1)]
        exact_T = []
        for i in range(n):
            keys = sum(p(sum(a * b for a, b in zip(qs[i], kj)) / d) for kj in ks)
            by_counts = sum(int(counts[i, h]) * p(s_h[h]) for h in range(mm + 1))
            require(keys == by_counts, f"n={n}, g={g}, row {i}: key sum {keys} != counts sum {by_counts}")
            exact_T.append(p(Fraction(0)) / (p(Fraction(0)) + keys))
        exact_T = np.array([float(x) for x in exact_T])
        counted = hd.poly_output(plan.approx, counts, float(lam), mm, tt, tfar)[:, 0]
        kernel = np.clip(plan.forward(Q, K, V)[:, 0], -1.0, 1.0)
        for name, got in (("poly_output", counted), ("kernels", kernel)):
            err = float(np.max(np.abs(got - np.clip(exact_T, -1.0, 1.0))))
            require(err <= 1e-9, f"n={n}, g={g}: {name} differs from the exact T_i by {err:.3e}")
            worst = max(worst, err)
        cases += 1
    return f"identity exact on {cases} instances (degrees 2-4); poly_output and kernels within {worst:.1e} of exact T_i"
