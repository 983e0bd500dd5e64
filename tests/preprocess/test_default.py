"""The default preprocess: parameters, reading observed data, evaluate, adjoint Streams."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from obspy import Stream, Trace
from obspy.core import AttribDict

from seisgrad.config import from_mapping, schema_fields
from seisgrad.errors import ConfigError, DataError
from seisgrad.preprocess import io
from seisgrad.preprocess.default import Default, DefaultParameters
from seisgrad.preprocess.misfit import misfit_names
from seisgrad.preprocess.streams import EPOCH
from seisgrad.preprocess.verify import check_adjoint_source
from seisgrad.solver.acquisition import Event, PointSource, Receiver

DATA = Path(__file__).resolve().parents[1] / "data" / "specfem2d"

DT, NT = 0.002, 500
RECEIVERS = [Receiver(f"R{i:02d}", 100.0 + 150.0 * i, 0.0, "XX") for i in range(4)]
EVENT = Event("ev1", [PointSource(x=0.0, z=-100.0)])
VEL = 1500.0


def arrival(rec: Receiver) -> float:
    return float(np.hypot(rec.x - 0.0, rec.z + 100.0) / VEL + 0.05)


def make_stream(
    delay: float = 0.0,
    seed: int = 0,
    dt: float = DT,
    nt: int = NT,
    t0: float = 0.0,
    channels=("UX", "UZ"),
    receivers=RECEIVERS,
) -> Stream:
    rng = np.random.default_rng(seed)
    t = t0 + dt * np.arange(nt)
    out = []
    for r in receivers:
        for k, ch in enumerate(channels):
            ta = arrival(r) + delay
            data = (
                (1.0 - 0.4 * k)
                * (1 - 2 * ((t - ta) / 0.012) ** 2)
                * np.exp(-(((t - ta) / 0.012) ** 2))
            )
            data = data + 0.02 * rng.standard_normal(nt)
            tr = Trace(data.astype(np.float32))
            tr.stats.network, tr.stats.station, tr.stats.channel = r.network, r.station, ch
            tr.stats.delta = dt
            tr.stats.starttime = EPOCH + t0
            tr.stats.coordinates = AttribDict(x=r.x, z=r.z)
            out.append(tr)
    return Stream(out)


def params(**kw) -> DefaultParameters:
    return from_mapping(DefaultParameters, kw)


WEIGHTS_FILE = '''
import numpy as np

def weights(stream, receiver, sources):
    """First-arrival taper (as in the Salvus tutorial): a window around
    distance / velocity, with cosine ramps."""
    src = sources[0]
    dist = np.hypot(receiver.x - src.x, receiver.z - src.z)
    t_first = dist / 1500.0 + 0.05
    out = {}
    for tr in stream:
        t = tr.times()
        w = np.clip((t - (t_first - 0.06)) / 0.03, 0.0, 1.0)
        w *= np.clip(((t_first + 0.12) - t) / 0.03, 0.0, 1.0)
        w = 0.5 - 0.5 * np.cos(np.pi * w)
        out[tr.stats.channel[-1]] = [{"values": w}]
    return out
'''


# ----------------------------------------------------------------------- parameters
def test_parameters_defaults_and_docs():
    p = DefaultParameters()
    assert p.misfit == "waveform" and p.data_format == "su" and p.filter == "none"
    infos = {i.name: i for i in schema_fields(DefaultParameters)}
    assert all(name in infos["misfit"].doc for name in misfit_names())
    assert all(i.doc for i in infos.values())
    chain = Default(p).build_chain()
    assert [type(s).__name__ for s in chain.steps] == ["Demean"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"misfit": "travletime"}, "did you mean 'traveltime'.*valid misfits: amplitude"),
        ({"misfit": "os.path:join"}, "not a subclass"),
        ({"misfit": "nowhere_module:Thing"}, "cannot be imported"),
        ({"misfti": "waveform"}, "did you mean 'misfit'"),
        ({"filter": "bandpass", "min_freq": 2.0}, "needs max_freq or min_period"),
        ({"filter": "lowpass", "max_freq": 2.0, "min_period": 0.5}, "not both"),
        ({"filter": "bandpass", "min_freq": 20.0, "max_freq": 2.0}, "lower corner"),
        ({"normalize": "trace"}, "not allowed"),
        ({"mute": ["early"], "early_slope": 0.001, "early_velocity": 1000.0}, "not both"),
        ({"mute": ["long"]}, "long_dist"),
        ({"mute": ["first"]}, "not allowed"),
        ({"misfit": "amplitude", "normalize": "trace_l2"}, "always zero"),
        ({"windows": [[1.0, 0.5]]}, "t_start < t_end"),
        ({"windows": [1.0, 2.0]}, "expected"),
        ({"traveltime_max_shift": 1.0}, "only applies"),
        ({"data_format": "segy"}, "not allowed"),
        # accepted before, though meaningless:
        ({"su_dt": 0.0}, "su_dt must be > 0"),
        ({"mute": ["early"]}, "mute 'early' needs early_velocity"),
        ({"mute": ["late"], "late_const": 1.0}, "mute 'late' needs late_velocity"),
        ({"mute": ["short"]}, "short_dist > 0"),
        ({"mute": ["short", "long"], "short_dist": 1000.0, "long_dist": 100.0}, "every trace"),
        ({"windows": []}, "empty list measures nothing"),
        ({"windows": {"*": [], "XX.S1": []}}, "no entry holds a window"),
    ],
)
def test_parameter_errors(values, message):
    with pytest.raises(ConfigError, match=message):
        params(**values)


def test_meaningful_mute_and_window_settings_are_accepted():
    params(mute=["early"], early_slope=0.0, early_const=0.1)  # a fixed-time mute
    params(mute=["short", "long"], short_dist=100.0, long_dist=1000.0)
    params(windows={"*": [], "XX.S1": [[0.1, 0.5]]}, su_dt=0.001)


def test_chain_from_parameters():
    p = params(
        detrend=True,
        taper=0.05,
        filter="bandpass",
        min_period=0.1,
        max_period=1.0,
        zero_phase=False,
        mute=["early", "late", "short"],
        early_velocity=2000.0,
        late_slope=0.001,
        late_const=1.0,
        short_dist=50.0,
        normalize="event",
    )
    steps = Default(p).build_chain().steps
    names = [type(s).__name__ for s in steps]
    assert names == ["Demean", "Detrend", "Taper", "Filter", "Mute", "Normalize"]
    filt, mute = steps[3], steps[4]
    assert (filt.freqmin, filt.freqmax, filt.zero_phase) == (1.0, 10.0, False)
    assert mute.early == (1 / 2000.0, 0.0) and mute.late == (0.001, 1.0)
    assert mute.short_dist == 50.0 and mute.long_dist is None


def test_check_refuses_filter_corners_at_or_above_nyquist():
    for values, key in [
        (
            {"filter": "lowpass", "max_freq": 500.0},
            "max_freq (or min_period) sets a corner of 500",
        ),
        ({"filter": "highpass", "max_period": 0.001}, "min_freq (or max_period) sets a corner"),
        ({"filter": "bandpass", "min_freq": 1.0, "max_freq": 600.0}, "corner of 600 Hz"),
    ]:
        pre = Default(params(**values))
        with pytest.raises(ConfigError, match=re.escape(key) + ".*Nyquist frequency 500 Hz"):
            pre.check(0.001)
        assert pre.check(0.0001) == [] and pre.check(None) == []
    assert Default(params(filter="lowpass", max_freq=499.0)).check(0.001) == []


# ----------------------------------------------------------------------- evaluate
def test_evaluate_result_layout():
    syn, obs = make_stream(0.0, seed=1), make_stream(0.004, seed=2)
    pre = Default(params(misfit="traveltime", components=["UZ"], windows=[[0.0, 0.6]]))
    res = pre.evaluate(obs, syn, EVENT, RECEIVERS)
    assert [tr.id for tr in res.adjoint] == [tr.id for tr in syn]
    for tr in res.adjoint:
        assert tr.stats.delta == DT and tr.stats.npts == NT and tr.data.dtype == np.float64
        assert tr.stats.starttime == EPOCH
        if tr.stats.channel == "UX":
            assert not np.any(tr.data)
        else:
            assert np.any(tr.data)
    assert set(res.per_trace) == {tr.id for tr in syn if tr.stats.channel == "UZ"}
    assert res.value == pytest.approx(sum(res.per_trace.values()), rel=1e-15)
    for info in res.extra["measurements"].values():
        assert info[0]["shift"] == pytest.approx(0.004, abs=DT / 4)
    assert res.extra["windows"]["XX.R00..UZ"] == [(0.0, pytest.approx(0.6))]
    # full precision survives JSON (SeisFlows kept three figures)
    assert json.loads(json.dumps(res.value)) == res.value


ALL_PROCESSING = dict(
    detrend=True,
    taper=0.05,
    filter="bandpass",
    min_freq=8.0,
    max_freq=60.0,
    mute=["early"],
    early_velocity=VEL,
    early_const=0.0,
    mute_taper=0.03,
    normalize="trace_max",
)


@pytest.mark.parametrize("misfit", sorted(misfit_names()))
@pytest.mark.parametrize("extra", ["windows", "weights"])
def test_default_adjoint_source_is_exact(misfit, extra, tmp_path):
    """End to end through Streams: the adjoint Stream is the derivative of the reported
    misfit, behind filter + mute + normalization + windows or user weights."""
    kw = dict(ALL_PROCESSING)
    if misfit == "amplitude":
        kw["normalize"] = "event"
    if extra == "windows":
        kw["windows"] = {"*": [[0.05, 0.45]], "XX.R01": [[0.0, 0.2], [0.2, 0.5]]}
    else:
        hook = tmp_path / "w.py"
        hook.write_text(WEIGHTS_FILE)
        kw["weights_function"] = f"{hook}:weights"
    pre = Default(params(misfit=misfit, components=["Z"], **kw))
    syn, obs = make_stream(0.0, seed=3), make_stream(0.003, seed=4)
    res = check_adjoint_source(
        pre, None, obs, syn, event=EVENT, receivers=RECEIVERS, n_directions=2, n_samples=3
    )
    assert res.value > 0
    assert res.max_error <= 1e-6, res.summary()


def test_weights_function_relative_to_base(tmp_path):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "first.py").write_text(WEIGHTS_FILE)
    pre = Default(params(weights_function="hooks/first.py:weights"), base=tmp_path)
    syn, obs = make_stream(0.0, seed=5), make_stream(0.002, seed=6)
    res = pre.evaluate(obs, syn, EVENT, RECEIVERS)
    ((a, b),) = res.extra["windows"]["XX.R02..UX"]
    t_first = arrival(RECEIVERS[2])
    assert a == pytest.approx(t_first - 0.06, abs=2 * DT)
    assert b == pytest.approx(t_first + 0.12, abs=2 * DT)
    with pytest.raises(ConfigError, match="does not exist"):
        Default(params(weights_function="hooks/nope.py:weights"), base=tmp_path)
    with pytest.raises(ConfigError, match="not a function"):
        Default(params(weights_function="hooks/first.py:nope"), base=tmp_path)


def test_weights_function_missing_component(tmp_path):
    (tmp_path / "w.py").write_text(
        "import numpy as np\n"
        "def weights(stream, receiver, sources):\n"
        "    return {'X': np.ones(stream[0].stats.npts)}\n"
    )
    pre = Default(params(weights_function=f"{tmp_path / 'w.py'}:weights"))
    with pytest.raises(DataError, match="no weights for component 'Z' of XX.R00..UZ"):
        pre.evaluate(make_stream(), make_stream(seed=1), EVENT, RECEIVERS)


def test_missing_station_or_component_is_named():
    syn = make_stream()
    obs = make_stream(seed=1)
    pre = Default(params())
    obs_missing = Stream([tr for tr in obs if tr.id != "XX.R02..UZ"])
    with pytest.raises(DataError, match=r"no observed data for synthetic traces XX\.R02\.\.UZ"):
        pre.evaluate(obs_missing, syn, EVENT, RECEIVERS)
    obs_extra = obs + make_stream(receivers=[Receiver("R09", 5.0, 0.0, "XX")], seed=2)
    with pytest.raises(
        DataError,
        match=r"observed traces without synthetics XX\.R09\.\.UX, "
        r"XX\.R09\.\.UZ",
    ):
        pre.evaluate(obs_extra, syn, EVENT, RECEIVERS)
    # an unselected component may be missing from the observed data
    only_z = Default(params(components=["UZ"]))
    obs_z = Stream([tr for tr in obs if tr.stats.channel == "UZ"])
    assert only_z.evaluate(obs_z, syn, EVENT, RECEIVERS).value > 0
    with pytest.raises(DataError, match="select none of the synthetic channels"):
        Default(params(components=["P"])).evaluate(obs, syn, EVENT, RECEIVERS)


def test_synthetics_must_share_a_time_axis():
    syn = make_stream()
    syn[3].stats.delta = 0.001
    with pytest.raises(DataError, match="share one time axis.*XX.R01..UZ"):
        Default(params()).evaluate(make_stream(), syn, EVENT, RECEIVERS)


# ----------------------------------------------------------------------- read_observed
@pytest.mark.parametrize("fmt", ["hdf5", "ascii", "sac", "su"])
def test_read_observed_puts_data_on_the_synthetic_axis(fmt, tmp_path):
    syn = make_stream(0.0, seed=1)
    # observed: finer sampling, starting earlier, longer, with an offset
    obs = make_stream(0.0, seed=0, dt=DT / 2, nt=2 * NT + 200, t0=-0.1)
    for tr in obs:
        tr.data = tr.data + np.float32(0.5)
    # (ASCII: a time column that starts below 0 is SPECFEM's unless told otherwise)
    pre = Default(params(data_format=fmt, ascii_time="file"))
    pre.write_traces(obs, tmp_path / "ev1")
    got = pre.read_observed(tmp_path, EVENT, syn)
    assert [tr.id for tr in got] == [tr.id for tr in syn]
    for o in got:
        assert o.stats.delta == DT and o.stats.npts == NT and o.stats.starttime == EPOCH
    # the noise-free pulse is reproduced (anti-alias filtering, interpolation, demean)
    t = DT * np.arange(NT)
    r = RECEIVERS[1]
    ta = arrival(r)
    pulse = (1 - 2 * ((t - ta) / 0.012) ** 2) * np.exp(-(((t - ta) / 0.012) ** 2))
    ux = got.select(station="R01", channel="UX")[0].data
    assert np.corrcoef(ux, pulse)[0, 1] > 0.98
    assert abs(np.mean(ux)) < 0.05


def test_read_observed_missing_station(tmp_path):
    syn = make_stream()
    obs = Stream([tr for tr in make_stream(seed=2) if tr.stats.station != "R03"])
    pre = Default(params(data_format="hdf5"))
    pre.write_traces(obs, tmp_path / "ev1")
    with pytest.raises(DataError, match=r"XX\.R03\.\.UX, XX\.R03\.\.UZ"):
        pre.read_observed(tmp_path, EVENT, syn)
    with pytest.raises(DataError, match="no observed data for event 'ev1'"):
        pre.read_observed(tmp_path / "other", EVENT, syn)


SPECFEM_STATIONS = [
    ("S000000", 243610.0, 278904.0),
    ("S000001", 338981.0, 177849.0),
    ("S000002", 164438.0, 294733.0),
    ("S000003", 92225.0, 368887.0),
    ("S000004", 290702.0, 246865.0),
]


def _specfem_synthetics(stations=SPECFEM_STATIONS) -> Stream:
    out = []
    for sta, x, z in stations:
        tr = Trace(np.zeros(5000, dtype=np.float32))
        tr.stats.network, tr.stats.station, tr.stats.channel = "AA", sta, "UY"
        tr.stats.delta = 0.06
        tr.stats.starttime = EPOCH
        tr.stats.coordinates = AttribDict(x=x, z=z)
        out.append(tr)
    return Stream(out)


def test_read_observed_specfem2d_su(tmp_path):
    """SPECFEM2D's SU file (dt header in ms) read as observed data, matched by order and
    checked against the receiver positions."""
    pre = Default(params(data_format="su"))
    event = Event("su", [PointSource(x=362079.06, z=61219.23)])
    syn = _specfem_synthetics()
    got = pre.read_observed(DATA, event, syn)  # DATA/su/ holds the event's files
    assert [tr.id for tr in got] == [tr.id for tr in syn]
    raw = io.read_su(DATA / "su" / "Uy_file_single_d.su", dt=0.06)
    for g, r in zip(got, raw, strict=True):
        np.testing.assert_allclose(g.data, r.data - np.mean(r.data.astype(np.float64)), atol=1e-12)
    moved = list(SPECFEM_STATIONS)
    moved[2] = ("S000002", 164438.0 + 500.0, 294733.0)
    with pytest.raises(DataError, match="does not sit at AA.S000002..UY"):
        pre.read_observed(DATA, event, _specfem_synthetics(moved))
    with pytest.raises(DataError, match="5 observed SU traces"):
        pre.read_observed(DATA, event, _specfem_synthetics(SPECFEM_STATIONS[:4]))


def test_write_and_read_traces(tmp_path):
    st = make_stream()
    pre = Default(params(data_format="ascii"))
    where = pre.write_traces(st, tmp_path / "ev1")
    back = pre.read_traces(where)
    assert sorted(tr.id for tr in back) == sorted(tr.id for tr in st)


def test_check_with_a_preprocess_and_another_misfit():
    pre = Default(params(filter="lowpass", max_freq=50.0, normalize="event"))
    syn, obs = make_stream(0.0, seed=7), make_stream(0.002, seed=8)
    # no event needed when no step uses the sources; the misfit can be swapped
    res = check_adjoint_source(pre, "envelope", obs, syn, n_directions=2, n_samples=2)
    assert res.max_error <= 1e-6, res.summary()
    assert res.value != pre.evaluate(obs, syn, EVENT, RECEIVERS).value
    assert pre.pipeline.misfit.name == "waveform"  # the preprocess itself is unchanged


def test_user_misfit_class_from_the_parameter_file(tmp_path, monkeypatch):
    (tmp_path / "my_misfits.py").write_text(
        "import numpy as np\n"
        "from seisgrad.preprocess.misfit import Misfit, MisfitValue\n"
        "class Quartic(Misfit):\n"
        "    name = 'test_quartic'\n"
        "    def __call__(self, synthetic, observed, dt):\n"
        "        r = synthetic - observed\n"
        "        return MisfitValue(float(np.sum(r**4)) * dt / 4, r**3 * dt)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from seisgrad.preprocess.misfit import MISFITS

    try:
        pre = Default(params(misfit="my_misfits:Quartic", filter="lowpass", max_freq=60.0))
        syn, obs = make_stream(0.0, seed=1), make_stream(0.002, seed=2)
        res = check_adjoint_source(
            pre, None, obs, syn, event=EVENT, receivers=RECEIVERS, n_directions=2, n_samples=2
        )
        assert res.max_error <= 1e-6, res.summary()
        # once imported, the class is also known by its registry name
        assert Default(params(misfit="test_quartic")).pipeline.misfit.name == "test_quartic"
    finally:
        MISFITS.pop("test_quartic", None)


@pytest.mark.parametrize("demean", [True, False])
def test_observed_offset_is_treated_alike_on_and_off_the_synthetic_axis(demean, tmp_path):
    """The observed data was demeaned only when it had to be aligned, so with
    ``demean: false`` a DC offset gave 75 on the synthetics' axis and 0.0145 one sample
    longer; now ``demean`` decides, whatever the axis."""
    syn = make_stream(0.0, seed=1)
    pre = Default(params(misfit="waveform", demean=demean))
    values = []
    for nt in (NT, NT + 1):
        obs = make_stream(0.004, seed=2, nt=NT + 1)
        for tr in obs:
            tr.data = tr.data[:nt] + np.float32(5.0)
        values.append(pre.evaluate(obs, syn, EVENT, RECEIVERS).value)
        pre.write_traces(obs, tmp_path / f"n{nt}" / "ev1")
        read = pre.read_observed(tmp_path / f"n{nt}", EVENT, syn)
        values.append(pre.evaluate(read, syn, EVENT, RECEIVERS).value)
    assert values == pytest.approx([values[0]] * 4, rel=1e-5)
    assert (values[0] > 10.0) is not demean


def test_masked_samples_are_refused_not_used():
    """Gaps (masked arrays, e.g. from Stream.merge) were used with their hidden values:
    masked samples holding 1e6 gave a misfit of 2.5e11."""
    syn = make_stream(0.0, seed=1)
    pre = Default(params(misfit="waveform"))
    for dt, nt in ((DT, NT), (DT / 2, 2 * NT)):  # on and off the synthetics' axis
        obs = make_stream(0.004, seed=2, dt=dt, nt=nt)
        data = obs[0].data.copy()
        data[nt // 2 :] = 1e6
        obs[0].data = np.ma.masked_array(data, mask=np.arange(nt) >= nt // 2)
        with pytest.raises(DataError, match=r"observed trace XX\.R00\.\.UX has \d+ masked"):
            pre.evaluate(obs, syn, EVENT, RECEIVERS)
    obs = make_stream(0.004, seed=2)
    value = pre.evaluate(obs, syn, EVENT, RECEIVERS).value
    obs[0].data = np.ma.masked_array(obs[0].data, mask=False)  # nothing masked: fine
    assert pre.evaluate(obs, syn, EVENT, RECEIVERS).value == value
    bad = make_stream(0.0, seed=1)
    bad[1].data = np.ma.masked_array(bad[1].data, mask=np.arange(NT) == 7)
    with pytest.raises(DataError, match=r"synthetic trace XX\.R00\.\.UZ has 1 masked"):
        pre.evaluate(make_stream(0.004, seed=2), bad, EVENT, RECEIVERS)


def test_documented_weights_hook_uses_times_after_the_simulation_start(tmp_path):
    """The docs said ``tr.times()`` were seconds after the simulation start, but they
    count from the first sample: with t0 = -0.2 s the documented hook put its window
    0.2 s late. It now uses ``tr.times("timestamp")``."""
    from seisgrad.preprocess.processing import TraceContext
    from seisgrad.preprocess.weights import WeightsHook

    doc = (Path(__file__).resolve().parents[2] / "docs" / "preprocess.md").read_text()
    code = next(b for b in doc.split("```python")[1:] if "VELOCITY = " in b)
    (tmp_path / "hook.py").write_text(code.split("```")[0])
    hook = WeightsHook(f"{tmp_path / 'hook.py'}:first_arrival")
    rec = Receiver("R00", 300.0, 0.0, "XX")
    src = PointSource(x=0.0, z=0.0)
    ctx = TraceContext(dt=0.001, nt=800, t0=-0.2, ids=["XX.R00..UZ"], receivers=[rec])
    ctx.sources = [src]
    seen = []

    def spy(stream, receiver, sources):
        seen.append(stream[0].times("timestamp")[0])
        return hook.func(stream, receiver, sources)

    w = WeightsHook(spy).weights(ctx, np.zeros((1, 800)))[0][0]
    assert seen == [pytest.approx(-0.2)]
    t_first = 300.0 / 1500.0 + src.stf.delay
    t = ctx.times
    assert np.all(w[np.abs(t - t_first) < 0.02] == 1.0)
    assert not np.any(w[t < t_first - 0.05])


def test_messages_say_what_is_wrong():
    syn, obs = make_stream(0.0, seed=1), make_stream(0.004, seed=2)
    # a window between two samples was reported as lying outside the time axis
    pre = Default(params(windows=[[0.1001, 0.1019]]))
    with pytest.raises(DataError, match=r"holds no sample: it lies between two samples"):
        pre.evaluate(obs, syn, EVENT, RECEIVERS)
    pre = Default(params(windows=[[5.0, 6.0]]))
    with pytest.raises(DataError, match=r"lies outside its time axis \[0, 0.998\]"):
        pre.evaluate(obs, syn, EVENT, RECEIVERS)
    # a malformed list in a windows mapping was "expected ... mapping ..., got dict"
    with pytest.raises(ConfigError, match=r"windows\['\*'\]: each window must be .* got 0.1"):
        params(windows={"*": [0.1, 0.5]})
    assert params(windows={"*": [["1e-3", 0.5]]}).windows == {"*": [["1e-3", 0.5]]}
    Default(params(windows={"*": [["1e-3", 0.5]]}))  # YAML reads 1e-3 as a string
    # an empty synthetic Stream: "components None select none of ... []"
    with pytest.raises(DataError, match="the synthetic Stream holds no traces"):
        Default(params()).evaluate(obs, Stream(), EVENT, RECEIVERS)
    # non-finite observed samples: the traces are named
    bad = make_stream(0.004, seed=2)
    bad[3].data[10] = np.nan
    with pytest.raises(DataError, match=r"non-finite values: XX\.R01\.\.UZ"):
        Default(params()).evaluate(bad, syn, EVENT, RECEIVERS)
    bad = make_stream(0.004, seed=2, dt=DT / 2, nt=2 * NT)
    bad[1].data[10] = np.inf
    with pytest.raises(DataError, match=r"XX\.R00\.\.UZ holds 1 non-finite samples \(inf at"):
        Default(params()).evaluate(bad, syn, EVENT, RECEIVERS)


@pytest.mark.parametrize("source_t0", [None, 0.08])
def test_specfem_ascii_data_start_at_the_simulation_start(tmp_path, caplog, source_t0):
    """SPECFEM writes the time from its source time (the first sample at -t0): such
    data line up with synthetics whose sources have the same t0, and a different t0
    is a warning naming the offset (they were placed t0 too early, silently)."""
    import logging

    from seisgrad.solver.acquisition import SourceTimeFunction

    stf = SourceTimeFunction(kind="ricker", f0=25.0, t0=source_t0)
    event = Event("ev1", [PointSource(x=0.0, z=-100.0, stf=stf)])
    syn = make_stream(0.0, seed=1)
    obs = syn.copy()
    for tr in obs:
        tr.stats.starttime = EPOCH - 1.2 / 25.0  # as SPECFEM: t0 = 1.2 / f0
    pre = Default(params(data_format="ascii", demean=False))
    pre.write_traces(obs, tmp_path / "ev1")
    for f in (tmp_path / "ev1").iterdir():  # as SPECFEM writes them: no comment line
        f.write_text("".join(ln for ln in f.read_text().splitlines(True) if ln[0] != "#"))
    with caplog.at_level(logging.WARNING, logger="seisgrad"):
        got = pre.read_observed(tmp_path, event, syn)
    for o, s in zip(got, syn, strict=True):
        np.testing.assert_allclose(o.data, s.data, rtol=0, atol=1e-6 * np.abs(s.data).max())
    warned = [r.getMessage() for r in caplog.records if "SPECFEM traces" in r.getMessage()]
    if source_t0 is None:  # the default 1.2 / f0, as SPECFEM's
        assert not warned
    else:
        assert len(warned) == 1 and "0.032 s apart" in warned[0], warned


def test_su_data_with_two_channels_of_one_component(tmp_path):
    """record: [VZ, UZ] exports Uz_file_single_v.su and Uz_file_single_d.su; reading
    them back named the traces by order within the component Z, across both files
    (refused, or paired with other receivers' data)."""
    syn = make_stream(0.0, seed=4, channels=("VZ", "UZ", "P"))
    pre = Default(params(data_format="su", demean=False))
    pre.write_traces(syn, tmp_path / "ev1")
    assert sorted(p.name for p in (tmp_path / "ev1").iterdir()) == [
        "Up_file_single_p.su",
        "Uz_file_single_d.su",
        "Uz_file_single_v.su",
    ]
    got = pre.read_observed(tmp_path, EVENT, syn)
    for o, s in zip(got, syn, strict=True):
        assert o.id == s.id
        np.testing.assert_array_equal(o.data, s.data.astype(np.float64))
    assert pre.evaluate(got, syn, EVENT, RECEIVERS).value == 0.0


@pytest.mark.parametrize(
    ("params", "warns"),
    [
        ({}, True),
        ({"components": ["P"]}, False),
        ({"components": ["VX", "VZ"]}, False),
        ({"components": ["P", "Z"]}, True),
        ({"normalize": "trace_l2"}, False),
        ({"normalize": "event"}, True),  # one factor for all traces balances nothing
        ({"misfit": "envelope"}, True),
        ({"misfit": "traveltime"}, False),
        ({"misfit": "correlation"}, False),
    ],
)
def test_check_channels_warns_when_an_amplitude_misfit_mixes_units(
    params: dict, warns: bool
) -> None:
    """With record [P, VX, VZ] and the waveform misfit the velocity traces made 4e-13 of
    the misfit, silently."""
    pre = Default(from_mapping(DefaultParameters, params))
    w = pre.check_channels(("P", "VX", "VZ"))
    assert bool(w) == warns, w
    if warns:
        assert "P (Pa)" in w[0] and "(m/s)" in w[0] and "normalize" in w[0]
    if "components" not in params:
        assert pre.check_channels(("VX", "VZ")) == []


def test_check_channels_trusts_a_weights_function(tmp_path: Path) -> None:
    (tmp_path / "w.py").write_text("def f(stream, receiver, sources):\n    return None\n")
    params = {"weights_function": f"{tmp_path / 'w.py'}:f"}
    pre = Default(from_mapping(DefaultParameters, params))
    assert pre.check_channels(("P", "VX", "VZ")) == []  # it may weigh the channels


def test_the_solver_says_what_it_records() -> None:
    from seisgrad.solver.fd2d import FD2D

    assert FD2D(from_mapping(FD2D.Parameters, {})).recorded_channels() == ("P", "VX", "VZ")
    elastic = FD2D(from_mapping(FD2D.Parameters, {"materials": "elastic"}))
    assert elastic.recorded_channels() == ("VX", "VZ")
    chosen = FD2D(from_mapping(FD2D.Parameters, {"record": ["VZ", "P", "VZ"]}))
    assert chosen.recorded_channels() == ("VZ", "P")


def test_check_channels_refuses_components_that_select_nothing_recorded() -> None:
    """components: [UZ] in an acoustic run passed check; the forward simulations ran,
    then evaluate_objective_function failed."""
    pre = Default(from_mapping(DefaultParameters, {"components": ["UZ"]}))
    with pytest.raises(
        ConfigError, match=r"\['UZ'\] selects none of the recorded channels P, VX, VZ"
    ):
        pre.check_channels(("P", "VX", "VZ"))
    assert (
        Default(from_mapping(DefaultParameters, {"components": ["Z"]})).check_channels(
            ("P", "VX", "VZ")
        )
        == []
    )
