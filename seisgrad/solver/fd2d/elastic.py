"""Elastic (isotropic P-SV) propagator of the ``fd2d`` solver.

Physics
-------
Velocity-stress form (plane strain, ``z`` up):

.. math::

    \\rho \\partial_t v_x = \\partial_x \\sigma_{xx} + \\partial_z \\sigma_{xz} + f_x, \\qquad
    \\rho \\partial_t v_z = \\partial_x \\sigma_{xz} + \\partial_z \\sigma_{zz} + f_z,

    \\partial_t \\sigma_{xx} = (\\lambda + 2\\mu) \\partial_x v_x + \\lambda \\partial_z v_z
        - M_{xx} s(t) \\delta, \\quad
    \\partial_t \\sigma_{zz} = \\lambda \\partial_x v_x + (\\lambda + 2\\mu) \\partial_z v_z
        - M_{zz} s(t) \\delta, \\quad
    \\partial_t \\sigma_{xz} = \\mu (\\partial_z v_x + \\partial_x v_z) - M_{xz} s(t) \\delta

with ``mu = rho vs^2``, ``lambda = rho (vp^2 - 2 vs^2)``. A ``force`` source is
:math:`\\mathbf f = (f_x, f_z) s(t) \\delta(\\mathbf x - \\mathbf x_s)`; a ``moment_tensor``
source is the stress glut above (``s`` is the moment *rate*); ``explosion`` (and
``pressure``) is the isotropic tensor ``Mxx = Mzz = amplitude``.

Recorded channels: ``VX``/``VZ`` particle velocity, ``UX``/``UZ`` displacement,
``P = -(sxx + szz) / 2`` (the mean in-plane normal stress with the sign of a pressure).

Discretisation
--------------
Virieux staggered grid (see :mod:`seisgrad.solver.fd2d.elastic_kernels`), staggered
differences of order 2, 4 or 8, leapfrog in time, C-PML on the chosen sides. Material
coefficients on the staggered points: buoyancy ``2 / (rho_i + rho_{i+1})`` (arithmetic
density average), ``mu`` at the shear points as the mean of its four nodes.

Free surface (``free_surface: true``): the traction-free surface is the top row of nodes.
There ``szz = 0``; ``sxx`` is updated with the plane-stress modulus
``4 mu (lambda + mu) / (lambda + 2 mu)`` (from ``szz = 0``). No image values are used:
next to the surface the z derivatives use a summation-by-parts closure
(:mod:`seisgrad.solver.fd2d.free_surface`, applied as corrections of the full stencils:
:func:`surface_corrections`), which conserves a discrete energy for any material under
the surface, so it is stable for thin, slow or fluid surface layers and coastlines. An
ocean with no coast uses the acoustic solver's mirror images instead
(:func:`fluid_closure_columns`). Point sources on the closure's rows are divided by the
rows' weights (:func:`surface_source_weights`, the scheme's inner product), so that
reciprocity with the receivers holds.

Adjoint
-------
Scaled adjoint variables ``U = B v^`` (velocity), ``E = sigma^`` (stress) and ``T = C E``;
then the transposed step is the forward step with negated stencils, plus the adjoint C-PML
input modification in the strips and the transposed surface corrections. Gradients of the
coefficient arrays (sums over steps)::

    dJ/dB   = sum_n a^n U / B            (a: effective acceleration of step n)
    dJ/dL2M = sum_n (exx E_xx + ezz E_zz),  dJ/dLAM = sum_n (exx E_zz + ezz E_xx)
    dJ/dMU  = sum_n exz E_xz               (e: effective strain rates of step n)

and the chain rule to ``(lambda, mu, rho)`` and to the chosen parametrization. Fluid
regions (``vs = 0``) are handled: nothing divides by ``mu``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from seisgrad.errors import DataError, SolverError
from seisgrad.model import Model
from seisgrad.solver.acquisition import PointSource, Receiver
from seisgrad.solver.fd2d.acoustic import image_cancelled
from seisgrad.solver.fd2d.common import (
    HALO,
    NO_RAW,
    Layout,
    PointOperator,
    aligned_copies,
    aligned_fields,
    frozen_operator,
    ftz_enabled,
    kaiser_sinc_weights,
    multiaxial_profiles,
    point_key,
    receiver_taps,
    source_time_table,
)
from seisgrad.solver.fd2d.elastic_kernels import (
    PARALLEL,
    SERIAL,
    SERIAL_BLOCK,
    SERIAL_FUSE,
    STORE_FIELDS,
)
from seisgrad.solver.fd2d.free_surface import (
    INTERIOR_STENCILS,
    surface_tables,
    surface_weights,
)
from seisgrad.solver.fd2d.propagator import Propagator

__all__ = [
    "ElasticPropagator",
    "elastic_point_operator",
    "elastic_state_masks",
    "fluid_surface_columns",
    "lame_from",
    "surface_corrections",
    "surface_depth",
    "fluid_surface_corrections",
    "fluid_closure_columns",
    "surface_source_weights",
    "surface_modulus",
]

_FIELDS = ("vx", "vz", "sxx", "szz", "sxz")
#: forward memory variable -> (field it belongs to, profile: x/z and node/half)
_MEMORY = {
    "mvxx": ("vx", "xh"),
    "mvxz": ("vx", "zn"),
    "mvzx": ("vz", "xn"),
    "mvzz": ("vz", "zh"),
    "mnx": ("sxx", "xn"),
    "mnz": ("sxx", "zn"),
    "msx": ("sxz", "xh"),
    "msz": ("sxz", "zh"),
}
#: forward memory variable -> adjoint memory variable
_ADJ_MEMORY = {
    "mvxx": "pvxx",
    "mvxz": "pvxz",
    "mvzx": "pvzx",
    "mvzz": "pvzz",
    "mnx": "pnx",
    "mnz": "pnz",
    "msx": "psx",
    "msz": "psz",
}
#: multiaxial terms of the left and right layers (``pml_multiaxial``): memory variables
#: of the z derivatives there, as in ``_MEMORY``
_MPML = {
    "m2vx": ("vx", "xh"),
    "m2vz": ("vz", "xn"),
    "m2nn": ("sxx", "xn"),
    "m2xz": ("sxz", "xh"),
}
_ADJ_MPML = {"m2vx": "p2vx", "m2vz": "p2vz", "m2nn": "p2nn", "m2xz": "p2xz"}
#: the z strips whose columns a multiaxial term leaves out (the z profile of its point)
_MPML_COLUMNS = {"m2vx": "zn", "m2vz": "zh", "m2nn": "zn", "m2xz": "zh"}
#: ``pml_multiaxial`` that stopped the growth at fluid-solid interfaces in the side layers
#: (water over rock with and without a free surface, orders 2, 4 and 8, float32 and
#: float64: 16 000 steps, the late records decaying; 0.3 still grew slowly at orders 2
#: and 4, and 0.2 at order 8)
MULTIAXIAL_STABLE = 0.5
_SCRATCH = ("dxx", "dxzx", "dux", "duz")
_GRADS = ("gbx", "gbz", "gl2m", "glam", "gmu")
_STAGGER = {"vx": (1, 0), "vz": (0, 1), "sxx": (0, 0), "szz": (0, 0), "sxz": (1, 1)}
#: sign with which interpolation weights above a free surface fold onto the mirror point
_PARITY = {"vx": 1, "vz": 1, "sxx": 1, "szz": -1, "sxz": -1}
#: symmetry below a fluid's free surface (p = 0: sxx = szz = -p odd, so vx odd too)
_FLUID_PARITY = {"vx": -1, "vz": 1, "sxx": -1, "szz": -1, "sxz": -1}
_SOURCE_KINDS = ("force", "moment_tensor", "explosion", "pressure")


# ============================================================================ helpers


def lame_from(model: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    """``lambda``, ``mu``, ``rho``, ``vp``, ``vs`` (float64) from one parametrization.

    ``names`` is ``("vp", "vs", "rho")``, ``("lambda", "mu", "rho")`` or
    ``("kappa", "mu", "rho")``; ``kappa = lambda + mu`` (the 2D plane-strain bulk
    modulus, as in :func:`seisgrad.model.in_parametrization`).
    """
    get = {k: np.asarray(model[k], dtype=np.float64) for k in names}
    rho = get["rho"]
    if "vp" in get:
        vp, vs = get["vp"], get["vs"]
        mu = rho * vs * vs
        lam = rho * (vp * vp - 2.0 * vs * vs)
    elif "lambda" in get:
        lam, mu = get["lambda"], get["mu"]
    else:
        mu = get["mu"]
        lam = get["kappa"] - mu
    safe = np.where(rho > 0, rho, 1.0)
    vp = np.sqrt(np.clip((lam + 2.0 * mu) / safe, 0.0, None))
    vs = np.sqrt(np.clip(mu / safe, 0.0, None))
    return {"lambda": lam, "mu": mu, "rho": rho, "vp": vp, "vs": vs}


def surface_modulus(lam: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, ...]:
    """Plane-stress modulus ``M = 4 mu (lambda + mu) / (lambda + 2 mu)`` of the free
    surface row and its derivatives ``dM/dlambda``, ``dM/dmu``."""
    d = lam + 2.0 * mu
    m = 4.0 * mu * (lam + mu) / d
    dm_dlam = 4.0 * mu * mu / (d * d)
    dm_dmu = 4.0 * (lam * lam + 2.0 * lam * mu + 2.0 * mu * mu) / (d * d)
    return m, dm_dlam, dm_dmu


def surface_corrections(order: int) -> tuple[np.ndarray, ...]:
    """Stencil corrections for the z derivatives next to a free surface (unit spacing):
    the summation-by-parts closure of :mod:`seisgrad.solver.fd2d.free_surface`.

    The passes use full stencils with zero values above the surface (node row ``s``,
    where ``szz = 0``; ``sxz = 0`` at the surface, half a cell above the last shear row).
    Each table holds ``Delta = closure - full`` (copies, each trimmed to the rows and
    columns it corrects):

    * ``dzz[m, r]``: ``D-z vz`` at node row ``s-1-m`` from ``vz`` at ``s-1/2-r``;
    * ``dxz[m, r]``: ``D+z vx`` at shear row ``s-1/2-m`` from ``vx`` at ``s-r``;
    * ``dvx[m, r]``: ``D-z sxz`` at ``vx`` row ``s-m`` from ``sxz`` at ``s-1/2-r``;
    * ``dvz[m, r]``: ``D+z szz`` at ``vz`` row ``s-1/2-m`` from ``szz`` at ``s-r``.
    """
    return tuple(t.copy() for t in surface_tables(order))


def surface_depth(order: int) -> int:
    """Fewest computational nodes along z with a free surface: the rows the closure's
    tables reach, and the interior stencils' reach beyond them, so that the closure and
    the bottom edge's stencils do not overlap (the summation-by-parts property, and so
    the stability, hold for the whole column)."""
    reach = max(max(t.shape) for t in surface_tables(order))
    return reach + order // 2 + 1


def _pad_alike(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` padded with zeros to their common shape (a solid's and a fluid's
    table, chosen per column)."""
    shape = (max(a.shape[0], b.shape[0]), max(a.shape[1], b.shape[1]))
    out = []
    for t in (a, b):
        p = np.zeros(shape)
        p[: t.shape[0], : t.shape[1]] = t
        out.append(p)
    return out[0], out[1]


def fluid_surface_corrections(order: int) -> tuple[np.ndarray, np.ndarray]:
    """The corrections ``dzz``, ``dvz`` of :func:`surface_corrections` for a column whose
    free surface bounds a fluid ``order / 2`` rows deep or more
    (:func:`fluid_closure_columns`): the full stencils with
    the mirror images of a pressure-release surface, as in the acoustic solver, instead
    of the solid's reduced-order stencils.

    Under a fluid ``sxx = szz = -p`` are odd about the surface node row ``s`` and ``vz``
    is even about it, so a stencil point ``k`` above the surface takes the value of its
    mirror point below (``szz`` negated). Each table holds ``Delta = D_mirror - D_full``
    (the full stencil with zeros above the surface), with the rows and columns of
    :func:`surface_corrections`:

    * ``dzz[m, r]``: ``D-z vz`` at node row ``s-1-m`` (depth ``d = m + 1``): the point
      ``k > d`` at half depth ``d - k + 1/2 < 0`` reads ``vz`` at ``r = k - d - 1``;
    * ``dvz[m, r]``: ``D+z szz`` at ``vz`` row ``s-1/2-m``: the point ``k > m + 1`` at
      depth ``m + 1 - k < 0`` reads ``-szz`` at ``r = k - m - 1``.

    At order 2 both are zero (nothing reaches above the surface): the fluid column then
    uses the same scheme as a solid one, as before.
    """
    full = INTERIOR_STENCILS[order]
    dzz = np.zeros((3, 8))
    dvz = np.zeros((3, 8))
    for m in range(3):
        d = m + 1
        for k, c in enumerate(full, start=1):
            if k > d:
                dzz[m, k - d - 1] += c
            if k > m + 1:
                dvz[m, k - m - 1] -= c
    return dzz, dvz


#: depth (cells) up to which a source counts as on the free surface in ``check``
_ON_SURFACE = 1e-3

#: With a free surface, ``check`` warns when ``vs`` on a left or right edge with an
#: absorbing layer grows with depth by ``1 / SLOW_LAYER_RATIO`` or more within
#: ``SLOW_LAYER_CELLS`` cells (a slow surface layer: its guided waves can grow in the
#: C-PML; measured stable at a contrast of 0.59, growing at 0.5 and below).
SLOW_LAYER_RATIO = 0.6
SLOW_LAYER_CELLS = 3

#: With a free surface, ``check`` warns when the top row is this many times lighter than
#: the rows just below (``ElasticPropagator._light_surface_warnings``).
LIGHT_SURFACE_RATIO = 4.0

#: ``check`` warns about cells with ``0 < vs <= TINY_VS_RATIO vp``: no material is that
#: soft (1.5 m/s under water's 1500), so they are leftovers of a fluid (see
#: ``ElasticPropagator._tiny_shear_warnings``).
TINY_VS_RATIO = 1e-3

#: rows under a free surface whose source weights are corrected (beyond: weight 1)
SURFACE_WEIGHT_ROWS = 10


def surface_source_weights(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights of the rows under a free surface (``q_node``, ``q_half``): the weights
    ``H_n``, ``H_h`` of the summation-by-parts closure
    (:func:`seisgrad.solver.fd2d.free_surface.surface_weights`), the scheme's inner
    product, on :data:`SURFACE_WEIGHT_ROWS` rows.

    ``q_node[m]``: node row ``m`` cells under the surface (``vx``, ``sxx``, ``szz``);
    ``q_half[m]``: half row ``m + 1/2`` cells under it (``vz``, ``sxz``). A point source
    acting on row ``m`` with interpolation weight ``w`` is injected as ``w / q_m``: the
    injection is then the transpose of the receivers' interpolation in the scheme's
    inner product, as reciprocity asks, and the source imparts the right impulse (the
    weights conserve momentum: ``sum_m q_m (D-z sxz)_m = 0`` for every ``sxz`` with the
    traction-free surface). The stress rows use the weights of the velocity rows they
    share (the x derivatives couple ``vx`` with ``sxx`` and ``szz``, ``vz`` with
    ``sxz``).
    """
    return surface_weights(order, SURFACE_WEIGHT_ROWS)


def elastic_state_masks(layout: Layout) -> dict[str, np.ndarray]:
    """Where each elastic field component is state (full array shape).

    ``vx`` and ``sxz`` stop half a cell before the last node along x, ``vz`` and ``sxz``
    along z. With a free surface ``vx`` and ``sxx`` are state on the surface row and
    ``szz`` is not (it is zero there).
    """
    h = HALO
    nx, nz = layout.NX, layout.NZ
    out = {}
    for name, (sx, sz) in _STAGGER.items():
        m = np.zeros(layout.shape, dtype=bool)
        m[h : h + nx - sx, h : h + nz - sz] = True
        out[name] = m
    if layout.free_surface:
        out["szz"][:, h + nz - 1] = False
    return out


def elastic_point_operator(
    layout: Layout,
    points: Sequence[tuple[float, float]],
    component: str,
    fluid_surface: Sequence[bool] | None = None,
    fluid_columns: Sequence[bool] | None = None,
    mirror_columns: Sequence[bool] | None = None,
) -> PointOperator:
    """Interpolation operator of points ``(x, z)`` onto one elastic field component
    (cached per process; see :func:`_elastic_point_operator`). ``fluid_surface[k]``:
    the free surface above point ``k`` bounds a fluid (``vs = 0``); ``fluid_columns[i]``:
    the free surface is fluid at array row ``i`` (see :func:`fluid_surface_columns`);
    ``mirror_columns[i]``: array row ``i`` uses the fluid's closure
    (:func:`fluid_closure_columns`; decides ``vx`` on the surface row)."""
    fluid = tuple(bool(f) for f in fluid_surface) if fluid_surface is not None else None
    cols = tuple(bool(f) for f in fluid_columns) if fluid_columns is not None else None
    mirror = tuple(bool(f) for f in mirror_columns) if mirror_columns is not None else None
    return _elastic_point_operator(layout, point_key(points), component, fluid, cols, mirror)


def _fluid_from_top(layout: Layout, mu: np.ndarray, rows: int) -> np.ndarray:
    """Per array row (position along x, absorbing layers and halo included): whether
    ``mu = 0`` on the top ``rows`` rows of its model column (the edge column beyond the
    model)."""
    col = np.clip(np.arange(layout.shape[0]) - HALO - layout.pml[0], 0, layout.grid.nx - 1)
    return np.all(np.asarray(mu)[:, -rows:] == 0.0, axis=1)[col]


def fluid_surface_columns(layout: Layout, mu: np.ndarray) -> tuple[bool, ...] | None:
    """Per array row (position along x, absorbing layers and halo included): whether
    the free surface there bounds a fluid (``mu = 0`` on the model's top row, the edge
    value beyond the model); ``None`` without a free surface."""
    if not layout.free_surface:
        return None
    return tuple(bool(v) for v in _fluid_from_top(layout, mu, 1))


def fluid_closure_columns(layout: Layout, mu: np.ndarray, order: int) -> np.ndarray:
    """Per array row (position along x): whether its free surface uses the fluid's
    closure (:func:`fluid_surface_corrections`, the acoustic solver's mirror images).
    That is every column when ``mu = 0`` on the top ``order / 2`` rows of every model
    column (the depth the mirror images reach: an ocean with no coast), and no column
    otherwise. The mirror closure and the solid's summation-by-parts closure weigh the
    rows under the surface differently, so columns of both side by side (a coastline)
    do not conserve energy: such models grew at orders 4 and 8 (eigenvalues of the
    one-step operator up to 1 + 2e-4 with 4-8 rows of water), and the solid's closure
    alone is stable for fluid columns too."""
    if not layout.free_surface:
        return np.zeros(layout.shape[0], dtype=bool)
    cols = _fluid_from_top(layout, mu, max(1, order // 2))
    return cols if cols.all() else np.zeros_like(cols)


@functools.lru_cache(maxsize=128)
def _elastic_point_operator(
    layout: Layout,
    points: tuple[tuple[float, float], ...],
    component: str,
    fluid_surface: tuple[bool, ...] | None = None,
    fluid_columns: tuple[bool, ...] | None = None,
    mirror_columns: tuple[bool, ...] | None = None,
) -> PointOperator:
    """Interpolation operator of points ``(x, z)`` onto one elastic field component.

    Kaiser-windowed sinc weights (radius 4 cells, Hicks 2002), the product along x and
    z. Weights above a free surface are folded onto the mirror position (Hicks' mirror
    rule) with the sign of the component's natural symmetry there: below a solid
    surface ``+1`` for ``vx``, ``vz``, ``sxx`` and ``-1`` for ``szz``, ``sxz``, which
    vanish on the surface; below a fluid surface (``fluid_surface[k]``, pressure
    release: ``sxx = szz = -p`` vanish) ``-1`` for ``sxx`` and ``vx`` too, as in the
    acoustic solver. Weights on positions that are not state (outside the grid, ``szz``
    on the surface) are dropped, as the propagator keeps those values at zero, and so
    are those on ``sxx`` and ``vx`` on the surface where it is fluid
    (``fluid_columns``, column by column: a stencil near a coastline reaches both): the
    closure keeps ``sxx`` at zero there (its plane-stress modulus vanishes with ``mu``),
    and a source term put on it stayed for good as a pressure on the pressure-release
    surface; ``vx``, odd about that surface, is zero on it in the acoustic solver (a
    horizontal force a fraction of a cell down put on it gave ``VX`` records 14 times
    the acoustic solver's). The mirror signs
    above the surface follow each column of the stencil too (a point's own column
    decides only without ``fluid_columns``).
    """
    sx, sz = _STAGGER[component]
    mask = elastic_state_masks(layout)[component]
    top = HALO + layout.NZ - 1
    pts: list[int] = []
    rows: list[int] = []
    cols: list[int] = []
    ws: list[float] = []
    for k, (x, z) in enumerate(points):
        fluid = fluid_surface is not None and fluid_surface[k]
        parity = (_FLUID_PARITY if fluid else _PARITY)[component]
        fx, fz = layout.position(x, z)
        ox, wx = kaiser_sinc_weights(fx - 0.5 * sx)
        oz, wz = kaiser_sinc_weights(fz - 0.5 * sz)
        acc: dict[tuple[int, int], float] = {}
        for a, wa in zip(ox + HALO, wx):
            for c, wc in zip(oz + HALO, wz):
                w = float(wa * wc)
                cc = int(c)
                if layout.free_surface:
                    sign, col_fluid = parity, fluid
                    if fluid_columns is not None:  # the surface above this column
                        col_fluid = fluid_columns[min(max(int(a), 0), len(fluid_columns) - 1)]
                        sign = (_FLUID_PARITY if col_fluid else _PARITY)[component]
                    if component == "vx" and mirror_columns is not None:
                        # vx at a + 1/2: odd about the surface only where the columns on
                        # both sides use the fluid's closure (a thinner fluid keeps the
                        # solid's, where vx on the surface row is not zero)
                        n = len(mirror_columns) - 1
                        both = (
                            mirror_columns[min(max(int(a), 0), n)]
                            and mirror_columns[min(max(int(a) + 1, 0), n)]
                        )
                        col_fluid = both
                        sign = (_FLUID_PARITY if both else _PARITY)[component]
                    if sz == 0 and cc > top:
                        cc = 2 * top - cc
                        w *= sign
                    elif sz == 1 and cc >= top:
                        cc = 2 * top - 1 - cc
                        w *= sign
                    if component in ("sxx", "vx") and cc == top and col_fluid:
                        continue  # zero on a pressure-release surface (odd about it)
                ia = int(a)
                if not (0 <= ia < mask.shape[0] and 0 <= cc < mask.shape[1]):
                    continue
                if not mask[ia, cc]:
                    continue
                acc[(ia, cc)] = acc.get((ia, cc), 0.0) + w
        for (a, c), w in acc.items():
            if w != 0.0:
                pts.append(k)
                rows.append(a)
                cols.append(c)
                ws.append(w)
    i64 = np.int64
    return frozen_operator(
        PointOperator(
            np.asarray(pts, i64),
            np.asarray(rows, i64),
            np.asarray(cols, i64),
            np.asarray(ws, np.float64),
            len(points),
        )
    )


# ============================================================================ propagator


#: Fraction of the CFL limit to which the free surface's closure is stable, by order
#: (orders not listed: the whole limit; see ``ElasticPropagator.stability_factor``).
FREE_SURFACE_CFL = {4: 0.99}


class ElasticPropagator(Propagator):
    """Isotropic elastic P-SV propagator (see the module docstring)."""

    material: ClassVar[str] = "elastic"
    parametrizations: ClassVar[dict[str, tuple[str, ...]]] = {
        "velocity": ("vp", "vs", "rho"),
        "lame": ("lambda", "mu", "rho"),
        "bulk": ("kappa", "mu", "rho"),
    }
    raw_channels: ClassVar[tuple[str, ...]] = ("P", "VX", "VZ")
    channel_staggers: ClassVar[dict[str, tuple[tuple[int, int], int]]] = {
        "P": ((0, 0), -1),
        "VX": ((1, 0), 1),
        "VZ": ((0, 1), 1),
    }
    default_record: ClassVar[tuple[str, ...]] = ("VX", "VZ")

    # ------------------------------------------------------------------ model

    @classmethod
    def internal_values(cls, model: Model, parametrization: str) -> dict[str, np.ndarray]:
        have = set(model)
        wanted = cls.parametrizations[parametrization]
        choice = None
        if set(wanted) <= have:
            choice = wanted
        else:
            for names in cls.parametrizations.values():
                if set(names) <= have:
                    choice = names
                    break
        if choice is None:
            sets = "; ".join(", ".join(n) for n in cls.parametrizations.values())
            raise DataError(
                f"the elastic solver needs one of these parameter sets in the model: {sets}; "
                f"it has: {', '.join(model) or 'nothing'}"
            )
        for name in choice:
            a = np.asarray(model[name], dtype=np.float64)
            if not np.all(np.isfinite(a)):
                raise DataError(f"model parameter '{name}' has non-finite values")
            if name in ("vp", "vs") and np.any(a < 0):
                raise DataError(f"model parameter '{name}' must be >= 0 everywhere")
        out = lame_from(model, choice)
        lam, mu, rho = out["lambda"], out["mu"], out["rho"]
        if not np.all(rho > 0):
            raise DataError("model parameter 'rho' must be positive everywhere")
        if np.any(mu < 0):
            what = "vs" if "vs" in choice else "mu"
            raise DataError(f"model parameter '{what}' must be >= 0 everywhere (0: fluid)")
        bad = ~(lam + mu > 0)
        if np.any(bad):
            i, j = np.argwhere(bad)[0]
            raise DataError(
                "unphysical elastic model: lambda + mu must be positive (vp > vs, and "
                f"vp > 0 in fluids); at node ({i}, {j}) vp = {out['vp'][i, j]:.6g}, "
                f"vs = {out['vs'][i, j]:.6g} m/s"
            )
        return out

    def check(self) -> list[str]:
        """The checks of every solver, and warnings for sources close under a free
        surface (see ``docs/solver-elastic.md``).

        Under a solid surface sources at every depth are accurate (against a fine-grid
        reference at about 9 points per S wavelength: 1.2-3.7% at 0-4 cells down), but
        the ``Mzz`` and ``Mxz`` parts of a moment tensor on the surface row act on
        stresses that vanish there and radiate nothing. Under an ocean with no coast the
        scheme is the acoustic one; in other models fluid columns use the solid's
        closure, and sources 1-3 cells under their surface are 0.3-3% off a fine grid (a
        review, ninth session of 2026-12-07). Under any fluid surface a source is
        reported, as in the acoustic solver, when its negative image cancels most of
        what it radiates. Also: slow surface layers in the side absorbing layers
        (:meth:`_slow_layer_warnings`), which can grow.
        """
        out = self._tiny_shear_warnings() + super().check()
        out += self._fluid_solid_layer_warnings()
        if not self.layout.free_surface:
            return out
        out += self._slow_layer_warnings() + self._light_surface_warnings()
        g = self.layout.grid
        sources = list(self.event.sources)
        for s, fluid in zip(sources, self._fluid_surface(sources) or []):
            depth = (g.z[-1] - s.z) / g.dz
            where = (
                f"event '{self.event.name}': {s.kind} source {depth:.2g} cells under the "
                f"free surface ({'fluid' if fluid else 'solid'} there)"
            )
            if fluid:
                # the physics' warning, the image's (whichever closure the fluid uses)
                warning = self._image_warning(s, depth * g.dz, where)
                if warning:
                    out.append(warning)
            elif depth < _ON_SURFACE:
                if s.kind == "moment_tensor" and (s.mzz != 0.0 or s.mxz != 0.0):
                    out.append(
                        f"{where}: its Mzz and Mxz parts act on stresses that vanish on a "
                        "free surface and radiate nothing"
                    )
        return out

    def _light_surface_warnings(self) -> list[str]:
        """With a free surface, a warning when the density on the top rows is at most
        ``1 / LIGHT_SURFACE_RATIO`` of the density within 3 rows below it. The check's
        limit for density contrasts (the spectral velocity) is computed without the
        free surface's closure, whose small weight on the surface row raises the
        scheme's largest frequency there: a review (ninth session of 2026-12-07) found
        a top row of rho 200 over 2000 kg/m3 unstable at the dt the check allowed, at
        orders 2, 4 and 8 (stable only to about 0.85 of the CFL limit at order 8, the
        check allowed 0.95 with vp/vs 1.5); rho 500 over 2000 was stable."""
        rho = self.internal["rho"]
        top = rho[:, -1]
        below = rho[:, -4:-1].max(axis=1) if rho.shape[1] > 1 else top
        ratio = below / top
        i = int(np.argmax(ratio))
        if ratio[i] < LIGHT_SURFACE_RATIO:
            return []
        g = self.layout.grid
        return [
            f"with the free surface, the density on the top row is {ratio[i]:.3g} times "
            f"smaller than just below it (x = {g.x[i]:g}): the stability check does not "
            "account for the free surface's closure with such contrasts, and a top row of "
            "rho 200 over 2000 kg/m3 blew up at the dt it allowed (stable to about 0.85 of "
            "the CFL limit at order 8); use a dt at most 0.8 of the allowed one, or smooth "
            "the density near the surface"
        ]

    def _image_warning(self, s: PointSource, depth: float, where: str) -> str | None:
        """The acoustic solver's warning for a source under a pressure-release surface
        whose negative image cancels most of it (its pressure part: explosion, the
        isotropic part of a moment tensor, the horizontal part of a force)."""
        if s.kind == "moment_tensor" and s.mxx + s.mzz == 0.0:
            return None
        weak = image_cancelled(self, s, depth)
        if weak is None:
            return None
        amp, need, f = weak
        part = "the image of its horizontal part (fx) cancels that part, which radiates"
        if s.kind != "force":
            part = "its negative image cancels its pressure, which radiates"
        return (
            f"{where}: {part} at most {amp:.0%} of the amplitude of a deep source at "
            f"{f:.3g} Hz (nothing on the surface); place it at least {need:.3g} m down"
        )

    def stability_moduli(self) -> dict[str, np.ndarray]:
        return {k: self.internal[k] for k in ("lambda", "mu", "rho")}

    def _tiny_shear_warnings(self) -> list[str]:
        """A warning for cells whose ``vs`` is positive but at most
        :data:`TINY_VS_RATIO` of their ``vp``: leftovers (the tail of a smooth
        perturbation added to water) rather than a material. The solver treats them as
        solid, so such water is not a fluid (the free surface over it uses the solid's
        closure: the records change); a fluid needs ``vs = 0`` exactly."""
        vs, vp = self.internal["vs"], self.internal["vp"]
        tiny = (vs > 0) & (vs <= TINY_VS_RATIO * vp)
        if not tiny.any():
            return []
        g = self.layout.grid
        k = np.unravel_index(np.argmin(np.where(tiny, vs, np.inf)), vs.shape)
        return [
            f"vs is positive but at most {TINY_VS_RATIO:g} of vp in {int(tiny.sum())} "
            f"cell(s) (smallest {float(vs[k]):.3g} m/s at x={g.x[k[0]]:g}, z={g.z[k[1]]:g}): "
            "the solver treats them as solid, not fluid (a fluid needs vs = 0 exactly; "
            "with a free surface the records change); set vs = 0 there (e.g. the tail of a "
            "perturbation added to water: seisgrad.model.add_perturbation keeps fluid "
            "cells fluid)"
        ]

    def _fluid_solid_layer_warnings(self) -> list[str]:
        """A warning when fluid (``vs = 0``) and solid cells meet on an edge that has an
        absorbing layer: the C-PML grows slowly at such an interface (measured: water
        over rock, a force one cell above the seabed, 60 x 60 cells, at the CFL limit:
        the late traces pass the direct wave after about 5000 steps and keep growing)."""
        vs = self.internal["vs"]
        fluid = vs == 0
        if not fluid.any() or fluid.all():
            return []
        edges = {
            "left": fluid[0, :],
            "right": fluid[-1, :],
            "bottom": fluid[:, 0],
            "top": fluid[:, -1],
        }
        sides = [
            side
            for side in ("left", "right", "bottom", "top")
            if side in self.params.pml_sides
            and self.params.pml_width > 0
            and edges[side].any()
            and not edges[side].all()
        ]
        if self.params.pml_multiaxial >= MULTIAXIAL_STABLE:  # multiaxial side layers
            sides = [s for s in sides if s not in ("left", "right")]
        if not sides:
            return []
        fix = self._multiaxial_hint() if "left" in sides or "right" in sides else ""
        return [
            f"fluid (vs = 0) and solid cells meet on the {', '.join(sides)} edge(s), inside "
            "the absorbing layers: the C-PML grows slowly at a fluid-solid interface (in a "
            "water-over-rock test it passed the direct wave after about 5000 steps); "
            f"{fix}check the late part of long records, shorten them, raise pml_frequency "
            "(4 times the source frequency slowed the growth about 7 times) and keep "
            "pml_width at 20 or less (a 40-cell layer grew 400 times more); see "
            "docs/solver-elastic.md"
        ]

    def growth_advice(self) -> str:
        advice = (
            "absorbing layers across fluid-solid interfaces and slow surface layers that "
            "reach the side absorbing layers can grow whatever the dt"
        )
        if self.params.pml_multiaxial < MULTIAXIAL_STABLE:
            advice += (
                f"; pml_multiaxial: {MULTIAXIAL_STABLE:g} stops the growth at fluid-solid "
                "interfaces in the left and right layers, and that of some slow surface "
                "layers there"
            )
        return advice

    def _multiaxial_hint(self) -> str:
        """The advice on ``pml_multiaxial`` in the warnings about growth in the side
        layers (its value below :data:`MULTIAXIAL_STABLE`)."""
        ratio = self.params.pml_multiaxial
        if ratio > 0:
            return (
                f"pml_multiaxial: {ratio:g} may be too small ({MULTIAXIAL_STABLE:g} stopped it "
                "at orders 2 to 8; 0.3 still grew slowly at orders 2 and 4); "
            )
        return (
            f"set pml_multiaxial: {MULTIAXIAL_STABLE:g} (multiaxial left and right layers: "
            "no growth in 12 000-16 000 steps of such tests; they reflect about 2% at "
            "oblique incidence, and 10-30% where sources and receivers are within a "
            "wavelength of them), or "
        )

    def _slow_layer_warnings(self) -> list[str]:
        """With a free surface and absorbing layers on the left or right, a warning when
        the shear velocity on such an edge increases with depth by a factor of at least
        ``1 / SLOW_LAYER_RATIO`` within :data:`SLOW_LAYER_CELLS` cells: a slow surface
        layer. Its guided waves can grow in the side layers' C-PML (their energy travels
        against their phase, as in plates). Measured (60 x 60 cells of 5 m, order 8,
        side layers of 20 cells, the summation-by-parts surface): 4 rows of ``vs`` 300
        with ``vp`` 1200 m/s over 1700 m/s grew 66 times over 24 000 steps at half the
        allowed dt; 4 rows of 300/540 and 8 rows of 500/900 m/s grew until the growth
        watch stopped them (0.99 and 0.92 of it); with ``pml_multiaxial: 0.5`` the three
        stayed at 0.4-1.4 times their level at steps 4000-6000. A contrast of 0.59 and
        smooth increases over 10-30 rows did not grow. Away from the side layers such
        layers are stable since the summation-by-parts closure."""
        width = self.params.pml_width
        sides = [s for s in ("left", "right") if s in self.params.pml_sides and width > 0]
        if not sides:
            return []
        vs = self.internal["vs"]
        g = self.layout.grid
        found: list[tuple[float, str, float, float]] = []
        for side, col in (("left", vs[0, :]), ("right", vs[-1, :])):
            if side not in sides:
                continue
            for k in range(1, min(SLOW_LAYER_CELLS, col.size - 1) + 1):  # (tiny grids)
                upper, lower = col[k:], col[:-k]  # z grows upwards: the surface is last
                ratio = np.where(upper > 0, lower / np.where(upper > 0, upper, 1.0), 0.0)
                j = int(np.argmax(ratio))
                if ratio[j] * SLOW_LAYER_RATIO >= 1.0:
                    found.append((float(ratio[j]), side, float(g.z[j]), float(g.z[j + k])))
        if not found:
            return []
        ratio, _, z0, z1 = max(found)
        where = " and ".join(sorted({f[1] for f in found}))
        hint = (
            "pml_multiaxial is set, which stopped such growth in tests; "
            if self.params.pml_multiaxial >= MULTIAXIAL_STABLE
            else f"set pml_multiaxial: {MULTIAXIAL_STABLE:g} (it stopped such growth in "
            "tests), or "
        )
        return [
            f"with the free surface, vs on the {where} edge(s) grows {ratio:.3g} times with "
            f"depth within {SLOW_LAYER_CELLS} cells (from z={z1:g} down to z={z0:g}): the "
            "guided waves of a slow surface layer can grow in the left and right absorbing "
            "layers (4 rows of vs 300 over 1700 m/s grew 66 times in 24 000 steps, 8 rows "
            f"of 500 until the growth watch stopped them); {hint}check the late part of "
            "long records, smooth the layer's base, or raise pml_frequency (4 times the "
            "source frequency kept some such layers under 0.1 of the direct wave over "
            "40000 steps); see docs/solver-elastic.md"
        ]

    def stability_factor(self) -> tuple[float, str]:
        """With a free surface at order 4, the closure is stable only to 0.99 of the CFL
        limit (its spectral radius is 0.4% above the interior stencils'; measured: vp/vs
        = 1.01 grew at the limit itself on 24 x 24 cells, stable at 0.99). Orders 2 and 8
        keep the whole limit (eigenvalues of the one-step operator on the unit circle for
        vp/vs from 1.01 to 3)."""
        order = self.params.order
        if not self.layout.free_surface or order not in FREE_SURFACE_CFL:
            return 1.0, ""
        f = FREE_SURFACE_CFL[order]
        return f, (
            f"the free surface's closure at order {order} is stable only to {f:g} of the CFL limit"
        )

    def wave_speeds(self, internal: Mapping[str, np.ndarray]) -> tuple[float, float]:
        """Slowest and fastest wave speed: ``vs`` where the medium is solid, except in
        cells with a leftover ``vs`` (:meth:`_tiny_shear_warnings`), which would only
        make the sampling warning ask for spacings of 1e-40 m."""
        vp, vs = internal["vp"], internal["vs"]
        slow = np.where(vs > TINY_VS_RATIO * vp, vs, vp)
        return float(slow.min()), float(vp.max())

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        lay = self.layout
        dt, dtype = self.dt, self.dtype
        nx, nz = lay.NX, lay.NZ
        if nx < 2 * HALO + 2 or nz < 2 * HALO + 2:
            raise SolverError(
                f"computational grid {nx} x {nz} is too small for the elastic solver; "
                f"use at least {2 * HALO + 2} nodes along each axis"
            )
        deep = surface_depth(self.params.order) if lay.free_surface else 0
        if nz < deep:
            raise SolverError(
                f"computational grid {nx} x {nz} is too small for the free surface's closure "
                f"at order {self.params.order}; use at least {deep} nodes along z (model "
                "rows and the bottom absorbing layer together)"
            )
        pad = {k: lay.pad(self.internal[k]) for k in ("lambda", "mu", "rho", "vp", "vs")}
        self.pad_model = pad
        lam, mu, rho = pad["lambda"], pad["mu"], pad["rho"]
        fs = lay.free_surface
        masks = elastic_state_masks(lay)
        self.masks = masks
        # coefficient arrays (float64 first, for the chain rule)
        bx = np.zeros((nx, nz))
        bx[:-1, :] = 2.0 * dt / (rho[:-1, :] + rho[1:, :])
        bz = np.zeros((nx, nz))
        bz[:, :-1] = 2.0 * dt / (rho[:, :-1] + rho[:, 1:])
        l2m = dt * (lam + 2.0 * mu)
        lamc = dt * lam
        if fs:
            m_s, _, _ = surface_modulus(lam[:, -1], mu[:, -1])
            l2m[:, -1] = dt * m_s
            lamc[:, -1] = 0.0
        muxz = np.zeros((nx, nz))
        muxz[:-1, :-1] = 0.25 * dt * (mu[:-1, :-1] + mu[1:, :-1] + mu[:-1, 1:] + mu[1:, 1:])
        c64 = {
            "bx": lay.embed(bx, np.float64),
            "bz": lay.embed(bz, np.float64),
            "l2m": lay.embed(l2m, np.float64),
            "lam": lay.embed(lamc, np.float64),
            "mu": lay.embed(muxz, np.float64),
        }
        self.coef64 = c64
        self.mats = dict(zip(c64, aligned_copies(list(c64.values()), dtype)))
        self.top = HALO + nz - 1
        dzz, dxz, dvx, dvz = surface_corrections(self.params.order)
        # per array row (position along x): the closure of a fluid surface where the
        # fluid is order / 2 rows deep, the solid's elsewhere
        fzz, fvz = fluid_surface_corrections(self.params.order)
        dzz, fzz = _pad_alike(dzz, fzz)
        dvz, fvz = _pad_alike(dvz, fvz)
        fluid = np.asarray(self._mirror_columns or (False,) * lay.shape[0])
        dzz = np.where(fluid[:, None, None], fzz[None], dzz[None])
        dvz = np.where(fluid[:, None, None], fvz[None], dvz[None])
        self.dzz, self.dxz, self.dvx, self.dvz = (
            np.ascontiguousarray(t / lay.dz, dtype=dtype) for t in (dzz, dxz, dvx, dvz)
        )
        self.setup_stencil_tables()
        ratio = self.params.pml_multiaxial
        self.mp: np.ndarray | None = None
        if ratio > 0 and (lay.pml[0] or lay.pml[1]):
            vref, f0, refl = self.pml_design
            mp = multiaxial_profiles(lay, dt, vref, f0, refl, ratio)
            self.mp = np.ascontiguousarray(mp, dtype=dtype)
        # columns of the multiaxial terms: outside the z strips (next to a free surface
        # they take the derivative its tables correct, see _top_fwd_v)
        _, _, zn, zh = self.strips
        self.mcol = np.array([zn[1], zn[2], zh[1], zh[2]], dtype=np.int64)
        self._setup_sources()
        self._setup_receivers()

    @property
    def _memory(self) -> dict[str, tuple[str, str]]:
        """Forward memory variables -> (field, profile), the multiaxial ones included."""
        return _MEMORY if self.mp is None else {**_MEMORY, **_MPML}

    @property
    def _adj_memory(self) -> dict[str, str]:
        """Forward memory variable -> adjoint memory variable."""
        return _ADJ_MEMORY if self.mp is None else {**_ADJ_MEMORY, **_ADJ_MPML}

    @property
    def _adj_key(self) -> dict[str, str]:
        """Forward state entry -> adjoint state entry."""
        plain = {"vx": "ux", "vz": "uz", "sxx": "exx", "szz": "ezz", "sxz": "exz"}
        return {**plain, **self._adj_memory}

    def _setup_sources(self) -> None:
        lay = self.layout
        cell = lay.dx * lay.dz
        c64 = self.coef64
        v_src: list[PointSource] = []
        s_src: list[PointSource] = []
        ncols = lay.shape[1]
        vc, vq, vw, va, vk = [], [], [], [], []
        sc, sq, sw, sk = [], [], [], []
        fl = self._fluid_surface
        cols = self._surface_columns
        for s in self.event.sources:
            if s.kind not in _SOURCE_KINDS:
                raise SolverError(
                    f"event '{self.event.name}': source kind '{s.kind}' is not supported by "
                    f"the elastic solver; use one of {', '.join(_SOURCE_KINDS)}"
                )
            if s.kind == "force":
                k = len(v_src)
                v_src.append(s)
                for comp, name, amp in ((0, "vx", s.fx), (1, "vz", s.fz)):
                    if amp == 0.0:
                        continue
                    b = c64["bx" if comp == 0 else "bz"]
                    op = elastic_point_operator(
                        lay, [(s.x, s.z)], name, fl([s]), cols, self._mirror_columns
                    )
                    for i, j, w in zip(op.i, op.j, self._surface_weights(s, name, op)):
                        vc.append(comp)
                        vq.append(int(i) * ncols + int(j))
                        vw.append(w * amp * float(b[i, j]) / cell)
                        va.append(w * amp / cell)
                        vk.append(k)
            else:
                if s.kind == "moment_tensor":
                    mxx, mzz, mxz = s.mxx, s.mzz, s.mxz
                else:
                    mxx = mzz = s.amplitude
                    mxz = 0.0
                k = len(s_src)
                s_src.append(s)
                for comp, name, amp in ((0, "sxx", mxx), (1, "szz", mzz), (2, "sxz", mxz)):
                    if amp == 0.0:
                        continue
                    op = elastic_point_operator(
                        lay, [(s.x, s.z)], name, fl([s]), cols, self._mirror_columns
                    )
                    for i, j, w in zip(op.i, op.j, self._surface_weights(s, name, op)):
                        sc.append(comp)
                        sq.append(int(i) * ncols + int(j))
                        sw.append(-w * amp * self.dt / cell)
                        sk.append(k)
        i64 = np.int64
        self.sv = (
            np.asarray(vc, i64), np.asarray(vq, i64), np.asarray(vw, np.float64),
            np.asarray(va, np.float64), np.asarray(vk, i64),
        )  # fmt: skip
        self.ss = (
            np.asarray(sc, i64), np.asarray(sq, i64), np.asarray(sw, np.float64),
            np.asarray(sk, i64),
        )  # fmt: skip
        nt = self.nt
        fix = self.params.correct_time_dispersion
        self.stf_v = source_time_table(v_src, nt, self.dt, half_step=False, correct_dispersion=fix)
        self.stf_s = source_time_table(s_src, nt, self.dt, half_step=True, correct_dispersion=fix)
        if not v_src:
            self.stf_v = np.zeros((1, nt))
        if not s_src:
            self.stf_s = np.zeros((1, nt))

    def _surface_weights(self, source: PointSource, name: str, op: PointOperator) -> np.ndarray:
        """Injection weights of ``source`` on field ``name``: the interpolation weights
        ``op.w``, divided under the free surface by the weight of each row
        (:func:`surface_source_weights`), so that the injection is the transpose of the
        receivers' interpolation in the scheme's inner product: under a solid surface and
        under a fluid one that uses the solid's closure (a coast, a lagoon: a review
        found sources 1-3 cells under such water 10-36% off without the division). Under
        an ocean with no coast the weights are left as they are (the mirror closure is
        the acoustic one, whose point sources are consistent)."""
        w = np.asarray(op.w, dtype=np.float64)
        if not self.layout.free_surface or any(self._mirror_columns or ()):
            return w  # (the mirror closure is all columns or none)
        q_node, q_half = surface_source_weights(self.params.order)
        stagger = _STAGGER[name][1]
        q = q_half if stagger else q_node
        depth = self.top - stagger - np.asarray(op.j, dtype=np.int64)
        near = depth < q.size
        out = w.copy()
        out[near] = w[near] / q[depth[near]]
        return out

    @functools.cached_property
    def _surface_columns(self) -> tuple[bool, ...] | None:
        """:func:`fluid_surface_columns` of this model (``None`` without a free
        surface)."""
        return fluid_surface_columns(self.layout, self.internal["mu"])

    @functools.cached_property
    def _mirror_columns(self) -> tuple[bool, ...] | None:
        """:func:`fluid_closure_columns` of this model (``None`` without a free
        surface): where the closure, and ``vx`` on the surface row, are the fluid's."""
        if not self.layout.free_surface:
            return None
        cols = fluid_closure_columns(self.layout, self.internal["mu"], self.params.order)
        return tuple(bool(c) for c in cols)

    def _fluid_surface(self, points: Sequence[PointSource | Receiver]) -> list[bool] | None:
        """Per point: whether the free surface above it bounds a fluid (``mu = 0`` on the
        surface at the nearest model column, the edge one beyond the model); ``None``
        without a free surface."""
        return self._at_points(self._surface_columns, points)

    def _at_points(
        self, cols: Sequence[bool] | None, points: Sequence[PointSource | Receiver]
    ) -> list[bool] | None:
        """``cols`` (per array row) at the nearest model column of each point."""
        if cols is None:
            return None
        g = self.layout.grid
        first = HALO + self.layout.pml[0]  # the array row of model column 0
        return [
            cols[first + min(max(int(round((p.x - g.x0) / g.dx)), 0), g.nx - 1)] for p in points
        ]

    def _setup_receivers(self) -> None:
        lay = self.layout
        pts = [(r.x, r.z) for r in self.receivers]
        plan = []
        if "P" in self.raw_needed:
            plan += [(0, "sxx", -0.5), (1, "szz", -0.5)]
        if "VX" in self.raw_needed:
            plan.append((2, "vx", 1.0))
        if "VZ" in self.raw_needed:
            plan.append((3, "vz", 1.0))
        c64 = self.coef64
        fluid = self._fluid_surface(self.receivers)
        cols = self._surface_columns
        parts = []
        for code, comp, scale in plan:
            op = elastic_point_operator(lay, pts, comp, fluid, cols, self._mirror_columns)
            w = scale * op.w.astype(np.float64)
            # the adjoint injects velocities times their buoyancy
            b = {"vx": "bx", "vz": "bz"}.get(comp)
            wa = w * c64[b][op.i, op.j] if b else w
            n = op.point.size
            field, channel = np.full(n, code), np.full(n, max(code - 1, 0))
            # field (sxx, szz, vx, vz), raw channel (P, VX, VZ), trace, row, column
            parts.append((field, channel, op.point, op.i, op.j, w, wa))
        rk, rc, rt, ri, rj, rw, ra = (
            np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in range(7)
        )
        self.rec = receiver_taps(rk, rc, rt, ri, rj, rw, lay.shape, 4, ra)
        self.no_rec = receiver_taps([], [], [], [], [], [], lay.shape, 4)

    # ------------------------------------------------------------------ state

    def source_tables(self) -> list[np.ndarray]:
        return [self.stf_v, self.stf_s]

    def new_state(self) -> dict[str, np.ndarray]:
        shape, dtype = self.layout.shape, self.dtype
        return aligned_fields((*_FIELDS, *self._memory), shape, dtype)

    def _strip_mask(self, which: str) -> np.ndarray:
        xn, xh, zn, zh = (tuple(int(v) for v in s) for s in self.strips)
        s = {"xn": xn, "xh": xh, "zn": zn, "zh": zh}[which]
        m = np.zeros(self.layout.shape, dtype=bool)
        if which[0] == "x":
            m[s[0] : s[1], :] = True
            m[s[2] : s[3], :] = True
        else:
            m[:, s[0] : s[1]] = True
            m[:, s[2] : s[3]] = True
        return m

    def state_masks(self) -> dict[str, np.ndarray]:
        out = {k: self.masks[k].copy() for k in _FIELDS}
        for name, (field, prof) in self._memory.items():
            out[name] = self._strip_mask(prof) & self.masks[field]
            if name in _MPML:  # only on the columns of the multiaxial terms
                k = 0 if _MPML_COLUMNS[name] == "zn" else 2
                c0, c1 = int(self.mcol[k]), int(self.mcol[k + 1])
                out[name][:, :c0] = False
                out[name][:, c1:] = False
        return out

    def snapshot_regions(self) -> dict[str, list[tuple[slice, slice]]]:
        xn, xh, zn, zh = (tuple(int(v) for v in s) for s in self.strips)
        strips = {"xn": xn, "xh": xh, "zn": zn, "zh": zh}
        full = (slice(None), slice(None))
        out: dict[str, list[tuple[slice, slice]]] = {k: [full] for k in _FIELDS}
        for name, (_, prof) in self._memory.items():
            s = strips[prof]
            regs = []
            for a, b in ((s[0], s[1]), (s[2], s[3])):
                if b > a:
                    sl = slice(a, b)
                    regs.append((sl, slice(None)) if prof[0] == "x" else (slice(None), sl))
            out[name] = regs
        return out

    def store_shape(self) -> tuple[int, ...]:
        return (len(STORE_FIELDS), *self.layout.shape)

    def _ns(self) -> dict[str, Any]:
        return SERIAL if self.params.threads <= 1 else PARALLEL

    def _ftz(self) -> bool:
        return bool(self.params.flush_denormals and ftz_enabled())

    def _block(self) -> int:
        return SERIAL_BLOCK if self.params.threads <= 1 else self.layout.shape[0]

    def _fuse(self) -> int:
        return SERIAL_FUSE if self.params.threads <= 1 else 1

    # ------------------------------------------------------------------ time loops

    def forward_steps(
        self,
        state: dict[str, np.ndarray],
        n0: int,
        n1: int,
        raw: np.ndarray | None,
        store: np.ndarray | None,
    ) -> None:
        dtype = self.dtype
        rec = self.rec if raw is not None else self.no_rec
        raw = raw if raw is not None else NO_RAW
        s = self.source_scale
        m = {k: v.reshape(-1) for k, v in self.mats.items()}
        f = {k: v.reshape(-1) for k, v in state.items()}
        sv_c, sv_q, sv_w, sv_a, sv_k = self.sv
        ss_c, ss_q, ss_w, ss_k = self.ss
        xn, xh, zn, zh = self.strips
        nrows, ncols = self.layout.shape
        self._ns()["_forward_loop"](
            n0, n1, *(f[k] for k in _FIELDS), *(f[k] for k in _MEMORY),
            m["bx"], m["bz"], m["l2m"], m["lam"], m["mu"], self.cx, self.cz,
            *self.prof, xn, xh, zn, zh, self.nxe, self.top, self.layout.free_surface,
            self.dzz, self.dxz, self.dvx, self.dvz, ncols, nrows,
            sv_c, sv_q, (sv_w * s).astype(dtype), (sv_a * s).astype(dtype), sv_k,
            self.stf_v.astype(dtype),
            ss_c, ss_q, (ss_w * s).astype(dtype), ss_k, self.stf_s.astype(dtype),
            *rec[:6], np.zeros((2 * self._fuse(), rec.g_c.size)), raw,
            None if store is None else store.reshape(-1), self._block(), self._fuse(),
            self._ftz(), self.mp, self.mcol, *(f.get(k) for k in _MPML),
        )  # fmt: skip

    def new_adjoint(self) -> dict[str, np.ndarray]:
        shape, dtype = self.layout.shape, self.dtype
        names = (
            "ux", "uz", "exx", "ezz", "exz", "txx", "tzz", "txz",
            *self._adj_memory.values(), *_SCRATCH, *_GRADS,
        )  # fmt: skip
        return aligned_fields(names, shape, dtype)

    def adjoint_steps(
        self,
        adj: dict[str, np.ndarray],
        n1: int,
        n0: int,
        store: np.ndarray,
        raw_adj: np.ndarray,
    ) -> None:
        m = {k: v.reshape(-1) for k, v in self.mats.items()}
        f = {k: v.reshape(-1) for k, v in adj.items()}
        xn, xh, zn, zh = self.strips
        rec = self.rec
        nrows, ncols = self.layout.shape
        self._ns()["_adjoint_loop"](
            n1, n0, f["ux"], f["uz"], f["exx"], f["ezz"], f["exz"],
            f["txx"], f["tzz"], f["txz"], *(f[k] for k in _ADJ_MEMORY.values()),
            *(f[k] for k in _SCRATCH),
            m["bx"], m["bz"], m["l2m"], m["lam"], m["mu"], self.cx, self.cz,
            *self.prof, xn, xh, zn, zh, self.nxe, self.top, self.layout.free_surface,
            self.dzz, self.dxz, self.dvx, self.dvz, ncols, nrows,
            rec.g_c, rec.g_t, rec.s_ptr, rec.s_q, rec.s_wa, rec.s_g,
            np.zeros((self._fuse(), rec.g_c.size)), raw_adj, store.reshape(-1),
            *(f[k] for k in _GRADS), self._block(), self._fuse(), self._ftz(),
            self.mp, self.mcol, *(f.get(k) for k in _ADJ_MPML.values()),
        )  # fmt: skip

    # ------------------------------------------------------------------ adjoint variables

    def _adjoint_scales(self) -> dict[str, np.ndarray]:
        """Plain adjoint = scaled adjoint * factor (on state entries)."""
        c = self.coef64
        with np.errstate(divide="ignore", invalid="ignore"):
            fx = np.where(c["bx"] > 0, 1.0 / c["bx"], 0.0)
            fz = np.where(c["bz"] > 0, 1.0 / c["bz"], 0.0)
        one = np.ones(self.layout.shape)
        out = {name: one for name in self._adj_key}
        out["vx"] = fx
        out["vz"] = fz
        return out

    def adjoint_to_plain(self, adj: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        masks = self.state_masks()
        scales = self._adjoint_scales()
        out = {}
        for name, key in self._adj_key.items():
            out[name] = np.where(masks[name], adj[key].astype(np.float64) * scales[name], 0.0)
        return out

    def plain_to_adjoint(
        self, plain: Mapping[str, np.ndarray], adj: dict[str, np.ndarray]
    ) -> None:
        masks = self.state_masks()
        scales = self._adjoint_scales()
        for name, key in self._adj_key.items():
            with np.errstate(divide="ignore", invalid="ignore"):
                val = np.where(
                    masks[name], np.asarray(plain[name], np.float64) / scales[name], 0.0
                )
            adj[key][...] = val
        c = self.coef64
        exx, ezz, exz = (adj[k].astype(np.float64) for k in ("exx", "ezz", "exz"))
        adj["txx"][...] = c["l2m"] * exx + c["lam"] * ezz
        adj["tzz"][...] = c["lam"] * exx + c["l2m"] * ezz
        adj["txz"][...] = c["mu"] * exz

    # ------------------------------------------------------------------ kernels

    def coefficient_gradients(self, adj: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``dJ/d`` of the coefficient arrays ``bx, bz, l2m, lam, mu`` (full shape)."""
        c = self.coef64
        m = self.masks
        g = {k: adj[k].astype(np.float64) for k in _GRADS}
        with np.errstate(divide="ignore", invalid="ignore"):
            dbx = np.where(m["vx"], g["gbx"] / np.where(m["vx"], c["bx"], 1.0), 0.0)
            dbz = np.where(m["vz"], g["gbz"] / np.where(m["vz"], c["bz"], 1.0), 0.0)
        dl2m = np.where(m["sxx"], g["gl2m"], 0.0)
        dlam = np.where(m["sxx"], g["glam"], 0.0)
        dmu = np.where(m["sxz"], g["gmu"], 0.0)
        return {"bx": dbx, "bz": dbz, "l2m": dl2m, "lam": dlam, "mu": dmu}

    def kernels(self, adj: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        lay = self.layout
        dt = self.dt
        sl = lay.comp_slice
        cg = {k: v[sl] for k, v in self.coefficient_gradients(adj).items()}
        c = {k: v[sl] for k, v in self.coef64.items()}
        pm = self.pad_model
        lam, mu, rho = pm["lambda"], pm["mu"], pm["rho"]
        # buoyancy 2 dt / (rho_i + rho_{i+1}): d/drho_i = -B^2 / (2 dt)
        drho = np.zeros_like(rho)
        hx = -cg["bx"][:-1, :] * c["bx"][:-1, :] ** 2 / (2.0 * dt)
        drho[:-1, :] += hx
        drho[1:, :] += hx
        hz = -cg["bz"][:, :-1] * c["bz"][:, :-1] ** 2 / (2.0 * dt)
        drho[:, :-1] += hz
        drho[:, 1:] += hz
        dlam = dt * (cg["l2m"] + cg["lam"])
        dmu = 2.0 * dt * cg["l2m"]
        if lay.free_surface:
            _, dm_dl, dm_dm = surface_modulus(lam[:, -1], mu[:, -1])
            dlam[:, -1] = dt * cg["l2m"][:, -1] * dm_dl
            dmu[:, -1] = dt * cg["l2m"][:, -1] * dm_dm
        q = 0.25 * dt * cg["mu"][:-1, :-1]
        dmu[:-1, :-1] += q
        dmu[1:, :-1] += q
        dmu[:-1, 1:] += q
        dmu[1:, 1:] += q
        par = self.params.parametrization
        if par == "lame":
            return {"lambda": dlam, "mu": dmu, "rho": drho}
        if par == "bulk":
            return {"kappa": dlam, "mu": dmu - dlam, "rho": drho}
        vp, vs = pm["vp"], pm["vs"]
        return {
            "vp": dlam * 2.0 * rho * vp,
            "vs": (dmu - 2.0 * dlam) * 2.0 * rho * vs,
            "rho": drho + dlam * (vp * vp - 2.0 * vs * vs) + dmu * vs * vs,
        }
