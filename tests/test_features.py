"""Monomial feature map (promptlimits.features) against its naive twin and closed forms."""

import math

import numpy as np
import pytest
from naive import naive_monomials, naive_poly_eval

from promptlimits.features import feature_weights, monomial_basis, phi_left, phi_right, rank
from promptlimits.polyapprox import monomial_coefficients


@pytest.mark.parametrize("d,g", [(1, 0), (1, 5), (2, 3), (3, 0), (3, 4), (5, 2), (8, 3)])
def test_basis_matches_naive(d, g):
    basis = monomial_basis(d, g)
    assert basis.rank == rank(d, g) == math.comb(d + g, g)
    X = np.random.default_rng(d * 10 + g).uniform(-1.5, 1.5, (7, d))
    np.testing.assert_allclose(phi_right(X, basis), naive_monomials(X, g), rtol=1e-13, atol=0)
    # graded order, each monomial is its parent times one coordinate
    assert np.all(np.diff(basis.total_degree) >= 0)
    for a in range(1, basis.rank):
        e = basis.exponents[basis.parent[a]].copy()
        e[basis.coord[a]] += 1
        assert np.array_equal(e, basis.exponents[a])
    assert len({tuple(e) for e in basis.exponents}) == basis.rank
    # the runs tile monomials 1..r-1 in order and restate parent/coord
    covered = []
    for out, par, length, c in basis.runs:
        covered.extend(range(out, out + length))
        assert np.array_equal(basis.parent[out:out + length], np.arange(par, par + length))
        assert np.all(basis.coord[out:out + length] == c)
    assert covered == list(range(1, basis.rank))


def test_multinomial_weights():
    basis = monomial_basis(3, 4)
    for e, m in zip(basis.exponents, basis.multinomial):
        assert m == math.factorial(int(e.sum())) / math.prod(math.factorial(int(k)) for k in e)


@pytest.mark.parametrize("d,g,R", [(1, 0, 0.5), (1, 7, 2.0), (3, 5, 1.0), (6, 4, 0.25), (4, 9, 3.0)])
@pytest.mark.parametrize("kind", ["chebyshev", "shifted_taylor", "taylor"])
def test_feature_product_is_the_polynomial(d, g, R, kind):
    """phi_L(q) . phi_R(k) = p(scale q.k) (multinomial theorem), to rounding."""
    rng = np.random.default_rng(g)
    scale = 0.7 / d
    B = math.sqrt(R / (scale * d))
    Q = rng.uniform(-B, B, (9, d))
    K = rng.uniform(-B, B, (11, d))
    c = monomial_coefficients(kind, g, R)
    basis = monomial_basis(d, g)
    got = phi_left(Q, basis, c, scale) @ phi_right(K, basis).T
    want = naive_poly_eval(c, scale * (Q @ K.T))
    scale_of_terms = naive_poly_eval(np.abs(c), np.abs(scale) * (np.abs(Q) @ np.abs(K).T))
    assert np.max(np.abs(got - want) / scale_of_terms) < 1e-12


def test_weights_shape_checked():
    basis = monomial_basis(2, 3)
    with pytest.raises(ValueError, match="4 coefficients"):
        feature_weights(basis, [1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match="columns"):
        phi_right(np.zeros((3, 4)), basis)
