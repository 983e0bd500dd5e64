"""The Workflow base class: an ordered task list that resumes from a state file.

A workflow is a list of tasks, bound methods without arguments, as in SeisFlows::

    class MyMigration(Migration):
        @property
        def task_list(self):
            tasks = super().task_list
            return tasks[:2] + [self.my_extra_step] + tasks[2:]

A method decorated with :func:`per_source` is a *per-source task*: it takes a
:class:`TaskContext` (which source, which rank or job, which log file) and the
workflow's System runs it once for every source that has not finished yet. The state
of every task and of every source of a per-source task is recorded in
``<path_workdir>/state/`` (see :mod:`seisgrad.workflow.state`), so ``seisgrad submit``
after a crash, a kill or a failed source skips all finished work and re-runs only
what is missing.

Next to its task list a workflow declares what each task's results depend on
(:attr:`Workflow.task_inputs`, one :class:`TaskInputs` per task): components and
parameter keys, and the earlier tasks whose results it reads. When parameters change,
``seisgrad submit`` runs again only the finished tasks that depend on a changed key,
directly or through a task they read, and keeps the others (see
:meth:`Workflow.parameter_changes`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from seisgrad.build import INPUT_PATHS, hash_path
from seisgrad.config import (
    Paths,
    Schema,
    from_mapping,
    param,
    read_yaml,
    schema_fields,
    show,
    to_mapping,
)
from seisgrad.errors import ConfigError, PathError, SeisgradError, StateError, TaskError
from seisgrad.logs import FILES_ONLY, log_to, logger, only_to
from seisgrad.solver.acquisition import Event, Receiver
from seisgrad.workflow.state import (
    DONE,
    FAILED,
    INTERRUPTED,
    RUNNING,
    State,
    owner,
    process_gone,
    remove_path,
    write_json_atomic,
)

if TYPE_CHECKING:
    from seisgrad.preprocess.base import Preprocess
    from seisgrad.solver.base import Solver
    from seisgrad.system.base import System

__all__ = [
    "TaskContext",
    "TaskInputs",
    "ParameterChanges",
    "MissingOutputs",
    "ACQUISITION",
    "per_source",
    "is_per_source",
    "ReceiverSpec",
    "WorkflowParameters",
    "Workflow",
    "Paths",
]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TaskContext:
    """Everything a per-source task needs to know about where it runs.

    Passed explicitly to per-source tasks; seisgrad never carries task state in
    environment variables or globals. A task's result must follow from the event
    (``workflow.events[index]``, named ``source``), not from ``index`` alone: finished
    per-source work is kept by event name when events are added, removed or reordered.
    """

    task: str
    index: int
    source: str
    log_path: Path
    rank: int = 0
    job_id: str | None = None


@dataclass(frozen=True)
class TaskInputs:
    """What the results of one task depend on (see :attr:`Workflow.task_inputs`).

    Parameters
    ----------
    params
        Labels of the parameters the task reads: a component (``"solver"``,
        ``"preprocess"``: every parameter of that module and its name) or one key (a
        workflow parameter such as ``"smooth_h"``, or a ``path_*`` key, whose files'
        content counts too). :func:`seisgrad.build.fingerprint_labels` gives the
        labels of each key.
    tasks
        Earlier tasks whose results the task reads: when one of them runs again, so
        does this task.
    """

    params: frozenset[str]
    tasks: frozenset[str]

    def __init__(self, params: Iterable[str] = (), tasks: Iterable[str] = ()) -> None:
        object.__setattr__(self, "params", frozenset(params))
        object.__setattr__(self, "tasks", frozenset(tasks))


#: Labels of the acquisition: which sources (``events``, ``ntask``, ``path_sources``)
#: and receivers (``receivers``, ``path_stations``) are simulated.
ACQUISITION = frozenset({"events", "ntask", "path_sources", "receivers", "path_stations"})

#: Fingerprint keys that only say which events exist and how each is defined. When they
#: alone changed, a per-source task that depends on them reruns only the events that are
#: new or defined differently (see :meth:`Workflow.parameter_changes`).
EVENT_KEYS = frozenset({"events", "ntask", "path_sources", "path_sources#content"})

#: Fingerprint keys holding the events' definitions themselves (the parameter's value,
#: the file's content): a change shows as the events that changed instead.
_EVENT_DEFINITIONS = frozenset({"events", "path_sources#content", "path_data#content"})


@dataclass(frozen=True)
class ParameterChanges:
    """Parameters changed since finished work was recorded, and what that means.

    Attributes
    ----------
    changed
        Changed fingerprint keys, sorted.
    detail
        The changes as text: ``key (old -> new)`` for the first five.
    unattributed
        Changed keys that no declared task depends on; they count as affecting every
        task, and ``seisgrad submit`` refuses to go on (restore them or restart).
    reset
        Tasks whose finished work is forgotten (in task-list order).
    kept
        Tasks whose finished work is kept (all of it, or the finished sources of a
        per-source task that did not finish, or all but the sources in
        :attr:`partial`).
    to_run
        Tasks that will run (again): those reset and those that did not finish.
    partial
        ``(task, sources)`` of finished per-source tasks that run again for some
        sources only, as the summary shows them: the events that are new or defined
        differently (when a task depends on nothing else that changed:
        :meth:`Workflow.event_keys`) and the sources that had not finished.
    rerun_events
        ``(task, events)``: the new or redefined events whose finished work in these
        per-source tasks is forgotten.
    """

    changed: tuple[str, ...]
    detail: str
    unattributed: tuple[str, ...]
    reset: tuple[str, ...]
    kept: tuple[str, ...]
    to_run: tuple[str, ...]
    partial: tuple[tuple[str, tuple[str, ...]], ...] = ()
    rerun_events: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def summary(self) -> str:
        """One line: the changes, the tasks whose work is kept and those that run."""
        text = f"parameters changed: {self.detail}"
        if self.unattributed:
            return text + (
                f"; no task declares that it depends on {', '.join(self.unattributed)}, "
                "so no finished work can be kept"
            )
        some = dict(self.partial)
        kept = [f"{t} (all but {_names(some[t])})" if t in some else t for t in self.kept]
        to_run = [f"{t} ({_names(some[t])})" if t in some else t for t in self.to_run]
        return (
            f"{text}; kept: {', '.join(kept) or 'nothing'}; "
            f"to run: {', '.join(to_run) or 'nothing'}"
        )


@dataclass(frozen=True)
class MissingOutputs:
    """Finished work whose files are gone (see :meth:`Workflow.missing_outputs`).

    Attributes
    ----------
    reset
        Tasks that run again (in task-list order).
    partial
        ``(task, sources)`` of per-source tasks that run again for those sources.
    summary
        What is gone, as text for the log (empty when nothing is).
    """

    reset: tuple[str, ...] = ()
    partial: tuple[tuple[str, tuple[str, ...]], ...] = ()
    summary: str = ""


def _names(names: Sequence[str], most: int = 5) -> str:
    """``a, b, c`` (the first ``most``, then how many more)."""
    text = ", ".join(names[:most])
    return text + (f" and {len(names) - most} more" if len(names) > most else "")


def per_source(func: F) -> F:
    """Mark a workflow method ``(self, ctx: TaskContext) -> None`` as per-source."""
    func._seisgrad_per_source = True  # type: ignore[attr-defined]
    return func


def is_per_source(func: Callable[..., Any]) -> bool:
    return bool(getattr(func, "_seisgrad_per_source", False))


@dataclass
class ReceiverSpec(Schema):
    """Where the receivers are: a ring, a line, a list of points or a STATIONS file."""

    kind: str = param(
        "ring",
        "receiver layout (stations: read path_stations)",
        choices=("ring", "line", "points", "stations"),
    )
    n: int = param(50, "number of receivers on the ring or line", low=1)
    radius: float = param(200.0, "ring radius (m)", low=0.0, low_exclusive=True)
    center: list[float] = param([0.0, 0.0], "ring centre [x, z] (m)")
    start_angle: float = param(
        0.0, "angle of the ring's first receiver (degrees, counter-clockwise from +x)"
    )
    start: list[float] | None = param(None, "line start [x, z] (m)")
    end: list[float] | None = param(None, "line end [x, z] (m)")
    points: list[Receiver] = param([], "explicit receivers (kind: points)")
    network: str = param("XX", "network code of generated receivers (ring, line)")

    #: The keys each kind uses (besides ``kind``).
    USED: ClassVar[dict[str, tuple[str, ...]]] = {
        "ring": ("n", "radius", "center", "start_angle", "network"),
        "line": ("n", "start", "end", "network"),
        "points": ("points",),
        "stations": (),
    }

    def validate(self) -> None:
        unused = []
        for f in dataclasses.fields(self):
            if f.name == "kind" or f.name in self.USED[self.kind]:
                continue
            default = f.default_factory() if f.default is dataclasses.MISSING else f.default
            if getattr(self, f.name) != default:
                unused.append(f.name)
        if unused:
            owners = sorted({k for k, used in self.USED.items() for n in unused if n in used})
            raise ConfigError(
                f"receivers of kind '{self.kind}' do not use {', '.join(unused)} (keys of "
                f"kind {' or '.join(repr(k) for k in owners)}); remove them or change kind"
            )
        if len(self.center) != 2:
            raise ConfigError("receivers.center must be [x, z]")
        if self.kind == "line" and (
            self.start is None or self.end is None or len(self.start) != 2 or len(self.end) != 2
        ):
            raise ConfigError("receivers of kind 'line' need start: [x, z] and end: [x, z]")
        if self.kind == "points" and not self.points:
            raise ConfigError("receivers of kind 'points' need a non-empty 'points' list")


@dataclass
class WorkflowParameters(Schema):
    """Parameters common to all workflows."""

    events: list[Event] = param(
        [], "sources: one entry per event (or use path_sources); each fires its point sources"
    )
    ntask: int | None = param(None, "number of events to use (the first ntask; null = all)", low=1)
    receivers: ReceiverSpec = param(default_factory=ReceiverSpec, doc="receiver layout")


class Workflow(ABC):
    """Abstract workflow: a task list run in order, resumable from its state."""

    Parameters: ClassVar[type] = WorkflowParameters
    #: Path keys that must be set for this workflow (besides those always needed).
    required_paths: ClassVar[tuple[str, ...]] = ()
    #: Fingerprint keys that no task's results depend on: the ``system`` module only
    #: decides where and how tasks run.
    independent_keys: ClassVar[frozenset[str]] = frozenset({"system"})

    def __init__(
        self,
        params: Any,
        paths: Paths,
        *,
        solver: Solver,
        preprocess: Preprocess,
        system: System,
        fingerprint: Mapping[str, Any] | None = None,
        fingerprint_labels: Mapping[str, Iterable[str]] | None = None,
        parameter_file: Path | None = None,
    ) -> None:
        self.params = params
        self.path = paths
        self.solver = solver
        self.preprocess = preprocess
        self.system = system
        self.fingerprint = dict(fingerprint or {})
        #: Labels of every fingerprint key (see :func:`seisgrad.build.fingerprint_labels`).
        self.fingerprint_labels = {k: frozenset(v) for k, v in (fingerprint_labels or {}).items()}
        self.parameter_file = parameter_file
        self.state = State(paths.workdir)
        self._events: list[Event] | None = None
        self._receivers: list[Receiver] | None = None
        self._event_digests: dict[str, str] | None = None
        #: ``(moved, removed)`` by the last :meth:`check_fingerprint`
        #: (:meth:`set_aside_results`).
        self.set_aside: tuple[list[Path], list[Path]] = ([], [])
        #: Called with a task's name before it runs (e.g. to wait for kernels compiled
        #: in the background).
        self.before_task: list[Callable[[str], None]] = []

    # -- the task list -------------------------------------------------------------
    @property
    @abstractmethod
    def task_list(self) -> list[Callable[..., None]]:
        """Ordered tasks (bound methods); per-source ones are marked by
        :func:`per_source`."""

    @property
    def task_names(self) -> list[str]:
        return [t.__name__ for t in self.task_list]

    @property
    def task_inputs(self) -> dict[str, TaskInputs]:
        """What each task's results depend on, by task name (see :class:`TaskInputs`).

        A task missing here counts as depending on every parameter, and every task
        after it as reading its results: when any parameter changes, it and all later
        tasks run again. Subclasses that add a task declare it, e.g.
        ``{**super().task_inputs, "my_step": TaskInputs({"my_key"}, {"previous"})}``.
        """
        return {}

    # -- acquisition -------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        """Events (sources) of this run, from ``events`` or ``path_sources``."""
        if self._events is None:
            events = list(self.params.events)
            if self.path.sources is not None:
                events += read_events_file(self.path.sources)
            if not events:
                raise ConfigError(
                    "no sources: give 'events' in the parameter file or 'path_sources'"
                )
            empty = [e.name for e in events if not e.sources]
            if empty:
                raise ConfigError(f"event '{empty[0]}' has no point sources")
            names = [e.name for e in events]
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ConfigError(f"event names must be unique; repeated: {', '.join(dup)}")
            if self.params.ntask is not None:
                if self.params.ntask > len(events):
                    raise ConfigError(
                        f"ntask = {self.params.ntask} but only {len(events)} events are defined"
                    )
                events = events[: self.params.ntask]
            self._events = events
        return self._events

    @property
    def receivers(self) -> list[Receiver]:
        """Receivers of this run, from the ``receivers`` spec."""
        if self._receivers is None:
            self._receivers = make_receivers(self.params.receivers, self.path.stations)
        return self._receivers

    # -- checks ------------------------------------------------------------------
    def check(self) -> list[str]:
        """Validate inputs without running anything; return warnings.

        Every independent problem found by :meth:`input_problems` (missing paths, no
        or bad sources, bad receivers) is reported together in one error.
        """
        problems = self.input_problems()
        if problems:
            cls = PathError if problems[0].startswith("input paths: ") else ConfigError
            raise cls("; ".join(problems))
        self.declared_inputs()  # the tasks' declared inputs name known keys and tasks
        return []

    def input_problems(self) -> list[str]:
        """Problems with the inputs that do not depend on each other, as messages.

        All missing input paths come first, in one message (``input paths: ...``);
        then the sources and the receivers are checked (unless their file is missing).
        Subclasses add their own problems to the list.
        """
        paths = []
        missing = set()
        for key in self.required_paths:
            if getattr(self.path.params, key) is None:
                paths.append(f"{key} is not set")
                missing.add(key)
        for key in INPUT_PATHS:
            p = getattr(self.path, key.removeprefix("path_"))
            if p is not None and not p.exists():
                paths.append(f"{key} = {p} does not exist")
                missing.add(key)
            elif p is not None and key != "path_data" and p.is_dir():
                paths.append(f"{key} = {p} is a folder; it must be a file")
                missing.add(key)
        folders = (
            ("path_workdir", self.path.workdir),
            ("path_output", self.path.output),
            ("path_scratch", self.path.scratch),
        )
        for key, where in folders:
            if where.exists() and not where.is_dir():
                paths.append(f"{key} = {where} is a file; it must be a folder (or not exist)")
        for key, where in folders[1:]:
            w = where.resolve()
            for ikey in INPUT_PATHS:
                q = getattr(self.path, ikey.removeprefix("path_"))
                if q is not None and ikey not in missing and w.is_relative_to(q.resolve()):
                    # its results are set aside, cleaned or overwritten there: the
                    # input's own files would go with them
                    paths.append(
                        f"{key} = {w} lies inside {ikey} = {q.resolve()}, where seisgrad would "
                        "write, move and remove files; give it a folder of its own"
                    )
        out, scratch = self.path.output.resolve(), self.path.scratch.resolve()
        if out.is_relative_to(scratch):
            # 'seisgrad clean' removes path_scratch: the results would go with it
            same = "is" if out == scratch else "lies inside"
            paths.append(
                f"path_output = {out} {same} path_scratch = {scratch}, which 'seisgrad "
                "clean' removes; give path_output a folder of its own"
            )
        run_folder = self.path.workdir.resolve()
        if run_folder != out and run_folder.is_relative_to(out):
            paths.append(
                f"path_output = {out} lies above the run folder {run_folder}: results, "
                "and the results set aside when parameters change, would mix with other "
                "files there; give it a folder of its own (e.g. path_output: output)"
            )
        problems = ["input paths: " + "; ".join(paths)] if paths else []
        checks = []
        if "path_sources" not in missing:
            checks.append(lambda: self.events)
        if "path_stations" not in missing:
            checks.append(lambda: self.receivers)
        for get in checks:
            try:
                get()
            except ConfigError as exc:
                problems.append(str(exc))
        return problems

    # -- running -----------------------------------------------------------------
    def run(self, stop_after: str | None = None) -> None:
        """Run every unfinished task in order (stopping after ``stop_after``)."""
        names = self.task_names
        if stop_after is not None and stop_after not in names:
            raise ConfigError(
                f"--stop-after: no task '{stop_after}'; tasks are: {', '.join(names)}"
            )
        fresh = not self.state.has_work()
        changes = self.check_fingerprint()
        if fresh:  # results in path_output from a run the state has no record of
            self.set_aside = self.set_aside_results(names)
        stale = self.state.mark_interrupted()
        debris = []  # of writes cut short by a kill: no task of this run has started yet,
        if not self.state.running():  # and no process of an earlier one still writes
            out = self.path.output
            debris = remove_temporary_files(
                [self.path.scratch, self.state.root]
                + [out / d for d in ("figures", "kernels", "traces", "previous")],
                [out],  # its own files only: it may be the run folder (path_output: .)
            )
        gone = self.forget_missing_outputs()
        self.path.logs.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        with log_to(self.path.logs / f"run-{stamp}.log"):
            logger.info("seisgrad %s: tasks %s", type(self).__name__, ", ".join(names))
            if changes is not None:
                logger.info("%s", changes.summary())
            log_set_aside(self, *self.set_aside)
            if stale:
                logger.info(
                    "interrupted before (their process ended while running): %s",
                    ", ".join(stale),
                )
            if gone:
                logger.info("finished before, but their files are gone: %s", gone)
            if debris:
                logger.info(
                    "removed %d temporary file(s) of writes an earlier run did not finish "
                    "(%.1f MB)",
                    len(debris),
                    sum(size for _, size in debris) / 1e6,
                )
            for task in self.task_list:
                name = task.__name__
                if self.state.task_status(name) == DONE:
                    logger.info("task %s: done before, skipped", name)
                else:
                    self._run_task(task)
                if name == stop_after:
                    logger.info("stopping after task %s (--stop-after)", name)
                    break
            else:
                logger.info("all tasks finished")

    def _run_task(self, task: Callable[..., None]) -> None:
        name = task.__name__
        for hook in self.before_task:
            hook(name)
        self.state.set_task(name, RUNNING, **owner())
        t0 = time.perf_counter()
        with log_to(self.path.logs / f"{name}.log"):
            logger.info("task %s: started", name)
            try:
                if is_per_source(task):
                    self._run_per_source(name)
                else:
                    task()
            except BaseException as exc:
                self.state.set_task(name, FAILED, error=_one_line(exc))
                # the command line reports the error once; the logs keep it too
                logger.error("task %s failed: %s", name, _one_line(exc), extra=FILES_ONLY)
                named = isinstance(exc, (SeisgradError, OSError))
                if named and getattr(exc, "task", None) is None:
                    exc.task = name  # type: ignore[attr-defined]
                raise
            dt = time.perf_counter() - t0
            logger.info("task %s: finished in %.1f s", name, dt)
        self.state.set_task(name, DONE, seconds=round(dt, 3))

    # -- files that finished work leaves ------------------------------------------
    def task_outputs(self, task: str, source: str | None = None) -> list[Path]:
        """The files that a finished ``task`` leaves (for a per-source task, those of
        ``source``), for later tasks or, under ``path_output``, for the user.

        :meth:`forget_missing_outputs` runs finished work again when such files are
        gone. The base class declares none (the state is trusted); a subclass that adds
        a task declares its files here.
        """
        return []

    def forget_missing_outputs(self) -> str:
        """Forget the finished work whose files are gone and are needed
        (:meth:`missing_outputs`); return what was forgotten as text (empty when
        nothing was)."""
        gone = self.missing_outputs()
        if gone.reset or gone.partial:
            self.state.forget(reset=gone.reset, partial=dict(gone.partial))
        return gone.summary

    def missing_outputs(self, pending: ParameterChanges | None = None) -> MissingOutputs:
        """The finished work that must run again because its files are gone.

        ``pending``: parameter changes not yet applied to the state (what ``seisgrad
        status`` shows before ``submit`` applies them); the work they reset counts as
        going to run.

        Like ``make``: a finished task runs again when one of its files under
        ``path_output`` is gone (the user asked for those), or when one of its files in
        the scratch folder is gone and a task that reads it (:attr:`task_inputs`) is
        going to run for the same source. Intermediate files deleted after the run
        finished do not make anything run again. A per-source task runs again for the
        sources concerned only; the files it writes are the same (the parameters did
        not change, :meth:`check_fingerprint`), so later finished tasks are kept.
        """
        declared = self.declared_inputs()
        names = self.task_names
        tasks = {t.__name__: t for t in self.task_list}
        events = [e.name for e in self.events]
        every = frozenset(events)
        # sources (of per-source tasks; ``every`` for the others) whose files a task
        # that will run needs, by task
        needed: dict[str, set[str]] = {n: set() for n in names}
        partial: dict[str, list[str]] = {}
        reset: list[str] = []
        notes: list[str] = []
        output = self.path.output.resolve()

        def missing(task: str, source: str | None) -> list[Path]:
            return [p for p in self.task_outputs(task, source) if not p.exists()]

        def final(paths: list[Path]) -> bool:
            return any(p.resolve().is_relative_to(output) for p in paths)

        will_reset = set(pending.reset) if pending is not None else set()
        will_rerun = {t: set(v) for t, v in pending.rerun_events} if pending is not None else {}
        for i in range(len(names) - 1, -1, -1):
            name = names[i]
            inputs = declared.get(name)
            reads = names[:i] if inputs is None else [t for t in names if t in inputs.tasks]
            if is_per_source(tasks[name]):
                run = {e for e in events if self.state.source_status(name, e) != DONE}
                run |= every if name in will_reset else will_rerun.get(name, set())
                forgotten = []
                for e in events:
                    if e in run:
                        continue
                    gone = missing(name, e)
                    if gone and (final(gone) or e in needed[name]):
                        forgotten.append(e)
                        notes.append(f"{name} of {e} ({_paths(gone)})")
                if forgotten:
                    partial[name] = forgotten
                run |= set(forgotten)
                for t in reads:
                    needed[t] |= run if is_per_source(tasks[t]) else every
            else:
                runs = self.state.task_status(name) != DONE or name in will_reset
                if not runs:
                    gone = missing(name, None)
                    if gone and (final(gone) or needed[name]):
                        reset.append(name)
                        notes.append(f"{name} ({_paths(gone)})")
                        runs = True
                if runs:
                    for t in reads:
                        needed[t] |= every
        return MissingOutputs(
            reset=tuple(reversed(reset)),
            partial=tuple((t, tuple(v)) for t, v in reversed(partial.items())),
            summary="; ".join(reversed(notes)),
        )

    # -- compiled solver code ----------------------------------------------------
    def precompile_plan(self) -> dict[str, tuple[str, ...]]:
        """``task -> solver compile parts`` that a per-source task needs and earlier
        tasks do not compile (e.g. the adjoint of a migration). The workstation system
        compiles them in background processes while the earlier tasks run."""
        return {}

    def precompile(self, parts: Sequence[str]) -> None:
        """Compile the solver code of ``parts`` for this setup (no simulation)."""
        raise ConfigError(f"{type(self).__name__} has nothing to precompile")

    def pending_sources(self, task: str) -> list[int]:
        """Indices of the events whose per-source ``task`` has not finished."""
        return [
            i for i, e in enumerate(self.events) if self.state.source_status(task, e.name) != DONE
        ]

    def _run_per_source(self, name: str) -> None:
        pending = self.pending_sources(name)
        done = len(self.events) - len(pending)
        if done:
            logger.info(
                "task %s: %d of %d sources done before; running %d",
                name,
                done,
                len(self.events),
                len(pending),
            )
        if pending:
            self.system.run(self, name, pending)
        failed = [self.events[i].name for i in self.pending_sources(name)]
        if failed:
            raise TaskError(self.failure_message(name, failed))

    def failure_message(self, task: str, sources: Sequence[str]) -> str:
        """One line naming failed sources with their error, rank/job and log file."""
        parts = []
        for s in sources:
            info = self.state.source_info(task, s)
            where = []
            if info.get("job_id"):
                where.append(f"job {info['job_id']}")
            elif info.get("rank") is not None and info.get("status") != "pending":
                where.append(f"rank {info['rank']}")
            if info.get("log"):
                where.append(f"log {info['log']}")
            err = info.get("error") or info.get("status", "not run")
            parts.append(f"{s} ({err}; {', '.join(where)})" if where else f"{s} ({err})")
        return (
            f"task {task}: {len(sources)} source(s) failed: "
            + "; ".join(parts)
            + ". Finished sources are kept; fix the cause and run 'seisgrad submit' again"
        )

    def context(
        self, task: str, index: int, rank: int = 0, job_id: str | None = None
    ) -> TaskContext:
        event = self.events[index]
        log = self.path.logs / task / f"{event.name}.log"
        return TaskContext(
            task=task, index=index, source=event.name, log_path=log, rank=rank, job_id=job_id
        )

    def run_source(self, task: str, index: int, rank: int = 0, job_id: str | None = None) -> None:
        """Run per-source ``task`` for event ``index`` and record its state.

        Called by the System in whichever process runs the source. Exceptions are
        recorded (status ``failed``, the error, the rank or job and the log file) and
        re-raised.
        """
        method = getattr(self, task, None)
        if method is None or not is_per_source(method):
            raise ConfigError(f"'{task}' is not a per-source task of {type(self).__name__}")
        n = len(self.events)
        if not 0 <= index < n:
            raise ConfigError(
                f"source index {index} is out of range: there are {n} source(s) (0..{n - 1})"
            )
        ctx = self.context(task, index, rank, job_id)
        info = {"rank": rank, "job_id": job_id, "log": str(ctx.log_path)}
        stale = self.fingerprint_mismatch()
        if stale:
            error = (
                f"the parameters changed since the run started ({stale}); source "
                f"{ctx.source} was not run with them. Restore the parameter file, or let "
                "the run end and run 'seisgrad submit' again"
            )
            self.state.set_source(task, ctx.source, FAILED, error=error, **info)
            raise StateError(error)
        self.state.set_source(task, ctx.source, RUNNING, **info, **owner())
        recorded = False  # the failure is in the state (not left "running")
        t0 = time.perf_counter()
        try:
            with log_to(ctx.log_path):
                logger.info("%s: source %s (rank %d) started", task, ctx.source, rank)
                try:
                    method(ctx)
                except BaseException as exc:
                    # the traceback goes to this source's log only; the System and the
                    # command line report the failure once, naming this log
                    interrupted = isinstance(exc, KeyboardInterrupt)
                    trace = "" if interrupted else "\n" + traceback.format_exc().rstrip()
                    logger.error(
                        "%s: source %s failed: %s%s",
                        task,
                        ctx.source,
                        _one_line(exc),
                        trace,
                        extra=only_to(ctx.log_path),
                    )
                    self.state.set_source(task, ctx.source, FAILED, error=_one_line(exc), **info)
                    recorded = True
                    raise
                dt = time.perf_counter() - t0
                logger.info("%s: source %s finished in %.1f s", task, ctx.source, dt)
        except BaseException as exc:
            # an interrupt (Ctrl-C, a signal forwarded to the ranks) may also come
            # while the log is being opened or closed: never leave "running" behind
            if not recorded:
                self.state.set_source(task, ctx.source, FAILED, error=_one_line(exc), **info)
            raise
        self.state.set_source(task, ctx.source, DONE, seconds=round(dt, 3), **info)

    # -- fingerprint -------------------------------------------------------------
    def fingerprint_mismatch(self) -> str:
        """How this process's parameters differ from those the run recorded.

        A per-source task started later than the run (a Slurm array task, a rank that
        reads the parameter file itself) must run with the parameters the run recorded
        in its state; :meth:`run_source` refuses when they differ.

        Returns
        -------
        str
            ``key (recorded -> now)`` for up to five changed keys; ``""`` when they
            match or nothing was recorded.
        """
        old = self.recorded_fingerprint()
        if old is None or not self.fingerprint:
            return ""
        return _fingerprint_diff(old, self.fingerprint)[1]

    def declared_inputs(self) -> dict[str, TaskInputs]:
        """:attr:`task_inputs` of the tasks in the task list, checked.

        A declared label that names no component or parameter key, or a declared
        input task that is not an earlier task, is a :class:`ConfigError` (a mistake in
        the workflow class). Declarations of tasks not in the list are left out.
        """
        names = self.task_names
        known: set[str] = set(self.independent_keys)
        for labels in self.fingerprint_labels.values():
            known |= labels
        out = {}
        for task, inputs in self.task_inputs.items():
            if task not in names:
                continue
            if self.fingerprint_labels:
                unknown = sorted(inputs.params - known)
                if unknown:
                    raise ConfigError(
                        f"workflow {type(self).__name__}: task {task} declares unknown "
                        f"input(s) {', '.join(unknown)} (not a module kind or a parameter "
                        "of the chosen modules)"
                    )
            later = sorted(t for t in inputs.tasks if t in names[names.index(task) :])
            if later:
                raise ConfigError(
                    f"workflow {type(self).__name__}: task {task} declares that it reads "
                    f"the results of {', '.join(later)}, which do(es) not run before it"
                )
            out[task] = inputs
        return out

    def parameter_changes(self) -> ParameterChanges | None:
        """What changed since finished work was recorded, and which tasks must run again.

        ``None`` when nothing finished yet or no parameter changed. A finished task is
        reset when one of its declared parameters changed, when an earlier task whose
        results it reads (:attr:`TaskInputs.tasks`) is reset, or when it (or a task
        before it) declares nothing (:attr:`task_inputs`). Changed keys that no
        declared task depends on are :attr:`ParameterChanges.unattributed`.
        """
        old = self.recorded_fingerprint()
        if old is None or not self.state.has_work():
            return None
        changed, detail = _fingerprint_diff(old, self.fingerprint)
        if not changed:
            return None
        event_keys = self.event_keys()
        # per-event comparison: possible when the state holds the digests of the events
        # its finished work was made with, and needed when an events key changed
        by_event = bool(set(changed) & event_keys) and self.state.event_digests() is not None
        new: list[str] = []
        redefined: list[str] = []
        if by_event:
            new, redefined, removed, reordered = self._event_changes()
            notes = [
                f"{what} {_names(names)}"
                for what, names in (("new", new), ("redefined", redefined), ("removed", removed))
                if names
            ]
            if reordered:
                notes.append("reordered")
            # the events note replaces the raw values of the event definitions (and of
            # the data of a path_data folder, which the digests hold per event)
            hidden = _EVENT_DEFINITIONS & event_keys
            detail = _fingerprint_diff(
                {k: v for k, v in old.items() if k not in hidden},
                {k: v for k, v in self.fingerprint.items() if k not in hidden},
            )[1]
            events = "events: " + ("; ".join(notes) or "the same definitions and data")
            detail = "; ".join(x for x in (detail, events) if x)
        declared = self.declared_inputs()
        recorded = self.state.fingerprint_labels()
        direct: dict[str, set[str]] = {}  # task -> the changed keys it declares
        unattributed = []
        for key in changed:
            if key in self.independent_keys:
                continue
            # labels of a key of a module no longer chosen were recorded with it
            labels = self.fingerprint_labels.get(key) or frozenset(recorded.get(key, ())) or {key}
            tasks = {t for t, inputs in declared.items() if inputs.params & labels}
            if not tasks:
                unattributed.append(key)
            for t in tasks:
                direct.setdefault(t, set()).add(key)
        names = self.task_names
        per_src = {t.__name__ for t in self.task_list if is_per_source(t)}
        order = {e.name: i for i, e in enumerate(self.events)} if by_event else {}
        rerun = sorted(new + redefined, key=order.__getitem__)
        reset: list[str] = []
        # per-source tasks that run again for some events only: every changed key they
        # declare says which events exist or how they are defined, and every task whose
        # results they read is kept or itself runs again for some events only
        partial: dict[str, list[str]] = {}
        if unattributed:
            reset = list(names)
        elif direct:
            everything_after = False  # set by a task that declares nothing
            for name in names:
                inputs = declared.get(name)
                if inputs is None:
                    everything_after = True
                reads_reset = inputs is not None and any(t in reset for t in inputs.tasks)
                reads_partial = inputs is not None and any(t in partial for t in inputs.tasks)
                if everything_after or reads_reset:
                    reset.append(name)
                elif name in direct or reads_partial:
                    keys = direct.get(name, set())
                    if by_event and name in per_src and keys <= event_keys:
                        partial[name] = rerun
                    else:
                        reset.append(name)
        # the sources that will run: the new and redefined events, and those that had
        # not finished (failed, interrupted, never run)
        some: dict[str, tuple[str, ...]] = {}
        for name, events in partial.items():
            if not self.state.task_has_work(name):
                continue  # never ran: every source runs
            todo = [
                e.name
                for e in self.events
                if e.name in events or self.state.source_status(name, e.name) != DONE
            ]
            if todo:
                some[name] = tuple(todo)
        return ParameterChanges(
            changed=tuple(changed),
            detail=detail,
            unattributed=tuple(unattributed),
            reset=tuple(reset),
            kept=tuple(t for t in names if t not in reset and self.state.task_has_work(t)),
            to_run=tuple(
                t for t in names if t in reset or t in some or self.state.task_status(t) != DONE
            ),
            partial=tuple(some.items()),
            rerun_events=tuple((t, tuple(v)) for t, v in partial.items() if v),
        )

    def event_keys(self) -> frozenset[str]:
        """Fingerprint keys that only say which events exist and how each is defined
        (:data:`EVENT_KEYS`), with the content of ``path_data`` when it is a folder: its
        data lie per event, and :meth:`event_digests` includes each event's."""
        data = self.path.data
        if data is not None and data.is_dir():
            return EVENT_KEYS | {"path_data#content"}
        return EVENT_KEYS

    def event_digests(self) -> dict[str, str]:
        """A digest of each event's definition (its sources) and, when ``path_data`` is
        a folder, of its observed data there (what the preprocessing reads for it:
        :meth:`Preprocess.observed_data_paths`, the folder ``<event>`` or the file
        ``<event>.<ext>``), by event name (computed once per workflow object: the data
        files are read)."""
        if self._event_digests is None:
            self._event_digests = self._compute_event_digests()
        return dict(self._event_digests)

    def _compute_event_digests(self) -> dict[str, str]:
        data = self.path.data
        folder = data is not None and data.is_dir()
        out = {}
        for e in self.events:
            h = hashlib.sha256(json.dumps(to_mapping(e), sort_keys=True, default=str).encode())
            for p in self.preprocess.observed_data_paths(data, e) if folder else []:
                h.update(f"{p.name} {hash_path(p)}".encode())
            out[e.name] = h.hexdigest()[:16]
        return out

    def _event_changes(self) -> tuple[list[str], list[str], list[str], bool]:
        """Events new since the recorded digests, defined differently, removed (in event
        order), and whether the events that stay are in another order."""
        old = self.state.event_digests() or {}
        now = self.event_digests()
        new = [n for n in now if n not in old]
        redefined = [n for n in now if n in old and old[n] != now[n]]
        removed = [n for n in old if n not in now]
        stay_old = [n for n in old if n in now]
        stay_now = [n for n in now if n in old]
        return new, redefined, removed, stay_old != stay_now

    def fingerprint_defaults(self) -> dict[str, Any]:
        """Each parameter's default as the fingerprint writes values, for every
        parameter of the chosen components (see :func:`with_new_defaults`)."""
        out: dict[str, Any] = {}
        for obj in (self.params, self.solver.params, self.preprocess.params, self.system.params):
            for info in schema_fields(type(obj)):
                if info.default is not dataclasses.MISSING:
                    out.setdefault(info.name, to_mapping(info.default))
        return out

    def recorded_fingerprint(self) -> dict[str, Any] | None:
        """The fingerprint the state recorded (``None``: none), with the parameters of
        this run's fingerprint that it predates read as their defaults
        (:func:`with_new_defaults`)."""
        old = self.state.fingerprint()
        if old is None:
            return None
        defaults = self.fingerprint_defaults()
        return with_new_defaults(old, {k: defaults[k] for k in self.fingerprint if k in defaults})

    def check_fingerprint(self) -> ParameterChanges | None:
        """Forget finished work made with parameters that changed since; record the
        current fingerprint.

        The fingerprint holds every parameter that affects results (and the content
        hashes of input files). The finished tasks that depend on a changed key
        (:meth:`parameter_changes`) are reset, the others kept. When a changed key
        cannot be attributed to a task, a :class:`StateError` names the changed keys
        and nothing is changed.

        Returns
        -------
        ParameterChanges or None
            What changed (to be logged), or ``None`` when nothing did.
        """
        changes = self.parameter_changes()
        if changes is not None and changes.unattributed:
            raise StateError(
                f"parameters changed since finished work was recorded in "
                f"{self.path.workdir}: {changes.detail}. No task of workflow "
                f"{type(self).__name__} declares that it depends on "
                f"{', '.join(changes.unattributed)}, so none of that work can be kept: "
                "restore them, or run 'seisgrad submit --restart' (or 'seisgrad clean') "
                "to start over"
            )
        reset = changes.reset if changes is not None else ()
        partial = dict(changes.rerun_events) if changes is not None else {}
        # before the state forgets the work: a failure here leaves the files in place
        self.set_aside = self.set_aside_results(reset, partial)
        self.state.set_fingerprint(
            self.fingerprint,
            self.fingerprint_labels,
            reset=reset,
            partial=partial,
            event_digests=self.event_digests(),
        )
        return changes

    #: Folder of ``path_output`` that receives the results of the last finished run when
    #: parameters change (:meth:`check_fingerprint`) or ``submit --restart`` starts over.
    PREVIOUS = "previous"
    #: The list of what seisgrad put in :attr:`PREVIOUS` (only those are replaced).
    PREVIOUS_MANIFEST = ".seisgrad-previous.json"

    def input_files(self) -> list[Path]:
        """The parameter file and every input path given (``path_model_init``,
        ``path_data``, ...): what no clean-up may remove."""
        inputs = [getattr(self.path, n[len("path_") :], None) for n in INPUT_PATHS]
        return [Path(q) for q in (self.parameter_file, *inputs) if q is not None]

    def result_paths(self, task: str) -> list[Path]:
        """Files and folders under ``path_output`` that ``task`` writes, whatever the
        switches that decide whether it writes them (``export_*``, ``plot_figures``): what
        is set aside when the task runs again after a parameter change. Default: the
        :meth:`task_outputs` of the task (of every event for a per-source task)."""
        tasks = {t.__name__: t for t in self.task_list}
        if task in tasks and is_per_source(tasks[task]):
            return [p for e in self.events for p in self.task_outputs(task, e.name)]
        return self.task_outputs(task, None)

    def set_aside_results(
        self, tasks: Sequence[str], partial: Mapping[str, Sequence[str]] | None = None
    ) -> tuple[list[Path], list[Path]]:
        """Take the results of ``tasks`` (:meth:`result_paths`), and those of the
        sources ``partial[task]`` of per-source tasks that run again for some sources
        (:meth:`task_outputs`), out of ``path_output`` before they run again; return
        ``(moved, removed)``.

        A figure ``seisgrad plot`` made of a result file (``gradient.png`` beside
        ``gradient.h5``) goes with it.

        ``path_output/previous`` keeps the results of the last finished run:

        * if every task had finished (or the state holds no record of the run: a
          cleaned or copied folder), the results replace what an earlier change put in
          ``previous`` (files of your own there are kept);
        * if the state records an unfinished run, the results it wrote (newer than the
          last set-aside) are removed, and those it had not rewritten yet, which belong
          to the last finished run, join ``previous``.

        Otherwise ``path_output`` would mix results of two sets of parameters until the
        new run finishes, and for good when it fails or is stopped (a new
        ``misfit.json`` beside the old ``gradient.h5``). Nothing that is, or holds, the
        scratch, state or log folder, the parameter file or an input is touched, and an
        input inside ``previous`` is a :class:`~seisgrad.errors.ConfigError` (nothing
        moved). The files go to a staging folder first (copied when ``previous`` is on
        another file system): an ``OSError`` half-way puts them back and is raised,
        with ``previous`` as it was."""
        output = self.path.output.resolve()
        previous = self.path.output / self.PREVIOUS
        home = previous.resolve()
        # never moved, nor a folder that holds one: the run's own folders, the parameter
        # file and every input (path_data may well lie in path_output/traces)
        users = [q.resolve() for q in self.input_files()]
        guarded = users + [
            q.resolve() for q in (self.path.scratch, self.state.root, self.path.logs, previous)
        ]
        workdir = self.path.workdir.resolve()
        found: dict[Path, Path] = {}
        paths = [p for name in tasks for p in self.result_paths(name)]
        for name, sources in (partial or {}).items():
            paths += [p for e in sources for p in self.task_outputs(name, e)]
        # the figure 'seisgrad plot' writes beside a result file (gradient.png beside
        # gradient.h5) shows that result: it goes with it
        paths += [
            p.with_suffix(".png") for p in paths if p.suffix not in ("", ".png") and p.is_file()
        ]
        for p in paths:
            if not p.exists() and not p.is_symlink():
                continue
            r = p.resolve()
            if not r.is_relative_to(output) or workdir.is_relative_to(r):
                continue
            if any(r.is_relative_to(g) or g.is_relative_to(r) for g in guarded):
                continue
            found.setdefault(p, r.relative_to(output))
        if not found:
            return [], []
        held = [u for u in users if u.is_relative_to(home)]
        if held:
            raise ConfigError(
                f"{held[0]} lies in {previous}, where seisgrad keeps the results of the last "
                "finished run when parameters change and replaces them at the next change; "
                "move it out of there and point the parameter file at the new place"
            )
        manifest = previous / self.PREVIOUS_MANIFEST
        kept, since = self._previous_manifest(manifest)
        unfinished = self.state.has_work() and not all(
            self.state.task_status(n) == DONE for n in self.task_names
        )
        removed: list[Path] = []
        if unfinished:
            # what the unfinished run wrote goes; what it had not rewritten is the last
            # finished run's and joins previous
            for p in list(found):
                if since is None or _newest_mtime(p) > since:
                    remove_path(p)
                    removed.append(p)
                    del found[p]
            if not found:
                return [], removed
        staging = previous / f".incoming-{secrets.token_hex(4)}"
        staged: list[tuple[Path, Path]] = []
        try:
            for p, rel in found.items():
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(p, dest)  # a copy when previous is on another file system
                staged.append((p, dest))
        except OSError:
            for p, dest in reversed(staged):
                with contextlib.suppress(OSError):
                    shutil.move(dest, p)
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if not unfinished:  # a new finished set: the old one goes
            for rel in kept:
                remove_path(previous / rel, ignore_errors=True)
            kept = []
        moved = []
        for (_, dest), rel in zip(staged, found.values()):
            final = previous / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.is_dir() and not final.is_symlink():
                remove_path(final)  # a file is replaced by the rename itself
            os.replace(dest, final)
            moved.append(final)
        shutil.rmtree(staging, ignore_errors=True)
        listed = sorted({*kept, *(str(rel) for rel in found.values())})
        stamp = since if unfinished and since is not None else time.time()
        write_json_atomic(manifest, {"files": listed, "set_aside": stamp})
        return moved, removed

    def _previous_manifest(self, manifest: Path) -> tuple[list[str], float | None]:
        """The relative paths seisgrad put in ``previous`` (only those inside it) and
        when (``None``: never, or unknown)."""
        home = manifest.parent.resolve()
        try:
            data = json.loads(manifest.read_text())
        except (OSError, ValueError):
            return [], None
        if isinstance(data, list):  # the first format: the list alone
            files, since = data, manifest.stat().st_mtime
        elif isinstance(data, dict):
            files, since = data.get("files", []), data.get("set_aside")
        else:
            return [], None
        out = []
        for rel in files if isinstance(files, list) else []:
            rel = str(rel)
            old = manifest.parent / rel
            inside = old.parent.resolve() / old.name  # an edited manifest must not reach out
            if Path(rel).is_absolute() or not inside.is_relative_to(home) or inside == home:
                continue
            if old.name in ("", ".", ".."):
                continue
            out.append(rel)
        return out, float(since) if isinstance(since, (int, float)) else None

    def status(self) -> list[dict[str, Any]]:
        """Status of every task (and of each source for per-source tasks).

        A ``running`` entry whose process has ended on this host (killed) is shown as
        ``interrupted``; the next ``seisgrad submit`` records it so and runs it again.
        """
        rows = []
        for task in self.task_list:
            name = task.__name__
            entry = self.state.task_info(name)
            row: dict[str, Any] = {
                "task": name,
                "status": INTERRUPTED if _was_interrupted(entry) else entry["status"],
            }
            if is_per_source(task):
                row["sources"] = {
                    e.name: _shown(self.state.source_info(name, e.name)) for e in self.events
                }
            rows.append(row)
        return rows


def _was_interrupted(info: Mapping[str, Any]) -> bool:
    """True for an entry that says ``running`` but whose process is gone, or that
    failed because it was interrupted (Ctrl-C, a kill found by a later submit)."""
    if process_gone(info):
        return True
    error = str(info.get("error") or "")
    return info.get("status") == FAILED and error.startswith("interrupted")


def _shown(info: dict[str, Any]) -> dict[str, Any]:
    """A source's state as ``status`` shows it: ``interrupted`` when it says ``running``
    but its process is gone, or when it failed by an interruption."""
    if process_gone(info):
        return {**info, "status": INTERRUPTED, "error": "process ended while running"}
    if _was_interrupted(info):
        return {**info, "status": INTERRUPTED}
    return info


def _newest_mtime(path: Path) -> float:
    """Modification time of ``path``, or of the newest file under it for a folder."""
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, _, files in os.walk(path):
            for f in files:
                with contextlib.suppress(OSError):
                    newest = max(newest, (Path(root) / f).lstat().st_mtime)
    return newest


def log_set_aside(wf: Workflow, moved: Sequence[Path], removed: Sequence[Path]) -> None:
    """Log what :meth:`Workflow.set_aside_results` did."""
    previous = wf.path.output / wf.PREVIOUS
    if moved:
        logger.info(
            "results made with the parameters before the change moved to %s: %s",
            previous,
            _paths([p.relative_to(previous) for p in moved], 4),
        )
    if removed:
        logger.info(
            "results of the unfinished run with the parameters before the change removed "
            "(%s keeps the last finished run's): %s",
            previous,
            _paths([p.relative_to(wf.path.output) for p in removed], 4),
        )


def _paths(paths: Sequence[Path], most: int = 2) -> str:
    """``a, b`` (the first ``most`` paths, then how many more) for a log line."""
    return _names([str(p) for p in paths], most)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    if isinstance(exc, SeisgradError):
        return msg or type(exc).__name__
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _fingerprint_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], str]:
    """The keys whose values differ between two fingerprints (sorted), and the changes
    as text: ``key (old -> new)`` for the first five, then how many more."""
    changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    text = ", ".join(f"{k} ({_short(old.get(k))} -> {_short(new.get(k))})" for k in changed[:5])
    if len(changed) > 5:
        text += f" and {len(changed) - 5} more"
    return changed, text


def _short(value: Any) -> str:
    s = show(value)
    return s if len(s) <= 40 else s[:37] + "..."


#: Lines of a SPECFEM2D ``SOURCE`` file (``name = value``), for a hint when one is given
#: as ``path_sources``, which holds a YAML list of events.
_SPECFEM_SOURCE_KEYS = ("source_surf", "xs", "zs", "source_type", "time_function_type")


def _specfem_source_hint(path: Path) -> str:
    """A hint when ``path`` looks like a SPECFEM2D ``SOURCE`` file, else ``""``."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    keys = {line.split("=", 1)[0].strip() for line in text.splitlines() if "=" in line}
    if sum(k in keys for k in _SPECFEM_SOURCE_KEYS) < 2:
        return ""
    return (
        "; this looks like a SPECFEM2D SOURCE file, which seisgrad does not read: give "
        "the events as a YAML list (name, sources: x, z, kind, stf; see docs/workflows.md)"
    )


def read_events_file(path: Path) -> list[Event]:
    """Read events from a YAML file holding a list of event mappings."""
    try:
        data = read_yaml(path, "sources file")
    except ConfigError as exc:
        hint = _specfem_source_hint(Path(path))
        if not hint:
            raise
        raise ConfigError(f"{exc}{hint}") from None
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of events{_specfem_source_hint(Path(path))}")
    return [from_mapping(Event, e, f"{path}[{i}]") for i, e in enumerate(data)]


def make_receivers(spec: ReceiverSpec, stations: Path | None) -> list[Receiver]:
    """Build the receiver list from a :class:`ReceiverSpec`."""
    from seisgrad.solver import acquisition as acq

    if spec.kind != "stations" and stations is not None:
        raise ConfigError(
            f"path_stations is set, but receivers of kind '{spec.kind}' do not read it; "
            "set receivers: {kind: stations} to use it, or remove path_stations"
        )
    if spec.kind == "points":
        return list(spec.points)
    if spec.kind == "stations":
        if stations is None:
            raise ConfigError("receivers of kind 'stations' need path_stations")
        return acq.read_stations(stations)
    if spec.kind == "ring":
        return acq.ring(
            spec.n,
            spec.radius,
            center=tuple(spec.center),
            start_angle=spec.start_angle,
            network=spec.network,
        )
    return acq.line(spec.n, tuple(spec.start), tuple(spec.end), network=spec.network)


#: Names of the temporary files of atomic writes (:func:`seisgrad.model.atomic_path`).
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")


def remove_temporary_files(
    trees: Iterable[Path], folders: Iterable[Path] = ()
) -> list[tuple[Path, int]]:
    """Remove what writes cut short by a kill left in ``trees`` (with their subfolders)
    and ``folders`` (their own files only): the hidden temporary files of atomic writes
    (``.name.<12 hex digits>.tmp``), which nothing reads; return each removed file with
    its size. Call it only while nothing of the run writes (at the start of a run,
    under its lock, with no task or source still running)."""
    candidates: list[Path] = []
    for tree in trees:
        if tree.is_dir():
            for root, _, files in os.walk(tree):
                candidates += [Path(root) / name for name in files]
    for folder in folders:
        if folder.is_dir():
            candidates += [p for p in folder.iterdir() if p.is_file()]
    removed = []
    for path in candidates:
        if _TEMPORARY.match(path.name):
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError:  # gone already, or not ours to remove
                continue
            removed.append((path, size))
    return removed


def with_new_defaults(old: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """A recorded fingerprint completed with the parameters added since it was written.

    A parameter that a newer seisgrad added (``smooth_edge``, or ``start_angle`` inside
    ``receivers``) is missing from fingerprints recorded before; read as its default, a
    run made without it counts as made with the default, instead of every task
    depending on it running again after an upgrade.
    """
    out = dict(old)
    for key, default in defaults.items():
        if key not in out:
            out[key] = default
        elif isinstance(out[key], Mapping) and isinstance(default, Mapping):
            out[key] = {**default, **out[key]}
    return out
