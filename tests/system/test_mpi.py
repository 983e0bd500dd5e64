"""``system: mpi`` with a real mpiexec (the mpich wheel's) and the toy workflow."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from seisgrad.build import build_from_config, build_system
from seisgrad.errors import ConfigError
from seisgrad.system import mpi as mpimod
from tests.conftest import start_submit
from tests.system.util import (
    MPIEXEC,
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

pytestmark = pytest.mark.mpi

N = 6


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return reference_run(tmp_path_factory.mktemp("ref"), N)


def ranks_of(folder: Path, task: str, n: int) -> dict[str, int]:
    return {f"s{i:03d}": source_state(folder, task, f"s{i:03d}")["rank"] for i in range(n)}


def test_mpiexec_started_by_user_matches_workstation(
    tmp_path: Path, reference: dict[str, bytes]
) -> None:
    pfile = write_params(tmp_path, N, system="mpi", sleep=0.3)
    r = cli(["submit", "-p", str(pfile)], tmp_path, launcher=[MPIEXEC, "-n", "2"])
    assert r.returncode == 0, r.stderr
    assert results(tmp_path) == reference
    assert f"simulate: {N} source(s) on 2 rank(s)" in r.stderr
    assert set(ranks_of(tmp_path, "simulate", N).values()) <= {0, 1}
    assert all(n == 1 for n in runs(tmp_path).values())


def test_seisgrad_launches_mpiexec_itself(tmp_path: Path, reference: dict[str, bytes]) -> None:
    pfile = write_params(tmp_path, N, system="mpi", nproc=2, sleep=0.3)
    r = cli(["submit", "-p", str(pfile)], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "mpiexec -n 2" in r.stderr
    assert results(tmp_path) == reference
    assert f"square: {N} source(s) on 2 rank(s)" in r.stderr


def test_a_launcher_that_fails_before_any_rank_is_reported_as_such(tmp_path: Path) -> None:
    """mpiexec refusing its own arguments used to be reported as 'a rank crashed or was
    killed'; the error now quotes the launcher."""
    pfile = write_params(tmp_path, 2, system="mpi", nproc=2, mpiexec_args=["--no-such-flag"])
    r = cli(["submit", "-p", str(pfile)], tmp_path, timeout=60)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "before any rank started" in last, r.stderr
    assert "no-such-flag" in last and "crashed" not in last


def test_slow_source_does_not_hold_back_the_others(tmp_path: Path) -> None:
    pfile = write_params(
        tmp_path, N, system="mpi", nproc=2, sleep=0.05, slow_sources=["s000"], slow_sleep=3.0
    )
    r = cli(["submit", "-p", str(pfile), "--stop-after", "simulate"], tmp_path)
    assert r.returncode == 0, r.stderr
    ranks = ranks_of(tmp_path, "simulate", N)
    slow_rank = ranks["s000"]
    others = {s: rk for s, rk in ranks.items() if s != "s000"}
    # Static round-robin would give the slow rank 3 sources; dynamic hand-out gives it
    # only the slow one while the other rank runs all the rest.
    assert all(rk != slow_rank for rk in others.values()), ranks


def test_failed_source_reported_with_rank_and_log_then_resumed(
    tmp_path: Path, reference: dict[str, bytes]
) -> None:
    pfile = write_params(tmp_path, N, system="mpi", sleep=0.1, fail_sources=["s002"])
    r = cli(["submit", "-p", str(pfile)], tmp_path, launcher=[MPIEXEC, "-n", "2"])
    assert r.returncode == 2, r.stderr
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1, r.stderr
    info = source_state(tmp_path, "simulate", "s002")
    assert info["status"] == "failed"
    log = tmp_path / "logs" / "simulate" / "s002.log"
    assert "s002" in err[0] and f"rank {info['rank']}" in err[0] and str(log) in err[0]
    assert "toy failure in s002" in log.read_text()
    for i in (0, 1, 3, 4, 5):
        assert source_state(tmp_path, "simulate", f"s{i:03d}")["status"] == "done"
    assert not (tmp_path / "output" / "total.json").exists()  # stopped before the reduction

    update_params(pfile, fail_sources=None)
    r = cli(["submit", "-p", str(pfile)], tmp_path, launcher=[MPIEXEC, "-n", "2"])
    assert r.returncode == 0, r.stderr
    counts = runs(tmp_path)
    assert counts["simulate s002"] == 2
    assert all(counts[f"simulate s{i:03d}"] == 1 for i in (0, 1, 3, 4, 5)), counts
    assert results(tmp_path) == reference


def test_kill_of_the_mpi_run_loses_no_finished_source(
    tmp_path: Path, reference: dict[str, bytes]
) -> None:
    n = 8
    ref = reference_run(tmp_path / "ref", n)
    run_dir = tmp_path / "run"
    pfile = write_params(run_dir, n, system="mpi", nproc=2, sleep=0.6)
    proc = subprocess.Popen(
        [sys.executable, "-m", "seisgrad.cli", "submit", "-p", str(pfile)],
        cwd=run_dir,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def done() -> list[str]:
            return [
                f"s{i:03d}"
                for i in range(n)
                if source_state(run_dir, "simulate", f"s{i:03d}")["status"] == "done"
            ]

        wait_for(lambda: len(done()) >= 3, 60, "3 finished sources")
        os.killpg(proc.pid, signal.SIGKILL)  # seisgrad
        for pid in _processes_with(str(pfile)):  # mpiexec and every rank
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)
        wait_for(lambda: _lock_free(run_dir / "state" / "submit.lock"), 30, "the lock")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    finished = done()
    assert 3 <= len(finished) < n
    r = cli(["submit", "-p", str(pfile)], run_dir)
    assert r.returncode == 0, r.stderr
    counts = runs(run_dir)
    for s in finished:
        assert counts[f"simulate {s}"] == 1, (s, counts)
    assert results(run_dir) == ref


def test_single_rank_in_process(tmp_path: Path, reference: dict[str, bytes]) -> None:
    pfile = write_params(tmp_path, N, system="mpi", nproc=1)
    setup = build_from_config(pfile)
    assert setup.system.solver_threads == 1
    setup.system.submit(setup.workflow)
    assert results(tmp_path) == reference


def test_parameters_and_helpers(tmp_path: Path) -> None:
    pfile = write_params(tmp_path, 2, system="mpi", nproc=0)
    with pytest.raises(ConfigError, match="nproc"):
        build_from_config(pfile)
    pfile = write_params(tmp_path, 2, system="mpi", solver_threads=3, mpiexec="no-such-mpiexec")
    setup = build_from_config(pfile)
    assert setup.system.solver_threads == 3
    with pytest.raises(ConfigError, match="no-such-mpiexec"):
        setup.system.launch_command(pfile, None)
    assert mpimod.under_launcher({"PMI_RANK": "0"})
    assert not mpimod.under_launcher({"HOME": "/"})
    e = mpimod.thread_env(3, {"OMP_NUM_THREADS": "5"})
    assert e["OMP_NUM_THREADS"] == "5" and e["NUMBA_NUM_THREADS"] == "3"
    # the launcher's and rank count never change results: not in the fingerprint
    assert "nproc" not in setup.workflow.fingerprint
    assert "solver_threads" not in setup.workflow.fingerprint


def test_submit_checks_the_setup_before_starting_mpiexec(
    tmp_path: Path,
) -> None:
    # the System alone can be built from a file with a bad key elsewhere ...
    pfile = write_params(tmp_path, 2, system="mpi", nproc=2, no_such_key=1)
    system, paths = build_system(pfile)
    assert isinstance(system, mpimod.MPI) and system.params.nproc == 2
    assert paths.logs == tmp_path / "logs"
    # ... but 'seisgrad submit' checks the whole setup before starting mpiexec: one
    # error line naming the key (not one per rank), no rank started, nothing written
    r = cli(["submit", "-p", str(pfile)], tmp_path, timeout=60)
    assert r.returncode != 0
    assert "mpiexec -n 2" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no_such_key" in errors[0], r.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "logs").exists()
    # --restart builds everything first (it removes the state), then launches
    update_params(pfile, no_such_key=None)
    r = cli(["submit", "-p", str(pfile), "--restart"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "2 source(s) on 2 rank(s)" in r.stderr


def _lock_free(path: Path) -> bool:
    """Whether no process holds the run lock ``path`` (the launcher's helpers may
    outlive the ranks by a moment)."""
    import fcntl

    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # (closing releases a lock taken here)
    return True


def _processes_with(text: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and "pytest" not in cmdline:
                out.append(int(d.name))
    return out


@contextlib.contextmanager
def _mpi_submit(tmp_path: Path, n: int, sleep: float) -> Iterator[tuple[Path, subprocess.Popen]]:
    """``seisgrad submit`` of ``n`` toy sources of ``sleep`` s on 2 ranks, started by
    itself (stderr piped, its own session); killed with its process group when it still
    runs at the end."""
    pfile = write_params(tmp_path, n, system="mpi", nproc=2, sleep=sleep)
    proc = start_submit(
        tmp_path, "-p", str(pfile), stderr=subprocess.PIPE, env=env(), new_session=True
    )
    try:
        yield pfile, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_sigterm_of_submit_stops_mpiexec_and_the_ranks(tmp_path: Path) -> None:
    n = 6
    with _mpi_submit(tmp_path, n, 1.0) as (pfile, proc):
        wait_for(
            lambda: (
                source_state(tmp_path, "simulate", "s000")["status"] == "done"
                or source_state(tmp_path, "simulate", "s001")["status"] == "done"
            ),
            60,
            "a finished source",
        )
        os.kill(proc.pid, signal.SIGTERM)  # seisgrad only, not its process group
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("error: interrupted")
    wait_for(lambda: not _processes_with(str(pfile)), 30, "mpiexec and the ranks to end")
    states = [source_state(tmp_path, "simulate", f"s{i:03d}") for i in range(n)]
    assert not [s for s in states if s["status"] == "running"], states
    assert any(s.get("error") == "interrupted" for s in states), states
    r = cli(["submit", "-p", str(pfile)], tmp_path)
    assert r.returncode == 0, r.stderr


def test_killed_rank_is_named_and_its_source_shown_interrupted(tmp_path: Path) -> None:
    n = 6
    with _mpi_submit(tmp_path, n, 2.0) as (pfile, proc):

        def on_rank1() -> dict | None:
            for i in range(n):
                info = source_state(tmp_path, "simulate", f"s{i:03d}")
                if info["status"] == "running" and info.get("rank") == 1:
                    return {"source": f"s{i:03d}", **info}
            return None

        info = wait_for(on_rank1, 60, "a source running on rank 1")
        os.kill(info["pid"], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and f"simulate/{info['source']} (rank 1)" in last, last
    r = cli(["status", "--json", "-p", str(pfile)], tmp_path)
    rows = {row["task"]: row for row in json.loads(r.stdout)}
    assert rows["simulate"]["sources"][info["source"]]["status"] == "interrupted"


def test_check_finds_a_missing_mpiexec(tmp_path: Path) -> None:
    pfile = write_params(tmp_path, 2, system="mpi", nproc=2, mpiexec="nosuchmpi")
    r = cli(["check", "-p", str(pfile)], tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: mpiexec: 'nosuchmpi' not found")
    update_params(pfile, mpiexec=None)
    assert cli(["check", "-p", str(pfile)], tmp_path).returncode == 0


def test_user_launched_ranks_agree_before_any_work(tmp_path: Path) -> None:
    """Under 'mpiexec -n 2 seisgrad submit': --restart is cleaned by rank 0 alone (every
    rank removed the state and they raced: ENOENT, then a hang); a lock refused on rank
    0, or a system that is not 'mpi', is one error line and every rank ends (rank 1 was
    left waiting for ever)."""
    launcher = [MPIEXEC, "-n", "2"]
    pfile = write_params(tmp_path, 3, system="mpi")
    assert cli(["submit", "-p", str(pfile)], tmp_path, launcher=launcher).returncode == 0
    for _ in range(2):
        r = cli(["submit", "--restart", "-p", str(pfile)], tmp_path, launcher, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "all tasks finished" in r.stderr
    from seisgrad.workflow.state import State

    lock = State(tmp_path).run_lock()
    lock.acquire()
    try:
        r = cli(["submit", "-p", str(pfile)], tmp_path, launcher=launcher, timeout=60)
    finally:
        lock.release()
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert "another 'seisgrad submit' is running" in err[0]
    # an error that is not seisgrad's (user code, a bug) on one rank only
    update_params(pfile, fail_check_rank=1)
    r = cli(["submit", "-p", str(pfile)], tmp_path, launcher=launcher, timeout=60)
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and err == [
        "error: rank 1: ValueError: toy check failure on rank 1"
    ], r.stderr
    update_params(pfile, fail_check_rank=None, system="workstation")
    r = cli(["submit", "-p", str(pfile)], tmp_path, launcher=launcher, timeout=60)
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert "Set 'system: mpi'" in err[0]


@pytest.mark.parametrize(("system", "ranks"), [("workstation", 1), ("mpi", 1), ("mpi", 2)])
def test_sys_exit_in_a_source_is_a_failed_source(tmp_path: Path, system: str, ranks: int) -> None:
    """A source whose code calls sys.exit is a failed source like any error (on a worker
    rank it left the loop, and rank 0 waited for ever; on one process it ended the run
    with no error line)."""
    pfile = write_params(
        tmp_path, 4, system=system, fail_sources=["s001", "s002"], fail_error="SystemExit"
    )
    launcher = [MPIEXEC, "-n", str(ranks)] if ranks > 1 else None
    r = cli(["submit", "-p", str(pfile)], tmp_path, launcher=launcher, timeout=60)
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert "2 source(s) failed: s001 (SystemExit: 4" in err[0]
    assert source_state(tmp_path, "simulate", "s003")["status"] == "done"


def test_a_killed_rank_0_is_not_reported_as_a_launcher_failure(tmp_path: Path) -> None:
    """Rank 0 killed during a task. When no source was running, the launcher said it
    'failed before any rank started': the ranks' start marker, which it looks for then,
    was never printed on the launched path. (Here a source runs, so the message names
    it; the marker itself is what the last assertion checks.)"""
    with _mpi_submit(tmp_path, 6, 2.0) as (pfile, proc):

        def rank0() -> int | None:
            p = tmp_path / "state" / "workflow.json"
            if not p.exists():
                return None
            entry = json.loads(p.read_text())["tasks"].get("simulate", {})
            return entry.get("pid") if entry.get("status") == "running" else None

        pid = wait_for(rank0, 60, "the simulate task running on rank 0")
        wait_for(lambda: source_state(tmp_path, "simulate", "s000")["status"] != "pending", 60,
                 "a source started")  # fmt: skip
        os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    last = err.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("error: the MPI run"), err
    assert "before any rank started" not in last and "a rank crashed or was killed" in last
    # what tells the launcher that the ranks started, also when no source was running
    # (a rank killed in write_misfit read 'failed before any rank started')
    assert "\nsystem mpi: 2 rank(s)\n" in err, err


def test_a_submit_killed_outright_keeps_the_folder_locked_while_its_ranks_run(
    tmp_path: Path,
) -> None:
    """SIGKILL of 'seisgrad submit' left mpiexec and the ranks running, and a new submit
    took the lock and ran beside them (two write_misfit at once, in a sweep)."""
    # (mpiexec dies of SIGPIPE at rank 0's next log line, its reader gone: a source
    # of 6 s gives the second submit time to find the lock held)
    n = 2
    pfile = write_params(tmp_path, n, system="mpi", nproc=2, sleep=6.0)
    proc = start_submit(tmp_path, "-p", str(pfile), env=env(), new_session=True)
    try:
        wait_for(
            lambda: source_state(tmp_path, "simulate", "s000")["status"] == "running",
            60,
            "a running source",
        )
        os.kill(proc.pid, signal.SIGKILL)  # seisgrad only: mpiexec and the ranks go on
        proc.wait(timeout=30)
        r = cli(["submit", "-p", str(pfile)], tmp_path)
        assert r.returncode == 2, r.stderr
        assert "another 'seisgrad submit' is running" in r.stderr, r.stderr
        wait_for(lambda: not _processes_with(str(pfile)), 60, "the orphaned ranks to end")
        wait_for(lambda: _lock_free(tmp_path / "state" / "submit.lock"), 30, "the lock")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # every process of the group has ended
            pass
    r = cli(["submit", "-p", str(pfile)], tmp_path)
    assert r.returncode == 0, r.stderr
