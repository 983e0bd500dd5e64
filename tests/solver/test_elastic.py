"""Elastic (P-SV) mode of ``solver: fd2d``: exact adjoint, kernels, and the physics.

Bottom-up: the free-surface stencil tables, each sub-step of the time step against its
transpose, the whole time loop (dot-product tests), the kernels of every
parametrization (Taylor tests), then the physics against analytic solutions (full-space
Green's function of a point force and of moment tensors, Lamb's problem) and the
absorbing layers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from seisgrad.config import from_mapping
from seisgrad.errors import ConfigError, DataError
from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction
from seisgrad.solver.fd2d import FD2D
from seisgrad.solver.fd2d.common import HALO, Layout, max_stable_dt
from seisgrad.solver.fd2d.elastic import (
    ElasticPropagator,
    elastic_point_operator,
    fluid_closure_columns,
    fluid_surface_corrections,
    lame_from,
    surface_modulus,
    surface_source_weights,
)
from seisgrad.solver.fd2d.elastic_kernels import SERIAL
from seisgrad.solver.fd2d.elastic_verify import (
    compare_elastic_with_analytic,
    elastic_greens_function,
    lamb_test,
    rayleigh_ellipticity,
    rayleigh_velocity,
)
from seisgrad.solver.fd2d.verify import (
    dot_product_test,
    pml_reflection,
    taylor_test,
    with_parameters,
)

# ----------------------------------------------------------------------------- setups


def _solver(**changes) -> FD2D:
    base = {
        "materials": "elastic",
        "nt": 80,
        "dt": 4e-4,
        "order": 8,
        "pml_width": 6,
        "precision": "float64",
        "record": ["VX", "VZ", "P"],
    }
    base.update(changes)
    if base.get("free_surface") and "pml_sides" not in changes:
        base["pml_sides"] = ["left", "right", "bottom"]
    return FD2D(from_mapping(FD2D.Parameters, base))


def _model(par: str = "velocity", nx: int = 34, nz: int = 30, fluid_rows: int = 0) -> Model:
    """Smooth heterogeneous model (vp about 2000-2300, vp/vs about 1.7-1.9)."""
    g = Grid(nx, nz, 5.0, 5.0, x0=-20.0, z0=-60.0)
    x, z = np.meshgrid(g.x, g.z, indexing="ij")
    vp = 2000.0 + 300.0 * np.exp(-((x - 40) ** 2 + (z - 20) ** 2) / 900.0)
    vs = 1150.0 - 120.0 * np.exp(-((x - 60) ** 2 + (z - 0) ** 2) / 700.0)
    rho = 2000.0 + 150.0 * np.exp(-((x - 30) ** 2 + (z - 40) ** 2) / 1000.0)
    if fluid_rows:
        vs[:, :fluid_rows] = 0.0
    vel = {"vp": vp, "vs": vs, "rho": rho}
    if par == "velocity":
        return Model(g, vel)
    lm = lame_from(vel, ("vp", "vs", "rho"))
    if par == "lame":
        return Model(g, {"lambda": lm["lambda"], "mu": lm["mu"], "rho": rho})
    return Model(g, {"kappa": lm["lambda"] + lm["mu"], "mu": lm["mu"], "rho": rho})


def _event(model: Model, kind: str = "mixed", near_top: bool = False) -> Event:
    xmin, xmax, zmin, zmax = model.grid.extent
    x0 = xmin + 0.41 * (xmax - xmin) + 1.3
    z0 = (zmax - 11.7) if near_top else (zmin + 0.53 * (zmax - zmin) - 2.1)
    stf = SourceTimeFunction(f0=35.0)
    srcs = {
        "force": [PointSource(x=x0, z=z0, kind="force", fx=7e5, fz=-4e5, stf=stf)],
        "explosion": [PointSource(x=x0, z=z0, kind="explosion", amplitude=1e6, stf=stf)],
        "moment_tensor": [
            PointSource(x=x0, z=z0, kind="moment_tensor", mxx=1e6, mzz=-6e5, mxz=4e5, stf=stf)
        ],
    }
    if kind == "mixed":
        srcs["mixed"] = [
            srcs["moment_tensor"][0],
            PointSource(
                x=xmin + 0.7 * (xmax - xmin),
                z=zmax - 8.2,
                kind="force",
                fx=2e5,
                fz=5e5,
                stf=SourceTimeFunction(kind="gaussian_derivative", f0=30.0),
            ),
        ]
    return Event(name="ev", sources=srcs[kind])


def _receivers(model: Model, surface: bool = False) -> list[Receiver]:
    rng = np.random.default_rng(5)
    xmin, xmax, zmin, zmax = model.grid.extent
    recs = [
        Receiver(
            station=f"R{k}",
            x=float(xmin + (xmax - xmin) * rng.uniform(0.05, 0.95)),
            z=float(zmin + (zmax - zmin) * rng.uniform(0.05, 0.95)),
        )
        for k in range(6)
    ]
    if surface:
        recs.append(Receiver(station="TOP", x=float(0.4 * xmin + 0.6 * xmax), z=zmax))
        recs.append(Receiver(station="NEAR", x=float(0.5 * (xmin + xmax)), z=zmax - 3.3))
    return recs


# ----------------------------------------------------------------------------- tables


def test_surface_modulus_derivatives() -> None:
    lam, mu = np.array([3.1e9, 0.0]), np.array([2.2e9, 1.5e9])
    m, dl, dm = surface_modulus(lam, mu)
    h = 1e3
    np.testing.assert_allclose(dl, (surface_modulus(lam + h, mu)[0] - m) / h, rtol=1e-5)
    np.testing.assert_allclose(dm, (surface_modulus(lam, mu + h)[0] - m) / h, rtol=1e-5)


def test_parametrizations_agree() -> None:
    vel = _model("velocity")
    for par in ("lame", "bulk"):
        other = _model(par)
        a = lame_from(vel, ("vp", "vs", "rho"))
        b = lame_from(other, ElasticPropagator.parametrizations[par])
        for k in ("lambda", "mu", "rho", "vp", "vs"):
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12)


def test_rayleigh_velocity_and_ellipticity() -> None:
    # Poisson solid: c_R = 0.9194 vs, |uz/ux| = 1.4678 (textbook values)
    assert rayleigh_velocity(math.sqrt(3.0), 1.0) == pytest.approx(0.91940, abs=1e-5)
    assert rayleigh_ellipticity(math.sqrt(3.0), 1.0) == pytest.approx(1.4678, abs=1e-3)
    # incompressible limit: 0.9553 vs
    assert rayleigh_velocity(1e4, 1.0) == pytest.approx(0.95531, abs=1e-4)


def test_greens_function_reciprocity_and_symmetry() -> None:
    src = PointSource(x=0.0, z=0.0, kind="force", fx=1.0, fz=0.0)
    stf = SourceTimeFunction(f0=10.0).sample(400, 1e-3)
    ux, uz = elastic_greens_function(120.0, 50.0, 2000.0, 1100.0, 2000.0, stf, 1e-3, src)
    src_z = PointSource(x=0.0, z=0.0, kind="force", fx=0.0, fz=1.0)
    vx, vz = elastic_greens_function(120.0, 50.0, 2000.0, 1100.0, 2000.0, stf, 1e-3, src_z)
    # G_xz = G_zx
    np.testing.assert_allclose(uz, vx, atol=1e-12 * np.abs(uz).max())
    # mirror x -> -x flips the mixed component
    wx, wz = elastic_greens_function(-120.0, 50.0, 2000.0, 1100.0, 2000.0, stf, 1e-3, src)
    np.testing.assert_allclose(wx, ux, atol=1e-10 * np.abs(ux).max())
    np.testing.assert_allclose(wz, -uz, atol=1e-10 * np.abs(uz).max())
    with pytest.raises(ConfigError):
        elastic_greens_function(0.0, 0.0, 2000.0, 1100.0, 2000.0, stf, 1e-3, src)


# ----------------------------------------------------------------------------- sub-steps


def _propagator(
    fs: bool, sides: list[str], order: int = 8, multiaxial: float = 0.0
) -> ElasticPropagator:
    solver = _solver(free_surface=fs, pml_sides=sides, order=order, pml_multiaxial=multiaxial)
    model = _model()
    return solver.propagator(model, _event(model), _receivers(model, surface=fs))


def _flat(prop: ElasticPropagator, d: dict) -> tuple[dict, dict, np.uint64, int, int]:
    f = {k: v.reshape(-1) for k, v in d.items()}
    m = {k: v.reshape(-1) for k, v in prop.mats.items()}
    nrows, ncols = prop.layout.shape
    return f, m, np.uint64(ncols), ncols, nrows


def _substep_v(prop: ElasticPropagator, st: dict) -> None:
    f, m, S, ncols, _ = _flat(prop, st)
    xn, xh, zn, zh = prop.strips
    u0 = np.uint64(0)
    SERIAL["_fwd_v_pass"](
        f["sxx"], f["szz"], f["sxz"], f["vx"], f["vz"],
        f["mvxx"], f["mvxz"], f["mvzx"], f["mvzz"], m["bx"], m["bz"], prop.cx, prop.cz,
        *prop.prof, xn, xh, zn, zh, prop.nxe, None, u0, u0, S, 4, prop.nxe, False,
        prop.mp, prop.mcol, f.get("m2vx"), f.get("m2vz"),
    )  # fmt: skip
    if prop.layout.free_surface:
        SERIAL["_top_fwd_v"](
            f["sxz"], f["szz"], f["vx"], f["vz"], m["bx"], m["bz"], prop.dvx, prop.dvz,
            prop.top, ncols, 4, prop.nxe, prop.nxe, None, u0, u0, prop.mp, prop.mcol, xn, xh,
            f.get("m2vx"), f.get("m2vz"),
        )  # fmt: skip


def _substep_s(prop: ElasticPropagator, st: dict) -> None:
    f, m, S, ncols, _ = _flat(prop, st)
    xn, xh, zn, zh = prop.strips
    u0 = np.uint64(0)
    SERIAL["_fwd_s_pass"](
        f["vx"], f["vz"], f["sxx"], f["szz"], f["sxz"],
        f["mnx"], f["mnz"], f["msx"], f["msz"], m["l2m"], m["lam"], m["mu"],
        prop.cx, prop.cz, *prop.prof, xn, xh, zn, zh, prop.nxe, None, u0, u0, u0, S,
        4, prop.nxe, False, prop.mp, prop.mcol, f.get("m2nn"), f.get("m2xz"),
    )  # fmt: skip
    if prop.layout.free_surface:
        SERIAL["_top_fwd_s"](
            f["vx"], f["vz"], f["sxx"], f["szz"], f["sxz"], m["l2m"], m["lam"], m["mu"],
            prop.dzz, prop.dxz, prop.top, ncols, 4, prop.nxe, prop.nxe, None, u0, u0,
            prop.mp, prop.mcol, xn, xh, f.get("m2nn"), f.get("m2xz"),
        )  # fmt: skip


def _substep_v_adjoint(prop: ElasticPropagator, a: dict) -> None:
    """Transpose of the V sub-step acting on the scaled adjoint (E, U, memory)."""
    f, m, S, ncols, nrows = _flat(prop, a)
    xn, xh, zn, zh = prop.strips
    j0, j1 = int(zn[0]), int(zn[3])
    axn, bxn, axh, bxh, azn, bzn, azh, bzh = prop.prof
    SERIAL["_adj_prex"](f["ux"], f["pvxx"], axh, bxh, f["dux"], xh, j0, j1, S, 4, prop.nxe,
                        False)  # fmt: skip
    SERIAL["_adj_prex"](f["uz"], f["pvzx"], axn, bxn, f["duz"], xn, j0, j1, S, 4, prop.nxe,
                        False)  # fmt: skip
    store = np.zeros(5 * f["ux"].size, dtype=prop.dtype)
    u = [np.uint64(k * f["ux"].size) for k in range(5)]
    SERIAL["_adj_s_pass"](
        f["ux"], f["uz"], f["dux"], f["duz"], f["exx"], f["ezz"], f["exz"],
        f["txx"], f["tzz"], f["txz"], f["pvxz"], f["pvzz"], m["l2m"], m["lam"], m["mu"],
        -prop.cx, -prop.cz, azn, bzn, azh, bzh, xn, xh, zn, zh, prop.nxe, store, *u,
        f["gbx"], f["gbz"], f["gl2m"], f["glam"], f["gmu"], S, 4, prop.nxe, False,
        prop.mp, prop.mcol, f.get("p2vx"), f.get("p2vz"), prop.layout.free_surface, prop.top,
        prop.dvx, prop.dvz,
    )  # fmt: skip
    if prop.layout.free_surface:
        SERIAL["_top_adj_s"](
            f["ux"], f["uz"], f["exx"], f["ezz"], f["exz"], f["txx"], f["tzz"], f["txz"],
            m["l2m"], m["lam"], m["mu"], prop.dvx, prop.dvz, prop.top, ncols, 4, prop.nxe,
            prop.nxe,
        )  # fmt: skip


def _substep_s_adjoint(prop: ElasticPropagator, a: dict) -> None:
    """Transpose of the S sub-step acting on the scaled adjoint (U, T, memory)."""
    f, m, S, ncols, _ = _flat(prop, a)
    xn, xh, zn, zh = prop.strips
    j0, j1 = int(zn[0]), int(zn[3])
    axn, bxn, axh, bxh, azn, bzn, azh, bzh = prop.prof
    SERIAL["_adj_prex"](f["txx"], f["pnx"], axn, bxn, f["dxx"], xn, j0, j1, S, 4, prop.nxe,
                        False)  # fmt: skip
    SERIAL["_adj_prex"](f["txz"], f["psx"], axh, bxh, f["dxzx"], xh, j0, j1, S, 4, prop.nxe,
                        False)  # fmt: skip
    SERIAL["_adj_v_pass"](
        f["txx"], f["tzz"], f["txz"], f["dxx"], f["dxzx"], f["ux"], f["uz"], f["pnz"],
        f["psz"], m["bx"], m["bz"], -prop.cx, -prop.cz, azn, bzn, azh, bzh, xn, xh, zn, zh,
        prop.nxe, S, 4, prop.nxe, False, prop.mp, prop.mcol, f.get("p2nn"), f.get("p2xz"),
        prop.layout.free_surface, prop.top, prop.dzz, prop.dxz,
    )  # fmt: skip
    if prop.layout.free_surface:
        SERIAL["_top_adj_v"](
            f["txz"], f["tzz"], f["ux"], f["uz"], m["bx"], m["bz"], prop.dzz, prop.dxz,
            prop.top, ncols, 4, prop.nxe, prop.nxe,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("fs", "sides", "multiaxial"),
    [
        (False, ["left", "right", "bottom", "top"], 0.0),
        (True, ["left", "right", "bottom"], 0.0),
        (True, ["left"], 0.0),
        (False, [], 0.0),
        (False, ["left", "right", "bottom", "top"], 0.5),
        (True, ["left", "right", "bottom"], 0.5),
    ],
)
@pytest.mark.parametrize("substep", ["V", "S"])
def test_substep_dot_product(fs: bool, sides: list[str], multiaxial: float, substep: str) -> None:
    """Each sub-step (wavefield update with its C-PML memory variables, the multiaxial
    terms when asked, and the free-surface corrections) against its transpose, in
    float64."""
    prop = _propagator(fs, sides, multiaxial=multiaxial)
    rng = np.random.default_rng(11)
    x = prop.random_state(rng)
    y = prop.random_state(rng)
    fx = {k: v.copy() for k, v in x.items()}
    (_substep_v if substep == "V" else _substep_s)(prop, fx)
    adj = prop.new_adjoint()
    prop.plain_to_adjoint(y, adj)
    (_substep_v_adjoint if substep == "V" else _substep_s_adjoint)(prop, adj)
    aty = prop.adjoint_to_plain(adj)
    if substep == "S":  # E (plain stress adjoint) does not change in the S transpose
        for k in ("sxx", "szz", "sxz"):
            aty[k] = np.where(prop.state_masks()[k], y[k], 0.0)
    else:  # U (velocity adjoint) does not change in the V transpose
        for k in ("vx", "vz"):
            aty[k] = np.where(prop.state_masks()[k], y[k], 0.0)
    lhs = prop.state_dot(fx, y)
    rhs = prop.state_dot(x, aty)
    assert abs(lhs) > 0
    assert abs(lhs - rhs) <= 1e-13 * max(abs(lhs), abs(rhs)), (lhs, rhs)


# ----------------------------------------------------------------------------- time loop


@pytest.mark.parametrize(
    "changes",
    [
        {"order": 8},
        {"order": 4, "free_surface": True},
        {"order": 2, "pml_sides": ["left", "bottom"]},
        {"order": 8, "free_surface": True, "pml_sides": ["right"]},
        {"order": 8, "pml_sides": []},
    ],
    ids=["o8-pml", "o4-fs", "o2-two-sides", "o8-fs-right", "o8-rigid"],
)
@pytest.mark.parametrize("nsteps", [1, 60])
def test_time_loop_dot_product(changes: dict, nsteps: int) -> None:
    solver = _solver(record=["P", "VX", "VZ", "UX", "UZ"], **changes)
    model = _model()
    fs = bool(changes.get("free_surface"))
    res = dot_product_test(
        solver, model, _event(model, near_top=fs), _receivers(model, fs), nsteps=nsteps, seed=7
    )
    assert abs(res.lhs) > 0
    assert res.relative_error < 1e-12, res


@pytest.mark.parametrize("order", [2, 8])
@pytest.mark.parametrize("nz", [3, 4, 6])
def test_dot_product_of_a_thin_model_between_two_absorbing_layers(order: int, nz: int) -> None:
    """Fewer model rows than a stencil's width between the bottom and top layers: the
    adjoint's z-strip corrections of the two layers reach the same rows, which got the
    correction twice (dot-product mismatch 5e-3 at nz = 4, order 8)."""
    g = Grid(30, nz, 10.0, 10.0)
    one = np.ones(g.shape)
    model = Model(g, {"vp": 2000.0 * one, "vs": 1100.0 * one, "rho": 1000.0 * one})
    dt = 0.5 * max_stable_dt(2000.0, 10.0, 10.0, order)
    params = {
        "materials": "elastic", "nt": 40, "dt": dt, "order": order, "precision": "float64",
        "min_points_per_wavelength": 0, "pml_sides": ["bottom", "top"], "pml_width": 10,
    }  # fmt: skip
    solver = FD2D(from_mapping(FD2D.Parameters, params))
    xm, zm = 290.0, (nz - 1) * 10.0
    ev = Event(
        name="e",
        sources=[
            PointSource(x=0.5 * xm, z=0.5 * zm, kind="explosion", stf=SourceTimeFunction(f0=20.0))
        ],
    )
    recs = [Receiver(station="A", x=0.3 * xm, z=0.7 * zm)]
    res = dot_product_test(solver, model, ev, recs, seed=3)
    assert abs(res.lhs) > 0
    assert res.relative_error < 1e-12, res


# ----------------------------------------------------------------------------- kernels


@pytest.mark.parametrize(
    ("par", "fs", "kind", "changes"),
    [
        ("velocity", False, "mixed", {}),
        ("lame", True, "force", {}),
        ("bulk", False, "explosion", {"order": 4}),
        ("velocity", True, "moment_tensor", {"order": 2, "checkpointing": "store"}),
        ("lame", False, "moment_tensor", {"pml_sides": ["left", "top"]}),
    ],
)
def test_taylor(par: str, fs: bool, kind: str, changes: dict) -> None:
    solver = _solver(parametrization=par, free_surface=fs, checkpoints=4, **changes)
    model = _model(par)
    ev = _event(model, kind, near_top=fs)
    res = taylor_test(solver, model, ev, _receivers(model, fs), hs=(1.0, 0.1, 0.01), seed=2)
    assert res.best_relative_error < 1e-6, res.relative_errors
    orders = res.convergence_orders
    assert orders and all(1.8 < o < 2.2 for o in orders), orders
    for name in solver.kernel_parameters:
        assert np.abs(res.gradient[name]).max() > 0, name


def test_taylor_per_kernel() -> None:
    """Each kernel separately (perturbing one parameter at a time)."""
    solver = _solver(free_surface=True, record=["UX", "UZ"])
    model = _model()
    ev = _event(model, "mixed", near_top=True)
    recs = _receivers(model, True)
    rng = np.random.default_rng(3)
    for name in ("vp", "vs", "rho"):
        pert = {n: np.zeros(model.grid.shape) for n in ("vp", "vs", "rho")}
        pert[name] = 0.01 * float(model[name].mean()) * rng.uniform(-1, 1, model.grid.shape)
        res = taylor_test(solver, model, ev, recs, perturbation=pert, hs=(0.1, 0.01, 1e-3), seed=1)
        assert res.best_relative_error < 1e-6, (name, res.relative_errors)


def test_fluid_layer_taylor() -> None:
    """A fluid layer (vs = 0) at the bottom: forward and kernels are handled."""
    solver = _solver(parametrization="lame")
    model = _model("lame", fluid_rows=8)
    assert np.all(model["mu"][:, :8] == 0)
    ev = _event(model, "explosion")
    recs = _receivers(model)
    rng = np.random.default_rng(0)
    g = model.grid.shape
    pert = {
        "lambda": 0.01 * float(model["lambda"].mean()) * rng.uniform(-1, 1, g),
        "mu": 0.01 * float(model["mu"].mean()) * rng.uniform(-1, 1, g) * (model["mu"] > 0),
        "rho": 0.01 * float(model["rho"].mean()) * rng.uniform(-1, 1, g),
    }
    res = taylor_test(solver, model, ev, recs, perturbation=pert, hs=(0.1, 0.01), seed=2)
    assert res.best_relative_error < 1e-6, res.relative_errors


def test_taylor_default_perturbation_keeps_a_fluid_fluid() -> None:
    """Without a given perturbation, taylor_test leaves zero parameters (vs in a fluid)
    at zero instead of making them negative."""
    model = _model("velocity", fluid_rows=8)
    res = taylor_test(_solver(), model, _event(model, "explosion"), _receivers(model),
                      hs=(0.1, 0.01), seed=1)  # fmt: skip
    assert res.best_relative_error < 1e-6, res.relative_errors


def test_gaussian_reference_does_not_depend_on_padding() -> None:
    """The velocity of a moment source with a non-zero mean (a Gaussian) has a
    non-zero zero-frequency term; leaving it out made the reference depend on ``pad``."""
    dt, nt = 1e-3, 800
    stf = SourceTimeFunction(kind="gaussian", f0=10.0).sample(nt, dt)
    src = PointSource(x=0.0, z=0.0, kind="explosion", amplitude=1e9)
    a = elastic_greens_function(150.0, 60.0, 2000.0, 1150.0, 2000.0, stf, dt, src, "V", pad=8)
    b = elastic_greens_function(150.0, 60.0, 2000.0, 1150.0, 2000.0, stf, dt, src, "V", pad=64)
    for x, y in zip(a, b):
        assert np.linalg.norm(x - y) < 1e-3 * np.linalg.norm(y)


def test_checkpoint_equals_store_bitwise() -> None:
    solver = _solver(free_surface=True, nt=90, precision="float32")
    model = _model()
    ev, recs = _event(model, near_top=True), _receivers(model, True)
    syn = solver.forward(model, ev, recs)
    store = with_parameters(solver, checkpointing="store").adjoint(model, ev, recs, syn)
    for count in (1, 7, 90):
        ckpt = with_parameters(solver, checkpoints=count).adjoint(model, ev, recs, syn)
        for name in store:
            assert np.abs(store[name]).max() > 0
            np.testing.assert_array_equal(ckpt[name], store[name])


def test_vacuum_equals_acoustic() -> None:
    """With vs = 0 everywhere the elastic scheme is the acoustic one: same pressure."""
    g = Grid(40, 36, 5.0, 5.0)
    vp = np.full(g.shape, 1800.0)
    vp[:, 18:] = 2100.0
    rho = np.full(g.shape, 1900.0)
    kappa = rho * vp**2
    common = {"nt": 150, "dt": 5e-4, "pml_width": 8, "precision": "float64"}
    el = FD2D(from_mapping(FD2D.Parameters, {"materials": "elastic", **common,
                                              "record": ["P", "VX", "VZ"]}))  # fmt: skip
    ac = FD2D(from_mapping(FD2D.Parameters, {"materials": "acoustic", **common,
                                              "record": ["P", "VX", "VZ"]}))  # fmt: skip
    x0, z0, amp = 91.3, 52.8, 3.0  # the source stencil stays in the lower layer
    stf = SourceTimeFunction(f0=40.0)
    recs = [Receiver(station=f"R{k}", x=20.0 + 37 * k, z=150.0 - 11 * k) for k in range(5)]
    # elastic explosion M = kappa A  <->  acoustic volume injection A
    ev_el = Event(name="e", sources=[
        PointSource(x=x0, z=z0, kind="explosion", amplitude=float(kappa[0, 0]) * amp, stf=stf)
    ])  # fmt: skip
    ev_ac = Event(name="e", sources=[PointSource(x=x0, z=z0, kind="pressure", amplitude=amp,
                                                 stf=stf)])  # fmt: skip
    s_el = el.forward(Model(g, {"vp": vp, "vs": np.zeros(g.shape), "rho": rho}), ev_el, recs)
    s_ac = ac.forward(Model(g, {"vp": vp, "rho": rho}), ev_ac, recs)
    for a, b in zip(s_el, s_ac):
        assert a.id == b.id
        scale = float(np.abs(b.data).max())
        assert scale > 0
        np.testing.assert_allclose(a.data, b.data, atol=1e-9 * scale, rtol=0)


# ----------------------------------------------------------------------------- physics


def _full_space(kind: dict, precision: str, order: int = 8) -> tuple:
    vp, vs, rho, f0, h = 2000.0, 1155.0, 2000.0, 15.0, 5.0
    g = Grid.from_extent(0.0, 700.0, 0.0, 700.0, h)
    dt = 0.25 * h / vp
    solver = FD2D(
        from_mapping(
            FD2D.Parameters,
            {
                "materials": "elastic", "nt": int(0.42 / dt), "dt": dt, "order": order,
                "pml_width": 20, "precision": precision, "record": ["VX", "VZ", "UX", "UZ"],
            },
        )
    )  # fmt: skip
    model = Model(
        g, {"vp": np.full(g.shape, vp), "vs": np.full(g.shape, vs), "rho": np.full(g.shape, rho)}
    )
    src = PointSource(x=352.3, z=347.1, stf=SourceTimeFunction(f0=f0), **kind)
    angles = np.radians([10.0, 55.0, 100.0, 160.0, 215.0, 290.0])
    recs = [
        Receiver(station=f"A{k}", x=352.3 + 230 * math.cos(a), z=347.1 + 230 * math.sin(a))
        for k, a in enumerate(angles)
    ]
    return solver, model, Event(name="g", sources=[src]), recs


@pytest.mark.parametrize(
    ("kind", "precision"),
    [
        ({"kind": "force", "fx": 1e6, "fz": 5e5}, "float32"),
        ({"kind": "force", "fx": 0.0, "fz": 1e6}, "float64"),
        ({"kind": "moment_tensor", "mxx": 1e6, "mzz": -5e5, "mxz": 7e5}, "float32"),
        ({"kind": "explosion", "amplitude": 1e6}, "float32"),
    ],
    ids=["force-f32", "fz-f64", "moment-f32", "explosion-f32"],
)
def test_greens_function(kind: dict, precision: str) -> None:
    solver, model, ev, recs = _full_space(kind, precision)
    res = compare_elastic_with_analytic(solver, model, ev, recs)
    assert len(res.p_errors) >= 6
    if kind["kind"] in ("force", "moment_tensor"):
        assert len(res.s_errors) >= 6
    assert res.max_p_error < 0.02, res.p_errors
    assert res.max_s_error < 0.02, res.s_errors
    disp = compare_elastic_with_analytic(solver, model, ev, recs, quantity="U")
    assert disp.max_error < 0.02, (disp.p_errors, disp.s_errors)


def test_pml_reflection_below_one_percent() -> None:
    vp, vs, rho, h = 2000.0, 1150.0, 2000.0, 5.0
    g = Grid.from_extent(0.0, 300.0, 0.0, 300.0, h)
    model = Model(
        g, {"vp": np.full(g.shape, vp), "vs": np.full(g.shape, vs), "rho": np.full(g.shape, rho)}
    )
    dt = 0.5 * max_stable_dt(vp, h, h, 8)
    solver = _solver(nt=int(0.3 / dt), dt=dt, pml_width=20, precision="float32",
                     record=["VX", "VZ"])  # fmt: skip
    ev = Event(name="p", sources=[PointSource(x=153.0, z=148.0, kind="force", fx=1e6, fz=6e5,
                                              stf=SourceTimeFunction(f0=20.0))])  # fmt: skip
    recs = [Receiver(station=f"B{k}", x=x, z=z) for k, (x, z) in
            enumerate([(30.0, 150.0), (270.0, 40.0), (150.0, 280.0), (60.0, 60.0)])]  # fmt: skip
    res = pml_reflection(solver, model, ev, recs)
    assert res.reflection < 0.01, res.per_trace


@pytest.mark.parametrize(("order", "h", "tol"), [(8, 5.0, 0.006), (4, 7.5, 0.012)])
def test_lamb_problem(order: int, h: float, tol: float) -> None:
    """Vertical force on the free surface of a Poisson solid: the Rayleigh wave travels
    at 0.919 vs, arrives on time at every receiver and moves retrograde."""
    vp, vs, rho, f0 = 1732.0, 1000.0, 2000.0, 10.0
    g = Grid.from_extent(0.0, 1400.0, 0.0, 500.0, h)
    dt = 0.3 * h / vp
    solver = FD2D(
        from_mapping(
            FD2D.Parameters,
            {
                "materials": "elastic", "nt": int(1.35 / dt), "dt": dt, "order": order,
                "pml_width": 20, "free_surface": True, "pml_sides": ["left", "right", "bottom"],
                "record": ["VX", "VZ"],
            },
        )
    )  # fmt: skip
    model = Model(
        g, {"vp": np.full(g.shape, vp), "vs": np.full(g.shape, vs), "rho": np.full(g.shape, rho)}
    )
    src = PointSource(x=600.0, z=500.0, kind="force", fz=-1e6, stf=SourceTimeFunction(f0=f0))
    recs = [Receiver(station=f"S{k}", x=600.0 + d, z=500.0) for k, d in
            enumerate((300.0, 500.0, 700.0, -300.0, -500.0))]  # fmt: skip
    res = lamb_test(solver, model, Event(name="lamb", sources=[src]), recs)
    assert res.expected_velocity / vs == pytest.approx(0.9194, abs=1e-4)
    assert res.velocity_error < tol, res.measured_velocity
    assert max(res.arrival_errors) < 2 * tol, res.arrival_errors
    assert all(res.retrograde)
    for e in res.ellipticity:
        assert e == pytest.approx(rayleigh_ellipticity(vp, vs), rel=0.1)


# ----------------------------------------------------------------------------- API


def test_stream_channels_and_components() -> None:
    solver = _solver(record=["UX", "UZ", "VX", "VZ", "P"], nt=20)
    model = _model()
    st = solver.forward(model, _event(model), _receivers(model))
    chans = {tr.stats.channel for tr in st}
    assert chans == {"UX", "UZ", "VX", "VZ", "P"}
    for tr in st:
        assert tr.stats.component == tr.stats.channel[-1]
        assert tr.stats.npts == 20
    default = _solver(nt=10, record=None)
    st = default.forward(model, _event(model), _receivers(model))
    assert {tr.stats.channel for tr in st} == {"VX", "VZ"}
    assert default.kernel_parameters == ("vp", "vs", "rho")
    assert _solver(parametrization="bulk").kernel_parameters == ("kappa", "mu", "rho")


def test_displacement_is_integrated_velocity() -> None:
    # the raw conversions (the corrected ones are shared: see the acoustic test)
    solver = _solver(record=["UX", "VX"], nt=60, correct_time_dispersion=False)
    model = _model()
    st = solver.forward(model, _event(model), _receivers(model))
    for sta in {tr.stats.station for tr in st}:
        u = st.select(station=sta, channel="UX")[0].data
        v = st.select(station=sta, channel="VX")[0].data
        # u[n] = dt sum_{m<n} v[m+1/2] and v[n] = (v[n-1/2] + v[n+1/2]) / 2
        dt = solver.params.dt
        du = np.diff(u) / dt  # = v at half steps
        vh = 0.5 * (du[1:] + du[:-1])
        np.testing.assert_allclose(vh, v[1:-1], atol=1e-9 * (np.abs(v).max() + 1e-300))


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"vp": 2000.0, "rho": 2000.0}, "needs one of"),
        ({"vp": 2000.0, "vs": -1.0, "rho": 2000.0}, "vs"),
        ({"vp": 1000.0, "vs": 1100.0, "rho": 2000.0}, "lambda \\+ mu"),
        ({"vp": 2000.0, "vs": 1000.0, "rho": 0.0}, "rho"),
        ({"vp": np.nan, "vs": 1000.0, "rho": 2000.0}, "non-finite"),
    ],
)
def test_bad_models_are_rejected(values: dict, match: str) -> None:
    g = Grid(30, 30, 5.0, 5.0)
    model = Model(g, {k: np.full(g.shape, v) for k, v in values.items()})
    with pytest.raises(DataError, match=match):
        _solver().forward(model, _event(model), _receivers(model))


def test_unstable_dt_is_rejected() -> None:
    from seisgrad.errors import StabilityError

    model = _model()
    with pytest.raises(StabilityError, match="CFL"):
        _solver(dt=5e-3).forward(model, _event(model), _receivers(model))


def test_sampling_warning_uses_vs() -> None:
    model = _model()
    warnings = _solver().check(model, _event(model))
    # f0 = 35 Hz Ricker (fmax 98 Hz), vs ~ 1030 m/s, h = 5 m: about 2 points per wavelength
    assert warnings and "under-sampled" in warnings[0]
    assert "v_min = 10" in warnings[0]


@pytest.mark.slow
def test_threads_give_the_same_results() -> None:
    """The parallel passes give the serial results (forward bit for bit; gradients to
    float32 round-off: the parallel build may contract multiply-adds differently)."""
    model = _model()
    ev, recs = _event(model, near_top=True), _receivers(model, True)
    one = _solver(free_surface=True, precision="float32", nt=40)
    two = with_parameters(one, threads=2)
    a, b = one.forward(model, ev, recs), two.forward(model, ev, recs)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.data, y.data)
    ga = one.adjoint(model, ev, recs, a)
    gb = two.adjoint(model, ev, recs, a)
    for name in ga:
        scale = float(np.abs(ga[name]).max())
        assert scale > 0
        np.testing.assert_allclose(gb[name], ga[name], rtol=0, atol=1e-5 * scale)


# ----------------------------------------------------------------------------- near the surface


def _water_under_free_surface(materials: str, g: Grid, **params) -> tuple[FD2D, Model]:
    """Water (vp 1500, rho 1000; vs = 0 in the elastic model) filling ``g`` under a free
    surface, and a float64 solver recording P, VX, VZ with ``params``."""
    values = {"vp": np.full(g.shape, 1500.0), "rho": np.full(g.shape, 1000.0)}
    if materials == "elastic":
        values["vs"] = np.zeros(g.shape)
    solver = FD2D(
        from_mapping(
            FD2D.Parameters,
            {"materials": materials, "free_surface": True,
             "pml_sides": ["left", "right", "bottom"], "precision": "float64",
             "record": ["P", "VX", "VZ"], **params},
        )
    )  # fmt: skip
    return solver, Model(g, values)


def _fluid_under_free_surface(
    materials: str, src_depth: float, rec_z: float, rec_x: float = 280.0
):
    vp, rho, h = 1500.0, 1000.0, 5.0
    g = Grid(81, 61, h, h, 0.0, -300.0)  # top row at z = 0
    solver, model = _water_under_free_surface(materials, g, nt=700, dt=4e-4, pml_width=15)
    kind, amp = ("explosion", rho * vp**2) if materials == "elastic" else ("pressure", 1.0)
    stf = SourceTimeFunction(f0=12.0)
    ev = Event(name="e", sources=[PointSource(x=120.3, z=-src_depth, kind=kind, amplitude=amp,
                                              stf=stf)])  # fmt: skip
    recs = [Receiver(station="R", x=rec_x, z=rec_z)]
    return solver.forward(model, ev, recs)


def test_fluid_under_a_free_surface_matches_the_acoustic_solver_between_rows() -> None:
    """Receivers between grid rows under a fluid's free surface fold their sinc weights
    with the fluid's symmetry (sxx and vx odd, as p): 11-23% off with the solid's, now
    as close to the acoustic solver as on a node row."""
    for rec_z in (-3.0, -5.0):
        el = _fluid_under_free_surface("elastic", 23.3, rec_z)
        ac = _fluid_under_free_surface("acoustic", 23.3, rec_z)
        for a, b in zip(el, ac):
            err = np.linalg.norm(a.data - b.data) / np.linalg.norm(b.data)
            assert err < 0.01, (rec_z, a.id, err)


@pytest.mark.parametrize("order", [2, 4, 8])
def test_a_fluid_under_a_free_surface_is_the_acoustic_scheme(order: int) -> None:
    """A wholly fluid model under a free surface: the elastic closure used the solid's
    reduced-order stencils in the first rows, 0.7-2.2% of the peak off the acoustic
    solver at orders 4 and 8 (docs claimed 1e-4 to 2e-3); a fluid surface now uses the
    acoustic solver's mirror images, the same scheme to round-off."""
    vp, rho, amp = 1500.0, 1000.0, 2.0
    g = Grid.from_extent(0.0, 300.0, -200.0, 0.0, 5.0)
    stf = SourceTimeFunction(kind="ricker", f0=15.0)
    recs = [Receiver(station=f"R{k}", x=40.0 + 55.0 * k, z=-2.5 - 9.0 * k) for k in range(5)]
    recs.append(Receiver(station="NEAR", x=140.0, z=-1.0))
    # an explosion, and a horizontal force half a cell down: it put a force on vx on the
    # surface row, which the acoustic solver keeps at zero (VX 14 times its record)
    for kind, z, fields in (("explosion", -12.0, {}), ("force", -2.5, {"fx": 1.0})):
        out = {}
        for materials in ("elastic", "acoustic"):
            solver, model = _water_under_free_surface(materials, g, nt=350, dt=6e-4, order=order)
            a = rho * vp**2 * amp if (kind, materials) == ("explosion", "elastic") else amp
            src = PointSource(x=151.3, z=z, kind=kind, amplitude=a, stf=stf, **fields)
            event = Event(name="e", sources=[src])
            out[materials] = solver.forward(model, event, recs)
        for e, a in zip(out["elastic"], out["acoustic"], strict=True):
            assert e.id == a.id and np.abs(a.data).max() > 0
            assert np.abs(e.data - a.data).max() < 1e-12 * np.abs(a.data).max(), (kind, e.id)


def test_a_source_under_a_fluid_surface_gets_the_acoustic_solvers_warning() -> None:
    """Under a fluid surface the scheme is the acoustic one: the old warning (11% off at
    1 cell) is gone; what is left is the physics', the negative image cancelling a
    shallow explosion or the horizontal part of a force (a vertical force: none)."""
    g = Grid(81, 61, 5.0, 5.0, 0.0, -300.0)
    values = {"vp": np.full(g.shape, 1500.0), "vs": np.zeros(g.shape)}
    values["rho"] = np.full(g.shape, 1000.0)
    solver = _solver(nt=700, free_surface=True, pml_velocity=1500.0)
    recs = [Receiver(station="A", x=10.0, z=-50.0)]

    def warnings(depth: float, **kind) -> list[str]:
        src = PointSource(x=120.3, z=-depth, stf=SourceTimeFunction(f0=12.0), **kind)
        out = solver.check(Model(g, values), Event(name="e", sources=[src]), recs)
        return [w for w in out if "free surface (fluid there)" in w]

    (w,) = warnings(5.0, kind="explosion")
    assert "its negative image cancels its pressure" in w and "at least 5.03 m down" in w
    (w,) = warnings(5.0, kind="force", fx=1.0)
    assert "the image of its horizontal part (fx)" in w
    assert warnings(5.0, kind="force", fz=1.0) == []
    assert warnings(5.0, kind="moment_tensor", mxx=1.0, mzz=-1.0) == []
    assert warnings(10.0, kind="explosion") == []


def test_only_an_ocean_without_a_coast_uses_the_fluids_closure() -> None:
    """The mirror closure of a fluid surface and the solid's summation-by-parts closure
    weigh the rows under the surface differently, so columns of both side by side do not
    conserve energy: a 3-row lagoon between two coasts grew without bound at order 8
    with the mirror images. Every column uses the solid's closure unless the whole
    surface is fluid ``order / 2`` rows deep or more."""
    g = Grid.from_extent(0.0, 1200.0, -600.0, 0.0, 10.0)
    x, z = np.meshgrid(g.x, g.z, indexing="ij")
    mu = np.full(g.shape, 2500.0 * 1700.0**2)
    lay = Layout(g, (10, 10, 10, 0), True)
    for rows, order in ((3, 8), (4, 8), (8, 8), (2, 4), (1, 4)):
        lagoon = (z > -10.0 * rows + 1e-6) & (x > 300) & (x < 900)
        assert not fluid_closure_columns(lay, np.where(lagoon, 0.0, mu), order).any()
        ocean = z > -10.0 * rows + 1e-6
        cols = fluid_closure_columns(lay, np.where(ocean, 0.0, mu), order)
        assert cols.all() == (rows >= order // 2) and cols.all() == cols.any(), (rows, order)
    # the lagoon of the report, 8000 steps (it grew 2e4 times by step 7584)
    vp = np.where((z > -30.0 + 1e-6) & (x > 300) & (x < 900), 1500.0, 3000.0)
    vs = np.where(vp == 1500.0, 0.0, 1700.0)
    rho = np.where(vp == 1500.0, 1000.0, 2500.0)
    model = Model(g, {"vp": vp, "vs": vs, "rho": rho})
    solver = _solver(nt=8000, dt=0.7 * 0.99 * max_stable_dt(3000.0, 10.0, 10.0, 8),
                     free_surface=True, pml_width=10, record=["VZ"])  # fmt: skip
    src = PointSource(x=600.3, z=-3.3, kind="explosion", stf=SourceTimeFunction(f0=8.0))
    recs = [Receiver(station="A", x=600.0, z=0.0), Receiver(station="B", x=250.0, z=0.0)]
    st = solver.forward(model, Event(name="e", sources=[src]), recs)
    # the lagoon keeps ringing (its energy is trapped: 0.1 of the peak over 16 000
    # steps, measured), without growing
    peak = max(np.abs(tr.data).max() for tr in st)
    early = max(np.abs(tr.data[2000:4000]).max() for tr in st)
    assert max(np.abs(tr.data[-1000:]).max() for tr in st) < min(2.0 * early, 0.2 * peak)


def test_the_fluid_closure_covers_every_column_of_an_ocean_with_a_left_layer() -> None:
    """setup once passed the padded mu to fluid_closure_columns, which takes the model's
    (with a left layer the closure moved pml_width columns). An ocean over the whole
    model gives the fluid's closure to every array row, absorbing layers included; with a
    coast, no row has it."""
    g = Grid(60, 30, 5.0, 5.0)
    one = np.ones(g.shape)
    top = g.extent[3]
    src = PointSource(x=100.0, z=top - 40.0, kind="explosion", stf=SourceTimeFunction(f0=20.0))
    fzz, fvz = fluid_surface_corrections(8)
    for coast in (None, 30):
        vs = 1200.0 * one
        vs[: coast if coast else None, -8:] = 0.0  # an ocean 8 rows deep
        model = Model(g, {"vp": 2000.0 * one, "vs": vs, "rho": 2000.0 * one})
        solver = _solver(order=8, free_surface=True, pml_width=12)
        prop = solver.propagator(model, Event(name="e", sources=[src]), [Receiver("A", 50.0, top)])
        rows, cols = fzz.shape
        want = (fzz / 5.0).astype(prop.dtype)
        uses_fluid = [bool(np.array_equal(prop.dzz[i, :rows, :cols], want))
                      for i in range(prop.layout.shape[0])]  # fmt: skip
        assert all(uses_fluid) if coast is None else not any(uses_fluid), coast


def test_vx_on_the_surface_row_is_dropped_only_under_a_deep_fluid() -> None:
    """A receiver's vx weights on the surface row are left out under a fluid deep enough
    for the fluid's closure (vx is odd there and zero); under a thinner fluid, which
    keeps the solid's closure, vx on the surface row is 11-32% of the column's largest
    and stays in the record."""
    g = Grid(60, 30, 5.0, 5.0)
    one = np.ones(g.shape)
    top = g.extent[3]
    rows_of = {}
    for rows in (2, 8):
        vs = 1200.0 * one
        vs[:, -rows:] = 0.0
        model = Model(g, {"vp": 2000.0 * one, "vs": vs, "rho": 2000.0 * one})
        solver = _solver(order=8, free_surface=True, pml_width=6, record=["VX"])
        src = PointSource(x=100.0, z=top - 80.0, kind="explosion",
                          stf=SourceTimeFunction(f0=20.0))  # fmt: skip
        prop = solver.propagator(
            model, Event(name="e", sources=[src]), [Receiver("A", 150.3, top - 1.0)]
        )
        op = elastic_point_operator(prop.layout, [(150.3, top - 1.0)], "vx",
                                    prop._fluid_surface(prop.receivers), prop._surface_columns,
                                    prop._mirror_columns)  # fmt: skip
        rows_of[rows] = set(op.j.tolist())
    assert prop.top not in rows_of[8] and prop.top in rows_of[2]


def test_a_thin_fluid_under_a_free_surface_is_stable_and_not_warned() -> None:
    """A sea 2 rows deep between two coasts grew without bound at orders 4 and 8 with the
    closure before the summation-by-parts one (``check`` warned); now it is stable (the
    one-step operator's eigenvalues: tests/solver/test_free_surface.py) and ``check``
    says nothing about it."""
    g = Grid.from_extent(0.0, 1200.0, -600.0, 0.0, 10.0)
    x, z = np.meshgrid(g.x, g.z, indexing="ij")
    recs = [Receiver(station="A", x=100.0, z=-200.0)]
    src = PointSource(x=600.3, z=-300.0, kind="explosion", stf=SourceTimeFunction(f0=8.0))
    sea = (z > -20.0 + 1e-6) & (x > 300) & (x < 900)
    model = Model(g, {"vp": np.where(sea, 1500.0, 3000.0), "vs": np.where(sea, 0.0, 1700.0),
                      "rho": np.where(sea, 1000.0, 2500.0)})  # fmt: skip
    for order in (4, 8):
        solver = _solver(order=order, free_surface=True, pml_width=10, dt=1e-3)
        out = solver.check(model, Event(name="e", sources=[src]), recs)
        assert not [w for w in out if "rows deep" in w or "grow" in w], out


def test_an_ocean_and_a_coastline_under_a_free_surface_keep_the_exact_adjoint() -> None:
    """The fluid columns' surface closure (mirror images) and the solid's side by side:
    the adjoint is the exact transpose and the gradient the derivative of the misfit."""
    model = _model("lame", nx=40, nz=30)
    lam, mu, rho = (np.array(model[n]) for n in ("lambda", "mu", "rho"))
    mu[:22, -6:] = 0.0  # an ocean 6 rows deep over the left half, a coast at column 22
    model = Model(model.grid, {"lambda": lam, "mu": mu, "rho": rho})
    solver = _solver(parametrization="lame", free_surface=True)
    top = model.grid.extent[3]
    ev = Event(
        name="e",
        sources=[PointSource(x=40.7, z=top - 12.3, kind="explosion", amplitude=1e9,
                             stf=SourceTimeFunction(f0=30.0))],
    )  # fmt: skip
    recs = [Receiver(station=f"R{k}", x=-5.0 + 33.0 * k, z=top - 1.7 - 3.0 * k) for k in range(5)]
    assert dot_product_test(solver, model, ev, recs).relative_error < 1e-12
    res = taylor_test(solver, model, ev, recs, hs=(0.1, 0.01, 1e-3), seed=3)
    assert res.best_relative_error < 1e-7, res.relative_errors


def test_sources_under_a_fluid_surface_leave_no_pressure_on_it() -> None:
    """An explosion 1-4 cells under a fluid's free surface put part of its sxx term on
    the surface row, where the closure keeps sxx (plane-stress modulus 0 with mu = 0):
    it stayed there for good, a constant pressure on the pressure-release surface that
    no model change moved (1.06 against 11.7 one cell down; Taylor tests with receivers
    there failed at 1e-3)."""
    for depth in (6.5, 12.5, 18.5):
        above = _fluid_under_free_surface("elastic", depth, 0.0, rec_x=122.0)
        (surface,) = above.select(channel="P")
        (below,) = _fluid_under_free_surface("elastic", depth, -5.0, 122.0).select(channel="P")
        assert np.all(surface.data == 0.0), (depth, np.abs(surface.data).max())
        assert np.abs(below.data).max() > 0.0


def test_a_source_near_a_coastline_leaves_no_pressure_on_the_fluid_surface() -> None:
    """A source on the solid side of a fluid/solid change at the surface reaches the
    fluid columns' surface sxx with its 8-column stencil: dropping those weights by the
    point's own (solid) surface left a stuck pressure of 3% of the field there; they
    are dropped column by column now."""
    h, n = 10.0, 60
    g = Grid(n, n, h, h)
    one = np.ones(g.shape)
    vs = 1000.0 * one
    vs[:30] = 0.0  # fluid for x < 300 m
    model = Model(g, {"vp": 2000.0 * one, "vs": vs, "rho": 1000.0 * one})
    dt = 0.5 * max_stable_dt(2000.0, h, h, 8)
    solver = _solver(nt=300, dt=dt, free_surface=True, pml_width=10)
    top = (n - 1) * h
    src = PointSource(x=317.0, z=top - 15.0, kind="explosion", stf=SourceTimeFunction(f0=10.0))
    recs = [Receiver(station="R", x=100.0, z=top - 100.0)]
    prop = solver.propagator(model, Event(name="e", sources=[src]), recs)
    zero = {k: np.zeros_like(v) for k, v in prop.new_state().items()}
    out, _ = prop.propagate(zero, 0, prop.nt)
    k = HALO + prop.layout.NZ - 1
    first_solid = HALO + prop.layout.pml[0] + 30
    assert np.all(out["sxx"][:first_solid, k] == 0.0)
    assert np.abs(out["sxx"][first_solid : first_solid + 3, k]).max() > 0.0


def test_shallow_sources_under_a_free_surface_warn() -> None:
    g = Grid(40, 30, 5.0, 5.0, 0.0, -145.0)  # top row at z = 0
    vs = np.full(g.shape, 1150.0)
    vs[:10] = 0.0  # fluid on the left
    model = Model(g, {"vp": np.full(g.shape, 2000.0), "vs": vs, "rho": np.full(g.shape, 2000.0)})
    solver = _solver(free_surface=True, pml_sides=["left", "right", "bottom"])

    def warned(x: float, depth: float, kind: str = "explosion", **mt: float) -> bool:
        src = PointSource(x=x, z=-depth, kind=kind, fx=1.0, amplitude=1e6, **mt)
        warnings = solver.check(model, Event(name="e", sources=[src]))
        return any("under the free surface" in w for w in warnings)

    # solid surface: accurate at every depth (1.2-3.7% against a fine grid)
    for depth in (0.0, 1.0, 5.0, 10.0, 17.0, 20.0):
        assert not warned(150.0, depth) and not warned(150.0, depth, "force"), depth
    assert not warned(150.0, 0.0, "moment_tensor", mxx=1.0)
    assert warned(150.0, 0.0, "moment_tensor", mxx=1.0, mzz=1.0)  # Mzz radiates nothing
    # fluid beside a coast (the solid's closure there, 0.3-3% off): only the image's
    # warning, for a source so shallow that its negative image cancels it
    for depth in (1.0, 7.0, 10.0, 15.0):
        src = PointSource(x=20.0, z=-depth, kind="explosion", amplitude=1e6)
        found = [w for w in solver.check(model, Event(name="e", sources=[src])) if "under" in w]
        assert all("negative image cancels" in w for w in found), found
    assert warned(20.0, 1.0)


def test_surface_source_weights_conserve_momentum() -> None:
    """The weights of the rows under the surface (the summation-by-parts closure's
    inner product) make the closure's z derivatives sum to zero (no net force from
    internal stresses), as the interior stencils do with weight 1."""
    from seisgrad.solver.fd2d.free_surface import sbp_operators

    for order, first in ((2, 0.5), (4, 7.0 / 18.0), (8, 0.3196)):
        q_node, q_half = surface_source_weights(order)
        assert q_node[0] == pytest.approx(first, abs=1e-4)
        assert np.all(q_node > 0.3) and np.all(q_half > 0.3)
        assert q_node[-1] == pytest.approx(1.0, abs=1e-12) and q_half[-1] == pytest.approx(1.0)
        _, d, _, _ = sbp_operators(order, 40)
        sxz = np.cos(np.arange(40.0))
        sxz[20:] = 0.0
        w = np.ones(40)
        w[: q_node.size] = q_node
        assert abs(w @ (d @ sxz)) < 1e-12
    assert np.allclose(surface_source_weights(2)[1], 1.0)  # order 2: plain centred rows


@pytest.mark.parametrize("component", ["fx", "fz"])
def test_forces_under_a_free_surface_are_reciprocal(component: str) -> None:
    """A force on (and just under) the free surface radiates what reciprocity asks: the
    velocity it makes at a point B equals the velocity at its own position made by the
    same force at B. Before the source weights of the surface rows
    (``surface_source_weights``), a horizontal force on the surface radiated 0.30 of it,
    1 and 2 cells down 1.35 and 0.84."""
    g = Grid(90, 70, 5.0, 5.0)
    top = g.z[-1]
    one = np.ones(g.shape)
    model = Model(g, {"vp": 2000.0 * one, "vs": 1155.0 * one, "rho": 2000.0 * one})
    chan = "VX" if component == "fx" else "VZ"
    solver = _solver(free_surface=True, nt=560, dt=5e-4, pml_width=12, record=[chan], order=8)
    stf = SourceTimeFunction(f0=10.0)
    b = (330.0, 150.0)

    def force(x: float, z: float) -> Event:
        return Event(
            name="e", sources=[PointSource(x=x, z=z, kind="force", stf=stf, **{component: 1e6})]
        )

    depths = [0.0, 5.0, 10.0, 15.0]
    back = solver.forward(
        model,
        force(*b),
        [Receiver(station=f"D{k}", x=100.0, z=top - d) for k, d in enumerate(depths)],
    )
    for d, tr in zip(depths, back):
        there = solver.forward(
            model, force(100.0, top - d), [Receiver(station="B", x=b[0], z=b[1])]
        )[0]
        err = np.linalg.norm(there.data - tr.data) / np.linalg.norm(tr.data)
        assert err < 0.04, (d, err)


def test_analytic_comparison_skips_components_that_vanish_by_symmetry() -> None:
    """A receiver on the line of a vertical force (off it by round-off) has an exact VX
    of about 1e-12 of the channel's: its relative error would measure round-off (2%
    here before), so it is skipped and said so."""
    g = Grid(81, 81, 5.0, 5.0)
    one = np.ones(g.shape)
    model = Model(g, {"vp": 2000.0 * one, "vs": 1155.0 * one, "rho": 2000.0 * one})
    solver = _solver(nt=500, dt=5e-4, pml_width=10, record=["VX", "VZ"])
    stf = SourceTimeFunction(f0=15.0)
    event = Event(name="e", sources=[PointSource(x=200.0, z=200.0, kind="force", fz=1e6, stf=stf)])
    recs = [
        Receiver(station="A", x=330.0, z=200.0 + 1e-7),
        Receiver(station="C", x=300.0, z=290.0),
    ]
    res = compare_elastic_with_analytic(solver, model, event, recs)
    assert set(res.skipped) == {"XX.A..VX"} and "negligible" in res.skipped["XX.A..VX"]
    assert set(res.p_errors) == {"XX.A..VZ", "XX.C..VX", "XX.C..VZ"}
    assert res.max_error < 0.02


def test_check_warns_about_leftover_shear_velocity_in_a_fluid() -> None:
    """Water with vs of 1e-40..0.04 m/s (a blob's tail): treated as solid with no word,
    and the sampling warning asked for a spacing of 4e-44 m."""
    model = _model(fluid_rows=8)
    vs = model["vs"].copy()
    vs[vs == 0] = 1e-40
    vs[3, -1] = 0.03
    w = _solver().check(model.with_values(vs=vs), _event(model), _receivers(model))
    tiny = [x for x in w if "vs is positive but at most 0.001 of vp" in x]
    assert len(tiny) == 1 and "smallest 1e-40 m/s" in tiny[0], w
    assert not any("v_min = 1e-40" in x or "v_min = 0.03" in x for x in w), w
    assert not any(
        "vs is positive" in x for x in _solver().check(model, _event(model), _receivers(model))
    )
