"""Checks of the memorization counting bound and of ``K_P`` (docs/theory.md §7;
:mod:`promptlimits.capacity`).

Claims:

* the counting algebra: ``2^(N L d) <= M^(d Lp)`` iff ``Lp >= N L log 2 / log M``
  (``M >= 2``), ``N = (1/delta)^(d L)`` gives ``log2(#datasets) = N L d``, and
  ``M = floor(rho/eta*) + 1 = lim_{eta -> eta*-} ceil(rho/eta)`` with ``eta* =
  (gamma - 2 eps)/(2 K_P)``; the closed form with ``gamma = c eps`` (SymPy and
  exact integers); the simulator's ``counting_bound`` returns the least integer
  ``Lp`` with ``M^(d Lp) >= 2^(N L d)`` (exhaustive over small cases);
* the per-layer factors of ``K_P`` (``prompt_lipschitz``): ``col_norm`` is the
  exact max-norm operator norm of ``z -> z W`` (all sign vectors); every Clarke
  Jacobian ``I + W1 D W2`` of FF (all ``D`` in ``{0,1}^m``) has max-norm at most
  ``c_ff``; the softmax Jacobian ``diag(p) - p p^T`` has ``||J x||_1 <= ||x||inf``
  (SymPy identity for ``J x`` and the chord inequality; all sign vectors at
  random ``p``, also for Softmax_1); ``logit_factor`` covers every vertex of the
  query box; and random probes of ``||Yhat(P) - Yhat(P')||max / ||P - P'||max``
  never exceed ``K_P``;
* (``7c``) the q-ary bound over prompts in ``R^(Lp x D)`` and outputs in
  ``R^(N x L x d)`` and its per-sample form, against exact integers;
* (``7d``) the tightened ``K_P`` (inactive units dropped, shifted box, exact
  inputs, compared columns) against Clarke Jacobians and worst-direction
  probes of the prompt Jacobian, on random and constructed models.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

from .core import NotVerified, check, require


def _capacity():
    try:
        from promptlimits import capacity
    except ImportError as exc:  # pragma: no cover - depends on the tree
        raise NotVerified(f"module missing: promptlimits.capacity ({exc})") from exc
    for name in ("counting_bound", "counting_cells", "counting_eta", "prompt_lipschitz", "col_norm", "ff_lipschitz",
                 "lipschitz_lower_bound"):
        if not hasattr(capacity, name):
            raise NotVerified(f"promptlimits.capacity has no {name}()")
    return capacity


@check("7a.counting-algebra",
       statement="2^(NLd) <= M^(d Lp) <=> Lp >= N L log2/log M; N = (1/delta)^(dL); M = floor(rho/eta*)+1 = "
                 "lim ceil(rho/eta), eta* = (gamma-2eps)/(2K_P); closed form with gamma = c eps; counting_bound's "
                 "Lp_min is the least Lp with M^(d Lp) >= 2^(NLd)",
       source="docs/theory.md §7.4; promptlimits.capacity docstring",
       method="sympy identity + exhaustive integers")
def counting_algebra() -> str:
    import sympy as sp

    cap = _capacity()
    N, L, d, Lp, M = sp.symbols("N L d L_p M", positive=True)
    # log of both sides: N L d log 2 <= d Lp log M; divide by d log M > 0 (M >= 2)
    diff = d * Lp * sp.log(M) - N * L * d * sp.log(2)
    require(sp.simplify(diff - d * sp.log(M) * (Lp - N * L * sp.log(2) / sp.log(M))) == 0, "log form")
    delta = sp.Symbol("delta", positive=True)
    require(sp.simplify(sp.log((1 / delta) ** (d * L)) - d * L * sp.log(1 / delta)) == 0, "cells")
    g, e, K, rho, c = sp.symbols("gamma epsilon K_P rho c", positive=True)
    eta = (g - 2 * e) / (2 * K)
    require(sp.simplify((rho / eta).subs(g, c * e) - 2 * rho * K / ((c - 2) * e)) == 0, "closed form ratio")
    # M = floor(x) + 1 is the limit of ceil(rho/eta) as eta rises to eta*: exact rationals
    for x in (Fraction(7, 3), Fraction(5), Fraction(1, 2), Fraction(0), Fraction(1000001, 1000)):
        for k in range(6, 12):
            eta_frac = 1 - Fraction(1, 10**k)  # eta = eta* (1 - 10^-k): rho/eta = x / (1 - 10^-k)
            ceil_v = math.ceil(x / eta_frac) if x > 0 else 1
            require(ceil_v == math.floor(x) + 1, f"x={x}: ceil(rho/eta) = {ceil_v} != floor(x)+1")
    # simulator: exhaustive small cases, exact integers
    cases = 0
    rng = np.random.default_rng(7)
    for dd, LL, kk in itertools.product((1, 2), (1, 2), (1, 2, 3)):
        for _ in range(4):
            eps = float(rng.uniform(0.01, 0.1))
            gamma = float(eps * rng.uniform(2.5, 6))
            rho = float(rng.uniform(0.5, 5))
            KP = float(rng.uniform(0.5, 20))
            cb = cap.counting_bound(d=dd, L=LL, gamma=gamma, tol=eps, rho=rho, K_P=KP, delta=1.0 / kk)
            NN = kk ** (dd * LL)
            require(cb.N == NN and cb.log2_datasets == NN * LL * dd, f"N / datasets: {cb}")
            ratio = Fraction(rho) / ((Fraction(gamma) - 2 * Fraction(eps)) / (2 * Fraction(KP)))
            require(cb.M == math.floor(ratio) + 1, f"M = {cb.M}, exact floor(rho/eta*)+1 = {math.floor(ratio) + 1}")
            if cb.M == 1:
                require(math.isinf(cb.Lp_bound), "M = 1 must give an infinite bound")
                continue
            least = next(lp for lp in itertools.count(1) if cb.M ** (dd * lp) >= 2 ** (NN * LL * dd))
            require(cb.Lp_min == least, f"Lp_min = {cb.Lp_min}, least Lp with M^(d Lp) >= 2^(NLd) is {least}")
            require(abs(cb.Lp_bound - NN * LL * math.log(2) / math.log(cb.M)) <= 1e-12 * cb.Lp_bound, "Lp_bound")
            cases += 1
    # closed form for Lipschitz targets
    for c_ratio, Kf, epsv in ((4.0, 1.0, 0.01), (3.0, 2.0, 0.02), (5.0, 0.5, 0.001)):
        lb = cap.lipschitz_lower_bound(d=1, L=1, tol=epsv, K_f=Kf, rho=1.0, K_P=3.0, gamma_over_tol=c_ratio)
        k_cells = math.floor(Kf / (2 * c_ratio * epsv) + 1e-12)
        require(lb.N == k_cells, f"lipschitz_lower_bound: N = {lb.N}, k^(dL) = {k_cells}")
        Mw = math.floor(2 * 1.0 * 3.0 / ((c_ratio - 2) * epsv)) + 1
        require(lb.N == 0 or lb.M == Mw, f"lipschitz_lower_bound: M = {lb.M}, closed form {Mw}")
    return f"identities proved; {cases} counting_bound cases equal the exact least Lp; closed form matches"


def _model(cap, variant, seed):
    from promptlimits.model import PromptedModel

    return PromptedModel.from_seed(2, s=2, m=3, seed=seed, variant=variant)


@check("7b.lipschitz-factors",
       statement="K_P pieces: col_norm = max over sign vectors of ||z W||inf; col(I + W1 D W2) <= c_ff for all D "
                 "in {0,1}^m; ||(diag p - pp^T) x||_1 <= ||x||inf (sympy + all sign vectors, softmax and Softmax_1); "
                 "logit_factor >= every query-box vertex; random probes of the prompt difference quotient <= K_P",
       source="docs/theory.md §7.3; promptlimits.capacity (prompt_lipschitz, LipschitzFactors)",
       method="sympy inequality + exhaustive + brute force")
def lipschitz_factors() -> str:
    import sympy as sp

    cap = _capacity()
    rng = np.random.default_rng(8)
    # (i) col_norm is the exact operator norm for the max norm on row vectors (attained at a sign vector)
    for _ in range(20):
        W = rng.normal(size=(rng.integers(1, 5), rng.integers(1, 5)))
        best = max(np.abs(np.array(z) @ W).max() for z in itertools.product((-1.0, 1.0), repeat=W.shape[0]))
        require(abs(best - cap.col_norm(W)) <= 1e-12 * max(1.0, best), f"col_norm {cap.col_norm(W)} vs {best}")
    # (ii) Clarke Jacobians of FF
    worst_ff = 0.0
    for variant in ("softmax", "softmax1"):
        for seed in range(3):
            model = _model(cap, variant, seed)
            for ff in (model.ff1, model.ff2):
                c_ff = cap.ff_lipschitz(ff)
                mm = ff.W1.shape[1]
                for Dv in itertools.product((0.0, 1.0), repeat=mm):
                    J = np.eye(ff.W1.shape[0]) + ff.W1 @ np.diag(Dv) @ ff.W2
                    require(cap.col_norm(J) <= c_ff * (1 + 1e-12), f"col(I + W1 D W2) = {cap.col_norm(J)} > {c_ff}")
                    worst_ff = max(worst_ff, cap.col_norm(J) / c_ff)
    # (iii) softmax Jacobian: (J x)_j = p_j (x_j - p.x); chord: |x - mu| <= M - mu x / M on [-M, M]
    for n in range(1, 5):
        p = sp.symbols(f"p0:{n}", positive=True)
        x = sp.symbols(f"x0:{n}", real=True)
        J = sp.diag(*p) - sp.Matrix(p) * sp.Matrix(p).T
        Jx = J * sp.Matrix(x)
        mu = sum(pk * xk for pk, xk in zip(p, x))
        for j in range(n):
            require(sp.expand(Jx[j] - p[j] * (x[j] - mu)) == 0, f"(J x)_{j}")
    Ms, xs, mus = sp.symbols("M x mu", real=True)
    require(sp.simplify((Ms - mus * xs / Ms - (xs - mus)) - (Ms - xs) * (Ms + mus) / Ms) == 0, "chord (x >= mu)")
    require(sp.simplify((Ms - mus * xs / Ms + (xs - mus)) - (Ms + xs) * (Ms - mus) / Ms) == 0, "chord (x <= mu)")
    # so sum p_j |x_j - mu| <= S M - mu^2/M <= M (S = sum p <= 1); brute force over all sign vectors
    worst_sm = 0.0
    for n in range(1, 7):
        X = np.array(list(itertools.product((-1.0, 1.0), repeat=n)))
        for _ in range(30):
            z = np.exp(rng.normal(0, 2, n))
            for extra in (0.0, 1.0):  # softmax, Softmax_1 (extra logit 0)
                pv = z / (extra + z.sum())
                Jm = np.diag(pv) - np.outer(pv, pv)
                val = float(np.abs(X @ Jm.T).sum(axis=1).max())
                require(val <= 1 + 1e-12, f"||J x||_1 = {val} > ||x||inf = 1 (n={n})")
                worst_sm = max(worst_sm, val)
    # (iv) logit_factor covers the query box vertices; (v) random probes of the difference quotient
    worst_q = worst_probe = 0.0
    for variant in ("softmax", "softmax1"):
        for seed in range(3):
            model = _model(cap, variant, seed)
            rho = 1.5
            fac = cap.prompt_lipschitz(model, rho)
            hx_lo, hx_hi = cap.ff_range(model.ff1, np.zeros(model.d), np.ones(model.d))
            q_lo, q_hi = cap.linear_range(hx_lo, hx_hi, model.WQ)
            for qv in itertools.product(*zip(q_lo, q_hi)):
                val = model.scale * float(np.abs(model.WK @ np.array(qv)).sum())
                require(val <= fac.logit_factor * (1 + 1e-12), f"logit factor {fac.logit_factor} < vertex {val}")
                worst_q = max(worst_q, val / fac.logit_factor)
            X = rng.uniform(0, 1, size=(4, 3, model.d))
            for _ in range(40):
                Lp = int(rng.integers(1, 4))
                P = rng.uniform(-rho, rho, size=(Lp, model.d))
                step = 10.0 ** rng.uniform(-4, 0)
                P2 = np.clip(P + rng.uniform(-step, step, size=P.shape), -rho, rho)
                dP = float(np.abs(P - P2).max())
                if dP == 0:
                    continue
                q = float(np.abs(model.forward(P, X) - model.forward(P2, X)).max()) / dP
                require(q <= fac.K_P, f"{variant} seed {seed}: difference quotient {q} > K_P {fac.K_P}")
                worst_probe = max(worst_probe, q / fac.K_P)
    return (f"col_norm exact; worst col(I+W1 D W2)/c_ff = {worst_ff:.3f}; worst ||Jx||_1/||x||inf = {worst_sm:.3f}; "
            f"worst vertex/logit_factor = {worst_q:.3f}; worst probe/K_P = {worst_probe:.3g}")


@check("7c.q-ary-probabilistic",
       statement="q-ary family over prompts in R^(Lp x D), outputs in R^(N x L x d): q^(NLd) <= M^(D Lp) <=> "
                 "Lp >= N L d log q/(D log M); Pr[uniform member memorizable at Lp] <= M^(D Lp) q^(-NLd); the sum over "
                 "lengths below Lp_sample(alpha) is <= alpha M^D/(M^D-1); "
                 "counting_bound's Lp_min, log_probability and Lp_sample "
                 "match exact integers",
       source="docs/theory.md §7.4; promptlimits.capacity (counting_bound, CountingBound)",
       method="sympy identity + exhaustive integers")
def q_ary_probabilistic() -> str:
    import sympy as sp

    cap = _capacity()
    N, L, d, D, Lp, M, q = sp.symbols("N L d D L_p M q", positive=True)
    diff = D * Lp * sp.log(M) - N * L * d * sp.log(q)
    require(sp.simplify(diff - D * sp.log(M) * (Lp - N * L * d * sp.log(q) / (D * sp.log(M)))) == 0, "log form")
    # geometric tail: sum_{l < x} M^(D l) <= M^(D x) / (M^D - 1) <= M^(D x) when M^D >= 2
    r = sp.Symbol("r", positive=True)
    for n in range(1, 9):  # (r - 1) sum_{l=1}^{n-1} r^l = r^n - r, so the tail is below r^n / (r - 1) <= r^n (r >= 2)
        require(sp.expand((r - 1) * sum(r**j for j in range(1, n)) - (r**n - r)) == 0, f"geometric sum n={n}")
    cases = 0
    rng = np.random.default_rng(11)
    for dd, LL, DD, qq in itertools.product((1, 2), (1, 2), (1, 3, 7), (2, 3, 16)):
        for _ in range(3):
            NN = int(rng.integers(1, 40))
            eps = float(rng.uniform(1e-4, 1e-2))
            gamma = float(eps * rng.uniform(2.5, 6))
            KP, rho = float(rng.uniform(0.5, 50)), float(rng.uniform(0.1, 3))
            cb = cap.counting_bound(d=dd, L=LL, gamma=gamma, tol=eps, rho=rho, q=qq, K_P=KP, N=NN, D=DD)
            require(cb.M == math.floor(Fraction(rho) * 2 * Fraction(KP) / (Fraction(gamma) - 2 * Fraction(eps))) + 1,
                    f"M = {cb.M}")
            datasets = qq ** (NN * LL * dd)
            least = next(lp for lp in itertools.count(1) if cb.M ** (DD * lp) >= datasets)
            require(cb.Lp_min == least, f"Lp_min {cb.Lp_min} != least integer {least} (M={cb.M}, q={qq}, D={DD})")
            for lp in (1, 2, least):
                exact = min(Fraction(1), Fraction(cb.M ** (DD * lp), datasets))
                require(abs(cb.log_probability(lp) - math.log(exact)) <= 1e-9 * max(1.0, abs(math.log(exact))),
                        f"log_probability({lp})")
            below = [lp for lp in range(1, least + 1) if lp < cb.Lp_sample]
            total = sum(Fraction(cb.M ** (DD * lp), datasets) for lp in below)
            ratio = Fraction(cb.M ** DD, cb.M ** DD - 1)  # geometric tail factor r / (r - 1)
            require(total <= Fraction(cb.alpha) * ratio * (1 + Fraction(1, 10**9)), f"tail {float(total)}")
            cases += 1
    return (f"identities proved; {cases} cases: Lp_min exact, probabilities exact, "
            "tail below Lp_sample <= alpha M^D/(M^D-1)")


@check("7d.tightened-kp",
       statement="K_P with inactive FF units dropped, a shifted prompt box, exact grid inputs and compared columns "
                 "only: every Clarke Jacobian over the units possibly active is within c_ff; unit masks are sound at "
                 "sampled box points; random and worst-direction probes (||J||_(inf->inf) of the prompt Jacobian) "
                 "stay <= K_P, also on the constructed model",
       source="docs/theory.md §7.3; promptlimits.capacity (prompt_lipschitz), promptlimits.jacobian",
       method="exhaustive + brute force")
def tightened_lipschitz() -> str:
    from promptlimits import construct
    from promptlimits.datasets import grid
    from promptlimits.jacobian import prompt_jacobian, read_columns
    from promptlimits.model import PromptedModel

    cap = _capacity()
    rng = np.random.default_rng(12)
    worst = 0.0
    for seed in range(3):
        model = PromptedModel.from_seed(2, s=3, m=4, seed=seed, positions=2, weight_scale=1.5)
        lo, hi = np.array([-2.0, 0.3]), np.array([-0.5, 1.5])
        X = rng.uniform(size=(4, 2, 2))
        fac = cap.prompt_lipschitz(model, box=(lo, hi), X=X, out_cols=[1])
        act = cap.active_units(model.ff1, lo, hi)
        Z = rng.uniform(lo, hi, size=(2000, 2))
        require(not np.any((Z @ model.ff1.W1 + model.ff1.b1)[:, ~act] > 0), "a unit marked inactive is active")
        for Dv in itertools.product((0.0, 1.0), repeat=int(act.sum())):
            full = np.zeros(act.size)
            full[act] = Dv
            J = np.eye(2) + model.ff1.W1 @ np.diag(full) @ model.ff1.W2
            require(cap.col_norm(J) <= fac.c_ff1 * (1 + 1e-12), "Clarke Jacobian above c_ff1")
        for _ in range(30):
            P = rng.uniform(lo, hi, size=(int(rng.integers(1, 4)), 2))
            J = prompt_jacobian(model, P, X, out_cols=[1])
            q = float(np.abs(J).sum(axis=1).max())
            require(q <= fac.K_P, f"||J||inf {q} > K_P {fac.K_P}")
            worst = max(worst, q / fac.K_P)
    c = construct.build(1, 2, 3)
    X = c.embed(grid(1 / 3, 2, 1))
    cols = read_columns(c.model)
    P = np.zeros((5, c.model.d))
    P[:, 0] = -1.0
    P[:, c.layout.table] = 1.0
    lo, hi = P.min(axis=0) - 0.25, P.max(axis=0) + 0.25
    fac = cap.prompt_lipschitz(c.model, box=(lo, hi), X=X, out_cols=[0])
    for _ in range(20):
        Q = P + rng.uniform(-0.25, 0.25, size=P.shape)
        q = float(np.abs(prompt_jacobian(c.model, Q, X, out_cols=[0], prompt_cols=cols)).sum(axis=1).max())
        require(q <= fac.K_P, f"construction: ||J||inf {q} > K_P {fac.K_P}")
    return f"masks sound; Clarke Jacobians within c_ff1; worst probe/K_P = {worst:.3g} (random models)"


@check("7e.whole-box-kp",
       statement="outward-rounded interval products enclose the exact rational range of z W + b over a box (also "
                 "under total cancellation) and |A||B| is bounded above entry by entry; K_P over the whole box "
                 "||P||max <= rho of the token-width construction (rho containing its closed-form prompt) bounds "
                 "||J||_(inf->inf) of the prompt Jacobian at random prompts of the box, the closed form included",
       source="docs/theory.md §7.3, §7.8; promptlimits.interval, promptlimits.capacity (prompt_lipschitz)",
       method="exact rationals + brute force")
def whole_box_kp() -> str:
    from fractions import Fraction as F

    from promptlimits import construct
    from promptlimits.datasets import grid
    from promptlimits.interval import box_matmul, upper_abs_matmul
    from promptlimits.jacobian import prompt_jacobian, read_columns

    rng = np.random.default_rng(7)
    boxes = 0
    for trial in range(20):
        n, m = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        W = rng.normal(size=(n, m)) * 10.0 ** rng.integers(-6, 7, size=(n, m))
        if n >= 2 and trial % 2:
            W[0], W[1] = 1e15, -1e15  # cancellation
        b = rng.normal(size=m)
        lo = rng.normal(size=n)
        hi = lo + (0.0 if trial % 3 == 0 else 1.0) * np.abs(rng.normal(size=n))
        o_lo, o_hi = box_matmul(lo, hi, W, b)
        for j in range(m):
            terms = [(F(lo[i]) * F(W[i, j]), F(hi[i]) * F(W[i, j])) for i in range(n)]
            require(F(o_lo[j]) <= sum(min(t) for t in terms) + F(b[j]), "interval lower end above the exact minimum")
            require(sum(max(t) for t in terms) + F(b[j]) <= F(o_hi[j]), "interval upper end below the exact maximum")
            boxes += 1
        U = upper_abs_matmul(W.T, W)
        for i in range(m):
            for j in range(m):
                require(F(U[i, j]) >= sum(F(abs(W[t, i])) * F(abs(W[t, j])) for t in range(n)), "|A||B| bound low")
    worst = 0.0
    for d, L, k in ((1, 1, 4), (1, 2, 3), (2, 1, 3)):
        c = construct.build(d, L, k, width="token")
        G = grid(1 / k, L, d)
        X = c.embed(G)
        P0 = construct.lookup_prompt(c, lambda C: rng.uniform(-0.5, 0.5, size=C.shape))
        rho = 1.25 * float(np.abs(P0).max())
        fac = _capacity().prompt_lipschitz(c.model, rho, X=X, out_cols=np.arange(d))
        cols = read_columns(c.model)
        for P in [P0] + [rng.uniform(-rho, rho, size=(int(rng.integers(1, 2 * c.Lp)), c.model.d)) for _ in range(8)]:
            q = float(np.abs(prompt_jacobian(c.model, P, X, out_cols=np.arange(d), prompt_cols=cols)).sum(axis=1).max())
            require(q <= fac.K_P, f"token construction ({d},{L},{k}): ||J||inf {q} > K_P {fac.K_P}")
            worst = max(worst, q / fac.K_P)
    return f"{boxes} interval columns enclose the exact range; worst probe/K_P over the whole box = {worst:.3g}"
