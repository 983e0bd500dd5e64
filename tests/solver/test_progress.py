"""Chunked time loops (progress bars, illumination) give the same results."""

from __future__ import annotations

import numpy as np
import pytest

from seisgrad.config import from_mapping
from seisgrad.model import Grid, homogeneous
from seisgrad.solver.acquisition import Event, PointSource, Receiver, SourceTimeFunction
from seisgrad.solver.fd2d import FD2D


@pytest.mark.parametrize("materials", ["acoustic", "elastic"])
def test_chunked_forward_is_identical_and_reports_progress(materials):
    grid = Grid.from_extent(-100.0, 100.0, -100.0, 100.0, 5.0)
    model = homogeneous(grid, vp=1500.0, vs=900.0, rho=2000.0)
    params = from_mapping(
        FD2D.Parameters,
        {"materials": materials, "nt": 150, "dt": 5e-4, "order": 4, "pml_width": 6},
    )
    solver = FD2D(params)
    kind = "pressure" if materials == "acoustic" else "explosion"
    event = Event("e", [PointSource(x=-30.0, z=10.0, kind=kind, stf=SourceTimeFunction(f0=25.0))])
    receivers = [Receiver("R0", 40.0, -20.0), Receiver("R1", 0.0, 50.0)]
    ref = solver.propagator(model, event, receivers).forward()
    steps: list[int] = []
    prop = solver.propagator(model, event, receivers)
    chunked = prop.forward(progress=steps.append)
    for ch in ref:
        np.testing.assert_array_equal(chunked[ch], ref[ch])
    # the steps run (a few more than nt with the time-dispersion correction)
    assert prop.nt >= 150
    assert steps == sorted(steps) and steps[-1] == prop.nt and len(steps) > 10
    prop = solver.propagator(model, event, receivers)
    lit = prop.forward(illumination_stride=3)
    for ch in ref:
        np.testing.assert_array_equal(lit[ch], ref[ch])
    energy = prop.illumination
    assert energy.shape == grid.shape and np.all(energy >= 0) and np.all(np.isfinite(energy))
    # brightest near the source, darkest far away
    i, j = np.unravel_index(np.argmax(energy), energy.shape)
    assert abs(grid.x[i] + 30.0) <= 15.0 and abs(grid.z[j] - 10.0) <= 15.0
    ill = solver.illumination(model, event, receivers, stride=3)
    np.testing.assert_array_equal(ill["illumination"], energy)
    # the adjoint reports its progress too
    adj = {ch: np.ones_like(v) for ch, v in ref.items()}
    seen: list[int] = []
    solver.propagator(model, event, receivers).gradient(adj, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == prop.nt


@pytest.mark.parametrize("stride", [7, 64])
def test_illumination_samples_every_stride_steps_and_the_watch_changes_nothing(
    stride, monkeypatch
):
    """The growth watch runs the loop in chunks of about nt/16 steps: with a stride
    above that, the illumination was sampled at the watch's chunks instead (a factor
    3.7e7 in its total); a forward run in chunks equals one call."""
    from seisgrad.solver.fd2d import propagator

    grid = Grid.from_extent(-100.0, 100.0, -100.0, 100.0, 5.0)
    model = homogeneous(grid, vp=1500.0, rho=2000.0)
    params = from_mapping(FD2D.Parameters, {"nt": 400, "dt": 5e-4, "pml_width": 6})
    solver = FD2D(params)
    event = Event("e", [PointSource(x=-30.0, z=10.0, stf=SourceTimeFunction(f0=25.0))])
    receivers = [Receiver("R0", 40.0, -20.0)]
    prop = solver.propagator(model, event, receivers)
    assert prop.sources_end() < prop.nt  # the watch is on
    state, raw = prop.new_state(), prop.new_raw()
    expected = np.zeros(grid.shape)
    for n in range(0, prop.nt, stride):
        prop.forward_steps(state, n, min(prop.nt, n + stride), raw, None)
        for key in ("vx", "vz"):
            v = np.asarray(state[key][prop.layout.model_slice], dtype=np.float64)
            expected += v * v
    ill = solver.illumination(model, event, receivers, stride=stride)["illumination"]
    np.testing.assert_allclose(ill, expected * prop.dt * stride, rtol=1e-12, atol=0.0)
    watched = solver.propagator(model, event, receivers).forward()
    monkeypatch.setattr(propagator, "GROWTH_CHECKS", 1)  # one call of the loop
    single = solver.propagator(model, event, receivers).forward()
    for ch in single:
        np.testing.assert_array_equal(watched[ch], single[ch])
