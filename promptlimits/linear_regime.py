"""The least memorizing prompt length in the linear regime (docs/theory.md §7.6).

For targets a small step away from a reference output, ``Y_Lp = tau([R_Lp;
X])[Lp:] + gamma B`` (:func:`promptlimits.memorization.relative_hard_family`),
the outputs are nearly linear in the prompt around ``R_Lp``. At each prompt
length tried, :func:`least_lp_linear`

1. forms the Jacobian ``J`` of the ``N L d`` compared outputs with respect to
   the counted prompt entries (``Lp`` rows, ``prompt_cols`` columns) at
   ``R_Lp`` (:func:`promptlimits.jacobian.prompt_jacobian`) and its numerical
   rank: the number of singular values above ``rank_rtol`` times the largest
   (from the eigenvalues of the Gram matrix of the shorter side,
   ``scipy.linalg.eigvalsh``);
2. if ``J`` has full row rank, runs Gauss--Newton from ``R_Lp``: minimum-norm
   steps ``J^T (J J^T)^-1 r`` (``scipy.linalg.cho_factor``), the Jacobian
   recomputed at every step, until the max-abs error on the compared outputs
   is at most ``tol`` and the prompt is still within ``rho`` of ``R_Lp`` (max
   norm), or ``gn_steps`` steps are spent.

A success is a certificate: a prompt of that length, checked by a forward pass,
that memorizes the dataset within ``tol`` inside the box of the counting bound.
Full row rank needs ``Lp * len(prompt_cols) >= N L d``, so no length below
``lo = ceil(N L d / len(prompt_cols))`` can pass step 1. The search finds the
least full-rank length by ``lo, 2 lo, 4 lo, ...`` (up to ``max_Lp``) and
bisection (assuming full rank persists once reached; every length tried is
reported), then runs step 2 there and, if it fails, at ``max(Lp + 1,
ceil(1.125 Lp))`` and so on. The least success is the result; when no length up
to ``max_Lp`` succeeds the result says "not reached within budget" and gives
no number.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import scipy.linalg

from ._checks import check_positive_float, check_positive_int
from .jacobian import prompt_jacobian
from .memorization import NOT_REACHED, REACHED, LeastLpResult, double_then_bisect

__all__ = ["LinearTrial", "LinearResult", "least_lp_linear", "memorizes_at", "numerical_rank", "RANK_RTOL"]

#: Gauss--Newton refreshes its Jacobian every this many steps (in between it reuses the factorization).
REFRESH = 3

#: After a failed solve the next length tried is ``max(Lp + 1, ceil(GROWTH * Lp))``.
GROWTH = 1.125

#: Default relative tolerance of the numerical rank: singular values above ``RANK_RTOL * sigma_max`` count.
RANK_RTOL = 1e-7


@dataclass(frozen=True)
class LinearTrial:
    """One prompt length: the Jacobian's shape and numerical rank, and the Gauss--Newton outcome."""

    Lp: int
    rows: int
    cols: int
    rank: int
    sigma_ratio: float  # smallest counted-side singular value / largest
    probe: float  # ‖J‖_(inf->inf) at the reference: a difference quotient the prompt reaches (for K_P)
    max_err: float  # max-abs error after Gauss--Newton (the reference's error when the rank is short)
    step_max: float  # ||P - R_Lp||max of the final prompt
    gn_steps: int
    reached: bool
    seconds: float

    @property
    def full_rank(self) -> bool:
        return self.rank == self.rows


@dataclass
class LinearResult(LeastLpResult):
    """Outcome of :func:`least_lp_linear` (fields of :class:`~promptlimits.memorization.LeastLpResult`).

    ``least_Lp`` is ``None`` unless ``status`` is ``"reached"``; ``lo`` is the
    dimension count ``ceil(N L d / D)``, ``rank_rtol`` the rank's tolerance.
    """

    rank_rtol: float = RANK_RTOL
    lo: int = 1

    def trial(self, Lp: int) -> LinearTrial | None:
        return next((t for t in self.trials if t.Lp == Lp), None)

    def best_err_by_Lp(self) -> dict:
        return {t.Lp: t.max_err for t in sorted(self.trials, key=lambda t: t.Lp)}

    def trials_text(self) -> str:
        """``"Lp:rank/rows:err;..."`` sorted by ``Lp`` (for CSV cells)."""
        return ";".join(f"{t.Lp}:{t.rank}/{t.rows}:{t.max_err:.3g}" for t in sorted(self.trials, key=lambda t: t.Lp))

    def summary(self) -> dict:
        return {"least_Lp": self.least_Lp, "status": self.status, "tol": self.tol, "rank_rtol": self.rank_rtol,
                "lo": self.lo, "max_Lp": self.max_Lp, "seconds": round(self.seconds, 3),
                "trials": [asdict(t) for t in self.trials]}


def numerical_rank(J, rtol=RANK_RTOL) -> tuple[int, float]:
    """``(rank, sigma_min / sigma_max)`` of ``J``: singular values above ``rtol * sigma_max``.

    The singular values come from the eigenvalues of the Gram matrix of the
    shorter side (accurate to about ``1e-8 sigma_max``, so ``rtol`` must be
    at least ``1e-7``).
    """
    if not 1e-7 <= rtol < 1:
        raise ValueError(f"rank_rtol must be in [1e-7, 1), got {rtol}")
    J = np.asarray(J, dtype=np.float64)
    G = J @ J.T if J.shape[0] <= J.shape[1] else J.T @ J
    lam = scipy.linalg.eigvalsh(G)
    sig = np.sqrt(np.maximum(lam, 0.0))
    top = float(sig.max()) if sig.size else 0.0
    if top == 0.0:
        return 0, 0.0
    return int((sig > rtol * top).sum()), float(sig.min() / top)


class _Solver:
    """Jacobian, rank and Gauss--Newton at one prompt length (module docstring)."""

    def __init__(self, model, X, tol, rho, out_cols, prompt_cols, gn_steps, rank_rtol, box_rho=None):
        self.model, self.X, self.tol, self.rho, self.box_rho = model, X, tol, rho, box_rho
        self.out_cols, self.prompt_cols = out_cols, prompt_cols
        self.gn_steps, self.rank_rtol = gn_steps, rank_rtol

    def residual(self, P, Y):
        return (Y - self.model.forward(P, self.X))[..., self.out_cols].ravel()

    def jacobian(self, P):
        return prompt_jacobian(self.model, P, self.X, out_cols=self.out_cols, prompt_cols=self.prompt_cols)

    def rank(self, Lp, Y, R) -> tuple[LinearTrial, np.ndarray, np.ndarray]:
        """Step 1 at ``R``: the Jacobian, its numerical rank and the residual (no solve yet)."""
        t0 = time.perf_counter()
        J = self.jacobian(R)
        rank, ratio = numerical_rank(J, self.rank_rtol)
        r = self.residual(R, Y)
        probe = float(np.abs(J).sum(axis=1).max())
        return LinearTrial(Lp, J.shape[0], J.shape[1], rank, ratio, probe, float(np.abs(r).max()), 0.0, 0, False,
                           time.perf_counter() - t0), J, r

    def solve(self, trial, J, Y, R, r) -> tuple[LinearTrial, np.ndarray | None]:
        """Step 2: Gauss--Newton from ``R`` (residual ``r`` there); the Jacobian refreshed every ``REFRESH`` steps."""
        t0 = time.perf_counter()
        P = R.copy()
        steps, factor = 0, None
        while np.abs(r).max() > self.tol and steps < self.gn_steps:
            if steps % REFRESH == 0:
                J = J if steps == 0 else self.jacobian(P)
                try:
                    factor = scipy.linalg.cho_factor(J @ J.T)
                except scipy.linalg.LinAlgError:
                    break
            P[:, self.prompt_cols] += (J.T @ scipy.linalg.cho_solve(factor, r)).reshape(P.shape[0], -1)
            r = self.residual(P, Y)
            steps += 1
        err, dist = float(np.abs(r).max()), float(np.abs(P - R).max())
        if self.box_rho is None:
            ok = err <= self.tol and dist <= self.rho
        else:  # the whole box ||P||max <= box_rho, whatever the reference
            ok = err <= self.tol and float(np.abs(P).max()) <= self.box_rho
        done = LinearTrial(trial.Lp, trial.rows, trial.cols, trial.rank, trial.sigma_ratio, trial.probe, err, dist,
                           steps, bool(ok), trial.seconds + time.perf_counter() - t0)
        return done, (P if ok else None)


def least_lp_linear(model, X, targets, tol, *, rho, out_cols=None, prompt_cols=None, max_Lp=4096, gn_steps=6,
                    rank_rtol=RANK_RTOL, box_rho=None) -> LinearResult:
    """Least ``Lp`` at which the linear-regime method memorizes ``targets`` within ``tol`` (module docstring).

    Parameters
    ----------
    model : PromptedModel
    X : array ``(N, L, model.d)``
    targets : callable ``Lp -> (Y_Lp, R_Lp)``
        Targets (full model width) and reference prompt, e.g.
        :func:`promptlimits.memorization.relative_hard_family`.
    tol : float
        Max-abs error allowed on the compared outputs.
    rho : float
        A success must stay within ``rho`` of ``R_Lp`` (max norm).
    out_cols, prompt_cols : sequence of int, optional
        Compared output columns and counted prompt columns (default all).
    max_Lp : int
        Largest prompt length tried.
    gn_steps : int
        Gauss--Newton steps per length.
    rank_rtol : float
        Relative tolerance of the numerical rank (:func:`numerical_rank`).
    box_rho : float, optional
        When given, a success must lie in the whole box ``‖P‖max <= box_rho``
        instead of within ``rho`` of ``R_Lp`` (the memorization sandwich's prompt set).
    """
    tol = check_positive_float(tol, "tol")
    rho = check_positive_float(rho, "rho")
    max_Lp = check_positive_int(max_Lp, "max_Lp")
    gn_steps = check_positive_int(gn_steps, "gn_steps")
    X = np.asarray(X, dtype=np.float64)
    out_cols = np.arange(model.d) if out_cols is None else np.asarray(out_cols, dtype=np.int64)
    prompt_cols = np.arange(model.d) if prompt_cols is None else np.asarray(prompt_cols, dtype=np.int64)
    rows = X.shape[0] * X.shape[1] * out_cols.size
    lo = max(1, math.ceil(rows / prompt_cols.size))
    t0 = time.perf_counter()
    if box_rho is not None:
        box_rho = check_positive_float(box_rho, "box_rho")
    solver = _Solver(model, X, tol, rho, out_cols, prompt_cols, gn_steps, rank_rtol, box_rho)
    trials: dict[int, LinearTrial] = {}
    prompts: dict[int, np.ndarray | None] = {}
    pending: dict[int, tuple] = {}  # full-rank lengths not solved yet: (J, Y, R, residual at R)

    def full_rank(Lp):
        if Lp not in trials:
            Y, R = targets(Lp)
            trials[Lp], J, r = solver.rank(Lp, Y, R)
            if trials[Lp].full_rank:
                pending[Lp] = (J, Y, R, r)
        return trials[Lp].full_rank

    def solves(Lp):
        if not full_rank(Lp):
            return False
        if Lp in pending:
            J, Y, R, r = pending.pop(Lp)
            trials[Lp], prompts[Lp] = solver.solve(trials[Lp], J, Y, R, r)
        return trials[Lp].reached

    least = None
    Lp = double_then_bisect(full_rank, max_Lp, lo) if lo <= max_Lp else None
    while Lp is not None and least is None:  # Gauss--Newton from the least full-rank length upwards
        if solves(Lp):
            least = Lp
        elif Lp >= max_Lp:
            break
        else:
            Lp = min(max_Lp, max(Lp + 1, math.ceil(GROWTH * Lp)))
    order = list(trials.values())
    status = NOT_REACHED if least is None else REACHED
    return LinearResult(least, status, tol, max_Lp, order, time.perf_counter() - t0,
                        None if least is None else prompts[least], rank_rtol=rank_rtol, lo=lo)


def memorizes_at(model, X, targets, tol, Lp, *, rho, gn_steps=12, rank_rtol=RANK_RTOL) -> LinearTrial:
    """The linear-regime method at one length ``Lp``: rank, then Gauss--Newton from ``R_Lp`` (every column).

    ``trial.reached`` is a certificate (a forward-checked prompt within ``rho``
    of ``R_Lp``); ``False`` is a search limit. Used for a fixed model's capacity
    curve: the largest ``N`` memorized at each ``Lp``.
    """
    tol = check_positive_float(tol, "tol")
    rho = check_positive_float(rho, "rho")
    Lp = check_positive_int(Lp, "Lp")
    gn_steps = check_positive_int(gn_steps, "gn_steps")
    X = np.asarray(X, dtype=np.float64)
    cols = np.arange(model.d)
    solver = _Solver(model, X, tol, rho, cols, cols, gn_steps, rank_rtol)
    Y, R = targets(Lp)
    trial, J, r = solver.rank(Lp, Y, R)
    if not trial.full_rank:
        return trial
    return solver.solve(trial, J, Y, R, r)[0]
