"""``system: mpi``: per-source tasks spread over MPI ranks (mpi4py).

Two ways to start it:

* ``mpiexec -n 4 seisgrad submit``: every rank builds the same setup from the same
  parameter file; rank 0 runs the workflow, ranks 1.. wait for per-source work;
* ``seisgrad submit`` (not under a launcher) with ``nproc: 4``: seisgrad starts
  ``mpiexec -n 4 python -m seisgrad.system.mpi submit ...`` itself and waits for it.

Work is handed out dynamically (master/worker): for a per-source task rank 0 keeps a
queue of the pending event indices; every rank, rank 0 included, takes the next index
when it has finished its previous one, so one slow source never holds the others back.
On rank 0 a small dispatcher thread answers the other ranks while its main thread works.
Waiting ranks poll with short sleeps instead of spinning in a blocking receive, so an
idle rank does not steal a core from a working one. The sleeps back off from 0.2 ms to
``poll_interval`` (2 ms): with 20 ms each hand-out took 50-90 ms, about 0.3 s of a
5-second 4-source run; an idle rank polling every 2 ms costs well under 1 % of a core.

Faults: a source that raises is recorded as failed by
:meth:`~seisgrad.workflow.base.Workflow.run_source` (with its rank and log file) and
every other source still runs; the workflow then stops with one message naming the
failed sources. A rank that dies (killed, out of memory, segfault) makes the MPI
launcher abort the whole run; every source that finished before is kept in its state
file, and ``seisgrad submit`` again runs only the missing ones.

Results never depend on which rank ran what: each source writes its own files, and
reductions (summed kernels) read them in the fixed event order.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seisgrad import errors
from seisgrad.config import Schema, param
from seisgrad.errors import ConfigError, SeisgradError, TaskError
from seisgrad.logs import FILES_ONLY, logger
from seisgrad.system.base import System

if TYPE_CHECKING:
    from seisgrad.workflow.base import Workflow

__all__ = [
    "MPI",
    "MPIParameters",
    "dispatch",
    "serve",
    "run_world",
    "stop_workers",
    "under_launcher",
    "launcher_path",
    "thread_env",
    "wait_forwarding_signals",
    "main",
]

#: Environment variables set by MPI launchers (mpiexec of MPICH/Open MPI/Intel MPI,
#: srun with PMI-2 or PMIx). Used only to tell whether this process was started by a
#: launcher (so seisgrad must not start another one), never to pick work.
LAUNCHER_VARIABLES = (
    "PMI_RANK",
    "PMI_SIZE",
    "PMI_FD",
    "PMIX_RANK",
    "OMPI_COMM_WORLD_SIZE",
    "MPI_LOCALNRANKS",
    "HYDI_CONTROL_FD",
    "MV2_COMM_WORLD_SIZE",
)

TAG_COMMAND = 71  # rank 0 -> worker: ("task", name, job_id) or ("stop",)
TAG_READY = 72  # worker -> rank 0: ("ready", last result or None)
TAG_ASSIGN = 73  # rank 0 -> worker: an event index, or None (no more work)

#: Longest sleep (s) of a waiting rank between message checks (``poll_interval``).
POLL_INTERVAL = 0.002


@dataclass
class MPIParameters(Schema):
    """Parameters of the MPI system."""

    nproc: int = param(
        2,
        "MPI ranks seisgrad starts (mpiexec -n nproc) when 'seisgrad submit' runs outside "
        "a launcher; under 'mpiexec -n N seisgrad submit' the launcher's N is used",
        low=1,
        affects_results=False,
    )
    solver_threads: int = param(
        1,
        "solver threads per rank (ranks x threads should not exceed the cores)",
        low=1,
        affects_results=False,
    )
    mpiexec: str = param(
        "mpiexec",
        "launcher seisgrad starts (a command or path; an 'mpiexec' next to the Python "
        "executable, e.g. from the mpich wheel, is preferred)",
        affects_results=False,
    )
    mpiexec_args: list[str] = param(
        [], "extra launcher arguments, e.g. ['-hosts', 'a,b']", affects_results=False
    )
    poll_interval: float = param(
        POLL_INTERVAL,
        "longest sleep (s) of a waiting rank between checks for messages (each hand-out "
        "of a source waits up to twice this)",
        low=0.0005,
        high=5.0,
        affects_results=False,
    )


# --------------------------------------------------------------------------- helpers
def under_launcher(environ: dict[str, str] | None = None) -> bool:
    """True when this process was started by an MPI launcher (mpiexec, srun)."""
    env = os.environ if environ is None else environ
    return any(v in env for v in LAUNCHER_VARIABLES)


def launcher_world() -> Any | None:
    """``MPI.COMM_WORLD`` when this process runs under an MPI launcher with several
    ranks, else ``None`` (without importing mpi4py outside a launcher)."""
    if not under_launcher():
        return None
    comm = _world()
    return comm if comm.Get_size() > 1 else None


def agree(comm: Any, error: str | None, poll: float = POLL_INTERVAL) -> str | None:
    """Collective over ``comm``: each rank gives its startup error (``None``: fine);
    returns the first rank's error as ``"rank R: ..."`` (``None`` when every rank is
    fine). Every rank must call it, also one whose startup failed."""
    _barrier(comm, poll)  # wait for all without spinning, then exchange
    errors_ = comm.allgather(error)
    for r, e in enumerate(errors_):
        if e is not None:
            return f"rank {r}: {e}"
    return None


def launcher_path(name: str) -> str:
    """Resolve a launcher command: next to ``sys.executable`` first, then ``PATH``."""
    if os.sep in name:
        if not (Path(name).is_file() and os.access(name, os.X_OK)):
            raise ConfigError(f"mpiexec: {name} is not an executable file")
        return name
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ConfigError(
            f"mpiexec: '{name}' not found next to {sys.executable} or on PATH; install an "
            "MPI (e.g. 'pip install mpich') or set 'mpiexec' to the launcher's path"
        )
    return found


def thread_env(threads: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for ranks that each use ``threads`` solver threads.

    Sets ``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and
    ``MKL_NUM_THREADS`` unless the user set them already, so ranks do not each start a
    thread per core.
    """
    env = dict(os.environ if environ is None else environ)
    for key in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(key, str(threads))
    return env


def _world() -> Any:
    from mpi4py import MPI as _MPI

    return _MPI.COMM_WORLD


def _sleep_until(test: Any, poll: float) -> Any:
    """Call ``test()`` until it returns a true value, sleeping (with back-off) between."""
    delay = 0.0002
    while True:
        out = test()
        if out:
            return out
        time.sleep(delay)
        delay = min(delay * 2.0, poll)


def _recv(comm: Any, source: int | None, tags: Sequence[int], poll: float) -> tuple[Any, int, int]:
    """Receive one message with any of ``tags`` from ``source`` (``None``: any rank)
    without spinning; return it, the sender's rank and the tag."""
    from mpi4py import MPI as _MPI

    src = _MPI.ANY_SOURCE if source is None else source
    status = _MPI.Status()

    def probe() -> int | None:
        for tag in tags:
            if comm.iprobe(source=src, tag=tag, status=status):
                return tag
        return None

    tag = _sleep_until(probe, poll)
    sender = status.Get_source()
    return comm.recv(source=sender, tag=tag), sender, tag


def _barrier(comm: Any, poll: float) -> None:
    req = comm.Ibarrier()
    _sleep_until(req.Test, poll)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _run_one(
    workflow: Workflow, task: str, index: int, rank: int, job_id: str | None
) -> str | None:
    """Run one source; return ``None`` or the error (already recorded by run_source)."""
    try:
        workflow.run_source(task, index, rank=rank, job_id=job_id)
    except (Exception, SystemExit) as exc:  # user code may call sys.exit: a failure too
        return _one_line(exc)
    return None


# --------------------------------------------------------------------------- master/worker
def dispatch(
    comm: Any,
    workflow: Workflow,
    task: str,
    indices: Sequence[int],
    job_id: str | None = None,
    poll: float = POLL_INTERVAL,
) -> dict[int, str]:
    """Run per-source ``task`` for ``indices`` on all ranks of ``comm`` (call on rank 0).

    Ranks ``1..size-1`` must be in :func:`serve`. Rank 0 works too: a dispatcher thread
    hands the next pending index to whichever rank asks first, while the main thread
    takes indices from the same queue.

    Returns
    -------
    dict
        ``index -> error`` for the sources that failed (already recorded in their state
        files by ``run_source``).
    """
    size = comm.Get_size()
    queue = deque(indices)
    lock = threading.Lock()
    failed: dict[int, str] = {}
    where: dict[int, int] = {}

    def take(rank: int) -> int | None:
        with lock:
            if not queue:
                return None
            i = queue.popleft()
            where[i] = rank
            return i

    def note(rank: int, result: tuple[int, str | None] | None) -> None:
        # No logging here: the dispatcher thread would write into the log file of the
        # source rank 0 is running. Failures are logged once the task is over.
        if result is None:
            return
        i, err = result
        if err is not None:
            with lock:
                failed[i] = err

    thread_error: list[BaseException] = []

    def serve_ranks() -> None:
        try:
            active = size - 1
            while active:
                (_, result), sender, _ = _recv(comm, None, (TAG_READY,), poll)
                note(sender, result)
                i = take(sender)
                comm.send(i, dest=sender, tag=TAG_ASSIGN)
                if i is None:
                    active -= 1
        except BaseException as exc:  # reported by the main thread
            thread_error.append(exc)

    for r in range(1, size):
        comm.send(("task", task, job_id), dest=r, tag=TAG_COMMAND)
    helper = threading.Thread(target=serve_ranks, name="seisgrad-dispatch", daemon=True)
    helper.start()
    while True:
        i = take(0)
        if i is None:
            break
        note(0, (i, _run_one(workflow, task, i, 0, job_id)))
    _sleep_until(lambda: not helper.is_alive(), poll)
    if thread_error:
        raise TaskError(f"MPI dispatcher failed: {_one_line(thread_error[0])}")
    for i, err in sorted(failed.items()):
        logger.error(
            "%s: source %s failed on rank %d: %s",
            task,
            workflow.events[i].name,
            where[i],
            err,
            extra=FILES_ONLY,
        )
    counts = {r: sum(1 for v in where.values() if v == r) for r in range(size)}
    logger.info(
        "%s: %d source(s) on %d rank(s): %s",
        task,
        len(where),
        size,
        ", ".join(f"rank {r}: {n}" for r, n in counts.items()),
    )
    return failed


def serve(comm: Any, workflow: Workflow, poll: float = POLL_INTERVAL) -> None:
    """Worker loop of ranks ``1..size-1``: run the indices rank 0 hands out until told
    to stop."""
    rank = comm.Get_rank()
    while True:
        command, _, _ = _recv(comm, 0, (TAG_COMMAND,), poll)
        if command[0] == "stop":
            return
        _, task, job_id = command
        result: tuple[int, str | None] | None = None
        while True:
            comm.send(("ready", result), dest=0, tag=TAG_READY)
            msg, _, tag = _recv(comm, 0, (TAG_ASSIGN, TAG_COMMAND), poll)
            if tag == TAG_COMMAND:  # rank 0 gave up on this task (it failed): stop
                return
            if msg is None:
                break
            result = (msg, _run_one(workflow, task, msg, rank, job_id))


def stop_workers(comm: Any) -> None:
    """Tell ranks ``1..size-1`` (in :func:`serve`) to return."""
    for r in range(1, comm.Get_size()):
        comm.send(("stop",), dest=r, tag=TAG_COMMAND)


def run_world(
    comm: Any, workflow: Workflow, stop_after: str | None = None, poll: float = POLL_INTERVAL
) -> None:
    """Run ``workflow`` on rank 0 while the other ranks serve per-source work."""
    _barrier(comm, poll)  # every rank has built its setup (and --restart cleaned up)
    if comm.Get_rank() != 0:
        serve(comm, workflow, poll)
        return
    try:
        workflow.run(stop_after=stop_after)
    finally:
        stop_workers(comm)


class StderrTee:
    """Copies a launcher's standard error to ours as it comes (progress lines
    included), keeping its first lines and noting whether the ranks started.

    Parameters
    ----------
    stream
        The launcher's standard error (a binary pipe); read by a thread until it closes.
    """

    #: what rank 0 logs when the ranks are up (see :meth:`MPI.submit`)
    MARKER = b"system mpi: "

    def __init__(self, stream: Any) -> None:
        self.head: list[str] = []
        self.ranks_started = False
        self._text = b""
        self._edge = b""
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        fd = stream.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            try:
                os.write(sys.stderr.fileno(), chunk)
            except (OSError, ValueError):  # no usable stderr: keep reading
                pass
            if len(self._text) < 8192:
                self._text += chunk[: 8192 - len(self._text)]
            seen = self._edge + chunk  # the marker may span two chunks
            self.ranks_started = self.ranks_started or self.MARKER in seen
            self._edge = seen[-len(self.MARKER) :]
        lines = self._text.decode(errors="replace").splitlines()
        self.head = [line.strip() for line in lines if line.strip()][:3]
        stream.close()

    def join(self, timeout: float = 10.0) -> None:
        """Wait for the pipe to close (the launcher and every rank gone)."""
        self._thread.join(timeout)


def wait_forwarding_signals(proc: Any, grace: float = 30.0) -> int:
    """Wait for the launcher ``proc`` (in its own process group), forwarding signals.

    While it runs, SIGINT and SIGTERM received by this process are sent on as SIGINT to
    the launcher's process group (``mpiexec`` and the ranks it started), so every rank
    records the source it was running as interrupted, as after Ctrl-C. When the group
    has not ended ``grace`` seconds later it is killed.

    Parameters
    ----------
    proc
        The :class:`subprocess.Popen` of the launcher, started with ``process_group=0``.
    grace
        Seconds the ranks get to stop after a signal.

    Returns
    -------
    int
        The launcher's exit status.

    Raises
    ------
    KeyboardInterrupt
        After the launcher ended, when a signal was forwarded.
    """
    import signal
    import subprocess

    received: list[float] = []

    def forward(signum: int, frame: Any) -> None:
        if not received:
            received.append(time.monotonic())
        try:
            os.killpg(proc.pid, signal.SIGINT)
        except ProcessLookupError:
            pass

    handled = (signal.SIGINT, signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, forward) for s in handled} if main else {}
    try:
        while True:
            try:
                returncode = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if received and time.monotonic() - received[0] > grace:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if received:
        raise KeyboardInterrupt
    return int(returncode)


def _run_state(parameter_file: Path) -> Any:
    """The :class:`~seisgrad.workflow.state.State` of ``parameter_file``'s run (only
    the System and the paths are built)."""
    from seisgrad.build import build_system
    from seisgrad.workflow.state import State

    _, paths = build_system(parameter_file)
    return State(paths.workdir)


def _left_running(parameter_file: Path) -> list[str]:
    """Sources that the state of ``parameter_file``'s run still shows as running (after
    the MPI run ended: their rank died), as ``task/source (rank r)``."""
    from seisgrad.workflow.state import RUNNING

    try:
        return [
            f"{name} (rank {info.get('rank')})"
            for _, name, info in _run_state(parameter_file).source_entries()
            if info.get("status") == RUNNING
        ]
    except (SeisgradError, OSError, ValueError):  # the message goes out without them
        return []


def _mark_left_interrupted(parameter_file: Path) -> None:
    """Record the sources of ``parameter_file``'s run that still say ``running`` but
    whose process has ended as interrupted (:meth:`State.mark_interrupted`)."""
    try:
        _run_state(parameter_file).mark_interrupted()
    except (SeisgradError, OSError, ValueError):  # the next submit records them
        pass


# --------------------------------------------------------------------------- the System
class MPI(System):
    """Per-source tasks spread dynamically over MPI ranks."""

    Parameters = MPIParameters

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self._comm: Any = None

    @property
    def solver_threads(self) -> int | None:
        return int(self.params.solver_threads)

    def check(self) -> None:
        """The ``mpiexec`` that ``submit`` would start exists (when it starts one)."""
        if self.starts_launcher():
            launcher_path(self.params.mpiexec)

    def launch_command(self, parameter_file: Path, stop_after: str | None) -> list[str]:
        """The command ``submit`` runs when it starts the launcher itself."""
        cmd = [
            launcher_path(self.params.mpiexec),
            "-n",
            str(self.params.nproc),
            *self.params.mpiexec_args,
            sys.executable,
            "-m",
            "seisgrad.system.mpi",
            "submit",
            "-p",
            str(parameter_file),
        ]
        if stop_after is not None:
            cmd += ["--stop-after", stop_after]
        return cmd

    def starts_launcher(self) -> bool:
        """Whether ``submit`` starts ``mpiexec`` itself (not under a launcher, nproc > 1)."""
        return not under_launcher() and self.params.nproc > 1

    def launch(self, parameter_file: Path, logs: Path, stop_after: str | None = None) -> bool:
        """Start ``mpiexec`` at once when not under a launcher: the ranks build and
        check the setup (rank 0 logs the warnings), so ``seisgrad submit`` does not
        build it first (about 1 s less per run)."""
        if not self.starts_launcher():
            return False
        self._run_launcher(parameter_file, logs, stop_after, check=True)
        return True

    def submit(self, workflow: Workflow, stop_after: str | None = None) -> None:
        """Run the workflow over MPI ranks (starting ``mpiexec`` when not under one)."""
        if self.starts_launcher():
            if workflow.parameter_file is None:
                raise ConfigError("system mpi: the workflow must be built from a parameter file")
            self._run_launcher(Path(workflow.parameter_file), workflow.path.logs, stop_after)
            return
        comm = _world()
        self._comm = comm
        if comm.Get_rank() == 0:
            logger.info("system mpi: %d rank(s)", comm.Get_size())
        run_world(comm, workflow, stop_after, self.params.poll_interval)

    def _run_launcher(
        self, parameter_file: Path, logs: Path, stop_after: str | None, check: bool = False
    ) -> None:
        import subprocess

        logs.mkdir(parents=True, exist_ok=True)
        err_file = logs / f".mpi-error-{os.getpid()}.json"
        cmd = self.launch_command(parameter_file, stop_after)
        extra = ["--error-file", str(err_file)] + (["--check"] if check else [])
        cmd[cmd.index("submit") + 1 : cmd.index("submit") + 1] = extra
        logger.info("system mpi: starting %s", shlex.join(cmd))
        env = thread_env(self.params.solver_threads)
        # in its own process group, so that a signal to seisgrad alone (kill -TERM) is
        # forwarded to mpiexec and every rank by wait_forwarding_signals
        from seisgrad.workflow.state import RunLock

        # mpiexec holds the run lock too (the same open file): a submit killed outright
        # leaves it held until the ranks it started have ended
        proc = subprocess.Popen(
            cmd, env=env, process_group=0, stderr=subprocess.PIPE, pass_fds=RunLock.held_fds()
        )
        tee = StderrTee(proc.stderr)
        try:
            returncode = wait_forwarding_signals(proc)
        except KeyboardInterrupt:
            # a rank stopped between recording "running" and its source's own handler
            # would leave that entry behind: record it as interrupted now, as the next
            # submit would, so that the state says what status shows
            _mark_left_interrupted(parameter_file)
            raise
        finally:
            tee.join()
        if returncode == 0:
            return
        if err_file.is_file():
            data = json.loads(err_file.read_text())
            err_file.unlink()
            cls = getattr(errors, data.get("type", ""), None)
            if not (isinstance(cls, type) and issubclass(cls, SeisgradError)):
                cls = SeisgradError
            raise cls(data["message"])
        left = _left_running(parameter_file)
        if not left and not tee.ranks_started and tee.head:
            raise TaskError(
                f"the MPI launcher ({self.params.mpiexec} -n {self.params.nproc}) failed "
                f"with status {returncode} before any rank started: {tee.head[0]}"
            )
        running = f" while running {', '.join(left)}" if left else ""
        raise TaskError(
            f"the MPI run ({self.params.mpiexec} -n {self.params.nproc}) exited with status "
            f"{returncode}: a rank crashed or was killed{running}. Finished sources are "
            f"kept; see the logs in {logs} and run 'seisgrad submit' again"
        )

    def run(self, workflow: Workflow, task: str, indices: Sequence[int]) -> None:
        comm = self._comm if self._comm is not None else _world()
        if comm.Get_size() > 1 and self._comm is None:
            raise ConfigError(
                "system mpi: per-source tasks on several ranks need 'seisgrad submit' "
                "(which starts the worker ranks)"
            )
        dispatch(comm, workflow, task, indices, poll=self.params.poll_interval)


# --------------------------------------------------------------------------- entry point
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m seisgrad.system.mpi",
        description="seisgrad's MPI entry points (started by mpiexec or srun).",
    )
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("submit", help="run a workflow: rank 0 runs it, other ranks serve")
    s.add_argument("-p", "--parameter-file", required=True)
    s.add_argument("--stop-after", default=None)
    s.add_argument("--error-file", default=None, help="write a user error here as JSON")
    s.add_argument(
        "--check", action="store_true", help="check the setup first; rank 0 logs warnings"
    )
    s = sub.add_parser("sources", help="run one per-source task for a list of indices")
    s.add_argument("-p", "--parameter-file", required=True)
    s.add_argument("--task", required=True)
    s.add_argument("--indices", required=True, help="comma-separated event indices")
    s.add_argument("--job-id", default=None)
    s.add_argument("--error-file", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m seisgrad.system.mpi {submit,sources} ...``; returns the exit status."""
    from seisgrad.build import build_from_config
    from seisgrad.logs import console

    args = _parser().parse_args(argv)
    comm = _world()
    rank = comm.Get_rank()
    console(logging.INFO if rank == 0 else logging.WARNING)
    if rank == 0:  # also the launcher's sign that the ranks started (StderrTee.MARKER)
        logger.info("system mpi: %d rank(s)", comm.Get_size())
    try:
        setup = build_from_config(args.parameter_file)
        wf = setup.workflow
        # (the Slurm system's poll_interval is for squeue, not for MPI messages)
        poll = POLL_INTERVAL
        if isinstance(setup.system, MPI):
            poll = setup.system.params.poll_interval
        if args.command == "submit":
            if args.check:  # on every rank, so that an error stops them all
                warnings = wf.check()
                for w in warnings if rank == 0 else ():
                    logger.warning("warning: %s", w)
            if isinstance(setup.system, MPI):
                setup.system._comm = comm
            run_world(comm, wf, args.stop_after, poll)
            return 0
        indices = [int(s) for s in args.indices.split(",") if s.strip()]
        if rank != 0:
            _barrier(comm, poll)
            serve(comm, wf, poll)
            return 0
        _barrier(comm, poll)
        try:
            failed = dispatch(comm, wf, args.task, indices, args.job_id, poll)
        finally:
            stop_workers(comm)
        return 1 if failed else 0
    except (SeisgradError, OSError) as exc:  # OSError: disk full, read-only folder
        msg = errors.error_line(exc)
        if args.error_file and rank == 0:
            from seisgrad.workflow.state import write_json_atomic

            kind = type(exc).__name__ if isinstance(exc, SeisgradError) else "SeisgradError"
            try:
                write_json_atomic(args.error_file, {"type": kind, "message": msg})
                return 2
            except OSError:  # the launcher reads it from our standard error instead
                pass
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the launching 'seisgrad submit' reports it once
        return 130


if __name__ == "__main__":
    # Run the function of the imported module, not of __main__, so that isinstance
    # checks against seisgrad.system.mpi.MPI hold.
    from seisgrad.system.mpi import main as _main

    sys.exit(_main())
