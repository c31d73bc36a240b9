"""The polynomial kernels at small sizes against their naive twins, every blocking edge case.

Marked ``kernels``: CI runs these a second time with ``NUMBA_DISABLE_JIT=1`` so the
kernels' logic is covered as plain Python (STYLE: STUMPY's habit); sizes stay small so
that pass takes seconds. Edge cases: rows not a multiple of the four-row block (1, 3, 5,
6 queries or keys), value widths that leave an odd tile or a partial one (d_v = 1..9),
degree 0 (rank 1), both variants, the fused and the factors paths.
"""

import numpy as np
import pytest
from naive import naive_monomials, naive_poly_attention, naive_poly_attention_backward

from promptlimits.features import monomial_basis, phi_left, phi_right
from promptlimits.poly_attention import make_plan

pytestmark = pytest.mark.kernels

B = 0.6


def _inputs(seed, nq, n, d, dv):
    rng = np.random.default_rng(seed)
    Q = rng.uniform(-B, B, (nq, d))
    K = rng.uniform(-B, B, (n, d))
    V = rng.uniform(-1.0, 1.0, (n, dv))
    G = rng.normal(size=(nq, dv))
    return Q, K, V, G


@pytest.mark.parametrize("d, g", [(1, 0), (1, 3), (2, 4), (3, 3)])
def test_monomials_and_features_match_the_definition(d, g):
    X = np.random.default_rng(d + g).uniform(-1, 1, (5, d))
    basis = monomial_basis(d, g)
    np.testing.assert_allclose(phi_right(X, basis), naive_monomials(X, g), rtol=1e-14, atol=0)
    c = np.arange(1.0, g + 2.0)
    w = c[basis.total_degree] * 0.5 ** basis.total_degree * basis.multinomial
    np.testing.assert_allclose(phi_left(X, basis, c, 0.5), naive_monomials(X, g) * w, rtol=1e-14, atol=0)


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
@pytest.mark.parametrize("nq, n, dv", [(1, 1, 1), (3, 5, 2), (5, 6, 4), (6, 3, 5), (4, 8, 8), (2, 7, 9)])
@pytest.mark.parametrize("d, g", [(1, 0), (2, 3), (3, 2)])
def test_fused_and_factors_forward_match_the_n_by_n_polynomial(variant, nq, n, dv, d, g):
    plan = make_plan(d, B, degree=g)
    Q, K, V, _ = _inputs(nq * 100 + n, nq, n, d, dv)
    want = naive_poly_attention(Q, K, V, plan.approx.coefficients, variant=variant)
    for method in ("fused", "factors"):
        got = plan.forward(Q, K, V, method=method, variant=variant)
        assert got.shape == (nq, dv)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("variant", ["softmax", "softmax1"])
@pytest.mark.parametrize("nq, n, dv", [(1, 1, 1), (3, 5, 2), (5, 6, 5), (2, 7, 9)])
@pytest.mark.parametrize("d, g", [(1, 2), (2, 3), (3, 2)])
def test_backward_matches_the_n_by_n_chain_rule(variant, nq, n, dv, d, g):
    plan = make_plan(d, B, degree=g)
    Q, K, V, G = _inputs(nq * 10 + n + dv, nq, n, d, dv)
    got = plan.backward(Q, K, V, G, variant=variant)
    want = naive_poly_attention_backward(Q, K, V, G, plan.approx.coefficients, variant=variant)
    for a, b, name in zip(got, want, ("dQ", "dK", "dV")):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=name)
