"""``system: workstation``: the reference behaviour under faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.system.util import (
    cli,
    env,
    reference_run,
    results,
    runs,
    source_state,
    update_params,
    wait_for,
    write_params,
)

N = 4


def test_failed_source_reported_others_done_resume_runs_only_it(tmp_path: Path) -> None:
    ref = reference_run(tmp_path / "ref", N)
    run = tmp_path / "run"
    pfile = write_params(run, N, fail_sources=["s001"])
    r = cli(["submit", "-p", str(pfile)], run)
    assert r.returncode == 2, r.stderr
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1
    log = run / "logs" / "simulate" / "s001.log"
    assert "s001" in err[0] and str(log) in err[0] and "toy failure in s001" in err[0]
    assert [source_state(run, "simulate", f"s{i:03d}")["status"] for i in range(N)] == [
        "done",
        "failed",
        "done",
        "done",
    ]
    update_params(pfile, fail_sources=None)
    r = cli(["submit", "-p", str(pfile)], run)
    assert r.returncode == 0, r.stderr
    counts = runs(run)
    assert counts["simulate s001"] == 2
    assert all(counts[f"simulate s{i:03d}"] == 1 for i in (0, 2, 3))
    assert results(run) == ref


def test_sigkill_mid_task_then_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    n = 6
    ref = reference_run(tmp_path / "ref", n)
    run = tmp_path / "run"
    pfile = write_params(run, n, sleep=0.4)
    proc = subprocess.Popen(
        [sys.executable, "-m", "seisgrad.cli", "submit", "-p", str(pfile)],
        cwd=run,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def done() -> list[str]:
        names = [f"s{i:03d}" for i in range(n)]
        return [s for s in names if source_state(run, "simulate", s)["status"] == "done"]

    try:
        wait_for(lambda: len(done()) >= 2, 60, "2 finished sources")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    finished = done()
    assert 2 <= len(finished) < n
    r = cli(["submit", "-p", str(pfile)], run)
    assert r.returncode == 0, r.stderr
    counts = runs(run)
    assert all(counts[f"simulate {s}"] == 1 for s in finished), counts
    assert results(run) == ref
