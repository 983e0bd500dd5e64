"""Adjoint sources are the exact derivative of the reported misfit.

For every misfit, alone and behind every processing step (and behind full chains with
a filter, windows or user weights and a normalization), the adjoint source is
compared with fourth-order finite differences of the misfit with respect to the raw
synthetic samples (random directions and single samples), in float64, on random
traces: relative error at most 1e-6.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from seisgrad.preprocess.misfit import misfit_names
from seisgrad.preprocess.pipeline import Pipeline
from seisgrad.preprocess.processing import (
    Demean,
    Detrend,
    Filter,
    Mute,
    Normalize,
    Taper,
)
from seisgrad.preprocess.verify import check_adjoint_source
from tests.preprocess.helpers import BUILTIN_MISFITS, random_traces

MISFITS = BUILTIN_MISFITS


def first_arrival_weights(stream, receiver, sources):
    """Salvus-tutorial style taper around the first arrival (velocity 1500 m/s)."""
    src = sources[0]
    dist = np.hypot(receiver.x - src.x, receiver.z - src.z)
    t_arr = dist / 1500.0
    out = {}
    for tr in stream:
        t = tr.times() + (tr.stats.starttime.timestamp)
        w = np.exp(-(((t - t_arr - 0.5) / 0.6) ** 4))
        out[tr.stats.channel[-1]] = [{"values": w}, 0.5 * np.ones_like(w)]
    return out


# name -> (steps, pipeline keyword arguments)
SETUPS = {
    "none": ([], {}),
    "demean": ([Demean()], {}),
    "detrend": ([Detrend()], {}),
    "taper": ([Taper(0.1)], {}),
    "bandpass_zero_phase": ([Filter("bandpass", 1.0, 15.0, zero_phase=True)], {}),
    "lowpass_causal": ([Filter("lowpass", freqmax=12.0, zero_phase=False)], {}),
    "highpass_causal": ([Filter("highpass", freqmin=2.0, corners=3, zero_phase=False)], {}),
    "mute": ([Mute(early=(1 / 3000.0, 0.1), late=(1 / 1000.0, 1.8), taper=0.2)], {}),
    "trace_max": ([Normalize("trace_max")], {}),
    "trace_l2": ([Normalize("trace_l2")], {}),
    "event": ([Normalize("event")], {}),
    "event_max": ([Normalize("event_max")], {}),
    "windows": ([], {"windows": [[0.3, 1.4], [1.2, 2.8]]}),
    "weights": ([], {"weights_function": first_arrival_weights}),
    "chain_window": (
        [Demean(), Taper(0.05), Filter("bandpass", 1.0, 12.0), Normalize("trace_l2")],
        {"windows": {"*": [[0.4, 2.2]], "XX.S001": [[0.2, 1.0], [1.0, 2.5]]}},
    ),
    "chain_weights": (
        [
            Detrend(),
            Filter("lowpass", freqmax=10.0, zero_phase=False),
            Mute(early=(1 / 2500.0, 0.0), taper=0.1),
            Normalize("event"),
        ],
        {"weights_function": first_arrival_weights},
    ),
    "chain_all": (
        [Demean(), Taper(0.1), Filter("bandpass", 2.0, 10.0), Normalize("event_max")],
        {"windows": [[0.2, 2.8]], "weights_function": first_arrival_weights},
    ),
}


def test_every_misfit_is_covered():
    assert set(MISFITS) <= set(misfit_names())


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("misfit", MISFITS)
def test_adjoint_source_matches_finite_differences(misfit, setup, ctx):
    steps, kwargs = SETUPS[setup]
    seed = zlib.crc32(f"{misfit}/{setup}".encode())
    rng = np.random.default_rng(seed)
    obs, syn = random_traces(rng, ctx), random_traces(rng, ctx)
    pipe = Pipeline(steps, misfit, **kwargs)
    if misfit == "amplitude" and setup == "trace_l2":
        # unit-norm traces have no amplitude difference: the misfit is identically 0
        res = pipe.evaluate(obs, syn, ctx)
        assert abs(res.value) < 1e-25 and np.max(np.abs(res.adjoint)) < 1e-12
        return
    res = check_adjoint_source(pipe, None, obs, syn, context=ctx, seed=seed, n_samples=4)
    assert res.value > 0
    assert res.max_error <= 1e-6, res.summary()


@pytest.mark.parametrize("misfit", MISFITS)
@pytest.mark.parametrize("seed", range(3))
def test_white_noise_traces(misfit, seed):
    rng = np.random.default_rng(seed)
    obs, syn = rng.standard_normal(200), rng.standard_normal(200)
    res = check_adjoint_source(None, misfit, obs, syn, dt=0.05, seed=seed)
    assert res.max_error <= 1e-6, res.summary()


def test_check_detects_a_wrong_adjoint(ctx, rng):
    """The check can fail: a misfit whose adjoint misses the dt factor is caught."""
    from seisgrad.preprocess.misfit import MISFITS as REGISTRY
    from seisgrad.preprocess.misfit import Misfit, MisfitValue

    class Wrong(Misfit):
        name = "test_wrong_dt"

        def __call__(self, synthetic, observed, dt):
            r = synthetic - observed
            return MisfitValue(0.5 * float(np.sum(r * r)) * dt, r)

    try:
        obs, syn = random_traces(rng, ctx), random_traces(rng, ctx)
        res = check_adjoint_source([Demean()], "test_wrong_dt", obs, syn, context=ctx)
        assert not res.passed
        assert res.max_error > 0.5
        from seisgrad.errors import GradientError

        with pytest.raises(GradientError, match="does not match"):
            res.raise_if_failed()
    finally:
        REGISTRY.pop("test_wrong_dt")


def test_processing_adjoint_is_needed(ctx, rng):
    """Dropping the filter's transpose from the adjoint is caught by the check."""
    obs, syn = random_traces(rng, ctx), random_traces(rng, ctx)
    pipe = Pipeline([Filter("lowpass", freqmax=8.0, zero_phase=False)], "waveform")
    res = pipe.evaluate(obs, syn, ctx)
    prepared = pipe.prepare(obs, ctx)
    from seisgrad.preprocess.verify import check_gradient

    wrong = check_gradient(
        lambda x: pipe.value(x, ctx, prepared),
        syn,
        res.adjoint * 0 + pipe.chain.forward(res.adjoint, ctx),
    )
    assert not wrong.passed
    right = check_gradient(lambda x: pipe.value(x, ctx, prepared), syn, res.adjoint)
    assert right.passed, right.summary()


def test_single_step_and_stationary_point(ctx, rng):
    obs = random_traces(rng, ctx)
    # a single step is a chain; at s = d the waveform adjoint is exactly zero and the
    # finite differences are round-off: atol accepts that, rtol alone does not
    res = check_adjoint_source(
        Filter("lowpass", freqmax=10.0), "waveform", obs, obs.copy(), context=ctx, atol=1e-12
    )
    assert res.value == 0.0 and res.passed, res.summary()


def test_check_tries_smaller_steps_before_failing_a_correct_adjoint():
    """A misfit that varies on a scale of 1e-6 of the samples: steps of 1e-2 to 1e-6
    cannot resolve it (the instantaneous phase near a small envelope failed like this
    with an error of 7.9e-2); smaller steps do. A wrong adjoint still fails."""
    from seisgrad.preprocess.misfit import Misfit, MisfitValue
    from seisgrad.preprocess.verify import FALLBACK_STEPS

    k = 3e6

    class Wiggle(Misfit):
        def __init__(self, wrong: float = 0.0) -> None:
            self.wrong = wrong

        def __call__(self, synthetic, observed, dt):
            r = synthetic - observed
            adj = -k * np.sin(k * r) * dt * (1.0 + self.wrong)
            return MisfitValue(float(np.sum(np.cos(k * r))) * dt, adj)

    rng = np.random.default_rng(1)
    obs, syn = rng.standard_normal(50), rng.standard_normal(50)
    good = check_adjoint_source(None, Wiggle(), obs, syn, dt=0.01)
    assert good.passed, good.summary()
    assert min(d["h"] for d in good.directions) in FALLBACK_STEPS
    old = check_adjoint_source(None, Wiggle(), obs, syn, dt=0.01, fallback_steps=())
    assert not old.passed
    for wrong in (1e-3, 1e-4, -1e-5):
        bad = check_adjoint_source(None, Wiggle(wrong), obs, syn, dt=0.01)
        assert not bad.passed, bad.summary()


def test_check_accepts_round_off_at_a_stationary_point():
    """A one-sample window: the phase misfit does not change with the sample (only its
    scale changes), so the adjoint source is round-off (6e-18) and the finite
    differences exactly 0, which failed with a relative error of 1."""
    from tests.preprocess.helpers import make_context

    ctx = make_context(3, 300, 0.01)
    rng = np.random.default_rng(1)
    obs, syn = random_traces(rng, ctx), random_traces(rng, ctx)
    pipe = Pipeline([], "instantaneous_phase", windows=[[0.995, 1.005]])
    res = check_adjoint_source(pipe, None, obs, syn, context=ctx, n_samples=4)
    assert res.value > 0.05 and res.passed, res.summary()
    wrong = Pipeline([], "waveform", windows=[[0.995, 1.005]])
    prepared = wrong.prepare(obs, ctx)
    good = wrong.evaluate(None, syn, ctx, prepared).adjoint
    from seisgrad.preprocess.verify import check_gradient

    def func(x):
        return wrong.value(x, ctx, prepared)

    assert check_gradient(func, syn, good).passed
    assert not check_gradient(func, syn, good * (1 + 1e-5)).passed


def test_round_off_measurements_are_skipped(ctx, rng):
    """A component that holds only round-off (a receiver on a symmetry axis: 1e-19 of
    the event's peak in fd2d) is not measured by amplitude-independent misfits; with
    negligible = 0 it would dominate misfit and adjoint source."""
    nt = ctx.nt
    t = np.arange(nt) * ctx.dt
    pulse = np.exp(-(((t - 0.4 * t[-1]) / (0.03 * t[-1])) ** 2))
    obs = np.zeros((len(ctx.ids), nt))
    syn = np.zeros_like(obs)
    obs[0], syn[0] = pulse, np.roll(pulse, 3)
    noise = 1e-13 * rng.standard_normal((2, nt))
    for i in range(1, len(ctx.ids)):
        obs[i], syn[i] = noise
    for name in ("traveltime", "correlation", "exponentiated_phase"):
        kept = Pipeline(misfit=name, negligible=0.0).evaluate(obs, syn, ctx)
        res = Pipeline(misfit=name).evaluate(obs, syn, ctx)
        assert res.per_trace[0] == kept.per_trace[0] > 0
        np.testing.assert_array_equal(res.adjoint[0], kept.adjoint[0])
        assert np.all(res.per_trace[1:] == 0) and not np.any(res.adjoint[1:])
        assert all("round-off" in x["skipped"] for row in res.info[1:] for x in row)
        # what it prevents: the noise measured at full weight, huge adjoint sources
        assert np.abs(kept.adjoint[1:]).max() > 1e6 * np.abs(kept.adjoint[0]).max()
    # weak but real traces (1e-6 of the peak) are measured
    obs[1], syn[1] = 1e-6 * pulse, 1e-6 * np.roll(pulse, 2)
    res = Pipeline(misfit="traveltime").evaluate(obs, syn, ctx)
    assert res.per_trace[1] > 0


def test_non_finite_adjoint_after_the_processing_is_an_error(ctx):
    from seisgrad.errors import DataError
    from seisgrad.preprocess.processing import Normalize

    t = np.arange(ctx.nt) * ctx.dt
    obs = 1e-170 * np.sin(np.outer(np.arange(1, len(ctx.ids) + 1), t) * 20.0)
    syn = 1e-170 * np.cos(np.outer(np.arange(1, len(ctx.ids) + 1), t) * 20.0)
    with pytest.raises(DataError, match="not finite after the processing.*1e-170"):
        Pipeline([Normalize("trace_max")], "waveform").evaluate(obs, syn, ctx)


def test_round_off_floor_is_per_channel_and_before_normalization(ctx, rng):
    """The floor compares a trace with its own channel (a real UZ of 1e-12 Pa-scale next
    to a pressure of 1e4 was dropped), and is taken on the raw traces (a per-trace
    normalization lifted round-off to full size, and nothing was skipped)."""
    from seisgrad.preprocess.processing import Normalize

    nt = ctx.nt
    t = np.arange(nt) * ctx.dt
    pulse = np.exp(-(((t - 0.4 * t[-1]) / (0.03 * t[-1])) ** 2))
    n = len(ctx.ids)
    ctx.ids = [f"XX.S{i:03d}..{'P' if i == 0 else 'UZ'}" for i in range(n)]
    obs = np.zeros((n, nt))
    syn = np.zeros_like(obs)
    obs[0], syn[0] = 1e4 * pulse, 1e4 * np.roll(pulse, 3)  # pressure, Pa
    obs[1], syn[1] = 1e-8 * pulse, 1e-8 * np.roll(pulse, 2)  # displacement, m: real
    noise = 1e-27 * rng.standard_normal((2, nt))  # round-off of the UZ channel
    for i in range(2, n):
        obs[i], syn[i] = noise
    for chain in ([], [Normalize("trace_max")], [Normalize("trace_l2")]):
        res = Pipeline(chain, "traveltime").evaluate(obs, syn, ctx)
        assert res.per_trace[0] > 0 and res.per_trace[1] > 0, chain  # both channels
        assert np.all(res.per_trace[2:] == 0) and not np.any(res.adjoint[2:]), chain


def test_skipped_measurements_are_one_log_line_per_reason(ctx, rng, caplog):
    """A warning per trace flooded the log (400 lines for 200 receivers whose traces
    were round-off); now one line per reason names the count and the first traces."""
    import logging

    n = len(ctx.ids)
    obs = np.zeros((n, ctx.nt))
    syn = np.zeros_like(obs)
    obs[0] = syn[0] = np.hanning(ctx.nt)
    syn[0] = np.roll(syn[0], 2)
    for i in range(1, n):
        obs[i], syn[i] = 1e-27 * rng.standard_normal((2, ctx.nt))
    with caplog.at_level(logging.WARNING, logger="seisgrad"):
        Pipeline(misfit="traveltime").evaluate(obs, syn, ctx)
    lines = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{n - 1} measurement(s) skipped (round-off, below 1e-10")
    assert ctx.ids[1] in lines[0]


def test_check_leaves_out_traces_whose_measurement_was_skipped(ctx, rng, caplog):
    """A skip is a threshold, not a smooth function: a check whose steps lifted a
    round-off trace over the floor always failed (errors 1 to 33) and did not say why,
    and it logged the skip warning once per finite difference (121 lines)."""
    import logging

    from seisgrad.errors import DataError

    n = len(ctx.ids)
    obs = np.zeros((n, ctx.nt))
    syn = np.zeros_like(obs)
    obs[0] = np.hanning(ctx.nt)
    syn[0] = np.roll(obs[0], 2)
    for i in range(1, n):
        obs[i], syn[i] = 1e-13 * rng.standard_normal((2, ctx.nt))
    pipe = Pipeline(misfit="correlation")
    with caplog.at_level(logging.WARNING, logger="seisgrad"):
        res = check_adjoint_source(pipe, None, obs, syn, context=ctx)
    assert res.passed, res.summary()
    assert set(res.not_checked) == {f"trace {i}" for i in range(1, n)}
    assert "round-off" in res.not_checked["trace 1"]
    assert "trace 1: not checked (its measurement was skipped: round-off" in res.summary()
    assert all(s["trace"] == 0 for s in res.samples)
    skips = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skips) == 1, len(skips)  # the unperturbed evaluation's only
    # every trace skipped (all zero): nothing to check, said so
    obs[:], syn[:] = 0.0, 0.0
    with pytest.raises(DataError, match="every measurement is skipped at these synthetics"):
        check_adjoint_source(pipe, None, obs, syn, context=ctx)


def test_check_passes_beside_a_window_that_holds_only_round_off():
    """Window [1.0, 1.2] s: the first trace's pulse (at 0.5 s) leaves only round-off
    there (skipped), the second's (at 1.15 s) is measured. The check's steps lifted the
    first over the round-off floor, and it failed a right adjoint source."""
    from obspy import Stream, Trace, UTCDateTime

    from seisgrad.preprocess.default import Default, DefaultParameters
    from seisgrad.solver.acquisition import Event, Receiver

    dt, n = 0.004, 301
    t = np.arange(n) * dt

    def ricker(t0: float) -> np.ndarray:
        a = (np.pi * 8.0 * (t - t0)) ** 2
        return (1 - 2 * a) * np.exp(-a)

    def stream(t0s) -> Stream:
        head = {"network": "XX", "channel": "UZ", "delta": dt, "starttime": UTCDateTime(0)}
        return Stream(
            [Trace(ricker(t0), header={**head, "station": f"R{i}"}) for i, t0 in enumerate(t0s)]
        )

    syn, obs = stream((0.5, 1.15)), stream((0.52, 1.16))
    recs = [Receiver(f"R{i}", 300.0 * (i + 1), 0.0) for i in range(2)]
    ev = Event("ev", [])
    for misfit in ("waveform", "traveltime", "correlation"):
        pre = Default(DefaultParameters(misfit=misfit, windows=[[1.0, 1.2]]))
        res = check_adjoint_source(pre, None, obs, syn, event=ev, receivers=recs)
        assert res.passed, res.summary()
        assert list(res.not_checked) == ["XX.R0..UZ"], res.not_checked


def _mixed_units_stream(shift: float, pressure_scale: float):
    """Two stations recording P (``pressure_scale`` times larger) and VX."""
    from obspy import Stream, Trace, UTCDateTime

    dt, n = 1e-3, 600
    t = np.arange(n) * dt

    def ricker(t0: float, f: float = 10.0) -> np.ndarray:
        a = (np.pi * f * (t - t0)) ** 2
        return (1 - 2 * a) * np.exp(-a)

    st = Stream()
    for sta, t0 in (("000", 0.20), ("001", 0.30)):
        for ch, amp in (("P", pressure_scale), ("VX", 1.0)):
            data = amp * (ricker(t0 + shift) + 0.3 * ricker(t0 + 0.12 + shift, 14.0))
            header = {"network": "XX", "station": sta, "channel": ch, "delta": dt}
            st.append(Trace(data, header={**header, "starttime": UTCDateTime(0)}))
    return st


@pytest.mark.parametrize("misfit", ["exponentiated_phase", "traveltime", "waveform"])
def test_traces_of_different_units_are_each_stepped_at_their_own_scale(misfit):
    """fd2d's acoustic default records P (about 1e6-1e8 times VX) beside VX: one step
    scale for the whole stream made steps larger than the VX traces, and a right
    exponentiated-phase adjoint source read 0.28 (found by an acceptance sweep). A
    wrong adjoint source on the small traces only still fails where those traces weigh
    in the misfit (not in a waveform misfit, whose total is the pressure's to 1e-16)."""
    from seisgrad.config import from_mapping
    from seisgrad.preprocess.default import Default, DefaultParameters
    from seisgrad.preprocess.misfit import MISFITS as REGISTRY
    from seisgrad.preprocess.misfit import MisfitValue, get_misfit

    params = {"misfit": misfit, "filter": "bandpass", "min_freq": 3.0, "max_freq": 20.0}
    pre = Default(from_mapping(DefaultParameters, {**params, "windows": [[0.15, 0.55]]}))
    obs, syn = _mixed_units_stream(0.004, 1e8), _mixed_units_stream(0.0, 1e8)
    res = check_adjoint_source(pre, None, obs, syn)
    assert res.max_error < 1e-6, res.summary()

    if misfit == "waveform":
        return
    right = get_misfit(misfit)

    class WrongOnSmallTraces(type(right)):
        name = "test_wrong_small"

        def __call__(self, synthetic, observed, dt):
            out = right(synthetic, observed, dt)
            if np.max(np.abs(synthetic)) < 1e3:  # the VX traces
                return MisfitValue(out.value, 1.01 * out.adjoint, out.info)
            return out

    try:
        wrong = Default(from_mapping(DefaultParameters, {**params, "misfit": "test_wrong_small"}))
        assert not check_adjoint_source(wrong, None, obs, syn).passed
    finally:
        REGISTRY.pop("test_wrong_small", None)
