"""Memorization capacity: a rigorous prompt-Lipschitz constant ``K_P`` and the counting bound (docs/theory.md §7).

This module is the project's explicit version of the paper's lower bound on
the prompt length needed for memorization (Hu et al. 2025: the required prompt
length grows exponentially in ``d L`` and polynomially in ``1/tol``). The
paper states it asymptotically; here every constant is computed from the
frozen weights. ``tol`` is the memorization tolerance: the max-abs error
allowed on the model's outputs (the paper's epsilon; docs/theory.md §1 keeps
``eps`` for the attention-output error).

The Lipschitz constant ``K_P``
------------------------------
Tokens are rows. For a row vector ``z`` and a matrix ``W``,
``|(z W)_j| <= sum_i |W_ij| |z_i|``, so in the max norm
``‖z W‖inf <= col(W) ‖z‖inf`` with ``col(W) = max_j sum_i |W_ij|`` (the largest
absolute *column* sum; :func:`col_norm`). Write ``Yhat(P) = tau([P; X])[Lp:]``
and perturb the prompt: ``‖P - P'‖max <= eta``, both in the box
``‖P‖max, ‖P'‖max <= rho``, inputs ``X`` in ``[0, 1]^{L x d}``.

1. **FF1** acts row by row: ``h = z + relu(z W1 + b1) W2 + b2``. Its Clarke
   Jacobian is ``I + W1 D W2`` with ``D`` diagonal in ``[0, 1]``, whose
   entries are bounded by those of ``I + |W1| |W2|``; hence
   ``‖Δh‖inf <= c_ff1 ‖Δz‖inf``, ``c_ff1 = 1 + col(|W1| |W2|)``. Only the
   ``Lp`` prompt rows move; **the input rows ``h_i`` and so the queries
   ``q_i = h_i WQ`` of the output rows do not move at all**.
2. **Ranges.** Interval arithmetic through FF1 gives a box for every prompt
   row ``h`` (from ``z`` in ``[-rho, rho]^d``) and every input row (from
   ``[0, 1]^d`` shifted by the model's position rows ``E``, if any:
   ``PromptedModel.input_box``), and from those boxes for ``q = h WQ`` (input rows) and for
   the value-output rows ``u = h WV WO`` (all rows).
3. **Logits.** A prompt row's logit against query ``q_i`` is
   ``s_j = scale * h_j (WK q_i^T)``, so
   ``|Δs_j| <= scale ‖WK q_i^T‖_1 ‖Δh_j‖inf <= logit_factor ‖Δh_j‖inf`` with
   ``logit_factor = scale * sum(|WK| qabs)`` and ``qabs`` the largest ``|q|``
   per coordinate over the input box. Input logits do not move.
4. **Softmax.** With ``p = softmax(s)``, the Jacobian is ``diag(p) - p p^T``
   and ``‖J x‖_1 = sum_j p_j |x_j - p.x|``: the mean absolute deviation of a
   random variable with values in ``[-‖x‖inf, ‖x‖inf]``, at most its standard
   deviation, at most ``‖x‖inf``. By the mean-value theorem along the segment
   of logits, ``‖p - p'‖_1 <= softmax_factor ‖s - s'‖inf`` with
   ``softmax_factor = 1``. Softmax_1 is the softmax over ``n + 1`` logits with
   a fixed extra logit 0 whose probability is dropped; the same bound holds.
5. **Attention output** of an output row:
   ``a_i = h_i + sum_j p_ij u_j`` and
   ``a_i - a'_i = sum_j (p_ij - p'_ij) u_j + sum_{j <= Lp} p'_ij (u_j - u'_j)``.
   For softmax the ``p - p'`` sum to 0, so ``u_j`` may be centred: the first
   term is at most ``‖p - p'‖_1 * value_spread`` with ``value_spread`` the
   largest half-width of the ``u`` boxes per coordinate (Softmax_1: the largest
   ``|u|``). The second term is at most ``(sum_{j<=Lp} p'_ij) col(WV WO) ‖Δh‖inf
   <= value_factor ‖Δh‖inf`` since the weights of a convex (or sub-convex)
   combination sum to at most 1.
6. **FF2** row by row: ``c_ff2 = 1 + col(|W1| |W2|)``.

So ``‖Yhat(P) - Yhat(P')‖max <= K_P ‖P - P'‖max`` with::

    K_P = c_ff2 * (softmax_factor * logit_factor * value_spread + value_factor) * c_ff1

a rigorous bound (inflated by a relative ``1e-9`` against floating-point
rounding), valid for every batch and every number ``Lp`` of prompt rows: the
prompt rows enter through a convex combination, so their number does not
appear. The tests check it against random and gradient-ascent probing of the
difference quotient; ``proofs_check`` verifies the per-layer factors
(:class:`LipschitzFactors`).

The counting bound
------------------
Hard family (docs/theory.md §7): targets in ``F + {0, gamma}^{L x d}`` at every
one of the ``N = (1/delta)^(d L)`` grid inputs, for any fixed offset ``F``
(``F = 0`` in the paper; this project also uses the prompt-free output of the
model, see :mod:`promptlimits.memorization`): ``2^(N L d)`` datasets, any two
differ by ``gamma`` in some entry. If a prompt ``P`` memorizes one within
``tol`` (max-abs error) and ``P'`` another, then
``gamma <= 2 tol + ‖Yhat(P) - Yhat(P')‖max <= 2 tol + K_P ‖P - P'‖max``.
Cut the box ``[-rho, rho]^{Lp x d}`` into cubes of side ``2 eta`` with
``eta < (gamma - 2 tol) / (2 K_P)``: two prompts in one cube are within
``2 eta`` and so cannot memorize different datasets. There are
``M^(d Lp)`` cubes with ``M = ceil(rho / eta)``; letting ``eta`` rise to its
supremum ``eta* = (gamma - 2 tol) / (2 K_P)`` gives ``M = floor(rho / eta*) + 1``.
If **every** dataset of the family is memorized by some prompt of length ``Lp``
in the box, then ``2^(N L d) <= M^(d Lp)``, that is::

    Lp >= N L log 2 / log M,      M = floor(2 rho K_P / (gamma - 2 tol)) + 1.

Assumptions: max-abs error ``tol`` at every grid input and entry;
``gamma > 2 tol``; prompts in the box ``‖P‖max <= rho``; the frozen model's
``K_P`` over that box and inputs in ``[0, 1]``. It bounds the worst case over
the family: one sampled dataset may need fewer rows. ``M = 1`` (the whole box
within one cube) means no prompt length memorizes the family: the bound is
``inf``.

Lipschitz targets (closed form): a ``K_f``-Lipschitz target (max norms) can
place a bump of height ``gamma`` on a cell of side ``delta`` when
``K_f >= 2 gamma / delta``; the bumps are disjoint, so the whole hard family on
``G_delta`` with ``k = floor(K_f / (2 gamma))`` cells per side consists of
``K_f``-Lipschitz targets. With ``gamma = c tol`` (``c > 2``)::

    Lp >= k^(d L) L log 2 / log(floor(2 rho K_P / ((c - 2) tol)) + 1),
    k = floor(K_f / (2 c tol)),

exponential in ``d L`` and growing like ``tol^-(d L) / log(1/tol)`` in ``1/tol``
(:func:`lipschitz_lower_bound`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ._checks import check_positive_float, check_positive_int
from .datasets import cells_per_side

__all__ = [
    "LipschitzFactors",
    "col_norm",
    "ff_lipschitz",
    "ff_range",
    "linear_range",
    "prompt_lipschitz",
    "counting_eta",
    "counting_cells",
    "counting_bound",
    "CountingBound",
    "check_gap",
    "lipschitz_lower_bound",
]

#: Relative inflation of ``K_P`` against floating-point rounding.
ROUNDING_SLACK = 1e-9


def col_norm(W) -> float:
    """``max_j sum_i |W_ij|``: the max-norm factor of ``z -> z W`` for row vectors ``z``."""
    W = np.asarray(W, dtype=np.float64)
    return float(np.abs(W).sum(axis=0).max())


def ff_lipschitz(ff) -> float:
    """``c_ff = 1 + col(|W1| |W2|)``: Lipschitz factor (max norm, per row) of ``FF(z) = z + relu(z W1 + b1) W2 + b2``."""
    return 1.0 + col_norm(np.abs(ff.W1) @ np.abs(ff.W2))


def linear_range(lo, hi, W, b=None):
    """Box of ``z W + b`` for ``z`` in the box ``[lo, hi]`` (interval arithmetic, per coordinate)."""
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    Wp, Wn = np.maximum(W, 0.0), np.minimum(W, 0.0)
    out_lo = lo @ Wp + hi @ Wn
    out_hi = hi @ Wp + lo @ Wn
    if b is not None:
        out_lo = out_lo + b
        out_hi = out_hi + b
    return out_lo, out_hi


def ff_range(ff, lo, hi):
    """Box containing ``FF(z)`` for every ``z`` in ``[lo, hi]`` (interval arithmetic, rigorous)."""
    u_lo, u_hi = linear_range(lo, hi, ff.W1, ff.b1)
    r_lo, r_hi = np.maximum(u_lo, 0.0), np.maximum(u_hi, 0.0)
    f_lo, f_hi = linear_range(r_lo, r_hi, ff.W2, ff.b2)
    return np.asarray(lo) + f_lo, np.asarray(hi) + f_hi


@dataclass(frozen=True)
class LipschitzFactors:
    """Per-layer factors of the prompt-Lipschitz constant ``K_P`` (see the module docstring).

    Attributes
    ----------
    rho : float
        Prompt box ``‖P‖max <= rho`` the factors hold on.
    c_ff1, c_ff2 : float
        ``1 + col(|W1| |W2|)`` of FF1 and FF2.
    logit_factor : float
        ``scale * max_q ‖WK q^T‖_1`` over the queries of input rows: a prompt
        row's logit moves by at most this times ``‖Δh‖inf``.
    softmax_factor : float
        ``‖p - p'‖_1 <= softmax_factor ‖s - s'‖inf`` (1 for both variants).
    value_spread : float
        Softmax: largest half-width per coordinate of the boxes of
        ``u = h WV WO`` over prompt and input rows; Softmax_1: largest ``|u|``.
    value_factor : float
        ``col(WV WO)``.
    qabs_max : float
        Largest ``|q|`` entry over input rows (for reports).
    h_prompt_max, h_input_max : float
        Largest ``|FF1(z)|`` entry over prompt rows / input rows (for reports).
    K_P : float
        ``c_ff2 (softmax_factor logit_factor value_spread + value_factor) c_ff1``,
        times ``1 + 1e-9``.
    """

    rho: float
    variant: str
    c_ff1: float
    c_ff2: float
    logit_factor: float
    softmax_factor: float
    value_spread: float
    value_factor: float
    qabs_max: float
    h_prompt_max: float
    h_input_max: float
    K_P: float

    def as_dict(self) -> dict:
        return asdict(self)


def prompt_lipschitz(model, rho) -> LipschitzFactors:
    """Rigorous ``K_P`` with ``‖Yhat(P) - Yhat(P')‖max <= K_P ‖P - P'‖max`` (docs/theory.md §7).

    Valid for every prompt length, every batch, prompts with
    ``‖P‖max, ‖P'‖max <= rho`` and inputs in ``[0, 1]^{L x d}``. The
    derivation is in the module docstring.

    Parameters
    ----------
    model : PromptedModel
    rho : float
        Prompt box radius, ``> 0``.

    Returns
    -------
    LipschitzFactors
    """
    rho = check_positive_float(rho, "rho")
    d = model.d
    c1 = ff_lipschitz(model.ff1)
    c2 = ff_lipschitz(model.ff2)
    hp_lo, hp_hi = ff_range(model.ff1, np.full(d, -rho), np.full(d, rho))
    hx_lo, hx_hi = ff_range(model.ff1, *model.input_box())  # input rows X + E, X in [0, 1]
    q_lo, q_hi = linear_range(hx_lo, hx_hi, model.WQ)
    qabs = np.maximum(np.abs(q_lo), np.abs(q_hi))
    logit_factor = model.scale * float((np.abs(model.WK) @ qabs).sum())  # max_q ‖WK q^T‖_1
    WVO = model.WV @ model.WO
    up_lo, up_hi = linear_range(hp_lo, hp_hi, WVO)
    ux_lo, ux_hi = linear_range(hx_lo, hx_hi, WVO)
    u_lo, u_hi = np.minimum(up_lo, ux_lo), np.maximum(up_hi, ux_hi)
    if model.variant == "softmax":
        spread = float(np.max((u_hi - u_lo) / 2.0))
    else:
        spread = float(np.max(np.maximum(np.abs(u_lo), np.abs(u_hi))))
    softmax_factor = 1.0
    value_factor = col_norm(WVO)
    K = c2 * (softmax_factor * logit_factor * spread + value_factor) * c1 * (1.0 + ROUNDING_SLACK)
    return LipschitzFactors(
        rho=rho, variant=model.variant, c_ff1=c1, c_ff2=c2, logit_factor=logit_factor,
        softmax_factor=softmax_factor, value_spread=spread, value_factor=value_factor,
        qabs_max=float(qabs.max()),
        h_prompt_max=float(np.max(np.maximum(np.abs(hp_lo), np.abs(hp_hi)))),
        h_input_max=float(np.max(np.maximum(np.abs(hx_lo), np.abs(hx_hi)))),
        K_P=float(K),
    )


# ---------------------------------------------------------------------------- counting bound
def check_gap(gamma, tol) -> tuple[float, float]:
    """``gamma`` and ``tol`` positive with ``gamma > 2 tol``: the hard family's datasets stay apart."""
    gamma = check_positive_float(gamma, "gamma")
    tol = check_positive_float(tol, "tol")
    if not gamma > 2 * tol:
        raise ValueError(f"the hard family needs gamma > 2 tol, got gamma = {gamma:.6g} <= 2 tol = {2 * tol:.6g}")
    return gamma, tol


def counting_eta(gamma, tol, K_P) -> float:
    """``eta* = (gamma - 2 tol) / (2 K_P)``: cubes of side ``2 eta`` with ``eta < eta*`` hold one dataset at most."""
    gamma, tol = check_gap(gamma, tol)
    K_P = check_positive_float(K_P, "K_P")
    return (gamma - 2 * tol) / (2 * K_P)


def counting_cells(rho, gamma, tol, K_P) -> int:
    """``M = floor(rho / eta*) + 1 = lim ceil(rho / eta)`` as ``eta`` rises to ``eta*``: cubes per coordinate."""
    rho = check_positive_float(rho, "rho")
    ratio = rho / counting_eta(gamma, tol, K_P)
    if not math.isfinite(ratio) or ratio > 1e300:
        raise ValueError(f"rho / eta* = {ratio:.3g} is too large to count cells")
    return int(math.floor(ratio)) + 1


@dataclass(frozen=True)
class CountingBound:
    """The counting lower bound on the prompt length (docs/theory.md §7).

    ``Lp_bound = N L log 2 / log M`` (``inf`` when ``M = 1``); any prompt
    length that memorizes every dataset of the hard family within ``tol`` is
    at least ``Lp_bound``, hence at least ``Lp_min = ceil(Lp_bound)``.
    """

    N: int
    L: int
    d: int
    gamma: float
    tol: float
    rho: float
    K_P: float
    eta: float
    M: int
    Lp_bound: float
    log2_datasets: int

    @property
    def Lp_min(self) -> float:
        """Least integer prompt length allowed by the bound (``inf`` when none is)."""
        return math.inf if math.isinf(self.Lp_bound) else float(max(1, math.ceil(self.Lp_bound - 1e-12)))

    def as_dict(self) -> dict:
        out = asdict(self)
        out["Lp_min"] = self.Lp_min
        return out


def counting_bound(*, d, L, gamma, tol, rho, K_P=None, model=None, delta=None, N=None) -> CountingBound:
    """Counting bound ``Lp >= N L log 2 / log M`` for the hard family (docs/theory.md §7).

    Give the grid by ``delta`` (``N = (1/delta)^(d L)``; ``delta`` must divide
    ``[0, 1]`` into whole cells) or by ``N`` directly, and the Lipschitz
    constant by ``K_P`` or by ``model`` (then ``K_P = prompt_lipschitz(model,
    rho).K_P``, for the same ``rho``).

    Raises
    ------
    ValueError
        ``gamma <= 2 tol``, ``rho <= 0``, ``delta`` not dividing ``[0, 1]``,
        neither or both of ``delta``/``N`` or of ``K_P``/``model``.
    """
    d = check_positive_int(d, "d")
    L = check_positive_int(L, "L")
    gamma, tol = check_gap(gamma, tol)
    rho = check_positive_float(rho, "rho")
    if (delta is None) == (N is None):
        raise ValueError("give exactly one of delta (grid side) and N (number of grid inputs)")
    if delta is not None:
        N = cells_per_side(delta) ** (d * L)
    N = check_positive_int(N, "N")
    if (K_P is None) == (model is None):
        raise ValueError("give exactly one of K_P and model")
    if model is not None:
        if model.d != d:
            raise ValueError(f"model has d = {model.d}, but the bound was asked for d = {d}")
        K_P = prompt_lipschitz(model, rho).K_P
    K_P = check_positive_float(K_P, "K_P")
    eta = counting_eta(gamma, tol, K_P)
    M = counting_cells(rho, gamma, tol, K_P)
    Lp = math.inf if M == 1 else N * L * math.log(2.0) / math.log(M)
    return CountingBound(N=N, L=L, d=d, gamma=gamma, tol=tol, rho=rho, K_P=float(K_P), eta=eta, M=M,
                         Lp_bound=Lp, log2_datasets=N * L * d)


def lipschitz_lower_bound(*, d, L, tol, K_f, rho, K_P, gamma_over_tol=4.0) -> CountingBound:
    """Closed-form bound for ``K_f``-Lipschitz targets (docs/theory.md §7), exponential in ``d L``.

    With ``gamma = c tol`` (``c = gamma_over_tol > 2``) and
    ``k = floor(K_f / (2 gamma))`` cells per side (``delta = 1/k``), the hard
    family on ``G_delta`` consists of ``K_f``-Lipschitz targets (disjoint bumps
    of height ``gamma`` and slope ``2 gamma / delta``), so approximating every
    ``K_f``-Lipschitz target within ``tol`` at the grid inputs needs::

        Lp >= k^(d L) L log 2 / log(floor(2 rho K_P / ((c - 2) tol)) + 1).

    ``k = 0`` (``K_f < 2 gamma``) gives ``N = 0`` and the trivial bound 0.
    """
    d = check_positive_int(d, "d")
    L = check_positive_int(L, "L")
    tol = check_positive_float(tol, "tol")
    K_f = check_positive_float(K_f, "K_f")
    c = check_positive_float(gamma_over_tol, "gamma_over_tol")
    if c <= 2:
        raise ValueError(f"gamma_over_tol must exceed 2 (gamma > 2 tol), got {c}")
    gamma = c * tol
    k = int(math.floor(K_f / (2 * gamma) + 1e-12))
    if k == 0:
        return CountingBound(N=0, L=L, d=d, gamma=gamma, tol=tol, rho=float(rho), K_P=float(K_P),
                             eta=counting_eta(gamma, tol, K_P), M=counting_cells(rho, gamma, tol, K_P),
                             Lp_bound=0.0, log2_datasets=0)
    return counting_bound(d=d, L=L, gamma=gamma, tol=tol, rho=rho, K_P=K_P, N=k ** (d * L))
