"""Small simulation setups shared by the solver tests (built in code, no data files)."""

from __future__ import annotations

import math

import numpy as np

from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction
from seisgrad.solver.fd2d import FD2D, FD2DParameters
from seisgrad.solver.fd2d.common import max_stable_dt


def heterogeneous_model(
    nx: int = 36, nz: int = 30, h: float = 10.0, elastic: bool = False, seed: int = 1
) -> Model:
    """Smoothly varying random model (vp about 2000-2400 m/s) with a sharp layer."""
    rng = np.random.default_rng(seed)
    g = Grid(nx, nz, h, h, x0=-50.0, z0=-100.0)
    from scipy.ndimage import gaussian_filter

    bump = gaussian_filter(rng.standard_normal(g.shape), 2.0)
    bump /= np.abs(bump).max()
    vp = 2200.0 + 150.0 * bump
    vp[:, : nz // 3] += 200.0
    rho = 1900.0 + 100.0 * gaussian_filter(rng.standard_normal(g.shape), 2.0)
    values = {"vp": vp, "rho": rho}
    if elastic:
        values["vs"] = vp / 1.8
    return Model(g, values)


def off_grid_receivers(model: Model, n: int = 7, seed: int = 2, surface: bool = False):
    """Receivers at random off-grid positions (one on the top edge when ``surface``)."""
    rng = np.random.default_rng(seed)
    xmin, xmax, zmin, zmax = model.grid.extent
    recs = []
    for k in range(n):
        x = xmin + (xmax - xmin) * rng.uniform(0.05, 0.95)
        z = zmin + (zmax - zmin) * rng.uniform(0.05, 0.95)
        recs.append(Receiver(station=f"R{k:02d}", x=float(x), z=float(z)))
    if surface:
        recs.append(Receiver(station="TOP", x=float(0.37 * xmin + 0.63 * xmax), z=zmax))
        recs.append(Receiver(station="NEAR", x=float(0.5 * (xmin + xmax)), z=zmax - 13.0))
    return recs


def two_source_event(model: Model, elastic: bool = False) -> Event:
    """Two sources fired together at off-grid positions (one near the top)."""
    xmin, xmax, zmin, zmax = model.grid.extent
    if elastic:
        kinds = [
            PointSource(
                x=xmin + 0.31 * (xmax - xmin) + 1.7, z=zmin + 0.47 * (zmax - zmin) + 2.3,
                kind="explosion", amplitude=1e6, stf=SourceTimeFunction(f0=18.0),
            ),
            PointSource(
                x=xmin + 0.66 * (xmax - xmin) - 3.1, z=zmax - 17.0, kind="force", fx=3e5,
                fz=-1e5, stf=SourceTimeFunction(kind="gaussian_derivative", f0=15.0),
            ),
        ]  # fmt: skip
    else:
        kinds = [
            PointSource(
                x=xmin + 0.31 * (xmax - xmin) + 1.7, z=zmin + 0.47 * (zmax - zmin) + 2.3,
                kind="pressure", amplitude=2.0, stf=SourceTimeFunction(f0=18.0),
            ),
            PointSource(
                x=xmin + 0.66 * (xmax - xmin) - 3.1, z=zmax - 17.0, kind="force", fx=3e3,
                fz=-1e3, stf=SourceTimeFunction(kind="gaussian_derivative", f0=15.0),
            ),
        ]  # fmt: skip
    return Event(name="ev", sources=kinds)


def small_solver(model: Model, materials: str = "acoustic", **changes) -> FD2D:
    """FD2D with a stable dt (60% of the CFL limit) and 6-cell absorbing layers."""
    if "vp" in model:
        vmax = float(np.max(model["vp"]))
    else:
        vmax = float(np.sqrt(np.max(model["kappa"] / model["rho"])))
    order = changes.get("order", 8)
    dt = 0.6 * max_stable_dt(vmax, model.grid.dx, model.grid.dz, order)
    base = {
        "materials": materials,
        "nt": 90,
        "dt": dt,
        "order": order,
        "pml_width": 6,
        "precision": "float64",
    }
    base.update(changes)
    if base.get("free_surface") and "pml_sides" not in changes:
        base["pml_sides"] = ["left", "right", "bottom"]
    return FD2D(FD2DParameters(**base))


def homogeneous(nx: int, nz: int, h: float, vp: float, rho: float, x0=0.0, z0=0.0) -> Model:
    g = Grid(nx, nz, h, h, x0, z0)
    return Model(g, {"vp": np.full(g.shape, vp), "rho": np.full(g.shape, rho)})


def ring_around(x: float, z: float, radii, angles_deg) -> list[Receiver]:
    out = []
    for k, (r, a) in enumerate(zip(radii, angles_deg)):
        out.append(
            Receiver(
                station=f"A{k:02d}",
                x=x + r * math.cos(math.radians(a)),
                z=z + r * math.sin(math.radians(a)),
            )
        )
    return out


def assert_saved_not_used(solver, model, event, receivers, syn, path, caplog, reason: str):
    """``adjoint(..., saved=path)`` refuses the snapshots with a warning naming
    ``reason`` and gives the kernels of a run without them, bit for bit."""
    caplog.clear()
    with caplog.at_level("WARNING", logger="seisgrad"):
        got = solver.adjoint(model, event, receivers, syn, saved=path)
    assert reason in caplog.text
    want = solver.adjoint(model, event, receivers, syn)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])
