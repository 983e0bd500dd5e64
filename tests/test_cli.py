"""The command line: set-up, configure/par/check round trips and bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml


def _one_line_error(res) -> str:
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in res.stderr
    return lines[0]


def test_setup_configure_check_roundtrip(tmp_path, run_cli):
    res = run_cli(
        "setup",
        "--workflow",
        "tests.fakes:ToyWorkflow",
        "--solver",
        "tests.fakes:ToySolver",
        "--preprocess",
        "tests.fakes:ToyPreprocess",
    )
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "parameters.yaml").read_text()
    assert "workflow: tests.fakes:ToyWorkflow" in text
    # setup refuses to overwrite
    _one_line_error(run_cli("setup"))

    res = run_cli("configure")
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "parameters.yaml").read_text()
    # every parameter of every module, with its doc as a comment
    for key, doc in [
        ("toy_scale", "scale of the toy"),
        ("toy_offset", "offset added"),
        ("slow_sleep", "sleep of the slow sources"),
        ("stop_on_error", "first failed source"),
        ("path_model_init", "initial (starting) model"),
        ("ntask", "number of events"),
    ]:
        assert f"\n{key}:" in text
        assert doc in text
    # set values, keep comments
    assert run_cli("par", "toy_scale", "2.5").returncode == 0
    events = [{"name": "a", "sources": [{"x": 0, "z": 0}]}]
    res = run_cli("par", "events", json.dumps(events))
    assert res.returncode == 0, res.stderr
    res = run_cli(
        "par",
        "receivers",
        json.dumps({"kind": "points", "points": [{"station": "R", "x": 1, "z": 2}]}),
    )
    assert res.returncode == 0, res.stderr
    text2 = (tmp_path / "parameters.yaml").read_text()
    assert "# scale of the toy 'simulation'" in text2
    assert yaml.safe_load(text2)["toy_scale"] == 2.5
    assert run_cli("par", "toy_scale").stdout.strip() == "2.5"
    # configure again keeps the values
    assert run_cli("configure").returncode == 0
    data = yaml.safe_load((tmp_path / "parameters.yaml").read_text())
    assert data["toy_scale"] == 2.5
    assert data["events"][0]["name"] == "a"
    res = run_cli("check")
    assert res.returncode == 0, res.stderr
    assert "1 source(s), 1 receiver(s)" in res.stdout

    # swap the solver: its own parameters appear, the old one's value is kept as a comment
    assert run_cli("par", "solver", "tests.fakes:OtherToySolver").returncode == 0
    res = run_cli("check")
    assert "toy_scale" in _one_line_error(res)
    res = run_cli("configure")
    assert res.returncode == 0
    assert "toy_scale" in res.stderr
    text3 = (tmp_path / "parameters.yaml").read_text()
    data = yaml.safe_load(text3)
    assert "toy_scale" not in data and data["other_knob"] == 3
    assert "# toy_scale: 2.5" in text3
    assert data["events"][0]["name"] == "a"
    assert run_cli("check").returncode == 0


def test_par_rejects_bad_values_and_keeps_file(toy_dir, run_cli):
    before = (toy_dir / "parameters.yaml").read_text()
    assert run_cli("par", "toy_offset").stdout.strip() == "0.0  # default (not set in the file)"
    line = _one_line_error(run_cli("par", "sleep", "abc"))
    assert "parameter 'sleep': expected a number" in line
    line = _one_line_error(run_cli("par", "slep", "1"))
    assert "did you mean 'sleep'" in line
    assert (toy_dir / "parameters.yaml").read_text() == before


@pytest.mark.parametrize(
    "edit, expected",
    [
        ({"slep": 1.0}, "unknown parameter 'slep' in the parameter file; did you mean 'sleep'?"),
        ({"sleep": "fast"}, "parameter 'sleep': expected a number, got 'fast'"),
        ({"ntask": 0}, "parameter 'ntask': 0 is below the minimum 1"),
        ({"ntask": 9}, "ntask = 9 but only 3 events are defined"),
        ({"system": "workstatoin"}, "unknown system 'workstatoin' (did you mean 'workstation'?)"),
        ({"receivers": {"kind": "grid"}}, "parameter 'receivers.kind': 'grid' is not allowed"),
        ({"events": [{"name": "quiet", "sources": []}]}, "event 'quiet' has no point sources"),
        (
            {"path_model_init": "nope.h5", "path_mask": "mask.h5", "path_data": "obs"},
            "input paths: path_model_init = ",
        ),
    ],
)
def test_bad_input_gives_one_line(toy_dir, run_cli, edit, expected):
    data = yaml.safe_load((toy_dir / "parameters.yaml").read_text())
    data.update(edit)
    (toy_dir / "parameters.yaml").write_text(yaml.safe_dump(data))
    for cmd in ("check", "submit"):
        line = _one_line_error(run_cli(cmd))
        assert expected in line, line
    if "path_mask" in edit:  # all missing paths reported together
        assert "path_mask" in line and "path_data" in line
    res = run_cli("--debug", "check")
    assert res.returncode != 0
    assert "Traceback" in res.stderr


def test_missing_and_broken_parameter_files(tmp_path, run_cli):
    line = _one_line_error(run_cli("check"))
    assert "parameters.yaml not found" in line and "seisgrad setup" in line
    (tmp_path / "parameters.yaml").write_text("workflow: [unclosed\n")
    line = _one_line_error(run_cli("check"))
    assert "invalid YAML" in line
    (tmp_path / "parameters.yaml").write_text("solver: fd2d\n")
    line = _one_line_error(run_cli("check"))
    assert "must name the module(s): workflow, system, preprocess" in line


def test_submit_status_clean(toy_dir, run_cli):
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert json.loads((toy_dir / "output" / "total.json").read_text())["total"] > 0
    res = run_cli("status")
    assert "simulate" in res.stdout and "(3 done)" in res.stdout
    rows = json.loads(run_cli("status", "--json").stdout)
    assert [r["status"] for r in rows] == ["done"] * 4
    res = run_cli("print", "tasks")
    assert "2. simulate" in res.stdout and "per source" in res.stdout
    line = _one_line_error(run_cli("submit", "--stop-after", "nothing"))
    assert "tasks are: prepare, simulate, square, reduce" in line
    # clean refuses while a submit holds the run lock (here: this process)
    from seisgrad.workflow.state import State

    with State(toy_dir).run_lock():
        line = _one_line_error(run_cli("clean", "--output", "--yes"))
        assert "another 'seisgrad submit' is running" in line
        assert (toy_dir / "scratch").exists() and (toy_dir / "output").exists()
    # clean keeps output unless asked; asking needs --yes without a terminal
    assert run_cli("clean").returncode == 0
    assert not (toy_dir / "scratch").exists() and (toy_dir / "output").exists()
    _one_line_error(run_cli("clean", "--output"))
    assert run_cli("clean", "--output", "--yes").returncode == 0
    assert not (toy_dir / "output").exists()


def test_stop_after_and_resume(toy_dir, run_cli):
    assert run_cli("submit", "--stop-after", "simulate").returncode == 0
    assert not (toy_dir / "output").exists()
    runs = (toy_dir / "scratch" / "runs.log").read_text().splitlines()
    assert runs == ["simulate s000", "simulate s001", "simulate s002"]
    assert run_cli("submit").returncode == 0
    runs = (toy_dir / "scratch" / "runs.log").read_text().splitlines()
    assert [r for r in runs if r.startswith("simulate")] == runs[:3]
    assert len(runs) == 6


def test_changed_parameters_are_detected(toy_dir, run_cli):
    assert run_cli("submit", "--stop-after", "simulate").returncode == 0
    assert run_cli("par", "toy_scale", "3.0").returncode == 0
    line = _one_line_error(run_cli("submit"))
    assert "parameters changed" in line and "toy_scale (1.0 -> 3.0)" in line
    # a parameter that does not affect results may change
    assert run_cli("par", "toy_scale", "1.0").returncode == 0
    assert run_cli("par", "sleep", "0.01").returncode == 0
    assert run_cli("submit").returncode == 0
    # --restart starts over
    assert run_cli("par", "toy_scale", "3.0").returncode == 0
    assert run_cli("submit", "--restart").returncode == 0


def test_print_modules(run_cli, tmp_path: Path):
    res = run_cli("print", "modules")
    assert "solver      fd2d" in res.stdout
    assert "system      slurm" in res.stdout


# --------------------------------------------------------------------------- review fixes
def _write(folder: Path, **values: object) -> None:
    from tests.fakes import toy_parameter_text

    (folder / "parameters.yaml").write_text(toy_parameter_text(**values))


@pytest.mark.parametrize("error", ["RuntimeError", "SolverError"])
def test_failed_source_is_one_error_line_and_its_traceback_only_in_its_log(
    tmp_path, run_cli, error
):
    _write(tmp_path, fail_sources=["s001"], fail_error=error)
    res = run_cli("submit")
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stderr.count("toy failure in s001") == 1, res.stderr  # said once
    errors = [line for line in res.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("error: task simulate:"), res.stderr
    log = tmp_path / "logs" / "simulate" / "s001.log"
    assert "s001" in errors[0] and "toy failure in s001" in errors[0]
    assert f"log {log}" in errors[0]
    assert "Traceback" in log.read_text()
    # the run and task logs name the failure without the traceback
    assert "Traceback" not in (tmp_path / "logs" / "simulate.log").read_text()
    assert "toy failure in s001" in (tmp_path / "logs" / "simulate.log").read_text()


def test_error_in_a_task_names_the_task(toy_dir, run_cli):
    _write(toy_dir, fail_reduce=True)
    res = run_cli("submit")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if "error" in line.lower()]
    assert errors == ["error: task reduce failed: toy reduction failed"], res.stderr


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_during_submit_is_one_line_and_exit_130(tmp_path, signame):
    """Ctrl-C, and SIGTERM as Ctrl-C (it ended a foreground submit with no message, exit
    status 143: found by an acceptance sweep)."""
    import re
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import cli_env, start_submit

    _write(tmp_path, slow_sources=["s001"], slow_sleep=60.0)
    proc = start_submit(tmp_path, stderr=subprocess.PIPE)
    running = tmp_path / "state" / "simulate" / "s001.json"
    deadline = time.time() + 60
    while not (running.exists() and json.loads(running.read_text())["status"] == "running"):
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("source s001 never started")
        time.sleep(0.1)
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: interrupted; finished work is kept, run 'seisgrad submit' to resume"
    ], err
    assert json.loads(running.read_text())["error"] == "interrupted"
    # status says so (not 'failed'), for the source and its task
    status = subprocess.run(
        [sys.executable, "-m", "seisgrad.cli", "status"],
        cwd=tmp_path, capture_output=True, text=True, env=cli_env(), timeout=120,
    ).stdout  # fmt: skip
    assert re.search(r"^simulate +interrupted", status, re.M), status
    assert re.search(r"^ +s001 +interrupted", status, re.M), status
    assert "failed" not in status, status


def test_closed_stdout_pipe_exits_quietly(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import cli_env

    read, write = os.pipe()
    os.close(read)  # the reader has gone, as after '| head -1'
    try:
        res = subprocess.run(
            [sys.executable, "-m", "seisgrad.cli", "print", "modules"],
            cwd=tmp_path,
            env=cli_env(),
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)
    assert res.returncode == 141
    assert res.stderr == ""


def test_repeated_key_is_an_error_everywhere(toy_dir, run_cli):
    p = toy_dir / "parameters.yaml"
    lines = p.read_text().splitlines()
    text = "\n".join(["sleep: 0.5", *lines, "sleep: 0.25"]) + "\n"
    p.write_text(text)
    last = len(lines) + 2
    for args in (("check",), ("submit",), ("par", "sleep"), ("par", "sleep", "1")):
        line = _one_line_error(run_cli(*args))
        assert f"key 'sleep' is repeated (lines 1 and {last})" in line, line
    assert p.read_text() == text
    # nested mappings too
    _write(toy_dir, receivers={"kind": "points", "points": []})
    text = p.read_text().replace("kind: points", "kind: points\n  kind: ring")
    p.write_text(text)
    assert "key 'kind' is repeated" in _one_line_error(run_cli("check"))


def test_parameter_file_not_utf8_or_a_folder(tmp_path, run_cli):
    (tmp_path / "parameters.yaml").write_bytes(b"workflow: migration\n# caf\xe9\n")
    line = _one_line_error(run_cli("check"))
    assert "is not UTF-8 text (byte 0xe9 on line 2)" in line
    line = _one_line_error(run_cli("check", "-p", str(tmp_path)))
    assert f"parameter file {tmp_path} is a directory" in line


def test_non_finite_float_is_rejected(toy_dir, run_cli):
    for value in (".nan", ".inf"):
        line = _one_line_error(run_cli("par", "sleep", value))
        assert f"parameter 'sleep': {value} is not allowed; give a finite number" in line
    data = yaml.safe_load((toy_dir / "parameters.yaml").read_text())
    data["sleep"] = float("nan")
    (toy_dir / "parameters.yaml").write_text(yaml.safe_dump(data))
    assert "finite number" in _one_line_error(run_cli("check"))


def test_key_of_another_module_names_that_module(toy_dir, run_cli):
    data = yaml.safe_load((toy_dir / "parameters.yaml").read_text())
    data["nproc"] = 2
    (toy_dir / "parameters.yaml").write_text(yaml.safe_dump(data))
    line = _one_line_error(run_cli("check"))
    assert "it is a parameter of system 'mpi'/'slurm', not of system 'workstation'" in line
    line = _one_line_error(run_cli("par", "tasktime", "5"))
    assert "it is a parameter of system 'slurm', not of system 'workstation'" in line


def test_unknown_key_lists_valid_keys_with_did_you_mean(toy_dir, run_cli):
    line = _one_line_error(run_cli("par", "slep", "1"))
    assert "did you mean 'sleep'? valid keys: " in line
    assert "sleep" in line.split("valid keys: ")[1] and "more)" in line


def test_par_shows_the_default_it_replaces(toy_dir, run_cli):
    res = run_cli("par", "sleep", "0.5")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "sleep: 0.0 (default) -> 0.5"
    assert run_cli("par", "sleep", "0.25").stdout.strip() == "sleep: 0.5 -> 0.25"
    assert run_cli("par", "ntask", "null").stdout.strip() == "ntask: null (default) -> null"


def test_par_module_swap_names_the_keys_left_over(toy_dir, run_cli):
    assert run_cli("par", "toy_scale", "2.0").returncode == 0
    res = run_cli("par", "solver", "tests.fakes:OtherToySolver")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "solver: tests.fakes:ToySolver -> tests.fakes:OtherToySolver"
    assert res.stderr.startswith("note: ") and len(res.stderr.splitlines()) == 1
    assert "toy_scale" in res.stderr and "seisgrad configure" in res.stderr
    # nothing left over: no note
    res = run_cli("par", "solver", "tests.fakes:ToySolver")
    assert res.returncode == 0 and res.stderr == ""


def test_check_of_a_fresh_file_reports_every_problem(tmp_path, run_cli):
    assert run_cli("setup").returncode == 0
    line = _one_line_error(run_cli("check"))
    assert "path_model_init is not set" in line
    assert "no sources: give 'events'" in line
    assert "observed data: set path_data" in line
    assert run_cli("configure").returncode == 0
    line = _one_line_error(run_cli("check"))
    assert "path_model_init is not set" in line and "no sources" in line


def test_help_hides_run_source(run_cli):
    res = run_cli("--help")
    assert res.returncode == 0
    assert "run-source" not in res.stdout and "SUPPRESS" not in res.stdout


def test_print_tasks_shows_whole_first_paragraph(run_cli):
    from tests.conftest import ROOT

    res = run_cli("print", "tasks", "-p", str(ROOT / "parameters.yaml"))
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if "write_misfit" in x)
    assert line.rstrip().endswith("to path_output/misfit.json."), line


def test_plot_output_to_a_folder_or_under_a_file_is_one_line(tmp_path, run_cli):
    from seisgrad.model import Grid, homogeneous, write_model

    write_model(tmp_path / "m.h5", homogeneous(Grid(5, 4, 10.0, 10.0), vp=1.0))
    (tmp_path / "afile").write_text("x")
    (tmp_path / "pics").mkdir()
    line = _one_line_error(run_cli("plot", "model", "m.h5", "-o", "pics"))
    assert "is a folder" in line
    line = _one_line_error(run_cli("plot", "model", "m.h5", "-o", "afile/m.png"))
    assert "is a file, not a folder" in line


def test_log_file_write_errors_are_one_warning_not_tracebacks(toy_dir, run_cli):
    logs = toy_dir / "logs" / "simulate"
    logs.mkdir(parents=True)
    (logs / "s001.log").symlink_to("/dev/full")  # every write: No space left on device
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "Logging error" not in res.stderr and "Traceback" not in res.stderr
    assert res.stderr.count("warning: cannot write the log file") == 1


def test_os_error_in_a_task_is_one_line_naming_the_task(toy_dir, run_cli):
    # 'prepare' cannot make the scratch folder under a file (a scratch folder that is
    # itself a file is refused before any task runs)
    (toy_dir / "blocked").write_text("not a folder")
    _write(toy_dir, path_scratch="blocked/scratch")
    res = run_cli("submit")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert "Traceback" not in res.stderr
    assert lines[-1].startswith("error: task prepare failed: Not a directory:"), res.stderr
    assert str(toy_dir / "blocked") in lines[-1]


@pytest.mark.parametrize("index", ["99", "-1", "3"])
def test_run_source_index_out_of_range_is_one_line(toy_dir, run_cli, index):
    res = run_cli("run-source", "--task", "simulate", "--index", index)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"error: source index {index} is out of range: there are 3 source(s) (0..2)"
    )
    assert not (toy_dir / "state" / "simulate").exists()


def test_par_edits_quoted_keys_and_keeps_inline_comments(toy_dir):
    """'"sleep": 0.5' is valid YAML: par appended a second 'sleep:' line (every later
    command failed: key repeated) while reporting success; an inline comment after a
    value was lost."""
    from seisgrad.build import load_parameter_file
    from seisgrad.parfile import set_value

    p = toy_dir / "parameters.yaml"
    p.write_text(p.read_text() + '"sleep": 0.5\nntask: 3   # short test\n')
    change = set_value(p, "sleep", "0.25")
    assert (change.old, change.new) == (0.5, 0.25)
    set_value(p, "ntask", "2")
    text = p.read_text()
    assert text.count("sleep") == 1 and "ntask: 2   # short test" in text, text
    raw = load_parameter_file(p)
    assert raw["sleep"] == 0.25 and raw["ntask"] == 2
    p.write_text(p.read_text().replace("sleep: 0.25\n", "? sleep\n: 0.25\n"))
    assert load_parameter_file(p)["sleep"] == 0.25  # an explicit key: valid YAML
    with pytest.raises(Exception, match="cannot edit"):
        set_value(p, "sleep", "0.1")
    assert "? sleep\n: 0.25\n" in p.read_text()


def test_par_refuses_edits_that_would_change_other_values(toy_dir):
    """An anchor another key refers to: the edit would break the alias (the file was
    left invalid while par reported success); a comment at column 0 inside a
    multi-line value no longer cuts the value's block short (old lines stayed)."""
    from seisgrad.build import load_parameter_file
    from seisgrad.parfile import set_value

    p = toy_dir / "parameters.yaml"
    base = p.read_text()
    p.write_text(base + "sleep: &s 0.5\nslow_sleep: *s\n")
    with pytest.raises(Exception, match="anchors and aliases"):
        set_value(p, "sleep", "0.25")
    assert load_parameter_file(p)["slow_sleep"] == 0.5  # untouched
    p.write_text(base + "fail_sources:\n# which ones\n- s001\n- s002\n")
    set_value(p, "fail_sources", "[s000]")
    assert load_parameter_file(p)["fail_sources"] == ["s000"]
    assert "\n- s001" not in p.read_text() and "\n- s002" not in p.read_text()


def test_configure_restores_values_kept_as_comments_when_their_module_returns(tmp_path, run_cli):
    """Swapping the workflow to forward and back lost the migration's settings: the
    first configure kept them as comments, the second wrote the defaults."""
    assert run_cli("setup", "--workflow", "migration").returncode == 0
    assert run_cli("configure").returncode == 0
    assert run_cli("par", "smooth_h", "55.0").returncode == 0
    assert run_cli("par", "scale_by_model", "false").returncode == 0
    assert run_cli("par", "workflow", "forward").returncode == 0
    res = run_cli("configure")
    assert res.returncode == 0 and "kept as comments" in res.stderr and "smooth_h" in res.stderr
    assert run_cli("par", "workflow", "migration").returncode == 0
    res = run_cli("configure")
    assert res.returncode == 0, res.stderr
    assert "restored from the comments: " in res.stderr and "smooth_h" in res.stderr
    assert run_cli("par", "smooth_h").stdout.strip() == "55.0"
    assert run_cli("par", "scale_by_model").stdout.strip() == "false"
    assert "not used by the chosen modules" not in (tmp_path / "parameters.yaml").read_text()


def test_configure_refuses_a_misspelled_key_and_keeps_the_users_header(tmp_path, run_cli):
    """configure kept 'smoothh' as a comment of a swapped-out module and wrote
    smooth_h: 0.0, so the next check passed and the run went on without smoothing;
    it also dropped the comment lines at the top of the file."""
    assert run_cli("setup", "--workflow", "migration").returncode == 0
    pfile = tmp_path / "parameters.yaml"
    pfile.write_text("# my project: two layers\n# (notes)\n" + pfile.read_text())
    assert run_cli("configure").returncode == 0
    text = pfile.read_text()
    assert text.startswith("# my project: two layers\n# (notes)\n# seisgrad parameter file")
    assert run_cli("configure").returncode == 0
    assert pfile.read_text() == text  # the header is not written twice
    pfile.write_text(text + "smoothh: 40.0\n")
    before = pfile.read_text()
    res = run_cli("configure")
    assert res.returncode == 2
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: unknown parameter 'smoothh'") and "'smooth_h'" in last
    assert pfile.read_text() == before
    # a key of another registered module is still kept as a comment, not refused
    pfile.write_text(text + "nproc: 4\n")
    res = run_cli("configure")
    assert res.returncode == 0 and "kept as comments" in res.stderr and "nproc" in res.stderr


def test_par_refuses_values_that_check_would_refuse(tmp_path, run_cli):
    """par checked type, range and choices only: an unknown misfit name or reversed
    window was written, and every later command failed."""
    assert run_cli("setup", "--workflow", "migration").returncode == 0
    before = (tmp_path / "parameters.yaml").read_text()
    for key, value, message in (
        ("misfit", "bogus", "unknown misfit 'bogus'"),
        ("windows", "[[1.0, 0.5]]", "needs t_start < t_end"),
        ("mute", "[early]", "needs early_velocity"),
    ):
        res = run_cli("par", key, value)
        assert res.returncode == 2 and message in res.stderr and "unchanged" in res.stderr
        assert (tmp_path / "parameters.yaml").read_text() == before
    assert run_cli("par", "misfit", "traveltime").returncode == 0


def test_plot_kernel_clips_like_the_workflow_figures(tmp_path, monkeypatch):
    """plot_clip saturated the workflow's figures while 'seisgrad plot gradient' drew
    the same file unclipped (blank panels around a spike)."""
    from seisgrad import plot
    from seisgrad.model import Grid, homogeneous, write_model
    from seisgrad.workflow.plots import plot_command

    write_model(tmp_path / "g.h5", homogeneous(Grid(5, 4, 10.0, 10.0), vp=1.0))
    seen = []
    real = plot.plot_model_file
    monkeypatch.setattr(
        plot, "plot_model_file", lambda *a, **k: (seen.append(k["clip"]), real(*a, **k))[1]
    )
    no_run = tmp_path / "none.yaml"
    plot_command(no_run, "gradient", str(tmp_path / "g.h5"), None)
    plot_command(no_run, "model", str(tmp_path / "g.h5"), None)
    plot_command(no_run, "kernel", str(tmp_path / "g.h5"), None, 95.0)
    assert seen == [99.0, 100.0, 95.0]


def test_an_interrupt_swallowed_by_a_callback_is_raised_again():
    """SIGTERM (or SIGINT) raised inside a weakref or garbage-collector callback is
    ignored by Python ("Exception ignored in ..."): a submit went on to the end with
    exit status 0 (2 of 11 kills in a sweep). The handler raises it again."""
    import subprocess
    import sys

    code = """
import os, signal, sys, time, weakref
from seisgrad import cli
cli._terminate_as_interrupt()
class Thing: pass
def callback(ref):
    os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here: swallowed
thing = Thing()
ref = weakref.ref(thing, callback)
t0 = time.monotonic()
try:
    del thing
    while time.monotonic() - t0 < 20:
        time.sleep(0.05)
    print("ran to the end")
except KeyboardInterrupt:
    print(f"interrupted after {time.monotonic() - t0:.1f} s")
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "Exception ignored" in res.stderr, res.stderr  # the first raise was lost
    assert res.stdout.startswith("interrupted after"), res.stdout + res.stderr
    assert float(res.stdout.split()[2]) < 5.0, res.stdout


def test_submit_from_python_puts_the_signal_handlers_back(tmp_path):
    """main(['submit', ...]) left its SIGINT/SIGTERM/SIGALRM handlers installed: in a
    notebook, the next Ctrl-C was raised again every second, for ever."""
    import signal

    from seisgrad.cli import main

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)}
    assert main(["submit", "-p", str(tmp_path / "missing.yaml")]) == 2
    after = {s: signal.getsignal(s) for s in before}
    assert after == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_par_shows_and_sets_one_field_of_a_mapping(tmp_path, run_cli):
    """'seisgrad par receivers.n 80': one field of a nested value (it could only be set
    by rewriting the whole mapping); the other fields keep their defaults, and a wrong
    field, index or value is one error line with the file unchanged."""
    import yaml

    assert run_cli("setup", "--workflow", "migration").returncode == 0
    res = run_cli("par", "receivers.n")
    assert res.stdout.strip() == "50  # default (not set in the file)", res.stderr
    res = run_cli("par", "receivers.n", "80")
    assert res.stdout.strip() == "receivers.n: 50 (default) -> 80", res.stderr
    assert run_cli("par", "receivers.n").stdout.strip() == "80"
    assert run_cli("par", "receivers.radius").stdout.strip().startswith("200.0  # default")
    res = run_cli("par", "receivers.center.0", "5")
    assert res.stdout.strip() == "receivers.center.0: 0.0 (default) -> 5", res.stderr
    raw = yaml.safe_load((tmp_path / "parameters.yaml").read_text())
    assert raw["receivers"] == {"n": 80, "center": [5, 0.0]}
    before = (tmp_path / "parameters.yaml").read_text()
    for args, message in [
        (("receivers.nn", "3"), "did you mean 'n'? valid keys: center, "),
        (("receivers.n", "abc"), "expected an integer"),
        (("receivers.center.2", "1"), "'receivers.center' has 2 entries; there is no entry 2"),
        (("receivers.n.x", "1"), "'receivers.n' is 80, which has no field 'x'"),
        (("nt.x", "1"), "its default, 1000, has no fields"),
        (("events.0.name", "a"), "'events' has 0 entries; there is no entry 0"),
        (("solver.order", "4"), "'solver' is a module name, which has no fields"),
        (("receivers..n", "1"), "not a parameter name"),
        (("receivers.bogus",), "receivers has no field 'bogus' (its fields: kind, n, "),
    ]:
        line = _one_line_error(run_cli("par", *args))
        assert message in line, (args, line)
    assert (tmp_path / "parameters.yaml").read_text() == before
    # a list entry the file has but the default lacks; a mapping set to nothing; a list
    # that starts from its default
    with open(tmp_path / "parameters.yaml", "a") as f:
        f.write("events: [{name: a, sources: [{x: 1, z: 2, kind: explosion}]}]\n")
    assert run_cli("par", "events.0.sources.0.kind").stdout.strip() == "explosion"
    line = _one_line_error(run_cli("par", "events.0.sources.0.stf.t0"))
    assert "is not set in parameters.yaml, and the default of events does not hold it" in line
    res = run_cli("par", "events.0.sources.0.stf.f0", "7")
    assert res.returncode == 0, res.stderr
    assert yaml.safe_load((tmp_path / "parameters.yaml").read_text())["events"][0]["sources"][0][
        "stf"
    ] == {"f0": 7}
    raw = yaml.safe_load((tmp_path / "parameters.yaml").read_text())
    raw["receivers"] = None  # 'receivers:' with nothing after it
    (tmp_path / "parameters.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    assert run_cli("par", "receivers.n").stdout.strip().startswith("50  # default")
    res = run_cli("par", "pml_sides.3", "top")
    assert res.stdout.strip() == "pml_sides.3: top (default) -> top", res.stderr
    raw = yaml.safe_load((tmp_path / "parameters.yaml").read_text())
    assert raw["pml_sides"] == ["left", "right", "bottom", "top"]  # from the default list
