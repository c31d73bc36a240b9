"""The figure-3 (approximation error) and figure-5 (tuning curves) experiments at tiny scale."""

import numpy as np

from promptlimits.experiments import approx_error, tuning_curves
from promptlimits.features import rank
from promptlimits.poly_attention import frontier_B
from promptlimits.polyapprox import least_degree
from promptlimits.sweep import run_sweep


def test_measured_error_stays_below_the_certificate_where_rounding_is_negligible(tmp_path):
    res = run_sweep(approx_error.make_sweep("tiny"), tmp_path, workers=1, progress=False)
    measured = [r for r in res.rows if r["measured_err"] is not None]
    assert measured, "no degree was certified"
    # the certificate is for exact arithmetic; float64 adds ~1e-16, so compare where eps_p >> u
    for r in measured:
        if r["eps_p"] > 1e-12:
            assert r["measured_err"] <= r["bound"], r
            assert approx_error.gradient_ratio(r) <= 1.0, r  # the backward within its bound (docs/theory.md §4.5)
            assert max(r[f"grad_gap_{x}"] for x in "QKV") < 1e-3, r  # float64 rounding far below it
    # degrees whose certificate is >= 1 are recorded, not measured
    assert all(r["rank"] is None for r in res.rows if not r["certified"])
    # more degree, less error (until rounding): the error falls by orders of magnitude
    for B in {r["B"] for r in measured}:
        errs = [r["measured_err"] for r in sorted(measured, key=lambda r: r["degree"]) if r["B"] == B]
        assert errs[-1] < 1e-3 * errs[0]


def test_frontier_is_where_the_least_certified_rank_reaches_n():
    n, s = 64, 2
    B = frontier_B(n, d=s, eps=1e-6)
    eps_p = 4e-6 / (4 + 1e-12)  # the sharp conversion of docs/theory.md §4.2
    assert rank(s, least_degree(B * B, eps_p)) < n
    assert rank(s, least_degree((B + 2e-3) ** 2, eps_p)) >= n


def test_unconstrained_tuning_fits_better_and_reaches_a_larger_norm(tmp_path):
    res = run_sweep(tuning_curves.make_sweep("tiny"), tmp_path, workers=1, progress=False)
    summary = res.meta["summary"]
    free, boxed = summary["Lp=4,rho=None"], summary["Lp=4,rho=1.0"]
    assert free["mse"] < boxed["mse"]
    assert free["B_max"] > boxed["B_max"]
    steps = [r["step"] for r in res.rows if r["Lp"] == 4 and r["rho"] is None]
    assert steps == list(range(len(steps)))
    assert np.isfinite(res.column("mse")).all()
