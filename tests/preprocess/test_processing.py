"""Processing steps: exact transposes (dot products), exact non-linear adjoints (finite
differences) and agreement with ObsPy's filters."""

from __future__ import annotations

import numpy as np
import pytest
from obspy import Trace

from seisgrad.errors import ConfigError, DataError
from seisgrad.preprocess.processing import (
    Chain,
    Demean,
    Detrend,
    Filter,
    Mute,
    Normalize,
    Taper,
    TraceContext,
)
from seisgrad.preprocess.verify import check_step_vjp, dot_product_test
from tests.preprocess.helpers import make_context, random_traces

LINEAR_STEPS = [
    Demean(),
    Detrend(),
    Taper(0.1),
    Filter("bandpass", 2.0, 10.0, corners=4, zero_phase=True),
    Filter("bandpass", 2.0, 10.0, corners=4, zero_phase=False),
    Filter("lowpass", freqmax=8.0, corners=6, zero_phase=False),
    Filter("lowpass", freqmax=8.0, zero_phase=True),
    Filter("highpass", freqmin=3.0, corners=2, zero_phase=False),
    Filter("highpass", freqmin=3.0, zero_phase=True),
    Mute(early=(1 / 1500.0, 0.1), late=(1 / 700.0, 0.6), taper=0.2),
    Mute(early=(0.0, 0.5), short_dist=300.0, long_dist=700.0),
]


@pytest.mark.parametrize("step", LINEAR_STEPS, ids=repr)
def test_dot_product(step, ctx):
    for seed in range(3):
        assert dot_product_test(step, ctx, seed=seed) < 1e-13


@pytest.mark.parametrize("step", LINEAR_STEPS, ids=repr)
def test_linear_vjp_matches_finite_differences(step, ctx, rng):
    res = check_step_vjp(step, ctx, random_traces(rng, ctx))
    assert res.passed, res.summary()


@pytest.mark.parametrize("kind", Normalize.KINDS)
def test_normalize_vjp(kind, ctx, rng):
    for seed in range(3):
        res = check_step_vjp(Normalize(kind), ctx, random_traces(rng, ctx), seed=seed)
        assert res.max_error < 1e-8, res.summary()


@pytest.mark.parametrize("kind", Normalize.KINDS)
def test_normalize_values(kind, ctx, rng):
    x = random_traces(rng, ctx)
    y = Normalize(kind).forward(x, ctx)
    if kind == "trace_max":
        np.testing.assert_allclose(np.max(np.abs(y), axis=1), 1.0)
    elif kind == "trace_l2":
        np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0)
    elif kind == "event":
        assert np.linalg.norm(y) == pytest.approx(1.0)
    else:
        assert np.max(np.abs(y)) == pytest.approx(1.0)
    # ratios between traces are kept by event normalization only
    r = y[0] / x[0]
    assert np.allclose(r, r[0])


def test_normalize_zero_trace_passes_no_gradient(ctx, rng):
    x = random_traces(rng, ctx)
    x[1] = 0.0
    step = Normalize("trace_l2")
    assert np.all(step.forward(x, ctx)[1] == 0.0)
    g = step.vjp(x, rng.standard_normal(x.shape), ctx)
    assert np.all(g[1] == 0.0) and np.any(g[0] != 0.0)


def test_chain_vjp(ctx, rng):
    chain = Chain(
        [
            Detrend(),
            Taper(0.05),
            Filter("bandpass", 1.0, 12.0, zero_phase=False),
            Mute(early=(1 / 2000.0, 0.05), taper=0.1),
            Normalize("event"),
        ]
    )
    res = check_step_vjp(chain, ctx, random_traces(rng, ctx))
    assert res.passed, res.summary()
    linear = Chain([Demean(), Filter("lowpass", freqmax=10.0), Taper(0.1)])
    assert dot_product_test(linear, ctx) < 1e-13
    with pytest.raises(DataError, match="linear"):
        dot_product_test(chain, ctx)


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("bandpass", {"freqmin": 2.0, "freqmax": 10.0}),
        ("lowpass", {"freq": 8.0}),
        ("highpass", {"freq": 3.0}),
    ],
)
@pytest.mark.parametrize("zero_phase", [True, False])
def test_filter_matches_obspy(kind, kwargs, zero_phase, rng):
    ctx = make_context(ntr=1, nt=500)
    x = rng.standard_normal((1, 500))
    tr = Trace(x[0].copy())
    tr.stats.delta = ctx.dt
    tr.filter(kind, corners=4, zerophase=zero_phase, **kwargs)
    fmin = kwargs.get("freqmin", kwargs.get("freq") if kind == "highpass" else None)
    fmax = kwargs.get("freqmax", kwargs.get("freq") if kind == "lowpass" else None)
    ours = Filter(kind, fmin, fmax, corners=4, zero_phase=zero_phase).forward(x, ctx)
    np.testing.assert_allclose(ours[0], tr.data, rtol=0, atol=1e-10 * np.max(np.abs(x)))


def test_filter_passes_band_and_rejects_outside():
    ctx = make_context(ntr=1, nt=4000)
    t = ctx.times
    inband = np.sin(2 * np.pi * 5.0 * t)
    outband = np.sin(2 * np.pi * 30.0 * t)
    f = Filter("bandpass", 2.0, 10.0, corners=4, zero_phase=True)
    mid = slice(1000, 3000)
    assert np.max(np.abs(f.forward(inband[None], ctx)[0][mid])) == pytest.approx(1.0, abs=0.03)
    assert np.max(np.abs(f.forward(outband[None], ctx)[0][mid])) < 1e-3


def test_filter_bad_corners():
    with pytest.raises(ConfigError, match="min frequency < max"):
        Filter("bandpass", 10.0, 2.0)
    with pytest.raises(ConfigError, match="needs a maximum frequency"):
        Filter("lowpass")
    ctx = make_context()
    with pytest.raises(ConfigError, match="Nyquist"):
        Filter("lowpass", freqmax=80.0).forward(np.zeros((3, ctx.nt)), ctx)


def test_mute_weights(ctx):
    slope, const = 1 / 1500.0, 0.1
    w = Mute(early=(slope, const)).weights(ctx)
    offsets = ctx.offsets()
    t = ctx.times
    for i, x in enumerate(offsets):
        t_arr = const + slope * x
        assert np.all(w[i][t < t_arr] == 0.0)
        assert np.all(w[i][t >= t_arr] == 1.0)
    w = Mute(late=(slope, const), taper=0.2).weights(ctx)
    t_late = const + slope * offsets[0]
    assert np.all(w[0][t <= t_late] == 1.0)
    assert np.all(w[0][t >= t_late + 0.2] == 0.0)
    inside = (t > t_late) & (t < t_late + 0.2)
    assert np.all((w[0][inside] > 0) & (w[0][inside] < 1))
    w = Mute(short_dist=400.0, long_dist=700.0).weights(ctx)
    assert np.all(w[0] == 0.0) and np.all(w[1] == 1.0) and np.all(w[2] == 0.0)


def test_mute_needs_geometry():
    ctx = TraceContext.for_arrays(2, 50, 0.01)
    with pytest.raises(DataError, match="sources"):
        Mute(early=(0.001, 0.0)).forward(np.zeros((2, 50)), ctx)


def test_shape_errors(ctx):
    with pytest.raises(DataError, match="shape"):
        Demean().forward(np.zeros((3, ctx.nt + 1)), ctx)
    with pytest.raises(ConfigError):
        Taper(0.7)
    with pytest.raises(ConfigError):
        Normalize("trace_l1")


def test_fixed_time_mute_needs_no_sources() -> None:
    """A mute at a fixed time (slope 0) does not depend on offsets: it works without the
    event's sources (it raised 'offsets need the event's sources'); a sloped one still
    needs them."""
    ctx = make_context()
    ctx.sources = []
    w = Mute(early=(0.0, 0.1), late=(0.0, 0.3)).weights(ctx)
    t = ctx.times
    assert np.all(w[:, t < 0.1] == 0) and np.all(w[:, (t >= 0.1) & (t <= 0.3)] == 1)
    with pytest.raises(DataError, match="offsets need the event's sources"):
        Mute(early=(1e-3, 0.1)).weights(ctx)
