"""Background compiles of solver code (seisgrad.workflow.precompile)."""

from __future__ import annotations

import logging

import pytest

from seisgrad.build import build_from_config
from seisgrad.errors import SolverError
from seisgrad.workflow.precompile import BackgroundCompile
from tests.workflow.test_migration import small_setup


@pytest.fixture
def migration(tmp_path):
    return build_from_config(small_setup(tmp_path)).workflow


def test_parts_are_compiled_in_the_background_and_the_adjoint_task_waits(
    migration, monkeypatch, caplog
):
    wf = migration
    monkeypatch.setattr(wf.solver, "precompile_needed", lambda part: True)
    with caplog.at_level(logging.INFO, logger="seisgrad"), BackgroundCompile(wf) as bg:
        assert sorted(bg.procs) == ["adjoint", "replay"]
        assert bg.plan == {"run_adjoint_simulations": ("adjoint", "replay")}
        assert wf.before_task == [bg.wait]
        wf.run()
    assert bg.procs == {}
    assert wf.before_task == []
    for part in ("adjoint", "replay"):
        text = (wf.path.logs / f"precompile-{part}.log").read_text()
        assert f"compiled {part} in" in text
    assert "compiling solver code in the background: adjoint, replay" in caplog.text
    assert (wf.path.output / "gradient.h5").is_file()
    # the child processes recorded what they compiled
    monkeypatch.undo()
    assert not wf.solver.precompile_needed("adjoint")
    assert not wf.solver.precompile_needed("replay")


def test_nothing_starts_when_compiled_before_or_the_task_is_done(migration, monkeypatch):
    wf = migration
    monkeypatch.setattr(wf.solver, "precompile_needed", lambda part: False)
    assert BackgroundCompile(wf).parts_to_compile() == {}
    monkeypatch.setattr(wf.solver, "precompile_needed", lambda part: True)
    assert BackgroundCompile(wf).parts_to_compile() == {
        "run_adjoint_simulations": ("adjoint", "replay")
    }
    wf.state.set_task("run_adjoint_simulations", "done")
    assert BackgroundCompile(wf).parts_to_compile() == {}


def test_a_failed_background_compile_is_a_warning_and_the_task_goes_on(
    migration, monkeypatch, caplog
):
    wf = migration
    monkeypatch.setattr(wf.solver, "precompile_needed", lambda part: True)
    monkeypatch.setattr(wf, "precompile_plan", lambda: {"run_adjoint_simulations": ("bogus",)})
    bg = BackgroundCompile(wf)
    bg.start()
    try:
        with caplog.at_level(logging.WARNING, logger="seisgrad"):
            bg.wait("write_misfit")  # not in the plan: returns at once
            assert "bogus" in bg.procs
            bg.wait("run_adjoint_simulations")
    finally:
        bg.stop()
    assert "background compile of 'bogus' failed (exit status 2" in caplog.text
    log = (wf.path.logs / "precompile-bogus.log").read_text()
    assert "unknown compile part(s) bogus; valid: forward, replay, adjoint" in log


def test_stop_ends_running_compiles(migration, monkeypatch):
    wf = migration
    monkeypatch.setattr(wf.solver, "precompile_needed", lambda part: True)
    bg = BackgroundCompile(wf)
    bg.start()
    procs = list(bg.procs.values())
    assert len(procs) == 2
    bg.stop()
    assert all(p.poll() is not None for p in procs)
    assert bg.procs == {}


def test_unknown_compile_part_is_a_solver_error(migration):
    wf = migration
    with pytest.raises(SolverError, match="unknown compile part"):
        wf.precompile(["adjoint", "everything"])


def test_workstation_without_background_compile_starts_nothing(tmp_path, monkeypatch):
    setup = build_from_config(small_setup(tmp_path, background_compile=False))
    wf = setup.workflow
    monkeypatch.setattr(wf.solver, "precompile_needed", lambda part: True)
    setup.system.submit(wf, stop_after="prepare_observed_data")
    assert not list(wf.path.logs.glob("precompile-*.log"))
