"""Log files: one per run, one per task and one per source of a per-source task.

All seisgrad messages go through the ``seisgrad`` logger. :func:`log_to` attaches a
file handler for the duration of a ``with`` block, so the run log, the task log and
the source log each receive what happened while they were open.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["logger", "log_to", "console", "is_terminal"]

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
