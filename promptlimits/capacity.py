"""Memorization capacity: a rigorous prompt-Lipschitz constant ``K_P`` and the counting bound (docs/theory.md §7).

This module is the project's explicit version of the paper's lower bound on
the prompt length needed for memorization (Hu et al. 2025: the required prompt
length grows exponentially in ``d L`` and polynomially in ``1/tol``). The
paper states it asymptotically; here every constant is computed from the
frozen weights. ``tol`` is the memorization tolerance: the max-abs error
allowed on the model's outputs (docs/theory.md §1.4 keeps ``eps`` for the
attention-output error).

Dimensions. The prompt ``P`` has ``Lp`` rows of the model's width ``D``
(``model.d``: the token width of a random model, the residual width of the
constructed one); the targets fix ``N`` inputs of ``L`` rows and ``d`` compared
output columns (``out_cols``; all ``D`` for a random model, the ``x`` block for
the constructed one). Columns of ``P`` that no weight reads change no output
(:func:`promptlimits.jacobian.read_columns`) and are not counted.

The Lipschitz constant ``K_P`` (docs/theory.md §7.3)
----------------------------------------------------
Tokens are rows; ``col(W) = max_j sum_i |W_ij|`` is the max-norm factor of
``z -> z W``. For prompts whose entries lie in a per-column box ``[lo, hi]``
(default ``[-rho, rho]``) and inputs in ``[0, 1]`` (or exactly the given
inputs ``X``), with ``Yhat(P) = tau([P; X])[Lp:]`` read on ``out_cols``::

    K_P = c_ff2 * (softmax_factor * logit_factor * value_spread + value_factor) * c_ff1

1. FF1 per prompt row: Clarke Jacobian ``I + W1 D W2``; units whose
   pre-activation interval arithmetic proves ``<= 0`` on the box have
   ``D = 0`` everywhere on it and are dropped: ``c_ff1 = 1 + col(|W1_A| |W2_A|)``
   over the possibly active units ``A``. Input rows do not move.
2. A prompt row's logit against query ``q`` moves by at most
   ``scale ‖WK q^T‖_1 ‖Δh‖inf``: ``logit_factor`` is the largest
   ``scale ‖WK q^T‖_1`` over the queries (exactly, over the given inputs;
   else over the interval box of queries).
3. ``‖p - p'‖_1 <= ‖s - s'‖inf`` (softmax Jacobian, ``softmax_factor = 1``).
4. The output row moves by ``sum_j (p_j - p'_j) u_j + sum_{j <= Lp} p'_j
   (u_j - u'_j)`` with ``u = h WV WO``: at most ``‖p - p'‖_1 value_spread
   + col(WV WO) ‖Δh‖inf`` (``value_spread``: the largest half-width of the
   value boxes, or the largest ``|u|`` for Softmax_1).
5. FF2 on the compared columns: ``c_ff2 = max_{c in out_cols} (1 + sum_r
   (|W1_A| |W2_A|)_rc)`` over the units possibly active on the box of
   attention outputs ``h + T WO``.

The bound holds for every ``Lp`` and is inflated by a relative ``1e-9``
against rounding. ``proofs_check`` ``7b`` verifies each factor.

The counting bound (docs/theory.md §7.4)
----------------------------------------
Hard family: targets ``F + gamma B``, ``B in {0..q-1}^{N x L x d}``, spacing
``gamma > 2 tol``; ``q^(N L d)`` datasets, any two ``gamma`` apart somewhere.
Two prompts memorizing different members within ``tol`` are at least
``2 eta* = (gamma - 2 tol) / K_P`` apart; cutting each prompt entry's interval
of width ``2 rho`` into ``M = floor(2 rho K_P / (gamma - 2 tol)) + 1`` pieces
gives ``M^(D Lp)`` cubes, each memorizing at most one member. Hence

    every member memorizable at length Lp  =>  Lp >= N L d log q / (D log M),

and for a member drawn uniformly,
``Pr[some prompt of length Lp memorizes it] <= M^(D Lp) q^(-N L d)``; so a
drawn member is memorized at some length below
``Lp_sample(alpha) = (N L d log q - log(1/alpha)) / (D log M)`` with
probability at most ``alpha M^D / (M^D - 1) <= 2 alpha`` (a geometric sum
whose largest term is below ``alpha``). ``proofs_check`` ``7a`` and ``7c`` prove both forms.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ._checks import as_float_array, check_positive_float, check_positive_int, check_real
from .datasets import cells_per_side, check_levels
from .interval import box_add, box_matmul, down, ff_box, gamma, up, upper_abs_matmul

__all__ = [
    "LipschitzFactors",
    "col_norm",
    "ff_lipschitz",
    "ff_range",
    "linear_range",
    "active_units",
    "check_levels",
    "ALPHA",
    "prompt_lipschitz",
    "counting_eta",
    "counting_cells",
    "counting_bound",
    "CountingBound",
    "check_gap",
    "check_rho_contains",
    "lipschitz_lower_bound",
]

#: Relative inflation of ``K_P`` against floating-point rounding.
ROUNDING_SLACK = 1e-9


def col_norm(W) -> float:
    """``max_j sum_i |W_ij|``: the max-norm factor of ``z -> z W`` for row vectors ``z`` (rounded up)."""
    W = np.abs(np.asarray(W, dtype=np.float64))
    if W.size == 0:
        return 0.0
    return float(up(W.sum(axis=0).max() * (1.0 + gamma(W.shape[0] + 1))))


def ff_lipschitz(ff, active=None, cols=None) -> float:
    """``1 + max_{c in cols} sum_r (|W1_A| |W2_A|)_rc``: max-norm Lipschitz factor of
    ``FF(z) = z + relu(z W1 + b1) W2 + b2`` (an upper bound in floating point).

    ``active`` (a boolean mask of the units) keeps the units that may be
    active; the others have derivative 0 wherever the factor is used.
    ``cols`` restricts the output columns (default all): the factor of
    ``z -> FF(z)[cols]``. With neither it is ``1 + col(|W1| |W2|)``.
    """
    W1, W2 = np.abs(ff.W1), np.abs(ff.W2)
    if active is not None:
        W1, W2 = W1[:, active], W2[active]
    if cols is not None:
        W2 = W2[:, cols]
    if W1.size == 0 or W2.size == 0:
        return 1.0
    return float(up(1.0 + col_norm(upper_abs_matmul(W1, W2))))


def linear_range(lo, hi, W, b=None):
    """Box of ``z W + b`` for ``z`` in the box ``[lo, hi]`` (outward-rounded interval arithmetic,
    :func:`promptlimits.interval.box_matmul`)."""
    return box_matmul(lo, hi, W, b)


def ff_range(ff, lo, hi):
    """Box containing ``FF(z)`` for every ``z`` in ``[lo, hi]`` (outward-rounded, rigorous)."""
    return ff_box(ff, lo, hi)[0]


def active_units(ff, lo, hi) -> np.ndarray:
    """Mask of the units of ``ff`` whose pre-activation may be positive for some ``z`` in ``[lo, hi]``
    (rows of ``lo``, ``hi`` beyond the first axis are pooled)."""
    u_hi = box_matmul(lo, hi, ff.W1, ff.b1)[1]
    return (u_hi > 0.0).reshape(-1, u_hi.shape[-1]).any(axis=0)


def _box_through(lo, hi, F, E):
    """Box of ``z W`` for ``z`` in ``[lo, hi]`` and every ``W`` within ``F ± E`` (so the exact product)."""
    o_lo, o_hi = box_matmul(lo, hi, F)
    extra = upper_abs_matmul(_mag(lo, hi), E)
    return down(o_lo - extra), up(o_hi + extra)


def _product_enclosure(A, B):
    """``(F, E)`` with the exact ``A B`` within ``F ± E`` entry by entry (``F = fl(A B)``)."""
    F = np.asarray(A, dtype=np.float64) @ np.asarray(B, dtype=np.float64)
    E = upper_abs_matmul(A, B) * gamma(np.shape(A)[-1] + 1)
    return F, up(E)


@dataclass(frozen=True)
class LipschitzFactors:
    """Per-layer factors of the prompt-Lipschitz constant ``K_P`` (see the module docstring).

    Attributes
    ----------
    rho : float
        Half-width of the prompt box (the default box is ``[-rho, rho]`` per entry).
    c_ff1, c_ff2 : float
        FF1 and FF2 factors over the units possibly active on their boxes
        (FF2: on the compared output columns only).
    logit_factor : float
        Largest ``scale ‖WK q^T‖_1`` over the queries of the input rows.
    softmax_factor : float
        ``‖p - p'‖_1 <= softmax_factor ‖s - s'‖inf`` (1 for both variants).
    value_spread : float
        Softmax: largest half-width per coordinate of the boxes of
        ``u = h WV WO`` over prompt and input rows; Softmax_1: largest ``|u|``.
    value_factor : float
        ``col(WV WO)``.
    active_ff1, active_ff2 : int
        Units of FF1 / FF2 not proved inactive (of ``units_ff1``, ``units_ff2``).
    qabs_max, h_prompt_max, h_input_max : float
        Largest ``|q|`` entry, ``|FF1(z)|`` entry over prompt / input rows (for reports).
    exact_inputs : bool
        Input-row quantities taken exactly at the given inputs (else over ``[0, 1]``).
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
    active_ff1: int
    units_ff1: int
    active_ff2: int
    units_ff2: int
    qabs_max: float
    h_prompt_max: float
    h_input_max: float
    exact_inputs: bool
    K_P: float

    def as_dict(self) -> dict:
        return asdict(self)


def _prompt_box(model, rho, box):
    """Per-column box ``(lo, hi)`` of the prompt entries: ``[-rho, rho]`` or the given one, checked."""
    D = model.d
    if box is None:
        return np.full(D, -rho), np.full(D, rho)
    lo, hi = (np.broadcast_to(as_float_array(a, "prompt box", ndim=(0, 1)), (D,)).astype(np.float64) for a in box)
    if np.any(lo > hi):
        raise ValueError("prompt box must have lo <= hi in every column")
    return lo, hi


def _input_rows(model, X):
    """Boxes of FF1 of the input rows: per row at the given ``X`` (``(n, D)`` each), or one box over
    ``[0, 1]`` (``(1, D)`` each); and whether the inputs were given."""
    if X is None:
        lo, hi = ff_range(model.ff1, *model.input_box())
        return (lo[None, :], hi[None, :]), False
    X = as_float_array(X, "inputs X", ndim=3, dtype=np.float64)
    if X.shape[2] != model.d:
        raise ValueError(f"inputs X must have {model.d} columns, got shape {X.shape}")
    rows = model._positioned(X).reshape(-1, model.d)
    return ff_range(model.ff1, down(rows), up(rows)), True


def _mag(lo, hi):
    return np.maximum(np.abs(lo), np.abs(hi))


def prompt_lipschitz(model, rho=None, *, box=None, X=None, out_cols=None, drop_inactive=True) -> LipschitzFactors:
    """Rigorous ``K_P`` with ``‖Yhat(P) - Yhat(P')‖max <= K_P ‖P - P'‖max`` (docs/theory.md §7.3).

    Valid for every prompt length and every pair of prompts whose entries lie
    in the box; the derivation is in the module docstring. Every box is
    outward-rounded and every sum of non-negative terms rounded up
    (:mod:`promptlimits.interval`), so the constant holds in exact arithmetic
    for the float weights, whatever the rounding.

    Parameters
    ----------
    model : PromptedModel
    rho : float, optional
        The box ``[-rho, rho]`` per entry (when ``box`` is not given); recorded.
    box : (lo, hi), optional
        Per-column range of the prompt entries (arrays of length ``model.d``).
    X : array ``(batch, L, model.d)``, optional
        The inputs; the input-row factors are then taken row by row at them
        (the bound holds for these inputs), else over ``[0, 1]^d`` shifted by ``E``.
    out_cols : sequence of int, optional
        The compared output columns (default all).
    drop_inactive : bool
        Drop FF units that interval arithmetic proves inactive on their box
        (``False``: every unit).
    """
    if box is None:
        rho = check_positive_float(rho, "rho")
    elif rho is not None:
        rho = check_positive_float(rho, "rho")
    lo, hi = _prompt_box(model, rho, box)
    act1 = active_units(model.ff1, lo, hi) if drop_inactive else None
    c1 = ff_lipschitz(model.ff1, act1)
    hp_lo, hp_hi = ff_range(model.ff1, lo, hi)
    (hx_lo, hx_hi), exact = _input_rows(model, X)
    WVO, WVO_err = _product_enclosure(model.WV, model.WO)
    up_lo, up_hi = _box_through(hp_lo, hp_hi, WVO, WVO_err)
    q_lo, q_hi = box_matmul(hx_lo, hx_hi, model.WQ)  # per input row (one row: the whole input box)
    qabs = _mag(q_lo, q_hi)
    if exact:  # max over the queries of ‖WK q^T‖_1, each query's box through WK^T
        kq = _mag(*box_matmul(q_lo, q_hi, model.WK.T))
        row_sums = up(kq.sum(axis=1) * (1.0 + gamma(kq.shape[1] + 1)))
        logit_factor = float(up(model.scale * row_sums.max()))
    else:  # over the box: sum_a sum_b |WK|_ab max|q_b|
        logit_factor = float(up(model.scale * col_norm(upper_abs_matmul(qabs, np.abs(model.WK).T).T)))
    ux_lo, ux_hi = _box_through(hx_lo, hx_hi, WVO, WVO_err)
    ux_lo, ux_hi = ux_lo.min(axis=0), ux_hi.max(axis=0)
    hx_lo, hx_hi = hx_lo.min(axis=0), hx_hi.max(axis=0)
    u_lo, u_hi = np.minimum(up_lo, ux_lo), np.maximum(up_hi, ux_hi)
    if model.variant == "softmax":
        spread = float(np.max(up(up(u_hi - u_lo) * 0.5)))
        t_lo, t_hi = u_lo, u_hi  # T WO is a convex combination of the rows u
    else:
        spread = float(np.max(_mag(u_lo, u_hi)))
        t_lo, t_hi = np.minimum(u_lo, 0.0), np.maximum(u_hi, 0.0)  # sub-convex: weights sum to < 1
    act2 = active_units(model.ff2, *box_add(hx_lo, hx_hi, t_lo, t_hi)) if drop_inactive else None
    c2 = ff_lipschitz(model.ff2, act2, None if out_cols is None else np.asarray(out_cols))
    value_factor = col_norm(np.abs(WVO) + WVO_err)
    K = c2 * (logit_factor * spread + value_factor) * c1 * (1.0 + ROUNDING_SLACK)
    n1, n2 = model.ff1.W1.shape[1], model.ff2.W1.shape[1]
    return LipschitzFactors(
        rho=float(rho) if rho is not None else float(np.max(hi - lo) / 2), variant=model.variant,
        c_ff1=c1, c_ff2=c2, logit_factor=logit_factor, softmax_factor=1.0, value_spread=spread,
        value_factor=value_factor, active_ff1=n1 if act1 is None else int(act1.sum()), units_ff1=n1,
        active_ff2=n2 if act2 is None else int(act2.sum()), units_ff2=n2, qabs_max=float(qabs.max()),
        h_prompt_max=float(np.max(np.maximum(np.abs(hp_lo), np.abs(hp_hi)))),
        h_input_max=float(np.max(np.maximum(np.abs(hx_lo), np.abs(hx_hi)))), exact_inputs=exact, K_P=float(K),
    )


def check_rho_contains(P, rho=None) -> float:
    """The prompt box's ``rho``: ``‖P‖max`` when ``rho`` is ``None``, else ``rho`` if the box contains ``P``.

    The memorization sandwich compares a lower bound over ``‖P‖max <= rho``
    with the closed-form prompt ``P``; a box that does not contain ``P``
    compares prompts from different sets, so it is refused, naming both numbers.
    """
    P = as_float_array(P, "prompt P", ndim=2, dtype=np.float64)
    if not np.all(np.isfinite(P)):
        raise ValueError("the closed-form prompt has NaN or infinite entries (is the target finite?)")
    need = float(np.abs(P).max()) if P.size else 0.0
    if rho is None:
        return check_positive_float(need, "the closed-form prompt's max norm")
    rho = check_positive_float(rho, "rho")
    if need > rho:
        raise ValueError(f"rho = {rho:.6g} does not contain the construction's closed-form prompt, whose max norm "
                         f"is {need:.6g}; use rho >= {need:.6g}")
    return rho


# ---------------------------------------------------------------------------- counting bound
def check_gap(gamma, tol) -> tuple[float, float]:
    """``gamma`` and ``tol`` positive with ``gamma > 2 tol``: the hard family's datasets stay apart."""
    gamma = check_positive_float(gamma, "gamma")
    tol = check_positive_float(tol, "tol")
    if not gamma > 2 * tol:
        raise ValueError(f"the hard family needs spacing gamma > 2 tol, got gamma = {gamma:.6g} <= 2 tol = "
                         f"{2 * tol:.6g}")
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


#: Default probability ``alpha`` of the per-sample form (docs/theory.md §7.4).
ALPHA = 1e-6


@dataclass(frozen=True)
class CountingBound:
    """The counting lower bound on the prompt length (docs/theory.md §7.4).

    ``N`` inputs of ``L`` rows, ``d`` compared output columns, ``q`` levels:
    ``q^(N L d)`` datasets; prompts of ``D`` counted columns. ``Lp_bound = N L
    d log q / (D log M)`` (``inf`` when ``M = 1``); ``Lp_sample`` is the
    per-sample form at probability ``alpha``.
    """

    N: int
    L: int
    d: int
    D: int
    q: int
    gamma: float
    tol: float
    rho: float
    K_P: float
    eta: float
    M: int
    Lp_bound: float
    log2_datasets: float
    alpha: float = ALPHA

    @property
    def Lp_min(self) -> float:
        """Least integer prompt length allowed by the bound (``inf`` when none is)."""
        return math.inf if math.isinf(self.Lp_bound) else float(max(1, math.ceil(self.Lp_bound - 1e-12)))

    def log_probability(self, Lp) -> float:
        """``ln min(1, M^(D Lp) q^(-N L d))``: a uniformly drawn member is memorizable at ``Lp`` at most this likely."""
        Lp = check_positive_int(Lp, "Lp")
        if self.M == 1:
            return -math.inf
        return min(0.0, self.D * Lp * math.log(self.M) - self.N * self.L * self.d * math.log(self.q))

    @property
    def Lp_sample(self) -> float:
        """``(N L d log q - log(1/alpha)) / (D log M)``: a drawn member is memorized below it w.p.
        <= alpha M^D/(M^D-1).

        ``alpha`` is the probability allowed that a member drawn uniformly from
        the family is memorized by some shorter prompt. The value is 0 when the
        family has at most ``1/alpha`` members (``N L d log2 q <= log2(1/alpha)``,
        19.9 bits at ``alpha = 1e-6``): then no length can be ruled out at that
        probability.
        """
        if self.M == 1:
            return math.inf
        return max(0.0, (self.N * self.L * self.d * math.log(self.q) + math.log(self.alpha))
                   / (self.D * math.log(self.M)))

    def as_dict(self) -> dict:
        out = asdict(self)
        out["Lp_min"] = self.Lp_min
        out["Lp_sample"] = self.Lp_sample
        return out


def counting_bound(*, d, L, gamma, tol, rho, q=2, K_P=None, model=None, delta=None, N=None, D=None,
                   alpha=ALPHA, **lipschitz) -> CountingBound:
    """Counting bound ``Lp >= N L d log q / (D log M)`` for the hard family (docs/theory.md §7.4).

    Parameters
    ----------
    d, L : int
        Compared output columns per row and rows per input (the dataset's
        ``L x d`` outputs).
    gamma, tol : float
        Spacing of the levels and memorization tolerance, ``gamma > 2 tol``.
    rho : float
        Each prompt entry ranges over an interval of width ``2 rho``.
    q : int
        Levels per target entry, ``>= 2``.
    K_P, model :
        The Lipschitz constant, or the model to compute it from
        (:func:`prompt_lipschitz` with ``rho`` and the keyword arguments
        ``lipschitz``: ``box``, ``X``, ``out_cols``, ``drop_inactive``).
    delta, N :
        The grid: side ``delta`` (``N = (1/delta)^(d L)``) or ``N`` directly.
    D : int, optional
        Counted prompt columns; default ``model.d`` (every column of the
        model's prompt), or ``d`` when only ``K_P`` is given.
    alpha : float
        Probability of the per-sample form, in ``(0, 1)``.

    Raises
    ------
    ValueError
        ``gamma <= 2 tol``, ``q < 2``, ``rho <= 0``, ``delta`` not dividing
        ``[0, 1]``, neither or both of ``delta``/``N`` or of ``K_P``/``model``.
    """
    d = check_positive_int(d, "d")
    L = check_positive_int(L, "L")
    gamma, tol = check_gap(gamma, tol)
    rho = check_positive_float(rho, "rho")
    q = check_levels(q)
    alpha = check_real(alpha, "alpha", low=0.0, high=1.0, low_open=True, high_open=True)
    if D is None:
        D = d if model is None else model.d  # every column of the model's prompt
    D = check_positive_int(D, "D (counted prompt columns)")
    if (delta is None) == (N is None):
        raise ValueError("give exactly one of delta (grid side) and N (number of grid inputs)")
    if delta is not None:
        N = cells_per_side(delta) ** (d * L)
    N = check_positive_int(N, "N")
    if (K_P is None) == (model is None):
        raise ValueError("give exactly one of K_P and model")
    if model is not None:
        K_P = prompt_lipschitz(model, rho, **lipschitz).K_P
    K_P = check_positive_float(K_P, "K_P")
    eta = counting_eta(gamma, tol, K_P)
    M = counting_cells(rho, gamma, tol, K_P)
    Lp = math.inf if M == 1 else N * L * d * math.log(q) / (D * math.log(M))
    return CountingBound(N=N, L=L, d=d, D=D, q=q, gamma=gamma, tol=tol, rho=rho, K_P=float(K_P), eta=eta, M=M,
                         Lp_bound=Lp, log2_datasets=N * L * d * math.log2(q), alpha=alpha)


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
        return CountingBound(N=0, L=L, d=d, D=d, q=2, gamma=gamma, tol=tol, rho=float(rho), K_P=float(K_P),
                             eta=counting_eta(gamma, tol, K_P), M=counting_cells(rho, gamma, tol, K_P),
                             Lp_bound=0.0, log2_datasets=0.0)
    return counting_bound(d=d, L=L, gamma=gamma, tol=tol, rho=rho, K_P=K_P, N=k ** (d * L))
