"""The plan (certified polynomial, feature weights), its checks and bounds; the kernels run from :mod:`._batch`.

docs/theory.md §3 (the polynomial method) and §4 (the output error); the
mathematics is in :mod:`promptlimits.poly_attention`, the kernels in
:mod:`promptlimits.poly_attention._kernels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .._checks import as_float_array, check_choice, check_positive_int, check_real
from ..features import MonomialBasis, feature_weights, monomial_basis
from ..polyapprox import KINDS, ExpApprox, exp_approximation
from . import _batch
from ._batch import as_batch
from ._cost import least_certified, logit_range, plan_rounding, uncertifiable_message
from ._error import eps_p_for_output, output_eps_for_eps_p
from ._gradient import GradientBound, gradient_bound
from ._rounding import ETA32, KernelRounding

METHODS = ("fused", "factors")
VARIANTS = ("softmax", "softmax1")


class FloatOverflow(ValueError):
    """Feature weights, or intermediate values with the inputs given, that overflow float64 (docs/theory.md §4.6)."""


#: Attention-output target of :func:`make_plan` and :func:`poly_attention` when none is given.
DEFAULT_EPS = 1e-6

def _max_abs(X) -> float:
    """``max |X|`` of a finite array (0 when empty), from its max and min: no ``|X|`` temporary."""
    return max(float(X.max()), -float(X.min())) if X.size else 0.0


@dataclass(frozen=True, eq=False)
class PolyPlan:
    """A polynomial-method attention for head size ``d`` and norm bound ``B``.

    Made by :func:`make_plan`. Inputs with ``||Q||max`` or ``||K||max`` above
    ``B`` are refused (docs/theory.md §3), so the certificate always applies.
    A plan made with ``certify=False`` may have no certificate
    (``certified=False``); it runs through the same kernels, and
    :meth:`output_bound` refuses it. The output bound counts the kernels'
    rounding (:meth:`rounding`, docs/theory.md §4.6), which grows with the
    number of keys: a plan made for a target refuses more than
    :attr:`max_keys` keys.

    Attributes
    ----------
    d : int
        Head dimension (columns of Q and K).
    B : float
        Bound on ``||Q||max`` and ``||K||max``.
    scale : float
        Logit scale ``s`` (default ``1/d``).
    R : float
        Logit range, ``s d B^2``.
    eps : float or None
        The attention-output target asked for (``None`` if the caller gave
        ``eps_p`` or only a degree).
    eps_p_target : float or None
        The polynomial target the degree was chosen for:
        ``eps_p_for_output(eps)``, or the ``eps_p`` asked; ``None`` for a
        fixed degree without a target.
    certified : bool
        ``eps_p < 1``: the output bound holds. Always true unless the plan was
        made with ``certify=False``.
    approx : ExpApprox
        The polynomial; ``kind``, ``degree`` and ``eps_p`` are repeated below.
    kind : str
    degree : int
    eps_p : float
        Certified relative error of ``p`` on ``[-R, R]``.
    rank : int
        Feature width ``r = C(d+g, g)``.
    basis : MonomialBasis
    weights : ndarray, shape ``(rank,)``
        ``w_alpha = c_|alpha| s^|alpha| |alpha|!/alpha!``.
    keys : int
        Number of keys the degree was chosen for (``make_plan(keys=...)``).
    max_keys : int or None
        With a target: the most keys for which ``eps_p`` plus the kernels'
        rounding stays within it (at least ``keys``); ``None`` without a target.
    """

    d: int
    B: float
    scale: float
    R: float
    eps: float | None
    eps_p_target: float | None
    certified: bool
    approx: ExpApprox = field(repr=False)
    basis: MonomialBasis = field(repr=False)
    weights: np.ndarray = field(repr=False)
    keys: int = 1
    max_keys: int | None = None
    #: the kernels' rounding bound as a function of the number of keys (docs/theory.md §4.6)
    _rounding: KernelRounding = field(repr=False, default=None)
    #: ``(runs, rank)`` for the kernels, ``runs`` as uint64 (unsigned indices
    #: skip Numba's negative-index wraparound, which blocks vectorisation).
    _index: tuple = field(repr=False, default=None)

    @property
    def kind(self) -> str:
        return self.approx.kind

    @property
    def degree(self) -> int:
        return self.approx.degree

    @property
    def eps_p(self) -> float:
        return self.approx.eps_p

    @property
    def rank(self) -> int:
        return self.basis.rank

    def __repr__(self) -> str:
        flag = "" if self.certified else ", UNCERTIFIED"
        return (f"PolyPlan(d={self.d}, B={self.B:.6g}, scale={self.scale:.6g}, R={self.R:.6g}, "
                f"kind={self.kind!r}, degree={self.degree}, rank={self.rank}, eps_p={self.eps_p:.3e}{flag})")

    def rounding(self, n: int, *, float32: bool = False) -> float:
        """The kernels' rounding with ``n`` keys, as a relative error to add to ``eps_p`` (docs/theory.md §4.6).

        A true bound for the fused and the factors path, any summation order
        and task split; ``float32`` adds the cast of the output. ``inf`` where
        no bound holds (``n`` too large for this polynomial, or no certificate).
        """
        return self._rounding.delta(check_positive_int(n, "n"), float32=bool(float32))

    def output_bound(self, V) -> float:
        """Certified ``||T_code - Att||max``: ``output_eps_for_eps_p(eps_p + rounding(n)) ||V||max``
        (docs/theory.md §4).

        ``T_code`` is what :meth:`forward` returns for any ``Q``, ``K`` within
        ``B`` and these values ``V`` (``n`` keys = rows of ``V``), ``Att`` the
        exact attention; float32 ``V`` adds the output's cast (and ``2^-150``
        for results in float32's subnormal range).

        Raises
        ------
        ValueError
            For an uncertified plan (``certify=False`` and ``eps_p >= 1``), or
            where ``eps_p`` plus the rounding bound reaches 1: there is no bound to give.
        """
        self._require_certified()
        V = as_float_array(V, "V")
        vmax = _max_abs(V)
        if vmax == 0.0:
            return 0.0  # forward returns exact zeros
        factor, extra = self._bound_factor(V.shape[0] if V.ndim else 1, V.dtype == np.float32)
        return factor * vmax + extra

    def output_bound_batch(self, V) -> np.ndarray:
        """:meth:`output_bound` of every sequence of a batch ``V (b, n, d_v)``: an array ``(b,)``, each entry
        equal to :meth:`output_bound` of that sequence alone."""
        self._require_certified()
        V = as_batch(V, "V")
        vmax = np.abs(V).max(axis=(1, 2)).astype(np.float64) if V.size else np.zeros(V.shape[0])
        if not vmax.any():
            return np.zeros(V.shape[0])
        factor, extra = self._bound_factor(V.shape[1], V.dtype == np.float32)
        return np.where(vmax == 0.0, 0.0, factor * vmax + extra)

    def _require_certified(self) -> None:
        if not self.certified:
            raise ValueError(f"this plan is uncertified (degree {self.degree} {self.kind} on [-R, R] with "
                             f"R={self.R:.6g} has eps_p={self.eps_p:.3e} >= 1): it has no output bound")

    def _bound_factor(self, n: int, float32: bool):
        """``(F(eps_p + rounding(n)), ETA32 or 0)``: the output bound is ``factor ||V||max + extra``."""
        delta = self.rounding(n, float32=float32)
        if not self.eps_p + delta < 1.0:
            raise ValueError(f"with n={n} keys the kernels' rounding (bound {delta:.3e}, docs/theory.md §4.6) plus "
                             f"eps_p={self.eps_p:.3e} is not below 1 at R={self.R:.6g}: there is no output bound")
        return output_eps_for_eps_p(self.eps_p + delta), (ETA32 if float32 else 0.0)

    # -- input checks ------------------------------------------------------
    def _check(self, Q, K, V, G=None, *, batch: bool = False):
        """Checked arrays (2-D; with ``batch``, 3-D ``(b, rows, cols)`` of one batch) and the result dtype."""
        if batch:
            Q, K, V = as_batch(Q, "Q"), as_batch(K, "K"), as_batch(V, "V")
            if not Q.shape[0] == K.shape[0] == V.shape[0]:
                raise ValueError(f"Q, K and V must hold the same number of sequences, got Q {Q.shape}, "
                                 f"K {K.shape} and V {V.shape}")
        else:
            Q = as_float_array(Q, "Q", ndim=2)
            K = as_float_array(K, "K", ndim=2)
            V = as_float_array(V, "V", ndim=2)
        arrays = [Q, K, V]
        if Q.shape[-1] != self.d or K.shape[-1] != self.d:
            raise ValueError(f"Q and K must have d={self.d} columns for this plan, got Q {Q.shape} and K {K.shape}")
        if K.shape[-2] != V.shape[-2]:
            raise ValueError(f"K and V must have the same number of rows, got K {K.shape} and V {V.shape}")
        if K.shape[-2] == 0:
            raise ValueError(f"attention needs at least one key, got K {K.shape}")
        if G is not None:
            G = as_batch(G, "G") if batch else as_float_array(G, "G", ndim=2)
            want = Q.shape[:-1] + V.shape[-1:]
            if G.shape != want:
                raise ValueError(f"upstream gradient G must have shape {want}, got {G.shape}")
            arrays.append(G)
        for X, name in ((Q, "Q"), (K, "K")):
            b = _max_abs(X)
            if b > self.B:
                raise ValueError(
                    f"||{name}||max = {b:.6g} exceeds the plan's B = {self.B:.6g}: "
                    f"the polynomial (eps_p={self.eps_p:.3e}) is made for |logits| <= R={self.R:.6g}; "
                    f"make a plan with B >= {b:.6g}"
                )
        self._check_keys(K.shape[-2])
        dtype = np.result_type(*arrays)
        if dtype == np.float32 and self.eps_p_target is not None:
            total = self.eps_p + self.rounding(K.shape[-2], float32=True)
            if total > self.eps_p_target:
                raise ValueError(
                    f"float32 output: rounding the result to float32 (2^-24 relative) brings this plan's "
                    f"eps_p plus rounding to {total:.3e}, above its {self._target()} (docs/theory.md §4.6); "
                    f"pass float64 arrays or ask a looser target")
        return arrays, dtype

    def _target(self) -> str:
        return f"eps={self.eps:.3e}" if self.eps is not None else f"eps_p={self.eps_p_target:.3e}"

    def overflows(self, n: int) -> bool:
        """Could intermediate values overflow float64 with ``n`` keys? Then :meth:`forward` refuses them."""
        return self._rounding.overflows(check_positive_int(n, "n"))

    def _check_keys(self, n: int) -> None:
        """Refuse ``n`` keys beyond :attr:`max_keys`, or where intermediate values could overflow."""
        if self.max_keys is not None and n > self.max_keys:
            raise ValueError(
                f"{n} keys exceed the {self.max_keys} for which this plan's {self._target()} covers the kernels' "
                f"float64 rounding, which grows with the number of keys (docs/theory.md §4.6); make the plan "
                f"with keys={n}")
        if self._rounding.overflows(n):
            raise FloatOverflow(
                f"with {n} keys, B={self.B:.6g} and degree {self.degree}, intermediate values of the polynomial "
                f"method could overflow float64 (docs/theory.md §4.6); use a smaller B, scale or degree")

    # -- forward -----------------------------------------------------------
    def forward(self, Q, K, V, *, method: str = "fused", variant: str = "softmax"):
        """Approximate attention ``D^-1 exp(s Q K^T) V`` (or Softmax_1), shape ``(n_q, d_v)``.

        Within :meth:`output_bound` of exact attention, rounding included
        (docs/theory.md §4.6). float32 inputs are computed in float64 and
        returned as float32. Finite for every finite ``V`` (scaled by a power
        of two inside); zero columns or ``V = 0`` give exact zeros.

        Raises
        ------
        ValueError
            Bad inputs; ``Q`` or ``K`` above ``B``; more keys than
            :attr:`max_keys`; float32 arrays whose cast alone would break the
            plan's target; inputs whose intermediate values could overflow.
        """
        check_choice(method, "method", METHODS)
        check_choice(variant, "attention variant", VARIANTS)
        (Q, K, V), dtype = self._check(Q, K, V)
        d0 = 1.0 if variant == "softmax1" else 0.0
        if method == "fused":  # the batched driver scales V, scales back and clips, as below
            return _batch.forward(self, Q[None], K[None], V[None], d0)[0].astype(dtype, copy=False)
        vmax = _max_abs(V)
        if vmax == 0.0:  # also d_v = 0: the output is exactly zero
            return np.zeros((Q.shape[0], V.shape[1]), dtype=dtype)
        # scale V by a power of two to ||V||max in [1/2, 1) (exact), so no intermediate value overflows
        # (docs/theory.md §4.6); scale back exactly and clip into [-||V||max, ||V||max], where both the
        # polynomial and the exact attention lie, so a result near the float maximum stays finite
        e = math.frexp(vmax)[1]
        Vs = np.ldexp(V.astype(np.float64), -e) if e else V
        T = self._forward_factors(Q, K, Vs, d0)
        if e:
            T = np.clip(np.ldexp(T, e), -vmax, vmax)
        return T.astype(dtype, copy=False)

    __call__ = forward

    def forward_batch(self, Q, K, V, *, variant: str = "softmax"):
        """:meth:`forward` (fused) of every sequence of a batch, in one kernel call per pass.

        ``Q (b, n_q, d)``, ``K (b, n, d)``, ``V (b, n, d_v)``, or lists of
        ``b`` 2-D arrays of one shape each; returns ``T (b, n_q, d_v)``, each
        sequence's equal to the last bit to :meth:`forward` of it alone, on any
        number of threads (:mod:`._batch`). Every sequence has its own keys,
        so :meth:`output_bound` applies to each with its own ``V``.

        Raises
        ------
        ValueError
            As :meth:`forward`; also sequences of different lengths, or a
            batch whose buffers would not fit in memory (named with its sizes).
        """
        check_choice(variant, "attention variant", VARIANTS)
        (Q, K, V), dtype = self._check(Q, K, V, batch=True)
        _batch.check_batch_memory(Q.shape[0], Q.shape[1], K.shape[1], self.d, V.shape[2], self.rank)
        d0 = 1.0 if variant == "softmax1" else 0.0
        return _batch.forward(self, Q, K, V, d0).astype(dtype, copy=False)

    def factors(self, Q, K):
        """The materialised factors ``U1 = phi_L(Q)`` and ``U2 = phi_R(K)``, each ``n x r``."""
        from ..features import _monomials

        Q = np.ascontiguousarray(Q, dtype=np.float64)
        K = np.ascontiguousarray(K, dtype=np.float64)
        U1 = _monomials(Q, self.basis.runs, self.rank) * self.weights
        U2 = _monomials(K, self.basis.runs, self.rank)
        return U1, U2

    def _forward_factors(self, Q, K, V, d0):
        U1, U2 = self.factors(Q, K)
        num = U1 @ (U2.T @ V.astype(np.float64))
        den = d0 + U1 @ U2.sum(axis=0)
        return num / den[:, None]

    # -- backward ----------------------------------------------------------
    def backward(self, Q, K, V, G, *, variant: str = "softmax"):
        """Gradients of ``<G, T>`` with respect to ``Q, K, V`` for the polynomial ``T``.

        O(n r d) time and O(r d) extra memory per thread (Alman--Song 2024;
        :mod:`promptlimits.poly_attention`): these are the exact gradients of :meth:`forward`,
        which are close to those of exact attention when ``eps_p`` is small.

        Returns
        -------
        dQ, dK, dV : arrays shaped like Q, K, V (dtype of the inputs).
        """
        check_choice(variant, "attention variant", VARIANTS)
        (Q, K, V, G), dtype = self._check(Q, K, V, G)
        d0 = 1.0 if variant == "softmax1" else 0.0
        if V.shape[1] == 0:  # T has no columns: every gradient is zero
            return np.zeros(Q.shape, dtype), np.zeros(K.shape, dtype), np.zeros(V.shape, dtype)
        dQ, dK, dV = _batch.backward(self, Q[None], K[None], V[None], G[None], d0)
        return dQ[0].astype(dtype, copy=False), dK[0].astype(dtype, copy=False), dV[0].astype(dtype, copy=False)

    def backward_batch(self, Q, K, V, G, *, variant: str = "softmax"):
        """:meth:`backward` of every sequence of a batch, in one kernel call per pass.

        Arrays ``(b, rows, cols)`` (or lists of ``b`` 2-D arrays of one
        shape); returns ``dQ, dK, dV`` shaped like ``Q, K, V``, each
        sequence's equal to the last bit to :meth:`backward` of it alone, on
        any number of threads (:mod:`._batch`).

        Raises
        ------
        ValueError
            As :meth:`backward`; also sequences of different lengths, or a
            batch whose buffers would not fit in memory (named with its sizes).
        """
        check_choice(variant, "attention variant", VARIANTS)
        (Q, K, V, G), dtype = self._check(Q, K, V, G, batch=True)
        if V.shape[2] == 0:  # T has no columns: every gradient is zero
            return np.zeros(Q.shape, dtype), np.zeros(K.shape, dtype), np.zeros(V.shape, dtype)
        _batch.check_batch_memory(Q.shape[0], Q.shape[1], K.shape[1], self.d, V.shape[2], self.rank, backward=True)
        d0 = 1.0 if variant == "softmax1" else 0.0
        return tuple(X.astype(dtype, copy=False) for X in _batch.backward(self, Q, K, V, G, d0))

    def gradient_bound(self, Q, K, V, G) -> GradientBound:
        """Certified ``||dX_p - dX||max`` between :meth:`backward` and exact attention's gradients, X = Q, K, V.

        The exact-arithmetic bound of docs/theory.md §4.5 plus the kernels' float64
        rounding (§4.6.1; float32 arrays add the cast), both variants (the
        formulas are in :mod:`promptlimits.poly_attention._gradient`): from
        ``eps_p``, the certificate ``eps_dp`` of ``p'``, ``scale``, the column
        maxima of ``Q``, ``K``, ``V``, the row and column sums of ``|G|`` and
        the largest attention weight. O((n_q + n) d) time.
        """
        return gradient_bound(self, Q, K, V, G)


def _targets(eps, eps_p, degree, certify: bool):
    """``(eps, eps_p target)`` from :func:`make_plan`'s arguments: which error was asked, converted once.

    The ``eps_p`` target is what the polynomial's certificate and the
    kernels' rounding together may spend (docs/theory.md §4.6).
    """
    if eps is not None and eps_p is not None:
        raise ValueError(f"give eps (attention-output error, got {eps!r}) or eps_p (the polynomial's relative "
                         f"error, got {eps_p!r}), not both: one is computed from the other")
    if not certify:
        if eps is not None or eps_p is not None or degree is None:
            raise ValueError("make_plan(certify=False) runs a fixed degree uncertified: give degree, "
                             "and neither eps nor eps_p")
        return None, None
    if eps is None and eps_p is None:
        if degree is not None:
            return None, None
        eps = DEFAULT_EPS
    if eps is not None:
        eps = check_real(eps, "eps", low=0.0, high=1.0, low_open=True, high_open=True)
        return eps, eps_p_for_output(eps)
    return None, check_real(eps_p, "eps_p", low=0.0, high=1.0, low_open=True, high_open=True)


def _asked(eps, target) -> str:
    return f"eps={eps:.3e} (eps_p={target:.3e})" if eps is not None else f"eps_p={target:.3e}"


def _polynomial(d, B, R, scale, eps, target, degree, kind, keys) -> ExpApprox:
    """The plan's polynomial: least degree for the target with the rounding, else the degree asked."""
    if degree is None:
        approx = least_certified(d, B, target, keys=keys, scale=scale, kind=kind)
        if approx is None:
            raise ValueError(uncertifiable_message(d, B, target, keys=keys, scale=scale, kind=kind,
                                                   asked=_asked(eps, target)))
        return approx
    approx = exp_approximation(R, degree=degree, kind=kind)
    if target is not None and approx.eps_p < 1.0:
        delta = plan_rounding(d, approx, B, scale).delta(keys)
        if not approx.eps_p + delta <= target:
            better = least_certified(d, B, target, keys=keys, scale=scale, kind=kind)
            hint = "no degree does" if better is None else f"use degree >= {better.degree}"
            raise ValueError(
                f"{_asked(eps, target)}: degree {degree} ({approx.kind}) on [-R, R] with R={R:.6g} certifies "
                f"eps_p={approx.eps_p:.3e} and the kernels' rounding with {keys} key(s) adds {delta:.3e}, "
                f"above the eps_p={target:.3e} asked; {hint}")
    elif target is not None:
        raise ValueError(f"{_asked(eps, target)}: degree {degree} ({approx.kind}) on [-R, R] with R={R:.6g} "
                         f"certifies only eps_p={approx.eps_p:.3e}, above the eps_p={target:.3e} asked")
    return approx


@lru_cache(maxsize=256)
def _make_plan_cached(d: int, B: float, R: float, scale: float, eps, eps_p_target, degree, kind: str,
                      certify: bool, keys: int) -> PolyPlan:
    approx = _polynomial(d, B, R, scale, eps, eps_p_target, degree, kind, keys)
    certified = approx.eps_p < 1.0
    if certify and not certified:
        raise ValueError(
            f"degree {approx.degree} ({approx.kind}) certifies only eps_p={approx.eps_p:.3e} >= 1 "
            f"on [-R, R] with R={R:.6g} (B={B:.6g}): the approximation is not certified "
            f"(make_plan(..., certify=False) runs it without a certificate)"
        )
    basis = monomial_basis(d, approx.degree)  # refuses a basis above the memory budget before building it
    w = feature_weights(basis, approx.coefficients, scale)
    if not np.all(np.isfinite(w)):
        raise FloatOverflow(f"the feature weights c_j s^j |alpha|!/alpha! overflow float64 at scale={scale:.6g}, "
                            f"degree {approx.degree}; use a smaller scale or degree")
    w.flags.writeable = False
    runs = basis.runs.astype(np.uint64)
    rounding = plan_rounding(d, approx, B, scale)
    max_keys = None if eps_p_target is None else rounding.max_keys(eps_p_target)
    return PolyPlan(d=d, B=B, scale=scale, R=R, eps=eps, eps_p_target=eps_p_target, certified=certified,
                    approx=approx, basis=basis, weights=w, keys=keys, max_keys=max_keys, _rounding=rounding,
                    _index=(runs, basis.rank))


def make_plan(d, B, *, eps=None, eps_p=None, degree=None, scale=None, kind: str = "auto",
              certify: bool = True, keys: int = 1) -> PolyPlan:
    """Make a polynomial-method plan, certified unless ``certify=False`` (docs/theory.md §3, §4).

    Give at most one target: ``eps`` for the attention output, or ``eps_p``
    for the polynomial; ``eps`` is converted once, by
    :func:`~promptlimits.poly_attention.eps_p_for_output`. With neither and no
    ``degree``, ``eps = DEFAULT_EPS = 1e-6``. Plans are cached.

    Parameters
    ----------
    d : int
        Head dimension.
    B : float
        Bound on ``||Q||max`` and ``||K||max``; the logits lie in ``[-R, R]``
        with ``R = scale * d * B^2`` (``= B^2`` for the default scale).
    eps : float in (0, 1), optional
        Attention-output target, ``||T - Att||max <= eps ||V||max``.
    eps_p : float in (0, 1), optional
        Target for the relative error of the weights: the polynomial's
        certificate plus the kernels' rounding (docs/theory.md §4.6). With
        ``degree=None`` the least degree that meets the target is used.
    degree : int, optional
        Fixed degree; must meet the target when one is given.
    scale : float, optional
        Logit scale; default ``1/d``.
    kind : {"auto", "chebyshev", "shifted_taylor", "taylor"}
        See :func:`promptlimits.polyapprox.least_degree`.
    certify : bool
        ``False`` runs a fixed ``degree`` (no target allowed) whatever its
        certificate: the plan is flagged ``certified=False`` when ``eps_p >=
        1`` and then has no :meth:`~PolyPlan.output_bound`. For experiments
        that need a degree below the certified one (the hardness reduction,
        docs/theory.md §6).
    keys : int
        Number of keys ``n`` the target must hold for: the kernels' rounding
        grows with ``n``. The plan meets its target for up to
        :attr:`~PolyPlan.max_keys` keys (at least ``keys``) and refuses more.

    Raises
    ------
    ValueError
        Bad arguments; both ``eps`` and ``eps_p``; an explicit degree whose
        certified ``eps_p`` plus rounding is above the target (both named);
        ``eps_p >= 1`` with ``certify=True``; a target that cannot be
        certified, named with the largest norm that can (decided from closed
        forms first, so a hopeless norm is refused at once); a basis above
        the memory budget (:data:`promptlimits.features.BASIS_MEMORY_BUDGET`).
    """
    d = check_positive_int(d, "d")
    B = check_real(B, "B", low=0.0)
    if scale is not None:
        scale = check_real(scale, "scale", low=0.0, low_open=True)
    eps, target = _targets(eps, eps_p, degree, bool(certify))
    if degree is not None:
        degree = check_positive_int(degree, "degree", minimum=0)
    check_choice(kind, "polynomial kind", ("auto",) + KINDS)
    keys = check_positive_int(keys, "keys")
    R = logit_range(d, B, scale)
    scale = 1.0 / d if scale is None else scale
    return _make_plan_cached(d, B, R, scale, eps, target, degree, kind, bool(certify), keys)


def _plan_for_inputs(Q, K, eps, degree, scale, B, kind):
    Qa = as_float_array(Q, "Q", ndim=2)
    Ka = as_float_array(K, "K", ndim=2)
    if Qa.shape[1] != Ka.shape[1]:
        raise ValueError(f"Q and K must have the same number of columns, got Q {Qa.shape} and K {Ka.shape}")
    if Qa.shape[1] == 0:
        raise ValueError(f"attention needs at least one feature, got Q {Qa.shape}")
    if B is None:
        B = max(_max_abs(Qa), _max_abs(Ka))
    keys = max(1, Ka.shape[0])
    return make_plan(Qa.shape[1], B, eps=eps, degree=degree, scale=scale, kind=kind, keys=keys), Qa, Ka


def poly_attention(Q, K, V, *, eps=1e-6, degree=None, scale=None, B=None, kind="auto",
                   method="fused", variant="softmax"):
    """Polynomial-method attention ``T ~ D^-1 exp(scale Q K^T) V`` (docs/theory.md §3).

    Parameters
    ----------
    Q : array, shape ``(n_q, d)``
    K : array, shape ``(n, d)``
    V : array, shape ``(n, d_v)``
    eps : float in (0, 1) or None
        Attention-output target: the output is certified within ``eps
        ||V||max`` of exact attention (AAttC, docs/theory.md §4), rounding
        included; the polynomial and the rounding with these ``n`` keys
        share ``eps_p = eps_p_for_output(eps)``.
    degree : int, optional
        Fixed degree (must certify ``eps`` unless ``eps=None``).
    scale : float, optional
        Logit scale, default ``1/d`` as in :func:`promptlimits.exact_attention`.
    B : float, optional
        Norm bound for the plan; default ``max(||Q||max, ||K||max)``. Inputs
        above it raise ``ValueError``.
    kind : {"auto", "chebyshev", "shifted_taylor", "taylor"}
    method : {"fused", "factors"}
        Fused Numba kernel (default) or materialised ``n x r`` factors.
    variant : {"softmax", "softmax1"}

    Returns
    -------
    T : array, shape ``(n_q, d_v)``; float32 when all inputs are float32.

    See Also
    --------
    make_plan : the reusable plan (degree, rank, eps_p, output_bound, backward).
    """
    plan, Qa, Ka = _plan_for_inputs(Q, K, eps, degree, scale, B, kind)
    return plan.forward(Qa, Ka, V, method=method, variant=variant)


def poly_attention_backward(Q, K, V, G, *, eps=1e-6, degree=None, scale=None, B=None, kind="auto",
                            variant="softmax"):
    """Gradients of ``<G, poly_attention(Q, K, V)>`` with respect to Q, K, V.

    Same parameters as :func:`poly_attention`; see :meth:`PolyPlan.backward`.
    """
    plan, Qa, Ka = _plan_for_inputs(Q, K, eps, degree, scale, B, kind)
    return plan.backward(Qa, Ka, V, G, variant=variant)
