"""The elastic analytic checks check what they claim (:mod:`seisgrad.solver.fd2d.elastic_verify`).

* The exact displacement keeps its zero-frequency part (a Gaussian wavelet: a force's
  slow tail, a moment source's static offset).
* ``compare_elastic_with_analytic`` refuses a solver that does not record the compared
  channels and a comparison without any window, instead of reporting no error for
  nothing compared; it reads a model in any parametrization.
* The comparison windows, and those of ``lamb_test``, follow the actual timing of the
  source time function, also for ``array`` samples (whose ``t0`` and ``f0`` are unused).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from seisgrad.config import from_mapping
from seisgrad.errors import ConfigError
from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction
from seisgrad.solver.fd2d import FD2D
from seisgrad.solver.fd2d.common import max_stable_dt
from seisgrad.solver.fd2d.elastic import lame_from
from seisgrad.solver.fd2d.elastic_verify import (
    compare_elastic_with_analytic,
    elastic_greens_function,
    lamb_test,
)

VP, VS, RHO, H = 2000.0, 1000.0, 2000.0, 5.0
#: a Ricker at 8 points per S wavelength at its highest frequency (2.8 f0)
F0 = VS / (8 * H * 2.8)
XS, ZS = 200.0 + 0.3 * H, 200.0 - 0.2 * H  # off the grid
RADIUS = 120.0
MOMENT = {"kind": "moment_tensor", "mxx": 1e6, "mzz": -4e5, "mxz": 7e5}
FORCE = {"kind": "force", "fx": 6e5, "fz": -8e5}


def _solver(nt: int, dt: float, **changes) -> FD2D:
    base = {
        "materials": "elastic", "nt": nt, "dt": dt, "order": 8, "pml_width": 15,
        "precision": "float64", "record": ["VX", "VZ"],
    }  # fmt: skip
    base.update(changes)
    if base.get("free_surface"):
        base["pml_sides"] = ["left", "right", "bottom"]
    return FD2D(from_mapping(FD2D.Parameters, base))


def _model(form: str = "velocity", nx: int = 81, nz: int = 81) -> Model:
    """Homogeneous model (``nx`` x ``nz`` cells of 5 m) in the parametrization ``form``."""
    g = Grid(nx, nz, H, H)
    one = np.ones(g.shape)
    vel = {"vp": VP * one, "vs": VS * one, "rho": RHO * one}
    if form == "velocity":
        return Model(g, vel)
    lm = lame_from(vel, ("vp", "vs", "rho"))
    if form == "lame":
        return Model(g, {"lambda": lm["lambda"], "mu": lm["mu"], "rho": lm["rho"]})
    return Model(g, {"kappa": lm["lambda"] + lm["mu"], "mu": lm["mu"], "rho": lm["rho"]})


def _ring(angles: tuple[float, ...] = (20.0, 100.0, 200.0, 290.0)) -> list[Receiver]:
    return [
        Receiver(
            station=f"A{k}",
            x=XS + RADIUS * math.cos(math.radians(a)),
            z=ZS + RADIUS * math.sin(math.radians(a)),
        )
        for k, a in enumerate(angles)
    ]


def _event(stf: SourceTimeFunction, kind: dict | None = None) -> Event:
    return Event(name="g", sources=[PointSource(x=XS, z=ZS, stf=stf, **(kind or FORCE))])


def _dt() -> float:
    return 0.5 * max_stable_dt(VP, H, H, 8)


def _nt(dt: float, centre: float) -> int:
    """Steps to the end of the S window at :data:`RADIUS`."""
    return int((RADIUS / VS + centre + 2.0 / F0) / dt) + 1


# ----------------------------------------------------------------------------- fix 1


@pytest.mark.parametrize("kind", [FORCE, MOMENT], ids=["force", "moment"])
def test_displacement_reference_is_the_time_integral_of_the_velocity(kind: dict) -> None:
    """A Gaussian has a non-zero mean: the displacement of a force has a slow tail, the
    one of a moment source a static offset. Dropping the zero-frequency term made the
    exact displacement 13% (force) and 88% (moment) off its own velocity's integral."""
    dt, nt = 2e-4, 2500
    stf = SourceTimeFunction(kind="gaussian", f0=12.0).sample(nt, dt)
    src = PointSource(x=0.0, z=0.0, **kind)
    args = (150.0, 60.0, 1800.0, 1000.0, 2500.0, stf, dt, src)
    vel = elastic_greens_function(*args, "V", pad=64)
    disp = elastic_greens_function(*args, "U")
    for v, u in zip(vel, disp):
        integral = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1])) * dt])
        assert np.abs(u).max() > 0
        assert np.linalg.norm(u - integral) < 2e-3 * np.linalg.norm(integral)


def test_displacement_comparison_with_a_gaussian_moment_rate() -> None:
    """The solver's UX/UZ agree with the exact displacement (was reported 125% off)."""
    dt = _dt()
    stf = SourceTimeFunction(kind="gaussian", f0=F0)
    solver = _solver(_nt(dt, stf.delay), dt, record=["UX", "UZ"])
    res = compare_elastic_with_analytic(
        solver, _model(), _event(stf, MOMENT), _ring(), quantity="U"
    )
    assert len(res.p_errors) >= 6 and len(res.s_errors) >= 6
    assert res.max_error < 0.01, (res.p_errors, res.s_errors)


# ----------------------------------------------------------------------------- fix 2


@pytest.mark.parametrize(
    ("record", "quantity", "hint"),
    [
        (["VX", "VZ"], "U", "quantity='V'"),
        (["P"], "V", "records P"),
        (["UX", "UZ"], "V", "quantity='U'"),
    ],
)
def test_comparison_refuses_a_solver_without_the_compared_channels(
    record: list[str], quantity: str, hint: str
) -> None:
    """Nothing to compare was reported as a maximum error of 0."""
    dt = _dt()
    solver = _solver(40, dt, record=record)
    needed = ("UX", "UZ") if quantity == "U" else ("VX", "VZ")
    with pytest.raises(ConfigError, match="records") as err:
        compare_elastic_with_analytic(
            solver, _model(), _event(SourceTimeFunction(f0=F0)), _ring(), quantity=quantity
        )
    msg = str(err.value)
    assert all(c in msg for c in needed) and ", ".join(record) in msg and hint in msg


@pytest.mark.parametrize(("form", "parametrization"), [("lame", "lame"), ("bulk", "velocity")])
def test_comparison_reads_the_model_in_any_parametrization(
    form: str, parametrization: str
) -> None:
    """A model of lambda, mu, rho (or kappa, mu, rho) failed with "model has no
    parameter 'vp'"; the speeds the simulation derives from it are used."""
    dt = _dt()
    stf = SourceTimeFunction(f0=F0)
    solver = _solver(_nt(dt, stf.delay), dt, parametrization=parametrization)
    res = compare_elastic_with_analytic(solver, _model(form), _event(stf), _ring())
    assert len(res.p_errors) >= 6 and len(res.s_errors) >= 6
    assert res.max_error < 0.01, (res.p_errors, res.s_errors)


# ----------------------------------------------------------------------------- fix 3


def test_array_wavelet_windows_follow_its_samples() -> None:
    """A Ricker sampled into an ``array`` with t0 = 0.6 s: the windows were placed at
    the unused default ``t0`` (1.2 / 10 Hz), before the waves, so nothing was compared
    and the errors were reported as 0."""
    dt = _dt()
    t0 = 0.6
    nt = _nt(dt, t0)
    values = SourceTimeFunction(f0=F0, t0=t0).sample(nt, dt)
    stf = SourceTimeFunction(kind="array", values=values)
    res = compare_elastic_with_analytic(_solver(nt, dt), _model(), _event(stf), _ring())
    compared = set(res.synthetics) - set(res.skipped)
    assert len(compared) == 8
    assert set(res.p_errors) == set(res.s_errors) == compared
    assert res.max_error < 0.01, (res.p_errors, res.s_errors)


def test_comparison_without_any_window_raises() -> None:
    """A record that ends before the arrivals compares nothing: refused, not reported
    as no error."""
    dt = _dt()
    stf = SourceTimeFunction(f0=F0)
    nt = 20  # ends long before the P window opens at any receiver
    with pytest.raises(ConfigError, match="no P arrival was compared.*after the end"):
        compare_elastic_with_analytic(_solver(nt, dt), _model(), _event(stf), _ring())


@pytest.mark.parametrize("form", ["velocity", "lame"])
def test_lamb_test_with_an_array_wavelet(form: str) -> None:
    """lamb_test placed its window at the unused ``t0`` of an ``array`` (1.2 / 10 Hz
    instead of 0.35 s) and measured the wrong arrival (and read only ``vp``, ``vs``)."""
    vp, vs, f0, h = 1732.0, 1000.0, 10.0, 5.0
    g = Grid(161, 41, h, h)
    one = np.ones(g.shape)
    vel = {"vp": vp * one, "vs": vs * one, "rho": RHO * one}
    if form == "lame":
        lm = lame_from(vel, ("vp", "vs", "rho"))
        vel = {"lambda": lm["lambda"], "mu": lm["mu"], "rho": lm["rho"]}
    model = Model(g, vel)
    dt = 0.3 * h / vp
    top = float(g.z[-1])
    t0 = 0.35
    nt = int((320.0 / (0.9194 * vs) + t0 + 0.2) / dt)
    values = SourceTimeFunction(f0=f0, t0=t0).sample(nt, dt)
    src = PointSource(x=400.0, z=top, kind="force", fz=-1e6,
                      stf=SourceTimeFunction(kind="array", values=values))  # fmt: skip
    recs = [Receiver(station=f"S{k}", x=400.0 + d, z=top) for k, d in
            enumerate((200.0, 320.0, -200.0, -320.0))]  # fmt: skip
    solver = _solver(nt, dt, free_surface=True, precision="float32", pml_width=20)
    res = lamb_test(solver, model, Event(name="lamb", sources=[src]), recs)
    assert res.velocity_error < 0.02, res.measured_velocity
    assert max(res.arrival_errors) < 0.03, res.arrival_errors
    assert all(res.retrograde)


def test_comparison_refuses_a_free_surface() -> None:
    """The full-space solution has no free surface: errors of 264% were reported with
    no hint why."""
    solver = _solver(40, _dt(), free_surface=True)
    with pytest.raises(ConfigError, match="full-space solution.*lamb_test"):
        compare_elastic_with_analytic(solver, _model(), _event(SourceTimeFunction(f0=F0)), _ring())


# ------------------------------------------------------------- what the comparisons leave out


def test_comparison_leaves_out_the_near_field_and_reflected_windows() -> None:
    """Receivers 1-2 cells from the source (15% and 3.9%: its near field) and windows a
    wave reflected by an edge without absorbing layer reaches (37% with pml_sides: [])
    were compared; they are left out and listed in ``skipped``."""
    dt = _dt()
    stf = SourceTimeFunction(f0=F0)
    nt = _nt(dt, stf.delay)
    near = [Receiver(station="N", x=XS + 1.2 * H, z=ZS + 1.6 * H)]  # 2 cells
    res = compare_elastic_with_analytic(_solver(nt, dt), _model(), _event(stf), _ring() + near)
    assert sorted(res.skipped) == ["XX.N..VX", "XX.N..VZ"]
    assert "2 cells from the source" in res.skipped["XX.N..VX"]
    assert res.max_error < 0.02
    # no absorbing layer on the right, far enough: nothing reflected in time; none at
    # all in this small model: every window is reached
    wide = _model(nx=161)
    res = compare_elastic_with_analytic(
        _solver(nt, dt, pml_sides=["left", "bottom", "top"]), wide, _event(stf), _ring()
    )
    assert not res.skipped and res.max_error < 0.02, (res.p_errors, res.s_errors)
    with pytest.raises(ConfigError, match="8 reached by a reflection from an edge"):
        compare_elastic_with_analytic(
            _solver(nt, dt, pml_sides=[]), _model(), _event(stf), _ring()
        )


def test_comparison_refuses_sources_it_cannot_judge() -> None:
    """A source of zero amplitude was blamed on the receivers ("negligible by
    symmetry"), a wavelet cut at t = 0 gave 23-67%, a bad window a bare exception."""
    dt = _dt()
    stf = SourceTimeFunction(f0=F0)
    nt = _nt(dt, stf.delay)
    solver, model = _solver(nt, dt), _model()
    zero = {"kind": "force", "fx": 0.0, "fz": 0.0}
    with pytest.raises(ConfigError, match="zero amplitude"):
        compare_elastic_with_analytic(solver, model, _event(stf, zero), _ring())
    cut = SourceTimeFunction(f0=F0, t0=0.5 / F0)
    with pytest.raises(ConfigError, match="at rest before t = 0"):
        compare_elastic_with_analytic(solver, model, _event(cut), _ring())
    for bad in (float("nan"), 0.0, -1.0):
        with pytest.raises(ConfigError, match="window_periods must be a number > 0"):
            compare_elastic_with_analytic(solver, model, _event(stf), _ring(), window_periods=bad)


def test_an_explosion_has_no_s_errors() -> None:
    """An explosion radiates no S wave: its "S errors" measured the P wave's 2D tail."""
    dt = _dt()
    stf = SourceTimeFunction(f0=F0)
    boom = {"kind": "explosion", "amplitude": 1e6}
    res = compare_elastic_with_analytic(
        _solver(_nt(dt, stf.delay), dt), _model(), _event(stf, boom), _ring()
    )
    assert res.p_errors and not res.s_errors
    assert res.max_p_error < 0.02


def test_lamb_test_refuses_a_deep_source() -> None:
    """Half a Rayleigh wavelength deep, body waves dominate the surface records: an
    explosion there measured a "Rayleigh" velocity of 2.4 vs (reported, not refused)."""
    vp, vs, h = 1732.0, 1000.0, 5.0
    g = Grid(161, 41, h, h)
    one = np.ones(g.shape)
    model = Model(g, {"vp": vp * one, "vs": vs * one, "rho": RHO * one})
    solver = _solver(400, 0.3 * h / vp, free_surface=True)
    top = float(g.z[-1])
    recs = [Receiver(station=f"S{k}", x=400.0 + d, z=top) for k, d in enumerate((200.0, 320.0))]
    deep = PointSource(x=400.0, z=top - 60.0, kind="explosion", stf=SourceTimeFunction(f0=10.0))
    with pytest.raises(ConfigError, match="0.65 Rayleigh wavelengths"):
        lamb_test(solver, model, Event(name="l", sources=[deep]), recs)


def test_lamb_test_leaves_out_receivers_near_the_source() -> None:
    """At one Rayleigh wavelength the body waves overlap the Rayleigh window (arrival
    errors of 3.5%, and the move-out velocity 0.9% high: found by an acceptance sweep);
    such receivers are left out and listed, and a layout of only such receivers is
    refused."""
    vp, vs, h, f0 = 1732.0, 1000.0, 5.0, 10.0
    g = Grid(201, 41, h, h)
    one = np.ones(g.shape)
    model = Model(g, {"vp": vp * one, "vs": vs * one, "rho": RHO * one})
    top = float(g.z[-1])
    wavelength = 0.9194 * vs / f0
    dt = 0.3 * h / vp
    solver = _solver(int((5 * wavelength / (0.9194 * vs) + 0.3) / dt), dt, free_surface=True)
    src = PointSource(x=300.0, z=top, kind="force", fz=-1e6, stf=SourceTimeFunction(f0=f0))
    ev = Event(name="l", sources=[src])
    offsets = (1.0, 3.0, 4.0, 5.0)
    recs = [
        Receiver(station=f"S{k}", x=300.0 + o * wavelength, z=top) for k, o in enumerate(offsets)
    ]
    res = lamb_test(solver, model, ev, recs)
    assert list(res.skipped) == ["S0"] and "1 Rayleigh wavelengths" in res.skipped["S0"]
    assert len(res.distances) == 3 and max(res.arrival_errors) < 0.01
    assert res.velocity_error < 0.01 and all(res.retrograde)
    with pytest.raises(ConfigError, match="every receiver is within 2.5 Rayleigh"):
        lamb_test(solver, model, ev, recs[:1])
