"""Task lists resume after failures and kills, re-running only unfinished sources
(under `system: workstation`; tests/system covers MPI and Slurm)."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from seisgrad.build import build_from_config
from seisgrad.errors import ConfigError
from seisgrad.workflow.base import ACQUISITION, ParameterChanges, TaskInputs
from tests.conftest import start_submit
from tests.fakes import DeclaredToyWorkflow, toy_parameter_text


def _runs(folder: Path) -> list[str]:
    return (folder / "scratch" / "runs.log").read_text().splitlines()


def _edit(folder: Path, **values: object) -> None:
    p = folder / "parameters.yaml"
    data = yaml.safe_load(p.read_text())
    data.update(values)
    p.write_text(yaml.safe_dump(data))


def test_failed_source_is_reported_and_only_it_reruns(toy_dir, run_cli):
    _edit(toy_dir, fail_sources=["s001"])
    res = run_cli("submit")
    assert res.returncode == 2
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("error: task simulate: 1 source(s) failed: s001")
    assert "toy failure in s001" in line
    assert str(toy_dir / "logs" / "simulate" / "s001.log") in line
    log = (toy_dir / "logs" / "simulate" / "s001.log").read_text()
    assert "RuntimeError: toy failure in s001" in log  # the traceback is in the log
    assert _runs(toy_dir) == ["simulate s000", "simulate s001", "simulate s002"]
    status = run_cli("status").stdout
    assert "s001" in status and "failed" in status
    _edit(toy_dir, fail_sources=[])
    assert run_cli("submit").returncode == 0
    runs = _runs(toy_dir)
    assert [r for r in runs if r.startswith("simulate")] == [
        "simulate s000",
        "simulate s001",
        "simulate s002",
        "simulate s001",
    ]
    assert (toy_dir / "output" / "total.json").exists()


def test_sigkill_mid_task_resumes_identically(tmp_path, run_cli):
    ref = tmp_path / "ref"
    ref.mkdir()
    (ref / "parameters.yaml").write_text(toy_parameter_text(5))
    assert run_cli("submit", cwd=ref).returncode == 0

    work = tmp_path / "work"
    work.mkdir()
    (work / "parameters.yaml").write_text(
        toy_parameter_text(5, slow_sources=["s002"], slow_sleep=120.0)
    )
    proc = start_submit(work)
    running = work / "state" / "simulate" / "s002.json"
    deadline = time.time() + 60
    while time.time() < deadline:
        if running.exists() and json.loads(running.read_text())["status"] == "running":
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise AssertionError("source s002 never started")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    status = run_cli("status", "--json", cwd=work)
    rows = {r["task"]: r for r in json.loads(status.stdout)}
    sources = {k: v["status"] for k, v in rows["simulate"]["sources"].items()}
    assert sources == {
        "s000": "done",
        "s001": "done",
        "s002": "interrupted",  # its process is gone: not 'running' for ever
        "s003": "pending",
        "s004": "pending",
    }
    assert rows["simulate"]["status"] == "interrupted"
    text = run_cli("status", cwd=work).stdout
    line = [x for x in text.splitlines() if "s002" in x][0]
    assert line.split()[1] == "interrupted", text
    _edit(work, slow_sources=[])  # does not affect results: no parameter-change error
    res = run_cli("submit", cwd=work)
    assert res.returncode == 0, res.stderr
    sim = [r for r in _runs(work) if r.startswith("simulate")]
    assert sim == [f"simulate s00{i}" for i in (0, 1, 2, 2, 3, 4)]
    assert "interrupted before" in res.stderr and "simulate/s002" in res.stderr
    assert (work / "output" / "total.json").read_bytes() == (
        ref / "output" / "total.json"
    ).read_bytes()


def _mtimes(folder: Path, *names: str) -> dict[str, int]:
    return {n: (folder / "scratch" / n).stat().st_mtime_ns for n in names}


def _total(folder: Path) -> float:
    return json.loads((folder / "output" / "total.json").read_text())["total"]


def test_fixed_parameter_reruns_only_the_tasks_that_depend_on_it(toy_dir, run_cli):
    _edit(toy_dir, workflow="tests.fakes:DeclaredToyWorkflow", reduce_scale=-1.0)
    res = run_cli("submit")
    assert res.returncode == 2
    assert (
        res.stderr.strip()
        .splitlines()[-1]
        .startswith("error: task reduce failed: the toy total is negative")
    )
    runs = _runs(toy_dir)
    assert len(runs) == 6  # 3 simulate, 3 square
    files = [f"s00{i}{ext}" for i in range(3) for ext in (".json", ".sq.json")]
    before = _mtimes(toy_dir, *files)

    # the failed task alone depends on reduce_scale: finished work is kept
    _edit(toy_dir, reduce_scale=2.0)
    status = run_cli("status").stdout
    assert (
        "parameters changed: reduce_scale (-1.0 -> 2.0); kept: prepare, simulate, square; "
        "to run: reduce (when 'seisgrad submit' runs next)"
    ) in status
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "kept: prepare, simulate, square; to run: reduce" in res.stderr
    assert _runs(toy_dir) == runs
    assert _mtimes(toy_dir, *files) == before
    squares = [np.sin(i + 1.0) ** 2 for i in range(3)]
    assert _total(toy_dir) == pytest.approx(2.0 * sum(squares), rel=1e-12)

    # a finished task's key: that task and those reading its results run again
    _edit(toy_dir, square_offset=1.0)
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert (
        "parameters changed: square_offset (0.0 -> 1.0); kept: prepare, simulate; "
        "to run: square, reduce"
    ) in res.stderr
    assert _runs(toy_dir)[6:] == ["square s000", "square s001", "square s002"]
    after = _mtimes(toy_dir, *files)
    assert all(after[f] == before[f] for f in files if not f.endswith(".sq.json"))
    assert all(after[f] != before[f] for f in files if f.endswith(".sq.json"))
    assert _total(toy_dir) == pytest.approx(2.0 * (sum(squares) + 3.0), rel=1e-12)

    # a solver parameter: every simulation and everything after it runs again
    assert run_cli("par", "toy_scale", "3.0").returncode == 0
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "kept: prepare; to run: simulate, square, reduce" in res.stderr
    assert [r.split()[0] for r in _runs(toy_dir)[9:]] == ["simulate"] * 3 + ["square"] * 3
    assert _total(toy_dir) == pytest.approx(2.0 * (9.0 * sum(squares) + 3.0), rel=1e-12)
    # nothing changed: nothing runs
    assert run_cli("submit").returncode == 0
    assert len(_runs(toy_dir)) == 15


def test_new_and_redefined_events_rerun_alone(toy_dir, run_cli):
    """When only the events changed, per-source tasks run for the new and redefined
    events only; the tasks that combine all events run again."""
    _edit(toy_dir, workflow="tests.fakes:DeclaredToyWorkflow", ntask=2)
    assert run_cli("submit").returncode == 0
    assert len(_runs(toy_dir)) == 4  # simulate and square of s000, s001
    files = [f"s00{i}{ext}" for i in range(2) for ext in (".json", ".sq.json")]
    before = _mtimes(toy_dir, *files)

    # one more event (ntask, or a longer list: the same key set)
    _edit(toy_dir, ntask=3)
    status = run_cli("status").stdout
    assert (
        "parameters changed: ntask (2 -> 3); events: new s002; kept: prepare, simulate "
        "(all but s002), square (all but s002); to run: simulate (s002), square (s002), "
        "reduce"
    ) in status
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert _runs(toy_dir)[4:] == ["simulate s002", "square s002"]
    assert _mtimes(toy_dir, *files) == before
    squares = [np.sin(i + 1.0) ** 2 for i in range(3)]
    assert _total(toy_dir) == pytest.approx(sum(squares), rel=1e-12)

    # one event defined differently: it alone runs again (status marks it)
    data = yaml.safe_load((toy_dir / "parameters.yaml").read_text())
    data["events"][1]["sources"][0]["x"] = 7.5
    (toy_dir / "parameters.yaml").write_text(yaml.safe_dump(data))
    lines = run_cli("status").stdout.splitlines()
    marked = [ln.split()[0] for ln in lines if ln.endswith("(runs again: parameters changed)")]
    assert marked == ["s001", "s001", "reduce"]  # simulate's s001, square's s001
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "events: redefined s001;" in res.stderr
    assert _runs(toy_dir)[6:] == ["simulate s001", "square s001"]
    assert _mtimes(toy_dir, "s000.json", "s000.sq.json") == {
        k: before[k] for k in ("s000.json", "s000.sq.json")
    }

    # an event removed: no simulation, the reduction over the others
    _edit(toy_dir, ntask=2)
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "events: removed s002; kept: prepare, simulate, square; to run: reduce" in res.stderr
    assert len(_runs(toy_dir)) == 8
    assert _total(toy_dir) == pytest.approx(np.sin(1.0) ** 2 + np.sin(8.5) ** 2, rel=1e-12)
    assert _total(toy_dir) == pytest.approx(_fresh_total(toy_dir, run_cli), rel=1e-12)

    # anything else with the events (here the receivers): every source again
    recs = {"kind": "points", "points": [{"station": "R1", "x": 1.0, "z": 0.0}]}
    _edit(toy_dir, ntask=3, receivers=recs)
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "kept: prepare; to run: simulate, square, reduce" in res.stderr
    assert len(_runs(toy_dir)) == 14


def _fresh_total(folder: Path, run_cli) -> float:
    """The total of a run from scratch with the same parameter file."""
    fresh = folder / "fresh"
    fresh.mkdir()
    (fresh / "parameters.yaml").write_text((folder / "parameters.yaml").read_text())
    assert run_cli("submit", cwd=fresh).returncode == 0
    return _total(fresh)


def test_event_changes_with_failed_sources_and_other_keys(toy_dir, run_cli):
    """Sources that had not finished run too (and the summary says so); a key that no
    per-source task reads (reduce_scale) or the system changing at the same time keeps
    the per-event reruns."""
    _edit(toy_dir, workflow="tests.fakes:DeclaredToyWorkflow", fail_sources=["s001"])
    assert run_cli("submit").returncode == 2
    data = yaml.safe_load((toy_dir / "parameters.yaml").read_text())
    data["events"][0]["sources"][0]["x"] = 0.5
    data.update(fail_sources=[], reduce_scale=2.0, system="mpi")
    (toy_dir / "parameters.yaml").write_text(yaml.safe_dump(data))
    status = run_cli("status").stdout
    assert "events: redefined s000;" in status
    # square never ran: all of it runs (no list of sources)
    assert "to run: simulate (s000, s001), square, reduce" in status
    data["system"] = "workstation"
    (toy_dir / "parameters.yaml").write_text(yaml.safe_dump(data))
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert _runs(toy_dir)[3:] == ["simulate s000", "simulate s001"] + [
        f"square s00{i}" for i in range(3)
    ]
    assert _total(toy_dir) == pytest.approx(_fresh_total(toy_dir, run_cli), rel=1e-12)


def test_event_digests_recorded_with_another_fingerprint_are_not_trusted(toy_dir, run_cli):
    """A seisgrad that does not record the events' digests may have written the state
    since (it records a new fingerprint and leaves the digests): they then no longer
    describe the finished work, and every source runs again."""
    _edit(toy_dir, workflow="tests.fakes:DeclaredToyWorkflow")
    assert run_cli("submit").returncode == 0
    main = toy_dir / "state" / "workflow.json"
    state = json.loads(main.read_text())
    state["fingerprint"]["events"] = "as an older seisgrad recorded other events"
    main.write_text(json.dumps(state))
    data = yaml.safe_load((toy_dir / "parameters.yaml").read_text())
    data["events"][1]["sources"][0]["x"] = 4.0
    (toy_dir / "parameters.yaml").write_text(yaml.safe_dump(data))
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "kept: prepare; to run: simulate, square, reduce" in res.stderr
    assert _total(toy_dir) == pytest.approx(_fresh_total(toy_dir, run_cli), rel=1e-12)


def test_event_digests_hold_each_events_observed_data(toy_dir):
    """With path_data a folder, each event's data (``<event>``, ``<event>.<ext>``) is
    part of its digest, and the folder's content counts as an events key."""
    data_dir = toy_dir / "data"
    data_dir.mkdir()
    for name in ("s000.sac", "s001.sac", "s0010.sac"):
        (data_dir / name).write_bytes(name.encode())
    (data_dir / "s002").mkdir()
    (data_dir / "s002" / "R0.sac").write_bytes(b"x")
    _edit(toy_dir, path_data="data")
    wf = build_from_config(toy_dir / "parameters.yaml").workflow
    before = wf.event_digests()
    assert "path_data#content" in wf.event_keys()
    (data_dir / "s001.sac").write_bytes(b"changed")
    (data_dir / "s0010.sac").write_bytes(b"not an event of this run")
    (data_dir / "s002" / "R0.sac").write_bytes(b"y")
    after = build_from_config(toy_dir / "parameters.yaml").workflow.event_digests()
    assert [n for n in before if before[n] != after[n]] == ["s001", "s002"]


def test_event_digests_hold_what_the_default_preprocessing_reads(toy_dir):
    """With the default preprocessing an event's digest covers the data it reads (the
    folder ``<event>`` or ``<event>.<ext>`` of ``data_format``), not every file whose
    name starts with the event's: ``s0.b.sac`` belongs to event ``s0.b``, not ``s0``."""
    from seisgrad.preprocess.default import Default, DefaultParameters

    data = yaml.safe_load((toy_dir / "parameters.yaml").read_text())
    data["events"] = [
        {"name": name, "sources": [{"x": float(i), "z": 0.0}]}
        for i, name in enumerate(("s0", "s0.b", "s1"))
    ]
    data["path_data"] = "data"
    (toy_dir / "parameters.yaml").write_text(yaml.safe_dump(data))
    data_dir = toy_dir / "data"
    data_dir.mkdir()
    for name in ("s0.sac", "s0.b.sac", "s0.notes", "s1.su"):
        (data_dir / name).write_bytes(name.encode())

    def digests():
        wf = build_from_config(toy_dir / "parameters.yaml").workflow
        wf.preprocess = Default(DefaultParameters(data_format="sac"))
        return wf.event_digests()

    before = digests()
    (data_dir / "s0.b.sac").write_bytes(b"changed")
    (data_dir / "s0.notes").write_bytes(b"not data")
    (data_dir / "s1.su").write_bytes(b"another format: not read")
    after = digests()
    assert [n for n in before if before[n] != after[n]] == ["s0.b"]
    (data_dir / "s0.sac").unlink()  # no data left for s0: its digest changes too
    assert [n for n in after if after[n] != digests()[n]] == ["s0"]


def test_data_of_no_event_changed_is_said_so(toy_dir, run_cli):
    """A file added to a path_data folder that belongs to no event changes the folder's
    content but no event: nothing runs but the combining task, and the summary says
    why (it said 'events: ;')."""
    (toy_dir / "data").mkdir()
    (toy_dir / "data" / "s000.sac").write_bytes(b"0")
    wf = "tests.workflow.test_resume:_DataToyWorkflow"
    _edit(toy_dir, workflow=wf, path_data="data")
    assert run_cli("submit").returncode == 0
    (toy_dir / "data" / "README").write_text("notes")
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert (
        "parameters changed: events: the same definitions and data; kept: prepare, "
        "simulate, square; to run: reduce"
    ) in res.stderr
    assert len(_runs(toy_dir)) == 6


class _DataToyWorkflow(DeclaredToyWorkflow):
    """The toy whose simulations read path_data (as prepare_observed_data does)."""

    @property
    def task_inputs(self):
        return {
            **super().task_inputs,
            "simulate": TaskInputs({"solver", "path_data", *ACQUISITION}, {"prepare"}),
        }


def test_swapped_module_reruns_what_depends_on_it(toy_dir, run_cli):
    _edit(toy_dir, workflow="tests.fakes:DeclaredToyWorkflow")
    assert run_cli("submit").returncode == 0
    # the old solver's keys are attributed to it by the labels kept in the state
    _edit(toy_dir, solver="tests.fakes:OtherToySolver")
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "to run: simulate, square, reduce" in res.stderr
    assert len(_runs(toy_dir)) == 12
    assert _total(toy_dir) == pytest.approx(sum((3.0 * (i + 1)) ** 2 for i in range(3)))
    # the system decides where tasks run, not their results
    state = toy_dir / "state" / "workflow.json"
    data = json.loads(state.read_text())
    data["fingerprint"]["system"] = "slurm"
    state.write_text(json.dumps(data))
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "parameters changed: system ('slurm' -> 'workstation'); kept: prepare, " in res.stderr
    assert len(_runs(toy_dir)) == 12
    # another workflow class: nothing can be attributed, submit refuses
    _edit(toy_dir, workflow="tests.fakes:ToyWorkflow")
    line = run_cli("submit").stderr.strip().splitlines()[-1]
    assert line.startswith("error: parameters changed since finished work was recorded")
    assert "No task of workflow ToyWorkflow declares that it depends on" in line
    assert "--restart" in line


class _NoteWorkflow(DeclaredToyWorkflow):
    """Adds a task that declares nothing between 'square' and 'reduce'."""

    @property
    def task_list(self):
        tasks = super().task_list
        return tasks[:-1] + [self.note, tasks[-1]]

    def note(self) -> None:
        """Declares nothing."""


class _TypoWorkflow(DeclaredToyWorkflow):
    @property
    def task_inputs(self):
        return {**super().task_inputs, "reduce": TaskInputs({"reduce_scal"}, {"square"})}


class _OrderWorkflow(DeclaredToyWorkflow):
    @property
    def task_inputs(self):
        return {**super().task_inputs, "square": TaskInputs((), {"reduce"})}


def _planned(folder: Path, cls: str, **changes: object) -> ParameterChanges:
    pfile = folder / "parameters.yaml"
    build_from_config(pfile, {"workflow": cls}).workflow.run()
    plan = build_from_config(pfile, {"workflow": cls, **changes}).workflow.parameter_changes()
    assert plan is not None
    return plan


def test_a_task_that_declares_nothing_runs_again_with_every_later_task(toy_dir):
    cls = "tests.workflow.test_resume:_NoteWorkflow"
    plan = _planned(toy_dir, cls, square_offset=1.0)
    assert (plan.reset, plan.kept) == (("square", "note", "reduce"), ("prepare", "simulate"))
    assert _planned(toy_dir, cls, reduce_scale=3.0).reset == ("note", "reduce")
    plan = _planned(toy_dir, cls, toy_scale=3.0)
    assert plan.reset == ("simulate", "square", "note", "reduce")
    assert not plan.unattributed
    # a key that no declared task depends on counts as changing everything
    plan = _planned(toy_dir, cls, toy_offset=1.0)
    assert plan.unattributed == ("toy_offset",) and plan.kept == ()


@pytest.mark.parametrize(
    "cls, message",
    [
        ("_TypoWorkflow", "task reduce declares unknown input(s) reduce_scal"),
        ("_OrderWorkflow", "task square declares that it reads the results of reduce"),
    ],
)
def test_wrong_declarations_are_found_by_check(toy_dir, cls, message):
    setup = build_from_config(
        toy_dir / "parameters.yaml", {"workflow": f"tests.workflow.test_resume:{cls}"}
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        setup.workflow.check()


def _wait_running(work: Path, task: str, source: str, proc) -> None:
    f = work / "state" / task / f"{source}.json"
    deadline = time.time() + 60
    while time.time() < deadline:
        if f.exists() and json.loads(f.read_text())["status"] == "running":
            return
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"source {source} never started")


def test_second_submit_in_the_same_folder_is_refused_while_status_works(tmp_path, run_cli):
    work = tmp_path / "run"
    work.mkdir()
    (work / "parameters.yaml").write_text(
        toy_parameter_text(3, slow_sources=["s001"], slow_sleep=120.0)
    )
    proc = start_submit(work)
    try:
        _wait_running(work, "simulate", "s001", proc)
        for args in (("submit",), ("submit", "--restart")):
            res = run_cli(*args, cwd=work)
            assert res.returncode == 2, res.stderr
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: another 'seisgrad submit'")
            assert f"pid {proc.pid}" in lines[0] and "submit.lock" in lines[0]
        assert run_cli("status", cwd=work).returncode == 0
        assert run_cli("check", cwd=work).returncode == 0
        # --restart was refused before it removed anything
        assert json.loads((work / "state" / "simulate" / "s000.json").read_text())["status"] == (
            "done"
        )
    finally:
        proc.kill()
        proc.wait(timeout=30)
    # the lock dies with the process: the next submit runs
    _edit(work, slow_sources=[])
    assert run_cli("submit", cwd=work).returncode == 0


def test_per_source_runner_refuses_parameters_changed_since_the_run_started(toy_dir, run_cli):
    # what a Slurm array task does when it starts after the parameter file was edited
    assert run_cli("submit", "--stop-after", "prepare").returncode == 0
    _edit(toy_dir, toy_scale=2.0)
    res = run_cli("run-source", "--task", "simulate", "--index", "1")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "parameters changed since the run started" in lines[0]
    assert "toy_scale" in lines[0]
    state = json.loads((toy_dir / "state" / "simulate" / "s001.json").read_text())
    assert state["status"] == "failed" and "toy_scale" in state["error"]
    assert not (toy_dir / "scratch" / "s001.json").exists()
    _edit(toy_dir, toy_scale=1.0)  # restored: it runs
    assert run_cli("run-source", "--task", "simulate", "--index", "1").returncode == 0


def _declared(folder: Path) -> None:
    _edit(folder, workflow="tests.fakes:DeclaredToyWorkflow")


def _new_runs(folder: Path, before: list[str]) -> list[str]:
    runs = _runs(folder)
    assert runs[: len(before)] == before
    return runs[len(before) :]


def test_a_deleted_output_runs_its_task_again_and_nothing_else(toy_dir, run_cli):
    _declared(toy_dir)
    assert run_cli("submit").returncode == 0
    total = json.loads((toy_dir / "output" / "total.json").read_text())
    before = _runs(toy_dir)
    (toy_dir / "output" / "total.json").unlink()
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "finished before, but their files are gone: reduce (" in res.stderr
    assert "total.json" in res.stderr
    assert _new_runs(toy_dir, before) == []  # no per-source task ran again
    assert json.loads((toy_dir / "output" / "total.json").read_text()) == total
    # all finished and present: nothing runs, nothing is said
    res = run_cli("submit")
    assert res.returncode == 0 and "files are gone" not in res.stderr


def test_deleted_intermediate_files_rerun_only_what_a_running_task_needs(toy_dir, run_cli):
    _declared(toy_dir)
    assert run_cli("submit").returncode == 0
    scratch = toy_dir / "scratch"
    before = _runs(toy_dir)
    # intermediate files gone after the run finished: nobody needs them
    (scratch / "s001.json").unlink()
    res = run_cli("submit")
    assert res.returncode == 0 and "files are gone" not in res.stderr
    assert _new_runs(toy_dir, before) == []
    # the output and a square gone: the reduction needs every square, the square of
    # s001 its simulation (gone too); s000 and s002 keep theirs
    (scratch / "s001.sq.json").unlink()
    (toy_dir / "output" / "total.json").unlink()
    status = run_cli("status").stdout
    assert re.search(r"reduce +done +\(runs again: its files are gone\)", status)
    assert re.search(r"s001 +done +\(runs again: its files are gone\)", status)
    assert not re.search(r"s000 .*gone", status)
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert "simulate of s001" in res.stderr and "square of s001" in res.stderr
    assert _new_runs(toy_dir, before) == ["simulate s001", "square s001"]
    assert (scratch / "s001.json").exists() and (toy_dir / "output" / "total.json").exists()
    status = json.loads((toy_dir / "state" / "simulate" / "s001.json").read_text())
    assert status["status"] == "done"


def test_status_sees_files_gone_that_a_parameter_change_makes_needed(toy_dir, run_cli):
    """A square deleted after the run is needed once a change resets the reduction:
    submit ran it again, but status showed it as plain 'done'."""
    _declared(toy_dir)
    assert run_cli("submit").returncode == 0
    before = _runs(toy_dir)
    (toy_dir / "scratch" / "s001.sq.json").unlink()
    _edit(toy_dir, reduce_scale=2.0)
    status = run_cli("status").stdout
    assert re.search(r"reduce +done +\(runs again: parameters changed\)", status), status
    assert re.search(r"s001 +done +\(runs again: its files are gone\)", status), status
    assert not re.search(r"s000 .*runs again", status), status
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert _new_runs(toy_dir, before) == ["square s001"]
    # the old total was set aside as the run started
    assert (toy_dir / "output" / "previous" / "total.json").exists()
    assert "total.json" in res.stderr and "moved to" in res.stderr


def test_undeclared_outputs_trust_the_state(toy_dir, run_cli):
    """ToyWorkflow declares no files: a deleted output is not noticed (as before)."""
    assert run_cli("submit").returncode == 0
    (toy_dir / "output" / "total.json").unlink()
    assert run_cli("submit").returncode == 0
    assert not (toy_dir / "output" / "total.json").exists()


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"tasks": 5}',
        "[]",
        '{"tasks": {"simulate": 3}}',
        '{"tasks": {"simulate": {"status": 5}}}',
        "\xff\xfe",
    ],
)
def test_a_corrupt_state_file_is_one_error_line(toy_dir, run_cli, text):
    assert run_cli("submit").returncode == 0
    (toy_dir / "state" / "workflow.json").write_bytes(text.encode("latin-1"))
    for cmd in ("status", "submit"):
        res = run_cli(cmd)
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr
        line = res.stderr.strip().splitlines()[-1]
        assert line.startswith("error: state file") and "is corrupt" in line, res.stderr
    # per-source state files too
    (toy_dir / "state" / "workflow.json").unlink()
    for bad in ("[1, 2]", '{"status": 5}'):
        (toy_dir / "state" / "simulate" / "s000.json").write_text(bad)
        res = run_cli("status")
        assert res.returncode == 2 and "s000.json is corrupt" in res.stderr, res.stderr


def test_changed_values_are_shown_as_yaml_spells_them() -> None:
    """'components (None -> ['P'])' and 'True is refused': Python's spellings."""
    from seisgrad.workflow.base import _fingerprint_diff

    changed, detail = _fingerprint_diff(
        {"components": None, "free_surface": False}, {"components": ["P"], "free_surface": True}
    )
    assert set(changed) == {"components", "free_surface"}
    assert "components (null -> ['P'])" in detail and "free_surface (false -> true)" in detail


def test_results_set_aside_never_include_scratch_or_state_files(toy_dir, run_cli):
    """With path_output: '.', the scratch folder lies inside it: a scratch file was
    reported (and moved) as a result."""
    _declared(toy_dir)
    _edit(toy_dir, path_output=".")
    assert run_cli("submit").returncode == 0
    squares = sorted(p.name for p in (toy_dir / "scratch").glob("*.sq.json"))
    _edit(toy_dir, square_offset=2.0)
    res = run_cli("submit", "--stop-after", "simulate")
    assert res.returncode == 0, res.stderr
    assert (toy_dir / "previous" / "total.json").exists()
    assert not (toy_dir / "previous" / "scratch").exists()
    assert "scratch" not in res.stderr.split("moved to", 1)[-1].splitlines()[0]
    assert sorted(p.name for p in (toy_dir / "scratch").glob("*.sq.json")) == squares


def test_clean_output_never_removes_the_run_folder_and_follows_a_link(toy_dir, run_cli):
    """path_output: '.' made 'clean --output --yes' remove the whole run folder (the
    parameter file with it); a symlinked path_output crashed after scratch, state and
    logs were gone."""
    _declared(toy_dir)
    _edit(toy_dir, path_output=".")
    assert run_cli("submit").returncode == 0
    res = run_cli("clean", "--output", "--yes")
    assert res.returncode != 0 and "holds" in res.stderr and "nothing was" in res.stderr
    assert (toy_dir / "parameters.yaml").exists() and (toy_dir / "scratch").exists()
    elsewhere = toy_dir.parent / (toy_dir.name + "-results")
    elsewhere.mkdir()
    (toy_dir / "results").symlink_to(elsewhere)
    _edit(toy_dir, path_output="results")
    assert run_cli("submit").returncode == 0
    assert (elsewhere / "total.json").exists()
    res = run_cli("clean", "--output", "--yes")
    assert res.returncode == 0, res.stderr
    assert elsewhere.is_dir() and not any(elsewhere.iterdir())
    assert not (toy_dir / "scratch").exists()


def test_output_inside_an_input_folder_is_refused(toy_dir, run_cli):
    """path_output inside path_data: 'clean --output --yes' removed the observed data
    with it (it refused only folders that hold an input; found by an acceptance sweep),
    and a run would set its results aside there. check, submit and clean refuse."""
    out = toy_dir / "data" / "ev1"
    out.mkdir(parents=True)
    (out / "obs.su").write_text("observed")
    _edit(toy_dir, path_data="data", path_output="data/ev1")
    for cmd in (("check",), ("submit",)):
        res = run_cli(*cmd)
        assert res.returncode != 0 and "lies inside path_data" in res.stderr, res.stderr
    res = run_cli("clean", "--output", "--yes")
    assert res.returncode != 0 and "lies inside the input" in res.stderr, res.stderr
    assert (out / "obs.su").read_text() == "observed"
    _edit(toy_dir, path_scratch="data/tmp", path_output="output")
    res = run_cli("check")
    assert res.returncode != 0 and "path_scratch" in res.stderr, res.stderr
    _edit(toy_dir, path_scratch="scratch")
    assert run_cli("check").returncode == 0, run_cli("check").stderr


def test_output_in_scratch_or_above_the_run_folder_is_refused(toy_dir, run_cli):
    """path_output: scratch passed, and a plain 'clean --yes' then removed the finished
    gradient with the scratch folder; path_output '/' or '..' wrote results into the
    file-system root or the parent folder (bad-input sweep). path_output '.' (results
    in the run folder) stays allowed."""
    for out, words in (
        ("scratch", "is path_scratch"),
        ("scratch/out", "lies inside path_scratch"),
        ("..", "lies above the run folder"),
        ("/", "lies above the run folder"),
    ):
        _edit(toy_dir, path_output=out)
        for cmd in (("check",), ("submit",)):
            res = run_cli(*cmd)
            assert res.returncode == 2 and words in res.stderr, (out, res.stderr)
    # a run made before this check: clean keeps the results it holds
    _edit(toy_dir, path_output="output")
    assert run_cli("submit").returncode == 0
    _edit(toy_dir, path_output="scratch")
    (toy_dir / "scratch" / "gradient.h5").write_text("results")
    res = run_cli("clean", "--yes")
    assert res.returncode == 2 and "holds path_output" in res.stderr, res.stderr
    assert (toy_dir / "scratch" / "gradient.h5").read_text() == "results"
    _edit(toy_dir, path_output="output")
    assert run_cli("check").returncode == 0


def test_folders_and_files_in_the_wrong_place_are_refused_by_check(toy_dir, run_cli):
    """A path_workdir that is a file passed check and failed in submit with a raw OS
    message; a folder given as path_model_init was "not found" (acceptance sweep)."""
    (toy_dir / "afile").write_text("not a folder")
    _edit(toy_dir, path_workdir="afile")
    res = run_cli("check")
    assert res.returncode != 0 and "path_workdir" in res.stderr and "is a file" in res.stderr
    _edit(toy_dir, path_workdir=".", path_model_init=str(toy_dir))
    res = run_cli("check")
    assert res.returncode != 0 and "is a folder; it must be a file" in res.stderr, res.stderr
    assert "lies inside" not in res.stderr


def test_results_without_a_record_of_their_run_are_kept_aside(toy_dir, run_cli):
    """After 'seisgrad clean' (state gone, output kept), 'submit --restart' deleted the
    last finished results as if they came from an unfinished run."""
    _declared(toy_dir)
    assert run_cli("submit").returncode == 0
    total = (toy_dir / "output" / "total.json").read_text()
    assert run_cli("clean").returncode == 0
    res = run_cli("submit", "--restart", "--stop-after", "simulate")
    assert res.returncode == 0, res.stderr
    assert (toy_dir / "output" / "previous" / "total.json").read_text() == total


def test_a_failed_move_puts_the_results_back(toy_dir, run_cli, monkeypatch):
    """A failure half-way through the move left previous/ half replaced; a retry then
    deleted results of the run before."""
    import shutil as _shutil

    from seisgrad.build import build_from_config

    _declared(toy_dir)
    assert run_cli("submit").returncode == 0
    _edit(toy_dir, reduce_scale=3.0)
    assert run_cli("submit").returncode == 0  # previous/ holds the first total
    first = (toy_dir / "output" / "previous" / "total.json").read_text()
    second = (toy_dir / "output" / "total.json").read_text()
    _edit(toy_dir, reduce_scale=4.0)
    wf = build_from_config(toy_dir / "parameters.yaml").workflow
    real = _shutil.move

    def failing(src, dst):
        if ".incoming-" in str(dst):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr("seisgrad.workflow.base.shutil.move", failing)
    with pytest.raises(OSError, match="No space left"):
        wf.check_fingerprint()
    assert (toy_dir / "output" / "total.json").read_text() == second
    assert (toy_dir / "output" / "previous" / "total.json").read_text() == first
    assert not list((toy_dir / "output" / "previous").glob(".incoming-*"))
    monkeypatch.undo()
    assert run_cli("submit").returncode == 0
    assert (toy_dir / "output" / "previous" / "total.json").read_text() == second


def test_inputs_inside_result_folders_are_never_set_aside(toy_dir, run_cli):
    """path_data: output/traces (exported synthetics used as data): a change that reruns
    the export moved the run's own data away before it was read."""
    from seisgrad.build import build_from_config

    _declared(toy_dir)
    assert run_cli("submit").returncode == 0
    wf = build_from_config(toy_dir / "parameters.yaml").workflow
    traces = toy_dir / "output" / "traces"
    (traces / "syn").mkdir(parents=True)
    (traces / "syn" / "s000.h5").write_text("data")
    wf.path.data = traces / "syn"
    wf.result_paths = lambda task: [traces, toy_dir / "output" / "total.json"]
    moved, removed = wf.set_aside_results(["reduce"])
    assert [p.name for p in moved] == ["total.json"] and removed == []
    assert (traces / "syn" / "s000.h5").read_text() == "data"


def test_an_edited_manifest_cannot_remove_files_outside_previous(toy_dir, run_cli):
    _declared(toy_dir)
    assert run_cli("submit").returncode == 0
    _edit(toy_dir, reduce_scale=3.0)
    assert run_cli("submit").returncode == 0
    victim = toy_dir / "keep.txt"
    victim.write_text("mine")
    (toy_dir / "output" / "important").mkdir()
    manifest = toy_dir / "output" / "previous" / ".seisgrad-previous.json"
    manifest.write_text(json.dumps(["../../keep.txt", str(victim), "..", "../important", "."]))
    _edit(toy_dir, reduce_scale=4.0)
    assert run_cli("submit").returncode == 0
    assert victim.read_text() == "mine" and (toy_dir / "output" / "important").is_dir()
    assert (toy_dir / "output" / "previous" / "total.json").exists()


def test_previous_on_another_file_system_and_after_clean(toy_dir, run_cli):
    """previous/ linked to another file system blocked every submit (EXDEV); after
    'seisgrad clean' a plain submit left the old results in place beside the new ones."""
    import uuid

    _declared(toy_dir)
    assert run_cli("submit").returncode == 0
    total = (toy_dir / "output" / "total.json").read_text()
    shm = Path("/dev/shm")
    elsewhere = (shm if shm.is_dir() else toy_dir.parent) / f"prev-{uuid.uuid4().hex}"
    elsewhere.mkdir()
    try:
        (toy_dir / "output" / "previous").symlink_to(elsewhere)
        _edit(toy_dir, reduce_scale=3.0)
        res = run_cli("submit")
        assert res.returncode == 0, res.stderr
        assert (elsewhere / "total.json").read_text() == total
        second = (toy_dir / "output" / "total.json").read_text()
        # no record of the run: the first submit sets its results aside too
        assert run_cli("clean").returncode == 0
        res = run_cli("submit", "--stop-after", "simulate")
        assert res.returncode == 0, res.stderr
        assert not (toy_dir / "output" / "total.json").exists()
        assert (elsewhere / "total.json").read_text() == second
    finally:
        import shutil

        shutil.rmtree(elsewhere, ignore_errors=True)


def test_an_input_inside_previous_is_refused_before_anything_moves(toy_dir, run_cli):
    from seisgrad.build import build_from_config

    _declared(toy_dir)
    assert run_cli("submit").returncode == 0
    wf = build_from_config(toy_dir / "parameters.yaml").workflow
    data = toy_dir / "output" / "previous" / "obs"
    data.mkdir(parents=True)
    wf.path.data = data
    with pytest.raises(ConfigError, match="lies in .*previous.* move it out"):
        wf.set_aside_results(["reduce"])
    assert (toy_dir / "output" / "total.json").exists()


def test_a_specfem_source_file_as_path_sources_gets_a_hint(tmp_path):
    """A SPECFEM2D SOURCE file given as path_sources read "invalid YAML: expected
    '<document start>'" or "expected a list of events" (acceptance sweep): it now says
    what the file is and what seisgrad reads instead. A YAML list still reads."""
    from seisgrad.errors import ConfigError
    from seisgrad.workflow.base import read_events_file

    source = tmp_path / "SOURCE"
    lines = ["source_surf = .false.", "xs = 9000.", "zs = 3000.", "source_type = 1", "f0 = 0.3"]
    for text in ("\n".join(lines), "## Source 1\n" + "\n".join(f"{t}  # note" for t in lines)):
        source.write_text(text)
        with pytest.raises(ConfigError, match="looks like a SPECFEM2D SOURCE file"):
            read_events_file(source)
    source.write_text("- {name: e1, sources: [{x: 1.0, z: 2.0}]}\n")
    (event,) = read_events_file(source)
    assert event.name == "e1"
    source.write_text("just: a mapping\n")
    with pytest.raises(ConfigError, match="expected a list of events$"):
        read_events_file(source)


def test_an_interrupt_while_a_source_opens_its_log_is_recorded(toy_dir, monkeypatch, run_cli):
    # Ctrl-C (or SIGINT forwarded to MPI ranks) can arrive after a source is recorded
    # as running but before its own handler is in place; it must not stay "running"
    import contextlib

    import seisgrad.workflow.base as base

    @contextlib.contextmanager
    def interrupted_log(path):
        raise KeyboardInterrupt
        yield path  # pragma: no cover

    workflow = build_from_config(toy_dir / "parameters.yaml").workflow
    monkeypatch.setattr(base, "log_to", interrupted_log)
    with pytest.raises(KeyboardInterrupt):
        workflow.run_source("simulate", 1)
    info = workflow.state.source_info("simulate", "s001")
    assert info["status"] == "failed" and info["error"] == "interrupted", info
    # status says it once ("interrupted", not "interrupted  interrupted")
    lines = run_cli("status", cwd=toy_dir).stdout.splitlines()
    (line,) = [ln for ln in lines if ln.strip().startswith("s001")]
    assert line.split() == ["s001", "interrupted"], line


def test_a_launcher_stopped_by_a_signal_records_sources_left_running(toy_dir):
    # what the MPI launcher does once mpiexec has ended after a forwarded signal
    import subprocess
    import sys

    from seisgrad.system.mpi import _mark_left_interrupted

    workflow = build_from_config(toy_dir / "parameters.yaml").workflow
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(gone.stdout)
    from seisgrad.workflow.state import owner

    workflow.state.set_source("simulate", "s000", "running", **{**owner(), "pid": pid})
    workflow.state.set_source("simulate", "s001", "running", **owner())  # alive: this one
    _mark_left_interrupted(toy_dir / "parameters.yaml")
    s0 = workflow.state.source_info("simulate", "s000")
    assert s0["status"] == "failed" and s0["error"].startswith("interrupted"), s0
    assert workflow.state.source_info("simulate", "s001")["status"] == "running"


def test_a_resumed_run_removes_the_temporary_files_a_kill_left(toy_dir, run_cli):
    """SIGKILL during an atomic write leaves its hidden temporary file (a 23 MB forward
    wavefield in a sweep); the next submit removed none of them."""
    assert run_cli("submit").returncode == 0
    debris = [
        toy_dir / "scratch" / ".s001.sq.json.0123456789ab.tmp",
        toy_dir / "output" / "figures" / ".gradient.png.abcdef012345.tmp",
        toy_dir / "state" / ".workflow.json.a1b2c3d4e5f6.tmp",
    ]
    for p in debris:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("partial")
    mine = toy_dir / "output" / ".notes.tmp"  # not an atomic write's name: kept
    mine.write_text("mine")
    res = run_cli("submit")
    assert res.returncode == 0, res.stderr
    assert not any(p.exists() for p in debris)
    assert mine.read_text() == "mine"
    assert "removed 3 temporary file(s)" in res.stderr, res.stderr
