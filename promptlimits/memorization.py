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
from dataclasses import asdict, dataclass, field

import numpy as np

from ._checks import as_generator, check_choice, check_positive_float, check_positive_int
from .datasets import hard_family
from .tuning import OPTIMIZERS, init_prompt, tune_prompt

__all__ = ["LpTrial", "LeastLpResult", "least_prompt_length", "tune_at", "relative_hard_family",
           "construction_reference", "NOT_REACHED", "REACHED", "STOPPED", "REFERENCE_ROWS"]

REACHED = "reached"
NOT_REACHED = "not reached within budget"
STOPPED = "stopped by time limit"

#: Rows of the reference prompt of :func:`relative_hard_family` (the largest ``Lp`` it serves).
REFERENCE_ROWS = 4096


@dataclass(frozen=True)
class LpTrial:
    """One prompt length tried: the best max-abs error over restarts and optimizers."""

    Lp: int
    best_max_err: float
    reached: bool
    runs: int
    optimizer: str
    steps: int
    seconds: float


@dataclass
class LeastLpResult:
    """Outcome of :func:`least_prompt_length`.

    ``status`` is :data:`REACHED`, :data:`NOT_REACHED` or :data:`STOPPED`;
    ``least_Lp`` is the least prompt length found to memorize within ``tol``
    (``None`` unless reached); ``trials`` holds every ``Lp`` tried, in the
    order tried; ``P`` is the memorizing prompt of length ``least_Lp``.
    ``seconds`` is the wall time (a timing, never part of the result).
    """

    least_Lp: int | None
    status: str
    tol: float
    max_Lp: int
    trials: list = field(default_factory=list)
    seconds: float = 0.0
    P: np.ndarray | None = None

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
                "seconds": round(self.seconds, 3), "trials": [asdict(t) for t in self.trials]}


def relative_hard_family(model, X, gamma, *, rho, q=2, seed=0, ref_seed=12345, max_rows=REFERENCE_ROWS,
                         reference=None, out_cols=None):
    """Hard-family targets on top of a reference prompt's output (see the module docstring).

    Returns ``targets(Lp) -> (Y_Lp, R_Lp)`` for :func:`least_prompt_length`
    and :func:`promptlimits.linear_regime.least_lp_linear`, with levels ``B``
    in ``{0..q-1}`` drawn once from ``seed`` and added to the compared
    columns ``out_cols`` (default all). The reference ``R_Lp`` is
    ``reference(Lp)`` when given (e.g. :func:`construction_reference`), else the
    first ``Lp`` of ``max_rows`` rows drawn uniformly in ``[-rho/2, rho/2]``
    from ``ref_seed``.
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

    def targets(Lp):
        R = reference(Lp)
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


def _as_targets(Y, X):
    if callable(Y):
        return Y
    Y = np.asarray(Y, dtype=np.float64)
    if Y.shape != np.shape(X):
        raise ValueError(f"targets Y must have the shape of X {np.shape(X)}, got {Y.shape}")
    return lambda Lp: (Y, None)


def least_prompt_length(model, X, Y, tol, *, rho, max_Lp=32, steps=300, adam_steps=None, restarts=2,
                        optimizers=("lbfgs", "adam"), lr=0.05, init_scale=1.0, seed=0,
                        time_limit=None) -> LeastLpResult:
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

    def attempt(Lp):
        if Lp not in trials:
            trials[Lp], prompts[Lp] = runs.best_at(Lp, *targets(Lp))
            order.append(trials[Lp])
        return trials[Lp]

    try:
        hi_ok = double_then_bisect(lambda Lp: attempt(Lp).reached, max_Lp)
    except _TimeLimit:
        return LeastLpResult(None, STOPPED, tol, max_Lp, order, time.perf_counter() - t0, None)
    seconds = time.perf_counter() - t0
    if hi_ok is None:
        return LeastLpResult(None, NOT_REACHED, tol, max_Lp, order, seconds, None)
    return LeastLpResult(hi_ok, REACHED, tol, max_Lp, order, seconds, prompts[hi_ok])


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

    def start(self, Lp: int, r: int, P_init) -> np.ndarray:
        """Restart ``r``'s initial prompt: the given one, then perturbed copies (or fresh prompts)."""
        rng = np.random.default_rng([int(self.seed), Lp, r])
        if P_init is not None and r == 0:
            return np.clip(P_init, -self.rho, self.rho)
        if P_init is not None:
            return np.clip(P_init + rng.normal(0.0, 0.1 * self.rho, size=P_init.shape), -self.rho, self.rho)
        return init_prompt(Lp, self.model.d, init="normal", rho=self.rho, scale=self.init_scale, seed=rng)

    def best_at(self, Lp: int, Y, P_init) -> tuple[LpTrial, np.ndarray | None]:
        """The best run at prompt length ``Lp`` against targets ``Y``, stopping at the first success."""
        best, best_P, best_opt, runs, n_steps = np.inf, None, "", 0, 0
        ts = time.perf_counter()
        for r in range(self.restarts):
            P0 = self.start(Lp, r, P_init)
            for opt in self.optimizers:
                self._check_time()
                res = tune_prompt(self.model, self.X, Y, P0=P0, optimizer=opt,
                                  steps=self.steps if opt == "lbfgs" else self.adam_steps, lr=self.lr, rho=self.rho,
                                  target_max_err=self.tol, progress=False)
                runs += 1
                n_steps += res.steps
                if res.max_err < best:
                    best, best_P, best_opt = res.max_err, res.P, opt
                if res.reached_target:
                    break
            if best <= self.tol:
                break
        trial = LpTrial(Lp, float(best), bool(best <= self.tol), runs, best_opt, n_steps, time.perf_counter() - ts)
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
