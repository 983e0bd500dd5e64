"""``seisgrad.build``: what the fingerprint of a setup holds."""

from __future__ import annotations

from pathlib import Path

from seisgrad.build import build_from_config, content_key
from tests.workflow.test_migration import small_setup

WEIGHTS = """
def weights(stream, receiver, sources):
    return {tr.id: 1.0 + {scale} * 0.0 for tr in stream}
"""


def _fingerprint(pfile: Path) -> dict:
    return build_from_config(pfile).workflow.fingerprint


def test_editing_the_weights_function_file_changes_the_fingerprint(tmp_path) -> None:
    """The weights function's file is user code that changes results: like the files of
    the path_* inputs, its content is part of the fingerprint, attributed to the
    preprocessing (so a resumed run recomputes the misfits and adjoint sources)."""
    (tmp_path / "w.py").write_text(WEIGHTS.replace("{scale}", "1.0"))
    pfile = small_setup(tmp_path, weights_function="w.py:weights")
    key = content_key("weights_function")
    before = _fingerprint(pfile)
    assert before["weights_function"] == "w.py:weights"
    assert before[key] is not None
    assert _fingerprint(pfile)[key] == before[key]  # same file, same hash
    (tmp_path / "w.py").write_text(WEIGHTS.replace("{scale}", "2.0"))
    assert _fingerprint(pfile)[key] != before[key]
    labels = build_from_config(pfile).workflow.fingerprint_labels
    assert "preprocess" in labels[key] and "weights_function" in labels[key]


def test_a_weights_function_from_a_module_has_no_file_hash(tmp_path) -> None:
    pfile = small_setup(tmp_path, weights_function="json:loads")
    assert content_key("weights_function") not in _fingerprint(pfile)
    pfile = small_setup(tmp_path)
    assert content_key("weights_function") not in _fingerprint(pfile)


def test_paths_with_a_tilde_are_hashed_where_they_are_read(tmp_path, monkeypatch) -> None:
    """'~/models/init.h5' is read from the home folder, and its content is hashed from
    there: an edited model makes the next submit run again (it recorded None, a
    missing file, and kept the stale gradient)."""
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    run = tmp_path / "run"
    run.mkdir()
    pfile = small_setup(run, path_model_init="~/models/init.h5")
    (run / "init.h5").rename(home / "models" / "init.h5")
    key = content_key("path_model_init")
    before = _fingerprint(pfile)[key]
    assert before is not None
    (home / "models" / "init.h5").write_bytes(b"changed")
    assert _fingerprint(pfile)[key] not in (None, before)


def test_ring_receivers_rotate_and_keys_of_another_layout_are_refused(tmp_path) -> None:
    """A YAML ring could not be rotated (start_angle was refused), and start/end given
    to a ring were accepted and ignored."""
    import math
    import re

    import pytest

    from seisgrad.errors import ConfigError

    ring = {"kind": "ring", "n": 4, "radius": 100.0, "center": [0.0, 0.0]}
    pfile = small_setup(tmp_path, receivers={**ring, "start_angle": 45.0})
    recs = build_from_config(pfile).workflow.receivers
    assert math.degrees(math.atan2(recs[0].z, recs[0].x)) == pytest.approx(45.0)
    assert recs[0].x == pytest.approx(100.0 / math.sqrt(2.0))
    for extra, message in (
        (
            {"start": [50.0, 50.0], "end": [9.0, 9.0]},
            "do not use start, end (keys of kind 'line')",
        ),
        ({"kind": "line", "start": [0.0, 0.0], "end": [90.0, 0.0]}, "do not use radius"),
        ({"kind": "stations"}, "do not use n, radius"),
    ):
        pfile = small_setup(tmp_path, receivers={**ring, **extra})
        with pytest.raises(ConfigError, match=re.escape(message)):
            build_from_config(pfile)


def test_path_stations_with_another_receiver_layout_is_refused(tmp_path) -> None:
    """path_stations given beside the default ring was silently unused; a binary file
    given as STATIONS was a UnicodeDecodeError traceback."""
    import pytest

    from seisgrad.errors import ConfigError, DataError

    (tmp_path / "STATIONS").write_text("S0001 AA 0.0 0.0 0.0 0.0\n")
    pfile = small_setup(tmp_path, path_stations="STATIONS")
    with pytest.raises(ConfigError, match="path_stations is set, but receivers of kind"):
        build_from_config(pfile).workflow.check()
    (tmp_path / "STATIONS").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    pfile = small_setup(tmp_path, path_stations="STATIONS", receivers={"kind": "stations"})
    with pytest.raises(DataError, match="not a text STATIONS file"):
        _ = build_from_config(pfile).workflow.receivers
