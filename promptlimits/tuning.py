"""Soft-prompt tuning: only the prompt ``P`` of a frozen model is trained (docs/theory.md §2).

Two optimizers on the analytic gradient of the MSE:

- ``"adam"``: Adam (Kingma and Ba), projected onto the box ``‖P‖max <= rho``
  after every step when ``rho`` is given;
- ``"lbfgs"``: L-BFGS-B through :func:`scipy.optimize.minimize`, with the box
  as bounds.

Both stop early once the max-abs error reaches ``target_max_err``. Runs are
deterministic for a given seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize
from tqdm.auto import tqdm

from ._checks import SCORE_BLOCK, as_generator, check_choice, check_memory, check_positive_float, check_positive_int
from .backend import as_backend

OPTIMIZERS = ("adam", "lbfgs")
INITS = ("uniform", "normal", "tokens")

def tuning_bytes(d: int, s: int, m: int, *, batch: int, L: int, Lp: int) -> int:
    """About the bytes one tuning step holds (exact attention): weights, dataset, activations, scores.

    For memory checks before any work (``promptlimits._checks.check_memory``):
    the model's weights ``4 d m + 4 d s``, the inputs and targets ``2 batch L
    d``, the activations kept for the backward and their gradients (about
    ``4 d + 2 m + 6 s`` per row of each ``n = Lp + L`` long sequence), and
    six arrays of one chunk of attention scores, all in float64 (within a factor
    1.5 of the measured peak). Python ints, so any size is estimated without overflow.
    """
    n = Lp + L
    scores = min(batch * L * n, max(SCORE_BLOCK, batch * n))
    return 8 * (4 * d * m + 4 * d * s + 2 * batch * L * d + batch * n * (4 * d + 2 * m + 6 * s) + 6 * scores)


def check_tuning_memory(d: int, s: int, m: int, *, batch: int, L: int, Lp: int) -> None:
    """Refuse tuning whose step (:func:`tuning_bytes`) would not fit in the machine's memory, naming the sizes."""
    check_memory(tuning_bytes(d, s, m, batch=batch, L=L, Lp=Lp),
                 f"batch = {batch}, L = {L}, Lp = {Lp} (tuning with d = {d}, s = {s}, m = {m})")


@dataclass
class TuneResult:
    """Outcome of :func:`tune_prompt`.

    ``history`` holds one entry per optimizer step (for L-BFGS-B, per
    iteration) of ``mse``, ``max_err``, the induced norm ``B``, the
    ``backend`` used and the attention plan's bound ``plan_B`` and event
    (:class:`promptlimits.model.LossInfo`); index 0 is the initial prompt.
    ``certifications`` counts the polynomial plans certified during the run
    (one, plus one per time the norm crossed the plan's bound); ``notes``
    lists, once each, why a step ran exact attention where poly was asked.
    ``history["reason"]`` holds why each step used its backend
    (:attr:`promptlimits.backend.Choice.reason`), and ``reasons`` maps each
    backend used to ``{"steps": entries of the history that used it,
    "reason": the reason at the last of them}``.
    """

    P: np.ndarray
    mse: float
    max_err: float
    B: float
    steps: int
    seconds: float
    reached_target: bool
    optimizer: str
    history: dict = field(default_factory=dict)
    certifications: int = 0
    notes: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)

    @property
    def Lp(self) -> int:
        return self.P.shape[0]

    def summary(self) -> dict:
        """A JSON-friendly summary (no arrays but the final prompt)."""
        return {
            "optimizer": self.optimizer, "Lp": self.Lp, "steps": self.steps,
            "seconds": round(self.seconds, 4), "mse": self.mse, "max_err": self.max_err,
            "B": self.B, "reached_target": self.reached_target, "certifications": self.certifications,
        }


def init_prompt(Lp, d, *, init="uniform", X=None, rho=None, scale=1.0, seed=0):
    """An initial prompt of shape ``(Lp, d)``.

    ``uniform``: entries uniform on ``[0, scale]`` (the input range for
    ``scale=1``); ``normal``: Gaussian with standard deviation ``scale``;
    ``tokens``: rows drawn at random from the input tokens ``X``. The result is
    clipped to ``[-rho, rho]`` when ``rho`` is given.
    """
    Lp = check_positive_int(Lp, "prompt length Lp")
    d = check_positive_int(d, "d")
    check_choice(init, "prompt initialisation", INITS)
    rng = as_generator(seed)
    if init == "uniform":
        P = rng.uniform(0.0, scale, size=(Lp, d))
    elif init == "normal":
        P = rng.normal(0.0, scale, size=(Lp, d))
    else:
        if X is None:
            raise ValueError("init='tokens' needs the inputs X")
        tokens = np.asarray(X, dtype=np.float64).reshape(-1, d)
        P = tokens[rng.integers(0, tokens.shape[0], size=Lp)].copy()
    if rho is not None:
        np.clip(P, -rho, rho, out=P)
    return P


def tune_prompt(model, X, Y, *, Lp=None, P0=None, optimizer="adam", steps=500, lr=0.05, rho=None,
                init="uniform", init_scale=1.0, target_max_err=None, seed=0, progress=None,
                backend="exact", attn_eps=1e-6):
    """Tune a soft prompt for ``model`` so that ``model.forward(P, X) ≈ Y``.

    Parameters
    ----------
    model : PromptedModel
    X, Y : arrays of shape ``(batch, L, d)``
    Lp : int
        Prompt length (ignored when ``P0`` is given).
    P0 : array, optional
        Initial prompt; by default one from :func:`init_prompt`.
    optimizer : {"adam", "lbfgs"}
    steps : int
        Adam steps or L-BFGS-B iterations at most.
    lr : float
        Adam step size.
    rho : float, optional
        Box constraint ``‖P‖max <= rho``.
    init, init_scale : see :func:`init_prompt`.
    target_max_err : float, optional
        Stop once the max-abs error is at most this.
    seed : int or Generator
        Seeds the initial prompt; the optimizers are deterministic.
    progress : bool, optional
        Show a progress bar (default: only on a terminal).
    backend : {"exact", "poly", "auto"} or AttentionBackend
        Attention backend for every loss and gradient (see
        :class:`promptlimits.model.PromptedModel`). One
        :class:`~promptlimits.backend.AttentionBackend` serves the whole run,
        so its certified plan is reused from step to step and re-certified
        only when the induced norm crosses the plan's bound;
        ``history["backend"]`` records the attention used at each step.
    attn_eps : float
        Attention-output error certified by the polynomial method.

    Returns
    -------
    TuneResult
    """
    check_choice(optimizer, "optimizer", OPTIMIZERS)
    steps = check_positive_int(steps, "steps", minimum=0)
    lr = check_positive_float(lr, "lr")
    if rho is not None:
        rho = check_positive_float(rho, "rho")
    if target_max_err is not None:
        target_max_err = check_positive_float(target_max_err, "target_max_err")
    if P0 is None:
        if Lp is None:
            raise ValueError("give the prompt length Lp or an initial prompt P0")
        P0 = init_prompt(Lp, model.d, init=init, X=X, rho=rho, scale=init_scale, seed=seed)
    P0, X, Y = model.check_inputs(P0, X, Y)
    if rho is not None and np.abs(P0).max() > rho:
        raise ValueError(f"initial prompt has ‖P0‖max = {np.abs(P0).max():.6g} above rho = {rho:.6g}")
    run = _adam if optimizer == "adam" else _lbfgs
    objective = _Objective(model, X, Y, as_backend(backend, attn_eps))
    t0 = time.perf_counter()
    with tqdm(total=steps, desc=f"tune {optimizer} Lp={P0.shape[0]}", leave=False,
              disable=None if progress is None else not progress) as bar:
        P, history, n_steps = run(objective, P0.copy(), steps, lr, rho, target_max_err, bar)
    seconds = time.perf_counter() - t0
    final = objective.loss(P)
    reached = target_max_err is not None and final.max_err <= target_max_err
    return TuneResult(P, final.mse, final.max_err, final.B, n_steps, seconds, reached, optimizer, history,
                      objective.backend.certifications, list(dict.fromkeys(n for n in history["note"] if n)),
                      backend_reasons(history))


def backend_reasons(history: dict) -> dict:
    """``{backend: {"steps": k, "reason": why, at the last of those k history entries}}``, in order of first use."""
    out: dict = {}
    for backend, reason in zip(history["backend"], history["reason"]):
        entry = out.setdefault(backend, {"steps": 0, "reason": ""})
        entry["steps"] += 1
        entry["reason"] = reason
    return out


class _Objective:
    """The model's loss on one dataset with one backend (which keeps its plan across steps).

    The inputs are checked, and what every step shares (FF1 of the inputs, their queries, keys and values:
    ``PromptedModel._prepare``) computed, once per run; each
    step checks only that the prompt is still finite. The model's gradient bound
    (:attr:`promptlimits.model.LossInfo.grad_bound`) is not computed: the run records no gradient bound.
    """

    def __init__(self, model, X, Y, backend):
        self.model, self.X, self.Y, self.backend = model, X, Y, backend
        self.data = model._prepare(X)

    def _checked(self, P):
        if not np.isfinite(P).all():
            self.model.check_inputs(P, self.X)  # raises, naming the prompt's NaN or infinite entries
        return P

    def loss_and_grad(self, P):
        return self.model._loss_and_grad(self._checked(P), self.data, self.Y, self.backend, grad_bound=False)

    def loss(self, P):
        return self.model._loss(self._checked(P), self.data, self.Y, self.backend)


#: The fields of :class:`promptlimits.model.LossInfo` kept per step.
_HISTORY = ("mse", "max_err", "B", "backend", "plan_B", "plan_event", "note")


def _new_history():
    return {key: [] for key in _HISTORY + ("reason",)}


def _record(history, info, objective):
    """Append ``info``'s fields and why its backend was used (the backend's latest choice: ``info``'s)."""
    for key in _HISTORY:
        history[key].append(getattr(info, key))
    last = objective.backend.last
    history["reason"].append("" if last is None else last.reason)


def _adam(objective, P, steps, lr, rho, target, bar, beta1=0.9, beta2=0.999, tiny=1e-8):
    history = _new_history()
    m = np.zeros_like(P)
    v = np.zeros_like(P)
    k = 0
    for k in range(1, steps + 1):
        info, g = objective.loss_and_grad(P)
        _record(history, info, objective)
        if target is not None and info.max_err <= target:
            return P, history, k - 1
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        P = P - lr * (m / (1 - beta1**k)) / (np.sqrt(v / (1 - beta2**k)) + tiny)
        if rho is not None:
            np.clip(P, -rho, rho, out=P)
        bar.update()
        bar.set_postfix(mse=f"{info.mse:.3g}", max_err=f"{info.max_err:.3g}", refresh=False)
    _record(history, objective.loss(P), objective)
    return P, history, k


def _lbfgs(objective, P, steps, lr, rho, target, bar):
    del lr  # L-BFGS-B chooses its own steps
    shape = P.shape
    history = _new_history()
    last = {}

    def fun(x):
        info, g = objective.loss_and_grad(x.reshape(shape))
        last["x"], last["info"] = x.copy(), info
        return info.mse, g.ravel()

    def callback(intermediate_result):
        x = intermediate_result.x
        info = last["info"] if np.array_equal(last.get("x"), x) else objective.loss(x.reshape(shape))
        _record(history, info, objective)
        bar.update()
        if target is not None and info.max_err <= target:
            raise StopIteration

    _record(history, objective.loss(P), objective)
    if steps == 0:
        return P, history, 0
    bounds = None if rho is None else [(-rho, rho)] * P.size
    res = minimize(fun, P.ravel(), jac=True, method="L-BFGS-B", bounds=bounds, callback=callback,
                   options={"maxiter": steps, "maxfun": 4 * steps + 20, "ftol": 1e-15, "gtol": 1e-12})
    return res.x.reshape(shape), history, int(res.nit)
