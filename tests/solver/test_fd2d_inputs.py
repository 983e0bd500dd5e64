"""Bad or unusual input to the ``fd2d`` solver API: clear seisgrad errors and warnings
(found by adversarial testing of the public API)."""

from __future__ import annotations

import numpy as np
import pytest

from seisgrad.errors import ConfigError, DataError
from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, PointSource, Receiver, line, ring
from seisgrad.solver.fd2d import FD2D, FD2DParameters


def _setup():
    g = Grid(30, 30, 10.0, 10.0)
    model = Model(g, {"vp": np.full(g.shape, 2000.0), "rho": np.full(g.shape, 1000.0)})
    ev = Event(name="e", sources=[PointSource(x=150.0, z=150.0, kind="pressure")])
    recs = [Receiver(station=f"R{k}", x=50.0 + 30.0 * k, z=80.0) for k in range(3)]
    return model, ev, recs


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ring(3.5, 10.0), "ring: n must be a whole number"),
        (lambda: ring("3", 10.0), "ring: n must be a whole number"),
        (lambda: ring(3, "far"), "ring: radius must be a number"),
        (lambda: ring(3, 10.0, 5.0), r"ring: center must be an \(x, z\) pair"),
        (lambda: line(2.5, (0, 0), (1, 1)), "line: n must be a whole number"),
        (lambda: line(3, (0,), (1, 1)), r"line: start must be an \(x, z\) pair"),
        (lambda: line(3, (0, 0), "ab"), r"line: end must be an \(x, z\) pair"),
        (lambda: line(0, (0, 0), (1, 1)), "line: need at least one receiver"),
    ],
)
def test_receiver_layouts_refuse_bad_arguments(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


@pytest.mark.parametrize("kw", [{"station": ""}, {"station": "A.B"}, {"network": "X Y"}])
def test_receiver_codes_must_make_valid_trace_ids(kw):
    with pytest.raises(ConfigError, match="must be non-empty, without dots or blanks"):
        Receiver(**{"station": "A", "x": 0.0, "z": 0.0, **kw})


def test_complex_model_values_are_refused():
    g = Grid(4, 3, 1.0, 1.0)
    with pytest.raises(DataError, match="'vp' holds complex128 values, not numbers"):
        Model(g, {"vp": np.full(g.shape, 2000.0 + 1j)})


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("nt", -5, "nt': -5 is below the minimum 2"),
        ("materials", "foo", "'foo' is not allowed"),
        ("precision", "float16", "'float16' is not allowed"),
        ("pml_sides", ["up"], "'up' is not allowed"),
    ],
)
def test_parameters_changed_after_construction_are_checked_again(field, value, message):
    model, ev, recs = _setup()
    solver = FD2D(FD2DParameters(nt=20, dt=1e-3))
    setattr(solver.params, field, value)
    with pytest.raises(ConfigError, match=message):
        solver.forward(model, ev, recs)


@pytest.mark.parametrize(
    "source, what",
    [
        (dict(kind="moment_tensor"), "mxx = mzz = mxz = 0"),
        (dict(kind="force"), "fx = fz = 0"),
        (dict(kind="explosion", amplitude=0.0), "amplitude = 0"),
    ],
)
def test_sources_of_zero_strength_are_reported_silent(source, what):
    g = Grid(30, 30, 10.0, 10.0)
    one = np.ones(g.shape)
    model = Model(g, {"vp": 2000.0 * one, "vs": 1100.0 * one, "rho": 1000.0 * one})
    ev = Event(name="e", sources=[PointSource(x=150.0, z=150.0, **source)])
    solver = FD2D(FD2DParameters(materials="elastic", nt=20, dt=1e-3))
    warnings = solver.check(model, ev, [Receiver(station="A", x=50.0, z=50.0)])
    assert any(f"is silent: {what}" in w for w in warnings), warnings
    ev.sources[0].mxx = ev.sources[0].fx = 1.0
    ev.sources[0].amplitude = 1.0
    assert not any("silent" in w for w in solver.check(model, ev, [recs_one()]))


def recs_one() -> Receiver:
    return Receiver(station="A", x=50.0, z=50.0)


def test_adjoint_sources_read_back_from_float32_time_steps_are_accepted():
    """SAC keeps the time step as float32, MiniSEED as a sample rate: the adjoint accepts
    a delta within 1e-7 of dt (the samples are matched by index), not further off."""
    model, ev, recs = _setup()
    dt = 0.0013742936052676998  # not a round decimal
    solver = FD2D(FD2DParameters(nt=60, dt=dt, record=["P"]))
    syn = solver.forward(model, ev, recs)
    adj = syn.copy()
    for tr in adj:
        tr.stats.delta = float(np.float32(dt))  # as SAC reads it back
    kernels = solver.adjoint(model, ev, recs, adj)
    assert np.any(kernels["vp"])
    for tr in adj:
        tr.stats.delta = dt * (1 + 1e-6)
    with pytest.raises(DataError, match="has npts=60, delta="):
        solver.adjoint(model, ev, recs, adj)


def test_nonsense_sizes_and_sources_are_refused_before_any_work() -> None:
    """From a bad-input sweep: nt 1 passed check and failed after the simulations;
    huge nt, pml_width or f0 gave tracebacks (overflow, allocation); checkpoints beyond
    nt and pml_frequency above Nyquist were accepted; an
    amplitude of 1e300 ran and was reported as an instability."""
    import pytest

    from seisgrad.errors import ConfigError
    from seisgrad.model import Grid, homogeneous
    from seisgrad.solver.acquisition import Event, PointSource, SourceTimeFunction, ring
    from seisgrad.solver.fd2d import FD2D, FD2DParameters

    for kwargs, message in (
        ({"nt": 1}, "below the minimum 2"),
        ({"nt": 10**12}, "above the maximum"),
        ({"pml_width": 10**300}, "above the maximum"),
        ({"checkpoints": 101, "nt": 100}, "at most one per step"),
        ({"pml_frequency": 600.0, "dt": 1e-3}, "above the time step's Nyquist"),
    ):
        with pytest.raises(ConfigError, match=message):
            FD2DParameters(**kwargs)
    with pytest.raises(ConfigError, match="above the maximum"):
        SourceTimeFunction(f0=1e300)
    g = Grid(60, 60, 10.0, 10.0)
    model = homogeneous(g, vp=2000.0, rho=2000.0)
    solver = FD2D(FD2DParameters(nt=200, dt=1e-3, pml_width=10))
    recs = ring(4, 150.0, (295.0, 295.0))
    loud = Event("e", [PointSource(x=295.0, z=295.0, amplitude=1e300)])
    with pytest.raises(ConfigError, match="too large for float32"):
        solver.check(model, loud, recs)
    fine = Event("e", [PointSource(x=295.0, z=295.0, amplitude=1e20)])
    assert isinstance(solver.check(model, fine, recs), list)
    f64 = FD2D(FD2DParameters(nt=200, dt=1e-3, pml_width=10, precision="float64"))
    assert isinstance(
        f64.check(model, Event("e", [PointSource(x=295.0, z=295.0, amplitude=1e30)]), recs), list
    )
