"""Checks of the certified polynomial approximations of exp (docs/theory.md §3.2-§3.7;
:mod:`promptlimits.polyapprox`).

The simulator certifies ``sup_{|x|<=R} |p(x) - e^x| / e^x <= eps_p`` for three
kinds of ``p``. Claims checked here:

* the derivation of each closed-form bound (integral form of the Taylor
  remainder, the sign of the shifted-Taylor remainder, the monic Chebyshev
  node polynomial) by SymPy identities and sign arguments;
* the simulator's float64 coefficients are the intended polynomials, and
  their distance to the exact ones is covered by the rounding part of the
  certificate (mpmath, 50 digits);
* the true relative error of the simulator's own polynomial, evaluated at 50
  digits on a fine grid (with local refinement around the worst points),
  never exceeds ``certified_eps``, which in turn is never below the closed
  form; the exact shifted-Taylor polynomial never overshoots ``e^x``;
* ``least_degree`` returns the least certified degree (no smaller degree
  meets the certificate).

The simulator is always reached through ``promptlimits.polyapprox.<name>``
at call time, so a monkeypatched (e.g. deliberately wrong) certificate is
what gets checked.
"""

from __future__ import annotations

from functools import cache

from .core import check, require

KINDS = ("taylor", "shifted_taylor", "chebyshev")


@cache
def _remainder_integral(g: int):
    """``(x, int_0^x e^t (x-t)^g/g! dt)`` computed by SymPy (shared by 2a and 2b)."""
    import sympy as sp

    x = sp.Symbol("x", real=True)
    t = sp.Symbol("t", real=True)
    return x, sp.integrate(sp.exp(t) * (x - t) ** g / sp.factorial(g), (t, 0, x))


def _closed_form(kind, g, R):
    """The derived approximation bound (module docstring of promptlimits.polyapprox), in mpmath."""
    import mpmath

    R = mpmath.mpf(R)
    f = mpmath.factorial(g + 1)
    if kind == "taylor":
        return mpmath.exp(R) * R ** (g + 1) / f
    if kind == "shifted_taylor":
        return (2 * R) ** (g + 1) / f
    return 2 * mpmath.exp(2 * R) * (R / 2) ** (g + 1) / f


@check("2a.taylor-remainder",
       statement="e^x - T_g(x) = int_0^x e^t (x-t)^g/g! dt, so |e^x - T_g(x)|/e^x <= e^max(0,-x) |x|^(g+1)/(g+1)! "
                 "<= e^R R^(g+1)/(g+1)! on [-R, R] (g <= 8); the e^(2R) R^(g+1)/(g+1)! form "
                 "(docs/theory.md §3.3) is looser",
       source="docs/theory.md §3.3; polyapprox docstring (Lagrange remainder)",
       method="sympy identity + sign")
def taylor_remainder() -> str:
    import sympy as sp

    t = sp.Symbol("t", real=True)
    u = sp.Symbol("u", positive=True)
    R = sp.Symbol("R", positive=True)
    for g in range(0, 9):
        x, integral = _remainder_integral(g)
        T = sum(x**j / sp.factorial(j) for j in range(g + 1))
        require(sp.expand(sp.exp(x) - T - integral) == 0, f"g={g}: integral form of the remainder fails")
        # with e^t replaced by its bound the integral is |x|^(g+1)/(g+1)! on either side of 0
        k_pos = sp.integrate((x - t) ** g / sp.factorial(g), (t, 0, x))
        require(sp.expand(k_pos - x ** (g + 1) / sp.factorial(g + 1)) == 0, f"g={g}: int_0^x (x-t)^g/g!")
        k_neg = sp.integrate((t + u) ** g / sp.factorial(g), (t, -u, 0))  # x = -u < 0
        require(sp.expand(k_neg - u ** (g + 1) / sp.factorial(g + 1)) == 0, f"g={g}: int_x^0 (t-x)^g/g!")
        # x < 0: relative error <= e^u u^(g+1)/(g+1)!, increasing in u, so its max on (0, R] is at u = R
        dh = sp.factor(sp.diff(sp.exp(u) * u ** (g + 1), u))
        require(dh.is_positive, f"g={g}: d/du e^u u^(g+1) = {dh} not positive")
        # x >= 0: relative error <= R^(g+1)/(g+1)! <= e^R R^(g+1)/(g+1)!; and e^R <= e^(2R) (the looser form of
        # docs/theory.md §3.3)
        # exp is increasing and 2R > R > 0, so 1 < e^R < e^(2R)
        require(R.is_positive and (2 * R - R).is_positive, "R > 0 and 2R > R")
    return ("g=0..8: remainder identity, both kernel integrals and the monotonicity of e^u u^(g+1) proved; "
            "the simulator's e^R R^(g+1)/(g+1)! is valid and a factor e^R sharper than the e^(2R) form")


@check("2b.shifted-taylor",
       statement="p(x) = e^-R T_g(x+R) has c_j = e^-R/j! sum_{m<=g-j} R^m/m!; e^x - p(x) = e^-R int_0^(x+R) "
                 "e^t (x+R-t)^g/g! dt >= 0 (never overshoots) and |e^x - p|/e^x <= (2R)^(g+1)/(g+1)! (g <= 8)",
       source="docs/theory.md §3.4; polyapprox docstring",
       method="sympy identity + sign")
def shifted_taylor() -> str:
    import sympy as sp

    x = sp.Symbol("x", real=True)
    t = sp.Symbol("t", real=True)
    y = sp.Symbol("y", positive=True)
    R = sp.Symbol("R", positive=True)
    for g in range(0, 9):
        Ty = lambda z, g=g: sum(z**j / sp.factorial(j) for j in range(g + 1))  # noqa: E731
        p = sp.expand(sp.exp(-R) * Ty(x + R))
        poly = sp.Poly(p, x)
        for j in range(g + 1):
            want = sp.exp(-R) / sp.factorial(j) * sum(R**m / sp.factorial(m) for m in range(g - j + 1))
            require(sp.expand(sp.exp(R) * (poly.coeff_monomial(x**j) - want)) == 0, f"g={g}: coefficient c_{j}")
        # remainder in y = x + R >= 0: integral form with a non-negative integrand
        xs, integral = _remainder_integral(g)
        integral = integral.subs(xs, y)
        require(sp.expand(sp.exp(y) - Ty(y) - integral) == 0, f"g={g}: remainder identity in y")
        require(sp.expand(sp.powsimp(sp.expand((sp.exp(x) - p) - sp.exp(-R) * (sp.exp(x + R) - Ty(x + R))))) == 0,
                f"g={g}: e^x - p(x) = e^-R (e^y - T_g(y))")
        # e^(t-y) <= 1 on [0, y]: relative error <= int_0^y (y-t)^g/g! = y^(g+1)/(g+1)! <= (2R)^(g+1)/(g+1)!
        k = sp.integrate((y - t) ** g / sp.factorial(g), (t, 0, y))
        require(sp.expand(k - y ** (g + 1) / sp.factorial(g + 1)) == 0, f"g={g}: kernel integral")
    return "g=0..8: monomial coefficients, remainder identity (non-negative integrand: no overshoot) and bound proved"


@check("2c.chebyshev-nodes",
       statement="T_(g+1)(cos t) = cos((g+1)t), roots y_k = cos(pi(k+1/2)/(g+1)), leading coefficient 2^g, so "
                 "|prod_k (x-x_k)| <= R^(g+1) 2^-g = 2 (R/2)^(g+1) and eps_p <= 2 e^(2R) (R/2)^(g+1)/(g+1)! (g <= 8)",
       source="polyapprox docstring (interpolation error theorem, Trefethen ATAP Thm 11.1)",
       method="sympy identity")
def chebyshev_nodes() -> str:
    import sympy as sp

    t = sp.Symbol("t", real=True)
    y = sp.Symbol("y", real=True)
    R = sp.Symbol("R", positive=True)
    for g in range(0, 9):
        n = g + 1
        T = sp.chebyshevt(n, y)
        require(sp.simplify(sp.expand_trig(sp.cos(n * t)) - sp.expand(T.subs(y, sp.cos(t)))) == 0,
                f"T_{n}(cos t) != cos({n} t)")
        require(sp.Poly(T, y).LC() == 2**g and sp.Poly(T, y).degree() == n, f"T_{n}: leading term")
        for k in range(n):
            require(sp.simplify(sp.cos(n * sp.pi * (2 * k + 1) / (2 * n))) == 0, f"T_{n} at node {k}")
        require(sp.simplify(R**n * sp.Integer(2) ** (-g) - 2 * (R / 2) ** n) == 0, "node polynomial constant")
        # |f^(n)(xi)| / e^x <= e^R / e^-R = e^(2R) on [-R, R]
    return ("g=0..8: T_(g+1)(cos t) = cos((g+1) t) (so |T| <= 1 on [-1,1]), the g+1 nodes are its distinct roots, "
            "leading coefficient 2^g; hence the node polynomial is R^(g+1) 2^-g T_(g+1)(x/R)")


def _reference_coefficients(kind, g, R):
    """Exact (50-digit) monomial coefficients, computed independently of the simulator."""
    import mpmath

    R = mpmath.mpf(R)
    if kind == "taylor":
        return [1 / mpmath.factorial(j) for j in range(g + 1)]
    if kind == "shifted_taylor":
        return [mpmath.exp(-R) / mpmath.factorial(j) * mpmath.fsum(R**m / mpmath.factorial(m) for m in range(g - j + 1))
                for j in range(g + 1)]
    nodes = [R * mpmath.cos(mpmath.pi * (k + mpmath.mpf(1) / 2) / (g + 1)) for k in range(g + 1)]
    Vm = mpmath.matrix([[xk**j for j in range(g + 1)] for xk in nodes])
    sol = mpmath.lu_solve(Vm, mpmath.matrix([mpmath.exp(xk) for xk in nodes]))
    return [sol[j] for j in range(g + 1)]


@check("2d.coefficients",
       statement="the simulator's float64 coefficients are the intended polynomial (Taylor 1/j!, shifted Taylor, "
                 "Chebyshev interpolant) and e^R sum_j |c_j - c*_j| R^j is within the rounding part of certified_eps",
       source="polyapprox docstring (rounding of the coefficients)",
       method="mpmath 50 digits")
def coefficients() -> str:
    import mpmath

    from promptlimits import polyapprox

    mpmath.mp.dps = 50
    worst = 0.0
    cases = 0
    for kind in KINDS:
        for R in (0.5, 2.0, 6.0):
            for g in (3, 8, 16):
                c = polyapprox.monomial_coefficients(kind, g, R)
                ref = _reference_coefficients(kind, g, R)
                dev = mpmath.exp(R) * mpmath.fsum(abs(mpmath.mpf(cj) - rj) * mpmath.mpf(R) ** j
                                                  for j, (cj, rj) in enumerate(zip(c, ref)))
                room = mpmath.mpf(polyapprox.certified_eps(kind, g, R)) - _closed_form(kind, g, R)
                require(dev <= room, f"{kind} g={g} R={R}: coefficient deviation term {float(dev):.3e} exceeds the "
                                     f"certificate's room above the closed form {float(room):.3e}")
                for j, (cj, rj) in enumerate(zip(c, ref)):
                    require(abs(mpmath.mpf(cj) - rj) <= 2.0**-50 * abs(rj) + mpmath.mpf(10) ** -300,
                            f"{kind} g={g} R={R}: c_{j} = {cj!r} vs exact {mpmath.nstr(rj, 20)}")
                worst = max(worst, float(dev / room) if room > 0 else 0.0)
                cases += 1
    return (f"{cases} (kind, g, R) cases: coefficients within 2^-50 relative; worst deviation/room = {worst:.9f} "
            "(<= 1: the rounding term is nearly exact)")


def _true_rel_error(coeffs, R, npts=400, derivative=False):
    """max_x |p(x) - e^x| / e^x on a grid of [-R, R] refined around the worst points, and max overshoot.

    With ``derivative=True`` the same for ``p'`` (coefficients ``j c_j``, exact in mpmath).
    """
    import mpmath

    cs = [mpmath.mpf(float(c)) for c in coeffs]
    cs = [j * c for j, c in enumerate(cs)][1:] if derivative else cs
    cs = cs[::-1]
    Rm = mpmath.mpf(R)

    def rel(xv):
        p = mpmath.mpf(0)
        for c in cs:
            p = p * xv + c
        e = mpmath.exp(xv)
        return (p - e) / e

    xs = [-Rm + 2 * Rm * i / npts for i in range(npts + 1)]
    vals = [rel(xv) for xv in xs]
    order = sorted(range(len(xs)), key=lambda i: -abs(vals[i]))[:3]
    h = 2 * Rm / npts
    for i in order:
        for m in range(-10, 11):
            xv = xs[i] + h * m / 10
            if -Rm <= xv <= Rm:
                xs.append(xv)
                vals.append(rel(xv))
    return max(abs(v) for v in vals), max(vals)


@check("2e.true-error",
       statement="for every kind, R in {0.25, 1, 4, 9} and the degrees picked for eps = 1e-2, 1e-6: the true "
                 "relative error of the simulator's polynomial <= certified_eps, which is >= the closed form; the "
                 "float shifted-Taylor p overshoots e^x by at most its rounding part",
       source="docs/theory.md §3.6; polyapprox.certified_eps",
       method="mpmath 50 digits")
def true_error() -> str:
    import mpmath

    from promptlimits import polyapprox

    mpmath.mp.dps = 50
    lines = []
    tightest = 0.0
    for kind in KINDS:
        for R in (0.25, 1.0, 4.0, 9.0):
            for eps in (1e-2, 1e-6):
                g = polyapprox.least_degree(R, eps, kind)
                cert = polyapprox.certified_eps(kind, g, R)
                closed = _closed_form(kind, g, R)
                require(mpmath.mpf(cert) >= closed,
                        f"{kind} g={g} R={R}: certified_eps {cert:.4e} < closed-form bound {float(closed):.4e}")
                err, over = _true_rel_error(polyapprox.monomial_coefficients(kind, g, R), R)
                require(err <= cert, f"{kind} g={g} R={R}: true relative error {float(err):.4e} > certified_eps "
                                     f"{cert:.4e}")
                if kind == "shifted_taylor":
                    room = mpmath.mpf(cert) - closed
                    require(over <= room, f"shifted_taylor g={g} R={R}: overshoot {float(over):.3e} beyond the "
                                          f"rounding part {float(room):.3e}")
                ratio = float(err / cert)
                tightest = max(tightest, ratio)
                lines.append(f"{kind[:5]} R={R:g} g={g}: err/cert={ratio:.2g}")
    return f"tightest true/certified = {tightest:.3g}; " + "; ".join(lines)


@check("2f.least-degree",
       statement="least_degree(R, eps, kind) is certified and no smaller degree is (every g' < g has certified_eps "
                 "> eps), for each kind and 'auto', R in {0.25, 1, 2, 4, 8}, eps in {1e-2, 1e-4, 1e-6, 1e-10}",
       source="docs/theory.md §3.7 (the least certified degree); polyapprox.least_degree",
       method="exhaustive")
def least_degree_is_least() -> str:
    from promptlimits import polyapprox

    cases = 0
    picks = []
    for R in (0.25, 1.0, 2.0, 4.0, 8.0):
        for eps in (1e-2, 1e-4, 1e-6, 1e-10):
            if R >= 8.0 and eps < 1e-8:
                continue  # not certifiable in float64 (rounding ~ 2^-53 e^(2R)); least_degree raises by design
            per_kind = {}
            for kind in KINDS:
                g = polyapprox.least_degree(R, eps, kind)
                cert = polyapprox.certified_eps(kind, g, R)
                require(cert <= eps, f"{kind} R={R} eps={eps}: least_degree {g} has certified_eps {cert:.3e} > eps")
                for gp in range(g):
                    cp = polyapprox.certified_eps(kind, gp, R)
                    require(cp > eps, f"{kind} R={R} eps={eps}: least_degree = {g} but degree {gp} already certifies "
                                      f"{cp:.3e} <= eps")
                per_kind[kind] = g
                cases += 1
            g_auto = polyapprox.least_degree(R, eps)
            require(g_auto == min(per_kind.values()),
                    f"auto R={R} eps={eps}: least_degree {g_auto}, least over kinds {per_kind}")
            picks.append(f"R={R:g},eps={eps:g}:{per_kind['taylor']}/{per_kind['shifted_taylor']}/"
                         f"{per_kind['chebyshev']}")
    return f"{cases} (kind, R, eps) cases, auto = min over kinds; degrees taylor/shifted/cheb: " + " ".join(picks)
