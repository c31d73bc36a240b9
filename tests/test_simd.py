"""The eight-wide intrinsics of the kernels against their operation-for-operation NumPy reference."""

import numpy as np
import pytest
from numba import config, njit

from promptlimits.features import monomial_basis
from promptlimits.poly_attention import _simd, _simd_python

pytestmark = pytest.mark.skipif(config.DISABLE_JIT, reason="without the JIT the reference is what runs")

R, W = 13, _simd.WIDTH


@njit(cache=True)
def _rows_update(OUT, IN, COEF, k0, c0, r, LANE_SUMS, y):
    _simd.rows_update(OUT, IN, COEF, k0, c0, r, LANE_SUMS, y)


@njit(cache=True)
def _rows_reduce(M, S, w, r, N, ct, E):
    _simd.rows_reduce(M, S, w, r, N, ct, E)


@njit(cache=True)
def _monomials(X, i0, runs, xb, M):
    _simd.monomials(X, i0, runs, xb, M)


@njit(cache=True)
def _monomials_backward(X, i0, runs, xb, M, dm, dX):
    _simd.monomials_backward(X, i0, runs, xb, M, dm, dX)


def _pair(rng, *shape):
    a = rng.standard_normal(shape)
    return a, a.copy()


def test_rows_update_matches_reference():
    rng = np.random.default_rng(0)
    IN, COEF, y = rng.standard_normal((R, W)), rng.standard_normal((3 * W, 2 * W)), rng.standard_normal(W)
    out_jit, out_ref = _pair(rng, R, W)
    sums_jit, sums_ref = _pair(rng, R, W)
    _rows_update(out_jit, IN, COEF, np.int64(8), np.int64(8), np.int64(R - 2), sums_jit, y)
    _simd_python.rows_update(out_ref, IN, COEF, 8, 8, R - 2, sums_ref, y)
    np.testing.assert_allclose(out_jit, out_ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(sums_jit, sums_ref, rtol=1e-13, atol=1e-14)


def test_rows_update_without_lane_sums_matches_matrix_product():
    rng = np.random.default_rng(1)
    IN, COEF = rng.standard_normal((R, W)), rng.standard_normal((W, W))
    out0 = rng.standard_normal((R, W))
    out = out0.copy()
    _rows_update(out, IN, COEF, np.int64(0), np.int64(0), np.int64(R), None, None)
    np.testing.assert_allclose(out, out0 + IN @ COEF, rtol=1e-12, atol=1e-13)


def test_rows_reduce_matches_reference_and_matrix_product():
    rng = np.random.default_rng(2)
    M, S, w = rng.standard_normal((R, W)), rng.standard_normal((R, W)), rng.standard_normal(R)
    N_jit, N_ref = np.zeros((W, 2 * W)), np.zeros((W, 2 * W))
    E_jit, E_ref = np.zeros(W), np.zeros(W)
    _rows_reduce(M, S, w, np.int64(R), N_jit, np.int64(W), E_jit)
    _simd_python.rows_reduce(M, S, w, R, N_ref, W, E_ref)
    np.testing.assert_allclose(N_jit, N_ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(E_jit, E_ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(N_jit[:, W:], M.T @ S, rtol=1e-12)
    np.testing.assert_allclose(E_jit, M.T @ w, rtol=1e-12)


def test_monomials_and_their_backward_match_reference():
    rng = np.random.default_rng(3)
    basis = monomial_basis(3, 4)
    X = rng.uniform(-1, 1, (2 * W, 3))
    runs = np.ascontiguousarray(basis.runs.astype(np.uint64))
    xb_jit, xb_ref = np.empty((3, W)), np.empty((3, W))
    M_jit, M_ref = np.empty((basis.rank, W)), np.empty((basis.rank, W))
    _monomials(X, np.int64(W), runs, xb_jit, M_jit)
    _simd_python.monomials(X, W, runs, xb_ref, M_ref)
    np.testing.assert_array_equal(M_jit, M_ref)  # products only: no FMA, bitwise equal
    np.testing.assert_allclose(M_jit.T, np.prod(X[W:, None, :] ** basis.exponents[None], axis=2), rtol=1e-13)
    dm_jit, dm_ref = _pair(rng, basis.rank, W)
    dm0 = dm_jit.copy()
    dX_jit, dX_ref = _pair(rng, 2 * W, 3)
    dX0 = dX_jit.copy()
    _monomials_backward(X, np.int64(W), runs, xb_jit, M_jit, dm_jit, dX_jit)
    _simd_python.monomials_backward(X, W, runs, xb_ref, M_ref, dm_ref, dX_ref)
    np.testing.assert_allclose(dX_jit, dX_ref, rtol=1e-12, atol=1e-13)
    # the gradient of sum_a dm[a, b] x_b^alpha_a, in closed form
    alpha, x = basis.exponents, X[W:]
    for c in range(3):
        lower = np.maximum(alpha - np.eye(3, dtype=alpha.dtype)[c], 0)
        deriv = alpha[:, c][None] * np.prod(x[:, None, :] ** lower[None], axis=2)  # (8, r)
        np.testing.assert_allclose(dX_jit[W:, c] - dX0[W:, c], np.sum(deriv * dm0.T, axis=1), rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(dX_jit[:W], dX0[:W])


@njit(cache=True)
def _divide_rows(A, a0, OUT, D, ct):
    _simd.divide_rows(A, a0, OUT, D, ct)


def test_divide_rows_is_the_correctly_rounded_quotient_bit_for_bit():
    """A vector division lane by lane equals the scalar division (and the reference), to the last bit."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((3 * W, 2 * W)) * np.exp(rng.uniform(-30, 30, (3 * W, 2 * W)))
    D = rng.uniform(0.1, 10.0, W)
    out_jit, out_ref = np.full((W, 2 * W), np.nan), np.full((W, 2 * W), np.nan)
    _divide_rows(A, np.int64(5), out_jit, D, np.int64(W))
    _simd_python.divide_rows(A, 5, out_ref, D, W)
    want = np.array([[A[5 + b, c] / D[b] for c in range(W, 2 * W)] for b in range(W)])
    assert np.array_equal(out_jit[:, W:], want) and np.array_equal(out_ref[:, W:], want)
    assert np.isnan(out_jit[:, :W]).all()  # the other tile is untouched
