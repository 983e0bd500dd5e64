"""Stability checks beyond the homogeneous CFL limit, non-finite results, and the
default strength of the absorbing layers (``fd2d``)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from seisgrad.config import from_mapping
from seisgrad.errors import ConfigError, DataError, StabilityError
from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction
from seisgrad.solver.fd2d import FD2D, FD2DParameters, checks, elastic
from seisgrad.solver.fd2d.common import default_pml_reflection, max_stable_dt
from seisgrad.solver.fd2d.verify import pml_reflection


def _air_water(nx: int = 60, nz: int = 60) -> Model:
    """Water (1500 m/s, 1000 kg/m^3) under air (340 m/s, 1.2 kg/m^3)."""
    g = Grid(nx, nz, 10.0, 10.0)
    vp = np.full(g.shape, 1500.0)
    rho = np.full(g.shape, 1000.0)
    vp[:, nz // 2 :] = 340.0
    rho[:, nz // 2 :] = 1.2
    return Model(g, {"vp": vp, "rho": rho})


def _event(x: float, z: float, f0: float = 2.0, **kw) -> Event:
    kind = kw.pop("kind", "pressure")
    return Event(
        name="e", sources=[PointSource(x=x, z=z, kind=kind, stf=SourceTimeFunction(f0=f0), **kw)]
    )


@pytest.mark.parametrize("order", [2, 4, 8])
def test_stability_velocity_is_the_wave_speed_of_a_homogeneous_model(order):
    k = np.full((30, 24), 1000.0 * 1500.0**2)
    rho = np.full((30, 24), 1000.0)
    assert checks.gershgorin_velocity(k, rho, 10.0, 7.0, order) == pytest.approx(1500.0)
    spectral = checks.spectral_velocity(k, rho, 10.0, 7.0, order)
    assert 1500.0 * 0.99 < spectral < 1500.0 * 1.002
    # the bound holds for a rough random model too
    rng = np.random.default_rng(0)
    rho = 1000.0 + 2000.0 * rng.random((30, 24))
    k = rho * (1500.0 + 1500.0 * rng.random((30, 24))) ** 2
    assert checks.spectral_velocity(k, rho, 10.0, 7.0, order) <= checks.gershgorin_velocity(
        k, rho, 10.0, 7.0, order
    )


def test_density_contrasts_lower_the_stability_limit():
    """Air over water at order 8: unstable from about 0.88 of the homogeneous limit.
    Before, 0.9 passed the check and the traces became NaN."""
    model = _air_water()
    ev = _event(300.0, 200.0)
    recs = [Receiver(station="A", x=200.0, z=250.0)]
    limit = max_stable_dt(1500.0, 10.0, 10.0, 8)
    solver = FD2D(FD2DParameters(nt=3000, dt=0.9 * limit))
    with pytest.raises(StabilityError, match="effective v_max = 17[0-9.]+ m/s.*density contrasts"):
        solver.check(model, ev, recs)
    v = checks.spectral_velocity(
        model["rho"] * model["vp"] ** 2, np.asarray(model["rho"]), 10.0, 10.0, 8
    )
    assert 0.86 < 1500.0 / v < 0.89
    # just under the effective limit: 3000 steps stay finite, and the wave dies out as at
    # half the limit (the peak is the direct wave's, about 1.5e3 Pa)
    for frac in (0.86, 0.5):
        p = FD2D(FD2DParameters(nt=3000, dt=frac * limit)).forward(model, ev, recs)[0].data
        assert np.isfinite(p).all()
        assert np.abs(p[2000:]).max() < 1e-5 * np.abs(p).max()


def test_water_over_rock_keeps_the_whole_limit():
    """A moderate contrast whose Gershgorin bound is above the wave speed: the exact
    eigenvalue lets dt up to the homogeneous limit pass."""
    g = Grid(40, 40, 10.0, 10.0)
    vp = np.full(g.shape, 4500.0)
    rho = np.full(g.shape, 2700.0)
    vp[:, 20:] = 1500.0
    rho[:, 20:] = 1000.0
    k = rho * vp**2
    assert checks.gershgorin_velocity(k, rho, 10.0, 10.0, 8) > 1.05 * 4500.0
    model = Model(g, {"vp": vp, "rho": rho})
    solver = FD2D(FD2DParameters(nt=10, dt=0.999 * max_stable_dt(4500.0, 10.0, 10.0, 8)))
    solver.check(model, _event(200.0, 100.0), [Receiver(station="A", x=100.0, z=100.0)])


def test_elastic_free_surface_at_low_order_is_stable_to_a_fraction_of_the_limit():
    g = Grid(40, 36, 5.0, 5.0)
    one = np.ones(g.shape)
    model = Model(g, {"vp": 1500.0 * one, "vs": 1000.0 * one, "rho": 2000.0 * one})
    ev = _event(97.3, 100.0, f0=25.0, kind="force", fz=1e6)
    recs = [Receiver(station="A", x=60.0, z=g.extent[3])]

    def solver(order: int, frac: float, fs: bool = True) -> FD2D:
        return FD2D(
            from_mapping(
                FD2D.Parameters,
                {
                    "materials": "elastic",
                    "nt": 10,
                    "dt": frac * max_stable_dt(1500.0, 5.0, 5.0, order),
                    "order": order,
                    "free_surface": fs,
                    "pml_sides": ["left", "right", "bottom"],
                },
            )
        )

    for order, frac in elastic.FREE_SURFACE_CFL.items():
        with pytest.raises(StabilityError, match=f"free surface's closure at order {order}"):
            solver(order, frac * 1.005).check(model, ev, recs)
        solver(order, frac * 0.999).check(model, ev, recs)
        solver(order, 0.999, fs=False).check(model, ev, recs)  # no surface: the whole limit
    assert elastic.FREE_SURFACE_CFL == {4: 0.99}
    for order in (2, 8):  # the summation-by-parts closure keeps the whole limit
        solver(order, 0.999).check(model, ev, recs)


def test_elastic_free_surface_is_stable_at_the_dt_the_check_allows():
    """Order 8 with a free surface and vp/vs = 1.05 blew up (1e55 in 4000 steps, no NaN)
    at the whole CFL limit with the closure before the summation-by-parts one; now the
    check allows the whole limit at order 8 (0.99 at order 4) and the run at the
    largest dt it allows stays at rest after the wave."""
    g = Grid.from_extent(0.0, 300.0, -300.0, 0.0, 5.0)
    one = np.ones(g.shape)
    model = Model(g, {"vp": 2100.0 * one, "vs": 2000.0 * one, "rho": 2000.0 * one})
    ev = _event(150.0, -5.0, f0=8.0, kind="force", fz=1.0)
    recs = [Receiver(station="A", x=50.0, z=0.0)]
    for order in (8, 4):
        mapping = {
            "materials": "elastic",
            "nt": 4000,
            "order": order,
            "free_surface": True,
            "pml_sides": ["left", "right", "bottom"],
            "precision": "float64",
            "record": ["VZ"],
            "correct_time_dispersion": False,
            "min_points_per_wavelength": 0,
        }
        dt = elastic.FREE_SURFACE_CFL.get(order, 1.0) * max_stable_dt(2100.0, 5.0, 5.0, order)
        data = FD2D(from_mapping(FD2D.Parameters, {**mapping, "dt": dt})).forward(model, ev, recs)
        v = data[0].data
        assert np.abs(v[-500:]).max() < 1e-3 * np.abs(v[:1000]).max(), order


def test_a_blow_up_is_an_error_not_nan_traces(monkeypatch):
    """Order 2 at 1.05 times the CFL limit blows up (the check, switched off here, would
    refuse it): the forward raises instead of returning NaN traces (the growth watch,
    which stops it earlier, switched off too)."""
    from seisgrad.solver.fd2d import propagator

    monkeypatch.setattr(propagator, "check_stability", lambda *args, **kwargs: None)
    monkeypatch.setattr(propagator, "GROWTH_LIMIT", math.inf)
    g = Grid(40, 36, 5.0, 5.0)
    one = np.ones(g.shape)
    model = Model(g, {"vp": 1050.0 * one, "vs": 1000.0 * one, "rho": 2000.0 * one})
    solver = FD2D(
        from_mapping(
            FD2D.Parameters,
            {
                "materials": "elastic",
                "nt": 4000,
                "dt": 1.05 * max_stable_dt(1050.0, 5.0, 5.0, 2),
                "order": 2,
                "free_surface": True,
                "pml_width": 8,
                "pml_sides": ["left", "right", "bottom"],
                "precision": "float64",
                "record": ["VZ"],
            },
        )
    )
    ev = _event(97.3, 100.0, f0=25.0, kind="force", fz=1e6)
    with pytest.raises(StabilityError, match="became unstable: non-finite values"):
        solver.forward(model, ev, [Receiver(station="A", x=60.0, z=g.extent[3])])


def test_a_growth_without_nan_is_an_error(monkeypatch):
    """A run a little past the CFL limit (the check switched off here) grows without
    NaN in 4000 steps in float64 (an earlier free-surface closure did so at the limit
    itself): the records came back as if valid. The growth after the sources stopped is
    an error, early in the run; a stable run is not stopped."""
    from seisgrad.solver.fd2d import propagator

    monkeypatch.setattr(propagator, "check_stability", lambda *args, **kwargs: None)
    g = Grid.from_extent(0.0, 300.0, -300.0, 0.0, 5.0)
    one = np.ones(g.shape)
    model = Model(g, {"vp": 2100.0 * one, "vs": 2000.0 * one, "rho": 2000.0 * one})
    ev = _event(150.0, -5.0, f0=8.0, kind="force", fz=1.0)
    recs = [Receiver(station="A", x=50.0, z=0.0)]

    def solver(frac: float) -> FD2D:
        return FD2D(
            from_mapping(
                FD2D.Parameters,
                {"materials": "elastic", "nt": 4000, "order": 8, "free_surface": True,
                 "dt": frac * max_stable_dt(2100.0, 5.0, 5.0, 8),
                 "pml_sides": ["left", "right", "bottom"], "precision": "float64",
                 "record": ["VZ"]},
            )
        )  # fmt: skip

    with pytest.raises(StabilityError, match=r"grew [0-9.e+]+ times after the sources stopped"):
        solver(1.002).forward(model, ev, recs)
    data = solver(0.99).forward(model, ev, recs)
    assert np.isfinite(data[0].data).all() and np.abs(data[0].data).max() > 0


def test_the_growth_watch_waits_for_every_source_on_its_own_scale():
    """A weak source that still acts does not count as stopped beside a strong one that
    has (a pressure source and a force are in other units)."""
    g = Grid(40, 40, 10.0, 10.0)
    model = Model(g, {"vp": np.full(g.shape, 2000.0), "rho": np.full(g.shape, 1000.0)})
    solver = FD2D(FD2DParameters(nt=400, dt=1e-3, correct_time_dispersion=False))
    recs = [Receiver(station="A", x=100.0, z=100.0)]
    early = PointSource(x=200.0, z=200.0, kind="force", fz=1e9, stf=SourceTimeFunction(f0=20.0))
    wave = np.sin(np.linspace(0.0, 40.0, 400))
    stf = SourceTimeFunction(kind="array", values=(1e-6 * wave).tolist())  # in Pa
    late = PointSource(x=150.0, z=150.0, stf=stf)
    alone = solver.propagator(model, Event(name="e", sources=[early]), recs).sources_end()
    assert 50 < alone < 200  # a 20 Hz Ricker: quiet after about 0.1 s
    both = solver.propagator(model, Event(name="e", sources=[early, late]), recs)
    assert both.sources_end() == both.nt


def test_non_finite_adjoint_source_is_a_data_error():
    g = Grid(30, 30, 10.0, 10.0)
    model = Model(g, {"vp": np.full(g.shape, 2000.0), "rho": np.full(g.shape, 1000.0)})
    ev = _event(150.0, 150.0, f0=10.0)
    recs = [Receiver(station=f"R{k}", x=50.0 + 20 * k, z=100.0) for k in range(3)]
    solver = FD2D(FD2DParameters(nt=100, dt=1e-3, record=["P"]))
    prop = solver.propagator(model, ev, recs)
    adj = np.zeros((3, 100))
    adj[1, 10] = np.nan
    # (FD2D.adjoint refuses such traces before; the propagator's own check is the last)
    with pytest.raises(DataError, match=r"non-finite values \(NaN or inf\) at 1 receiver.*R1"):
        prop.gradient({"P": adj})


def test_absurd_time_steps_are_parameter_errors():
    for dt in (1e300, 5e-324, 0.0, -1.0):
        with pytest.raises(ConfigError, match="FD2DParameters.dt"):
            FD2DParameters(dt=dt)


def test_default_pml_reflection_scales_with_the_width():
    assert default_pml_reflection(10) == pytest.approx(math.exp(-9.0))
    assert default_pml_reflection(20) == pytest.approx(1.523e-8, rel=1e-3)
    assert FD2DParameters().pml_reflection is None


def test_pml_absorbs_waves_at_grazing_incidence_near_the_cfl_limit():
    """Receivers level with the source, 1.8 wavelengths from the absorbing top and
    bottom, 3 to 10 wavelengths away, at 0.99 of the CFL limit: 2.2% came back with the
    old default R = 1e-3; now well under 0.1%."""
    c, f0 = 2000.0, 10.0
    dx = c / (2.8 * f0) / 8  # 8 points per minimum wavelength
    g = Grid(281, 81, dx, dx)
    model = Model(g, {"vp": np.full(g.shape, c), "rho": np.full(g.shape, 1000.0)})
    xs, zs = g.x[25] + 0.37 * dx, g.z[40] - 0.21 * dx
    ev = Event(
        name="a",
        sources=[PointSource(x=xs, z=zs, kind="pressure", stf=SourceTimeFunction(f0=f0))],
    )
    recs = [Receiver(station=f"D{d}", x=xs + d * c / f0, z=zs) for d in (3, 5, 10)]
    dt = 0.99 * max_stable_dt(c, dx, dx, 8)

    def reflection(**kw) -> float:
        p = FD2DParameters(nt=int(1.5 / dt), dt=dt, record=["P"], precision="float64", **kw)
        return pml_reflection(FD2D(p), model, ev, recs).reflection

    assert reflection() < 0.001
    assert reflection(pml_reflection=1e-3) > 0.01  # the old default: what the test catches


def test_overdamped_layers_warn():
    g = Grid(40, 40, 10.0, 10.0)
    model = Model(g, {"vp": np.full(g.shape, 2000.0), "rho": np.full(g.shape, 1000.0)})
    ev = _event(200.0, 200.0, f0=10.0)
    recs = [Receiver(station="A", x=100.0, z=100.0)]
    limit = max_stable_dt(2000.0, 10.0, 10.0, 8)
    slow = FD2D(FD2DParameters(nt=10, dt=0.1 * limit)).check(model, ev, recs)
    assert any("set pml_velocity to about 2000" in w for w in slow)
    for kw in ({"dt": 0.5 * limit}, {"dt": 0.1 * limit, "pml_velocity": 2000.0}):
        fine = FD2D(FD2DParameters(nt=10, **kw)).check(model, ev, recs)
        assert not any("pml_velocity" in w for w in fine)


def test_underdamped_layers_warn():
    """A pml_velocity well below the model's speed (500 m/s in a 2000 m/s model
    reflected 1.2-1.4%) had no warning; only the other direction did."""
    g = Grid(40, 40, 10.0, 10.0)
    model = Model(g, {"vp": np.full(g.shape, 2000.0), "rho": np.full(g.shape, 1000.0)})
    ev = _event(200.0, 200.0, f0=10.0)
    recs = [Receiver(station="A", x=100.0, z=100.0)]
    dt = 0.5 * max_stable_dt(2000.0, 10.0, 10.0, 8)
    slow = FD2D(FD2DParameters(nt=10, dt=dt, pml_velocity=500.0)).check(model, ev, recs)
    assert any("pml_velocity (500 m/s) is 0.25 times" in w for w in slow), slow
    for v in (1000.0, 2000.0):
        fine = FD2D(FD2DParameters(nt=10, dt=dt, pml_velocity=v)).check(model, ev, recs)
        assert not any("pml_velocity" in w for w in fine)
    none = FD2DParameters(nt=10, dt=dt, pml_velocity=500.0, pml_width=0)
    assert not any("pml_velocity" in w for w in FD2D(none).check(model, ev, recs))


def test_elastic_stability_velocity():
    """Homogeneous (dx = dz): the bound is v_p. A solid under air: the shear points on the
    interface keep a quarter of the solid's mu next to the air's buoyancy, and the scheme
    is stable only to about 0.165 of the homogeneous limit (measured: stable for 4000
    steps at the computed limit, NaN 3% above it)."""
    sh = (40, 30)
    one = np.ones(sh)
    lam, mu, rho = 2500.0 * (3000.0**2 - 2 * 1700.0**2) * one, 2500.0 * 1700.0**2 * one, 2500 * one
    assert checks.elastic_gershgorin_velocity(lam, mu, rho, 10.0, 10.0, 8) == pytest.approx(3000.0)
    assert 2990.0 < checks.elastic_spectral_velocity(lam, mu, rho, 10.0, 7.0, 8) < 3006.0
    g = Grid(60, 60, 10.0, 10.0)
    vp, vs, rho = np.full(g.shape, 3000.0), np.full(g.shape, 1700.0), np.full(g.shape, 2500.0)
    vp[:, 30:], vs[:, 30:], rho[:, 30:] = 340.0, 0.0, 1.2
    model = Model(g, {"vp": vp, "vs": vs, "rho": rho})
    mu = rho * vs**2
    v = checks.elastic_spectral_velocity(rho * vp**2 - 2 * mu, mu, rho, 10.0, 10.0, 8)
    assert 0.15 < 3000.0 / v < 0.18
    limit = max_stable_dt(3000.0, 10.0, 10.0, 8)
    ev = _event(300.0, 200.0, f0=4.0, kind="explosion")
    recs = [Receiver(station="A", x=200.0, z=250.0)]

    def solver(frac: float) -> FD2D:
        return FD2D(
            from_mapping(
                FD2D.Parameters,
                {"materials": "elastic", "nt": 10, "dt": frac * limit, "record": ["VZ"]},
            )
        )

    with pytest.raises(StabilityError, match="effective v_max"):
        solver(1.02 * 3000.0 / v).check(model, ev, recs)
    solver(0.99 * 3000.0 / v).check(model, ev, recs)


def test_suggested_values_pass_when_dt_fails_even_the_wave_speed():
    """dt above the homogeneous limit of a model with contrasts: the message names the
    effective limit, and its dt and spacing, copied, pass (they were the homogeneous
    ones, refused again)."""

    model = _air_water()
    ev = _event(300.0, 200.0)
    recs = [Receiver(station="A", x=200.0, z=250.0)]
    dt = 2.0 * max_stable_dt(1500.0, 10.0, 10.0, 8)
    with pytest.raises(StabilityError, match="effective v_max") as err:
        FD2D(FD2DParameters(nt=10, dt=dt)).check(model, ev, recs)
    msg = str(err.value)
    dt_ok = float(re.search(r"use dt <= ([0-9.e-]+) s", msg).group(1))
    h = float(re.search(r"at least dx = ([0-9.e-]+) m", msg).group(1))
    FD2D(FD2DParameters(nt=10, dt=dt_ok)).check(model, ev, recs)
    g = model.grid
    coarse = Model(Grid(g.nx, g.nz, h, h), {k: np.asarray(v) for k, v in model.items()})
    FD2D(FD2DParameters(nt=10, dt=dt)).check(
        coarse, _event(30 * h, 20 * h), [Receiver(station="A", x=20 * h, z=25 * h)]
    )


def test_homogeneous_elastic_with_unequal_spacing_keeps_the_whole_limit():
    g = Grid(40, 40, 10.0, 5.0)
    one = np.ones(g.shape)
    model = Model(g, {"vp": 3000.0 * one, "vs": 1700.0 * one, "rho": 2500.0 * one})
    dt = 0.9999 * max_stable_dt(3000.0, 10.0, 5.0, 8)
    solver = FD2D(from_mapping(FD2D.Parameters, {"materials": "elastic", "nt": 10, "dt": dt}))
    solver.check(model, _event(200.0, 100.0, f0=10.0), [Receiver(station="A", x=100.0, z=50.0)])


def test_fluid_solid_interface_in_a_side_layer_warns():
    g = Grid(40, 40, 10.0, 10.0)
    vp, vs, rho = np.full(g.shape, 4500.0), np.full(g.shape, 2600.0), np.full(g.shape, 2700.0)
    vp[:, 20:], vs[:, 20:], rho[:, 20:] = 1500.0, 0.0, 1000.0
    model = Model(g, {"vp": vp, "vs": vs, "rho": rho})
    ev = _event(200.0, 200.0, f0=10.0, kind="force", fz=1.0)
    recs = [Receiver(station="A", x=100.0, z=100.0)]

    def warnings(sides: list[str]) -> list[str]:
        params = {"materials": "elastic", "nt": 10, "dt": 1e-3, "pml_sides": sides}
        return FD2D(from_mapping(FD2D.Parameters, params)).check(model, ev, recs)

    assert any("meet on the left, right edge(s)" in w for w in warnings(["left", "right"]))
    assert not any("fluid (vs = 0)" in w for w in warnings(["bottom", "top"]))


def test_slow_surface_layer_in_side_layers_warns():
    """With a free surface, a slow layer on top (4 rows of vs 300 over 1700 m/s) guides
    waves into the side C-PML, where some of its modes grow (50 times the direct wave
    within 12 000 steps, found by an acceptance sweep; 66 times in 24 000 steps with the
    summation-by-parts surface): ``check`` says so. A gentle increase with depth, no
    free surface or no side layers: no warning."""
    g = Grid(60, 60, 5.0, 5.0)
    ev = _event(150.3, 200.0, f0=6.0, kind="force", fz=1.0)
    recs = [Receiver(station="A", x=100.0, z=250.0)]

    def warnings(top_vs: float, sides: list[str], free_surface: bool = True) -> list[str]:
        vs = np.full(g.shape, 1700.0)
        vs[:, -4:] = top_vs
        model = Model(
            g, {"vp": np.full(g.shape, 3000.0), "vs": vs, "rho": np.full(g.shape, 2400.0)}
        )
        params = {
            "materials": "elastic",
            "nt": 10,
            "dt": 4e-4,
            "pml_sides": sides,
            "free_surface": free_surface,
            "min_points_per_wavelength": 0,
        }
        return [
            w
            for w in FD2D(from_mapping(FD2D.Parameters, params)).check(model, ev, recs)
            if "a slow surface layer can grow" in w
        ]

    (w,) = warnings(300.0, ["left", "right", "bottom"])
    assert "left and right edge(s)" in w and "grows 5.67 times" in w and "pml_frequency" in w
    assert "right edge(s)" in warnings(300.0, ["right", "bottom"])[0]
    # away from the side layers such layers grew with the closure before the
    # summation-by-parts one (eighth session of 2026-12-07); now they are stable
    assert not warnings(300.0, ["bottom"])
    assert not warnings(300.0, ["left", "right", "bottom", "top"], free_surface=False)
    assert not warnings(1100.0, ["left", "right", "bottom"])  # 1.55 times: measured stable


@pytest.mark.thin_layer_warning
def test_thin_absorbing_layers_warn():
    """Layers thinner than 20 cells reflect grazing waves by more than 1% (an acceptance
    sweep: 12% with 10 cells, 3.1% with 15, 0.43% with 20, receivers along an absorbing
    edge 16 wavelengths out): ``check`` says so; 20 cells, or no layers, do not warn."""
    g = Grid(40, 40, 10.0, 10.0)
    model = Model(g, {"vp": np.full(g.shape, 2000.0), "rho": np.full(g.shape, 1000.0)})
    ev = _event(200.0, 200.0, f0=10.0)
    recs = [Receiver(station="A", x=100.0, z=100.0)]

    def thin(width: int, sides: list[str]) -> list[str]:
        params = FD2DParameters(nt=10, dt=1e-3, pml_width=width, pml_sides=sides)
        return [w for w in FD2D(params).check(model, ev, recs) if "grazing" in w]

    (w,) = thin(10, ["left"])
    assert w.startswith("absorbing layers of 10 cells") and "pml_width 20" in w
    assert thin(19, ["bottom"]) and not thin(20, ["left"]) and not thin(40, ["left"])
    assert not thin(10, []) and not thin(0, ["left"])
