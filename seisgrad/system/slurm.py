"""``system: slurm``: per-source tasks as Slurm array jobs.

``seisgrad submit`` on a login node submits the *main job* (``sbatch``), which runs the
workflow. For a per-source task the main job writes a small job script and submits it
as an array job (``sbatch --array=<pending indices>%ntask_max``), watches it with
``squeue`` (and reads ``sacct`` when accounting is on; it is never required), and
re-submits the indices that failed, up to ``rerun`` times. What a source did is read
from its state file, written by the array task that ran it
(:meth:`~seisgrad.workflow.base.Workflow.run_source`). A source whose array task left
the queue without recording a result was killed: by its time limit (``tasktime``,
enforced to the second inside the job script, with Slurm's ``--time`` as a back-stop),
by ``scancel``, by running out of memory or by a node failure. The main job records
such sources as failed, with the array job id, the reason and both log files.

When the main job is killed (walltime, ``scancel``), array tasks already running go on
and record their results; ``seisgrad submit`` again starts a new main job, which waits
for array jobs of the earlier one still in the queue and then runs only what is
missing.

With ``nproc > 1`` each array task runs a batch of ``nproc`` sources on ``nproc`` MPI
ranks (fewer when fewer sources are pending: ``--ntasks`` and the ranks never exceed
the sources of the largest batch), started by the ``mpiexec`` launcher choice (``srun``,
``mpiexec`` or a custom command), handed out dynamically by :mod:`seisgrad.system.mpi`.

Only the generated job script reads ``SLURM_ARRAY_TASK_ID``; it passes it on as
``--index`` (library code never takes task context from the environment).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seisgrad.config import Schema, param
from seisgrad.errors import ConfigError, SeisgradError, StateError, TaskError, error_line
from seisgrad.logs import FILES_ONLY, logger
from seisgrad.system.base import System
from seisgrad.workflow.state import DONE, FAILED, PENDING, RUNNING, write_json_atomic

if TYPE_CHECKING:
    from seisgrad.workflow.base import Workflow

__all__ = [
    "Slurm",
    "SlurmParameters",
    "array_spec",
    "time_spec",
    "launcher_prefix",
    "squeue_jobs",
    "sacct_states",
    "main",
]

#: Marker the array job script prints when the per-task time limit killed the task.
TIMEOUT_MARK = "seisgrad-slurm: TIMEOUT"


@dataclass
class SlurmParameters(Schema):
    """Parameters of the Slurm system (none of them changes results)."""

    walltime: float = param(
        60.0, "time limit of the main job (minutes)", low=0.1, affects_results=False
    )
    tasktime: float = param(
        30.0,
        "time limit of each per-source array task (minutes; fractions allowed, enforced "
        "to the second)",
        low=0.001,
        affects_results=False,
    )
    partition: str | None = param(None, "partition (sbatch --partition)", affects_results=False)
    account: str | None = param(None, "account (sbatch --account)", affects_results=False)
    ntask_max: int = param(
        100,
        "most array tasks running at once (--array=...%ntask_max)",
        low=1,
        affects_results=False,
    )
    nproc: int = param(
        1,
        "MPI ranks per array task: above 1, each array task runs a batch of nproc sources "
        "on nproc ranks started by the 'mpiexec' launcher",
        low=1,
        affects_results=False,
    )
    solver_threads: int = param(
        1,
        "solver threads (CPUs) per rank: sbatch --cpus-per-task",
        low=1,
        affects_results=False,
    )
    rerun: int = param(
        1, "times a failed array index is submitted again", low=0, affects_results=False
    )
    slurm_args: list[str] = param(
        [],
        "extra sbatch arguments for every job, e.g. ['--qos=debug', '--mem=4G']",
        affects_results=False,
    )
    mpiexec: str = param(
        "srun",
        "launcher of the ranks of an array task when nproc > 1: 'srun' (srun -n nproc), "
        "'mpiexec' (mpiexec -n nproc) or a command with {nproc}, e.g. "
        "'srun --mpi=pmix -n {nproc}'",
        affects_results=False,
    )
    poll_interval: float = param(
        10.0, "seconds between squeue checks", low=0.05, affects_results=False
    )
    max_array_size: int | None = param(
        None,
        "largest array index + 1 the cluster takes (Slurm's MaxArraySize): more sources "
        "go in several array jobs; null = ask 'scontrol show config' (else 1001, "
        "Slurm's default)",
        low=2,
        affects_results=False,
    )
    foreground: bool = param(
        False,
        "'seisgrad submit' runs the main loop in this process (e.g. in tmux on a login "
        "node, or in tests) instead of submitting a main job",
        affects_results=False,
    )

    def validate(self) -> None:
        for arg in self.slurm_args:
            if not arg.startswith("-"):
                raise ConfigError(
                    f"slurm_args: '{arg}' is not an sbatch option; give each option with "
                    "its value in one item, e.g. ['--mem=4G', '--qos=debug']"
                )
        if self.mpiexec not in ("srun", "mpiexec") and "{nproc}" not in self.mpiexec:
            raise ConfigError(
                f"mpiexec: '{self.mpiexec}' must be 'srun', 'mpiexec' or a command "
                "containing {nproc}, e.g. 'mpirun -np {nproc}'"
            )
        if self.mpiexec not in ("srun", "mpiexec"):
            try:  # what the job will do with it: fail here, not in the job
                shlex.split(self.mpiexec.format(nproc=1))
            except Exception as exc:  # KeyError, IndexError, AttributeError ({nproc.x}), ...
                raise ConfigError(
                    f"mpiexec: '{self.mpiexec}' cannot be filled in: {{nproc}} is its only "
                    f"placeholder (write other braces doubled, {{{{ }}}}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc


# --------------------------------------------------------------------------- helpers
def array_spec(indices: Sequence[int], ntask_max: int | None = None) -> str:
    """Compact ``--array`` value: ``[0, 1, 2, 5, 7, 8]`` -> ``"0-2,5,7-8%ntask_max"``."""
    values = sorted(set(int(i) for i in indices))
    if not values:
        raise ValueError("array_spec: no indices")
    parts = []
    start = prev = values[0]
    for v in [*values[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    spec = ",".join(parts)
    return f"{spec}%{ntask_max}" if ntask_max else spec


def time_spec(seconds: float) -> str:
    """Slurm ``--time`` value (``H:MM:SS``) for ``seconds``, rounded up."""
    s = max(1, math.ceil(seconds))
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


def launcher_prefix(choice: str, nproc: int) -> list[str]:
    """Command prefix that starts ``nproc`` MPI ranks inside a Slurm job."""
    if choice == "srun":
        return ["srun", "-n", str(nproc)]
    if choice == "mpiexec":
        from seisgrad.system.mpi import launcher_path

        return [launcher_path("mpiexec"), "-n", str(nproc)]
    return shlex.split(choice.format(nproc=nproc))


def _clean_env() -> dict[str, str]:
    """This environment without the ``SLURM_*`` variables of an enclosing job (they
    would leak into jobs submitted from it), keeping ``SLURM_CONF``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") or k == "SLURM_CONF"}


def _command(args: Sequence[str], timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_clean_env(),
            check=False,
        )
    except FileNotFoundError as exc:
        raise TaskError(
            f"system slurm: '{args[0]}' not found; run seisgrad on a machine with the Slurm "
            "commands (a login node), or use system: workstation or mpi"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise TaskError(
            f"system slurm: '{shlex.join(args)}' did not answer in {timeout} s"
        ) from exc


def sbatch(script: Path, extra: Sequence[str] = ()) -> str:
    """Submit ``script``; return the job id."""
    r = _command(["sbatch", "--parsable", *extra, str(script)])
    if r.returncode != 0:
        msg = " ".join(r.stderr.split()) or f"exit status {r.returncode}"
        raise TaskError(f"sbatch {script} failed: {msg}")
    job = r.stdout.strip().split(";")[0]
    if not job.isdigit():
        raise TaskError(f"sbatch {script}: unexpected output {r.stdout.strip()!r}")
    return job


def squeue_jobs(job_id: str) -> list[tuple[str, str]] | None:
    """``(job id, state)`` of the (array) job's entries still in the queue.

    Returns ``[]`` when the job has left the queue and ``None`` when ``squeue`` could
    not answer (controller busy or unreachable: try again later).
    """
    r = _command(["squeue", "-h", "-r", "-j", job_id, "-o", "%i %T"])
    if r.returncode != 0:
        if "Invalid job id" in r.stderr:
            return []
        return None
    out = []
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out.append((parts[0], parts[1]))
    return out


def scontrol_max_array_size() -> int | None:
    """Slurm's ``MaxArraySize`` from ``scontrol show config`` (None when it cannot
    tell)."""
    try:
        r = _command(["scontrol", "show", "config"], 30)
    except TaskError:
        return None
    m = re.search(r"^MaxArraySize\s*=\s*(\d+)", r.stdout, re.M) if r.returncode == 0 else None
    return int(m.group(1)) if m else None


def sacct_states(job_id: str) -> dict[str, str]:
    """``array job id -> state`` from ``sacct`` (``{}`` when accounting is off)."""
    try:
        r = _command(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "JobID,State"], 30)
    except TaskError:
        return {}
    if r.returncode != 0:
        return {}
    out = {}
    for line in r.stdout.splitlines():
        parts = line.split("|")
        if len(parts) >= 2 and parts[0]:
            out[parts[0]] = parts[1].split()[0] if parts[1] else ""
    return out


def _minutes(value: float) -> str:
    return f"{value:g} min"


# --------------------------------------------------------------------------- the System
class Slurm(System):
    """Per-source tasks as Slurm array jobs, driven by a main job."""

    Parameters = SlurmParameters
    #: The cluster's array limit once asked (see :meth:`array_limit`).
    _array_limit: int | None = None

    @property
    def solver_threads(self) -> int | None:
        return int(self.params.solver_threads)

    def check(self) -> None:
        """The Slurm commands ``submit`` runs (``sbatch``, ``squeue``) are on ``PATH``
        (``seisgrad check`` said ok, then ``submit`` refused, on a machine without
        them)."""
        import shutil

        missing = [c for c in ("sbatch", "squeue") if shutil.which(c) is None]
        if missing:
            raise ConfigError(
                f"system slurm: {' and '.join(repr(c) for c in missing)} not found on PATH; "
                "run seisgrad on a machine with the Slurm commands (a login node), or use "
                "system: workstation or mpi"
            )

    # -- folders -----------------------------------------------------------------
    @staticmethod
    def script_dir(workflow: Workflow) -> Path:
        """Generated job scripts and the list of submitted jobs."""
        return workflow.path.workdir / "slurm"

    @staticmethod
    def log_dir(workflow: Workflow) -> Path:
        """Slurm output files of the main job and of the array tasks."""
        return workflow.path.logs / "slurm"

    def _common_lines(self, name: str, output: Path, seconds: float) -> list[str]:
        p = self.params
        lines = [
            "#!/bin/bash",
            f"#SBATCH --job-name={name}",
            f"#SBATCH --output={_output_spec(output)}",
            f"#SBATCH --time={time_spec(seconds)}",
        ]
        if p.partition:
            lines.append(f"#SBATCH --partition={p.partition}")
        if p.account:
            lines.append(f"#SBATCH --account={p.account}")
        if p.slurm_args:
            lines.append("# extra sbatch arguments (slurm_args): " + shlex.join(p.slurm_args))
        return lines

    def _thread_lines(self) -> list[str]:
        t = self.params.solver_threads
        return [
            f'export {v}="${{{v}:-{t}}}"'
            for v in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        ]

    # -- the main job ------------------------------------------------------------
    def main_script(self, workflow: Workflow, stop_after: str | None = None) -> str:
        """Text of the main job's script."""
        if workflow.parameter_file is None:
            raise ConfigError("system slurm: the workflow must be built from a parameter file")
        out = self.log_dir(workflow) / "main-%j.log"
        lines = self._common_lines("seisgrad-main", out, self.params.walltime * 60.0)
        lines += [
            "#SBATCH --ntasks=1",
            f"#SBATCH --cpus-per-task={self.params.solver_threads}",
            "# seisgrad main job: runs the workflow; submits per-source work as array jobs",
            *self._thread_lines(),
        ]
        cmd = [
            sys.executable,
            "-m",
            "seisgrad.system.slurm",
            "main",
            "-p",
            str(workflow.parameter_file),
        ]
        if stop_after is not None:
            cmd += ["--stop-after", stop_after]
        lines.append(shlex.join(cmd))
        return "\n".join(lines) + "\n"

    def main_job(self, workflow: Workflow) -> str | None:
        """The main job recorded for this working folder when it is still queued or
        running (``squeue``; a job ``squeue`` cannot tell about counts as still there),
        else ``None``."""
        record = self.script_dir(workflow) / "main.json"
        if not record.is_file():
            return None
        try:
            old = json.loads(record.read_text()).get("job_id")
        except (json.JSONDecodeError, AttributeError):
            return None
        if not old:
            return None
        entries = squeue_jobs(str(old))
        return str(old) if entries is None or entries else None

    def busy(self, workflow: Workflow) -> str | None:
        job = self.main_job(workflow)
        if job is None:
            return None
        return (
            f"main job {job} of this working folder ({workflow.path.workdir}) is still "
            f"queued or running; wait for it, or 'scancel {job}' first"
        )

    def submit(self, workflow: Workflow, stop_after: str | None = None) -> None:
        """Submit the main job (or, with ``foreground: true``, run the main loop here).
        ``seisgrad submit`` has checked :meth:`busy` before anything changed."""
        if self.params.foreground:
            workflow.run(stop_after=stop_after)
            return
        folder = self.script_dir(workflow)
        record = folder / "main.json"
        self.log_dir(workflow).mkdir(parents=True, exist_ok=True)
        script = _write_script(folder / "main.sh", self.main_script(workflow, stop_after))
        job = sbatch(script, self.params.slurm_args)
        log = self.log_dir(workflow) / f"main-{job}.log"
        write_json_atomic(record, {"job_id": job, "log": str(log), "script": str(script)})
        logger.info(
            "submitted main job %s; its log: %s ('seisgrad status' shows progress)", job, log
        )

    # -- array jobs --------------------------------------------------------------
    def batches(self, indices: Sequence[int]) -> list[list[int]]:
        """Sources of each array index: one per index (``nproc`` 1, the array index is
        the event index) or batches of ``nproc``."""
        items = sorted(indices)
        if self.params.nproc == 1:
            return [[i] for i in items]
        n = self.params.nproc
        return [items[k : k + n] for k in range(0, len(items), n)]

    def array_limit(self) -> int:
        """Largest array index + 1 of this cluster (``max_array_size``, else Slurm's
        ``MaxArraySize`` from ``scontrol show config``, else 1001)."""
        if self.params.max_array_size is not None:
            return self.params.max_array_size
        if self._array_limit is None:
            self._array_limit = scontrol_max_array_size() or 1001
        return self._array_limit

    def arrays(self, indices: Sequence[int]) -> list[tuple[list[list[int]], bool]]:
        """The array jobs that run ``indices``: ``(batches, direct)`` each. ``direct``:
        the array index is the event index (``nproc`` 1 and every index below the
        cluster's array limit); else array index ``k`` runs batch ``k`` of that job,
        and a job holds at most the limit's number of batches."""
        batches = self.batches(indices)
        limit = self.array_limit()
        if self.params.nproc == 1 and max(indices) < limit:
            return [(batches, True)]
        return [(batches[k : k + limit], False) for k in range(0, len(batches), limit)]

    def array_script(
        self,
        workflow: Workflow,
        task: str,
        indices: Sequence[int],
        batches: Sequence[Sequence[int]] | None = None,
        direct: bool | None = None,
    ) -> str:
        """Text of the array job script that runs per-source ``task`` for ``indices``
        (one job of :meth:`arrays`: its ``batches`` and ``direct``; default: the
        first)."""
        if workflow.parameter_file is None:
            raise ConfigError("system slurm: the workflow must be built from a parameter file")
        p = self.params
        seconds = p.tasktime * 60.0
        out = self.log_dir(workflow) / f"{task}-%A_%a.log"
        if batches is None or direct is None:
            batches, direct = self.arrays(indices)[0]
        batches = [list(b) for b in batches]
        # ranks (and Slurm tasks) per array task: never more than the sources of its
        # batch, or a job asking for idle CPUs may wait in the queue for ever
        ranks = max(len(b) for b in batches)
        if direct:
            array = array_spec([b[0] for b in batches], p.ntask_max)
        else:
            array = array_spec(range(len(batches)), p.ntask_max)
        lines = self._common_lines(f"seisgrad-{task}", out, seconds + 60.0)
        lines += [
            f"#SBATCH --array={array}",
            f"#SBATCH --ntasks={ranks}",
            f"#SBATCH --cpus-per-task={p.solver_threads}",
            f"# seisgrad per-source task '{task}'; array index = "
            + ("event index" if direct else f"batch of up to {p.nproc} event(s) (below)"),
            *self._thread_lines(),
            'job="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
        ]
        pfile = str(workflow.parameter_file)
        if p.nproc == 1:
            if direct:
                lines.append('index="$SLURM_ARRAY_TASK_ID"')
            else:
                lines.append("batches=(" + " ".join(str(b[0]) for b in batches) + ")")
                lines.append('index="${batches[$SLURM_ARRAY_TASK_ID]}"')
            cmd = shlex.join(
                [
                    sys.executable,
                    "-m",
                    "seisgrad.cli",
                    "run-source",
                    "-p",
                    pfile,
                    "--task",
                    task,
                ]
            )
            cmd += ' --index "$index" --job-id "$job"'
        else:
            lines.append(
                "batches=(" + " ".join(",".join(str(i) for i in b) for b in batches) + ")"
            )
            lines.append('indices="${batches[$SLURM_ARRAY_TASK_ID]}"')
            launcher = launcher_prefix(p.mpiexec, ranks)
            cmd = shlex.join(
                [
                    *launcher,
                    sys.executable,
                    "-m",
                    "seisgrad.system.mpi",
                    "sources",
                    "-p",
                    pfile,
                    "--task",
                    task,
                ]
            )
            cmd += ' --indices "$indices" --job-id "$job"'
        limit = max(1, math.ceil(seconds))
        lines += [
            f"timeout --signal=TERM --kill-after=15 {limit} {cmd}",
            "rc=$?",
            'if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then',
            f'    echo "{TIMEOUT_MARK}: exceeded the per-task time limit '
            f'(tasktime = {_minutes(p.tasktime)})"',
            "fi",
            'echo "seisgrad-slurm: exit status $rc"',
            'exit "$rc"',
        ]
        return "\n".join(lines) + "\n"

    def _jobs_file(self, workflow: Workflow) -> Path:
        return self.script_dir(workflow) / "arrays.json"

    def _load_jobs(self, workflow: Workflow) -> list[dict[str, Any]]:
        f = self._jobs_file(workflow)
        return json.loads(f.read_text()) if f.is_file() else []

    def _record_job(self, workflow: Workflow, entry: dict[str, Any]) -> None:
        jobs = self._load_jobs(workflow) + [entry]
        write_json_atomic(self._jobs_file(workflow), jobs[-200:])

    def wait(self, job: str, what: str) -> None:
        """Poll ``squeue`` until ``job`` has left the queue."""
        last = None
        failing_since: float | None = None
        while True:
            entries = squeue_jobs(job)
            if entries is None:
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > max(600.0, 20 * self.params.poll_interval):
                    raise TaskError(f"squeue has not answered about job {job} for 10 minutes")
            else:
                failing_since = None
                if not entries:
                    return
                counts: dict[str, int] = {}
                for _, state in entries:
                    counts[state.lower()] = counts.get(state.lower(), 0) + 1
                text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
                if text != last:
                    logger.info("%s: job %s: %s", what, job, text)
                    last = text
            time.sleep(self.params.poll_interval)

    def _wait_for_earlier(self, workflow: Workflow) -> None:
        """Wait for array jobs of an earlier (killed) main job that are still queued."""
        jobs = self._load_jobs(workflow)
        for entry in jobs:
            job = str(entry["job_id"])
            if squeue_jobs(job):
                logger.info(
                    "array job %s (task %s) from an earlier main job is still in the queue; "
                    "waiting for it before running what is missing",
                    job,
                    entry.get("task"),
                )
                self.wait(job, str(entry.get("task")))
        if jobs:  # all have left the queue: forget them
            write_json_atomic(self._jobs_file(workflow), [])

    def run(self, workflow: Workflow, task: str, indices: Sequence[int]) -> None:
        """Run per-source ``task`` for ``indices`` as array jobs; re-submit failures."""
        self._wait_for_earlier(workflow)
        state = workflow.state
        events = workflow.events

        def unfinished(items: Sequence[int]) -> list[int]:
            return [i for i in items if state.source_status(task, events[i].name) != DONE]

        todo = unfinished(indices)
        folder = self.script_dir(workflow)
        self.log_dir(workflow).mkdir(parents=True, exist_ok=True)
        for attempt in range(self.params.rerun + 1):
            if not todo:
                return
            if attempt:
                logger.warning(
                    "%s: re-submitting %d failed source(s) (attempt %d of %d): %s",
                    task,
                    len(todo),
                    attempt + 1,
                    self.params.rerun + 1,
                    ", ".join(events[i].name for i in todo),
                )
            submitted = []
            arrays = self.arrays(todo)
            for c, (batches, direct) in enumerate(arrays):
                part = [i for b in batches for i in b]
                name = f"{task}-{attempt}" + (f"-{c}" if len(arrays) > 1 else "")
                script = _write_script(
                    folder / f"{name}.sh",
                    self.array_script(workflow, task, part, batches, direct),
                )
                job = sbatch(script, self.params.slurm_args)
                array_of = {i: (i if direct else k) for k, b in enumerate(batches) for i in b}
                self._record_job(workflow, {"job_id": job, "task": task, "indices": part})
                logger.info(
                    "%s: submitted array job %s for %d source(s) (%d at once)",
                    task,
                    job,
                    len(part),
                    self.params.ntask_max,
                )
                submitted.append((job, part, array_of))
            for job, part, array_of in submitted:
                self.wait(job, task)
                self._settle(workflow, task, part, job, array_of)
            todo = unfinished(todo)

    def _settle(
        self,
        workflow: Workflow,
        task: str,
        indices: Sequence[int],
        job: str,
        array_of: dict[int, int],
    ) -> None:
        """Record sources whose array task ended without recording a result."""
        acct = sacct_states(job)
        for i in indices:
            name = workflow.events[i].name
            info = workflow.state.source_info(task, name)
            status = info.get("status", PENDING)
            if status in (DONE, FAILED):
                if status == FAILED:
                    logger.error(
                        "%s: source %s failed: %s",
                        task,
                        name,
                        info.get("error"),
                        extra=FILES_ONLY,
                    )
                continue
            a = array_of[i]
            job_id = f"{job}_{a}"
            slurm_log = self.log_dir(workflow) / f"{task}-{job}_{a}.log"
            text = slurm_log.read_text(errors="replace") if slurm_log.is_file() else ""
            sacct = acct.get(job_id, "")
            if TIMEOUT_MARK in text or "DUE TO TIME LIMIT" in text or sacct == "TIMEOUT":
                limit = _minutes(self.params.tasktime)
                why = f"exceeded the per-task time limit (tasktime = {limit})"
            elif status == RUNNING and (m := _EXIT.search(text)):
                # the process left while running the source (os._exit, a crash the
                # job script saw): not killed by Slurm
                why = (
                    f"ended with exit status {m.group(1)} while running the source; the "
                    "Slurm log tells why"
                )
            elif status == RUNNING:
                detail = (
                    f"Slurm state {sacct}"
                    if sacct
                    else "cancelled, out of memory or node failure?"
                )
                why = f"killed before it finished ({detail})"
            elif "CANCELLED" in text or sacct.startswith("CANCELLED"):
                why = "was cancelled (scancel, or by Slurm) before the source finished"
            elif text:
                m = _EXIT.search(text)
                code = f"exit status {m.group(1)}" if m else "killed"
                why = f"ended ({code}) before running the source; the Slurm log tells why"
            else:
                why = "never started (" + (f"Slurm state {sacct}" if sacct else "cancelled?") + ")"
            error = f"array task {job_id} {why}; Slurm log {slurm_log}"
            logger.error("%s: source %s: %s", task, name, error, extra=FILES_ONLY)
            workflow.state.set_source(
                task,
                name,
                FAILED,
                error=error,
                rank=info.get("rank"),
                job_id=job_id,
                # the source's own log exists only if it started: else the Slurm log
                log=next(
                    (
                        str(q)
                        for q in (info.get("log"), workflow.context(task, i).log_path)
                        if q and Path(q).is_file()
                    ),
                    str(slurm_log),
                ),
                slurm_log=str(slurm_log),
            )


def _output_spec(path: Path) -> str:
    """``--output`` value of a job script: the folder's ``%`` doubled (Slurm's file-name
    patterns would expand them: a folder ``p%u`` became ``proot``), the file name's
    patterns (``%j``, ``%A_%a``) kept, and quoted when it holds a blank."""
    text = str(path.parent).replace("%", "%%") + "/" + path.name
    return f'"{text}"' if any(c.isspace() for c in text) or '"' in text else text


#: What the array job script logs when its command ends (see the script template).
_EXIT = re.compile(r"seisgrad-slurm: exit status (\d+)")


def _write_script(path: Path, text: str) -> Path:
    from seisgrad.parfile import write_text_atomic

    out = write_text_atomic(path, text)
    out.chmod(0o755)
    return out


# --------------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None) -> int:
    """``python -m seisgrad.system.slurm main -p FILE [--stop-after TASK]``: the main
    job's command. Returns the exit status (2 for a seisgrad error)."""
    from seisgrad.build import build_from_config
    from seisgrad.logs import console

    parser = argparse.ArgumentParser(
        prog="python -m seisgrad.system.slurm", description="seisgrad's Slurm main job."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("main", help="run the workflow (inside the main job)")
    m.add_argument("-p", "--parameter-file", required=True)
    m.add_argument("--stop-after", default=None)
    args = parser.parse_args(argv)
    console()
    try:
        setup = build_from_config(args.parameter_file)
        logger.info("seisgrad main job: %s", re.sub(r"\s+", " ", str(setup.parameter_file)))
        wf = setup.workflow
        # one main job per working folder: another recorded one still in the queue (a
        # second 'sbatch slurm/main.sh') refuses, and the run lock keeps 'seisgrad
        # submit' and 'clean' out while this one runs
        recorded = setup.system.main_job(wf) if isinstance(setup.system, Slurm) else None
        own = os.environ.get("SLURM_JOB_ID")
        if recorded is not None and own is not None and recorded != own:
            raise StateError(
                f"main job {recorded} of this working folder ({wf.path.workdir}) is still "
                f"queued or running; this job ({own}) stops"
            )
        with wf.state.run_lock():
            wf.run(stop_after=args.stop_after)
    except SeisgradError as exc:
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from seisgrad.system.slurm import main as _main

    sys.exit(_main())
