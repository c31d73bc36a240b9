"""Slow, obviously-correct references for the tests (STYLE: one naive twin per kernel)."""

import numpy as np


def naive_attention(Q, K, V, *, scale=None, variant="softmax", dtype=np.float64):
    """Attention by the definition, one query row at a time, without max-subtraction.

    ``dtype=np.longdouble`` (64-bit mantissa on x86) gives a reference about
    2000 times more precise than float64, for bounds that include float64 rounding.
    """
    Q, K, V = (np.asarray(a, dtype=dtype) for a in (Q, K, V))
    scale = dtype(1.0 / Q.shape[1] if scale is None else scale)  # the float64 scale the code uses
    out = np.zeros((Q.shape[0], V.shape[1]), dtype=dtype)
    for i in range(Q.shape[0]):
        w = np.exp(scale * (K @ Q[i]))
        den = w.sum() + (1.0 if variant == "softmax1" else 0.0)
        out[i] = (w @ V) / den
    return out


# --- polynomial method (promptlimits.features / promptlimits.poly_attention) ---


def naive_sharp_output_eps(eps_p):
    """F(eps_p) = 2 (1 - sqrt(1 - eps_p^2)) / eps_p by its definition, at 60 digits (docs/theory.md §4.2)."""
    import mpmath

    with mpmath.workdps(60):
        x = mpmath.mpf(float(eps_p))
        return float(2 * (1 - mpmath.sqrt(1 - x * x)) / x)


def naive_monomials(X, g):
    """All monomials x^alpha, |alpha| <= g, in graded lexicographic order, by definition."""
    import itertools

    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    cols = []
    for j in range(g + 1):
        for combo in itertools.combinations_with_replacement(range(d), j):
            col = np.ones(n)
            for c in combo:
                col = col * X[:, c]
            cols.append(col)
    return np.stack(cols, axis=1)


def naive_poly_eval(coefficients, x):
    """p(x) = sum_j c_j x^j term by term (in the dtype of ``x``, at least float64)."""
    x = np.asarray(x, dtype=np.result_type(x, np.float64))
    return sum(c * x**j for j, c in enumerate(coefficients))


def naive_poly_attention(Q, K, V, coefficients, *, scale=None, variant="softmax", dtype=np.float64):
    """D^-1 p(scale Q K^T) V with the n x n matrix formed explicitly (in ``dtype``)."""
    Q, K, V = (np.asarray(a, dtype=dtype) for a in (Q, K, V))
    scale = dtype(1.0 / Q.shape[1] if scale is None else scale)  # the float64 scale the code uses
    P = naive_poly_eval(np.asarray(coefficients, dtype=dtype), scale * (Q @ K.T))
    den = P.sum(axis=1) + (1.0 if variant == "softmax1" else 0.0)
    return (P @ V) / den[:, None]


def _weights_backward(Q, K, V, G, P, dP_dX, scale, variant):
    """dQ, dK, dV of <G, D^-1 P V> for weights P(X) with derivative dP_dX, X = scale Q K^T (chain rule)."""
    D = P.sum(axis=1) + (1.0 if variant == "softmax1" else 0.0)
    T = (P @ V) / D[:, None]
    dV = (P / D[:, None]).T @ G
    dP = ((G @ V.T) - np.sum(G * T, axis=1, keepdims=True)) / D[:, None]
    dX = dP * dP_dX
    return scale * dX @ K, scale * dX.T @ Q, dV


def naive_poly_attention_backward(Q, K, V, G, coefficients, *, scale=None, variant="softmax", dtype=np.float64):
    """Gradients of <G, naive_poly_attention> by the n x n chain rule (in ``dtype``, e.g. ``np.longdouble``)."""
    Q, K, V, G = (np.asarray(a, dtype=dtype) for a in (Q, K, V, G))
    scale = dtype(1.0 / Q.shape[1] if scale is None else scale)  # the float64 scale the code uses
    c = np.asarray(coefficients, dtype=dtype)
    X = scale * (Q @ K.T)
    P = naive_poly_eval(c, X)
    dP_dX = naive_poly_eval(c[1:] * np.arange(1, c.size, dtype=dtype), X) if c.size > 1 else 0 * X
    return _weights_backward(Q, K, V, G, P, dP_dX, scale, variant)


def naive_attention_backward(Q, K, V, G, *, scale=None, variant="softmax", dtype=np.float64):
    """Gradients of <G, naive_attention> by the n x n chain rule, without max-subtraction (in ``dtype``)."""
    Q, K, V, G = (np.asarray(a, dtype=dtype) for a in (Q, K, V, G))
    scale = dtype(1.0 / Q.shape[1] if scale is None else scale)
    E = np.exp(scale * (Q @ K.T))
    return _weights_backward(Q, K, V, G, E, E, scale, variant)


# --- prompted model ---


def central_difference_prompt_grad(model, P, X, Y, h=1e-6, **loss_kw):
    """d MSE / d P by central differences of ``model.loss(..., **loss_kw)``, one entry at a time."""
    num = np.zeros_like(P)
    for i in np.ndindex(P.shape):
        Pp, Pm = P.copy(), P.copy()
        Pp[i] += h
        Pm[i] -= h
        num[i] = (model.loss(Pp, X, Y, **loss_kw).mse - model.loss(Pm, X, Y, **loss_kw).mse) / (2 * h)
    return num


def naive_attention_mp(Q, K, V, *, scale=None, variant="softmax", dps=50):
    """Attention by the definition in mpmath (unbounded exponents): a reference for logits near 1e308."""
    import mpmath

    with mpmath.workdps(dps):
        Q, K, V = (np.asarray(a, dtype=np.float64) for a in (Q, K, V))
        s = mpmath.mpf(1.0 / Q.shape[1] if scale is None else scale)
        out = np.zeros((Q.shape[0], V.shape[1]))
        for i in range(Q.shape[0]):
            w = [mpmath.exp(s * mpmath.fsum(mpmath.mpf(q) * mpmath.mpf(k) for q, k in zip(Q[i], K[j])))
                 for j in range(K.shape[0])]
            den = mpmath.fsum(w) + (1 if variant == "softmax1" else 0)
            for c in range(V.shape[1]):
                out[i, c] = float(mpmath.fsum(wj * mpmath.mpf(V[j, c]) for j, wj in enumerate(w)) / den)
        return out


def naive_chebyshev_coefficient_intervals(g, R):
    """The Chebyshev interpolant's monomial coefficients on ``[-R, R]`` as ``mpmath.iv`` intervals, by iv's
    operators at the current ``iv.prec``: the reference for ``polyapprox._exact_coefficients_interval``."""
    from mpmath import iv

    from promptlimits.polyapprox import _chebyshev_monomial_table

    Ri, n = iv.mpf(R), g + 1
    period = 4 * n
    cos_table = [iv.cos(iv.pi * t / (2 * n)) for t in range(period)]
    fvals = [iv.exp(Ri * cos_table[(2 * k + 1) % period]) for k in range(n)]
    a = []
    for m in range(n):
        s = iv.mpf(0)
        for k in range(n):
            s += fvals[k] * cos_table[(m * (2 * k + 1)) % period]
        s = s * 2 / n
        a.append(s / 2 if m == 0 else s)
    table = _chebyshev_monomial_table(g)
    coeffs, Rpow = [], iv.mpf(1)
    for j in range(n):
        s = iv.mpf(0)
        for m in range(j, n):
            tmj = table[m][j] if j < len(table[m]) else 0
            if tmj:
                s += a[m] * tmj
        coeffs.append(s / Rpow)
        Rpow = Rpow * Ri
    return coeffs
