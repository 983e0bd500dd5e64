"""Log files: one per run, one per task and one per source of a per-source task.

All seisgrad messages go through the ``seisgrad`` logger. :func:`log_to` attaches a
file handler for the duration of a ``with`` block, so the run log, the task log and
the source log each receive what happened while they were open.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["logger", "log_to", "console", "is_terminal", "time_loop_progress"]

logger = logging.getLogger("seisgrad")
logger.setLevel(logging.INFO)
logger.propagate = False

_FORMAT = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")


@contextmanager
def log_to(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Copy ``seisgrad`` log records to ``path`` (appended) inside the block."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(p, mode="a")
    handler.setFormatter(_FORMAT)
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
