"""Trace plots: PNGs are written, and the figures hold the expected axes and lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.patches import Polygon, Rectangle

from seisgrad.config import from_mapping
from seisgrad.errors import DataError
from seisgrad.preprocess import io
from seisgrad.preprocess.default import Default, DefaultParameters
from seisgrad.preprocess.plot import (
    main,
    plot_event,
    plot_record_section,
    plot_traces,
    record_section_figure,
    trace_figure,
)
from tests.preprocess.test_default import EVENT, RECEIVERS, make_stream

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == PNG_MAGIC


@pytest.fixture
def streams():
    syn, obs = make_stream(0.0, seed=1), make_stream(0.004, seed=2)
    pre = Default(
        from_mapping(DefaultParameters, {"misfit": "traveltime", "windows": [[0.05, 0.4]]})
    )
    res = pre.evaluate(obs, syn, EVENT, RECEIVERS)
    return obs, syn, res


def _labels(ax):
    return [ln.get_label() for ln in ax.get_lines()]


def test_trace_figure_axes_and_lines(streams):
    obs, syn, res = streams
    fig = trace_figure(obs, syn, res.adjoint, res.extra["windows"], receiver="XX.R01")
    axes = fig.get_axes()
    assert len(axes) == 4  # UX, adj UX, UZ, adj UZ
    assert _labels(axes[0]) == ["observed", "synthetic"]
    assert _labels(axes[1]) == ["adjoint source"]
    assert axes[0].get_title(loc="left") == "XX.R01..UX"
    # the window is shaded on every axis
    for ax in axes:
        shaded = [p for p in ax.patches if isinstance(p, (Rectangle, Polygon))]
        assert len(shaded) == 1
    line = axes[1].get_lines()[0]
    np.testing.assert_array_equal(
        line.get_ydata(), res.adjoint.select(station="R01", channel="UX")[0].data
    )
    fig_no_adj = trace_figure(obs, syn, None, None, receiver="XX.R00")
    assert len(fig_no_adj.get_axes()) == 2
    assert not fig_no_adj.get_axes()[0].patches


def test_plot_traces_writes_one_png_per_receiver(streams, tmp_path):
    obs, syn, res = streams
    paths = plot_traces(obs, syn, res.adjoint, res.extra["windows"], tmp_path / "figs")
    assert [p.name for p in paths] == [f"XX.R{i:02d}.png" for i in range(4)]
    assert all(_is_png(p) for p in paths)
    only = plot_traces(obs, syn, None, [[0.1, 0.2]], tmp_path, receivers=["R02"], prefix="e_")
    assert [p.name for p in only] == ["e_XX.R02.png"]
    with pytest.raises(DataError, match="none of the receivers"):
        plot_traces(obs, syn, None, None, tmp_path, receivers=["R99"])


def test_record_section_figure(streams):
    obs, syn, res = streams
    fig = record_section_figure(
        obs, syn, res.adjoint, res.extra["windows"], event=EVENT, title="ev1"
    )
    axes = fig.get_axes()
    assert len(axes) == 4  # (obs/syn, adjoint) x (UX, UZ)
    top = axes[0]
    assert top.get_title() == "UX"
    assert len(top.get_lines()) == 2 * len(RECEIVERS)
    assert top.get_ylabel() == "offset (m)"
    labels = [lbl for lbl in _labels(top) if not lbl.startswith("_")]
    assert labels == ["observed", "synthetic"]
    assert len(axes[2].get_lines()) == len(RECEIVERS)  # adjoint sources of UX
    assert len(top.collections) == len(RECEIVERS)  # one shaded window per trace
    # traces sit at their offsets
    offsets = sorted(np.hypot(r.x, r.z + 100.0) for r in RECEIVERS)
    centers = sorted(float(np.median(ln.get_ydata())) for ln in top.get_lines()[1::2])
    np.testing.assert_allclose(centers, offsets, atol=0.5 * (offsets[1] - offsets[0]))
    assert fig._suptitle.get_text() == "ev1"


def test_plot_record_section_png(streams, tmp_path):
    obs, syn, res = streams
    path = plot_record_section(obs, syn, res.adjoint, tmp_path / "a" / "rs.png", title="x")
    assert _is_png(path)
    path2 = plot_record_section(None, syn, None, tmp_path / "syn_only.png")
    assert _is_png(path2)
    with pytest.raises(DataError, match="no synthetic traces"):
        plot_record_section(obs, syn[:0], None, tmp_path / "none.png")


def test_plot_event(tmp_path):
    syn, obs = make_stream(0.0, seed=1), make_stream(0.004, seed=2)
    pre = Default(
        from_mapping(
            DefaultParameters,
            {
                "misfit": "waveform",
                "filter": "lowpass",
                "max_freq": 40.0,
                "windows": {"*": [[0.05, 0.45]]},
            },
        )
    )
    (rs,) = plot_event(pre, obs, syn, EVENT, RECEIVERS, tmp_path / "ev1.png")
    assert _is_png(rs)
    per = plot_event(pre, obs, syn, EVENT, RECEIVERS, tmp_path / "per", per_receiver=True)
    assert len(per) == len(RECEIVERS) and all(_is_png(p) for p in per)


def test_command_line(streams, tmp_path, capsys):
    obs, syn, res = streams
    io.write_hdf5(syn, tmp_path / "syn.h5")
    io.write_hdf5(obs, tmp_path / "obs.h5")
    io.write_hdf5(res.adjoint, tmp_path / "adj.h5")
    assert (
        main(
            [
                "--synthetic",
                str(tmp_path / "syn.h5"),
                "--observed",
                str(tmp_path / "obs.h5"),
                "--adjoint",
                str(tmp_path / "adj.h5"),
                "--window",
                "0.1",
                "0.3",
                "-o",
                str(tmp_path / "rs.png"),
            ]
        )
        == 0
    )
    assert _is_png(tmp_path / "rs.png")
    assert (
        main(
            [
                "--synthetic",
                str(tmp_path / "syn.h5"),
                "--per-receiver",
                "-o",
                str(tmp_path / "per"),
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "per").glob("*.png"))) == len(RECEIVERS)
    assert "rs.png" in capsys.readouterr().out
