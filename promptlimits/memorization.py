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

__all__ = ["LpTrial", "LeastLpResult", "least_prompt_length", "relative_hard_family", "NOT_REACHED", "REACHED"]

REACHED = "reached"
NOT_REACHED = "not reached within budget"


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

    ``least_Lp`` is the least prompt length found to memorize within ``tol``
    (``None`` when ``status`` is ``"not reached within budget"``); ``trials``
    holds every ``Lp`` tried, in the order tried; ``P`` is the memorizing
    prompt of length ``least_Lp``.
    """

    least_Lp: int | None
    status: str
    tol: float
    max_Lp: int
    trials: list = field(default_factory=list)
    seconds: float = 0.0
    P: np.ndarray | None = None
    bisected: bool = True  # False when the time budget cut the bisection short (least_Lp then only suffices)

    @property
    def reached(self) -> bool:
        return self.status == REACHED

    def best_err_by_Lp(self) -> dict:
        """``{Lp: best max-abs error}`` over every ``Lp`` tried, sorted by ``Lp``."""
        return {t.Lp: t.best_max_err for t in sorted(self.trials, key=lambda t: t.Lp)}

    def trials_text(self) -> str:
        """``"1:0.0159;2:0.0107;..."``: compact, sorted by ``Lp`` (for CSV cells)."""
        return ";".join(f"{Lp}:{e:.4g}" for Lp, e in self.best_err_by_Lp().items())

    def summary(self) -> dict:
        return {"least_Lp": self.least_Lp, "status": self.status, "tol": self.tol, "max_Lp": self.max_Lp,
                "seconds": round(self.seconds, 3), "bisected": self.bisected, "trials": [asdict(t) for t in self.trials]}


def relative_hard_family(model, X, gamma, *, rho, seed=0, ref_seed=12345, max_rows=4096):
    """Hard-family targets on top of a reference prompt's output (see the module docstring).

    Returns ``targets(Lp) -> (Y_Lp, R_Lp)`` for :func:`least_prompt_length`,
    with bits ``B`` drawn once from ``seed`` and the reference rows from
    ``ref_seed`` (nested: ``R_Lp`` is the first ``Lp`` rows of ``R_max``).
    """
    gamma = check_positive_float(gamma, "gamma")
    rho = check_positive_float(rho, "rho")
    X = np.asarray(X, dtype=np.float64)
    offset = hard_family(X, gamma, seed=seed)
    rows = as_generator(ref_seed).uniform(-rho / 2, rho / 2, size=(max_rows, model.d))

    def targets(Lp):
        if Lp > max_rows:
            raise ValueError(f"Lp = {Lp} exceeds the {max_rows} reference rows")
        R = rows[:Lp].copy()
        return model.forward(R, X) + offset, R

    return targets


def _as_targets(Y, X):
    if callable(Y):
        return Y
    Y = np.asarray(Y, dtype=np.float64)
    if Y.shape != np.shape(X):
        raise ValueError(f"targets Y must have the shape of X {np.shape(X)}, got {Y.shape}")
    return lambda Lp: (Y, None)


def least_prompt_length(model, X, Y, tol, *, rho, max_Lp=32, steps=300, adam_steps=None, restarts=2,
                        optimizers=("lbfgs", "adam"), lr=0.05, init_scale=1.0, seed=0,
                        time_budget=None) -> LeastLpResult:
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
    time_budget : float, optional
        Seconds; when exceeded the search stops and, unless a success is
        already bracketed, reports ``"not reached within budget"``.

    Returns
    -------
    LeastLpResult
    """
    tol = check_positive_float(tol, "tol")
    rho = check_positive_float(rho, "rho")
    max_Lp = check_positive_int(max_Lp, "max_Lp")
    steps = check_positive_int(steps, "steps")
    adam_steps = 3 * steps if adam_steps is None else check_positive_int(adam_steps, "adam_steps")
    restarts = check_positive_int(restarts, "restarts")
    optimizers = tuple(optimizers)
    if not optimizers:
        raise ValueError("give at least one optimizer")
    for opt in optimizers:
        check_choice(opt, "optimizer", OPTIMIZERS)
    runs = _Runs(model, X, tol, rho, steps, adam_steps, restarts, optimizers, lr, init_scale, seed)
    targets = _as_targets(Y, X)
    t0 = time.perf_counter()
    trials: dict[int, LpTrial] = {}
    prompts: dict[int, np.ndarray] = {}
    order: list[LpTrial] = []

    def attempt(Lp):
        if Lp not in trials:
            trials[Lp], prompts[Lp] = runs.best_at(Lp, *targets(Lp))
            order.append(trials[Lp])
        return trials[Lp]

    def over_time():
        return time_budget is not None and time.perf_counter() - t0 > time_budget

    lo_fail, hi_ok = _double_then_bisect(attempt, max_Lp, over_time)
    seconds = time.perf_counter() - t0
    if hi_ok is None:
        return LeastLpResult(None, NOT_REACHED, tol, max_Lp, order, seconds, None)
    return LeastLpResult(hi_ok, REACHED, tol, max_Lp, order, seconds, prompts[hi_ok], hi_ok - lo_fail <= 1)


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


def _double_then_bisect(attempt, max_Lp: int, over_time) -> tuple[int, int | None]:
    """``Lp = 1, 2, 4, ...`` up to ``max_Lp`` until one succeeds, then bisect; ``(last failure, success)``."""
    lo_fail, hi_ok = 0, None
    Lp = 1
    while not over_time():
        if attempt(Lp).reached:
            hi_ok = Lp
            break
        lo_fail = Lp
        if Lp >= max_Lp:
            break
        Lp = min(2 * Lp, max_Lp)
    while hi_ok is not None and hi_ok - lo_fail > 1 and not over_time():
        mid = (lo_fail + hi_ok) // 2
        if attempt(mid).reached:
            hi_ok = mid
        else:
            lo_fail = mid
    return lo_fail, hi_ok
