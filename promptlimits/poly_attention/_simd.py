"""Eight-wide vector blocks of the polynomial-method kernels, written as Numba intrinsics (docs/theory.md §3.9).

Every block works on rows of eight doubles: a row of a monomial block ``M``
(one monomial of eight keys or queries) or of a column tile of ``S`` (eight
columns). Each is emitted as LLVM vector code on ``<8 x double>`` (two AVX2
registers, or one AVX-512 register), so the vector width does not depend on
what the auto-vectorizers find, and a kernel compiles in a fraction of the
time that the same work written as 64 scalar statements takes to type.

Arithmetic: products and sums are rounded once each, except ``a * b + c``,
which is one FMA (``llvm.fma``, rounded once) — the operations
docs/theory.md §4.6 counts. The order of every sum is fixed by the code below
(it does not depend on the machine, the thread or the data), so a block's
results depend only on its inputs.

Arrays are float64 and C-contiguous (``runs`` uint64); indices are not
checked: the drivers in :mod:`._plan` pad rows to multiples of 8 and column
tiles to 8 columns. Without the JIT (``NUMBA_DISABLE_JIT=1``) the same
blocks come from :mod:`._simd_python`.
"""

from __future__ import annotations

from llvmlite import ir
from numba import config, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Doubles per vector: the kernels' lane count and column tile width.
WIDTH = 8

_F64 = ir.DoubleType()
_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_VEC = ir.VectorType(_F64, WIDTH)


# -- IR helpers -------------------------------------------------------------------


class _Arrays:
    """Element pointers into the (C-contiguous) array arguments of one intrinsic call."""

    def __init__(self, context, builder, sig, args):
        self.context, self.builder = context, builder
        self.arrays = {i: (ty, context.make_array(ty)(context, builder, val))
                       for i, (ty, val) in enumerate(zip(sig.args, args)) if isinstance(ty, types.Array)}

    def ptr(self, i, *index):
        """Pointer to element ``index`` of argument ``i`` (``index`` as LLVM ints)."""
        ty, ary = self.arrays[i]
        return cgutils.get_item_pointer(self.context, self.builder, ty, ary, list(index), wraparound=False)


def _c(value) -> ir.Constant:
    return ir.Constant(_I64, value)


def _vload(builder, ptr):
    """The eight doubles at ``ptr``."""
    return builder.load(builder.bitcast(ptr, _VEC.as_pointer()), align=8)


def _vstore(builder, vec, ptr) -> None:
    builder.store(vec, builder.bitcast(ptr, _VEC.as_pointer()), align=8)


def _splat(builder, x):
    """``(x, x, ..., x)``."""
    v = builder.insert_element(ir.Constant(_VEC, ir.Undefined), x, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, ir.Constant(_VEC, ir.Undefined),
                                  ir.Constant(ir.VectorType(_I32, WIDTH), [0] * WIDTH))


def _broadcast(builder, ptr, k: int):
    """``ptr[k]`` in every lane, loaded from memory (a broadcast load: no shuffle on the vector ports)."""
    return _splat(builder, builder.load(builder.gep(ptr, [_c(k)])))


def _fma(builder, a, b, c):
    """``a * b + c`` lane by lane, rounded once."""
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VEC, [_VEC] * 3), "llvm.fma.v8f64")
    return builder.call(fn, [a, b, c])


# -- the blocks ----------------------------------------------------------------------


@intrinsic
def rows_update(typingctx, OUT, IN, COEF, k0, c0, r, LANE_SUMS, y):
    """``OUT[a, :] += sum_k IN[a, k] COEF[k0+k, c0:c0+8]`` for ``a < r`` (``k < 8``, in order).

    ``OUT`` and ``IN`` are ``(>= r, 8)``: a column tile of ``S`` and a monomial
    block (the key pass: ``S[a, c] += sum_b m_a(k_b) v_b[c]``), or the other way
    round (the backward's ``dm[a, b] += sum_c S[a, c] dN[b, c]``). Unless
    ``LANE_SUMS`` is ``None``, also ``LANE_SUMS[a, :] += IN[a, :] * y`` (the
    lane sums of ``s_1``, or of ``w_1`` with weights ``y``), while the row is in
    registers. Each ``OUT[a, c]`` is one chain of eight FMAs.
    """
    sums = not isinstance(LANE_SUMS, types.NoneType)
    sig = types.void(OUT, IN, COEF, k0, c0, r, LANE_SUMS, y)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        k0v, c0v, rv = args[3], args[4], args[5]
        coef = [_vload(builder, arr.ptr(2, builder.add(k0v, _c(k)), c0v)) for k in range(WIDTH)]
        yv = _vload(builder, arr.ptr(7, _c(0))) if sums else None
        with cgutils.for_range(builder, rv) as loop:
            pin, pout = arr.ptr(1, loop.index, _c(0)), arr.ptr(0, loop.index, _c(0))
            if sums:
                psum = arr.ptr(6, loop.index, _c(0))
                _vstore(builder, _fma(builder, _vload(builder, pin), yv, _vload(builder, psum)), psum)
            acc = _vload(builder, pout)
            for k in range(WIDTH):
                acc = _fma(builder, _broadcast(builder, pin, k), coef[k], acc)
            _vstore(builder, acc, pout)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def rows_reduce(typingctx, M, S, w, r, N, ct, E):
    """``N[b, ct:ct+8] = sum_a M[a, b] S[a, :]`` and ``E = sum_a M[a, :] w[a]`` over ``a < r``, in order.

    The query pass (``N_i = m(q_i) S_V w``, ``E_i = m(q_i) . s_1 w``) and the
    backward's ``dV``: nine accumulators of eight lanes, each one FMA per row.
    """
    sig = types.void(M, S, w, r, N, ct, E)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        rv, ctv = args[3], args[5]
        accs = [cgutils.alloca_once_value(builder, ir.Constant(_VEC, [0.0] * WIDTH)) for _ in range(WIDTH + 1)]
        with cgutils.for_range(builder, rv) as loop:
            pm = arr.ptr(0, loop.index, _c(0))
            srow = _vload(builder, arr.ptr(1, loop.index, _c(0)))
            wa = _splat(builder, builder.load(arr.ptr(2, loop.index)))
            builder.store(_fma(builder, _vload(builder, pm), wa, builder.load(accs[WIDTH])), accs[WIDTH])
            for b in range(WIDTH):
                builder.store(_fma(builder, _broadcast(builder, pm, b), srow, builder.load(accs[b])), accs[b])
        for b in range(WIDTH):
            _vstore(builder, builder.load(accs[b]), arr.ptr(4, _c(b), ctv))
        _vstore(builder, builder.load(accs[WIDTH]), arr.ptr(6, _c(0)))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def divide_rows(typingctx, A, a0, OUT, D, ct):
    """``OUT[b, ct:ct+8] = A[a0+b, ct:ct+8] / D[b]`` for the eight rows ``b``: one vector division each.

    Each lane is the correctly rounded quotient, as a scalar division gives;
    the query pass's ``T = N/D`` and the backward's ``dN = G/D``.
    """
    sig = types.void(A, a0, OUT, D, ct)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        a0v, ctv = args[1], args[4]
        for b in range(WIDTH):
            num = _vload(builder, arr.ptr(0, builder.add(a0v, _c(b)), ctv))
            den = _splat(builder, builder.load(arr.ptr(3, _c(b))))
            _vstore(builder, builder.fdiv(num, den), arr.ptr(2, _c(b), ctv))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def nodes_update(typingctx, S, LANE_SUMS, P, prow, npend, V, j0, nk, y):
    """For the pending monomials ``p < npend`` (rows ``prow[p]`` of ``S``, values ``P[p, :nk]`` on the keys
    ``j0..j0+nk-1``): ``S[t, prow[p], :] += sum_k P[p, k] V[j0+k, 8t:8t+8]`` over every tile ``t``, in the
    order of ``k``, and ``LANE_SUMS[prow[p], :] += P[p, 8q:8q+8] y[8q:8q+8]`` (one FMA) for ``q = 0, 1, ...``
    in order (``y`` ones: the lane sums of ``s_1``; ``dD``: those of ``w_1``).

    The depth-first key pass (:mod:`._tree`): each row of ``S`` gets the chain of FMAs that
    :func:`rows_update` gives it over the same keys block after block, so the sums are the same to the
    last bit; the eight pending rows are eight independent chains sharing each load of ``V``.
    ``prow[p]`` must be a valid row for all eight ``p`` (only ``p < npend`` are written).
    """
    sig = types.void(S, LANE_SUMS, P, prow, npend, V, j0, nk, y)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        npv, j0v, nkv = args[4], args[6], args[7]
        rows = [builder.load(arr.ptr(3, _c(p))) for p in range(WIDTH)]
        live = [builder.icmp_signed("<", _c(p), npv) for p in range(WIDTH)]
        accs = [cgutils.alloca_once(builder, _VEC) for _ in range(WIDTH)]
        ntiles = builder.extract_value(arr.arrays[0][1].shape, 0)
        with cgutils.for_range(builder, ntiles) as tile:
            c0 = builder.mul(tile.index, _c(WIDTH))
            for p in range(WIDTH):
                builder.store(_vload(builder, arr.ptr(0, tile.index, rows[p], _c(0))), accs[p])
            with cgutils.for_range(builder, nkv) as k:
                vrow = _vload(builder, arr.ptr(5, builder.add(j0v, k.index), c0))
                for p in range(WIDTH):
                    m = _splat(builder, builder.load(arr.ptr(2, _c(p), k.index)))
                    builder.store(_fma(builder, m, vrow, builder.load(accs[p])), accs[p])
            for p in range(WIDTH):
                with builder.if_then(live[p], likely=True):
                    _vstore(builder, builder.load(accs[p]), arr.ptr(0, tile.index, rows[p], _c(0)))
        groups = builder.udiv(nkv, _c(WIDTH))
        for p in range(WIDTH):
            with builder.if_then(live[p], likely=True):
                psum = arr.ptr(1, rows[p], _c(0))
                builder.store(_vload(builder, psum), accs[0])
                with cgutils.for_range(builder, groups) as q:
                    k0 = builder.mul(q.index, _c(WIDTH))
                    part, yq = _vload(builder, arr.ptr(2, _c(p), k0)), _vload(builder, arr.ptr(8, k0))
                    builder.store(_fma(builder, part, yq, builder.load(accs[0])), accs[0])
                _vstore(builder, builder.load(accs[0]), psum)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def node_gradient(typingctx, WVw, w1w, pos, VT, y, vals, depth, adj, dVT):
    """For the monomial at row ``pos`` of ``WVw`` (tile-major) and ``w1w``, on the 64 lanes of a walk: its
    gradient ``adj[depth, :] = w1w[pos] y + sum_c WVw[pos, c] VT[c, :]`` (one product, then ``c`` in order) and,
    unless ``dVT`` is ``None``, the ``dV`` sums ``dVT[c, :] += vals[depth, :] WVw[pos, c]``.

    The depth-first backward passes (:mod:`._tree`): the key side (``y`` ones) and the query side
    (``WVw, w1w`` the key sums, ``VT`` the ``dN``, ``y`` the ``dD``); ``VT`` and ``dVT`` are ``(W, 64)``,
    ``vals`` and ``adj`` ``(levels, 64)``. The eight vectors of the gradient and of the values stay in
    registers while ``c`` runs, each ``WVw[pos, c]`` is loaded once.
    """
    sums = not isinstance(dVT, types.NoneType)
    sig = types.void(WVw, w1w, pos, VT, y, vals, depth, adj, dVT)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        posv, depthv = args[2], args[6]
        wv = builder.extract_value(arr.arrays[3][1].shape, 0)
        w0 = _splat(builder, builder.load(arr.ptr(1, posv)))
        lanes = [_c(WIDTH * q) for q in range(WIDTH)]
        m = [_vload(builder, arr.ptr(5, depthv, k0)) for k0 in lanes] if sums else None
        accs = [cgutils.alloca_once_value(builder, builder.fmul(w0, _vload(builder, arr.ptr(4, k0))))
                for k0 in lanes]
        with cgutils.for_range(builder, wv) as c:
            tile, col = builder.udiv(c.index, _c(WIDTH)), builder.urem(c.index, _c(WIDTH))
            w = _splat(builder, builder.load(arr.ptr(0, tile, posv, col)))
            for q, k0 in enumerate(lanes):
                builder.store(_fma(builder, w, _vload(builder, arr.ptr(3, c.index, k0)), builder.load(accs[q])),
                              accs[q])
                if sums:
                    pd = arr.ptr(8, c.index, k0)
                    _vstore(builder, _fma(builder, w, m[q], _vload(builder, pd)), pd)
        for q, k0 in enumerate(lanes):
            _vstore(builder, builder.load(accs[q]), arr.ptr(7, depthv, k0))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def node_reduce(typingctx, Sw, s1w, pos, vals, depth, NT, DT):
    """For the monomial at row ``pos`` of ``Sw`` (tile-major) and ``s1w``, on the 64 lanes of a walk:
    ``NT[c, :] += vals[depth, :] Sw[pos, c]`` and ``DT += vals[depth, :] s1w[pos]`` (one FMA each): the sums
    ``N`` and ``D`` of the query side of the depth-first backward (:mod:`._tree`)."""
    sig = types.void(Sw, s1w, pos, vals, depth, NT, DT)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        posv, depthv = args[2], args[4]
        wv = builder.extract_value(arr.arrays[5][1].shape, 0)
        lanes = [_c(WIDTH * q) for q in range(WIDTH)]
        m = [_vload(builder, arr.ptr(3, depthv, k0)) for k0 in lanes]
        w1 = _splat(builder, builder.load(arr.ptr(1, posv)))
        for q, k0 in enumerate(lanes):
            pd = arr.ptr(6, k0)
            _vstore(builder, _fma(builder, w1, m[q], _vload(builder, pd)), pd)
        with cgutils.for_range(builder, wv) as c:
            tile, col = builder.udiv(c.index, _c(WIDTH)), builder.urem(c.index, _c(WIDTH))
            w = _splat(builder, builder.load(arr.ptr(0, tile, posv, col)))
            for q, k0 in enumerate(lanes):
                pd = arr.ptr(5, c.index, k0)
                _vstore(builder, _fma(builder, w, m[q], _vload(builder, pd)), pd)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def descend(typingctx, vals, xb, depth, c, groups, P, slot):
    """``vals[depth, :] = vals[depth-1, :] * xb[c, :]`` (the child ``x_c a`` of the monomial ``a`` at level
    ``depth - 1``), also into ``P[slot, :]``, on the keys ``8q..8q+7``, ``q < groups``: the product
    :func:`monomials` makes, for a walk of the tree (:mod:`._tree`)."""
    sig = types.void(vals, xb, depth, c, groups, P, slot)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        depthv, cv, groupsv, slotv = args[2], args[3], args[4], args[6]
        up = builder.sub(depthv, _c(1))
        with cgutils.for_range(builder, groupsv) as q:
            k0 = builder.mul(q.index, _c(WIDTH))
            v = builder.fmul(_vload(builder, arr.ptr(0, up, k0)), _vload(builder, arr.ptr(1, cv, k0)))
            _vstore(builder, v, arr.ptr(0, depthv, k0))
            _vstore(builder, v, arr.ptr(5, slotv, k0))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def ascend(typingctx, adj, vals, xb, dKT, depth, c, groups):
    """Leave the monomial at level ``depth`` (reached by coordinate ``c``): ``dKT[c, :] += adj[depth, :] *
    vals[depth-1, :]`` and ``adj[depth-1, :] += adj[depth, :] * xb[c, :]`` (one FMA each), on the keys
    ``8q..8q+7``, ``q < groups``: the pull-back :func:`monomials_backward` makes, for a walk (:mod:`._tree`)."""
    sig = types.void(adj, vals, xb, dKT, depth, c, groups)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        depthv, cv, groupsv = args[4], args[5], args[6]
        up = builder.sub(depthv, _c(1))
        with cgutils.for_range(builder, groupsv) as q:
            k0 = builder.mul(q.index, _c(WIDTH))
            a = _vload(builder, arr.ptr(0, depthv, k0))
            pk = arr.ptr(3, cv, k0)
            _vstore(builder, _fma(builder, a, _vload(builder, arr.ptr(1, up, k0)), _vload(builder, pk)), pk)
            pa = arr.ptr(0, up, k0)
            _vstore(builder, _fma(builder, a, _vload(builder, arr.ptr(2, cv, k0)), _vload(builder, pa)), pa)
        return context.get_dummy_value()

    return sig, codegen


def _runs(builder, arr, k):
    """``(out, parent, length, coord)`` of run ``k`` of the basis (argument 2 of the monomial blocks)."""
    return [builder.load(arr.ptr(2, k, _c(j))) for j in range(4)]


@intrinsic
def monomials(typingctx, X, i0, runs, xb, M):
    """``M[a, :] = x_{i0..i0+7}^alpha_a``: the monomials of eight rows of ``X``, by the runs of the basis.

    ``xb[c, :]`` receives column ``c`` of the eight rows; ``M[0] = 1`` and each
    run is one vector multiply per monomial, ``M[out+i] = M[parent+i] * xb[coord]``
    (:class:`promptlimits.features.MonomialBasis`).
    """
    sig = types.void(X, i0, runs, xb, M)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        i0v = args[1]
        ncols = builder.extract_value(arr.arrays[0][1].shape, 1)
        with cgutils.for_range(builder, ncols) as col:
            for b in range(WIDTH):
                x = builder.load(arr.ptr(0, builder.add(i0v, _c(b)), col.index))
                builder.store(x, arr.ptr(3, col.index, _c(b)))
        _vstore(builder, ir.Constant(_VEC, [1.0] * WIDTH), arr.ptr(4, _c(0), _c(0)))
        nruns = builder.extract_value(arr.arrays[2][1].shape, 0)
        with cgutils.for_range(builder, nruns) as run:
            out, par, length, coord = _runs(builder, arr, run.index)
            x = _vload(builder, arr.ptr(3, coord, _c(0)))
            with cgutils.for_range(builder, length) as i:
                parent = _vload(builder, arr.ptr(4, builder.add(par, i.index), _c(0)))
                _vstore(builder, builder.fmul(parent, x), arr.ptr(4, builder.add(out, i.index), _c(0)))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def monomials_backward(typingctx, X, i0, runs, xb, M, dm, dX):
    """Pull ``dm`` (gradients w.r.t. the block ``M`` of rows ``i0..i0+7``) back into ``dX``.

    Runs in reverse order: a run of degree ``j`` reads finished gradients of
    degree ``j`` and adds into degree ``j - 1``: ``dm[parent] += dm[out] x``,
    ``dX[:, coord] += sum_i dm[out+i] M[parent+i]``. ``xb`` and ``M`` as
    :func:`monomials` left them; ``dm`` is overwritten.
    """
    sig = types.void(X, i0, runs, xb, M, dm, dX)

    def codegen(context, builder, sig, args):
        arr = _Arrays(context, builder, sig, args)
        i0v = args[1]
        nruns = builder.extract_value(arr.arrays[2][1].shape, 0)
        acc = cgutils.alloca_once(builder, _VEC)
        with cgutils.for_range(builder, nruns) as run:
            k = builder.sub(builder.sub(nruns, _c(1)), run.index)
            out, par, length, coord = _runs(builder, arr, k)
            x = _vload(builder, arr.ptr(3, coord, _c(0)))
            builder.store(ir.Constant(_VEC, [0.0] * WIDTH), acc)
            with cgutils.for_range(builder, length) as i:
                g = _vload(builder, arr.ptr(5, builder.add(out, i.index), _c(0)))
                p = builder.add(par, i.index)
                builder.store(_fma(builder, g, _vload(builder, arr.ptr(4, p, _c(0))), builder.load(acc)), acc)
                pd = arr.ptr(5, p, _c(0))
                _vstore(builder, _fma(builder, g, x, _vload(builder, pd)), pd)
            total = builder.load(acc)
            for b in range(WIDTH):
                pdx = arr.ptr(6, builder.add(i0v, _c(b)), coord)
                lane = builder.extract_element(total, ir.Constant(_I32, b))
                builder.store(builder.fadd(builder.load(pdx), lane), pdx)
        return context.get_dummy_value()

    return sig, codegen


if config.DISABLE_JIT:  # intrinsics need the JIT: run the NumPy blocks, operation for operation
    from . import _simd_python as _python

    rows_update, rows_reduce, divide_rows = _python.rows_update, _python.rows_reduce, _python.divide_rows
    nodes_update, node_gradient, node_reduce = _python.nodes_update, _python.node_gradient, _python.node_reduce
    descend, ascend = _python.descend, _python.ascend
    monomials, monomials_backward = _python.monomials, _python.monomials_backward
