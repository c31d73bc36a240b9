"""Attention: the fused polynomial forward and backward, exact attention beside them, plan building and BLAS.

docs/theory.md §3 and §5. The polynomial benchmarks run a plan from
:func:`promptlimits.make_plan` (``d = 8``, ``eps_p = 1e-6``, made for
:data:`~benchmarks.common.KEYS` keys) on inputs uniform in ``[-B, B]``; exact
attention (:func:`promptlimits.exact_attention`, its cost does not depend on
``B``) runs on the same sizes, so the table's ratios come from one run. Square float64
matmuls give BLAS's rate in the same run (the best over their sizes), the
reference of the kernels' GFLOP/s.
"""

from __future__ import annotations

import os

import numpy as np

from promptlimits import exact_attention, exact_attention_backward, make_plan

from .common import BLAS_NS, BS, EPS_P, KEYS, NS, D, Timed


def _inputs(n: int, B: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    Q = rng.uniform(-B, B, (n, D))
    K = rng.uniform(-B, B, (n, D))
    V = rng.standard_normal((n, D))
    G = rng.standard_normal((n, D))
    return Q, K, V, G


class PolyAttention(Timed):
    """Fused polynomial forward and backward at each ``(B, n)``."""

    params = (BS, NS)
    param_names = ["B", "n"]
    def setup(self, B, n):
        self.plan = make_plan(D, B, eps_p=EPS_P, keys=KEYS)
        self.Q, self.K, self.V, self.G = _inputs(n, B)
        self.plan(self.Q, self.K, self.V)  # loads (or compiles) the kernels
        self.plan.backward(self.Q, self.K, self.V, self.G)

    def time_forward(self, B, n):
        self.plan(self.Q, self.K, self.V)

    def time_backward(self, B, n):
        self.plan.backward(self.Q, self.K, self.V, self.G)


class ExactAttention(Timed):
    """Exact attention's forward and backward at each ``n`` (inputs of norm 0.5; the time does not depend on it)."""

    params = (NS,)
    param_names = ["n"]
    def setup(self, n):
        self.Q, self.K, self.V, self.G = _inputs(n, 0.5)

    def time_forward(self, n):
        exact_attention(self.Q, self.K, self.V)

    def time_backward(self, n):
        exact_attention_backward(self.Q, self.K, self.V, self.G)


class Plan(Timed):
    """Building a certified plan (:func:`promptlimits.make_plan`), and the rank it gets.

    ``make_plan`` caches its plans (and its certificates by logit range), so
    each timed call asks for a bound one float above the last one asked in
    this process (same degree and rank): every call builds and certifies a
    plan anew.
    """

    params = (BS,)
    param_names = ["B"]

    def time_make_plan(self, B):
        bound = float(np.nextafter(_LAST_BOUND.get(B, B), np.inf))
        _LAST_BOUND[B] = bound
        make_plan(D, bound, eps_p=EPS_P, keys=KEYS)

    def track_rank(self, B):
        return make_plan(D, B, eps_p=EPS_P, keys=KEYS).rank

    track_rank.unit = "features"


#: The last bound :meth:`Plan.time_make_plan` asked for, per ``B`` (kept across asv's calls of ``setup``).
_LAST_BOUND: dict[float, float] = {}


class Blas(Timed):
    """Square float64 matmuls: BLAS's rate on this machine, measured in the same run as the kernels."""

    params = (BLAS_NS,)
    param_names = ["n"]
    repeat = (5, 15, 10.0)

    def setup(self, n):
        self.A = np.random.default_rng(0).standard_normal((n, n))
        self.A @ self.A

    def time_matmul(self, n):
        self.A @ self.A


def track_load_average():
    """The one-minute load average while the suite runs (the machine may be shared)."""
    return os.getloadavg()[0]


track_load_average.unit = "processes"
