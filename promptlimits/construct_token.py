"""Universality at token width: prompt rows and input rows of one narrow width (docs/theory.md §8.5-§8.7).

:func:`promptlimits.construct.build` with ``width="token"`` returns a
:class:`TokenConstruction`. Its model reads rows of width

    w = d G + 5 d + 8,      G = k^(d (L-1))  (contexts of the other L-1 tokens)

for prompt and input rows alike (an input token ``x`` in ``[0,1]^d`` is the row
``[x, 0, ..., 0]``), one head, the model's own position rows ``E``. Width ``d``
itself does not work: at residual width ``w`` a prompt of any length acts on an
output row, given its own token, only through ``w + 1`` numbers (the mass and
the mean value of the prompt's attention), so memorizing every target on the
``k``-grid needs ``w >= d G - 1`` (docs/theory.md §8.5, which also proves the
sharper ``d = 1`` obstruction: one scalar key selects at most two prompt
tokens). ``w`` is that lower bound plus ``5 d + 9``.

**Residual stream** (width ``w``), column blocks in this order::

    x      d        coordinates: x + 2i on input row i; -1 on prompt rows; the output
    z      1        context code: i K - v_i from E and FF1, then + sum_p v_p from the head
    id     1        v_i = (sum_j c_j k^j) k^(d i): the input row's cell code (FF1)
    query  2d+3     input rows: (i~, c~_1..c~_d, i~^2, c~_1^2..c~_d^2, 1)
    key    2d+3     prompt rows: (t~, -1/2 (d+1 times), -|t~|^2/2) / kappa
    table  d G      prompt token (i, c): f(cell centres)_ij for every context g

with ``c_j`` the cell of coordinate ``j``, ``c~ = c - (k-1)/2``, ``i~ = i -
(L-1)/2`` (centred, so the prompt's entries stay small), ``K = k^(dL)`` and
``kappa = max(1, |t~|^2max / 2, max |t~_j|)``.

**FF1** (width ``m1 = 2 L d (k-1)``): a ramp pair ``relu((y-t)/xi) -
relu((y-t)/xi - 1)`` at every ``t = 2i + a/k``, ``0 < a < k``, of every
coordinate: a step that is 1 when the token is at position ``i`` with
``x_j >= a/k + xi`` or at a later position, 0 when it is at an earlier position
or ``x_j <= a/k``. Weighted sums of the steps write ``c_j``, ``c_j^2 - (k-1)
c_j`` and the code ``v_i``; ``E`` removes what the earlier positions' steps
add and writes the position terms. Prompt rows (``-1`` in ``x``) lie below
every ramp: FF1 leaves them unchanged.

**The head** (size ``s = max(2d+3, dG+1)``, logit scale ``lambda``): query
``kappa * query``, key ``key``, so the logit of prompt token ``t = (i', c')``
against an input row at position ``i`` in cell ``c`` is ``-lambda |(i,c) -
(i',c')|^2 / 2``: 0 for the matched token, at most ``-lambda / 2`` for every
other. Input rows carry, from ``E``, the key that gives them the logit
``Lambda = ceil(ln K) + 10`` (the *anchor*). Values: ``[id, table]``; ``WO``
adds ``S e^-Lambda`` times the first to ``z`` and ``S = L e^Lambda + 1`` times
the rest to ``table``. So ``z`` becomes the integer ``u = i K + sum_{p != i}
v_p`` (one per position and context) and ``table`` the matched token's table,
up to the leakage ``eps``; the anchor keeps ``z`` off the prompt's attention
mass (its error is at most ``K eps / S``).

**FF2** (width ``m2 = d + 2 L G (d+1)``): ``d`` units ``relu(y_j)`` cancel
``x + 2i``; for each position ``i``, context ``g`` (code ``u_ig``) and
coordinate ``j`` the pair ``relu(T + R + M(z - u)) - relu(T + R + M(z - u -
1))`` with ``T = table[g, j]`` gives ``T + R`` at ``z = u``, ``M`` above and 0
below, and the pair ``-M (relu(z - u) - relu(z - u - 1))`` removes the ``M``;
``b2 = -R``. ``M = 4 R``. Output row ``i`` is the table entry of the context
the other tokens are in.

**Prompt** (``Lp = L k^d`` tokens, closed form, :func:`token_prompt`): token
``(i, c)``: ``-1`` in ``x``, the key of ``(i, c)`` in ``key``, ``f(Xc)_ij`` at
``table[g, j]`` for every context ``g``; 0 elsewhere. ``‖P‖max = max(1, R)``.

**The bound** (docs/theory.md §8.6, proofs_check ``8e``-``8g``): for ``X``
outside the bands, ``‖pred - f‖max <= K_f/(2k) + 2 R eps (S+1)/S + 2 M K
eps / S`` when ``8 K eps <= S`` and ``eps <= 1/4``, with ``eps`` the leakage of
:func:`token_leakage`; for every ``X``, ``‖pred - f‖max <= 10 R + K_f/(2k)``
(:meth:`TokenConstruction.band_bound`). Floating point: :meth:`TokenConstruction.rounding`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ._checks import as_float_array, check_positive_float
from .construct_grid import GridConstruction
from .datasets import grid
from .model import FFWeights, PromptedModel

__all__ = ["TokenConstruction", "build_token", "token_prompt", "token_sizes", "token_leakage", "min_token_width"]



def min_token_width(d, L, k) -> int:
    """``d G - 1``: below it no prompt makes a width-``w`` model memorize every grid target (§8.5)."""
    return d * k ** (d * (L - 1)) - 1


def token_sizes(d, L, k, width=None) -> dict:
    """Every size of the token-width construction as a formula's value (no allocation).

    Keys: ``w = d G + 5d + 8`` (or ``width`` when larger: zero columns are
    appended), ``s = max(2d+3, dG+1)``, ``m1 = 2Ld(k-1)``, ``m2 = d + 2LG(d+1)``,
    ``Lp = L k^d``, ``contexts = G = k^(d(L-1))``, ``codes = K = k^(dL)``,
    ``grid_points = k^(dL)``, ``n_weights``, ``weight_bytes = 8 n_weights``,
    ``prompt_entries = Lp w`` and ``prompt_max = max(1, R)`` is not here (it needs R).
    """
    G = k ** (d * (L - 1))
    w_min = d * G + 5 * d + 8
    w = w_min if width is None else max(int(width), w_min)
    s = max(2 * d + 3, d * G + 1)
    m1 = 2 * L * d * (k - 1)
    m2 = d + 2 * L * G * (d + 1)
    n_weights = (2 * w * m1 + m1 + w) + 4 * w * s + (2 * w * m2 + m2 + w) + L * w
    return {"w": w, "w_construction": w_min, "w_lower": min_token_width(d, L, k), "s": s, "m1": m1, "m2": m2,
            "Lp": L * k**d, "contexts": G, "codes": k ** (d * L), "grid_points": k ** (d * L),
            "n_weights": n_weights, "weight_bytes": 8 * n_weights, "prompt_entries": L * k**d * w}


def token_leakage(d, L, k, lam) -> float:
    """Upper bound on ``eps``, the other prompt tokens' weight relative to the matched one (§8.6).

    ``eps <= prod_{r=0..d} (1 + 2 sum_{n=1}^{N_r} e^(-lam n^2 / 2)) - 1`` with
    ``N_0 = L - 1`` (positions) and ``N_r = k - 1`` (cells): the logit of a token
    ``n`` steps away in the position and cell lattice is ``-lam |n|^2 / 2``.
    """
    def theta(N):
        return 2.0 * sum(math.exp(-lam * n * n / 2.0) for n in range(1, N + 1))
    logs = math.log1p(theta(L - 1)) + d * math.log1p(theta(k - 1))
    return math.expm1(logs)


@dataclass(frozen=True)
class _TokenLayout:
    d: int
    L: int
    k: int
    w: int

    @property
    def G(self):
        return self.k ** (self.d * (self.L - 1))

    @property
    def K(self):
        return self.k ** (self.d * self.L)

    x = 0

    @property
    def z(self):
        return self.d

    @property
    def id(self):
        return self.d + 1

    @property
    def nq(self):
        return 2 * self.d + 3

    @property
    def query(self):
        return self.d + 2

    @property
    def key(self):
        return self.query + self.nq

    @property
    def table(self):
        return self.key + self.nq

    @property
    def S(self):
        """``L e^Lambda + 1``: the head's output multiplier (the matched token and the inputs' total weight)."""
        return self.L * math.exp(self.anchor) + 1.0

    def band_mass(self, lam):
        """``W-bar = (1 + sum_{m>=1} e^(-lam m^2/8))^(d+1)``: the prompt's weight for any query, bands included."""
        theta = sum(math.exp(-lam * m * m / 8.0) for m in range(1, 64))
        return (1.0 + theta) ** (self.d + 1)

    @property
    def anchor(self):
        """``Lambda = ceil(ln K) + 10``: the input rows' logit, so the context code barely sees the prompt's mass."""
        return float(math.ceil(math.log(self.K)) + 10)

    @property
    def kappa(self):
        d, L, k = self.d, self.L, self.k
        t2 = ((L - 1) ** 2 + d * (k - 1) ** 2) / 4.0
        return max(1.0, t2 / 2.0, max(L - 1, k - 1) / 2.0)


@dataclass(frozen=True, eq=False)
class TokenConstruction(GridConstruction):
    """Constructed token-width weights for ``(d, L, k)`` (module docstring).

    Same interface as :class:`promptlimits.construct.Construction`:
    ``predict``, ``in_bands``, ``embed``, ``bound``, ``sizes``, ``describe``,
    ``with_lam``; ``width == "token"``. ``model.d`` is the width ``w``.
    """


    width = "token"

    @property
    def layout(self) -> _TokenLayout:
        return _TokenLayout(self.d, self.L, self.k, self.model.d)

    @property
    def prompt_max(self) -> float:
        """``‖P‖max = max(1, R)`` of the closed-form prompt (an upper bound; equality when some ``|f| = R``)."""
        return max(1.0, self.value_range)

    @property
    def sizes(self) -> dict:
        out = token_sizes(self.d, self.L, self.k, self.model.d)
        out.update(D=self.model.d, band_measure=band_measure(self.L, self.d, self.k, self.xi), lam=self.lam,
                   kappa=self.layout.kappa, gate=self.gate, prompt_max=self.prompt_max)
        return out

    def with_lam(self, lam) -> TokenConstruction:
        """The same construction with logit scale ``lambda`` (the head scale here; ``E`` keeps ``Lambda``)."""
        lam = check_positive_float(lam, "lambda")
        return replace(self, lam=lam, model=replace(self.model, scale=lam, E=_positions(self.layout, lam)))

    def leakage(self) -> float:
        return token_leakage(self.d, self.L, self.k, self.lam)

    def bound(self, K_f) -> float:
        """Proved sup error outside the bands (exact arithmetic; module docstring, §8.6); ``inf`` if unproved."""
        K_f = check_positive_float(K_f, "Lipschitz constant K_f", allow_zero=True)
        e, R, K, S = self.leakage(), self.value_range, self.layout.K, self.layout.S
        if 8 * K * e > S or e > 0.25:
            return math.inf
        return K_f * self.delta / 2 + 2 * R * e * (S + 1) / S + 2 * self.gate * K * e / S

    def band_bound(self, K_f) -> float:
        """Proved sup error over every input, bands included: ``10 R + K_f/(2k)`` (§8.6); ``inf`` if unproved."""
        K_f = check_positive_float(K_f, "Lipschitz constant K_f", allow_zero=True)
        if self.layout.band_mass(self.lam) * (1 + 1 / self.layout.S) > 2.0:
            return math.inf
        return 10 * self.value_range + K_f * self.delta / 2

    def rounding(self) -> float:
        """Float64 allowance added to :meth:`bound` (§8.6): FF2's sum of ``m2`` terms, ``gamma_m2`` times their size.

        ``gamma_m2 (4 R L G + 2 M (L G)(L K)) + 2^-30``: the gate pairs below the
        code are large (``M (z - u)``) though each pair's difference is at most
        ``M``; ``2^-30`` covers FF1, the logits and the head (each exact to a few
        ulps of numbers below ``L K``).
        """
        m2, LG, LK = self.sizes["m2"], self.L * self.layout.G, self.L * self.layout.K
        gamma = m2 * 2.0**-53 / (1 - m2 * 2.0**-53)
        return gamma * (4 * self.value_range * LG + 2 * self.gate * LG * LK) + 2.0**-30

    def describe(self) -> str:
        s = self.sizes
        rows = [
            ("width w", "d k^(d(L-1)) + 5d + 8", s["w"]),
            ("lower bound on w", "d k^(d(L-1)) - 1 (theory §8.5)", s["w_lower"]),
            ("head size s", "max(2d + 3, d k^(d(L-1)) + 1)", s["s"]),
            ("FF1 width m1", "2 L d (k - 1)", s["m1"]),
            ("FF2 width m2", "d + 2 L (d + 1) k^(d(L-1))", s["m2"]),
            ("prompt length Lp", "L k^d", s["Lp"]),
            ("prompt entries", "Lp w", s["prompt_entries"]),
            ("||P||max", "max(1, R)", self.prompt_max),
            ("weights", f"{s['n_weights']} entries", f"{s['weight_bytes'] / 2**20:.1f} MiB"),
            ("ramp width xi", "given; steepness 1/xi", self.xi),
            ("band measure", "1 - (1 - (k-1) xi)^(L d)", s["band_measure"]),
            ("logit scale", "lambda", self.lam),
            ("gate M", "4 R", self.gate),
            ("leakage eps", "prod (1 + 2 sum_n e^(-lambda n^2/2)) - 1", self.leakage()),
        ]
        head = f"token-width construction d={self.d}, L={self.L}, k={self.k}"
        return "\n".join([head] + [f"  {a:<18} = {b:<44} = {v:.6g}" if isinstance(v, float)
                                   else f"  {a:<18} = {b:<44} = {v}" for a, b, v in rows])


def band_measure(L, d, k, xi) -> float:
    """Exact measure of the inputs with some coordinate in a band: ``1 - (1 - (k-1) xi)^(L d)``."""
    return -math.expm1(L * d * math.log1p(-(k - 1) * xi))


def build_token(d, L, k, *, lam, xi, value_range, width, max_bytes) -> TokenConstruction:
    """Build the token-width construction (arguments checked by :func:`promptlimits.construct.build`)."""
    need = token_sizes(d, L, k, width)
    if width is not None and width < need["w_construction"]:
        raise ValueError(f"width {width} is too small for the token construction d={d}, L={L}, k={k}: it needs "
                         f"w >= d k^(d(L-1)) + 5d + 8 = {need['w_construction']} (no width below "
                         f"d k^(d(L-1)) - 1 = {need['w_lower']} memorizes every grid target; docs/theory.md §8.5)")
    if need["weight_bytes"] > max_bytes:
        raise ValueError(f"token construction d={d}, L={L}, k={k} needs {need['weight_bytes'] / 2**20:.1f} MiB of "
                         f"weights (w = {need['w']}, FF2 width m2 = {need['m2']}), above max_bytes = "
                         f"{max_bytes / 2**20:.1f} MiB")
    lay = _TokenLayout(d, L, k, need["w"])
    R = value_range
    WQ, WK, WV, WO = _head(lay)
    meta = {"construction": {"width": "token", "d": d, "L": L, "k": k, "xi": xi, "value_range": R}}
    model = PromptedModel(_ff1(lay, xi), WQ, WK, WV, WO, _ff2(lay, 4.0 * R, R), lam, "softmax", meta,
                          _positions(lay, lam))
    return TokenConstruction(d, L, k, lam, xi, R, model)


def _positions(lay: _TokenLayout, lam: float) -> np.ndarray:
    d, L, k = lay.d, lay.L, lay.k
    i = np.arange(L, dtype=np.float64)
    E = np.zeros((L, lay.w))
    E[:, : d] = 2.0 * i[:, None]
    code_below = np.array([float(k ** (d * p) - 1) for p in range(L)])  # steps of earlier positions, in v
    E[:, lay.id] = -code_below
    E[:, lay.z] = i * lay.K + code_below
    q = lay.query
    E[:, q] = i - (L - 1) / 2.0
    E[:, q + d + 1] = (i - (L - 1) / 2.0) ** 2
    E[:, q + 2 * d + 2] = 1.0
    E[:, lay.key + 2 * d + 2] = lay.anchor / (lam * lay.kappa)  # input rows' logit Lambda against every query
    for j in range(d):
        E[:, q + 1 + j] = -(k - 1) * i - (k - 1) / 2.0
        E[:, q + d + 2 + j] = (k - 1) ** 2 / 4.0  # the steps of earlier positions sum to 0 here
    return E


def _ff1(lay: _TokenLayout, xi: float) -> FFWeights:
    d, L, k = lay.d, lay.L, lay.k
    i, j, a = (g.ravel() for g in np.meshgrid(np.arange(L), np.arange(d), np.arange(1, k), indexing="ij"))
    t = 2.0 * i + a / k
    steps = i.size
    W1 = np.zeros((lay.w, 2 * steps))
    W1[j, 2 * np.arange(steps)] = W1[j, 2 * np.arange(steps) + 1] = 1.0 / xi
    b1 = np.empty(2 * steps)
    b1[0::2], b1[1::2] = -t / xi, -t / xi - 1.0
    S = np.zeros((steps, lay.w))
    r = np.arange(steps)
    weight = np.array([float(k ** (jj + d * ii)) for ii, jj in zip(i, j)])
    S[r, lay.query + 1 + j] = 1.0
    S[r, lay.query + d + 2 + j] = 2.0 * a - k
    S[r, lay.id] = weight
    S[r, lay.z] = -weight
    W2 = np.repeat(S, 2, axis=0)
    W2[1::2] *= -1.0
    return FFWeights(W1, b1, W2, np.zeros(lay.w))


def _head(lay: _TokenLayout):
    w, nq, dG = lay.w, lay.nq, lay.d * lay.G
    s = max(nq, dG + 1)
    WQ, WK, WV, WO = np.zeros((w, s)), np.zeros((w, s)), np.zeros((w, s)), np.zeros((s, w))
    r = np.arange(nq)
    WQ[lay.query + r, r] = lay.kappa
    WK[lay.key + r, r] = 1.0
    WV[lay.id, 0] = 1.0
    t = np.arange(dG)
    WV[lay.table + t, 1 + t] = 1.0
    WO[0, lay.z] = lay.S * math.exp(-lay.anchor)  # the inputs' total weight is L e^Lambda / (W + L e^Lambda)
    WO[1 + t, lay.table + t] = lay.S  # S = L e^Lambda + 1; the matched token's weight is 1 / (W + L e^Lambda)
    return WQ, WK, WV, WO


def _contexts(lay: _TokenLayout) -> np.ndarray:
    n = (lay.L - 1) * lay.d
    if n == 0:
        return np.zeros((1, 0), dtype=np.int64)
    return np.stack(np.unravel_index(np.arange(lay.G), (lay.k,) * n), axis=1)


def context_codes(lay: _TokenLayout) -> np.ndarray:
    """``u[i, g] = i K + sum_{p != i} (sum_j c_pj k^j) k^(d p)``: the code ``z`` of position ``i``, context ``g``."""
    d, L, k = lay.d, lay.L, lay.k
    digits = _contexts(lay)
    u = np.zeros((L, lay.G))
    for i in range(L):
        others = [p for p in range(L) if p != i]
        u[i] = i * lay.K
        for r, p in enumerate(others):
            for j in range(d):
                u[i] += digits[:, r * d + j].astype(np.float64) * float(k ** (j + d * p))
    return u


def _ff2(lay: _TokenLayout, M: float, R: float) -> FFWeights:
    d, L, G = lay.d, lay.L, lay.G
    m2 = d + 2 * L * G * (d + 1)
    W1, b1, W2, b2 = np.zeros((lay.w, m2)), np.zeros(m2), np.zeros((m2, lay.w)), np.zeros(lay.w)
    j = np.arange(d)
    W1[lay.x + j, j] = 1.0
    W2[j, lay.x + j] = -1.0
    b2[lay.x + j] = -R
    u = context_codes(lay)
    g, jj = (a.ravel() for a in np.meshgrid(np.arange(G), j, indexing="ij"))
    per_i = 2 * G * (d + 1)
    for i in range(L):
        base = d + i * per_i
        A = base + np.arange(G * d)            # relu(T + R + M (z - u))
        B = A + G * d                          # relu(T + R + M (z - u - 1))
        C = base + 2 * G * d + np.arange(G)    # relu(z - u)
        Dn = C + G                             # relu(z - u - 1)
        for units, shift in ((A, 0.0), (B, 1.0)):
            W1[lay.table + g * d + jj, units] = 1.0
            W1[lay.z, units] = M
            b1[units] = R - M * (u[i, g] + shift)
        W2[A, lay.x + jj] = 1.0
        W2[B, lay.x + jj] = -1.0
        W1[lay.z, C] = W1[lay.z, Dn] = 1.0
        b1[C], b1[Dn] = -u[i], -u[i] - 1.0
        W2[C[:, None], lay.x + j[None, :]] = -M
        W2[Dn[:, None], lay.x + j[None, :]] = M
    return FFWeights(W1, b1, W2, b2)


def token_prompt(c: TokenConstruction, f) -> np.ndarray:
    """The closed-form prompt ``(Lp, w)`` for target ``f`` (module docstring); ``‖P‖max <= max(1, R)``."""
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
    P = np.zeros((c.Lp, lay.w))
    P[:, : d] = -1.0
    cells = np.stack(np.unravel_index(np.arange(nd), (k,) * d), axis=1)
    kap = lay.kappa
    for i in range(L):
        rows = i * nd + np.arange(nd)
        t = np.concatenate([np.full((nd, 1), i - (L - 1) / 2.0), cells - (k - 1) / 2.0], axis=1)  # (nd, d+1)
        P[rows, lay.key: lay.key + d + 1] = t / kap
        P[rows, lay.key + d + 1: lay.key + 2 * d + 2] = -0.5 / kap
        P[rows, lay.key + 2 * d + 2] = -0.5 * (t * t).sum(axis=1) / kap
        own = list(range(i * d, (i + 1) * d))
        rest = [a for a in range(L * d) if a not in own]
        tab = np.transpose(cube[..., i, :], own + rest + [L * d])
        P[rows, lay.table: lay.table + d * lay.G] = tab.reshape(nd, lay.G * d)
    return P
