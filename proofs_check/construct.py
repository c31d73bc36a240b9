"""Checks of the universality construction and its error bound (docs/theory.md §8;
:mod:`promptlimits.construct`).

The proof, in four steps, each a check:

* **8a** (exhaustive, exact integers) -- with ideal slots, the built weights
  retrieve: against a token at position ``i`` in cell ``c`` every input token
  has logit 0, prompt token ``(i, c)`` has logit 0, prompt token ``(i', c')``
  has ``-lambda (d - m)`` (``m`` matching coordinates, ``i' = i``) or
  ``-lambda d``; the generating polynomial of the other logits is
  ``(1 + (k-1) x)^d - 1 + (L-1) k^d x^d`` (``x = e^-lambda``), which is
  ``eps_s``; ``lambda`` enters only the prompt's key and bias columns. With
  zero leakage (weight ``1/(L+1)`` on the matched token and the ``L`` inputs)
  the model outputs exactly the table entry at every grid point.
* **8b** (exact rationals) -- FF1, transcribed from the docstring with
  rational ``xi``, equals the built float weights to rounding and writes the
  one-hot of the token's own ``(position, coordinate, cell)`` at both ends of
  every band-free piece; no ramp breakpoint lies inside a piece, so FF1 is
  affine there and the endpoints decide it. Prompt rows (``x = -1``) pass
  unchanged. The bands' measure ``1 - (1 - (k-1) xi)^(Ld) <= L d (k-1) xi``.
* **8c** (SymPy) -- the leakage algebra: ``eps_s <= (Lp - 1) e^-lambda``;
  with table entries in ``[0, 2R]`` the retrieved entry is off by at most
  ``2R (L+1) eps_s / S`` (``S = L + 1 + eps_s``); the matched gate's
  pre-activation is the entry minus ``M (L-1) d eps_s / S``, every other gate
  is at most the entry minus ``M`` and closes because the entry is at most
  ``M = 4R`` whenever ``(L - 1) eps_s <= L + 1``; the output error is at most
  ``2R (L + 1 + 2 (L-1) d) eps_s / S <= 2R (1 + 2d) (Lp - 1) e^-lambda``; the
  cell quantization adds ``K_f delta / 2``. ``Construction.bound`` and
  ``leakage`` equal the formulas (mpmath, 30 digits).
* **8d** (brute force) -- every cell centre of a +-R table at small
  ``lambda`` and every band-free corner of a linear target stay within the
  bound, which they nearly reach.
* **8e-8h** -- the token-width construction of :mod:`promptlimits.construct_token`
  (docs/theory.md §8.5-§8.7): its FF1, logits and context codes exactly at every
  grid point; its sup bound, reached by linear targets; both constructions'
  band bounds; and the width obstruction (Jacobian rank at most ``w + 1``; at
  ``w = 1`` only the extreme keys win).
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

from .core import NotVerified, check, require
from .propagation import _positive_coefficients

_SMALL = ((1, 1, 3), (1, 2, 3), (2, 1, 2), (2, 2, 2), (1, 3, 2), (3, 1, 2))


def _construct():
    try:
        from promptlimits import construct
    except ImportError as exc:  # pragma: no cover - depends on the tree
        raise NotVerified(f"module missing: promptlimits.construct ({exc})") from exc
    return construct


def grid(delta, L, d):
    from promptlimits.datasets import grid as g

    return g(delta, L, d)


def _ideal_rows(c, X):
    """Input rows after FF1 with exact slots: embed + E, slot block = one-hot of the cells of X."""
    lay = c.layout
    H = c.embed(X) + c.model.E
    cells = np.minimum(np.floor(X * c.k), c.k - 1).astype(int)  # (batch, L, d)
    for i, j in itertools.product(range(c.L), range(c.d)):
        H[np.arange(len(X)), i, lay.slot + lay.slot_index(i, j, cells[:, i, j])] = 1.0
    return H, cells


@check("8a.retrieval-exhaustive",
       statement="constructed head: inputs and the matched prompt token at logit 0, prompt (i',c') at -lambda(d-m) or "
                 "-lambda d; other logits' generating polynomial = (1+(k-1)x)^d - 1 + (L-1)k^d x^d; lambda only in "
                 "the prompt; with zero leakage the output is exactly the table entry at every grid point",
       source="docs/theory.md §8; promptlimits.construct docstring",
       method="exhaustive, exact integers + sympy identity")
def retrieval_exhaustive() -> str:
    import sympy as sp

    con = _construct()
    xs = sp.Symbol("x")
    checked = 0
    for d, L, k in _SMALL:
        R = 4.0
        c = con.build(d, L, k, lam=1.0, value_range=R)
        lay = c.layout
        C = grid(1.0 / k, L, d)
        rng = np.random.default_rng(d + 7 * L + 49 * k)
        table = rng.integers(-4, 5, size=C.shape).astype(float)  # integers: every sum below is exact
        index = {tuple(np.round(p.ravel() * k - 0.5).astype(int)): n for n, p in enumerate(C)}
        f = lambda X, table=table, index=index, k=k: table[  # noqa: E731
            [index[tuple(np.round(p.ravel() * k - 0.5).astype(int))] for p in X]]
        P = con.lookup_prompt(c, f)
        P2 = con.lookup_prompt(c.with_lam(2.5), f)
        cols = np.flatnonzero(np.any(P != P2, axis=0))
        require(set(cols) <= set(range(lay.key, lay.key + lay.n_slots)) | {lay.bias}, "lambda outside key/bias")
        require(np.array_equal(P2[:, cols], 2.5 * P[:, cols]), "key/bias columns not linear in lambda")
        require(not P[:, lay.slot: lay.slot + lay.n_slots].any(), "prompt rows carry slots")
        H, cells = _ideal_rows(c, C)
        require(not H[:, :, lay.table:].any(), "input rows carry a table")
        nd = k**d
        for b in range(len(C)):
            Z = np.concatenate([P, H[b]])
            S = (H[b] @ c.model.WQ) @ (Z @ c.model.WK).T  # (L, Lp + L), integers
            for i in range(L):
                own = i * nd + int(np.ravel_multi_index(tuple(cells[b, i]), (k,) * d))
                want = np.full(c.Lp, -float(d))
                pc = np.stack(np.unravel_index(np.arange(nd), (k,) * d), axis=1)
                want[i * nd: (i + 1) * nd] = -(d - (pc == cells[b, i]).sum(axis=1))
                require(np.array_equal(S[i, : c.Lp], want), f"(d,L,k)={(d, L, k)}: prompt logits {S[i, :c.Lp]}")
                require(not S[i, c.Lp:].any(), f"(d,L,k)={(d, L, k)}: input logits {S[i, c.Lp:]} != 0")
                poly = sum(xs ** int(-v) for n, v in enumerate(want) if n != own)
                eps = (1 + (k - 1) * xs) ** d - 1 + (L - 1) * k**d * xs**d
                require(sp.expand(poly - eps) == 0, f"generating polynomial {sp.expand(poly)} != {sp.expand(eps)}")
                w = np.zeros(c.Lp + L)
                w[[own] + list(range(c.Lp, c.Lp + L))] = 1.0 / (L + 1)  # zero leakage
                A = H[b, i] + (w @ (Z @ c.model.WV)) @ c.model.WO
                out, _ = c.model.ff2.forward(A)
                require(abs(out[:d] - table[b, i]).max() <= 1e-12, f"zero-leakage output {out[:d]} != {table[b, i]}")
            checked += 1
    return f"{checked} grid points over (d,L,k) in {_SMALL}: logits, eps_s polynomial and zero-leakage output exact"


def _ff1_exact(d, L, k, xi):
    """FF1 transcribed from the docstring in rationals: list of (coordinate j, threshold t, slot +, slot -)."""
    steps = []
    for i, j, a in itertools.product(range(L), range(d), range(k + 1)):
        t = 2 * i + (Fraction(-1, 2) if a == 0 else Fraction(3, 2) if a == k else Fraction(a, k))
        steps.append((j, t, (i, j, a) if a < k else None, (i, j, a - 1) if a > 0 else None))
    return steps


def _ff1_slots(steps, y, xi):
    """Slot values (dict) of a row whose x block is ``y`` (rationals), exactly."""
    out = {}
    for j, t, up, down in steps:
        r = (y[j] - t) / xi
        s = max(r, 0) - max(r - 1, 0)
        for slot, sign in ((up, 1), (down, -1)):
            if slot is not None:
                out[slot] = out.get(slot, 0) + sign * s
    return out


@check("8b.quantizer-exact",
       statement="FF1 (rational transcription = built float weights) writes the one-hot of (position, coordinate, "
                 "cell) on every band-free piece (affine there: no ramp breakpoint inside; both ends exact); prompt "
                 "rows (x = -1) pass unchanged; band measure 1-(1-(k-1)xi)^(Ld) <= L d (k-1) xi",
       source="docs/theory.md §8; promptlimits.construct docstring",
       method="exact rationals + sympy inequality")
def quantizer_exact() -> str:
    import sympy as sp

    con = _construct()
    pieces = 0
    for d, L, k in _SMALL + ((1, 2, 5),):
        xi = Fraction(1, 1000 * k)
        c = con.build(d, L, k, xi=float(xi))
        steps = _ff1_exact(d, L, k, xi)
        ff = c.model.ff1
        lay = c.layout
        for n, (j, t, up, down) in enumerate(steps):  # the float weights are the transcription, rounded
            w, b = ff.W1[j, 2 * n], ff.b1[2 * n: 2 * n + 2]
            require(abs(w - 1 / xi) <= 1e-15 * w and abs(b[0] + t / xi) <= 1e-15 * abs(t / xi) + 1e-300
                    and abs(b[1] + t / xi + 1) <= 1e-15 * (abs(t / xi) + 1), f"step {n} weights")
            for slot, sign in ((up, 1.0), (down, -1.0)):
                if slot is not None:
                    require(ff.W2[2 * n, lay.slot + lay.slot_index(*slot)] == sign, f"step {n} W2")
        breaks = sorted({t for _, t, _, _ in steps} | {t + xi for _, t, _, _ in steps})
        for i, j, a in itertools.product(range(L), range(d), range(k)):
            lo = 2 * i + (Fraction(a, k) + xi if a > 0 else Fraction(0))
            hi = 2 * i + Fraction(a + 1, k)
            require(not any(lo < t < hi for t in breaks), f"breakpoint inside piece {(i, j, a)}")
            for y_j in (lo, hi):
                y = [Fraction(2 * i)] * d
                y[j] = y_j
                got = {slot: v for slot, v in _ff1_slots(steps, y, xi).items() if v != 0}
                want = {(i, jj, a if jj == j else 0): 1 for jj in range(d)}  # the other coordinates sit at x = 0
                require(got == want, f"slots at {(i, j, a)}, y={y}: {got}")
            pieces += 1
        require(not any(_ff1_slots(steps, [Fraction(-1)] * d, xi).values()), "prompt marker row moves")
        require(np.array_equal(ff.W2[:, : d + L + 1], np.zeros((ff.W2.shape[0], d + L + 1))), "FF1 writes x/pos/bias")
    for n in range(1, 7):  # q = (k-1) xi in [0, 1]: n q - (1 - (1 - q)^n) >= 0, with q = 1/(1+A)
        A = sp.Symbol("A", positive=True)
        q = 1 / (1 + A)
        gap = n * q - (1 - (1 - q) ** n)
        require(sp.simplify(gap) == 0 or _positive_coefficients(gap, (A,)), f"Bernoulli n={n}")
    return f"{pieces} band-free pieces exact; weights equal the transcription; Bernoulli for Ld <= 6"


@check("8c.bound-algebra",
       statement="eps_s <= (Lp-1)e^-lambda; retrieved entry off by <= 2R(L+1)eps_s/S; matched gate = entry - "
                 "M(L-1)d eps_s/S, others <= entry - M <= 0 if (L-1)eps_s <= L+1 (M = 4R); error <= K_f delta/2 + "
                 "2R(L+1+2(L-1)d)eps_s/S <= K_f delta/2 + 2R(1+2d)(Lp-1)e^-lambda; bound()/leakage() = formulas",
       source="docs/theory.md §8; promptlimits.construct docstring",
       method="sympy identity + inequality, mpmath 30 digits")
def bound_algebra() -> str:
    import mpmath
    import sympy as sp

    con = _construct()
    t, K, ell, R, T, W, e = sp.symbols("t K ell R T W epsilon", positive=True)
    L, k = 1 + ell, 1 + K  # L >= 1, k >= 1 (limits by continuity)
    for d in range(1, 6):  # x = e^-lambda = 1/(1+t) in (0, 1]
        x = 1 / (1 + t)
        eps = (1 + (k - 1) * x) ** d - 1 + (L - 1) * k**d * x**d
        require(_positive_coefficients(sp.expand(((L * k**d - 1) * x - eps) * (1 + t) ** d), (t, K, ell))
                or sp.expand((L * k**d - 1) * x - eps) == 0, f"eps_s <= (Lp-1) x, d={d}")
    S = L + 1 + e
    tau, eta, M = (L + 1) / S, e / S, 4 * R
    BT = 2 * R * (L + 1) * e / S
    for Tv, Wv in itertools.product((0, 2 * R), (0, 2 * R * e)):  # t~ - T is affine in (T, W): vertices suffice
        diff = tau * (Tv + Wv) - Tv
        for side in (BT - diff, BT + diff):
            require(sp.simplify(side) == 0 or _positive_coefficients(side, (ell, R, e)), f"vertex {(Tv, Wv)}: {side}")
    tt = tau * (T + W)
    dd = sp.Symbol("d", positive=True)
    n_ctx = (L - 1) * dd
    on = tt + M * (1 + n_ctx * tau - 1 - n_ctx)
    require(sp.simplify(on - (tt - M * n_ctx * eta)) == 0, "matched gate identity")
    other_position = tt + M * (n_ctx * tau - 1 - n_ctx)  # pos_i' = 0, every bag entry at most tau
    other_context = tt + M * (1 + (n_ctx - 1) * tau - 1 - n_ctx)  # one bag entry 0
    for off, c_ in ((other_position, n_ctx), (other_context, n_ctx - 1)):
        require(sp.simplify(off - (tt - M * (1 + c_ * eta))) == 0, "closed gate identity")
    gap = M - tau * 2 * R * (1 + e)  # M minus the largest retrieved entry
    require(sp.simplify(gap - 2 * R * ((L + 1) - (L - 1) * e) / S) == 0, "gate margin identity")
    total = BT + M * n_ctx * eta
    require(sp.simplify(total - 2 * R * (L + 1 + 2 * (L - 1) * dd) * e / S) == 0, "total leakage identity")
    simple = 2 * R * (1 + 2 * dd) * e - total  # e <= (Lp-1) e^-lambda is the line above
    require(_positive_coefficients(simple, (ell, R, e, dd)), f"simple form: {sp.factor(simple)}")
    mpmath.mp.dps = 30
    worst = 0.0
    for (d, L_, k_), lam in itertools.product(((1, 1, 4), (2, 3, 5), (3, 2, 2), (1, 2, 64)), (0.7, 3.0, 12.0, 40.0)):
        c = con.build(d, L_, k_, lam=lam, value_range=1.5)
        x = mpmath.e ** (-mpmath.mpf(lam))
        ee = (1 + (k_ - 1) * x) ** d - 1 + (L_ - 1) * mpmath.mpf(k_) ** d * x**d
        want = mpmath.mpf(0.8) / (2 * k_) + 3 * (L_ + 1 + 2 * (L_ - 1) * d) * ee / (L_ + 1 + ee)
        got = c.bound(0.8)
        if (L_ - 1) * ee > L_ + 1:
            require(math.isinf(got), "bound must be inf when the gates are not proved to close")
            continue
        rel = float(abs(got - want) / want)
        require(rel < 1e-12 and float(abs(c.leakage() - ee) / ee) < 1e-12, f"bound {got} vs {want}")
        worst = max(worst, rel)
    return f"all identities and inequalities hold; bound() vs mpmath worst relative difference {worst:.1e}"


@check("8d.bound-brute-force",
       statement="every cell centre of a +-R table at lambda in {1.5, 4} and every band-free corner of a linear "
                 "target is within bound(K_f) (+1e-9 float allowance); the bound is nearly reached",
       source="docs/theory.md §8; promptlimits.construct",
       method="brute force")
def bound_brute_force() -> str:
    con = _construct()
    ratios = []
    for d, L, k in ((1, 2, 4), (2, 1, 3), (2, 2, 2), (1, 3, 2)):
        C = grid(1.0 / k, L, d)
        table = np.random.default_rng(k).choice([-1.0, 1.0], size=C.shape)
        lookup = {tuple(np.round(p.ravel() * k - 0.5).astype(int)): n for n, p in enumerate(C)}

        def f(X, table=table, lookup=lookup, k=k):
            return table[[lookup[tuple(np.minimum(np.floor(p.ravel() * k), k - 1).astype(int))] for p in X]]

        for lam in (1.5, 4.0):
            c = con.build(d, L, k, lam=lam)
            err = float(np.abs(c.predict(con.lookup_prompt(c, f), C) - f(C)).max())
            b = c.bound(0.0)
            require(err <= b + 1e-9, f"(d,L,k)={(d, L, k)}, lambda={lam}: error {err} > bound {b}")
            ratios.append(err / b if math.isfinite(b) else 0.0)
        c = con.build(d, L, k)
        Wt = np.random.default_rng(d * L).normal(size=(L * d, L * d))
        K_f = float(np.abs(Wt).sum(axis=1).max())
        lin = lambda X, Wt=Wt, K_f=K_f: ((X.reshape(len(X), -1) - 0.5) @ Wt.T / K_f).reshape(X.shape)  # noqa: E731
        ends = sorted({0.0, 1.0} | {a / k + c.xi for a in range(1, k)} | {a / k for a in range(1, k)})
        X = np.array(list(itertools.product(ends, repeat=L * d))).reshape(-1, L, d)
        X = X[~c.in_bands(X)]
        err = float(np.abs(c.predict(con.lookup_prompt(c, lin), X) - lin(X)).max())
        require(err <= c.bound(1.0) + 1e-9, f"(d,L,k)={(d, L, k)}: linear target error {err} > {c.bound(1.0)}")
        ratios.append(err / c.bound(1.0))
    return f"measured/bound ratios: {', '.join(f'{r:.3f}' for r in ratios)}"


# ----------------------------------------------------------------------------- token width (§8.5-§8.7)
_TOKEN_SMALL = ((1, 1, 3), (1, 2, 3), (2, 1, 2), (2, 2, 2), (1, 3, 2), (3, 1, 2))


def _pm_table(k, L, d, seed):
    C = grid(1.0 / k, L, d)
    table = np.random.default_rng(seed).choice([-1.0, 1.0], size=C.shape)

    def f(X):
        idx = np.minimum(np.floor(X * k), k - 1).astype(int).reshape(len(X), -1) @ (k ** np.arange(L * d - 1, -1, -1))
        return table[idx]

    return C, f


@check("8e.token-exhaustive",
       statement="token construction at every grid point: FF1 writes the exact query (i~, c~, i~^2, c~^2, 1), code "
                 "v_i and z = iK - v_i; prompt logits are -lambda |distance|^2 / 2, input logits the anchor Lambda; "
                 "after the head z is the integer context code u (distinct per position and context); the output is "
                 "the table entry of a +-1 table; the leakage formula bounds the exact lattice sum",
       source="docs/theory.md §8.6; promptlimits.construct_token",
       method="exhaustive over the grid, exact integers")
def token_exhaustive() -> str:
    con = _construct()
    from promptlimits.construct_token import context_codes, token_leakage

    n = 0
    for d, L, k in _TOKEN_SMALL:
        c = con.build(d, L, k, width="token")
        lay, m = c.layout, c.model
        C, f = _pm_table(k, L, d, seed=d + 7 * L + 31 * k)
        P = con.lookup_prompt(c, f)
        H, _ = m.ff1.forward(m._positioned(c.embed(C)))
        cells = np.minimum(np.floor(C * k), k - 1).astype(int)
        it = np.broadcast_to(np.arange(L)[None, :] - (L - 1) / 2, (len(C), L))
        ct = cells - (k - 1) / 2
        q = np.concatenate([it[..., None], ct, it[..., None] ** 2, ct**2, np.ones((len(C), L, 1))], axis=2)
        require(np.array_equal(H[..., lay.query: lay.query + 2 * d + 3], q), f"{(d, L, k)}: query columns")
        v = (cells * (k ** np.arange(d))).sum(axis=2) * (k ** (d * np.arange(L)))
        require(np.array_equal(H[..., lay.id], v) and np.array_equal(H[..., lay.z], np.arange(L) * lay.K - v),
                f"{(d, L, k)}: code columns")
        Hp, _ = m.ff1.forward(P)
        S = m.scale * np.einsum("bls,ts->blt", H @ m.WQ, Hp @ m.WK)
        tc = np.stack(np.unravel_index(np.arange(k**d), (k,) * d), axis=1)
        tpos = np.repeat(np.arange(L), k**d)
        tcell = np.tile(tc, (L, 1))
        dist2 = (np.arange(L)[None, :, None] - tpos[None, None, :]) ** 2 + (
            (cells[:, :, None, :] - tcell[None, None, :, :]) ** 2).sum(axis=3)
        require(np.abs(S + c.lam * dist2 / 2).max() < 1e-9 * c.lam * max(1, dist2.max()), f"{(d, L, k)}: logits")
        Si = m.scale * np.einsum("bls,bps->blp", H @ m.WQ, H @ m.WK)
        require(np.allclose(Si, lay.anchor, rtol=1e-13, atol=0), f"{(d, L, k)}: input logits are not Lambda")
        codes = context_codes(lay)
        require(len(set(codes.ravel().tolist())) == codes.size and np.all(codes == np.round(codes)),
                f"{(d, L, k)}: codes not distinct integers")
        u = np.arange(L) * lay.K + v.sum(axis=1, keepdims=True) - v
        for i in range(L):
            require(set(u[:, i].astype(int).tolist()) <= set(codes[i].astype(int).tolist()), "code outside the table")
        err = float(np.abs(c.predict(P, C) - f(C)).max())
        require(err < 1e-9, f"{(d, L, k)}: grid output off the table by {err}")
        for lam in (1.0, 3.0):
            exact = max(float(np.exp(-lam * dist2[b, i] / 2).sum() - 1) for b in range(len(C)) for i in range(L))
            require(exact <= token_leakage(d, L, k, lam) * (1 + 1e-12), f"{(d, L, k)}: leakage bound below the sum")
        n += len(C)
    return f"{n} grid points over {len(_TOKEN_SMALL)} shapes: logits, codes and outputs exact"


@check("8f.token-bound",
       statement="token construction: every cell centre of a +-1 table at lambda in {4, 8} and every band-free "
                 "corner of a linear target within bound(K_f) + rounding; the linear target reaches K_f/(2k)",
       source="docs/theory.md §8.6; promptlimits.construct_token",
       method="brute force")
def token_bound() -> str:
    con = _construct()
    ratios = []
    for d, L, k in ((1, 2, 4), (2, 1, 3), (2, 2, 2), (1, 3, 2)):
        C, f = _pm_table(k, L, d, seed=k)
        for lam in (4.0, 8.0):
            c = con.build(d, L, k, width="token", lam=lam)
            b = c.bound(0.0)
            err = float(np.abs(c.predict(con.lookup_prompt(c, f), C) - f(C)).max())
            require(err <= b + c.rounding(), f"(d,L,k)={(d, L, k)}, lambda={lam}: error {err} > bound {b}")
        c = con.build(d, L, k, width="token")
        Wt = np.random.default_rng(d * L).normal(size=(L * d, L * d))
        K_f = float(np.abs(Wt).sum(axis=1).max())
        lin = lambda X, Wt=Wt, K_f=K_f: ((X.reshape(len(X), -1) - 0.5) @ Wt.T / K_f).reshape(X.shape)  # noqa: E731
        eta = 1e-4 * c.xi
        ends = sorted({0.0, 1.0} | {a / k + c.xi + eta for a in range(1, k)} | {a / k - eta for a in range(1, k)})
        X = np.array(list(itertools.product(ends, repeat=L * d))).reshape(-1, L, d)
        X = X[~c.in_bands(X)]
        err = float(np.abs(c.predict(con.lookup_prompt(c, lin), X) - lin(X)).max())
        require(err <= c.bound(1.0) + c.rounding(), f"(d,L,k)={(d, L, k)}: linear error {err} > {c.bound(1.0)}")
        ratios.append(err / c.bound(1.0))
    require(min(ratios) > 0.99, f"the linear target does not reach the bound: {ratios}")
    return f"linear-target measured/bound: {', '.join(f'{r:.4f}' for r in ratios)}"


@check("8g.band-bounds",
       statement="inside the bands, both constructions stay within band_bound: token 10R + K_f/(2k), wide "
                 "4R + K_f/(2k) ((L-1)d <= L); dense lines through the bands and exact band samples",
       source="docs/theory.md §8.7; promptlimits.construct, promptlimits.universality_lp",
       method="dense sampling")
def band_bounds() -> str:
    con = _construct()
    from promptlimits.universality_lp import sample_bands

    worst = {}
    for width in ("token", "wide"):
        for d, L, k in ((1, 1, 4), (1, 2, 3), (2, 1, 3), (2, 2, 2), (1, 3, 2)):
            c = con.build(d, L, k, width=width, xi=0.02)
            C, f = _pm_table(k, L, d, seed=3 * k + d)
            P = con.lookup_prompt(c, f)
            rng = np.random.default_rng(d + L + k)
            X = sample_bands(c, 3000, rng)
            t = np.concatenate([a / k + np.linspace(0, c.xi, 33) for a in range(1, k)])
            base = rng.uniform(size=(len(t), L, d))
            for pos in range(L * d):  # one coordinate swept through every band, the others random
                Y = base.reshape(len(t), -1).copy()
                Y[:, pos] = t
                X = np.concatenate([X, Y.reshape(-1, L, d)])
            err = float(np.abs(c.predict(P, X) - f(X)).max())
            # f is a +-1 step table: |f(X) - f(centre)| is 0 at the table's own cells; K_f is 0 for the bound
            b = c.band_bound(0.0)
            require(err <= b + c.rounding(), f"{width} (d,L,k)={(d, L, k)}: band error {err} > {b}")
            worst[width] = max(worst.get(width, 0.0), err / b)
    return "; ".join(f"{w}: worst band error / band bound {r:.3f}" for w, r in worst.items())


@check("8h.width-factorization",
       statement="at residual width w the outputs of one row over many contexts depend on the prompt through w+1 "
                 "numbers: Jacobian rank <= w+1 for prompts of any length; at w = 1 only the two extreme keys are "
                 "ever selected",
       source="docs/theory.md §8.5",
       method="random models, numerical rank and exhaustive queries")
def width_factorization() -> str:
    from promptlimits import PromptedModel

    ranks = []
    for w, Lp in ((1, 9), (2, 10), (3, 8)):
        m = PromptedModel.from_seed(w, s=4, m=16, seed=w, scale=1.0, positions=2)
        rng = np.random.default_rng(w)
        P = rng.normal(size=(Lp, w))
        x0 = rng.uniform(size=w)
        X = np.stack([np.stack([x0, rng.uniform(size=w)]) for _ in range(12)])  # 12 contexts of row 0

        def out(p, X=X, m=m, shape=P.shape):
            return m.forward(p.reshape(shape), X)[:, 0, :].ravel()

        h = 1e-6
        J = np.stack([(out(P.ravel() + h * e) - out(P.ravel() - h * e)) / (2 * h) for e in np.eye(P.size)], axis=1)
        sv = np.linalg.svd(J, compute_uv=False)
        rank = int((sv > 1e-6 * sv[0]).sum())
        require(rank <= w + 1 and J.shape[1] > w + 1 and J.shape[0] > w + 1,
                f"w={w}: Jacobian rank {rank} > w + 1 (singular values {sv[:w + 3]})")
        ranks.append((w, rank, J.shape))
    m = PromptedModel.from_seed(1, s=3, m=32, seed=5, scale=1.0)
    P = np.linspace(-3, 3, 25)[:, None]
    hp, _ = m.ff1.forward(P)
    keys = hp @ m.WK
    X = np.linspace(-4, 4, 401)[:, None, None]
    hx, _ = m.ff1.forward(X[:, 0])
    logits = m.scale * (hx @ m.WQ) @ keys.T  # (401, 25)
    top = set(np.argmax(logits, axis=1).tolist())
    ext = {int(np.argmax(hp[:, 0])), int(np.argmin(hp[:, 0]))}
    require(top <= ext, f"w=1: a non-extreme prompt token wins: {sorted(top - ext)}")
    return (", ".join(f"w={w}: rank {r} of {s[0]}x{s[1]}" for w, r, s in ranks) +
            f"; w=1: the winners over 401 queries are {sorted(top)}, the extreme keys {sorted(ext)}")
