"""Log files: one per run, one per task and one per source of a per-source task.

All seisgrad messages go through the ``seisgrad`` logger. :func:`log_to` attaches a
file handler for the duration of a ``with`` block, so the run log, the task log and
the source log each receive what happened while they were open.

A record may be kept off the console: ``logger.error(..., extra=FILES_ONLY)`` goes to
the open log files only, and ``extra=only_to(path)`` to the log file ``path`` only
(a source's traceback goes to its own log, never to the console or the run log; the
command line reports the failure once, as one ``error:`` line).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "logger",
    "log_to",
    "console",
    "is_terminal",
    "time_loop_progress",
    "FILES_ONLY",
    "only_to",
]

logger = logging.getLogger("seisgrad")
logger.setLevel(logging.INFO)
logger.propagate = False

_FORMAT = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")

#: ``extra`` of a record that goes to the open log files but not to the console.
FILES_ONLY: dict[str, object] = {"seisgrad_files_only": True}


def only_to(path: str | os.PathLike[str]) -> dict[str, object]:
    """``extra`` of a record that goes to the log file ``path`` only.

    Parameters
    ----------
    path
        A log file opened with :func:`log_to`.

    Returns
    -------
    dict
        Pass as ``extra=`` to a ``logger`` call.
    """
    return {"seisgrad_files_only": True, "seisgrad_only": os.path.abspath(path)}


class _Route(logging.Filter):
    """Drop the records that are not meant for this handler (see :data:`FILES_ONLY`
    and :func:`only_to`); ``path`` is ``None`` for the console."""

    def __init__(self, path: str | None) -> None:
        super().__init__()
        self.path = path

    def filter(self, record: logging.LogRecord) -> bool:
        if self.path is None:
            return not getattr(record, "seisgrad_files_only", False)
        only = getattr(record, "seisgrad_only", None)
        return only is None or only == self.path


class _WarnOnce(logging.Filter):
    """Show each warning on the console once per process: ``seisgrad submit`` checks the
    setup before it runs (warnings shown at once) and each simulation checks it again
    (the same warnings, for the source's log file). The log files keep every copy."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        text = record.getMessage()
        if text in self.seen:
            return False
        self.seen.add(text)
        return True


class _QuietFileHandler(logging.FileHandler):
    """A file handler that reports a failed write (disk full, folder gone) once, as
    one line on standard error, instead of a traceback for every record."""

    warned = False  # once per process, for all handlers

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802
        if _QuietFileHandler.warned:
            return
        _QuietFileHandler.warned = True
        exc = sys.exc_info()[1]
        print(
            f"warning: cannot write the log file {self.baseFilename} ({exc}); "
            "further log write errors are not shown",
            file=sys.stderr,
        )

    def flush(self) -> None:
        try:
            super().flush()
        except OSError:
            self.handleError(logging.makeLogRecord({}))

    def close(self) -> None:
        try:
            super().close()
        except OSError:
            self.handleError(logging.makeLogRecord({}))


@contextmanager
def log_to(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Copy ``seisgrad`` log records to ``path`` (appended) inside the block.

    A failed write to the file is reported once (see :class:`_QuietFileHandler`).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    handler = _QuietFileHandler(p, mode="a")
    handler.setFormatter(_FORMAT)
    handler.addFilter(_Route(os.path.abspath(p)))
    logger.addHandler(handler)
    try:
        yield p
    finally:
        logger.removeHandler(handler)
        handler.close()


def is_terminal() -> bool:
    """True when standard error is an interactive terminal (progress bars shown)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def console(level: int = logging.INFO) -> logging.Handler:
    """Attach a console handler (standard error) to the ``seisgrad`` logger once."""
    for h in logger.handlers:
        if getattr(h, "_seisgrad_console", False):
            h.setLevel(level)
            return h
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.setLevel(level)
    handler.addFilter(_Route(None))
    handler.addFilter(_WarnOnce())
    handler._seisgrad_console = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    return handler


@contextmanager
def time_loop_progress(total: int, desc: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar for a time loop of ``total`` steps when writing to a terminal.

    Yields a callback ``update(step)`` (the number of steps done so far), or ``None``
    when standard error is not a terminal (logs then get one line per task, not per
    step, and the time loop runs in one compiled call).
    """
    if not is_terminal():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="step", leave=False)
    done = 0

    def update(step: int) -> None:
        nonlocal done
        bar.update(step - done)
        done = step

    try:
        yield update
    finally:
        bar.close()
