"""Checks of the softmax / Softmax_1 Jacobians and the backward passes
(docs/theory.md §2.5, §3.10; :mod:`promptlimits.attention`, :mod:`promptlimits.poly_attention`).

Claims:

* for ``s_j = exp(a_j) / sum_k exp(a_k)`` and ``s_j = exp(a_j) / (1 + sum_k
  exp(a_k))``, the gradient of ``L = sum_c G_c T_c`` with ``T = sum_k s_k v_k``
  is ``dL/da_j = s_j (G.v_j - G.T)`` (SymPy differentiation, ``n <= 4``,
  ``d_v = 2``), the formula used by ``exact_attention_backward``;
* the simulator's ``exact_attention_backward`` equals the SymPy gradient of
  ``<G, exact attention>`` with respect to every entry of ``Q, K, V``
  (random rational points, evaluated at 50 digits);
* ``PolyPlan.backward`` equals the SymPy gradient of ``<G, T_poly>`` with
  ``T_poly`` built from the plan's own polynomial coefficients.
"""

from __future__ import annotations

import numpy as np

from .core import check, require


@check("4a.softmax-jacobian",
       statement="d/da_j sum_c G_c (sum_k s_k v_kc) = s_j (G.v_j - G.T) for s = softmax and Softmax_1 "
                 "(exp(a_j)/(1 + sum exp)), n <= 4, d_v = 2",
       source="attention.exact_attention_backward docstring; Outlier-Efficient Hopfield (Softmax_1)",
       method="sympy identity")
def softmax_jacobian() -> str:
    import sympy as sp

    count = 0
    for d0 in (0, 1):
        for n in range(1, 5):
            a = sp.symbols(f"a0:{n}", real=True)
            x = sp.symbols(f"x0:{n}", positive=True)  # x_k = exp(a_k)
            G = sp.symbols("G0:2", real=True)
            v = [sp.symbols(f"v{k}_0:2", real=True) for k in range(n)]
            den = d0 + sum(sp.exp(ak) for ak in a)
            s = [sp.exp(ak) / den for ak in a]
            T = [sum(s[k] * v[k][c] for k in range(n)) for c in range(2)]
            L = sum(G[c] * T[c] for c in range(2))
            back = {sp.exp(ak): xk for ak, xk in zip(a, x)}
            for j in range(n):
                dL = sp.diff(L, a[j])
                formula = s[j] * (sum(G[c] * v[j][c] for c in range(2)) - sum(G[c] * T[c] for c in range(2)))
                diff = sp.expand(sp.numer(sp.together((dL - formula).subs(back))))
                require(diff == 0, f"{'softmax1' if d0 else 'softmax'} n={n} j={j}: residual {diff}")
                count += 1
    return f"{count} partial derivatives (softmax and Softmax_1, n=1..4) match s_j (G.v_j - G.T)"


def _rational_matrix(rng, shape, den=8, top=2):
    import sympy as sp

    ints = rng.integers(-top * den, top * den + 1, size=shape)
    return [[sp.Rational(int(ints[i, j]), den) for j in range(shape[1])] for i in range(shape[0])]


def _symbolic_grads(L, syms, subs):
    """Gradient of L w.r.t. syms at the rational point subs: exact rationals where L is rational,
    otherwise SymPy floats with 50 digits."""
    import sympy as sp

    point = {k: sp.Rational(v) for k, v in subs.items()}
    out = []
    for s in syms:
        val = sp.diff(L, s).xreplace(point)
        out.append(val if val.is_Rational else sp.N(val, 50))
    return out


def _compare(name, got_arrays, want, sym_shapes, tol=1e-12):
    got = np.concatenate([np.asarray(g, dtype=np.float64).ravel() for g in got_arrays])
    ref = np.array([float(w) for w in want])
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(got - ref).max())
    require(err <= tol * scale, f"{name}: max |simulator - sympy| = {err:.3e} (scale {scale:.3g})")
    return err / scale


@check("4b.exact-backward",
       statement="exact_attention_backward(Q, K, V, G) equals the SymPy gradient of <G, D^-1 exp(s QK^T) V> "
                 "w.r.t. every entry of Q, K, V (softmax and Softmax_1; n_q = 2, n = 4, d = 2, d_v = 2)",
       source="docs/theory.md §2.5; attention.exact_attention_backward",
       method="sympy diff, 50 digits")
def exact_backward() -> str:
    import sympy as sp

    from promptlimits import exact_attention_backward

    rng = np.random.default_rng(4)
    nq, n, d, dv = 2, 4, 2, 2
    worst = 0.0
    for variant, d0 in (("softmax", 0), ("softmax1", 1)):
        for trial in range(2):
            Qs = sp.Matrix(nq, d, lambda i, j: sp.Symbol(f"q{i}_{j}"))
            Ks = sp.Matrix(n, d, lambda i, j: sp.Symbol(f"k{i}_{j}"))
            Vs = sp.Matrix(n, dv, lambda i, j: sp.Symbol(f"v{i}_{j}"))
            Gv = _rational_matrix(rng, (nq, dv))
            scale = sp.Rational(1, d)
            L = 0
            for i in range(nq):
                w = [sp.exp(scale * sum(Qs[i, c] * Ks[j, c] for c in range(d))) for j in range(n)]
                den = d0 + sum(w)
                for c in range(dv):
                    L += Gv[i][c] * sum(w[j] * Vs[j, c] for j in range(n)) / den
            Qv, Kv, Vv = _rational_matrix(rng, (nq, d)), _rational_matrix(rng, (n, d)), _rational_matrix(rng, (n, dv))
            subs = {}
            for M, vals in ((Qs, Qv), (Ks, Kv), (Vs, Vv)):
                for i in range(M.rows):
                    for j in range(M.cols):
                        subs[M[i, j]] = vals[i][j]
            syms = list(Qs) + list(Ks) + list(Vs)
            want = _symbolic_grads(L, syms, subs)
            f = lambda X: np.array([[float(x) for x in row] for row in X])  # noqa: E731
            got = exact_attention_backward(f(Qv), f(Kv), f(Vv), f(Gv), variant=variant)
            worst = max(worst, _compare(f"{variant} trial {trial}", got, want, None))
    return f"dQ, dK, dV agree with SymPy to {worst:.2e} (relative to the largest entry), both variants"


@check("4c.poly-backward",
       statement="PolyPlan.backward equals the SymPy gradient of <G, T_poly>, T_poly_i = sum_j p(s q_i.k_j) v_j / "
                 "(d0 + sum_j p(s q_i.k_j)) with the plan's own coefficients "
                 "(softmax, Softmax_1; n_q = 2, n = 3, d = 2, g = 3, 6)",
       source="docs/theory.md §3.10 (backward, Alman-Song 2024); poly_attention.PolyPlan.backward",
       method="sympy diff, exact rationals")
def poly_backward() -> str:
    import sympy as sp

    from promptlimits.poly_attention import make_plan

    rng = np.random.default_rng(5)
    nq, n, d, dv = 2, 3, 2, 2
    worst = 0.0
    for variant, d0 in (("softmax", 0), ("softmax1", 1)):
        for B, deg in (((1.0, 3),) if variant == "softmax" else ((1.5, 6),)):
            plan = make_plan(d, B, eps=None, degree=deg)
            csyms = sp.symbols(f"c0:{deg + 1}")
            coeffs = list(csyms)
            scale = sp.Rational(plan.scale)
            Qs = sp.Matrix(nq, d, lambda i, j: sp.Symbol(f"q{i}_{j}"))
            Ks = sp.Matrix(n, d, lambda i, j: sp.Symbol(f"k{i}_{j}"))
            Vs = sp.Matrix(n, dv, lambda i, j: sp.Symbol(f"v{i}_{j}"))
            Gv = _rational_matrix(rng, (nq, dv))
            L = 0
            for i in range(nq):
                w = []
                for j in range(n):
                    xx = scale * sum(Qs[i, c] * Ks[j, c] for c in range(d))
                    w.append(sum(cj * xx**jj for jj, cj in enumerate(coeffs)))
                den = d0 + sum(w)
                for c in range(dv):
                    L += Gv[i][c] * sum(w[j] * Vs[j, c] for j in range(n)) / den
            top = int(B)  # |entries| <= B so the plan accepts them
            Qv = _rational_matrix(rng, (nq, d), top=top)
            Kv = _rational_matrix(rng, (n, d), top=top)
            Vv = _rational_matrix(rng, (n, dv))
            subs = {}
            for M, vals in ((Qs, Qv), (Ks, Kv), (Vs, Vv)):
                for i in range(M.rows):
                    for j in range(M.cols):
                        subs[M[i, j]] = vals[i][j]
            for cs, cv in zip(csyms, plan.approx.coefficients):
                subs[cs] = sp.Rational(float(cv))
            want = _symbolic_grads(L, list(Qs) + list(Ks) + list(Vs), subs)
            f = lambda X: np.array([[float(x) for x in row] for row in X])  # noqa: E731
            got = plan.backward(f(Qv), f(Kv), f(Vv), f(Gv), variant=variant)
            worst = max(worst, _compare(f"poly {variant} B={B} g={deg}", got, want, None, tol=1e-10))
    return f"dQ, dK, dV of PolyPlan.backward agree with SymPy to {worst:.2e} (relative), both variants"
