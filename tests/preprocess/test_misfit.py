"""Misfit functions: registry, values, and the traveltime measurement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft as sfft

from seisgrad.errors import ConfigError, DataError
from seisgrad.preprocess import misfit as mf
from seisgrad.preprocess.misfit import (
    MISFITS,
    Misfit,
    MisfitValue,
    Traveltime,
    get_misfit,
    hilbert,
    hilbert_transpose,
    misfit_names,
)
from tests.preprocess.helpers import BUILTIN_MISFITS

ALL = BUILTIN_MISFITS


def test_registry_has_all_misfits():
    assert set(ALL) <= set(misfit_names())
    for name in ALL:
        assert get_misfit(name).name == name


def test_unknown_misfit_lists_valid_names():
    with pytest.raises(ConfigError) as err:
        get_misfit("travel_time")
    msg = str(err.value)
    assert "did you mean 'traveltime'" in msg
    for name in ALL:
        assert name in msg


def test_adding_a_misfit_is_one_class():
    class Cubic(Misfit):
        name = "test_cubic"

        def __call__(self, synthetic, observed, dt):
            r = synthetic - observed
            return MisfitValue(float(np.sum(r**4)) * dt / 4, r**3 * dt)

    try:
        assert isinstance(get_misfit("test_cubic"), Cubic)
        rng = np.random.default_rng(3)
        from seisgrad.preprocess.verify import check_adjoint_source

        res = check_adjoint_source(
            None, "test_cubic", rng.standard_normal(50), rng.standard_normal(50), dt=0.1
        )
        assert res.passed, res.summary()
    finally:
        MISFITS.pop("test_cubic")


def test_hilbert_transform_and_transpose(rng):
    t = np.arange(200) * 0.01
    x = np.cos(2 * np.pi * 5.0 * t)
    # H(cos) = sin for a whole number of periods
    np.testing.assert_allclose(hilbert(x), np.sin(2 * np.pi * 5.0 * t), atol=1e-12)
    for size in (256, 257):
        a, b = rng.standard_normal(size), rng.standard_normal(size)
        assert abs(np.dot(hilbert(a), b) - np.dot(a, hilbert_transpose(b))) < 1e-12 * size


def test_misfit_values(rng):
    dt = 0.01
    s = rng.standard_normal(200)
    d = rng.standard_normal(200)
    w = get_misfit("waveform")(s, d, dt)
    assert w.value == pytest.approx(0.5 * np.sum((s - d) ** 2) * dt, rel=1e-14)
    a = get_misfit("amplitude")(2.0 * d, d, dt)
    assert a.info["dlnA"] == pytest.approx(math.log(2.0), rel=1e-14)
    assert a.value == pytest.approx(0.5 * math.log(2.0) ** 2, rel=1e-14)
    c = get_misfit("correlation")(3.0 * d, d, dt)
    assert c.value == pytest.approx(0.0, abs=1e-14)
    assert get_misfit("correlation")(-d, d, dt).value == pytest.approx(2.0, rel=1e-14)
    for name in ("envelope", "instantaneous_phase", "traveltime", "waveform"):
        zero = get_misfit(name)(d, d, dt)
        assert zero.value == pytest.approx(0.0, abs=1e-20)
        assert np.max(np.abs(zero.adjoint)) < 1e-10
    # a phase-rotated copy of a whole number of periods: same envelope, phase 0.3 rad
    t = np.arange(500) * dt
    s1 = np.cos(2 * np.pi * 10 * t + 0.3)
    d1 = np.cos(2 * np.pi * 10 * t)
    assert get_misfit("envelope")(s1, d1, dt).value < 1e-20
    ph = get_misfit("instantaneous_phase")(s1, d1, dt)
    # both envelopes are 1, so each sample has the weight (1 / (1 + water level))^2
    assert ph.value == pytest.approx(0.5 * 0.3**2 * 500 * dt / 1.001**2, rel=1e-10)
    ph = get_misfit("instantaneous_phase", water_level=1e-12)(s1, d1, dt)
    assert ph.value == pytest.approx(0.5 * 0.3**2 * 500 * dt, rel=1e-10)


def test_misfit_shape_errors():
    with pytest.raises(DataError, match="equal length"):
        get_misfit("waveform")(np.zeros(10), np.zeros(11), 0.1)
    with pytest.raises(ConfigError, match="max_shift"):
        Traveltime(max_shift=-1.0)


@pytest.mark.parametrize("name", ["traveltime", "amplitude", "correlation", "instantaneous_phase"])
def test_zero_trace_is_skipped(name):
    res = get_misfit(name)(np.zeros(20), np.ones(20), 0.1)
    assert res.value == 0.0 and not np.any(res.adjoint) and "skipped" in res.info


def _fourier_shift(x: np.ndarray, shift: float) -> np.ndarray:
    """x(t - shift*dt) by band-limited (FFT) interpolation (x padded with zeros)."""
    n = x.size
    m = 4 * n
    spec = sfft.rfft(x, m)
    k = np.arange(spec.size)
    return sfft.irfft(spec * np.exp(-2j * np.pi * k * shift / m), m)[:n]


@pytest.mark.parametrize("shift_samples", [0.0, 0.37, -2.61, 13.5, -40.25])
def test_traveltime_recovers_shift_of_analytic_pulse(shift_samples):
    dt = 0.004
    t = np.arange(1000) * dt
    f0 = 8.0

    def ricker(tc):
        a = (np.pi * f0 * (t - tc)) ** 2
        return (1 - 2 * a) * np.exp(-a)

    s = ricker(1.5)
    d = ricker(1.5 + shift_samples * dt)
    res = Traveltime()(s, d, dt)
    assert res.info["shift"] == pytest.approx(shift_samples * dt, abs=0.01 * dt)
    assert res.value == pytest.approx(0.5 * res.info["shift"] ** 2, rel=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_traveltime_recovers_fractional_shift_of_random_trace(seed):
    rng = np.random.default_rng(seed)
    n, dt = 600, 0.01
    x = np.zeros(n)
    x[150:450] = rng.standard_normal(300)
    # band-limit so that the trace is well sampled
    spec = sfft.rfft(x)
    spec[int(0.3 * spec.size) :] = 0
    s = sfft.irfft(spec, n)
    shift = rng.uniform(-20, 20)
    d = _fourier_shift(s, shift)
    res = Traveltime()(s, d, dt)
    assert res.info["shift"] == pytest.approx(shift * dt, abs=1e-3 * dt)


def test_traveltime_max_shift_limits_the_search():
    dt = 0.01
    t = np.arange(500) * dt
    s = np.exp(-(((t - 1.0) / 0.05) ** 2))
    d = np.exp(-(((t - 1.3) / 0.05) ** 2)) + 0.5 * np.exp(-(((t - 1.05) / 0.05) ** 2))
    assert Traveltime()(s, d, dt).info["shift"] == pytest.approx(0.3, abs=0.01)
    assert Traveltime(max_shift=0.1)(s, d, dt).info["shift"] == pytest.approx(0.05, abs=0.01)


def test_traveltime_adjoint_is_tromp_for_shifted_copy():
    """For d(t) = s(t - T) the exact derivative reduces to f = T sdot / sum(sdot^2)."""
    dt = 0.004
    t = np.arange(1000) * dt
    s = np.exp(-(((t - 1.5) / 0.05) ** 2))
    T = 0.0123
    d = np.exp(-(((t - 1.5 - T) / 0.05) ** 2))
    res = Traveltime()(s, d, dt)
    sdot = -2 * (t - 1.5) / 0.05**2 * s
    tromp = res.info["shift"] * sdot / np.sum(sdot**2)
    np.testing.assert_allclose(res.adjoint, tromp, atol=1e-6 * np.max(np.abs(tromp)))


def test_module_exports():
    for name in mf.__all__:
        assert hasattr(mf, name)


def test_package_exports():
    import seisgrad.preprocess as pp

    assert pp.Default.__name__ == "Default"
    assert callable(pp.check_adjoint_source) and callable(pp.get_misfit)
    with pytest.raises(AttributeError):
        pp.nothing_here  # noqa: B018


def test_traveltime_at_the_edge_of_the_search_is_constant():
    """When the best lag sits at the max_shift bound the shift is that lag, with a zero
    derivative, and the adjoint source still matches finite differences."""
    from seisgrad.preprocess.verify import check_adjoint_source

    dt = 0.01
    t = np.arange(400) * dt
    s = np.exp(-(((t - 1.0) / 0.3) ** 2))
    d = np.exp(-(((t - 1.5) / 0.3) ** 2))
    m = Traveltime(max_shift=0.2)
    res = m(s, d, dt)
    assert res.info["shift"] == pytest.approx(0.2, abs=1e-12)
    assert not np.any(res.adjoint)
    chk = check_adjoint_source(None, m, d, s, dt=dt)
    assert chk.max_error <= 1e-6, chk.summary()
    assert isinstance(get_misfit(Traveltime, max_shift=0.1), Traveltime)


def test_traveltime_opposite_polarity_is_skipped_not_a_random_shift():
    """All overlapping lags correlate negatively: the discrete correlation elsewhere is
    FFT round-off, which used to give a random shift of 1.6-2.2 s."""
    dt = 0.01
    t = np.arange(300) * dt
    s = np.exp(-(((t - 1.0) / 0.1) ** 2))
    d = -np.exp(-(((t - 1.05) / 0.1) ** 2))
    for k in range(3):
        res = Traveltime()(s * (1 + 1e-9 * k), d, dt)
        assert res.value == 0.0 and not np.any(res.adjoint)
        assert "opposite polarity" in res.info["skipped"]
    with pytest.raises(DataError, match="opposite polarity"):
        Traveltime().measure(s, d, dt)


def test_traveltime_searches_only_lags_where_the_traces_overlap():
    """Two-sample windows: only lags -1..1 overlap; all correlate negatively."""
    dt = 0.01
    s, d = np.zeros(200), np.zeros(200)
    s[100:102] = [1.0, 2.0]
    d[100:102] = [-1.0, -2.0]
    assert "skipped" in Traveltime()(s, d, dt).info
    d[100:102] = [2.0, 1.0]  # correlates positively at lag -1 .. 0
    res = Traveltime()(s, d, dt)
    assert abs(res.info["shift"]) <= dt
    far = np.zeros(200)
    far[10] = 1.0
    with pytest.raises(DataError, match="do not overlap at any shift within"):
        Traveltime(max_shift=0.5).measure(s, far, dt)


@pytest.mark.parametrize("max_shift", [0.1, 0.15, 0.185, 0.195])
def test_traveltime_honours_max_shift(max_shift):
    from seisgrad.preprocess.verify import check_adjoint_source

    dt = 0.01
    t = np.arange(300) * dt
    s = np.exp(-(((t - 1.0) / 0.05) ** 2))
    d = np.exp(-(((t - 1.2) / 0.05) ** 2))
    m = Traveltime(max_shift=max_shift)
    res = m(s, d, dt)
    assert res.info["shift"] == pytest.approx(max_shift, abs=1e-12)
    chk = check_adjoint_source(None, m, d, s, dt=dt)
    assert chk.passed, chk.summary()


def test_instantaneous_phase_is_continuous_outside_windows():
    """Outside a window both processed traces are exactly zero and the phase difference
    of the Hilbert tails jumps between 0 and pi: those samples must not count (the value
    jumped by up to 0.05 along a 1e-3 path, and 20 % of it came from outside)."""
    from seisgrad.preprocess.pipeline import Pipeline
    from seisgrad.preprocess.verify import check_adjoint_source
    from tests.preprocess.helpers import make_context, random_traces

    ctx = make_context(1, 300, 0.01)
    rng = np.random.default_rng(5)
    obs, syn = random_traces(rng, ctx), random_traces(rng, ctx)
    pipe = Pipeline([], "instantaneous_phase", windows=[[1.0, 1.5]])
    prep = pipe.prepare(obs, ctx)
    rng.standard_normal(syn.shape)
    eps = np.linspace(-1e-3, 1e-3, 41)
    for _ in range(3):  # the first of these directions crossed a jump of 0.049
        v0 = rng.standard_normal(syn.shape)
        vals = np.array([pipe.value(syn + e * v0, ctx, prep) for e in eps])
        assert np.max(np.abs(np.diff(vals, 2))) < 1e-6
    chk = check_adjoint_source(pipe, None, obs, syn, context=ctx, seed=3)
    assert chk.passed, chk.summary()


def test_instantaneous_phase_of_zero_synthetics_is_skipped():
    t = np.arange(200) * 0.01
    d = np.exp(-(((t - 1) / 0.05) ** 2)) * np.sin(2 * np.pi * 10 * (t - 1))
    res = get_misfit("instantaneous_phase")(np.zeros(200), d, 0.01)
    assert res.value == 0.0 and not np.any(res.adjoint)  # was 0.197 with zero adjoint
    with pytest.raises(ConfigError, match="water_level"):
        get_misfit("instantaneous_phase", water_level=0.0)


@pytest.mark.parametrize("name", ALL)
def test_misfit_inputs_are_checked_at_the_shared_entry(name):
    """Misfits called directly had no checks: amplitude with inf raised 'math domain
    error', traveltime with NaN data returned a finite shift, waveform with dt = -1 a
    negative misfit."""
    rng = np.random.default_rng(0)
    s, d = rng.standard_normal(100), rng.standard_normal(100)
    m = get_misfit(name)
    for bad, where in ((np.nan, "observed"), (np.inf, "observed"), (-np.inf, "synthetic")):
        s1, d1 = s.copy(), d.copy()
        (d1 if where == "observed" else s1)[7] = bad
        with pytest.raises(DataError, match=rf"misfit '{name}': the {where} trace holds 1 non"):
            m(s1, d1, 0.01)
    for dt in (0.0, -1.0, np.nan, np.inf, True, "0.1"):
        with pytest.raises(DataError, match=rf"misfit '{name}': the time step dt must be"):
            m(s, d, dt)
    with pytest.raises(DataError, match="must be real"):
        m(s + 1j, d, 0.01)
    with pytest.raises(DataError, match="at least 2 samples"):
        m(s[:1], d[:1], 0.01)


def test_user_misfits_get_the_input_checks_and_overflow_is_reported():
    class Raw(Misfit):
        name = "test_raw"

        def __call__(self, synthetic, observed, dt):
            r = synthetic - observed
            return MisfitValue(float(np.sum(r**2)) * dt, 2 * r * dt)

    try:
        with pytest.raises(DataError, match="misfit 'test_raw': the synthetic trace holds"):
            Raw()(np.array([1.0, np.nan]), np.zeros(2), 0.1)
        with (
            np.errstate(over="ignore"),
            pytest.raises(DataError, match="misfit 'test_raw': the value or the adjoint"),
        ):
            Raw()(np.array([1e200, 0.0]), np.zeros(2), 0.1)
    finally:
        MISFITS.pop("test_raw")


@pytest.mark.parametrize("name", ["traveltime", "amplitude", "correlation", "instantaneous_phase"])
def test_scale_free_misfits_do_not_overflow(name):
    """Measurements that do not depend on the amplitude give the same value for samples of
    1e-170 or 1e160 (amplitude hit a math domain error, correlation inf or 0)."""
    t = np.arange(200) * 0.01
    d = np.exp(-(((t - 1) / 0.05) ** 2)) * np.sin(2 * np.pi * 10 * (t - 1))
    s = np.roll(d, 2) * 0.7
    m = get_misfit(name)
    ref = m(s, 2 * d, 0.01)
    for scale in (1e-170, 1e160):
        got = m(scale * s, 2 * scale * d, 0.01)
        assert got.value == pytest.approx(ref.value, rel=1e-9)
        np.testing.assert_allclose(got.adjoint * scale, ref.adjoint, rtol=1e-9, atol=1e-12)


def test_exponentiated_phase_is_smooth_where_the_phase_difference_wraps():
    """Opposite polarity puts the phase difference at +-pi, where it wraps: the
    instantaneous phase's penalty has a corner there, the exponentiated phase's
    1 - cos(dphi) does not, and its adjoint source is its derivative."""
    t = np.arange(300) * 0.01
    s = np.exp(-(((t - 1.2) / 0.08) ** 2)) * np.sin(2 * np.pi * 6 * (t - 1.2))
    d = -np.exp(-(((t - 1.25) / 0.08) ** 2)) * np.sin(2 * np.pi * 6 * (t - 1.25))
    m = get_misfit("exponentiated_phase")
    res = m(s, d, 0.01)
    h = np.random.default_rng(1).standard_normal(s.size)
    exact = float(res.adjoint @ h)
    best = min(
        abs((m(s + e * h, d, 0.01).value - m(s - e * h, d, 0.01).value) / (2 * e) - exact)
        for e in (1e-3, 1e-4, 1e-5, 1e-6)
    )
    assert best < 1e-6 * abs(exact)
    assert res.value > 0.5 * np.sum(np.abs(s) > 0.1) * 0.01  # mostly anti-phase: 1-cos ~ 2


def test_exponentiated_phase_equals_the_instantaneous_phase_for_small_differences():
    t = np.arange(300) * 0.01
    s = np.exp(-(((t - 1.2) / 0.1) ** 2)) * np.sin(2 * np.pi * 5 * (t - 1.2))
    d = np.exp(-(((t - 1.201) / 0.1) ** 2)) * np.sin(2 * np.pi * 5 * (t - 1.201))
    a = get_misfit("exponentiated_phase")(s, d, 0.01)
    b = get_misfit("instantaneous_phase")(s, d, 0.01)
    assert a.value == pytest.approx(b.value, rel=1e-3)
    np.testing.assert_allclose(a.adjoint, b.adjoint, rtol=0, atol=2e-3 * np.abs(b.adjoint).max())
