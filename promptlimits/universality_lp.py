"""The error of a universality construction over the whole cube: L^1, L^2, and the sup at adversarial points.

Both constructions (:func:`promptlimits.construct.build`, ``width="wide"`` or
``"token"``) are exact outside the ramp *bands* (a coordinate within ``xi``
above a cell edge ``a/k``, ``0 < a < k``) up to the proved sup bound ``B =
c.bound(K_f)``, and bounded by ``C = c.band_bound(K_f)`` everywhere. With
``mu`` the bands' measure (exact: ``1 - (1 - (k-1) xi)^(L d)``) and ``e(X) =
‖pred(X) - f(X)‖max``, docs/theory.md §8.7 proves

    ‖e‖_1 <= (1 - mu) B + mu C,        ‖e‖_2 <= sqrt((1 - mu) B^2 + mu C^2),

so with ramps ``xi = xi0 / k^3`` (``mu <= L d xi0 / k^2``) both fall like ``1/k``.

:func:`estimate_lp` measures ``‖e‖_1`` and ``‖e‖_2`` by a stratified sample:
``n_out`` inputs drawn exactly from the band-free part and ``n_band`` exactly
from the bands, combined with the exact weights ``1 - mu`` and ``mu``; the
95% interval is the normal interval of the stratified mean of ``e^2`` (``e``
is bounded by ``C``, so its variance is finite). A uniform sample alone would
put about ``mu n`` points in the bands -- none, at the sizes run.

:func:`adversarial_points` gives the inputs where the sup bound is tightest:
every band-free corner of randomly drawn cells and, per cell, the point of
largest target variation ``‖f(X) - f(centre)‖max`` found by L-BFGS-B from the
best corner (the construction's output is the centre value outside the bands,
so these are where its error peaks).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.optimize import minimize

from ._checks import as_float_array, check_positive_int

__all__ = ["band_measure", "shrinking_xi", "sample_outside", "sample_bands", "lp_bounds", "estimate_lp",
           "adversarial_points", "Z95"]

#: Two-sided 95% normal quantile.
Z95 = 1.959963984540054


def band_measure(c) -> float:
    """Exact measure of the inputs with some coordinate in a band: ``1 - (1 - (k-1) xi)^(L d)``."""
    return -math.expm1(c.L * c.d * math.log1p(-(c.k - 1) * c.xi))


def shrinking_xi(k, xi0=1e-3) -> float:
    """Ramp width ``xi0 / k^3``: band measure ``<= L d xi0 / k^2``, so ``C sqrt(mu)`` falls like ``1/k``."""
    k = check_positive_int(k, "k", minimum=2)
    return float(xi0) / k**3


def _outside_coords(c, shape, rng) -> np.ndarray:
    """Coordinates uniform on ``[0, 1]`` minus the bands (inverse of the piecewise-uniform CDF)."""
    k, xi = c.k, c.xi
    u = rng.uniform(0.0, 1.0 - (k - 1) * xi, size=shape)
    a = np.where(u < 1.0 / k, 0, 1 + np.floor((u - 1.0 / k) / (1.0 / k - xi))).astype(np.int64)
    a = np.minimum(a, k - 1)
    x = np.where(a == 0, u, a / k + xi + (u - 1.0 / k - (a - 1) * (1.0 / k - xi)))
    # the left end a/k + xi of a band-free piece belongs to the band (closed): move it one ulp up
    edge = (a > 0) & (x <= a / k + xi)
    return np.where(edge, np.nextafter(a / k + xi, 2.0), np.minimum(x, 1.0))


def sample_outside(c, n, rng) -> np.ndarray:
    """``n`` inputs drawn uniformly from the band-free part of the cube, shape ``(n, L, d)``."""
    X = _outside_coords(c, (check_positive_int(n, "n"), c.L, c.d), rng)
    assert not c.in_bands(X).any()
    return X


def sample_bands(c, n, rng) -> np.ndarray:
    """``n`` inputs drawn uniformly from the bands (some coordinate in a band), shape ``(n, L, d)``.

    Exact: the first coordinate (in row-major order) that lies in a band is
    ``r`` with probability ``(1-p)^r p / (1 - (1-p)^(Ld))``, ``p = (k-1) xi``;
    the coordinates before it are band-free, it is uniform on the bands, and
    those after it are uniform on ``[0, 1]``.
    """
    n = check_positive_int(n, "n")
    m, p = c.L * c.d, (c.k - 1) * c.xi
    w = (1 - p) ** np.arange(m) * p
    r = rng.choice(m, size=n, p=w / w.sum())
    X = rng.uniform(0.0, 1.0, size=(n, m))
    before = np.arange(m)[None, :] < r[:, None]
    X = np.where(before, _outside_coords(c, (n, m), rng), X)
    a = rng.integers(1, c.k, size=n)
    X[np.arange(n), r] = a / c.k + c.xi * rng.uniform(0.0, 1.0, size=n)
    X = X.reshape(n, c.L, c.d)
    assert c.in_bands(X).all()
    return X


def lp_bounds(c, K_f) -> dict:
    """Proved ``sup`` (outside the bands), ``band`` (everywhere), ``L1`` and ``L2`` bounds and ``mu`` (§8.7)."""
    B, C, mu = c.bound(K_f), c.band_bound(K_f), band_measure(c)
    return {"sup": B, "band": C, "mu": mu, "L1": (1 - mu) * B + mu * C,
            "L2": math.sqrt((1 - mu) * B * B + mu * C * C)}


def _err(c, P, f, X) -> np.ndarray:
    Y = np.asarray(f(X), dtype=np.float64)
    if not np.all(np.isfinite(Y)):
        raise ValueError("target f returned NaN or infinite values")
    return np.abs(c.predict(P, X) - Y).reshape(len(X), -1).max(axis=1)


def estimate_lp(c, P, f, *, n_out, n_band, rng) -> dict:
    """Stratified estimates of ``‖e‖_1``, ``‖e‖_2`` with the 95% interval of ``‖e‖_2`` (module docstring)."""
    e_out = _err(c, P, f, sample_outside(c, n_out, rng))
    e_band = _err(c, P, f, sample_bands(c, n_band, rng))
    mu = band_measure(c)
    m2 = (1 - mu) * np.mean(e_out**2) + mu * np.mean(e_band**2)
    var = (1 - mu) ** 2 * np.var(e_out**2, ddof=1) / n_out + mu**2 * np.var(e_band**2, ddof=1) / n_band
    half = Z95 * math.sqrt(var)
    return {"L2": math.sqrt(m2), "L2_lo": math.sqrt(max(m2 - half, 0.0)), "L2_hi": math.sqrt(m2 + half),
            "L1": float((1 - mu) * e_out.mean() + mu * e_band.mean()), "mu": mu,
            "L2_outside": float(math.sqrt(np.mean(e_out**2))), "sup_uniform": float(e_out.max()),
            "band_sup": float(e_band.max()), "band_rms": float(math.sqrt(np.mean(e_band**2)))}


def _cell_box(c, cells):
    """Per coordinate the band-free interval of the cell, nudged inside: ``(lo, hi)`` each ``(n, L, d)``."""
    eta = 1e-4 * c.xi
    lo = np.where(cells == 0, 0.0, cells / c.k + c.xi + eta)
    hi = np.where(cells == c.k - 1, 1.0, (cells + 1) / c.k - eta)
    return lo, hi


def adversarial_points(c, f, n_cells, rng) -> np.ndarray:
    """Band-free corners of ``n_cells`` random cells and each cell's point of largest target variation.

    Returns ``(n_cells (2^(Ld) + 1), L, d)`` inputs, none in a band.
    """
    n_cells = check_positive_int(n_cells, "n_cells")
    L, d, k = c.L, c.d, c.k
    cells = rng.integers(0, k, size=(n_cells, L, d))
    lo, hi = _cell_box(c, cells)
    centre = (cells + 0.5) / k
    signs = np.array(list(itertools.product((0, 1), repeat=L * d))).reshape(-1, L, d)
    corners = np.where(signs[None] == 1, hi[:, None], lo[:, None])  # (n_cells, 2^(Ld), L, d)
    flat = corners.reshape(-1, L, d)
    fc = as_float_array(f(centre), "f(cell centres)")
    dev = np.abs(as_float_array(f(flat), "f(corners)").reshape(n_cells, -1, L * d)
                 - fc.reshape(n_cells, 1, L * d)).max(axis=2)
    best = corners[np.arange(n_cells), dev.argmax(axis=1)]
    peaks = []
    for n in range(n_cells):
        target = fc[n].ravel()

        def neg(x, target=target):
            return -float(np.abs(np.asarray(f(x.reshape(1, L, d))).ravel() - target).max())

        res = minimize(neg, best[n].ravel(), method="L-BFGS-B", bounds=list(zip(lo[n].ravel(), hi[n].ravel())),
                       options={"maxiter": 30})
        x = np.clip(res.x, lo[n].ravel(), hi[n].ravel()).reshape(L, d)
        peaks.append(x if -res.fun >= -neg(best[n].ravel()) else best[n])
    X = np.concatenate([flat, np.stack(peaks)])
    assert not c.in_bands(X).any()
    return X
