"""``system: slurm`` against a real slurmctld/slurmd on localhost (see conftest.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from seisgrad.build import build_from_config
from seisgrad.errors import ConfigError
from seisgrad.system import slurm as slurmmod
from seisgrad.system._localslurm import LocalSlurm
from tests.system.util import (
    cli,
    reference_run,
    results,
    runs,
    source_state,
    update_params,
    wait_for,
    write_params,
)

pytestmark = pytest.mark.slurm

N = 4
FAST = {"poll_interval": 0.3, "walltime": 5.0, "tasktime": 1.0}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return reference_run(tmp_path_factory.mktemp("ref"), N)


def full_env(slurm: LocalSlurm) -> dict[str, str]:
    return {**os.environ, **slurm.env}


def in_queue(slurm: LocalSlurm, job: str) -> bool:
    r = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%i"],
        env=full_env(slurm),
        capture_output=True,
        text=True,
        check=False,
    )
    return bool(r.stdout.strip())


def submit_main(slurm: LocalSlurm, folder: Path, pfile: Path) -> tuple[str, Path]:
    """``seisgrad submit`` on the 'login node'; return the main job id and its log."""
    r = cli(["submit", "-p", str(pfile)], folder, extra_env=slurm.env)
    assert r.returncode == 0, r.stderr
    m = re.search(r"submitted main job (\d+); its log: (\S+)", r.stderr)
    assert m, r.stderr
    return m.group(1), Path(m.group(2))


def test_end_to_end_main_job_and_array_jobs(
    slurm: LocalSlurm, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    pfile = write_params(tmp_path, N, system="slurm", ntask_max=3, **FAST)
    job, log = submit_main(slurm, tmp_path, pfile)
    wait_for(lambda: not in_queue(slurm, job), 120, f"main job {job} to finish")
    text = log.read_text()
    assert "all tasks finished" in text, text
    assert results(tmp_path) == reference
    assert all(n == 1 for n in runs(tmp_path).values())
    for i in range(N):
        info = source_state(tmp_path, "simulate", f"s{i:03d}")
        assert info["status"] == "done"
        assert info["job_id"].endswith(f"_{i}")  # array index = event index
        assert (tmp_path / "logs" / "slurm" / f"simulate-{info['job_id']}.log").is_file()
    # a second main job for the same folder is refused while one is queued
    update_params(pfile, slurm_args=["--begin=now+300"])  # held in the queue
    job2, _ = submit_main(slurm, tmp_path, pfile)
    assert in_queue(slurm, job2)
    r = cli(["submit", "-p", str(pfile)], tmp_path, extra_env=slurm.env)
    assert r.returncode == 2 and f"main job {job2} of this working folder" in r.stderr, r.stderr
    # and nothing is changed first: --restart deleted the state and scratch of the run
    # before it refused, a foreground run and clean went ahead beside the main job
    before = results(tmp_path)
    state = sorted(p.name for p in (tmp_path / "state").rglob("*.json"))
    for args in (["submit", "--restart"], ["clean"]):
        r = cli([*args, "-p", str(pfile)], tmp_path, extra_env=slurm.env)
        assert r.returncode == 2 and f"main job {job2} of this" in r.stderr, (args, r.stderr)
    update_params(pfile, foreground=True)
    r = cli(["submit", "-p", str(pfile)], tmp_path, extra_env=slurm.env)
    assert r.returncode == 2 and f"main job {job2} of this" in r.stderr, r.stderr
    assert results(tmp_path) == before
    assert sorted(p.name for p in (tmp_path / "state").rglob("*.json")) == state
    # a second main job started by hand (sbatch slurm/main.sh) stops at once
    own = subprocess.run(
        ["sbatch", "--parsable", str(tmp_path / "slurm" / "main.sh")],
        env=full_env(slurm), capture_output=True, text=True, check=True,
    ).stdout.strip().split(";")[0]  # fmt: skip
    wait_for(lambda: not in_queue(slurm, own), 120, f"main job {own} to finish")
    text = (tmp_path / "logs" / "slurm" / f"main-{own}.log").read_text()
    assert f"main job {job2} of this working folder" in text and "stops" in text, text
    assert sum(runs(tmp_path).values()) == N * 2  # simulate and square once each, no more
    subprocess.run(["scancel", job2], env=full_env(slurm), check=True)


def test_more_sources_than_the_cluster_array_limit(
    slurm: LocalSlurm, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    """Event indices at or above the cluster's MaxArraySize (1001 by default) could not
    be array indices ('Invalid job array specification'): such sources go in several
    array jobs, each array index naming its event."""
    pfile = write_params(
        tmp_path, N, system="slurm", foreground=True, max_array_size=3, **FAST
    )  # fmt: skip
    r = cli(["submit", "-p", str(pfile)], tmp_path, extra_env=slurm.env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert results(tmp_path) == reference
    assert all(n == 1 for n in runs(tmp_path).values())
    # (arrays.json keeps the jobs of the last task)
    jobs = json.loads((tmp_path / "slurm" / "arrays.json").read_text())
    square = [j for j in jobs if j["task"] == "square"]
    assert len(square) == -(-N // 3)  # at most 3 array indices a job
    assert sorted(i for j in square for i in j["indices"]) == list(range(N))
    first = (tmp_path / "slurm" / "simulate-0-0.sh").read_text()
    second = (tmp_path / "slurm" / "simulate-0-1.sh").read_text()
    assert "#SBATCH --array=0-2%" in first and "batches=(0 1 2)" in first
    assert "#SBATCH --array=0%" in second and "batches=(3)" in second
    assert 'index="${batches[$SLURM_ARRAY_TASK_ID]}"' in second


def test_working_folder_with_a_blank_and_a_percent(slurm: LocalSlurm, tmp_path: Path) -> None:
    """--output was written unquoted and with the folder's '%' unescaped: a blank made
    sbatch refuse the script, '%u' sent the log to another folder (the job died without
    one)."""
    folder = tmp_path / "a b%u"
    folder.mkdir()
    pfile = write_params(folder, 2, system="slurm", **FAST)
    job, _ = submit_main(slurm, folder, pfile)  # (the printed log path has a blank)
    wait_for(lambda: not in_queue(slurm, job), 120, f"main job {job} to finish")
    log = folder / "logs" / "slurm" / f"main-{job}.log"
    assert "all tasks finished" in log.read_text()
    info = source_state(folder, "simulate", "s001")
    assert info["status"] == "done"
    assert (folder / "logs" / "slurm" / f"simulate-{info['job_id']}.log").is_file()


def test_failing_index_rerun_then_reported_then_resumed(
    slurm: LocalSlurm, tmp_path: Path, reference: dict[str, bytes]
) -> None:
    pfile = write_params(
        tmp_path, N, system="slurm", foreground=True, rerun=2, fail_sources=["s001"], **FAST
    )
    r = cli(["submit", "-p", str(pfile)], tmp_path, extra_env=slurm.env)
    assert r.returncode == 2, r.stderr
    counts = runs(tmp_path)
    assert counts["simulate s001"] == 3  # first try + rerun 2
    assert all(counts[f"simulate s{i:03d}"] == 1 for i in (0, 2, 3)), counts
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1
    info = source_state(tmp_path, "simulate", "s001")
    assert info["status"] == "failed"
    assert f"job {info['job_id']}" in err[0] and info["log"] in err[0]
    assert "toy failure in s001" in Path(info["log"]).read_text()
    assert not (tmp_path / "output" / "total.json").exists()

    update_params(pfile, fail_sources=None)
    r = cli(["submit", "-p", str(pfile)], tmp_path, extra_env=slurm.env)
    assert r.returncode == 0, r.stderr
    counts = runs(tmp_path)
    assert counts["simulate s001"] == 4
    assert all(counts[f"simulate s{i:03d}"] == 1 for i in (0, 2, 3)), counts
    assert results(tmp_path) == reference


def test_array_task_whose_process_ends_is_reported_with_its_status(
    slurm: LocalSlurm, tmp_path: Path
) -> None:
    """A source whose process ends (os._exit(3) in user code) is reported with that
    exit status, not as 'killed before it finished (cancelled, out of memory ...)'."""
    pfile = write_params(
        tmp_path, 3, system="slurm", foreground=True, rerun=0, fail_sources=["s001"],
        fail_error="os._exit", **FAST,
    )  # fmt: skip
    r = cli(["submit", "-p", str(pfile)], tmp_path, extra_env=slurm.env, timeout=90)
    assert r.returncode == 2, r.stderr
    info = source_state(tmp_path, "simulate", "s001")
    assert info["status"] == "failed"
    assert "ended with exit status 3 while running the source" in info["error"], info
    assert "killed" not in info["error"]


def test_task_exceeding_its_time_limit_is_reported(slurm: LocalSlurm, tmp_path: Path) -> None:
    params = FAST | {"tasktime": 0.05, "rerun": 0}  # 3 s
    pfile = write_params(
        tmp_path,
        3,
        system="slurm",
        foreground=True,
        slow_sources=["s002"],
        slow_sleep=120.0,
        **params,
    )
    r = cli(["submit", "-p", str(pfile)], tmp_path, extra_env=slurm.env, timeout=90)
    assert r.returncode == 2, r.stderr
    info = source_state(tmp_path, "simulate", "s002")
    assert info["status"] == "failed"
    assert "time limit" in info["error"] and "0.05 min" in info["error"]
    err = [line for line in r.stderr.splitlines() if line.startswith("error:")][0]
    assert "s002" in err and "time limit" in err and f"job {info['job_id']}" in err
    assert info["log"] in err and Path(info["slurm_log"]).is_file()
    for s in ("s000", "s001"):
        assert source_state(tmp_path, "simulate", s)["status"] == "done"


def test_killed_main_job_loses_nothing_and_resubmit_runs_only_what_is_missing(
    slurm: LocalSlurm, tmp_path: Path
) -> None:
    n = 6
    ref = reference_run(tmp_path / "ref", n)
    run_dir = tmp_path / "run"
    pfile = write_params(run_dir, n, system="slurm", ntask_max=2, sleep=1.5, **FAST)
    job, _ = submit_main(slurm, run_dir, pfile)

    def n_done() -> int:
        return sum(
            source_state(run_dir, "simulate", f"s{i:03d}")["status"] == "done" for i in range(n)
        )

    wait_for(lambda: n_done() >= 1, 90, "a finished source")
    subprocess.run(["scancel", job], env=full_env(slurm), check=True)
    wait_for(lambda: not in_queue(slurm, job), 30, "the main job to leave the queue")
    finished_before = n_done()
    assert finished_before < n
    job2, log2 = submit_main(slurm, run_dir, pfile)
    wait_for(lambda: not in_queue(slurm, job2), 120, "the second main job")
    assert "all tasks finished" in log2.read_text(), log2.read_text()
    counts = runs(run_dir)
    assert all(counts[f"simulate s{i:03d}"] == 1 for i in range(n)), counts
    assert results(run_dir) == ref


@pytest.mark.parametrize("launcher", ["srun", "mpiexec"])
def test_mpi_ranks_inside_array_tasks(
    slurm: LocalSlurm, tmp_path: Path, reference: dict[str, bytes], launcher: str
) -> None:
    pfile = write_params(
        tmp_path,
        N,
        system="slurm",
        foreground=True,
        nproc=2,
        mpiexec=launcher,
        sleep=0.3,
        **FAST,
    )
    r = cli(
        ["submit", "-p", str(pfile), "--stop-after", "simulate"], tmp_path, extra_env=slurm.env
    )
    assert r.returncode == 0, r.stderr
    states = [source_state(tmp_path, "simulate", f"s{i:03d}") for i in range(N)]
    jobs = {s["job_id"] for s in states}
    assert len(jobs) == 2  # 4 sources in batches of 2
    for job in jobs:  # each array task ran its batch on a 2-rank communicator
        text = (tmp_path / "logs" / "slurm" / f"simulate-{job}.log").read_text()
        assert "2 source(s) on 2 rank(s)" in text, text
    assert results_subset(tmp_path) == {
        k: v for k, v in reference.items() if k.startswith("scratch/") and ".sq" not in k
    }


def results_subset(folder: Path) -> dict[str, bytes]:
    files = sorted(f for f in (folder / "scratch").glob("s*.json") if ".sq" not in f.name)
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in files}


# --------------------------------------------------------------------------- no cluster needed
def test_array_and_time_specs() -> None:
    assert slurmmod.array_spec([0, 1, 2, 5, 7, 8], 4) == "0-2,5,7-8%4"
    assert slurmmod.array_spec([3]) == "3"
    assert slurmmod.time_spec(61) == "0:01:01"
    assert slurmmod.time_spec(3600 * 26 + 0.2) == "26:00:01"
    assert slurmmod.launcher_prefix("srun", 3) == ["srun", "-n", "3"]
    assert slurmmod.launcher_prefix("mpirun -np {nproc} --oversubscribe", 2) == [
        "mpirun",
        "-np",
        "2",
        "--oversubscribe",
    ]


def test_parameters_are_checked_and_scripts_honour_them(tmp_path: Path) -> None:
    pfile = write_params(tmp_path, 3, system="slurm", slurm_args=["4G"])
    with pytest.raises(ConfigError, match="slurm_args"):
        build_from_config(pfile)
    pfile = write_params(tmp_path, 3, system="slurm", mpiexec="mpirun -np 4")
    with pytest.raises(ConfigError, match="nproc"):
        build_from_config(pfile)
    # another placeholder failed in the job (KeyError), after 'check' said ok
    for bad in (
        "mpirun -np {nproc} --host {host}",
        "mpirun -np {nproc} {0}",
        "x {nproc} '",
        "mpirun -np {nproc} {nproc.x}",
        "mpirun -np {nproc} -x {nproc[0]}",
    ):
        pfile = write_params(tmp_path, 3, system="slurm", mpiexec=bad)
        with pytest.raises(ConfigError, match="cannot be filled in"):
            build_from_config(pfile)
    pfile = write_params(tmp_path, 3, system="slurm", mpiexec="mpirun -np {nproc} -x {{A}}")
    assert build_from_config(pfile).system.params.mpiexec.endswith("{{A}}")
    pfile = write_params(
        tmp_path,
        3,
        system="slurm",
        partition="gpu",
        account="geo",
        walltime=90,
        tasktime=2.5,
        ntask_max=7,
        solver_threads=4,
    )
    setup = build_from_config(pfile)
    wf, system = setup.workflow, setup.system
    main = system.main_script(wf, "simulate")
    assert "#SBATCH --time=1:30:00" in main and "#SBATCH --partition=gpu" in main
    assert "#SBATCH --account=geo" in main and "--stop-after simulate" in main
    array = system.array_script(wf, "simulate", [0, 2])
    assert "#SBATCH --array=0,2%7" in array and "#SBATCH --cpus-per-task=4" in array
    assert "timeout --signal=TERM --kill-after=15 150 " in array
    assert "SLURM_ARRAY_TASK_ID" in array and "--index" in array
    assert system.solver_threads == 4
    assert "walltime" not in wf.fingerprint and "ntask_max" not in wf.fingerprint


def test_array_job_asks_for_no_more_tasks_than_sources(tmp_path: Path) -> None:
    # nproc 4 with 3 sources: a 4-task job waits for ever on a 4-CPU node whose other
    # CPU runs the main job
    pfile = write_params(tmp_path, 3, system="slurm", nproc=4, mpiexec="srun")
    setup = build_from_config(pfile)
    array = setup.system.array_script(setup.workflow, "simulate", [0, 1, 2])
    assert "#SBATCH --ntasks=3" in array and "srun -n 3 " in array
    assert "#SBATCH --array=0%100" in array
    pfile = write_params(tmp_path, 6, system="slurm", nproc=4, mpiexec="srun")
    setup = build_from_config(pfile)
    array = setup.system.array_script(setup.workflow, "simulate", range(6))
    assert "#SBATCH --ntasks=4" in array and "srun -n 4 " in array


def test_check_finds_missing_slurm_commands(tmp_path: Path, monkeypatch) -> None:
    """'seisgrad check' said ok on a machine without sbatch, and submit then refused
    (found by an acceptance sweep); check says so now, as it does for mpiexec."""
    import shutil

    setup = build_from_config(write_params(tmp_path, 3, system="slurm"))
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda c, *a, **k: None if c == "sbatch" else real(c))
    with pytest.raises(ConfigError, match="'sbatch' not found on PATH"):
        setup.system.check()
    monkeypatch.setattr(shutil, "which", lambda c, *a, **k: f"/usr/bin/{c}")
    setup.system.check()
