"""The Jacobian of a prompted model's outputs with respect to its prompt (docs/theory.md §7.6).

For a :class:`promptlimits.PromptedModel`, prompt ``P`` (``Lp x D``) and inputs
``X`` (``batch x L x D``), :func:`prompt_jacobian` returns the matrix of
``d Yhat[b, l, c] / d P[j, a]`` for the output columns ``c`` asked for and the
prompt columns ``a`` asked for, rows in the order ``(b, l, c)`` and columns in
the order ``(j, a)``. Tokens are rows (docs/theory.md §1.1). Forward mode,
layer by layer:

- FF1 on prompt row ``j``: ``dh_j = dz_j J1_j`` with the Clarke Jacobian
  ``J1_j = I + W1 diag(1[U1_j > 0]) W2`` (the convention of the model's
  backward pass: ``relu'(0) = 0``).
- Attention of output row ``(b, l)`` with weights ``p``: only prompt row ``j``
  moves, its logit by ``ds = scale (dh_j WK) . q_bl`` and its value by
  ``dh_j WV``; since ``dp_k = p_k (delta_kj - p_j) ds`` (softmax and
  Softmax_1 alike), ``dT_bl = p_blj [dh_j WV + scale (dh_j WK q_bl^T) (v_j - T_bl)]``.
- ``dA = dT WO`` and FF2: ``dY = dA J2_bl``, ``J2_bl = I + W1 diag(1[U2_bl > 0]) W2``.

So ``J[(b,l,c), (j,a)] = p_blj [(J1_j WV WO J2_bl)_ac + scale (J1_j WK q_bl^T)_a
((v_j - T_bl) WO J2_bl)_c]``. The tests compare it with finite differences.
Work is chunked over the output rows so that no intermediate array exceeds
about 64 MiB beyond the result.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_memory

__all__ = ["prompt_jacobian", "read_columns"]

_CHUNK_BYTES = 1 << 26


def read_columns(model) -> np.ndarray:
    """Indices of the prompt columns the outputs depend on at all.

    A prompt row ``z`` enters the outputs only through ``FF1(z) WK`` and
    ``FF1(z) WV``, and ``FF1(z) = z + relu(z W1 + b1) W2 + b2``; a column
    ``a`` with ``W1[a] = WK[a] = WV[a] = 0`` therefore changes no output, for
    any prompt and input. Every other column is returned (sorted).
    """
    used = (np.abs(model.ff1.W1).sum(axis=1) > 0) | (np.abs(model.WK).sum(axis=1) > 0) \
        | (np.abs(model.WV).sum(axis=1) > 0)
    return np.flatnonzero(used)


def _ff_jacobian(ff, U, cols=None):
    """Clarke Jacobians ``I + W1 diag(1[U > 0]) W2`` for each row of ``U`` (``(..., m)``), columns ``cols``."""
    D = ff.W1.shape[0]
    W2 = ff.W2 if cols is None else ff.W2[:, cols]
    eye = np.eye(D) if cols is None else np.eye(D)[:, cols]
    return eye + np.einsum("am,...m,mc->...ac", ff.W1, (U > 0).astype(np.float64), W2, optimize=True)


def prompt_jacobian(model, P, X, *, out_cols=None, prompt_cols=None) -> np.ndarray:
    """``d Yhat / d P`` as a matrix ``(batch L len(out_cols), Lp len(prompt_cols))`` (module docstring).

    Parameters
    ----------
    model : PromptedModel
    P : array ``(Lp, D)``
    X : array ``(batch, L, D)``
    out_cols : sequence of int, optional
        Output columns compared (default every column).
    prompt_cols : sequence of int, optional
        Prompt columns differentiated (default every column; :func:`read_columns`
        gives the ones that matter).
    """
    P, X = model.check_inputs(P, X)
    D = model.d
    out_cols = np.arange(D) if out_cols is None else np.asarray(out_cols, dtype=np.int64)
    prompt_cols = np.arange(D) if prompt_cols is None else np.asarray(prompt_cols, dtype=np.int64)
    for name, cols in (("out_cols", out_cols), ("prompt_cols", prompt_cols)):
        if cols.ndim != 1 or cols.size == 0 or cols.min() < 0 or cols.max() >= D:
            raise ValueError(f"{name} must be a non-empty list of columns in [0, {D}), got {cols.tolist()}")
    b, L = X.shape[:2]
    Lp, nc, na = P.shape[0], out_cols.size, prompt_cols.size
    check_memory(8 * b * L * nc * Lp * na, f"a prompt Jacobian of {b * L * nc} x {Lp * na} entries")
    _, cache = model._forward(P, X)
    U1p, Hp, Q, K, V, U2, _, _ = cache
    J1 = _ff_jacobian(model.ff1, U1p)[:, prompt_cols, :]  # (Lp, na, D): d h_j / d z_j[a]
    JV = J1 @ model.WV  # (Lp, na, s)
    JK = J1 @ model.WK  # (Lp, na, s)
    Vp = V[0, :Lp]  # prompt values, the same in every sequence
    logits = model.scale * np.einsum("bls,bns->bln", Q, K)
    p = _weights(logits, model.variant)  # (b, L, n)
    T = np.einsum("bln,bns->bls", p, V)
    Q, T, U2, p = (a.reshape(b * L, *a.shape[2:]) for a in (Q, T, U2, p[..., :Lp]))
    out = np.empty((b * L, nc, Lp, na))
    step = max(1, _CHUNK_BYTES // (8 * Lp * max(na, model.s) * max(nc, 2)))
    for a in range(0, b * L, step):
        r = slice(a, a + step)
        C = model.WO @ _ff_jacobian(model.ff2, U2[r], out_cols)  # (rows, s, nc): WO J2
        term1 = np.einsum("jas,rsc->rcja", JV, C, optimize=True)
        kq = np.einsum("jas,rs->rja", JK, Q[r], optimize=True)
        vt = np.einsum("js,rsc->rjc", Vp, C, optimize=True) - np.einsum("rs,rsc->rc", T[r], C)[:, None, :]
        term1 += model.scale * np.einsum("rja,rjc->rcja", kq, vt, optimize=True)
        out[r] = term1 * p[r][:, None, :, None]
    return out.reshape(b * L * nc, Lp * na)


def _weights(logits, variant):
    """Attention weights from logits ``(..., n)``: softmax, or Softmax_1 (an extra logit 0, dropped)."""
    top = logits.max(axis=-1, keepdims=True)
    if variant == "softmax1":
        top = np.maximum(top, 0.0)
    e = np.exp(logits - top)
    den = e.sum(axis=-1, keepdims=True) + (np.exp(-top) if variant == "softmax1" else 0.0)
    return e / den
