"""The prompted one-layer, one-head transformer ``tau = FF2 o Attn o FF1`` (docs/theory.md §2).

Tokens are rows. For a prompt ``P`` of shape ``(Lp, d)`` and inputs ``X`` of
shape ``(batch, L, d)`` the model reads ``Z = [P; X]`` (``n = Lp + L`` rows per
sequence) and predicts ``Yhat = tau(Z)[Lp:]``::

    FF(Z)   = Z + relu(Z W1 + b1) W2 + b2
    Attn(Z) = Z + softmax_rows(scale (Z WQ)(Z WK)^T) (Z WV) WO

Attention runs on one of three backends (docs/theory.md §2.3): ``"exact"``
(chunked, stable), ``"poly"`` (the polynomial method of docs/theory.md §3, with a plan
certified for the induced norm, kept while the norm stays within its bound) or
``"auto"`` (poly where a plan certified at ``attn_eps`` is cheaper than exact,
else exact); :mod:`promptlimits.backend`. The backend used, the plan's bound
and whether it was reused or re-certified are reported in :class:`LossInfo`.

Only ``P`` is trained; the weights are frozen. Because ``Attn`` and ``FF2`` act
on each query row separately, only the ``L`` output rows need queries: the
attention computed is the ``L x n`` block of the ``n x n`` attention matrix, with
all ``n`` rows as keys and values. The gradient of the loss with respect to
``P`` is analytic (reverse mode through the three layers) and is checked
against finite differences in the tests.

Positional encoding (docs/theory.md §2). A model may carry position rows ``E``
of shape ``(L_max, d)``; row ``i`` is added to input row ``i`` (never to the
prompt rows), so the model reads ``Z = [P; X + E[:L]]``. Default: none, and the
model is exactly what it was before. Without ``E`` the model is
permutation-equivariant in the input rows: FF1, FF2 and the per-query attention
act on each row alone, and the keys and values are a set, so for any
permutation ``pi`` of the ``L`` input rows ``tau([P; pi X])[Lp:] = pi
tau([P; X])[Lp:]`` for every prompt. Such a model cannot memorize a grid
dataset with ``L >= 2`` and independent targets: the grid ``G_delta`` contains
sequences whose rows are all equal (for ``k = 1`` it is the only point), and
there the ``L`` output rows are equal, while independent targets (the hard
family of docs/theory.md §7) differ between rows; and it contains ``X`` and
``pi X`` as two points whose targets equivariance ties together. ``E`` breaks
both ties; the construction of :mod:`promptlimits.construct` uses it to tell
each token its position.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import __version__
from ._checks import as_float_array, as_generator, check_choice, check_positive_float, check_positive_int, check_real
from ._io import atomic_write_bytes
from .attention import VARIANTS, exact_attention, exact_attention_backward
from .backend import BACKENDS as BACKENDS  # re-exported: promptlimits.model.BACKENDS is public
from .backend import as_backend
from .gradient_bound import prompt_gradient_bound

_WEIGHT_NAMES = ("W1a", "b1a", "W2a", "b2a", "WQ", "WK", "WV", "WO", "W1b", "b1b", "W2b", "b2b")


@dataclass(frozen=True)
class FFWeights:
    """Weights of ``FF(Z) = Z + relu(Z W1 + b1) W2 + b2``."""

    W1: np.ndarray  # (d, m)
    b1: np.ndarray  # (m,)
    W2: np.ndarray  # (m, d)
    b2: np.ndarray  # (d,)

    def forward(self, Z):
        """Return ``FF(Z)`` and the pre-activation ``U = Z W1 + b1`` (kept for the backward)."""
        # rows flattened to one matrix: a stack of (L, d) @ (d, m) products is many times slower in NumPy
        # in place where the result is the same to the last bit (x + y = y + x): each large temporary costs
        # the page faults of fresh memory, which at a large batch cost more than the arithmetic
        Z2 = Z.reshape(-1, Z.shape[-1])
        U = Z2 @ self.W1
        U += self.b1
        out = np.maximum(U, 0.0) @ self.W2
        out += Z2
        out += self.b2
        return out.reshape(Z.shape[:-1] + (out.shape[-1],)), U.reshape(Z.shape[:-1] + (U.shape[-1],))

    def backward(self, dY, U):
        """Gradient with respect to the input ``Z`` given ``dL/dFF(Z) = dY``: ``dY + ((dY W2^T) * [U > 0]) W1^T``."""
        g = dY @ self.W2.T
        g = np.multiply(g, U > 0, out=g) if g.shape == U.shape else g * (U > 0)
        out = g @ self.W1.T
        out += dY
        return out


@dataclass(frozen=True)
class LossInfo:
    """Loss of a prompt on a dataset: MSE (trained), max-abs error, induced norm, backend used.

    ``attn_bound`` is the certified bound on the max error of the attention
    output when the polynomial backend was used (0 for exact). ``grad_bound``
    bounds ``max |dMSE/dP (poly) - dMSE/dP (exact)|`` in exact arithmetic
    (docs/theory.md §4.5, :mod:`promptlimits.gradient_bound`), set by
    :meth:`PromptedModel.loss_and_grad` with the polynomial backend; 0 for
    exact, ``None`` where no gradient was computed (and in the steps of a
    tuning run, which records no gradient bound). ``plan_B`` is
    the bound of the plan used (0 for exact) and ``plan_event`` what the
    backend did (:class:`promptlimits.backend.AttentionBackend`): ``"built"``,
    ``"reused"``, ``"recertified"`` (the norm crossed the previous plan's
    bound), ``"exact: cheaper"``, ``"exact: not certifiable"`` (then ``note``
    says why) or ``"exact"``.
    """

    mse: float
    max_err: float
    B: float
    backend: str = "exact"
    attn_bound: float = 0.0
    grad_bound: float | None = 0.0
    plan_B: float = 0.0
    plan_event: str = "exact"
    note: str = ""


@dataclass(frozen=True)
class InducedNorm:
    """Soft-prompt-induced norm ``B(P, X) = max(‖Q‖max, ‖K‖max)`` (docs/theory.md §2.4).

    ``B`` is over every row of every sequence, ``B_prompt`` over the first
    ``Lp`` rows, ``B_input`` over the last ``L`` rows.
    """

    B: float
    B_prompt: float
    B_input: float


@dataclass(frozen=True)
class _Inputs:
    """What every forward on one set of inputs ``X`` shares, whatever the prompt.

    FF1 acts on each row alone and the input rows' queries, keys and values do
    not depend on the prompt, so a tuning run (:func:`promptlimits.tuning.tune_prompt`)
    computes them once: ``Hx = FF1(X + E)``, ``Q = Hx WQ``, ``Kx = Hx WK``,
    ``Vx = Hx WV`` (each ``(batch, L, .)``), ``B_input = max(|Q|max, |Kx|max)``
    and ``vx_max``, each sequence's ``|Vx|max``.
    """

    X: np.ndarray
    Hx: np.ndarray
    Q: np.ndarray
    Kx: np.ndarray
    Vx: np.ndarray
    B_input: float
    vx_max: np.ndarray


@dataclass(frozen=True)
class PromptedModel:
    """A frozen one-layer, one-head transformer with a trainable soft prompt.

    Build one with :meth:`from_seed`, :meth:`load` or
    :func:`promptlimits.construct.build`. Attributes ``d`` (token width), ``s``
    (head size), ``m`` (feed-forward width), ``scale`` (logit multiplier,
    default ``1/s``), ``variant`` (``"softmax"`` or ``"softmax1"``) and ``E``
    (position rows added to the input rows, or ``None``; module docstring)
    describe the architecture.
    """

    ff1: FFWeights
    WQ: np.ndarray  # (d, s)
    WK: np.ndarray  # (d, s)
    WV: np.ndarray  # (d, s)
    WO: np.ndarray  # (s, d)
    ff2: FFWeights
    scale: float
    variant: str = "softmax"
    metadata: dict = field(default_factory=dict, compare=False)
    E: np.ndarray | None = None  # (L_max, d) position rows added to the input rows, or None

    def __post_init__(self):
        check_choice(self.variant, "attention variant", VARIANTS)
        self._check_weights()
        d, s = self.WQ.shape
        m = self.ff1.W1.shape[1]
        shapes = {
            "ff1.W1": (self.ff1.W1.shape, (d, m)), "ff1.b1": (self.ff1.b1.shape, (m,)),
            "ff1.W2": (self.ff1.W2.shape, (m, d)), "ff1.b2": (self.ff1.b2.shape, (d,)),
            "WK": (self.WK.shape, (d, s)), "WV": (self.WV.shape, (d, s)), "WO": (self.WO.shape, (s, d)),
            "ff2.W1": (self.ff2.W1.shape, (d, self.ff2.W1.shape[1])),
            "ff2.b1": (self.ff2.b1.shape, (self.ff2.W1.shape[1],)),
            "ff2.W2": (self.ff2.W2.shape, (self.ff2.W1.shape[1], d)), "ff2.b2": (self.ff2.b2.shape, (d,)),
        }
        for name, (got, want) in shapes.items():
            if got != want:
                raise ValueError(f"weight {name} has shape {got}, expected {want}")
        check_positive_float(self.scale, "scale")
        if self.E is not None:
            E = as_float_array(self.E, "positional rows E", ndim=2, dtype=np.float64)
            if E.shape[1] != d or E.shape[0] < 1:
                raise ValueError(f"positional rows E must have shape (L_max, {d}) with L_max >= 1, got {E.shape}")
            object.__setattr__(self, "E", E)

    def _check_weights(self):
        """Every weight a finite real float64 array of the right rank (NaN, inf and non-numbers refused)."""
        for name in ("ff1", "ff2"):
            ff = getattr(self, name)
            if not isinstance(ff, FFWeights):
                raise TypeError(f"{name} must be FFWeights, got {type(ff).__name__}")
            arrays = {f: as_float_array(getattr(ff, f), f"weight {name}.{f}", ndim=1 if f[0] == "b" else 2,
                                        dtype=np.float64) for f in ("W1", "b1", "W2", "b2")}
            object.__setattr__(self, name, FFWeights(**arrays))
        for name in ("WQ", "WK", "WV", "WO"):
            object.__setattr__(self, name, as_float_array(getattr(self, name), f"weight {name}", ndim=2,
                                                          dtype=np.float64))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_seed(cls, d, *, s=None, m=None, seed=0, scale=None, variant="softmax", weight_scale=1.0,
                  positions=None):
        """Random frozen weights from a seed.

        Entries are Gaussian with standard deviation ``weight_scale / sqrt(fan_in)``;
        biases are Gaussian with standard deviation ``0.1 * weight_scale``.
        With ``positions`` the position rows ``E`` (``positions x d``) are
        Gaussian with standard deviation ``weight_scale``, drawn after every
        other weight, so the other weights are those of the same seed without
        ``positions``.

        Parameters
        ----------
        d : int
            Token width.
        s : int, optional
            Head size (default ``d``).
        m : int, optional
            Feed-forward width (default ``4 d``).
        seed : int or numpy Generator
        scale : float or {"1/s", "1/sqrt(s)"}, optional
            Logit multiplier; default ``1/s`` (Alman--Song's ``exp(QK^T/d)``).
        variant : {"softmax", "softmax1"}
        weight_scale : float
            Multiplies every weight's standard deviation.
        positions : int, optional
            Longest input ``L_max`` with position rows; default none.
        """
        d = check_positive_int(d, "d")
        s = d if s is None else check_positive_int(s, "s")
        m = 4 * d if m is None else check_positive_int(m, "m")
        rng = as_generator(seed)
        ws = check_real(weight_scale, "weight_scale", low=0.0)

        def w(shape, fan_in):
            return rng.normal(0.0, ws / np.sqrt(fan_in), size=shape)

        def ff():
            return FFWeights(w((d, m), d), rng.normal(0, 0.1 * ws, m), w((m, d), m), rng.normal(0, 0.1 * ws, d))

        ff1 = ff()
        WQ, WK, WV, WO = w((d, s), d), w((d, s), d), w((d, s), d), w((s, d), s)
        ff2 = ff()
        E = None if positions is None else rng.normal(0.0, ws, (check_positive_int(positions, "positions"), d))
        meta = {"seed": seed if isinstance(seed, int) else None, "weight_scale": ws}
        return cls(ff1, WQ, WK, WV, WO, ff2, _resolve_scale(scale, s), variant, meta, E)

    # ------------------------------------------------------------------ sizes
    @property
    def d(self) -> int:
        return self.WQ.shape[0]

    @property
    def s(self) -> int:
        return self.WQ.shape[1]

    @property
    def m(self) -> int:
        return self.ff1.W1.shape[1]

    # ------------------------------------------------------------------ input checks
    def check_inputs(self, P, X, Y=None):
        """Validate ``P (Lp, d)``, ``X (batch, L, d)`` and ``Y`` (shape of ``X``)."""
        P = as_float_array(P, "prompt P", ndim=2, dtype=np.float64)
        X = as_float_array(X, "inputs X", ndim=3, dtype=np.float64)
        if P.shape[0] < 1:
            raise ValueError(f"prompt length Lp must be >= 1, got P of shape {P.shape}")
        if P.shape[1] != self.d:
            raise ValueError(f"prompt P must have d={self.d} columns, got shape {P.shape}")
        if X.shape[2] != self.d or X.shape[1] < 1 or X.shape[0] < 1:
            raise ValueError(f"inputs X must have shape (batch, L, {self.d}) with batch, L >= 1, got {X.shape}")
        if self.E is not None and X.shape[1] > self.E.shape[0]:
            raise ValueError(f"inputs X have L = {X.shape[1]} rows, more than the {self.E.shape[0]} positional rows E")
        if Y is None:
            return P, X
        Y = as_float_array(Y, "targets Y", ndim=3, dtype=np.float64)
        if Y.shape != X.shape:
            raise ValueError(f"targets Y must have the shape of X {X.shape}, got {Y.shape}")
        return P, X, Y

    # ------------------------------------------------------------------ forward / backward
    def _positioned(self, X):
        """The input rows ``X + E[:L]`` (no ``E``: ``X``)."""
        return X if self.E is None else X + self.E[: X.shape[1]]

    def _prompt_rows(self, rows, batch):
        """``rows`` of the prompt (the same in every sequence) as a read-only ``(batch, Lp, .)`` view."""
        return np.broadcast_to(rows, (batch,) + rows.shape)

    def input_box(self):
        """Per-column range ``(lo, hi)`` of the input rows ``X + E`` for inputs ``X`` in ``[0, 1]^d``."""
        if self.E is None:
            return np.zeros(self.d), np.ones(self.d)
        return self.E.min(axis=0), 1.0 + self.E.max(axis=0)

    def _prepare(self, X) -> _Inputs:
        """What every forward on the (checked) inputs ``X`` shares, whatever the prompt (:class:`_Inputs`)."""
        Hx, _ = self.ff1.forward(self._positioned(X))  # (batch, L, d)
        Q, Kx, Vx = Hx @ self.WQ, Hx @ self.WK, Hx @ self.WV  # queries of the output rows only
        B_input = float(max(np.abs(Q).max(), np.abs(Kx).max()))
        vx_max = np.abs(Vx).max(axis=(1, 2))
        return _Inputs(X, Hx, Q, Kx, Vx, B_input, vx_max)

    def _with_prompt(self, P, data: _Inputs):
        """``Hp, U1p`` (FF1 of the prompt rows and its pre-activation), ``Kp, Vp`` and the head's ``K, V``."""
        # FF1 is row-wise and the prompt rows carry no E, so FF1, K and V of the
        # prompt rows are computed once and shared by every sequence of the batch
        Hp, U1p = self.ff1.forward(P)  # (Lp, d)
        Kp, Vp = Hp @ self.WK, Hp @ self.WV
        b = data.Q.shape[0]
        K = np.concatenate([self._prompt_rows(Kp, b), data.Kx], axis=1)
        V = np.concatenate([self._prompt_rows(Vp, b), data.Vx], axis=1)
        return Hp, U1p, Kp, Vp, K, V

    def _attention_inputs(self, P, X):
        """``Hp, U1p`` (FF1 of the prompt rows and its pre-activation), ``Hx`` and the head's ``Q, K, V``."""
        data = self._prepare(X)
        Hp, U1p, _, _, K, V = self._with_prompt(P, data)
        return Hp, U1p, data.Hx, data.Q, K, V

    def _forward(self, P, X, backend="exact", attn_eps=1e-6):
        """Forward pass keeping what the backward needs (``backend``: a name or an :class:`AttentionBackend`)."""
        return self._run(P, self._prepare(X), as_backend(backend, attn_eps))[:2]

    def _run(self, P, data: _Inputs, backend):
        """:meth:`_forward` on prepared inputs: ``Yhat``, the cache for the backward, and each sequence's
        ``||V||max``."""
        Hp, U1p, Kp, Vp, K, V = self._with_prompt(P, data)
        Q = data.Q
        bp = float(max(np.abs(Hp @ self.WQ).max(), np.abs(Kp).max()))
        norm = InducedNorm(max(bp, data.B_input), bp, data.B_input)
        choice = backend.choose(d=self.s, scale=self.scale, B=norm.B, n_queries=Q.shape[1], n_keys=K.shape[1])
        plan = choice.plan
        if plan is None:
            T = exact_attention(Q, K, V, scale=self.scale, variant=self.variant)
        else:
            T = plan.forward_batch(Q, K, V, variant=self.variant)  # one kernel call per pass for the batch
        A = T @ self.WO
        A += data.Hx  # Hx + T WO, to the last bit
        Yhat, U2 = self.ff2.forward(A)
        vmax = np.maximum(np.abs(Vp).max(), data.vx_max)  # ||V_b||max: the prompt rows' and the inputs'
        return Yhat, (U1p, Hp, Q, K, V, U2, choice, norm), vmax

    def forward(self, P, X, *, backend="exact", attn_eps=1e-6):
        """Predictions ``tau([P; X])[Lp:]`` of shape ``(batch, L, d)``.

        ``backend`` is ``"exact"``, ``"poly"``, ``"auto"`` or an
        :class:`~promptlimits.backend.AttentionBackend` (which keeps its plan
        across calls); ``attn_eps`` is the attention-output error certified by
        the polynomial method, ``||T - Att||max <= attn_eps ||V||max``
        (docs/theory.md §4), for a backend given by name.
        """
        P, X = self.check_inputs(P, X)
        return self._forward(P, X, backend, attn_eps)[0]

    def _backward(self, P, dYhat, cache):
        """Gradient with respect to ``P`` given ``dL/dYhat``."""
        return self._backward_and_upstream(P, dYhat, cache)[0]

    def _backward_and_upstream(self, P, dYhat, cache):
        """The gradient with respect to ``P`` and attention's upstream gradient ``dT`` (the gradient bound's ``G``)."""
        Lp = P.shape[0]
        U1p, _, Q, K, V, U2, choice, _ = cache
        plan = choice.plan
        dA = self.ff2.backward(dYhat, U2)  # (batch, L, d)
        dT = dA @ self.WO.T
        if plan is None:
            _, dK, dV = exact_attention_backward(Q, K, V, dT, scale=self.scale, variant=self.variant)
        else:
            _, dK, dV = plan.backward_batch(Q, K, V, dT, variant=self.variant)
        # only the prompt rows' gradient is wanted; FF1's backward is linear in dH at fixed
        # U1p, which every sequence shares, so the batch is summed first
        dHp = dK[:, :Lp].sum(axis=0) @ self.WK.T + dV[:, :Lp].sum(axis=0) @ self.WV.T
        return self.ff1.backward(dHp, U1p), dT

    def loss_and_grad(self, P, X, Y, *, backend="exact", attn_eps=1e-6):
        """MSE loss, max-abs error, induced ``B``, backend used, and ``d MSE / d P``.

        ``MSE = mean((Yhat - Y)^2)`` over every entry of the batch. With the
        polynomial backend the gradient is the exact gradient of the
        polynomial model, within ``info.grad_bound`` of the exact model's
        (docs/theory.md §4.5).

        Returns
        -------
        info : LossInfo
        grad : array of shape ``P.shape``
        """
        P, X, Y = self.check_inputs(P, X, Y)
        return self._loss_and_grad(P, self._prepare(X), Y, as_backend(backend, attn_eps))

    def _loss_and_grad(self, P, data: _Inputs, Y, backend, *, grad_bound: bool = True):
        """:meth:`loss_and_grad` on checked, prepared inputs; without ``grad_bound``, ``info.grad_bound`` is
        ``None`` on the polynomial backend (not computed)."""
        Yhat, cache, vmax = self._run(P, data, backend)
        R = Yhat - Y
        dY = (2.0 / R.size) * R
        grad, dT = self._backward_and_upstream(P, dY, cache)
        info = self._info(R, cache, vmax)
        U1p, _, Q, K, V, U2, choice, _ = cache
        plan = choice.plan
        if plan is not None and grad_bound:
            bound = prompt_gradient_bound(self, P, Q, K, V, U1p, U2, dY, dT, plan, 2.0 / R.size)
            info = replace(info, grad_bound=float(bound.max()))
        return info, grad

    def loss(self, P, X, Y, *, backend="exact", attn_eps=1e-6) -> LossInfo:
        """MSE loss, max-abs error, induced ``B`` and backend used (no gradient)."""
        P, X, Y = self.check_inputs(P, X, Y)
        return self._loss(P, self._prepare(X), Y, as_backend(backend, attn_eps))

    def _loss(self, P, data: _Inputs, Y, backend) -> LossInfo:
        """:meth:`loss` on checked, prepared inputs."""
        Yhat, cache, vmax = self._run(P, data, backend)
        return self._info(Yhat - Y, cache, vmax)

    def _info(self, R, cache, vmax) -> LossInfo:
        V, choice, norm = cache[4], cache[6], cache[7]
        plan = choice.plan
        # every sequence has its own keys: the bound of the one with the largest values
        bound = 0.0 if plan is None else plan.output_bound(V[np.argmax(vmax)])
        return LossInfo(float(np.mean(R * R)), float(np.max(np.abs(R))), norm.B,
                        choice.backend, bound, 0.0 if plan is None else None,
                        0.0 if plan is None else plan.B, choice.event, choice.note)

    # ------------------------------------------------------------------ induced norm
    def _induced(self, Lp: int, Hp, Q, K) -> InducedNorm:
        """From ``Hp`` (FF1 of the prompt rows, shared by every sequence), the queries and the keys."""
        bp = max(np.abs(Hp @ self.WQ).max(), np.abs(K[:, :Lp]).max())
        bx = max(np.abs(Q).max(), np.abs(K[:, Lp:]).max())
        return InducedNorm(float(max(bp, bx)), float(bp), float(bx))

    def induced_norm(self, P, X) -> InducedNorm:
        """``B(P, X) = max(‖Q‖max, ‖K‖max)`` with ``Q = FF1(Z) WQ``, ``K = FF1(Z) WK`` (no attention is computed)."""
        P, X = self.check_inputs(P, X)
        Hp, _, _, Q, K, _ = self._attention_inputs(P, X)
        return self._induced(P.shape[0], Hp, Q, K)

    # ------------------------------------------------------------------ persistence
    @staticmethod
    def file_for(path) -> Path:
        """The file :meth:`save` writes for ``path``: ``path`` itself if it ends in ``.npz``, else with it appended."""
        path = Path(path)
        return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")

    def save(self, path) -> Path:
        """Write the weights and JSON metadata to one ``.npz`` file (:meth:`file_for`), atomically."""
        path = self.file_for(path)
        meta = {
            "format": "promptlimits.PromptedModel",
            "version": __version__,
            "d": self.d, "s": self.s, "m": self.m,
            "scale": self.scale, "variant": self.variant,
            "metadata": self.metadata,
        }
        arrays = dict(zip(_WEIGHT_NAMES, self._weights()))
        if self.E is not None:
            arrays["E"] = self.E
        buf = io.BytesIO()
        np.savez(buf, __metadata__=np.array(json.dumps(meta, sort_keys=True)), **arrays)
        return atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def file_to_read(cls, path) -> Path:
        """The file :meth:`load` reads for ``path``: :meth:`file_for` (what :meth:`save` writes for
        ``path``) when it exists or ``path`` does not, else ``path`` as given."""
        path = Path(path)
        file = cls.file_for(path)
        return path if not file.exists() and path.exists() else file

    @classmethod
    def load(cls, path) -> PromptedModel:
        """Read a model written by :meth:`save` for ``path`` (:meth:`file_to_read`: ``load("m")`` reads the
        ``m.npz`` that ``save("m")`` wrote)."""
        path = cls.file_to_read(path)
        with np.load(path, allow_pickle=False) as z:
            if "__metadata__" not in z.files:
                raise ValueError(f"{path} is not a promptlimits model file (no metadata)")
            meta = json.loads(str(z["__metadata__"]))
            missing = [k for k in _WEIGHT_NAMES if k not in z.files]
            if missing:
                raise ValueError(f"{path} lacks weights {missing}")
            w = {k: z[k] for k in _WEIGHT_NAMES}
            E = z["E"] if "E" in z.files else None
        ff1 = FFWeights(w["W1a"], w["b1a"], w["W2a"], w["b2a"])
        ff2 = FFWeights(w["W1b"], w["b1b"], w["W2b"], w["b2b"])
        return cls(ff1, w["WQ"], w["WK"], w["WV"], w["WO"], ff2, float(meta["scale"]), meta["variant"],
                   meta.get("metadata", {}), E)

    def _weights(self):
        f1, f2 = self.ff1, self.ff2
        return (f1.W1, f1.b1, f1.W2, f1.b2, self.WQ, self.WK, self.WV, self.WO, f2.W1, f2.b1, f2.W2, f2.b2)

    def __eq__(self, other):
        if not isinstance(other, PromptedModel):
            return NotImplemented
        same_E = (self.E is None) == (other.E is None) and (self.E is None or np.array_equal(self.E, other.E))
        return (self.scale == other.scale and self.variant == other.variant and same_E
                and all(np.array_equal(a, b) for a, b in zip(self._weights(), other._weights())))

    __hash__ = None


def _resolve_scale(scale, s: int) -> float:
    if scale is None or scale == "1/s":
        return 1.0 / s
    if scale == "1/sqrt(s)":
        return 1.0 / np.sqrt(s)
    if isinstance(scale, str):
        raise ValueError(f"unknown scale {scale!r}; expected a number, '1/s' or '1/sqrt(s)'")
    return check_positive_float(scale, "scale")
