"""Compile solver code in background processes while a workflow's first tasks run.

The first run of a migration on a machine compiles the solver's time loops: with the
built-in ``fd2d`` elastic solver about 18 s for the forward loop (compiled by the first
forward simulation) and about 45 s for what the adjoint task needs (the forward
recomputation that keeps per-step data, and the adjoint loop). On a workstation running
one solver thread the other core is idle meanwhile, so :class:`BackgroundCompile` starts
one process per part the later tasks need (``python -m seisgrad.workflow.precompile``,
at lower priority); before such a task runs the workflow waits for them and then loads
the compiled code from numba's on-disk cache.

Nothing is started when the solver has a record of having compiled those parts with the
same sources and settings (:meth:`seisgrad.solver.base.Solver.precompile_needed`), or
when the tasks that need them are done. A failed background compile only costs time:
the task then compiles the code itself. Output of the processes goes to
``logs/precompile-<part>.log``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from seisgrad.logs import logger
from seisgrad.workflow.state import DONE

if TYPE_CHECKING:
    from seisgrad.workflow.base import Workflow

__all__ = ["BackgroundCompile", "main"]

_PR_SET_PDEATHSIG = 1


class BackgroundCompile:
    """Background compile processes for the parts in ``workflow.precompile_plan()``.

    Use as a context manager around ``workflow.run()``: entering starts the processes
    and registers a hook that waits for a task's parts before the task runs; leaving
    stops processes still running (a stopped compile leaves numba's cache consistent:
    it writes its files by atomic rename).
    """

    def __init__(self, workflow: Workflow, nice: int = 5) -> None:
        self.workflow = workflow
        self.nice = nice
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, IO[bytes]] = {}
        self.plan: dict[str, tuple[str, ...]] = {}

    def parts_to_compile(self) -> dict[str, tuple[str, ...]]:
        """``task -> parts`` still to compile for tasks not yet done."""
        wf = self.workflow
        if wf.parameter_file is None:
            return {}
        out: dict[str, tuple[str, ...]] = {}
        seen: set[str] = set()
        for task, parts in wf.precompile_plan().items():
            if wf.state.task_status(task) == DONE:
                continue
            todo = tuple(p for p in parts if p not in seen and wf.solver.precompile_needed(p))
            seen.update(todo)
            if todo:
                out[task] = todo
        return out

    def start(self) -> None:
        wf = self.workflow
        self.plan = self.parts_to_compile()
        if not self.plan:
            return
        wf.path.logs.mkdir(parents=True, exist_ok=True)
        parts = [part for todo in self.plan.values() for part in todo]
        for rank, part in enumerate(parts):
            log = open(self.log_path(part), "wb")  # noqa: SIM115 - closed in wait/stop
            self.logs[part] = log
            cmd = [
                sys.executable, "-m", "seisgrad.workflow.precompile",
                "-p", str(wf.parameter_file), "--part", part,
            ]  # fmt: skip
            self.procs[part] = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._priority(self.nice + 5 * rank) if self.nice else None,
            )
        logger.info("compiling solver code in the background: %s", ", ".join(parts))

    def log_path(self, part: str) -> Path:
        """Output of the background compile of ``part``."""
        return self.workflow.path.logs / f"precompile-{part}.log"

    @staticmethod
    def _priority(nice: int) -> Callable[[], None]:
        """Lower the priority of a child by ``nice`` (the first part listed, usually the
        longest compile, gets the most CPU of the background processes)."""

        def lower() -> None:  # pragma: no cover - runs in the child
            with contextlib.suppress(OSError):
                os.nice(nice)
            # Linux: end with the workflow process even when it is killed
            with contextlib.suppress(OSError, AttributeError):
                ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

        return lower

    def wait(self, task: str) -> None:
        """Wait for the background compiles of ``task``'s parts (hook before a task)."""
        parts = [p for p in self.plan.get(task, ()) if p in self.procs]
        if not parts:
            return
        t0 = time.perf_counter()
        for part in parts:
            proc = self.procs.pop(part)
            rc = proc.wait()
            self.logs.pop(part).close()
            if rc != 0:
                logger.warning(
                    "background compile of '%s' failed (exit status %d, see %s); the task "
                    "compiles it itself",
                    part,
                    rc,
                    self.log_path(part),
                )
        waited = time.perf_counter() - t0
        if waited >= 0.5:
            logger.info("waited %.1f s for the solver code compiled in the background", waited)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                proc.kill()
                proc.wait()
        for log in self.logs.values():
            log.close()
        self.procs.clear()
        self.logs.clear()

    def __enter__(self) -> BackgroundCompile:
        self.start()
        self.workflow.before_task.append(self.wait)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(ValueError):
            self.workflow.before_task.remove(self.wait)
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m seisgrad.workflow.precompile -p PARAMETERS --part PART``."""
    from seisgrad.build import build_from_config
    from seisgrad.errors import SeisgradError

    p = argparse.ArgumentParser(
        prog="python -m seisgrad.workflow.precompile",
        description="compile the solver code of one part for a parameter file",
    )
    p.add_argument("-p", "--parameter-file", required=True)
    p.add_argument("--part", required=True, action="append")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    try:
        setup = build_from_config(Path(args.parameter_file))
        setup.workflow.precompile(args.part)
    except SeisgradError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(f"compiled {', '.join(args.part)} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
