"""The verification functions of ``fd2d`` on setups that used to fool them: channels zero
by symmetry (PML reflection, Taylor test on a free surface), perturbed models past the
CFL limit, and the ``kappa`` parametrization in the analytic comparison."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from seisgrad.errors import ConfigError
from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction, ring
from seisgrad.solver.fd2d import FD2D, FD2DParameters
from seisgrad.solver.fd2d.common import max_stable_dt
from seisgrad.solver.fd2d.verify import (
    compare_with_analytic,
    dot_product_test,
    pml_reflection,
    taylor_test,
)

C, RHO, F0 = 2000.0, 1000.0, 10.0
#: 8 points per minimum wavelength of a 10 Hz Ricker wavelet
DX = C / (2.8 * F0) / 8


def _smooth_model(dz: float = 10.0) -> Model:
    """40 x 36 cells, vp 2000-2400 m/s and rho 1800-2000 kg/m^3, smooth."""
    rng = np.random.default_rng(1)
    g = Grid(40, 36, 10.0, dz)
    bump = gaussian_filter(rng.standard_normal(g.shape), 2.0)
    bump /= np.abs(bump).max()
    rho = 1900.0 + 100.0 * gaussian_filter(rng.standard_normal(g.shape), 2.0)
    return Model(g, {"vp": 2200.0 + 200.0 * bump, "rho": rho})


def _event(x: float, z: float, amplitude: float = 1.0, f0: float = 12.0) -> Event:
    src = PointSource(
        x=x, z=z, kind="pressure", amplitude=amplitude, stf=SourceTimeFunction(f0=f0)
    )
    return Event(name="e", sources=[src])


def test_pml_reflection_measures_a_small_component_against_its_receivers_wave() -> None:
    """An explosion near the bottom layer, receivers on its horizontal line: VZ there is
    small by symmetry but not negligible, and divided by its own peak it reported 32%
    (20-cell layers: 4.9%) where VX showed 4e-5. Each trace is now measured against the
    incident wave at its receiver (all its channels, as particle velocities)."""
    h, n, vp, vs = 5.0, 100, 2500.0, 1000.0
    g = Grid(n, n, h, h)
    one = np.ones(g.shape)
    model = Model(g, {"vp": vp * one, "vs": vs * one, "rho": 2000 * one})
    size = (n - 1) * h
    dt = 0.5 * max_stable_dt(vp, h, h, 8)
    params = FD2DParameters(
        materials="elastic", nt=int(1.6 * size / vs / dt), dt=dt, pml_width=10,
        record=["VX", "VZ"],
    )  # fmt: skip
    zs = 6.4 * h
    src = PointSource(x=0.15 * size, z=zs, kind="explosion", stf=SourceTimeFunction(f0=8.9))
    xs = np.linspace(0.4 * size, 0.95 * size, 4)
    recs = [Receiver(station=f"G{k}", x=float(x), z=zs) for k, x in enumerate(xs)]
    res = pml_reflection(FD2D(params), model, Event(name="p", sources=[src]), recs)
    assert not res.skipped and len(res.per_trace) == 8
    assert res.reflection < 1e-3, res.per_trace


class _WrongVelocityAdjoint(FD2D):
    """An FD2D whose adjoint takes the VX adjoint sources 1% too large."""

    def adjoint(self, model, event, receivers, adjoint_sources, *args, **kwargs):
        adj = adjoint_sources.copy()
        for tr in adj.select(channel="VX"):
            tr.data = tr.data * 1.01
        return super().adjoint(model, event, receivers, adj, *args, **kwargs)


def test_taylor_test_weighs_every_channel_alike() -> None:
    """Unweighted, pressure (about rho c times velocity) made the whole misfit: a VX part
    of the gradient 1% wrong gave the same errors as the right one (3.8e-9). The
    channels are now compared as particle velocities."""
    from tests.solver.setups import (
        heterogeneous_model,
        off_grid_receivers,
        small_solver,
        two_source_event,
    )

    model = heterogeneous_model()
    right = small_solver(model, record=["P", "VX", "VZ"], precision="float64")
    ev, recs = two_source_event(model), off_grid_receivers(model)
    hs = (0.1, 0.01, 0.001)
    assert taylor_test(right, model, ev, recs, hs=hs).best_relative_error < 1e-7
    wrong = taylor_test(_WrongVelocityAdjoint(right.params), model, ev, recs, hs=hs)
    assert wrong.best_relative_error > 1e-3, wrong.relative_errors


def test_taylor_test_on_the_axis_of_a_symmetric_model() -> None:
    """Source and receivers on the axis of a layered model (a well): VX is round-off
    there (1e-22). Weighted by its own peak it got 1e42 and the perturbation's own VX
    made the central differences 1e14 off; compared as particle velocities it weighs
    like VZ."""
    from scipy.ndimage import gaussian_filter1d

    g = Grid(41, 36, 10.0, 10.0)
    rng = np.random.default_rng(1)
    vp = np.tile(2200 + 150 * gaussian_filter1d(rng.standard_normal(g.nz), 2.0), (g.nx, 1))
    model = Model(g, {"vp": vp, "rho": np.full(g.shape, 1900.0)})
    xs = float(g.x[20])
    dt = 0.5 * max_stable_dt(float(vp.max()), 10.0, 10.0, 8)
    solver = FD2D(FD2DParameters(nt=120, dt=dt, precision="float64", pml_width=8))
    src = PointSource(x=xs, z=float(g.z[25]), stf=SourceTimeFunction(f0=12.0))
    recs = [Receiver(station=f"W{k}", x=xs, z=float(g.z[j])) for k, j in enumerate((3, 8, 14))]
    res = taylor_test(solver, model, Event(name="e", sources=[src]), recs)
    assert res.best_relative_error < 1e-8, res.relative_errors
    assert all(1.8 < o < 2.2 for o in res.convergence_orders), res.convergence_orders


# ----------------------------------------------------------------------------- dot product


class _WrongAdjointWeights(FD2D):
    """An FD2D whose adjoint injects one record channel with weights 0.1% off."""

    channel = "VX"

    def propagator(self, *args, **kwargs):
        prop = super().propagator(*args, **kwargs)
        right = prop.rec
        c = prop.raw_channels.index(self.channel)
        w = right.s_w.copy()
        w[right.g_c[right.s_g] == c] *= 1.001
        wrong = right._replace(s_w=w, s_wa=w)
        adjoint = prop.propagate_adjoint

        def propagate_adjoint(*a, **k):
            prop.rec = wrong
            try:
                return adjoint(*a, **k)
            finally:
                prop.rec = right

        prop.propagate_adjoint = propagate_adjoint
        return prop


@pytest.mark.parametrize(
    ("materials", "channel"), [("acoustic", "P"), ("acoustic", "VX"), ("elastic", "VZ")]
)
def test_dot_product_test_sees_a_wrong_transpose_of_any_record_channel(materials, channel):
    """Pressure is about rho c times velocity: with plain random vectors the velocity
    records weighed 1e-6 of the inner product, and a transpose of their weights 0.1%
    wrong passed at 5e-11. The balanced vectors see it at 1e-4 or more."""
    g = Grid(36, 30, 10.0, 10.0)
    rng = np.random.default_rng(5)
    values = {"vp": 2200 + 300 * rng.random(g.shape), "rho": 1900 + 500 * rng.random(g.shape)}
    if materials == "elastic":
        values["vs"] = values["vp"] / 1.8
    model = Model(g, values)
    params = FD2DParameters(
        materials=materials, nt=50, dt=0.6 * max_stable_dt(2600.0, 10.0, 10.0, 8),
        pml_width=6, precision="float64", record=["P", "VX", "VZ"],
    )  # fmt: skip
    ev = _event(101.7, 140.3, f0=18.0)
    recs = [
        Receiver(station=f"R{k}", x=x, z=z)
        for k, (x, z) in enumerate([(53.1, 77.7), (211.4, 160.2), (300.3, 240.9)])
    ]
    assert dot_product_test(FD2D(params), model, ev, recs).relative_error < 1e-12
    wrong = _WrongAdjointWeights(params)
    wrong.channel = channel
    res = dot_product_test(wrong, model, ev, recs)
    assert res.relative_error > 1e-5, res
    assert len(res.checks) == 2


# ----------------------------------------------------------------------------- PML


def test_pml_reflection_skips_a_channel_zero_by_symmetry() -> None:
    """Receivers level with the source: VZ of the reference is round-off, and dividing
    by it reported a reflection of 1e14 % although P and VX showed 0.001%."""
    g = Grid(70, 50, DX, DX)
    zs = g.z[18]
    ev = _event(g.x[15] + 0.3, zs, f0=F0)
    recs = [Receiver(station=f"L{k}", x=g.x[i], z=zs) for k, i in enumerate((30, 45, 60))]
    model = Model(g, {"vp": np.full(g.shape, C), "rho": np.full(g.shape, RHO)})
    dt = 0.5 * max_stable_dt(C, DX, DX, 8)
    solver = FD2D(FD2DParameters(nt=int(0.45 / dt), dt=dt, precision="float64"))
    res = pml_reflection(solver, model, ev, recs)
    assert 0.0 < res.reflection < 1e-3, res.per_trace
    assert res.skipped == ["VZ"]
    assert {tid.split(".")[-1] for tid in res.per_trace} == {"P", "VX"}

    only_vz = FD2D(FD2DParameters(nt=int(0.45 / dt), dt=dt, precision="float64", record=["VZ"]))
    with pytest.raises(
        ConfigError, match=r"negligible\) at every receiver for every recorded channel \(VZ\)"
    ):
        pml_reflection(only_vz, model, ev, recs)


# ----------------------------------------------------------------------------- Taylor


def test_taylor_test_on_a_free_surface_keeps_its_digits() -> None:
    """P and VX are exactly zero on a free surface: noise of amplitude 1 added to them
    (independent of the model) made J huge for weak data, and the central differences
    lost their digits (best error 2e-5, no convergence order)."""
    model = _smooth_model()
    top = model.grid.extent[3]
    ev = _event(123.4, top - 60.0, amplitude=0.1)
    recs = [Receiver(station=f"S{k}", x=x, z=top) for k, x in enumerate((50.0, 200.3, 300.0))]
    dt = 0.6 * max_stable_dt(float(model["vp"].max()), 10.0, 10.0, 8)
    params = FD2DParameters(
        nt=120, dt=dt, precision="float64", pml_width=8, free_surface=True,
        pml_sides=["left", "right", "bottom"],
    )  # fmt: skip
    res = taylor_test(FD2D(params), model, ev, recs)
    assert res.best_relative_error < 1e-8, res.relative_errors
    orders = res.convergence_orders
    assert len(orders) >= 2 and all(abs(o - 2.0) < 0.05 for o in orders), orders


def _near_cfl(materials: str = "acoustic", parametrization: str = "velocity"):
    model = _smooth_model(dz=7.0)
    g = model.grid
    vmax = float(model["vp"].max())
    if materials == "elastic":
        vs = model["vp"] / 1.8
        mu = model["rho"] * vs**2
        kappa = model["rho"] * model["vp"] ** 2 - mu
        model = Model(g, {"kappa": kappa, "mu": mu, "rho": model["rho"]})
    dt = 0.999 * max_stable_dt(vmax, g.dx, g.dz, 8)
    params = FD2DParameters(
        materials=materials, parametrization=parametrization, nt=120, dt=dt,
        precision="float64", pml_width=8,
    )  # fmt: skip
    recs = [Receiver(station="A", x=300.0, z=200.0)]
    return FD2D(params), model, _event(123.4, 101.1), recs


def test_taylor_test_default_perturbation_is_relative_to_each_cell() -> None:
    """Air (rho 1.2) over water (1000): the default perturbation, scaled by the mean of
    each parameter, changed the air's density by up to 30% at relative_size 0.01 (refused
    as unstable) and by 6% at the relative_size the refusal named, where the misfit's
    curvature left the default steps at 5.5e-6, failing a correct gradient."""
    g = Grid(50, 60, 10.0, 8.0)
    air = np.arange(g.nz)[None, :] > 40
    one = np.ones(g.shape)
    model = Model(
        g, {"vp": np.where(air, 340.0, 1500.0) * one, "rho": np.where(air, 1.2, 1000.0) * one}
    )
    ev = Event(
        name="e",
        sources=[PointSource(x=250.3, z=200.7, stf=SourceTimeFunction(kind="ricker", f0=8.0))],
    )
    recs = [Receiver(station=f"A{k}", x=20.5 + 75.0 * k, z=330.2) for k in range(7)]
    recs.append(Receiver(station="SURF", x=222.2, z=472.0))
    params = FD2DParameters(
        nt=400, dt=1e-3, precision="float64", order=4, free_surface=True,
        pml_sides=["bottom"],
    )  # fmt: skip
    res = taylor_test(FD2D(params), model, ev, recs)
    assert res.best_relative_error < 1e-8, res.relative_errors
    orders = res.convergence_orders
    assert len(orders) >= 2 and all(abs(o - 2.0) < 0.1 for o in orders), orders


def test_taylor_test_refuses_perturbed_models_past_the_cfl_limit() -> None:
    """At 99.9% of the CFL limit the model m - h dm with h = 1 (1% perturbation) is
    unstable: the test died with a StabilityError about a v_max the user never had.
    It now says so before any simulation, and the relative_size it names works."""
    solver, model, ev, recs = _near_cfl()
    with pytest.raises(ConfigError) as info:
        taylor_test(solver, model, ev, recs)
    msg = str(info.value)
    assert "h = 1 x relative_size = 0.01" in msg and "reaches v_max = 2411.2 m/s" in msg, msg
    size = float(re.search(r"use relative_size <= ([0-9.e+-]+) or a smaller dt", msg).group(1))
    assert 0.001 < size < 0.005, msg
    res = taylor_test(solver, model, ev, recs, relative_size=size)
    assert res.best_relative_error < 1e-8, res.relative_errors

    # a perturbation of the caller's: the largest stable step is named instead
    g = model.grid
    dm = {"vp": np.full(g.shape, 5.0), "rho": np.zeros(g.shape)}
    with pytest.raises(ConfigError, match=r"use steps h <= 0\.\d+ .* or a smaller dt"):
        taylor_test(solver, model, ev, recs, perturbation=dm)

    # at the limit itself, no perturbation is stable
    at_limit = FD2D(
        FD2DParameters(
            nt=120, dt=max_stable_dt(float(model["vp"].max()), g.dx, g.dz, 8),
            precision="float64", pml_width=8,
        )
    )  # fmt: skip
    with pytest.raises(ConfigError, match="the model itself is at the stability limit"):
        taylor_test(at_limit, model, ev, recs)


def test_taylor_cfl_check_uses_the_solvers_wave_speed_elastic_bulk() -> None:
    """An elastic (kappa, mu, rho) model: the check uses the solver's own wave speed
    (vp = sqrt((kappa + mu) / rho)), not a model parameter named vp."""
    solver, model, ev, recs = _near_cfl("elastic", "bulk")
    with pytest.raises(ConfigError, match=r"reaches v_max = .* use relative_size <= 0\.00"):
        taylor_test(solver, model, ev, recs)


# ----------------------------------------------------------------------------- analytic


def _analytic_setup(parametrization: str):
    g = Grid(61, 61, DX, DX, -30 * DX, -30 * DX)
    xs, zs = 0.37 * DX, -0.21 * DX
    dt = 0.5 * max_stable_dt(2100.0, DX, DX, 8)
    params = FD2DParameters(nt=int(0.45 / dt), dt=dt, parametrization=parametrization)
    return FD2D(params), g, _event(xs, zs, f0=F0), ring(5, 150.0, (xs, zs), start_angle=10.0)


@pytest.mark.parametrize("parametrization", ["velocity", "lame", "bulk"])
def test_analytic_reference_uses_the_values_the_simulation_uses(parametrization: str) -> None:
    """With kappa and rho only, compare_with_analytic failed ("model has no parameter
    'vp'"); with vp, rho and kappa the reference used vp while the simulation used
    kappa (lame, bulk): 46% error for a correct solver."""
    solver, g, ev, recs = _analytic_setup(parametrization)
    rho = np.full(g.shape, RHO)
    vp = np.full(g.shape, C)
    kappa = np.full(g.shape, RHO * 2100.0**2)  # 2100 m/s
    if parametrization == "velocity":
        # vp is used, kappa ignored
        res = compare_with_analytic(
            solver, Model(g, {"vp": vp, "rho": rho, "kappa": kappa}), ev, recs
        )
        assert res.max_error < 0.01, res.errors
        return
    res = compare_with_analytic(solver, Model(g, {"kappa": kappa, "rho": rho}), ev, recs)
    assert res.max_error < 0.01, res.errors
    both = Model(g, {"vp": vp, "rho": rho, "kappa": kappa})  # kappa is used, vp ignored
    res = compare_with_analytic(solver, both, ev, recs)
    assert res.max_error < 0.01, res.errors


def test_analytic_comparison_refuses_an_elastic_medium() -> None:
    solver, g, ev, recs = _analytic_setup("velocity")
    elastic = FD2D(FD2DParameters(materials="elastic", nt=100, dt=solver.params.dt))
    model = Model(
        g,
        {"vp": np.full(g.shape, C), "vs": np.full(g.shape, 1000.0), "rho": np.full(g.shape, RHO)},
    )
    with pytest.raises(ConfigError, match="compare_elastic_with_analytic"):
        compare_with_analytic(elastic, model, ev, recs)


def test_analytic_comparison_refuses_an_elastic_solver_on_a_fluid() -> None:
    """An elastic solver on a fluid (vs = 0) was admitted and compared with the acoustic
    exact solution of a volume-rate source: its explosion is a moment (kappa times
    that), so every trace read 100% (found by an acceptance sweep). An acoustic model
    that carries a zero vs besides is still compared."""
    solver, g, ev, recs = _analytic_setup("velocity")
    fluid = {"vp": np.full(g.shape, C), "vs": np.zeros(g.shape), "rho": np.full(g.shape, RHO)}
    elastic = FD2D(FD2DParameters(materials="elastic", nt=100, dt=solver.params.dt))
    with pytest.raises(ConfigError, match="this solver is elastic"):
        compare_with_analytic(elastic, Model(g, fluid), ev, recs)
    res = compare_with_analytic(solver, Model(g, fluid), ev, recs)
    assert res.max_error < 0.01, res.errors


def test_analytic_comparison_names_the_channels_it_compares() -> None:
    """With only UX recorded it said "the exact solution is zero at every receiver for
    the recorded channels (none of P, VX, VZ)": UX is simply never compared."""
    solver, g, ev, recs = _analytic_setup("velocity")
    ux = FD2D(FD2DParameters(nt=solver.params.nt, dt=solver.params.dt, record=["UX"]))
    model = Model(g, {"vp": np.full(g.shape, C), "rho": np.full(g.shape, RHO)})
    with pytest.raises(ConfigError, match=r"compares the channels P, VX and VZ, .* records UX"):
        compare_with_analytic(ux, model, ev, recs)


# ----------------------------------------------------------------------------- arguments


def test_pml_reflection_refuses_a_solver_without_absorbing_layers() -> None:
    """With no absorbing side nothing was extended: the run was compared with itself
    and reported a reflection of 0 for boundaries that reflect everything."""
    g = Grid(40, 40, 10.0, 10.0)
    model = Model(g, {"vp": np.full(g.shape, C), "rho": np.full(g.shape, RHO)})
    solver = FD2D(FD2DParameters(nt=100, dt=1e-3, pml_sides=[]))
    with pytest.raises(ConfigError, match="no absorbing layer"):
        pml_reflection(
            solver, model, _event(200.0, 200.0), [Receiver(station="A", x=100.0, z=100.0)]
        )


def _taylor_setup():
    model = _smooth_model()
    dt = 0.5 * max_stable_dt(2400.0, 10.0, 10.0, 8)
    solver = FD2D(FD2DParameters(nt=120, dt=dt, precision="float64", pml_width=8))
    return solver, model, _event(123.4, 101.1), [Receiver(station="A", x=300.0, z=200.0)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"relative_size": 0.0}, "relative_size must be a number > 0"),
        ({"relative_size": float("nan")}, "relative_size must be a number > 0"),
        ({"hs": (1.0, 0.0)}, "hs must be one or more step lengths > 0"),
        ({"hs": ()}, "hs must be one or more step lengths > 0"),
        ({"perturbation": {"vs": np.ones((40, 36))}}, "has vs, which the solver has no kernel"),
        ({"perturbation": {"vp": np.ones((3, 3))}}, r"perturbation of vp has shape \(3, 3\)"),
        ({"perturbation": {"vp": np.full((40, 36), np.nan)}}, "vp is not finite"),
        ({"perturbation": {"vp": np.ones((40, 36)) * 1j}}, "must hold real numbers"),
    ],
)
def test_taylor_test_refuses_arguments_it_cannot_use(kwargs: dict, match: str) -> None:
    """These gave a vacuous pass (relative_size 0), a ZeroDivisionError (h = 0), a bare
    KeyError or a message blaming the model (a NaN perturbation)."""
    solver, model, ev, recs = _taylor_setup()
    with pytest.raises(ConfigError, match=match):
        taylor_test(solver, model, ev, recs, **kwargs)


def test_taylor_test_perturbs_only_the_parameters_given() -> None:
    solver, model, ev, recs = _taylor_setup()
    dm = {"vp": 20.0 * np.ones(model.grid.shape)}
    res = taylor_test(solver, model, ev, recs, perturbation=dm, hs=(0.01, 0.001))
    assert abs(res.directional) > 0
    assert res.best_relative_error < 1e-7, res.relative_errors


def test_taylor_test_refuses_to_judge_a_misfit_that_does_not_change() -> None:
    """A zero perturbation: <g, dm> = 0 and every difference 0 read as a perfect pass."""
    solver, model, ev, recs = _taylor_setup()
    dm = {"vp": np.zeros(model.grid.shape)}
    with pytest.raises(ConfigError, match="the misfit does not change along the perturbation"):
        taylor_test(solver, model, ev, recs, perturbation=dm, hs=(1.0,))


def test_taylor_test_with_a_float32_solver_warns(caplog) -> None:
    """In float32 the central differences are round-off at small h (26% at h = 1e-3 on
    a newcomer's setup): the result looked like a wrong gradient, with no warning."""
    model = _smooth_model()
    g = model.grid
    ev = _event(g.x[10], g.z[18])
    recs = ring(6, 80.0, (float(g.x[20]), float(g.z[18])))
    solver = FD2D(FD2DParameters(nt=150, dt=2e-3, pml_width=8))  # float32, the default
    with caplog.at_level("WARNING", logger="seisgrad"):
        taylor_test(solver, model, ev, recs, hs=(1.0, 0.1))
    assert "taylor_test with a float32 solver" in caplog.text
    caplog.clear()
    solver = FD2D(FD2DParameters(nt=150, dt=2e-3, pml_width=8, precision="float64"))
    with caplog.at_level("WARNING", logger="seisgrad"):
        taylor_test(solver, model, ev, recs, hs=(1.0, 0.1))
    assert "float32" not in caplog.text


def test_taylor_test_shows_a_setup_warning_once(caplog) -> None:
    """The perturbed models' simulations repeated the under-sampling warning with their
    own slowest speed: nine lines for one problem with the default steps."""
    model = _smooth_model()
    g = model.grid
    ev = _event(g.x[10], g.z[18], f0=40.0)  # about 2 points per wavelength
    recs = ring(6, 80.0, (float(g.x[20]), float(g.z[18])))
    solver = FD2D(FD2DParameters(nt=150, dt=1e-3, pml_width=8, precision="float64"))
    with caplog.at_level("WARNING", logger="seisgrad"):
        taylor_test(solver, model, ev, recs, hs=(1.0, 0.1))
    lines = [r.getMessage() for r in caplog.records if "under-sampled" in r.getMessage()]
    assert len(lines) == 1, lines
    assert not logging.getLogger("seisgrad").filters  # the filter is removed again
