"""The least prompt length that memorizes a dataset, found by tuning (docs/theory.md §7).

:func:`least_prompt_length` searches ``Lp = 1, 2, 4, ...`` (doubling) up to
``max_Lp``, then bisects between the last failure and the first success. At
each ``Lp`` it runs up to ``restarts`` restarts; each restart tries L-BFGS-B
first and Adam as a fallback, with the box ``‖P‖max <= rho`` and an early stop
once the max-abs error reaches ``tol``. Every ``Lp`` tried is reported with the
best error reached, so a failure is visible. If no ``Lp <= max_Lp`` reaches
``tol`` within the step budget, the result says ``"not reached within budget"``
and ``least_Lp`` is ``None``: never a made-up number. (Tuning is a local
search: a success is a certificate that ``Lp`` suffices; a failure is not a
proof that it does not.)

Warm start: one dataset, best error non-increasing in ``Lp``
------------------------------------------------------------
With ``warm_start=True`` (the ``memorize least-lp`` command) the targets must be
one dataset for every ``Lp`` (checked), and each length's first run starts from
the best prompt of the shorter lengths tried, padded to the new length by
:func:`pad_prompt`; that padded prompt is itself a candidate (its error is a
forward pass), so the best error at ``Lp`` is at most the padded start's.
Under softmax no padding row carries zero weight (``exp`` is positive) and a
row's value cannot equal every query's attention output, so appending rows
always moves the outputs of a generic model (docs/theory.md §7.6). What can be
exact is a *split*: when a prompt column only adds the same logit ``g`` per
unit to every query (read by no FF1 unit, written by none, read by no value:
:func:`logit_bias_column`; the token-width construction's key bias), a row
replaced by ``c`` copies whose bias is lowered by ``ln(c) / g`` leaves every
attention weight sum, hence every output, unchanged in exact arithmetic. Then
the best error is non-increasing in ``Lp`` up to the forward pass's rounding
(a final pass also pads the best shorter prompt into every longer length tried
before it, as bisection does). Without such a column (random weights) the
padding rows are the ones that change the error least among a few candidates
(the prompt's own rows, the box's corners and centre): the padded start's error
is reported per length (``LpTrial.start_err``), and may exceed the shorter best.

Budgets, not the clock
----------------------
The result depends only on counted budgets (``max_Lp``, ``restarts``,
``steps``, ``adam_steps``) and the seed, never on the machine's speed or load:
the same call gives the same ``least_Lp``, status and trials anywhere. The
optional ``time_limit`` is a safety net only: when it fires (it is looked at
between tuning runs) the search stops with status ``"stopped by time limit"``
and ``least_Lp`` ``None`` -- an incomplete search, not a result (not even "not
reached"), which callers must not report as one (the memorization experiment
fails such a point, so a resumed sweep recomputes it).

Targets relative to a reference prompt
--------------------------------------
With random frozen weights the attention output of a row is
``sum_j softmax(a_i . h_j) u_j`` with values ``u_j`` linear in the keys'
``h_j``: the gradient of a convex (log-sum-exp) function of the query,
mapped linearly. That makes the prompt's effect on the outputs at different
inputs strongly coupled (in ``d = 1`` it is monotone in the query), and
arbitrary targets in ``{0, gamma}^{L x d}`` are mostly out of reach for any
``Lp`` (tuning plateaus near ``gamma / 2``). The measurable version used by the
experiments (:func:`relative_hard_family`) places the hard family on top of the
model's own output with a reference prompt ``R_Lp`` (the first ``Lp`` rows of
one fixed random sequence of rows in ``[-rho/2, rho/2]^d``)::

    Y_Lp = tau([R_Lp; X])[Lp:] + gamma * B,    B in {0, 1}^{N x L x d},

and starts tuning at ``R_Lp``. For every ``Lp`` this is a family of
``2^(N L d)`` datasets, any two differing by ``gamma`` somewhere, so the
counting bound of :mod:`promptlimits.capacity` applies unchanged (with the
same model and ``rho``). Small ``gamma`` (e.g. 0.02 with ``tol = gamma / 4``)
and a sharper logit scale (``s = 8``, ``scale = 1``) give measurable least-``Lp``
values for small ``N``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ._checks import as_generator, check_choice, check_positive_float, check_positive_int
from .datasets import hard_family
from .model import FFWeights
from .tuning import OPTIMIZERS, init_prompt, tune_prompt

__all__ = ["LpTrial", "LeastLpResult", "least_prompt_length", "tune_at", "relative_hard_family",
           "construction_reference", "pad_prompt", "logit_bias_column", "compared_outputs", "NOT_REACHED", "REACHED",
           "STOPPED", "REFERENCE_ROWS", "SPLIT", "LEAST_CHANGE"]

REACHED = "reached"
NOT_REACHED = "not reached within budget"
STOPPED = "stopped by time limit"

#: Padding kinds of :func:`pad_prompt`: exact (a bias column split) and the least-change fallback.
SPLIT = "split"
LEAST_CHANGE = "least change"

#: Rows of the reference prompt of :func:`relative_hard_family` (the largest ``Lp`` it serves).
REFERENCE_ROWS = 4096


@dataclass(frozen=True)
class LpTrial:
    """One prompt length tried: the best max-abs error over restarts and optimizers.

    What more search would have bought, measured in the same runs:
    ``half_restarts_err`` is the best error of the first ``ceil(restarts/2)``
    restarts (``None`` with one restart, or when the search stopped at a
    success before the second half ran); ``half_steps_err`` the best, over the
    runs, of each run's error after half its step budget (the error at the
    iterate of that step). With a warm start, ``warm_from`` is the shorter
    length whose best prompt was padded and ``start_err`` that padded prompt's
    error (``None`` otherwise); ``restarts_run`` counts the restarts begun.
    """

    Lp: int
    best_max_err: float
    reached: bool
    runs: int
    optimizer: str
    steps: int
    seconds: float
    restarts_run: int = 0
    half_restarts_err: float | None = None
    half_steps_err: float | None = None
    warm_from: int | None = None
    start_err: float | None = None


@dataclass
class LeastLpResult:
    """Outcome of :func:`least_prompt_length`.

    ``status`` is :data:`REACHED`, :data:`NOT_REACHED` or :data:`STOPPED`;
    ``least_Lp`` is the least prompt length found to memorize within ``tol``
    (``None`` unless reached); ``trials`` holds every ``Lp`` tried, in the
    order tried; ``P`` is the memorizing prompt of length ``least_Lp``.
    ``seconds`` is the wall time (a timing, never part of the result).
    ``padding`` is the warm start's padding (:data:`SPLIT` or
    :data:`LEAST_CHANGE`; ``None`` without a warm start).
    """

    least_Lp: int | None
    status: str
    tol: float
    max_Lp: int
    trials: list = field(default_factory=list)
    seconds: float = 0.0
    P: np.ndarray | None = None
    padding: str | None = None

    @property
    def reached(self) -> bool:
        return self.status == REACHED

    @property
    def complete(self) -> bool:
        """``False`` when the time limit stopped the search: then it is no result at all."""
        return self.status != STOPPED

    def best_err_by_Lp(self) -> dict:
        """``{Lp: best max-abs error}`` over every ``Lp`` tried, sorted by ``Lp``."""
        return {t.Lp: t.best_max_err for t in sorted(self.trials, key=lambda t: t.Lp)}

    def trials_text(self) -> str:
        """``"1:0.0159;2:0.0107;..."``: compact, sorted by ``Lp`` (for CSV cells)."""
        return ";".join(f"{Lp}:{e:.4g}" for Lp, e in self.best_err_by_Lp().items())

    def summary(self) -> dict:
        return {"least_Lp": self.least_Lp, "status": self.status, "tol": self.tol, "max_Lp": self.max_Lp,
                "padding": self.padding, "seconds": round(self.seconds, 3),
                "trials": [asdict(t) for t in self.trials]}


def relative_hard_family(model, X, gamma, *, rho, q=2, seed=0, ref_seed=12345, max_rows=REFERENCE_ROWS,
                         reference=None, out_cols=None, dataset_Lp=None):
    """Hard-family targets on top of a reference prompt's output (see the module docstring).

    Returns ``targets(Lp) -> (Y_Lp, R_Lp)`` for :func:`least_prompt_length`
    and :func:`promptlimits.linear_regime.least_lp_linear`, with levels ``B``
    in ``{0..q-1}`` drawn once from ``seed`` and added to the compared
    columns ``out_cols`` (default all). The reference ``R_Lp`` is
    ``reference(Lp)`` when given (e.g. :func:`construction_reference`), else the
    first ``Lp`` of ``max_rows`` rows drawn uniformly in ``[-rho/2, rho/2]``
    from ``ref_seed``. With ``dataset_Lp`` the targets are those of that one
    reference length at every ``Lp`` (one dataset, as a warm start needs),
    while the starting prompt is still ``R_Lp``.
    """
    gamma = check_positive_float(gamma, "gamma")
    rho = check_positive_float(rho, "rho")
    X = np.asarray(X, dtype=np.float64)
    cols = np.arange(model.d) if out_cols is None else np.asarray(out_cols, dtype=np.int64)
    offset = np.zeros(X.shape[:2] + (model.d,))
    offset[..., cols] = hard_family(X[..., : cols.size], gamma, q=q, seed=seed)
    if reference is None:
        rows = as_generator(ref_seed).uniform(-rho / 2, rho / 2, size=(max_rows, model.d))

        def reference(Lp):
            if Lp > max_rows:
                raise ValueError(f"Lp = {Lp} exceeds the {max_rows} reference rows")
            return rows[:Lp].copy()

    if dataset_Lp is not None:
        Y_fixed = model.forward(reference(check_positive_int(dataset_Lp, "dataset_Lp")), X) + offset

    def targets(Lp):
        R = reference(Lp)
        if dataset_Lp is not None:
            return Y_fixed, R
        return model.forward(R, X) + offset, R

    return targets


def construction_reference(c, *, sigma=0.3, seed=0):
    """Reference prompts of any length for the constructed model (docs/theory.md §7.6).

    Token ``t`` of ``R_Lp``: ``-1`` in the ``x`` block (below every ramp of
    FF1), keys ``N(0, sigma^2)`` clipped to ``[-3 sigma, 3 sigma]`` on every
    slot, bias ``-ln Lp - d sigma^2 / 2`` (so the prompt's total weight against
    a query is about 1, as for the matched token of the closed form, and the
    gates of FF2 stay open), table entries uniform in ``[R/2, 3R/2]``; zeros
    elsewhere. Returns ``(reference, lo, hi)``: ``reference(Lp)`` and a
    per-column box ``[lo, hi]`` holding every reference of length up to
    ``REFERENCE_ROWS``.
    """
    lay, d, R = c.layout, c.d, c.value_range
    rng = as_generator(seed)
    keys = np.clip(rng.normal(0.0, sigma, size=(REFERENCE_ROWS, lay.n_slots)), -3 * sigma, 3 * sigma)
    table = rng.uniform(R / 2, 3 * R / 2, size=(REFERENCE_ROWS, d * lay.G))
    bias = -d * sigma**2 / 2

    def reference(Lp):
        if Lp > REFERENCE_ROWS:
            raise ValueError(f"Lp = {Lp} exceeds the {REFERENCE_ROWS} reference rows")
        P = np.zeros((Lp, lay.D))
        P[:, :d] = -1.0
        P[:, lay.key: lay.key + lay.n_slots] = keys[:Lp]
        P[:, lay.bias] = bias - np.log(Lp)
        P[:, lay.table: lay.table + d * lay.G] = table[:Lp]
        return P

    lo, hi = np.zeros(lay.D), np.zeros(lay.D)
    lo[:d] = hi[:d] = -1.0
    lo[lay.key: lay.key + lay.n_slots], hi[lay.key: lay.key + lay.n_slots] = -3 * sigma, 3 * sigma
    lo[lay.bias], hi[lay.bias] = bias - np.log(REFERENCE_ROWS), bias
    lo[lay.table: lay.table + d * lay.G], hi[lay.table: lay.table + d * lay.G] = R / 2, 3 * R / 2
    return reference, lo, hi


def logit_bias_column(model, X) -> tuple[int, float] | None:
    """A prompt column that only adds one logit ``g`` per unit against every query of ``X``: ``(column, g)``.

    The column must be read by no FF1 unit and written by none (``W1[c] = 0``,
    ``W2[:, c] = 0``, so a prompt row's FF1 output there is its entry plus a
    constant and its other entries do not depend on it), read by no value
    (``WV[c] = 0``), and its logit per unit ``scale (h_i WQ) . WK[c]`` must be
    one positive number ``g`` for every output row ``i`` of ``X`` (relative
    spread at most ``1e-12``). Then lowering it by ``ln(c) / g`` divides the
    row's attention weight by ``c`` for every query, and changes nothing else.
    ``None`` when no column qualifies (random frozen weights).
    """
    X = np.asarray(X, dtype=np.float64)
    ff = model.ff1
    free = (np.abs(ff.W1).sum(axis=1) == 0) & (np.abs(ff.W2).sum(axis=0) == 0) & (np.abs(model.WV).sum(axis=1) == 0)
    if not free.any():
        return None
    H, _ = ff.forward(model._positioned(X))
    g = model.scale * (H.reshape(-1, model.d) @ model.WQ) @ model.WK[free].T  # (queries, free columns)
    for j, c in enumerate(np.flatnonzero(free)):
        lo, hi = float(g[:, j].min()), float(g[:, j].max())
        if lo > 0 and hi - lo <= 1e-12 * hi:
            return int(c), lo
    return None


def pad_prompt(model, X, P, Lp, *, rho, error=None) -> tuple[np.ndarray, str]:
    """``P`` padded to ``Lp`` rows so the outputs on ``X`` change as little as possible: ``(P_Lp, kind)``.

    :data:`SPLIT` (exact in real arithmetic): with a :func:`logit_bias_column`
    ``(c, g)``, row ``j`` becomes ``n_j`` copies with column ``c`` lowered by
    ``ln(n_j) / g`` (the copies' weights sum to the row's own), the extra
    copies given one at a time to the row whose lowered bias stays highest;
    refused (falls back) if a bias would leave ``[-rho, rho]``.
    :data:`LEAST_CHANGE` (otherwise; every softmax row has positive weight,
    docs/theory.md §7.6): ``Lp - len(P)`` copies of one row, the candidate
    (a row of ``P``, or the box's centre and corners, or its ``±rho`` axis
    points when the width exceeds 4) with the least ``error(P_Lp)``; ``error``
    defaults to the largest change of the outputs on ``X``.
    """
    P = np.asarray(P, dtype=np.float64)
    extra = int(Lp) - P.shape[0]
    if extra < 0:
        raise ValueError(f"cannot pad a prompt of {P.shape[0]} rows to Lp = {Lp}")
    if extra == 0:
        return P.copy(), SPLIT
    bias = logit_bias_column(model, X)
    if bias is not None:
        c, g = bias
        copies = np.ones(P.shape[0], dtype=np.int64)
        for _ in range(extra):
            copies[np.argmax(P[:, c] - np.log(copies + 1) / g)] += 1
        lowered = P[:, c] - np.log(copies) / g
        if lowered.min() >= -rho:
            out = np.repeat(P, copies, axis=0)
            out[:, c] = np.repeat(lowered, copies)
            return out, SPLIT
    if error is None:
        base = model.forward(P, X)

        def error(Q):
            return float(np.abs(model.forward(Q, X) - base).max())

    D = P.shape[1]
    if D <= 4:
        box = rho * np.array(np.meshgrid(*([(-1.0, 0.0, 1.0)] * D), indexing="ij")).reshape(D, -1).T
    else:
        box = np.vstack([np.zeros(D), rho * np.eye(D), -rho * np.eye(D)])
    candidates = np.vstack([P, box])
    padded = [np.vstack([P, np.repeat(row[None], extra, axis=0)]) for row in candidates]
    errs = [error(Q) for Q in padded]
    return padded[int(np.argmin(errs))], LEAST_CHANGE


def compared_outputs(model, out_cols):
    """The model with every output column outside ``out_cols`` exactly 0 (tuning then fits only ``out_cols``).

    FF2 gains two units per other column ``c``, ``relu(a_c)`` and
    ``relu(-a_c)``, written back with weights ``-1`` and ``+1``: their sum is
    ``-a_c`` (one of the two is 0), which cancels the residual ``a_c``
    exactly in floating point, given that no other unit writes column ``c``
    and its FF2 bias is 0 (checked). The compared columns are unchanged.
    """
    out_cols = np.asarray(out_cols, dtype=np.int64)
    ff, D = model.ff2, model.d
    others = np.setdiff1d(np.arange(D), out_cols)
    if np.abs(ff.W2[:, others]).sum() or np.abs(ff.b2[others]).sum():
        raise ValueError("the model's FF2 writes a column outside out_cols; its outputs there cannot be zeroed")
    n = others.size
    W1 = np.zeros((D, 2 * n))
    W1[others, np.arange(n)], W1[others, n + np.arange(n)] = 1.0, -1.0
    W2 = np.zeros((2 * n, D))
    W2[np.arange(n), others], W2[n + np.arange(n), others] = -1.0, 1.0
    ff2 = FFWeights(np.hstack([ff.W1, W1]), np.concatenate([ff.b1, np.zeros(2 * n)]), np.vstack([ff.W2, W2]), ff.b2)
    return replace(model, ff2=ff2)


def _as_targets(Y, X):
    if callable(Y):
        return Y
    Y = np.asarray(Y, dtype=np.float64)
    if Y.shape != np.shape(X):
        raise ValueError(f"targets Y must have the shape of X {np.shape(X)}, got {Y.shape}")
    return lambda Lp: (Y, None)


def least_prompt_length(model, X, Y, tol, *, rho, max_Lp=32, steps=300, adam_steps=None, restarts=2,
                        optimizers=("lbfgs", "adam"), lr=0.05, init_scale=1.0, seed=0,
                        time_limit=None, warm_start=False) -> LeastLpResult:
    """Least ``Lp`` whose tuned prompt memorizes ``(X, Y)`` within ``tol`` (max-abs error).

    Parameters
    ----------
    model : PromptedModel
    X : array ``(N, L, d)``
    Y : array ``(N, L, d)`` or callable ``Lp -> (Y_Lp, P_init or None)``
        Fixed targets, or per-length targets and a starting prompt (e.g.
        :func:`relative_hard_family`).
    tol : float
        Target max-abs error, ``> 0``.
    rho : float
        Box ``‖P‖max <= rho`` (the counting bound must use the same ``rho``).
    max_Lp : int
        Largest prompt length tried (the doubling stops there).
    steps, adam_steps : int
        L-BFGS-B iterations and Adam steps per run (``adam_steps`` defaults to
        ``3 * steps``).
    restarts : int
        Runs per ``Lp`` (restart 0 starts at the given initial prompt, later
        ones at a perturbed or fresh one); each tries ``optimizers`` in order.
    time_limit : float, optional
        Seconds; a safety net, not a budget (module docstring): once exceeded
        (looked at before each tuning run) the search stops with status
        ``"stopped by time limit"`` and no least ``Lp``.
    warm_start : bool
        Restart 0 at each length after the first starts from the best shorter
        prompt padded by :func:`pad_prompt` (the padded prompt is a candidate
        itself); restart 1 then starts at the given initial prompt and later
        ones at perturbed copies. The targets must be the same at every
        length (``ValueError`` otherwise). Module docstring: with an exact
        padding the best error is non-increasing in ``Lp``.

    Returns
    -------
    LeastLpResult
    """
    max_Lp = check_positive_int(max_Lp, "max_Lp")
    if time_limit is not None:
        time_limit = check_positive_float(time_limit, "time_limit")
    t0 = time.perf_counter()
    deadline = None if time_limit is None else t0 + time_limit
    runs = _Runs.checked(model, X, tol, rho, steps, adam_steps, restarts, optimizers, lr, init_scale, seed, deadline)
    targets = _as_targets(Y, X)
    trials: dict[int, LpTrial] = {}
    prompts: dict[int, np.ndarray] = {}
    order: list[LpTrial] = []
    first: list = []  # the targets of the first length (warm start: every length must have them)
    kinds: set = set()

    def warm(Lp, Y_Lp):
        """The best shorter prompt padded to ``Lp`` (``None`` before any shorter length was tried)."""
        if not first:
            first.append(Y_Lp)
        elif not np.array_equal(first[0], Y_Lp):
            raise ValueError(f"a warm start needs one dataset for every prompt length; the targets at Lp = {Lp} "
                             f"differ from those of the first length tried")
        shorter = [t for t in trials.values() if t.Lp < Lp and prompts[t.Lp] is not None]
        if not shorter:
            return None
        src = min(shorter, key=lambda t: (t.best_max_err, -t.Lp))
        P, kind = pad_prompt(model, runs.X, prompts[src.Lp], Lp, rho=runs.rho, error=lambda Q: runs.error(Q, Y_Lp))
        kinds.add(kind)
        return src.Lp, P

    def attempt(Lp):
        if Lp not in trials:
            Y_Lp, P_init = targets(Lp)
            trials[Lp], prompts[Lp] = runs.best_at(Lp, Y_Lp, P_init, warm(Lp, Y_Lp) if warm_start else None)
            order.append(trials[Lp])
        return trials[Lp]

    try:
        hi_ok = double_then_bisect(lambda Lp: attempt(Lp).reached, max_Lp)
    except _TimeLimit:
        return LeastLpResult(None, STOPPED, tol, max_Lp, order, time.perf_counter() - t0, None)
    if warm_start:  # bisection tries some lengths after longer ones: pad the best shorter prompt into those
        for Lp in sorted(trials):
            if any(t.best_max_err < trials[Lp].best_max_err for t in trials.values() if t.Lp < Lp):
                src, P = warm(Lp, first[0])
                err = runs.error(P, first[0])
                if err < trials[Lp].best_max_err:  # a prompt of this length, checked by a forward pass
                    trials[Lp] = replace(trials[Lp], best_max_err=err, reached=bool(err <= runs.tol),
                                         optimizer="padded", warm_from=src, start_err=err)
                    prompts[Lp] = P
        order = [trials[t.Lp] for t in order]
        reached = [Lp for Lp, t in trials.items() if t.reached]
        hi_ok = min(reached) if reached else None
    padding = None if not warm_start else LEAST_CHANGE if LEAST_CHANGE in kinds else SPLIT
    seconds = time.perf_counter() - t0
    if hi_ok is None:
        return LeastLpResult(None, NOT_REACHED, tol, max_Lp, order, seconds, None, padding)
    return LeastLpResult(hi_ok, REACHED, tol, max_Lp, order, seconds, prompts[hi_ok], padding)


def tune_at(model, X, Y, tol, Lp, *, rho, steps=300, adam_steps=None, restarts=2, optimizers=("lbfgs", "adam"),
            lr=0.05, init_scale=1.0, seed=0) -> LpTrial:
    """Tuning at one prompt length ``Lp`` (restarts x optimizers, as in :func:`least_prompt_length`).

    ``trial.reached`` is a certificate (a prompt in the box within ``tol``,
    checked by a forward pass); ``False`` is a search limit.
    """
    Lp = check_positive_int(Lp, "Lp")
    runs = _Runs.checked(model, X, tol, rho, steps, adam_steps, restarts, optimizers, lr, init_scale, seed, None)
    return runs.best_at(Lp, *_as_targets(Y, X)(Lp))[0]


class _TimeLimit(Exception):
    """The safety-net time limit of a search fired (caught by :func:`least_prompt_length`)."""


@dataclass(frozen=True)
class _Runs:
    """The tuning runs of one search: restarts x optimizers at one prompt length, best kept."""

    model: object
    X: np.ndarray
    tol: float
    rho: float
    steps: int
    adam_steps: int
    restarts: int
    optimizers: tuple
    lr: float
    init_scale: float
    seed: int
    deadline: float | None  # perf_counter() value of the time limit, or None

    @classmethod
    def checked(cls, model, X, tol, rho, steps, adam_steps, restarts, optimizers, lr, init_scale, seed,
                deadline) -> _Runs:
        """The runs with every search setting checked (``adam_steps=None``: ``3 * steps``); the one place
        :func:`least_prompt_length` and :func:`tune_at` validate them."""
        steps = check_positive_int(steps, "steps")
        optimizers = tuple(optimizers)
        if not optimizers:
            raise ValueError("give at least one optimizer")
        for opt in optimizers:
            check_choice(opt, "optimizer", OPTIMIZERS)
        return cls(model, X, check_positive_float(tol, "tol"), check_positive_float(rho, "rho"), steps,
                   3 * steps if adam_steps is None else check_positive_int(adam_steps, "adam_steps"),
                   check_positive_int(restarts, "restarts"), optimizers, lr, init_scale, seed, deadline)

    def _check_time(self) -> None:
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise _TimeLimit

    def error(self, P, Y) -> float:
        """Max-abs error of prompt ``P`` on the targets ``Y`` (one exact forward pass)."""
        return float(np.abs(self.model.forward(P, self.X) - Y).max())

    def start(self, Lp: int, r: int, P_init) -> np.ndarray:
        """Restart ``r``'s initial prompt: the given one, then perturbed copies (or fresh prompts)."""
        rng = np.random.default_rng([int(self.seed), Lp, r])
        if P_init is not None and r == 0:
            return np.clip(P_init, -self.rho, self.rho)
        if P_init is not None:
            return np.clip(P_init + rng.normal(0.0, 0.1 * self.rho, size=P_init.shape), -self.rho, self.rho)
        return init_prompt(Lp, self.model.d, init="normal", rho=self.rho, scale=self.init_scale, seed=rng)

    def best_at(self, Lp: int, Y, P_init, warm=None) -> tuple[LpTrial, np.ndarray | None]:
        """The best run at prompt length ``Lp`` against targets ``Y``, stopping at the first success.

        ``warm``: ``(shorter Lp, padded prompt)``, the start of restart 0 and a
        candidate itself; the given ``P_init`` then starts restart 1.
        """
        best, best_P, best_opt, runs, n_steps = np.inf, None, "", 0, 0
        by_restart, half_steps = [], np.inf
        ts = time.perf_counter()
        start_err = None
        if warm is not None:
            start_err = self.error(warm[1], Y)
            best, best_P, best_opt = start_err, warm[1], "padded"
        for r in range(self.restarts):
            if best <= self.tol:
                break
            P0 = warm[1] if warm is not None and r == 0 else self.start(Lp, r - (warm is not None), P_init)
            run_best = start_err if warm is not None and r == 0 else np.inf
            for opt in self.optimizers:
                self._check_time()
                budget = self.steps if opt == "lbfgs" else self.adam_steps
                res = tune_prompt(self.model, self.X, Y, P0=P0, optimizer=opt, steps=budget, lr=self.lr,
                                  rho=self.rho, target_max_err=self.tol, progress=False)
                runs += 1
                n_steps += res.steps
                errs = res.history["max_err"]
                half_steps = min(half_steps, errs[min(len(errs) - 1, budget // 2)])
                run_best = min(run_best, res.max_err)
                if res.max_err < best:
                    best, best_P, best_opt = res.max_err, res.P, opt
                if res.reached_target:
                    break
            by_restart.append(run_best)
        h = -(-self.restarts // 2)
        half_restarts = float(min(by_restart[:h])) if self.restarts > 1 and len(by_restart) == self.restarts else None
        if start_err is not None:
            half_steps = min(half_steps, start_err)
        trial = LpTrial(Lp, float(best), bool(best <= self.tol), runs, best_opt, n_steps, time.perf_counter() - ts,
                        len(by_restart), half_restarts, None if runs == 0 else float(half_steps),
                        None if warm is None else warm[0], start_err)
        return trial, best_P


def double_then_bisect(attempt, max_Lp: int, lo: int = 1) -> int | None:
    """``Lp = lo, 2 lo, 4 lo, ...`` up to ``max_Lp`` until ``attempt(Lp)`` holds, then bisect; the least or ``None``.

    Shared by the tuning search here and the linear regime (:mod:`promptlimits.linear_regime`).
    """
    lo_fail, Lp = lo - 1, lo
    while not attempt(Lp):
        lo_fail = Lp
        if Lp >= max_Lp:
            return None
        Lp = min(2 * Lp, max_Lp)
    hi_ok = Lp
    while hi_ok - lo_fail > 1:
        mid = (lo_fail + hi_ok) // 2
        if attempt(mid):
            hi_ok = mid
        else:
            lo_fail = mid
    return hi_ok
