"""Workflow state: what finished, what failed, and with which parameters.

Two kinds of files live in ``<path_workdir>/state/``:

* ``workflow.json`` (written by the main process): the status of each task, the
  fingerprint of the parameters that affect results and, for each fingerprint key,
  the labels (owning component, key) that tasks declare as their inputs.
* ``<task>/<source>.json`` (written by whichever rank or job ran that source): the
  status of one per-source task. One small file per source means concurrent ranks or
  array jobs never write the same file, and a kill loses nothing that finished.

Every file is written atomically (temporary file + :func:`os.replace`), so a kill
leaves either the old or the new content, never a torn file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from seisgrad.errors import StateError
from seisgrad.model import atomic_path

__all__ = [
    "State",
    "RunLock",
    "write_json_atomic",
    "DONE",
    "FAILED",
    "RUNNING",
    "PENDING",
    "INTERRUPTED",
    "LOCK_NAME",
    "process_gone",
    "owner",
]

DONE = "done"
FAILED = "failed"
RUNNING = "running"
PENDING = "pending"
#: Shown (never written) for a ``running`` entry whose process is gone.
INTERRUPTED = "interrupted"

#: The statuses a state file may record.
_STATUSES = (DONE, FAILED, RUNNING, PENDING)

#: Name of the run lock file in the state folder (see :class:`RunLock`).
LOCK_NAME = "submit.lock"


def remove_path(path: Path, ignore_errors: bool = False) -> None:
    """Remove a file, a link (not what it points to) or a folder with its contents
    (``ignore_errors``: as :func:`shutil.rmtree`'s, for a folder); nothing when there is
    nothing at ``path``."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=ignore_errors)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` as JSON to ``path`` atomically."""
    final, tmp = atomic_path(path)
    try:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True, default=str)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def owner() -> dict[str, Any]:
    """``{"pid": ..., "host": ...}`` of this process, recorded with a ``running`` entry."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def process_gone(info: Mapping[str, Any]) -> bool:
    """True when ``info`` says ``running`` but the process that wrote it has ended.

    Only entries written on this host (their ``host`` and ``pid``, see :func:`owner`)
    can be checked; others (a Slurm task on another node) count as running.

    Parameters
    ----------
    info
        A task's or a source's state entry.

    Returns
    -------
    bool
        Whether the entry is a stale ``running`` one.
    """
    if info.get("status") != RUNNING:
        return False
    pid, host = info.get("pid"), info.get("host")
    if not isinstance(pid, int) or pid <= 0 or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StateError(f"state file {path} is corrupt ({exc}); remove it to start over") from exc
    if not isinstance(data, dict):
        raise StateError(
            f"state file {path} is corrupt (it holds a {type(data).__name__}, not a mapping); "
            "remove it to start over"
        )
    if "status" in data and data["status"] not in _STATUSES:  # a per-source file
        raise StateError(
            f"state file {path} is corrupt (status {data['status']!r}); remove it to start over"
        )
    return data


class RunLock:
    """Exclusive lock of a working folder, held by one ``seisgrad submit`` at a time.

    An exclusive :func:`fcntl.flock` on ``<state>/submit.lock``, taken without waiting;
    the file names the holder (``pid host``). The kernel drops the lock when the process
    ends, however it ends (``kill -9`` included), so a stale lock file never blocks.

    Parameters
    ----------
    path
        The lock file (created when missing).
    """

    #: File descriptors of the run locks this process holds (see :meth:`held_fds`).
    _held: ClassVar[set[int]] = set()

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @classmethod
    def held_fds(cls) -> tuple[int, ...]:
        """Descriptors of the run locks held by this process. A launcher passes them to
        the processes it starts (``mpiexec``): the lock is then held as long as one of
        them runs, so a ``seisgrad submit`` killed outright (SIGKILL) does not let a new
        one start beside the ranks it left running."""
        return tuple(sorted(cls._held))

    def acquire(self) -> None:
        """Take the lock.

        Raises
        ------
        StateError
            When another process holds it (the message names it and the lock file).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            holder = self.holder() or "another process"
            raise StateError(
                f"another 'seisgrad submit' is running in this working folder ({holder}; "
                f"lock file {self.path}); wait for it or stop it first "
                "('seisgrad status' shows its progress)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode())
        self._fd = fd
        RunLock._held.add(fd)

    def holder(self) -> str:
        """Who holds (or last held) the lock, as written in the file (``""``: unknown)."""
        try:
            return self.path.read_text().strip()
        except OSError:
            return ""

    def release(self) -> None:
        """Release the lock (the file stays; it is harmless unlocked)."""
        if self._fd is not None:
            RunLock._held.discard(self._fd)
            # closing, not LOCK_UN: an unlock would also release it for a launched
            # mpiexec that shares this open file (see held_fds)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class State:
    """Reads and writes the state of one working folder."""

    def __init__(self, workdir: str | os.PathLike[str]) -> None:
        self.root = Path(workdir) / "state"
        self.main_file = self.root / "workflow.json"
        self.lock_file = self.root / LOCK_NAME

    def run_lock(self) -> RunLock:
        """The run lock of this working folder (see :class:`RunLock`)."""
        return RunLock(self.lock_file)

    # -- main file ---------------------------------------------------------------
    def load(self) -> dict[str, Any]:
        if not self.main_file.is_file():
            return {
                "tasks": {}, "fingerprint": None, "fingerprint_labels": {}, "event_digests": None,
            }  # fmt: skip
        data = _read_json(self.main_file)
        data.setdefault("tasks", {})
        data.setdefault("fingerprint", None)
        data.setdefault("fingerprint_labels", {})
        data.setdefault("event_digests", None)
        kinds = {"tasks": dict, "fingerprint": (dict, type(None)), "fingerprint_labels": dict}
        bad = [k for k, kind in kinds.items() if not isinstance(data[k], kind)]
        entries = data["tasks"].values() if isinstance(data["tasks"], dict) else ()
        if bad or not all(isinstance(v, dict) and v.get("status") in _STATUSES for v in entries):
            what = ", ".join(bad) or "a task entry"
            raise StateError(
                f"state file {self.main_file} is corrupt ({what} of the wrong kind); "
                "remove it to start over ('seisgrad submit --restart')"
            )
        return data

    def save(self, data: Mapping[str, Any]) -> None:
        write_json_atomic(self.main_file, dict(data))

    def task_status(self, task: str) -> str:
        return self.load()["tasks"].get(task, {}).get("status", PENDING)

    def task_info(self, task: str) -> dict[str, Any]:
        """The state entry of ``task`` (``{"status": "pending"}`` when none)."""
        return dict(self.load()["tasks"].get(task, {"status": PENDING}))

    def mark_interrupted(self) -> list[str]:
        """Record every ``running`` entry whose process is gone (:func:`process_gone`)
        as failed with the error ``interrupted (...)``; return their names
        (``task`` or ``task/source``)."""
        marked = []
        data = self.load()
        changed = False
        for task, entry in data["tasks"].items():
            if process_gone(entry):
                entry.update(status=FAILED, error=_gone(entry))
                marked.append(task)
                changed = True
        if changed:
            self.save(data)
        for p, name, info in self.source_entries():
            if process_gone(info):
                info.update(status=FAILED, error=_gone(info))
                write_json_atomic(p, info)
                marked.append(name)
        return marked

    def running(self) -> list[str]:
        """The tasks and sources that still say ``running`` (after
        :meth:`mark_interrupted`: those whose process may be alive, e.g. Slurm array
        tasks on other nodes)."""
        out = [t for t, e in self.load()["tasks"].items() if e.get("status") == RUNNING]
        return out + [n for _, n, info in self.source_entries() if info.get("status") == RUNNING]

    def source_entries(self) -> Iterator[tuple[Path, str, dict[str, Any]]]:
        """Each per-source state file, its name ``task/source`` and its entry, in order."""
        for p in sorted(self.root.glob("*/*.json")):
            yield p, f"{p.parent.name}/{p.stem}", _read_json(p)

    def set_task(self, task: str, status: str, **info: Any) -> None:
        data = self.load()
        entry = {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **info}
        data["tasks"][task] = entry
        self.save(data)

    def fingerprint(self) -> dict[str, Any] | None:
        return self.load()["fingerprint"]

    def fingerprint_labels(self) -> dict[str, list[str]]:
        """Labels of each recorded fingerprint key (empty for older state files)."""
        return self.load()["fingerprint_labels"]

    def event_digests(self) -> dict[str, str] | None:
        """Digest of each event's definition when the fingerprint was recorded.

        None when there are none, or when they were recorded with another fingerprint
        than the state holds now (a seisgrad that does not record them wrote the state
        since: the digests no longer describe the finished work)."""
        data = self.load()
        rec = data["event_digests"]
        if not isinstance(rec, dict) or not isinstance(rec.get("digests"), list):
            return None
        if rec.get("fingerprint") != _fingerprint_hash(data["fingerprint"]):
            return None
        return {str(name): str(digest) for name, digest in rec["digests"]}  # event order

    def set_fingerprint(
        self,
        fingerprint: Mapping[str, Any],
        labels: Mapping[str, Iterable[str]] | None = None,
        *,
        reset: Iterable[str] = (),
        partial: Mapping[str, Iterable[str]] | None = None,
        event_digests: Mapping[str, str] | None = None,
    ) -> None:
        """Record ``fingerprint`` (with the ``labels`` of its keys and the digests of the
        events' definitions).

        The tasks in ``reset`` are forgotten first, and the sources ``partial[task]`` of
        per-source tasks: their per-source files are removed, then one atomic write of
        ``workflow.json`` drops the status of those tasks and records the new
        fingerprint. A kill in between leaves the old fingerprint, so the next run
        resets the same work again.
        """
        data = self._forget(reset, partial)
        data["fingerprint"] = dict(fingerprint)
        data["fingerprint_labels"] = {
            k: sorted(v) for k, v in (labels or {}).items() if k in fingerprint
        }
        data["event_digests"] = (
            None
            if event_digests is None
            else {
                # of the fingerprint as the file will hold it (JSON types)
                "fingerprint": _fingerprint_hash(
                    json.loads(json.dumps(data["fingerprint"], default=str))
                ),
                "digests": [[name, d] for name, d in event_digests.items()],  # in order
            }
        )
        self.save(data)

    def forget(
        self, *, reset: Iterable[str] = (), partial: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        """Forget the finished work of the tasks in ``reset`` and of the sources
        ``partial[task]`` of per-source tasks (their per-source files first, then the
        tasks' status in one atomic write of ``workflow.json``)."""
        self.save(self._forget(reset, partial))

    def _forget(
        self, reset: Iterable[str], partial: Mapping[str, Iterable[str]] | None
    ) -> dict[str, Any]:
        """Remove the per-source files of :meth:`forget`; return the main file's data
        without those tasks' status (for the caller to save)."""
        reset = list(reset)
        partial = {t: list(v) for t, v in (partial or {}).items()}
        for task in reset:
            self.reset_sources(task)
        for task, sources in partial.items():
            self.reset_sources(task, sources)
        data = self.load()
        for task in [*reset, *partial]:
            data["tasks"].pop(task, None)
        return data

    def has_work(self) -> bool:
        """True when any task or per-source task has finished."""
        if any(t.get("status") == DONE for t in self.load()["tasks"].values()):
            return True
        return any(info.get("status") == DONE for _, _, info in self.source_entries())

    def task_has_work(self, task: str) -> bool:
        """True when ``task``, or any source of it, has finished."""
        if self.task_status(task) == DONE:
            return True
        folder = self.root / task
        return folder.is_dir() and any(
            _read_json(p).get("status") == DONE for p in folder.glob("*.json")
        )

    # -- per-source files --------------------------------------------------------
    def source_file(self, task: str, source: str) -> Path:
        return self.root / task / f"{source}.json"

    def source_status(self, task: str, source: str) -> str:
        p = self.source_file(task, source)
        if not p.is_file():
            return PENDING
        return _read_json(p).get("status", PENDING)

    def source_info(self, task: str, source: str) -> dict[str, Any]:
        p = self.source_file(task, source)
        return _read_json(p) if p.is_file() else {"status": PENDING}

    def set_source(self, task: str, source: str, status: str, **info: Any) -> None:
        entry = {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **info}
        write_json_atomic(self.source_file(task, source), entry)

    def reset_sources(self, task: str, sources: Iterable[str] | None = None) -> None:
        """Forget per-source results of ``task`` (before it is run anew): of every
        source, or of ``sources``."""
        folder = self.root / task
        if not folder.is_dir():
            return
        if sources is None:
            for p in folder.glob("*.json"):
                p.unlink()
            return
        for name in sources:
            self.source_file(task, name).unlink(missing_ok=True)

    def clear(self) -> None:
        """Remove all state (but the run lock file, which the running submit holds)."""
        if self.root.is_dir():
            for p in sorted(self.root.rglob("*"), reverse=True):
                if p == self.lock_file:
                    continue
                if p.is_dir():
                    p.rmdir()
                else:
                    p.unlink()
            if not self.lock_file.exists():
                self.root.rmdir()


def _fingerprint_hash(fingerprint: Mapping[str, Any] | None) -> str:
    """A digest of a recorded fingerprint (what :meth:`State.event_digests` were made
    with)."""
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _gone(info: Mapping[str, Any]) -> str:
    return f"interrupted (process {info.get('pid')} on {info.get('host')} ended while running)"
