"""The elastic free surface's summation-by-parts closure (``fd2d/free_surface.py``).

The closure's z operators satisfy ``H_n D = -(H_h G)^T`` with positive weights, so the
semi-discrete energy is conserved for any material under the surface. The closure it
replaced (the widest centred stencils, 2026-12-08) was not of that form and grew under
thin, sharp, slow surface layers, thin fluids and coastlines whatever the dt; these tests
fail with it.
"""

from __future__ import annotations

import numpy as np
import pytest

from seisgrad.config import from_mapping
from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction
from seisgrad.solver.fd2d import FD2D
from seisgrad.solver.fd2d.common import max_stable_dt
from seisgrad.solver.fd2d.elastic import surface_source_weights
from seisgrad.solver.fd2d.free_surface import (
    closure_degree,
    interior_operators,
    sbp_defect,
    sbp_operators,
    surface_tables,
)


@pytest.mark.parametrize("order", [2, 4, 8])
def test_closure_is_summation_by_parts_and_accurate(order: int) -> None:
    d = sbp_defect(order)
    assert d["sbp"] < 1e-14
    assert d["accuracy_G"] < 1e-11
    assert d["accuracy_D"] < 1e-11
    assert d["min_weight"] > 0.3
    g, dm, w_n, w_h = sbp_operators(order, 40)
    # momentum: the weights sum the z derivative of any shear stress to zero (the
    # traction-free surface), as the interior stencils do with weight 1
    sxz = np.random.default_rng(0).standard_normal(40)
    sxz[30:] = 0.0
    assert abs(w_n @ (dm @ sxz)) < 1e-12 * np.abs(sxz).sum()
    # away from the surface both operators are the interior stencils
    g0, d0 = interior_operators(order, 40)
    assert np.array_equal(g[15:30], g0[15:30])
    assert np.allclose(dm[15:30], d0[15:30], atol=1e-15)
    assert closure_degree(order) == {2: 1, 4: 2, 8: 3}[order]


def test_tables_are_the_closure_minus_the_interior_stencils() -> None:
    for order in (4, 8):
        dzz, dxz, dvx, dvz = surface_tables(order)
        g, dm, _, _ = sbp_operators(order, 40)
        g0, d0 = interior_operators(order, 40)
        rg, cg = dxz.shape
        rd, cd = dvx.shape
        assert np.allclose(g0[:rg, :cg] + dxz, g[:rg, :cg])
        assert np.allclose(d0[:rd, :cd] + dvx, dm[:rd, :cd])
        assert np.array_equal(dzz, dvx[1:])
        assert np.array_equal(dvz, dxz)
        assert not dzz.flags.writeable
    q_node, q_half = surface_source_weights(8)
    assert q_node[0] == pytest.approx(sbp_operators(8)[2][0])
    assert q_half.size == q_node.size == 10


def _model(nx: int, nz: int, rows: int, vs_top: float, vp_top: float, rho_top: float = 2000.0,
           coast: int | None = None) -> Model:  # fmt: skip
    """Rock (3000/1700 m/s) with ``rows`` rows of another material at the surface (on
    the first ``coast`` columns only when given); 5 m cells."""
    g = Grid(nx, nz, 5.0, 5.0)
    vp, vs, rho = np.full(g.shape, 3000.0), np.full(g.shape, 1700.0), np.full(g.shape, 2000.0)
    cols = slice(None) if coast is None else slice(0, coast)
    vp[cols, -rows:], vs[cols, -rows:], rho[cols, -rows:] = vp_top, vs_top, rho_top
    return Model(g, {"vp": vp, "vs": vs, "rho": rho})


def _solver(order: int, nt: int, frac: float = 0.5, sides: tuple[str, ...] = ()) -> FD2D:
    return FD2D(
        from_mapping(
            FD2D.Parameters,
            {
                "materials": "elastic", "nt": nt, "order": order, "precision": "float64",
                "dt": frac * max_stable_dt(3000.0, 5.0, 5.0, order), "free_surface": True,
                "pml_sides": list(sides), "pml_width": 20, "record": ["VZ"],
                "correct_time_dispersion": False, "min_points_per_wavelength": 0,
            },
        )
    )  # fmt: skip


def _largest_eigenvalue(model: Model, order: int) -> float:
    """Largest modulus of the eigenvalues of the one-step operator (no absorbing layers:
    the sides and bottom are rigid), built column by column from the time loop."""
    g = model.grid
    src = PointSource(x=float(g.x[8]), z=float(g.z[8]), kind="force", fz=1.0)
    ev = Event(name="e", sources=[src])
    prop = _solver(order, 10).propagator(model, ev, [Receiver(station="A", x=0.0, z=0.0)])
    prop.source_scale = 0.0
    masks = prop.state_masks()
    index = [(k, np.flatnonzero(m.ravel())) for k, m in masks.items()]
    n = sum(i.size for _, i in index)
    zero = prop.new_state()
    a = np.zeros((n, n))
    col = 0
    for name, entries in index:
        for j in entries:
            state = {k: v.copy() for k, v in zero.items()}
            state[name].ravel()[j] = 1.0
            out, _ = prop.propagate(state, 0, 1)
            a[:, col] = np.concatenate([out[k].ravel()[i] for k, i in index])
            col += 1
    return float(np.abs(np.linalg.eigvals(a)).max())


@pytest.mark.parametrize(
    ("order", "layer"),
    [
        (8, (4, 300.0, 1200.0)),  # the widest-centred closure: 1 + 1.4e-3
        (8, (2, 300.0, 1200.0)),  # 1 + 4.6e-3
        (8, (1, 100.0, 1500.0)),  # 1 + 4.1e-4
        (4, (2, 300.0, 1200.0)),  # 1 + 5.1e-3
        (2, (2, 300.0, 1200.0)),  # 1 + 1.0e-2
        (4, (2, 0.0, 1500.0)),  # 2 rows of water: 1 + 4.0e-3
    ],
)
def test_no_growing_mode_under_thin_surface_layers(order: int, layer: tuple) -> None:
    rows, vs, vp = layer
    model = _model(16, 16, rows, vs, vp, rho_top=1000.0 if vs == 0 else 2000.0)
    assert _largest_eigenvalue(model, order) < 1.0 + 1e-10


def test_no_growing_mode_at_a_coastline() -> None:
    """4 rows of water over half the surface at order 8: the mirror closure beside the
    solid's grew (1 + 2.6e-4); every column uses the solid's closure now."""
    model = _model(16, 16, 4, 0.0, 1500.0, rho_top=1000.0, coast=8)
    assert _largest_eigenvalue(model, 8) < 1.0 + 1e-10


def test_a_thin_high_vp_vs_surface_layer_does_not_grow() -> None:
    """4 rows of vs 300, vp 1200 m/s over rock, an absorbing layer at the bottom only,
    half the allowed dt: the widest-centred closure grew 2e5 times over 12 000 steps."""
    model = _model(60, 60, 4, 300.0, 1200.0)
    g = model.grid
    stf = SourceTimeFunction(f0=15.0)
    src = PointSource(x=float(g.x[33]), z=float(g.z[-3]), kind="force", fz=1.0, stf=stf)
    ev = Event(name="e", sources=[src])
    recs = [Receiver(station="A", x=float(g.x[20]), z=float(g.z[-1]))]
    vz = _solver(8, 12000, sides=("bottom",)).forward(model, ev, recs)[0].data
    assert np.isfinite(vz).all()
    assert np.abs(vz[-2000:]).max() < 2.0 * np.abs(vz[4000:6000]).max()


@pytest.mark.parametrize(
    ("kind", "depth", "tol"),
    [
        ({"kind": "moment_tensor", "mxx": 1e6}, 2, 0.05),  # 3.4%; widest-centred: 26%
        ({"kind": "explosion", "amplitude": 1e6}, 1, 0.03),  # 1.4%; 6.1%
        ({"kind": "force", "fx": 1e6}, 2, 0.04),  # 2.4%; 17.5%
        ({"kind": "force", "fz": 1e6}, 0, 0.05),  # on the surface 3.7%; 2.7%
    ],
)
def test_sources_close_under_the_surface_match_a_fine_grid(
    kind: dict, depth: int, tol: float
) -> None:
    """Records (VX, VZ at a surface receiver 220 m away and a buried one) of a source
    ``depth`` cells of 5 m under the surface against a 1.25 m grid, about 9 points per S
    wavelength at the Ricker's highest frequency."""

    def run(h: float) -> np.ndarray:
        g = Grid.from_extent(0.0, 500.0, 0.0, 250.0, h)
        dt = 0.4 * max_stable_dt(2000.0, 1.25, 1.25, 8)
        solver = FD2D(
            from_mapping(
                FD2D.Parameters,
                {
                    "materials": "elastic", "nt": int(0.4 / dt), "dt": dt, "order": 8,
                    "pml_width": 20, "free_surface": True, "record": ["VX", "VZ"],
                    "pml_sides": ["left", "right", "bottom"], "min_points_per_wavelength": 0,
                    "pml_velocity": 2000.0,
                },
            )
        )  # fmt: skip
        one = np.ones(g.shape)
        model = Model(g, {"vp": 2000.0 * one, "vs": 1150.0 * one, "rho": 2000.0 * one})
        src = PointSource(x=100.0, z=250.0 - 5.0 * depth, stf=SourceTimeFunction(f0=10.0), **kind)
        recs = [Receiver(station="S", x=320.0, z=250.0), Receiver(station="B", x=320.0, z=150.0)]
        st = solver.forward(model, Event(name="e", sources=[src]), recs)
        return np.concatenate([tr.data for tr in st])

    ref = run(1.25)
    assert np.linalg.norm(run(5.0) - ref) / np.linalg.norm(ref) < tol


def test_a_grid_shallower_than_the_closure_is_an_error() -> None:
    """At order 8 the closure's tables reach 11 rows down: with fewer than 16 nodes
    along z they would meet the bottom edge's stencils (or the halo below it)."""
    from seisgrad.errors import SolverError
    from seisgrad.solver.fd2d.elastic import surface_depth
    from seisgrad.solver.fd2d.verify import dot_product_test

    assert [surface_depth(o) for o in (2, 4, 8)] == [3, 8, 16]
    src = PointSource(x=20.0, z=20.0, kind="force", fz=1.0)
    recs = [Receiver(station="A", x=30.0, z=0.0)]
    with pytest.raises(SolverError, match="at least 16 nodes along z"):
        _solver(8, 20).forward(
            _model(16, 15, 2, 300.0, 1200.0), Event(name="e", sources=[src]), recs
        )
    model = _model(16, 16, 2, 300.0, 1200.0)
    ev = Event(name="e", sources=[PointSource(x=20.0, z=60.0, kind="force", fz=1.0)])
    assert dot_product_test(_solver(8, 20), model, ev, recs).relative_error < 1e-13


@pytest.mark.parametrize(
    "kind", [{"kind": "explosion", "amplitude": 1e6}, {"kind": "force", "fz": 1e3}]
)
def test_sources_under_water_beside_a_coast_use_the_closures_weights(kind: dict) -> None:
    """Water everywhere but a 5 m solid strip at the left edge: every column uses the
    solid's closure, so a source under the water must be divided by its weights as
    under a solid surface (it was not: 22-36% off at 1-3 cells, found by a review). The
    records match the ocean's (the mirror closure, no strip) at a receiver far from the
    strip."""

    def run(strip: bool) -> np.ndarray:
        g = Grid.from_extent(0.0, 300.0, 0.0, 120.0, 5.0)
        vp, vs, rho = np.full(g.shape, 1500.0), np.zeros(g.shape), np.full(g.shape, 1000.0)
        if strip:
            vs[:2, -2:] = 900.0
        model = Model(g, {"vp": vp, "vs": vs, "rho": rho})
        dt = 0.4 * max_stable_dt(1500.0, 5.0, 5.0, 8)
        solver = FD2D(
            from_mapping(
                FD2D.Parameters,
                {
                    "materials": "elastic", "nt": int(0.2 / dt), "dt": dt, "order": 8,
                    "pml_width": 20, "free_surface": True, "record": ["P"],
                    "pml_sides": ["left", "right", "bottom"], "pml_velocity": 1500.0,
                },
            )
        )  # fmt: skip
        src = PointSource(x=150.0, z=110.0, stf=SourceTimeFunction(f0=15.0), **kind)
        recs = [Receiver(station="B", x=250.0, z=80.0)]
        return solver.forward(model, Event(name="e", sources=[src]), recs)[0].data

    ocean, coast = run(False), run(True)
    assert np.linalg.norm(coast - ocean) / np.linalg.norm(ocean) < 0.05


def test_a_light_surface_row_is_warned() -> None:
    """The check's density-contrast limit leaves out the free surface's closure: a top
    row of rho 200 over 2000 blew up at the dt it allowed (a review); check says so,
    and not for rho 1000 over 2000."""
    src = PointSource(x=40.0, z=40.0, kind="force", fz=1.0)
    recs = [Receiver(station="A", x=30.0, z=75.0)]
    for rho_top, warned in ((200.0, True), (450.0, True), (1000.0, False)):
        model = _model(20, 16, 1, 1000.0, 1500.0, rho_top=rho_top)
        found = _solver(8, 10, frac=0.3).check(model, Event(name="e", sources=[src]), recs)
        assert any("density on the top row" in w for w in found) == warned, rho_top
