"""Time-dispersion transforms (``seisgrad.solver.fd2d.dispersion``) and the solver's
``correct_time_dispersion``: exact transposes, interpolation accuracy, the leapfrog
oscillator against its exact solution, and the solver against the analytic Green's
functions at the CFL limit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seisgrad.model import Grid, Model
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction
from seisgrad.solver.fd2d import FD2D, dispersion
from seisgrad.solver.fd2d.common import max_stable_dt
from seisgrad.solver.fd2d.elastic_verify import compare_elastic_with_analytic
from seisgrad.solver.fd2d.solver import FD2DParameters
from seisgrad.solver.fd2d.verify import compare_with_analytic, taylor_test
from tests.solver.setups import (
    assert_saved_not_used,
    heterogeneous_model,
    homogeneous,
    off_grid_receivers,
    ring_around,
    small_solver,
    two_source_event,
)


@pytest.mark.parametrize("nt", [1, 2, 7, 300, 1001])
@pytest.mark.parametrize("a", [0.0, 0.5])
@pytest.mark.parametrize(("precision", "tol"), [("float64", 1e-11), ("float32", 2e-5)])
def test_inverse_transform_adjoint_is_its_transpose(
    nt: int, a: float, precision: str, tol: float
) -> None:
    rng = np.random.default_rng(nt)
    x = rng.standard_normal((3, nt))
    y = rng.standard_normal((3, nt))
    tx = dispersion.inverse_transform(x, a, precision).astype(np.float64)
    ty = dispersion.inverse_transform_adjoint(y, a, precision).astype(np.float64)
    assert tx.shape == x.shape and ty.shape == y.shape
    lhs, rhs = float(np.sum(tx * y)), float(np.sum(x * ty))
    assert abs(lhs - rhs) <= tol * max(abs(lhs), 1e-300), (lhs, rhs)


def test_transforms_keep_leading_axes() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 50))
    y = dispersion.inverse_transform(x, 0.5)
    assert y.shape == x.shape
    np.testing.assert_allclose(y[1, 2], dispersion.inverse_transform(x[1, 2], 0.5), atol=1e-14)
    assert dispersion.forward_transform(x, 0.0).shape == x.shape


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_batches_of_traces_give_the_same_bits(monkeypatch, precision: str) -> None:
    # traces are transformed in batches of bounded size: the size must not matter
    x = np.random.default_rng(1).standard_normal((45, 400))
    whole = dispersion.inverse_transform(x, 0.5, precision)
    adj = dispersion.inverse_transform_adjoint(x, 0.5, precision)
    monkeypatch.setattr(dispersion, "_BATCH_BYTES", 1)  # one trace at a time
    assert dispersion._chunk(dispersion._fft_size(400), precision) == 1
    assert np.array_equal(dispersion.inverse_transform(x, 0.5, precision), whole)
    # the transpose's dense tail product may sum in another order: round-off only
    tol = 1e-6 if precision == "float32" else 1e-14
    got = dispersion.inverse_transform_adjoint(x, 0.5, precision)
    np.testing.assert_allclose(got, adj, rtol=0, atol=tol * np.abs(adj).max())


def _with_finer_plans(monkeypatch, fn, *args):
    """``fn(*args)`` with twice the oversampling and more interpolation points."""
    dispersion._plan.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(dispersion, "OVERSAMPLING", 2 * dispersion.OVERSAMPLING)
        m.setattr(dispersion, "LAGRANGE_POINTS", 20)
        out = fn(*args)
        dispersion._plan.cache_clear()
    return out


@pytest.mark.parametrize("which", ["inverse", "forward"])
def test_interpolation_error_is_negligible(monkeypatch, which: str) -> None:
    """Band-limited noise (content at every time) against the same transform on a finer
    frequency grid with more interpolation points."""
    from scipy.signal import butter, sosfiltfilt

    # band-limited (below 25% of Nyquist, as simulated waves are: the transforms'
    # frequency integrals end where theta reaches pi, so content there depends on the grid)
    noise = np.random.default_rng(3).standard_normal((4, 700))
    x = sosfiltfilt(butter(8, 0.25, output="sos"), noise, axis=-1)
    fn = dispersion.inverse_transform if which == "inverse" else dispersion.forward_transform
    ref = _with_finer_plans(monkeypatch, fn, x, 0.5)
    got = fn(x, 0.5)
    assert np.abs(got - ref).max() < 1e-6 * np.abs(ref).max()
    # and the transform does something: it is not the identity
    assert np.abs(got - x).max() > 0.01 * np.abs(x).max()


def _pulse_pair(omega: float, f0: float = 10.0, t0: float = 0.12):
    """Two Ricker wavelets of opposite sign three periods apart: the second stops the
    oscillator the first set going, so the records end at rest (a record cut while it
    still oscillates has end effects of its own)."""
    shift = 3 * 2 * math.pi / omega

    def f(t):
        out = 0.0
        for s, sign in ((t0, 1.0), (t0 + shift, -1.0)):
            a = (math.pi * f0 * (t - s)) ** 2
            out = out + sign * (1 - 2 * a) * np.exp(-a)
        return out

    return f


def _oscillator(omega: float, dt: float, nt: int, forcing: np.ndarray, on_velocity: bool):
    """Leapfrog oscillator as the solver steps it: ``x`` at ``n dt``, ``v`` at
    ``(n + 1/2) dt``; a force ``forcing[n]`` on ``v`` at ``n dt`` or a rate
    ``forcing[n]`` on ``x`` at ``(n + 1/2) dt``."""
    x, v = np.zeros(nt), np.zeros(nt)
    xn, vh = 0.0, 0.0
    for n in range(nt):
        x[n] = xn
        vh += dt * (-(omega**2) * xn + (forcing[n] if on_velocity else 0.0))
        v[n] = vh
        xn += dt * (vh + (0.0 if on_velocity else forcing[n]))
    return x, v


def _exact(omega: float, t: np.ndarray, f, on_velocity: bool):
    """``x'' = -omega^2 x + f`` (force) or ``x' = v + g, v' = -omega^2 x`` (rate), from
    rest, by Duhamel's integral (trapezoids on a fine grid ending at each time)."""
    out_x, out_v = np.zeros(t.size), np.zeros(t.size)
    for k, tk in enumerate(t):
        tau = np.linspace(0.0, tk, 20001)
        fv = f(tau)
        s, c = np.sin(omega * (tk - tau)), np.cos(omega * (tk - tau))
        if on_velocity:
            out_x[k] = np.trapezoid(s * fv, tau) / omega
            out_v[k] = np.trapezoid(c * fv, tau)
        else:
            out_x[k] = np.trapezoid(c * fv, tau)
            out_v[k] = -omega * np.trapezoid(s * fv, tau)
    return out_x, out_v


@pytest.mark.parametrize("omega_dt", [0.3, 0.6])
@pytest.mark.parametrize("on_velocity", [True, False], ids=["force", "rate"])
def test_leapfrog_oscillator_is_exact_after_the_transforms(
    on_velocity: bool, omega_dt: float
) -> None:
    """The transforms undo the time stepping's dispersion exactly: an oscillator stepped
    at omega dt = 0.3 or 0.6 (where second order is off by 7% and 30%) matches the exact
    solution to 1e-5 with them, for the variable at whole steps and the one at half
    steps, with the source on either."""
    omega = 2 * math.pi * 14.0
    dt = omega_dt / omega
    f = _pulse_pair(omega)
    nt = int(0.6 / dt)
    t = np.arange(nt) * dt
    a_src = 0.0 if on_velocity else 0.5
    ex, ev = _exact(omega, t, f, on_velocity)
    x1, v1 = _oscillator(omega, dt, nt, dispersion.forward_transform(f(t), a_src), on_velocity)
    xc = dispersion.inverse_transform(x1, 0.0)
    vc = dispersion.inverse_transform(v1, 0.5)  # v recorded at (n + 1/2) dt, out at n dt
    scale_x, scale_v = np.abs(ex).max(), np.abs(ev).max()
    assert np.abs(xc - ex).max() < 1e-5 * scale_x
    assert np.abs(vc - ev).max() < 1e-5 * scale_v
    # without the transforms (the source sampled at its injection times)
    x0, _ = _oscillator(omega, dt, nt, f(t + a_src * dt), on_velocity)
    assert np.abs(x0 - ex).max() > 0.05 * scale_x


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="precision"):
        dispersion.inverse_transform(np.zeros(5), 0.0, "float16")
    with pytest.raises(ValueError, match="finite"):
        dispersion.forward_transform(np.zeros(5), float("nan"))


# ----------------------------------------------------------------------------- solver


def _acoustic_far(correct: bool):
    """Direct wave 3.5 dominant wavelengths out, 8 points per minimum wavelength,
    order 8, dt at 90% of the CFL limit."""
    c, rho, f0, dist = 2000.0, 1000.0, 10.0, 700.0
    dx = c / (2.8 * f0) / 8.0
    n = int(2 * dist / dx) + 30
    model = homogeneous(n, n, dx, c, rho, x0=-(n // 2) * dx, z0=-(n // 2) * dx)
    xs, zs = 0.37 * dx, -0.21 * dx
    src = PointSource(x=xs, z=zs, kind="pressure", stf=SourceTimeFunction(f0=f0))
    recs = ring_around(xs, zs, [dist] * 4, [10, 100, 200, 45])
    dt = 0.9 * max_stable_dt(c, dx, dx, 8)
    params = FD2DParameters(
        nt=int((dist / c + 0.25) / dt), dt=dt, order=8, correct_time_dispersion=correct
    )
    return FD2D(params), model, Event(name="far", sources=[src]), recs


def test_acoustic_synthetics_at_the_cfl_limit_match_the_greens_function() -> None:
    res = compare_with_analytic(*_acoustic_far(True))
    assert res.max_error < 0.005, res.errors
    raw = compare_with_analytic(*_acoustic_far(False))
    assert raw.max_error > 0.03, raw.errors  # what the correction removes


def test_elastic_synthetics_at_the_cfl_limit_match_the_greens_function() -> None:
    vp, vs, rho, f0, dist = 2000.0, 1155.0, 2000.0, 15.0, 230.0
    h = vs / (2.8 * f0) / 8.0
    size = 2 * dist + 240
    g = Grid.from_extent(0.0, size, 0.0, size, h)
    model = Model(
        g, {"vp": np.full(g.shape, vp), "vs": np.full(g.shape, vs), "rho": np.full(g.shape, rho)}
    )
    src = PointSource(
        x=size / 2 + 0.3 * h, z=size / 2 - 0.2 * h, stf=SourceTimeFunction(f0=f0),
        kind="force", fx=1e6, fz=5e5,
    )  # fmt: skip
    recs = [
        Receiver(station=f"A{k}", x=src.x + dist * math.cos(a), z=src.z + dist * math.sin(a))
        for k, a in enumerate(np.radians([10.0, 55.0, 100.0, 160.0, 215.0, 290.0]))
    ]
    dt = 0.9 * max_stable_dt(vp, h, h, 8)
    errors = {}
    for correct in (True, False):
        solver = FD2D(
            FD2DParameters(
                materials="elastic", nt=int((dist / vs + 0.2) / dt), dt=dt,
                record=["VX", "VZ"], correct_time_dispersion=correct,
            )
        )  # fmt: skip
        res = compare_elastic_with_analytic(solver, model, Event(name="f", sources=[src]), recs)
        errors[correct] = (res.max_p_error, res.max_s_error)
    assert max(errors[True]) < 0.005, errors
    assert max(errors[False]) > 0.01, errors


@pytest.mark.parametrize("record", [["P", "VZ"], ["UX", "UZ"]])
def test_gradient_through_the_correction_is_exact(record: list[str]) -> None:
    """The adjoint sources go through the transpose of the inverse transform: the
    Taylor test holds for every kind of channel."""
    model = heterogeneous_model()
    solver = small_solver(model, record=record)
    assert solver.params.correct_time_dispersion
    res = taylor_test(solver, model, two_source_event(model), off_grid_receivers(model))
    assert res.best_relative_error < 1e-6, res.relative_errors
    assert all(1.8 < o < 2.2 for o in res.convergence_orders[:2]), res.convergence_orders


def test_sources_not_quiet_at_the_start_are_reported() -> None:
    """The forward transform spreads a source over a few tens of steps; what falls
    before t = 0 is lost (a spike at t = 0 lost 15% of its low frequencies): check()
    says so, and is quiet for the usual wavelets."""
    model = heterogeneous_model()
    solver = small_solver(model)
    recs = off_grid_receivers(model)
    x, z = float(model.grid.x[12]), float(model.grid.z[10])
    spike = [1.0] + [0.0] * 30
    early = Event(
        name="e",
        sources=[PointSource(x=x, z=z, stf=SourceTimeFunction(kind="array", values=spike))],
    )
    # a spike at t = 0: one warning, for the jump (a step the grid cannot carry,
    # whatever the correction) and, with the correction, what falls before t = 0
    msgs = [w for w in solver.check(model, early, recs) if "source time function" in w]
    assert len(msgs) == 1 and "starts abruptly, at 1 of" in msgs[0], msgs
    assert "% of its amplitude would fall before t = 0" in msgs[0]
    assert not [w for w in solver.check(model, two_source_event(model), recs) if "quiet" in w]
    off = small_solver(model, correct_time_dispersion=False)
    msgs = [w for w in off.check(model, early, recs) if "source time function" in w]
    assert len(msgs) == 1 and "starts abruptly" in msgs[0] and "fall before" not in msgs[0]
    assert not [w for w in solver.check(model, two_source_event(model), recs) if "abrupt" in w]
    # a later spike starts quietly, but the correction spreads it back past t = 0
    later = SourceTimeFunction(kind="array", values=[0.0] * 3 + spike)
    late = Event(name="e", sources=[PointSource(x=x, z=z, stf=later)])
    msgs = [w for w in solver.check(model, late, recs) if "source time function" in w]
    assert len(msgs) == 1 and "not quiet at the start" in msgs[0], msgs
    assert "correct_time_dispersion: false" in msgs[0]
    # the measure itself: a default Ricker loses nothing that matters, a later spike less
    ricker = SourceTimeFunction(f0=10.0).sample(400, 1e-3)
    assert dispersion.early_source_loss(ricker) < 1e-4
    assert dispersion.early_source_loss(np.eye(1, 400, 100)[0]) < dispersion.EARLY_SOURCE_LOSS
    assert dispersion.early_source_loss(np.eye(1, 400, 0)[0]) > 0.1


def test_snapshots_of_a_run_with_another_step_count_are_not_used(
    tmp_path, monkeypatch, caplog
) -> None:
    """A saved forward wavefield records the steps run: one saved by a seisgrad that
    ran another count (before the extra steps of the correction) is refused, not used
    with snapshots taken at other steps (which gave a 90% wrong gradient)."""
    import seisgrad.solver.fd2d.propagator as propagator

    model = heterogeneous_model()
    solver = small_solver(model, checkpoints=5)
    ev, recs = two_source_event(model), off_grid_receivers(model)
    path = tmp_path / "fwd.snapshots"
    with monkeypatch.context() as m:
        m.setattr(propagator, "extra_steps", lambda nt: 0)
        syn = solver.forward(model, ev, recs, save=path)
    assert path.exists()
    assert_saved_not_used(solver, model, ev, recs, syn, path, caplog, "another simulation")
