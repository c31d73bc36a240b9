"""Universality, built: explicit weights whose closed-form prompts approximate any Lipschitz map.

The universality theorem of Hu et al. (ICLR 2025) is existential: some fixed
one-layer, one-head transformer ``tau = FF2 o Attn o FF1`` has, for every
Lipschitz ``f: [0,1]^{L x d} -> R^{L x d}``, a prompt ``P`` with
``tau([P; X])[Lp:] ~ f(X)``. This module builds one such transformer as a
:class:`promptlimits.PromptedModel` (exact attention, position rows ``E``) and
computes the prompt in closed form (docs/theory.md §8)::

    c = build(d, L, k)              # weights for k = 1/delta cells per coordinate
    P = lookup_prompt(c, f)         # f maps (batch, L, d) -> (batch, L, d)
    Y = c.predict(P, X)             # X in [0, 1]^(batch x L x d) -> (batch, L, d)

**Residual stream** (width ``D``), column blocks in this order::

    x     d        coordinates: x + 2i on input row i; -1 on prompt rows; the output
    pos   L        position one-hot (from E)
    bias  1        prompt's key bias
    slot  L d k    FF1's cell indicators u[i, j, a] of input rows
    key   L d k    prompt's key: lambda at slot (i, j, c_j) of prompt token (i, c)
    bag   L d k    attention's bag of the input rows' slots (the contextual map)
    table d G      prompt's table, G = k^(d (L-1)); attention copies the matched one

``D = d + L + 1 + 3 L d k + d k^(d (L-1))``. :meth:`Construction.embed` lifts a
token ``x`` to ``[x, 0, ...]``; the model's position rows add ``2i`` to the
``x`` block and the one-hot of ``i`` to the ``pos`` block of input row ``i``.

**FF1** (width ``m1 = 2 L d (k + 1)``) quantizes: for each position ``i``,
coordinate ``j`` and ``a = 0..k`` a ramp pair ``s = relu((y - t)/xi) -
relu((y - t)/xi - 1)`` (steepness ``1/xi``) at ``t = 2i + a/k`` for
``0 < a < k`` and at the guards ``2i - 1/2``, ``2i + 3/2``; ``u[i, j, a] =
s_a - s_(a+1)`` is 1 exactly when the token sits at position ``i`` and its
coordinate ``j`` lies in cell ``a``, outside the *bands* ``[a/k, a/k + xi]``,
``a = 1..k-1`` (measure at most ``L d (k - 1) xi``). Prompt rows carry ``-1``
in the ``x`` block, below every ramp, so FF1 leaves them as they are.

**The head** (size ``s = L d k + d G``, ``scale = 1``): query ``[u, sum(pos)]``
(input rows), key ``[key, bias]``, value ``[slot, table]``, ``WO`` writes
``(L + 1)`` times the value into the ``bag`` and ``table`` blocks. Prompt token
``(i, c)`` carries key ``lambda`` on its ``d`` slots and bias ``-lambda d``, so
its logit against a token at position ``i`` whose cell matches in ``m``
coordinates is ``-lambda (d - m)``; input tokens have key 0 and logit 0. The
matched prompt token and the ``L`` input tokens share the top logit 0, every
other prompt token is at least ``lambda`` below, and the output is the average
of the matched token's table and the bag of the input slots, up to the
leakage ``eps_s = (1 + (k-1) e^-lambda)^d - 1 + (L-1) k^d e^(-lambda d) <=
(Lp - 1) e^-lambda`` (the sum of the other weights relative to the top one).

**FF2** (width ``m2 = d + L d G``) decodes and cancels the residual: ``d``
units ``relu(y_j)`` remove ``x + 2i`` from the ``x`` block, and an AND-gate
unit per position ``i``, context ``g`` of the other tokens' cells and output
coordinate ``j`` computes ``relu(table[g, j] + M (pos_i + sum of the (L-1) d
bag entries of g - 1 - (L-1) d))``, ``M = 4 R``, which passes the table entry
of the matched context and is 0 for every other. The table entries are
``f(cell centres)_ij + R`` in ``[0, 2R]`` and ``b2 = -R`` on the ``x`` block,
so the ``x`` block of output row ``i`` is the table value. ``R`` is the
construction's ``value_range``: every cell-centre value of ``f`` must lie in
``[-R, R]``.

**Prompt** (``Lp = L k^d`` tokens): token ``(i, c)`` has ``-1`` in the ``x``
block, ``lambda`` at key slots ``(i, j, c_j)``, ``-lambda d`` in ``bias`` and,
at ``table[g, j]``, ``f(Xc)_ij + R`` with ``Xc`` the cell centres of cell ``c``
at position ``i`` and context ``g`` elsewhere. ``lambda`` is a prompt scalar:
the weights do not depend on it (:meth:`Construction.with_lam`).

**The bound** (:meth:`Construction.bound`; proved in docs/theory.md §8 and
checked in ``proofs_check`` topic ``8``): if ``f`` is ``K_f``-Lipschitz in the
max norm, ``|f(C)| <= R`` at every cell centre and ``(L - 1) eps_s <= L + 1``,
then in exact arithmetic, for every ``X`` outside the bands,
``‖c.predict(P, X) - f(X)‖max <= K_f delta / 2 + 2 R (L + 1 + 2 (L - 1) d)
eps_s / (L + 1 + eps_s)``, which is at most ``K_f / (2k) + 2 R (1 + 2d) (Lp - 1)
e^-lambda``. Float64 rounding adds about ``u (2L + 2) / xi`` per slot
(``u = 2^-53``), amplified by at most ``M L d + 2 R lambda d``.

What it does not show: the widths grow like ``k^(d (L - 1))`` (one table
entry per context), so only toy sizes are feasible; the paper's statement at
token width ``d`` is not this one (here the residual stream is ``D`` wide).
``build(..., width="token")`` builds the token-width construction of
:mod:`promptlimits.construct_token` (prompt and input rows of one width
``d k^(d(L-1)) + 5d + 8``; docs/theory.md §8.5 proves that no width below
``d k^(d(L-1)) - 1`` memorizes every grid target); this one stays the default,
as a contrast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ._checks import as_float_array, check_choice, check_positive_float, check_positive_int
from .construct_grid import GridConstruction
from .construct_token import TokenConstruction, build_token, token_prompt
from .datasets import grid
from .model import FFWeights, PromptedModel

__all__ = ["Construction", "TokenConstruction", "build", "lookup_prompt", "sizes", "leakage", "MAX_BYTES", "WIDTHS"]

#: Constructions :func:`build` makes: ``"wide"`` (residual width ``D``) and ``"token"`` (one narrow width).
WIDTHS = ("wide", "token")

#: Default memory budget for the weights of a construction (bytes).
MAX_BYTES = 1 << 29


def sizes(d, L, k) -> dict:
    """Every size of the construction ``(d, L, k)`` as a formula's value (no allocation).

    Keys: ``D = d + L + 1 + 3Ldk + d k^(d(L-1))``, ``s = Ldk + d k^(d(L-1))``,
    ``m1 = 2Ld(k+1)``, ``m2 = d + L d k^(d(L-1))``, ``Lp = L k^d``,
    ``contexts = k^(d(L-1))``, ``grid_points = k^(dL)``, ``n_weights`` (every
    weight entry, ``E`` included) and ``weight_bytes = 8 n_weights``.
    """
    G = k ** (d * (L - 1))
    D = d + L + 1 + 3 * L * d * k + d * G
    s = L * d * k + d * G
    m1 = 2 * L * d * (k + 1)
    m2 = d + L * d * G
    n_weights = (2 * D * m1 + m1 + D) + 4 * D * s + (2 * D * m2 + m2 + D) + L * D
    return {"D": D, "s": s, "m1": m1, "m2": m2, "Lp": L * k**d, "contexts": G, "grid_points": k ** (d * L),
            "n_weights": n_weights, "weight_bytes": 8 * n_weights}


def leakage(d, L, k, lam) -> float:
    """``eps_s = (1 + (k-1) e^-lam)^d - 1 + (L-1) k^d e^(-lam d)``: the other prompt tokens' weight.

    It is the sum of ``exp(logit)`` over the prompt tokens other than the
    matched one, with the top logit 0; at most ``(Lp - 1) e^-lam``.
    """
    x = math.exp(-lam)
    return math.expm1(d * math.log1p((k - 1) * x)) + (L - 1) * k**d * x**d


@dataclass(frozen=True)
class _Layout:
    """Column offsets of the residual stream (module docstring)."""

    d: int
    L: int
    k: int

    @property
    def G(self):
        return self.k ** (self.d * (self.L - 1))

    @property
    def n_slots(self):
        return self.L * self.d * self.k

    x = 0

    @property
    def pos(self):
        return self.d

    @property
    def bias(self):
        return self.d + self.L

    @property
    def slot(self):
        return self.bias + 1

    @property
    def key(self):
        return self.slot + self.n_slots

    @property
    def bag(self):
        return self.key + self.n_slots

    @property
    def table(self):
        return self.bag + self.n_slots

    @property
    def D(self):
        return self.table + self.d * self.G

    def slot_index(self, i, j, a):
        """Index of slot ``(position i, coordinate j, cell a)`` inside a slot-sized block."""
        return (np.asarray(i) * self.d + np.asarray(j)) * self.k + np.asarray(a)


@dataclass(frozen=True, eq=False)
class Construction(GridConstruction):
    """Constructed weights for ``(d, L, k)`` and the prompt scalars (module docstring).

    Attributes
    ----------
    d, L, k : int
        Token width, sequence length, cells per coordinate (``delta = 1/k``).
    lam : float
        Retrieval margin ``lambda`` (a prompt scalar).
    xi : float
        Ramp width (steepness ``1/xi``).
    value_range : float
        ``R``: cell-centre target values must lie in ``[-R, R]``.
    model : PromptedModel
        The constructed transformer (width ``D``), with position rows ``E``.
    """


    width = "wide"

    @property
    def layout(self) -> _Layout:
        return _Layout(self.d, self.L, self.k)

    @property
    def prompt_max(self) -> float:
        """``‖P‖max <= max(1, lambda d, 2R)`` of the closed-form prompt (marker, key bias, table)."""
        return max(1.0, self.lam * self.d, 2.0 * self.value_range)

    @property
    def sizes(self) -> dict:
        """:func:`sizes` plus ``band_measure = L d (k-1) xi`` and the prompt scalars."""
        out = sizes(self.d, self.L, self.k)
        out.update(band_measure=self.L * self.d * (self.k - 1) * self.xi, key=self.lam,
                   key_bias=-self.lam * self.d, prompt_marker=-1.0, table_offset=self.value_range, gate=self.gate)
        return out

    def with_lam(self, lam) -> Construction:
        """The same weights with another retrieval margin ``lambda`` (a prompt scalar)."""
        return replace(self, lam=check_positive_float(lam, "lambda"))

    # ------------------------------------------------------------------ the bound
    def leakage(self) -> float:
        """``eps_s`` of :func:`leakage` at this construction's ``lambda``."""
        return leakage(self.d, self.L, self.k, self.lam)

    def bound(self, K_f) -> float:
        """Proved sup error outside the bands for a ``K_f``-Lipschitz target (module docstring).

        ``K_f delta / 2 + 2 R (L + 1 + 2 (L-1) d) eps_s / (L + 1 + eps_s)``;
        ``inf`` when ``(L - 1) eps_s > L + 1`` (the gates are then not proved
        to close). Exact arithmetic; see the module docstring for rounding.
        """
        K_f = check_positive_float(K_f, "Lipschitz constant K_f", allow_zero=True)
        e, L, d, R = self.leakage(), self.L, self.d, self.value_range
        if (L - 1) * e > L + 1:
            return math.inf
        return K_f * self.delta / 2 + 2 * R * (L + 1 + 2 * (L - 1) * d) * e / (L + 1 + e)

    def band_bound(self, K_f) -> float:
        """Proved sup error over every input, bands included (docs/theory.md §8.6): ``4R + K_f/(2k)``.

        Proved when ``(L-1) d <= L`` and ``eps_s <= 1/2``; ``inf`` otherwise.
        """
        K_f = check_positive_float(K_f, "Lipschitz constant K_f", allow_zero=True)
        if (self.L - 1) * self.d > self.L or self.leakage() > 0.5:
            return math.inf
        return 4 * self.value_range + K_f * self.delta / 2

    def rounding(self) -> float:
        """Float64 estimate added to :meth:`bound`: ``u (2L+2)/xi (M L d + 2 R lambda d)`` (module docstring)."""
        return 2.0**-53 * (2 * self.L + 2) / self.xi * (self.gate * self.L * self.d
                                                         + 2 * self.value_range * self.lam * self.d)

    def describe(self) -> str:
        """Every size and prompt scalar, each as its formula and its value."""
        s = self.sizes
        rows = [
            ("D", "d + L + 1 + 3 L d k + d k^(d(L-1))", s["D"]),
            ("head size s", "L d k + d k^(d(L-1))", s["s"]),
            ("FF1 width m1", "2 L d (k + 1)", s["m1"]),
            ("FF2 width m2", "d + L d k^(d(L-1))", s["m2"]),
            ("prompt length Lp", "L k^d", s["Lp"]),
            ("contexts per token", "k^(d(L-1))", s["contexts"]),
            ("weights", f"{s['n_weights']} entries", f"{s['weight_bytes'] / 2**20:.1f} MiB"),
            ("delta", "1 / k", self.delta),
            ("ramp width xi", "given (default 10^-3 / k); steepness 1/xi", self.xi),
            ("band measure", "<= L d (k - 1) xi", s["band_measure"]),
            ("prompt key", "lambda", self.lam),
            ("prompt key bias", "-lambda d", s["key_bias"]),
            ("prompt x marker", "-1", -1.0),
            ("table offset R", "value_range", self.value_range),
            ("gate M", "4 R", self.gate),
            ("leakage eps_s", "(1 + (k-1) e^-lambda)^d - 1 + (L-1) k^d e^(-lambda d)", self.leakage()),
        ]
        head = f"construction d={self.d}, L={self.L}, k={self.k}"
        return "\n".join([head] + [f"  {name:<20} = {formula:<52} = {value:.6g}" if isinstance(value, float)
                                   else f"  {name:<20} = {formula:<52} = {value}" for name, formula, value in rows])


def build(d, L, k, *, width="wide", lam=None, xi=None, value_range=1.0, max_bytes=MAX_BYTES, model_width=None):
    """Build the construction for token width ``d``, length ``L`` and ``k = 1/delta`` cells.

    Parameters
    ----------
    d, L : int, >= 1
    k : int, >= 2
    width : {"wide", "token"}
        ``"wide"`` (default): the construction of this module, residual width
        ``D`` (a labelled contrast: prompt rows are ``D`` wide). ``"token"``:
        :class:`promptlimits.construct_token.TokenConstruction`, prompt and
        input rows of one width ``w = d k^(d(L-1)) + 5d + 8`` (docs/theory.md §8.5).
    lam : float, > 0, optional
        Retrieval margin ``lambda``: a prompt scalar for ``"wide"`` (default 40),
        the head's logit scale for ``"token"`` (default 80).
    xi : float, optional
        Ramp width, ``0 < xi <= 1/(2k)``; default ``10^-3 / k``.
    model_width : int, optional
        ``"token"`` only: the model width ``w`` (zero columns appended); a width
        below the construction's raises ``ValueError``.
    value_range : float, > 0
        ``R``: targets' cell-centre values must lie in ``[-R, R]``.
    max_bytes : int
        Refuse (``ValueError`` naming the size) constructions whose weights
        need more memory, before allocating anything.
    """
    d, L = check_positive_int(d, "d"), check_positive_int(L, "L")
    k = check_positive_int(k, "k (cells per coordinate; k >= 2 so the grid has more than one cell)", minimum=2)
    width = check_choice(width, "construction width", WIDTHS)
    lam = check_positive_float((40.0 if width == "wide" else 80.0) if lam is None else lam, "lambda")
    R = check_positive_float(value_range, "value_range")
    xi = 1e-3 / k if xi is None else check_positive_float(xi, "xi")
    if xi > 0.5 / k:
        raise ValueError(f"xi must be <= 1/(2k) = {0.5 / k:.6g} so every cell keeps a band-free part, got {xi}")
    if width == "token":
        w = None if model_width is None else check_positive_int(model_width, "model_width")
        return build_token(d, L, k, lam=lam, xi=xi, value_range=R, width=w, max_bytes=max_bytes)
    if model_width is not None:
        raise ValueError("model_width applies to width='token' only (the wide construction's width is D)")
    need = sizes(d, L, k)
    if need["weight_bytes"] > max_bytes:
        raise ValueError(f"construction d={d}, L={L}, k={k} needs {need['weight_bytes'] / 2**20:.1f} MiB of weights "
                         f"(D = {need['D']}, FF2 width m2 = {need['m2']}, head size s = {need['s']}), "
                         f"above max_bytes = {max_bytes / 2**20:.1f} MiB")
    lay = _Layout(d, L, k)
    model = PromptedModel(_ff1(lay, xi), *_head(lay), _ff2(lay, 4.0 * R, R), 1.0, "softmax",
                          {"construction": {"d": d, "L": L, "k": k, "xi": xi, "value_range": R}}, _positions(lay))
    return Construction(d, L, k, lam, xi, R, model)


def _positions(lay: _Layout) -> np.ndarray:
    E = np.zeros((lay.L, lay.D))
    i = np.arange(lay.L)
    E[:, : lay.d] = 2.0 * i[:, None]
    E[i, lay.pos + i] = 1.0
    return E


def _ff1(lay: _Layout, xi: float) -> FFWeights:
    """Ramp pairs at ``2i - 1/2``, ``2i + a/k`` (``0 < a < k``), ``2i + 3/2`` for each position and coordinate."""
    d, L, k = lay.d, lay.L, lay.k
    i, j, a = (g.ravel() for g in np.meshgrid(np.arange(L), np.arange(d), np.arange(k + 1), indexing="ij"))
    t = 2.0 * i + np.where(a == 0, -0.5, np.where(a == k, 1.5, a / k))
    steps = i.size  # L d (k + 1); unit 2r is relu((y-t)/xi), unit 2r+1 is relu((y-t)/xi - 1)
    W1 = np.zeros((lay.D, 2 * steps))
    W1[j, 2 * np.arange(steps)] = W1[j, 2 * np.arange(steps) + 1] = 1.0 / xi
    b1 = np.empty(2 * steps)
    b1[0::2], b1[1::2] = -t / xi, -t / xi - 1.0
    S = np.zeros((steps, lay.D))  # step r -> slot columns: +1 on cell a, -1 on cell a-1
    r = np.arange(steps)
    up, down = a < k, a > 0
    S[r[up], lay.slot + lay.slot_index(i[up], j[up], a[up])] = 1.0
    S[r[down], lay.slot + lay.slot_index(i[down], j[down], a[down] - 1)] = -1.0
    W2 = np.repeat(S, 2, axis=0)
    W2[1::2] *= -1.0
    return FFWeights(W1, b1, W2, np.zeros(lay.D))


def _head(lay: _Layout):
    """``WQ, WK, WV, WO`` of the retrieval head (head size ``L d k + d G``)."""
    ns, D = lay.n_slots, lay.D
    s = ns + lay.d * lay.G
    WQ, WK, WV, WO = np.zeros((D, s)), np.zeros((D, s)), np.zeros((D, s)), np.zeros((s, D))
    q = np.arange(ns)
    WQ[lay.slot + q, q] = 1.0
    WQ[lay.pos: lay.pos + lay.L, ns] = 1.0  # sum(pos) = 1 on input rows: the bias query
    WK[lay.key + q, q] = 1.0
    WK[lay.bias, ns] = 1.0
    WV[lay.slot + q, q] = 1.0
    t = np.arange(lay.d * lay.G)
    WV[lay.table + t, ns + t] = 1.0
    WO[q, lay.bag + q] = lay.L + 1.0
    WO[ns + t, lay.table + t] = lay.L + 1.0
    return WQ, WK, WV, WO


def _contexts(lay: _Layout) -> np.ndarray:
    """Digits of every context ``g``: shape ``(G, (L-1) d)``, digit ``r d + j`` = cell of the r-th other token."""
    n = (lay.L - 1) * lay.d
    if n == 0:
        return np.zeros((1, 0), dtype=np.int64)
    return np.stack(np.unravel_index(np.arange(lay.G), (lay.k,) * n), axis=1)


def _ff2(lay: _Layout, M: float, R: float) -> FFWeights:
    """Cancel units ``relu(y_j)`` and AND-gate decoders ``(i, g, j)`` (module docstring)."""
    d, L, G = lay.d, lay.L, lay.G
    m2 = d + L * G * d
    W1, b1, W2, b2 = np.zeros((lay.D, m2)), np.zeros(m2), np.zeros((m2, lay.D)), np.zeros(lay.D)
    j = np.arange(d)
    W1[lay.x + j, j] = 1.0
    W2[j, lay.x + j] = -1.0
    b2[lay.x + j] = -R
    digits = _contexts(lay)  # (G, (L-1) d)
    g, jj = (a.ravel() for a in np.meshgrid(np.arange(G), j, indexing="ij"))  # unit order (g, j)
    for i in range(L):
        units = d + i * G * d + np.arange(G * d)
        W1[lay.table + g * d + jj, units] = 1.0
        W1[lay.pos + i, units] = M
        others = [p for p in range(L) if p != i]
        for r, p in enumerate(others):
            for jc in range(d):
                W1[lay.bag + lay.slot_index(p, jc, digits[g, r * d + jc]), units] = M
        b1[units] = -M * (1 + (L - 1) * d)
        W2[units, lay.x + jj] = 1.0
    return FFWeights(W1, b1, W2, b2)


def lookup_prompt(c: Construction, f) -> np.ndarray:
    """The closed-form prompt ``(Lp, D)`` for target ``f`` (module docstring).

    ``f`` maps arrays ``(batch, L, d)`` to ``(batch, L, d)``; it is called once,
    on the ``k^(dL)`` cell centres. Raises ``ValueError`` when ``f`` returns the
    wrong shape, NaN or inf, or a value outside ``[-R, R]``.
    """
    if not isinstance(c, (Construction, TokenConstruction)):
        raise TypeError(f"lookup_prompt needs a Construction, got {type(c).__name__}")
    if not callable(f):
        raise TypeError(f"target f must be callable, got {type(f).__name__}")
    if isinstance(c, TokenConstruction):
        return token_prompt(c, f)
    lay, d, L, k, R = c.layout, c.d, c.L, c.k, c.value_range
    C = grid(1.0 / k, L, d, max_points=max(1_000_000, lay.G * k**d))
    Y = np.asarray(f(C))
    if Y.shape != C.shape:
        raise ValueError(f"target f returned shape {Y.shape} on the cell centres; expected {C.shape}")
    Y = as_float_array(Y, "f(cell centres)", dtype=np.float64)
    if np.abs(Y).max() > R:
        raise ValueError(f"target f reaches |f| = {np.abs(Y).max():.6g} at a cell centre, above value_range R = {R}; "
                         f"build the construction with a larger value_range")
    cube = Y.reshape((k,) * (L * d) + (L, d))
    nd = k**d
    P = np.zeros((c.Lp, lay.D))
    P[:, : d] = -1.0
    P[:, lay.bias] = -c.lam * d
    cells = np.stack(np.unravel_index(np.arange(nd), (k,) * d), axis=1)  # (k^d, d)
    for i in range(L):
        rows = i * nd + np.arange(nd)
        for j in range(d):
            P[rows, lay.key + lay.slot_index(i, j, cells[:, j])] = c.lam
        own = list(range(i * d, (i + 1) * d))
        rest = [a for a in range(L * d) if a not in own]
        tab = np.transpose(cube[..., i, :], own + rest + [L * d])  # (k,)*d own cells, (k,)*(L-1)d context, d
        P[rows, lay.table: lay.table + lay.d * lay.G] = tab.reshape(nd, lay.G * d) + R
    return P
