"""Row loops written as explicit vector code (LLVM IR), for the z-derivative stencils.

Why
---
A z-derivative reads the neighbours ``q +- 1..4`` of a row: numba's loops (vectorised by
LLVM) load each shifted operand with its own unaligned vector load, and with 64-byte
vectors every such load spans two cache lines. On the AMD Zen 4 machine of the
benchmarks those split loads, not the arithmetic, bounded the z-stencil loops: about
17 cycles per vector of 16 cells for 10 loads and 9 floating-point operations.

The kernels made here load each row in aligned vectors (``q - W``, ``q``, ``q + W``;
``W`` lanes) and build the shifted operands with vector shuffles, which run on other
execution units: the same stand-alone z-stencil pass ran 25% faster (528-cell rows).

What
----
:func:`row_kernel` turns a *body*, a Python function that describes the update of ``W``
consecutive cells with ordinary arithmetic on :class:`Vec` values, into a numba
intrinsic that runs the body over one grid row, ``W`` cells at a time. The body sees the
arrays through a :class:`Row`: ``row.x(a, k)`` is ``a[q + k S]`` (another row: an
aligned load), ``row.z(a, k)`` is ``a[q + k]`` (a shuffle), ``row.store(a, v)`` writes.
The last, partial vector of a row writes only its cells (the other lanes keep the values
they had: a blend with the old contents, never a write past the row's cells).

The arithmetic is emitted in the order the body writes it, with the same fast-math flags
as the numba kernels (contraction to FMA, no reassociation), so a body that mirrors a
numba loop gives the same results to the bit (tested).

Requirements: the arrays are flat views of the solver's padded layout (row length
``S``, whole rows of halo before and after the computed rows), so that the aligned
loads around a row's cells stay inside the array. Loads and stores are declared with
element alignment only: nothing faults if an array is not aligned; it is only slower.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = [
    "Vec",
    "Row",
    "row_kernel",
    "vector_bytes",
    "dx_plus",
    "dx_minus",
    "dz_plus",
    "dz_minus",
]

#: LLVM fast-math flags of the numba kernels (``common.NUMBA_OPTIONS['fastmath']``).
_FLAGS = ("contract", "arcp", "nsz")


def vector_bytes() -> int:
    """Width of the vectors the kernels use: 64 bytes with AVX-512, 32 with AVX, else 16."""
    try:
        from llvmlite import binding

        feats = binding.get_host_cpu_features()
    except Exception:  # pragma: no cover - llvmlite without host features
        return 16
    if feats.get("avx512f", False):
        return 64
    if feats.get("avx", False):
        return 32
    return 16


class Vec:
    """A vector of ``W`` values in LLVM IR, with ``+``, ``-`` and ``*`` (scalars too)."""

    __slots__ = ("row", "value")

    def __init__(self, row: Row, value: Any) -> None:
        self.row = row
        self.value = value

    def _other(self, other: Vec | Any) -> Any:
        return other.value if isinstance(other, Vec) else self.row.splat(other)

    def __add__(self, other: Vec | Any) -> Vec:
        return Vec(self.row, self.row.builder.fadd(self.value, self._other(other), flags=_FLAGS))

    def __radd__(self, other: Any) -> Vec:
        return Vec(self.row, self.row.builder.fadd(self._other(other), self.value, flags=_FLAGS))

    def __sub__(self, other: Vec | Any) -> Vec:
        return Vec(self.row, self.row.builder.fsub(self.value, self._other(other), flags=_FLAGS))

    def __rsub__(self, other: Any) -> Vec:
        return Vec(self.row, self.row.builder.fsub(self._other(other), self.value, flags=_FLAGS))

    def __mul__(self, other: Vec | Any) -> Vec:
        return Vec(self.row, self.row.builder.fmul(self.value, self._other(other), flags=_FLAGS))

    def __rmul__(self, other: Any) -> Vec:
        return Vec(self.row, self.row.builder.fmul(self._other(other), self.value, flags=_FLAGS))

    def __neg__(self) -> Vec:
        return Vec(self.row, self.row.builder.fneg(self.value, flags=_FLAGS))


class Row:
    """What a body sees: the arrays at the vector's first cell ``q``, and the scalars.

    Parameters are set by :func:`row_kernel`; a body uses :meth:`x`, :meth:`z`,
    :meth:`load`, :meth:`store` and :attr:`s` (the scalar arguments, as IR values that
    :class:`Vec` arithmetic broadcasts).
    """

    def __init__(self, builder: Any, ptrs: Sequence[Any], qs: Sequence[Any], stride: Any,
                 scalars: Sequence[Any], vty: Any, mask: Any | None, row: int = 0,
                 loads: dict[tuple[int, int, int], Any] | None = None) -> None:  # fmt: skip
        self.builder = builder
        self.ptrs = list(ptrs)
        self.qs = list(qs)
        self.stride = stride
        self.s = list(scalars)
        self.vty = vty
        self.width = vty.count
        self.mask = mask
        #: which row of a several-row kernel (its cells are ``row`` rows after ``qs``)
        self.row = row
        # loaded vectors by (array, rows, vectors) from ``qs``: shared by the rows of a
        # several-row kernel, so that a row's stencil reuses the rows its neighbour loaded
        self._loads: dict[tuple[int, int, int], Any] = {} if loads is None else loads

    # ---------------------------------------------------------------- IR helpers
    def splat(self, x: Any) -> Any:
        from llvmlite import ir

        b = self.builder
        i32 = ir.IntType(32)
        v = b.insert_element(ir.Constant(self.vty, ir.Undefined), x, i32(0))
        zeros = ir.Constant(ir.VectorType(i32, self.width), [0] * self.width)
        return b.shuffle_vector(v, ir.Constant(self.vty, ir.Undefined), zeros)

    def has(self, a: int) -> bool:
        """Whether array ``a`` was given (``None`` selects a variant without it)."""
        return self.ptrs[a] is not None

    def _ptr(self, a: int, offset: Any) -> Any:
        if self.ptrs[a] is None:
            raise TypeError(f"array {a} of this row kernel is None (check Row.has first)")
        b = self.builder
        p = b.gep(self.ptrs[a], [b.add(self.qs[a], offset)])
        return b.bitcast(p, self.vty.as_pointer())

    def _load(self, a: int, rows: int, vectors: int) -> Any:
        """The vector at ``a[q + rows S + vectors W]`` (loaded once per vector of cells)."""
        from llvmlite import ir

        k = (a, rows, vectors)
        if k not in self._loads:
            i64 = self.stride.type
            off = ir.Constant(i64, vectors * self.width)
            if rows:
                off = self.builder.add(self.builder.mul(self.stride, ir.Constant(i64, rows)), off)
            self._loads[k] = self.builder.load(self._ptr(a, off), align=_elem_bytes(self.vty))
        return self._loads[k]

    # ---------------------------------------------------------------- body API
    def x(self, a: int, k: int) -> Vec:
        """``a[q + k S]``: the same cells ``k`` rows away (``k`` a Python int)."""
        return Vec(self, self._load(a, self.row + k, 0))

    def load(self, a: int) -> Vec:
        """``a[q]``."""
        return self.z(a, 0)

    def z(self, a: int, k: int) -> Vec:
        """``a[q + k]``: built from aligned loads (``a[q + j W]``) by a shuffle."""
        from llvmlite import ir

        w = self.width

        def block(j: int) -> Any:  # the vector of a[q + j W]
            return self._load(a, self.row, j)

        j, m = divmod(k, w)
        if m == 0:
            return Vec(self, block(j))
        idx = ir.Constant(ir.VectorType(ir.IntType(32), w), [m + lane for lane in range(w)])
        return Vec(self, self.builder.shuffle_vector(block(j), block(j + 1), idx))

    def store(self, a: int, v: Vec, stream: bool = False) -> None:
        """``a[q] = v`` (in the last vector of a row, only the row's cells).

        ``stream``: a non-temporal store (past the caches, without reading the line
        first) for data written once and read much later. It needs ``a[q]`` on a
        whole vector (the caller guarantees it); the last, partial vector of a row is
        stored as usual."""
        value = v.value
        if self.mask is not None:
            old = self.z(a, 0).value
            value = self.builder.select(self.mask, value, old)
        off = self.stride.type(0)
        if self.row:
            off = self.builder.mul(self.stride, self.stride.type(self.row))
        if stream and self.mask is None:
            from llvmlite import ir

            nbytes = self.width * _elem_bytes(self.vty)
            st = self.builder.store(value, self._ptr(a, off), align=nbytes)
            one = self.builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
            st.set_metadata("nontemporal", one)
        else:
            self.builder.store(value, self._ptr(a, off), align=_elem_bytes(self.vty))
        # a later read of a[q] in the same body (or another row's) sees the new value
        self._loads[(a, self.row, 0)] = value


def _elem_bytes(vty: Any) -> int:
    from llvmlite import ir

    return 8 if isinstance(vty.element, ir.DoubleType) else 4


# ---------------------------------------------------------------------- stencils
# The staggered first derivatives of order 8 (coefficients ``c1..c4``; for lower orders
# the trailing ones are zero), operation for operation as the numba loops write them.


def _staggered(at: Callable[[int, int], Vec], a: int, c: Sequence[Any], s: int) -> Vec:
    """``sum_k c_k (a[k + s] - a[s - 1 - k])``, k = 0..3, with ``a[m]`` = ``at(a, m)``:
    ``s = 1`` from nodes to the half-cell points after them, ``s = 0`` the reverse."""
    c1, c2, c3, c4 = c
    g = c1 * (at(a, s) - at(a, s - 1)) + c2 * (at(a, s + 1) - at(a, s - 2))
    return g + c3 * (at(a, s + 2) - at(a, s - 3)) + c4 * (at(a, s + 3) - at(a, s - 4))


def dx_plus(r: Row, a: int, c: Sequence[Any]) -> Vec:
    """``D+x a``: from the nodes of ``a`` to half a cell after them along x."""
    return _staggered(r.x, a, c, 1)


def dx_minus(r: Row, a: int, c: Sequence[Any]) -> Vec:
    """``D-x a``: from half-cell points of ``a`` to the points half a cell before them."""
    return _staggered(r.x, a, c, 0)


def dz_plus(r: Row, a: int, d: Sequence[Any]) -> Vec:
    """``D+z a`` (as :func:`dx_plus`, along z)."""
    return _staggered(r.z, a, d, 1)


def dz_minus(r: Row, a: int, d: Sequence[Any]) -> Vec:
    """``D-z a`` (as :func:`dx_minus`, along z)."""
    return _staggered(r.z, a, d, 0)


def row_kernel(
    narrays: int,
    nscalars: int,
    body: Callable[[Row], None],
    own_base: Sequence[int] = (),
    width_bytes: int | None = None,
    rows: int = 1,
) -> Any:
    """A numba intrinsic that runs ``body`` over the ``n`` cells of one grid row (or of
    ``rows`` consecutive rows).

    Call signature (in compiled code)::

        kern(a_0, .., a_{narrays-1}, b0, n, S, o_0, .., o_{m-1}, s_0, .., s_{nscalars-1})

    with flat float arrays ``a_k`` (one dtype; ``None`` for an array the body uses only
    where :meth:`Row.has` says it was given: numba compiles a variant without it, as for
    optional arguments of the numba kernels), the flat index ``b0`` of the row's first
    cell, the number ``n`` of cells, the row stride ``S`` (:meth:`Row.x`), one base index
    ``o`` for each array listed in ``own_base`` (in that order: the array's cells are
    ``o .. o + n - 1`` instead of ``b0 ..``, e.g. a scratch row or a slot of per-step
    data) and the scalars (converted to the arrays' dtype). ``width_bytes`` overrides
    the vector width (:func:`vector_bytes`; tests use it to cover the other widths).

    With ``rows > 1`` each vector step runs the body for ``rows`` rows in turn, the row
    ``r`` cells ``r S`` after the first (for every array, own bases included): the
    rows' loads are shared, so an x stencil over rows ``i - 4 .. i + 4`` costs 9 loads
    for two rows instead of 16. Every cell sees the same operations as with one row at
    a time, as long as a body reads an array it writes only at its own cells (true of
    every solver loop: it then reads no cell another row of the step writes).
    """
    own = list(own_base)
    names = [f"a{k}" for k in range(narrays)] + ["b0", "n", "S"]
    names += [f"o{k}" for k in range(len(own))] + [f"s{k}" for k in range(nscalars)]
    # numba's intrinsics take fixed parameters (no *args): define the typer with them
    src = f"def kern(typingctx, {', '.join(names)}):\n    return _typer({', '.join(names)})\n"
    nints = 3 + len(own)

    def _typer(*args: Any) -> Any:
        arrs = [a for a in args[:narrays] if not isinstance(a, types.NoneType)]
        if not all(isinstance(a, types.Array) for a in arrs):
            return None
        if len({a.dtype for a in arrs}) != 1:
            return None
        dtype = arrs[0].dtype
        sig = types.void(*args)

        def codegen(context, builder, signature, cargs):
            from llvmlite import ir

            fty = context.get_value_type(dtype)
            nbytes = width_bytes or vector_bytes()
            width = nbytes // (8 if dtype == types.float64 else 4)
            vty = ir.VectorType(fty, width)
            i64 = ir.IntType(64)
            ptrs = [
                None
                if isinstance(signature.args[k], types.NoneType)
                else context.make_array(signature.args[k])(context, builder, cargs[k]).data
                for k in range(narrays)
            ]
            ints = [
                context.cast(builder, cargs[narrays + k], signature.args[narrays + k], types.int64)
                for k in range(nints)
            ]
            b0, n, stride = ints[:3]
            bases = [b0] * narrays
            for k, a in enumerate(own):
                bases[a] = ints[3 + k]
            scal = [
                context.cast(
                    builder, cargs[narrays + nints + k], signature.args[narrays + nints + k], dtype
                )
                for k in range(nscalars)
            ]
            w = ir.Constant(i64, width)
            nfull = builder.sdiv(n, w)

            def at(v: Any) -> list[Any]:
                off = builder.mul(v, w)
                return [builder.add(base, off) for base in bases]

            def run(qs: list[Any], mask: Any | None) -> None:
                loads: dict[tuple[int, int, int], Any] = {}
                for r in range(rows):
                    body(Row(builder, ptrs, qs, stride, scal, vty, mask, r, loads))

            with cgutils.for_range(builder, nfull) as loop:
                run(at(loop.index), None)
            rem = builder.sub(n, builder.mul(nfull, w))
            with builder.if_then(builder.icmp_signed(">", rem, ir.Constant(i64, 0))):
                vi64 = ir.VectorType(i64, width)
                lanes = ir.Constant(vi64, list(range(width)))
                remv = builder.insert_element(
                    ir.Constant(vi64, ir.Undefined), rem, ir.IntType(32)(0)
                )
                remv = builder.shuffle_vector(
                    remv,
                    ir.Constant(vi64, ir.Undefined),
                    ir.Constant(ir.VectorType(ir.IntType(32), width), [0] * width),
                )
                mask = builder.icmp_signed("<", lanes, remv)
                run(at(nfull), mask)
            return context.get_dummy_value()

        return sig, codegen

    scope: dict[str, Any] = {"_typer": _typer}
    exec(src, scope)  # noqa: S102 - a fixed template; names are generated above
    return intrinsic(scope["kern"])
