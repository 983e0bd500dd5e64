"""Find component classes by name.

Each kind of component (``workflow``, ``system``, ``solver``, ``preprocess``) has a
table of built-in names. Other packages add their own through entry points in the
group ``seisgrad.<kind>`` (e.g. ``[project.entry-points."seisgrad.solver"]
mysolver = "mypkg.solver:MySolver"``), and a parameter file may name any class
directly as ``package.module:ClassName``. Errors list the valid names.
"""

from __future__ import annotations

import importlib
import inspect
from importlib import metadata

from seisgrad.config import closest
from seisgrad.errors import RegistryError

__all__ = ["KINDS", "BUILTINS", "available", "resolve", "base_class"]

KINDS = ("workflow", "system", "solver", "preprocess")

BUILTINS: dict[str, dict[str, str]] = {
    "workflow": {
        "forward": "seisgrad.workflow.forward:Forward",
        "migration": "seisgrad.workflow.migration:Migration",
    },
    "system": {
        "workstation": "seisgrad.system.workstation:Workstation",
        "mpi": "seisgrad.system.mpi:MPI",
        "slurm": "seisgrad.system.slurm:Slurm",
    },
    "solver": {"fd2d": "seisgrad.solver.fd2d:FD2D"},
    "preprocess": {"default": "seisgrad.preprocess.default:Default"},
}

_BASES = {
    "workflow": "seisgrad.workflow.base:Workflow",
    "system": "seisgrad.system.base:System",
    "solver": "seisgrad.solver.base:Solver",
    "preprocess": "seisgrad.preprocess.base:Preprocess",
}


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise RegistryError(f"unknown component kind '{kind}'; valid kinds: {', '.join(KINDS)}")


def available(kind: str) -> dict[str, str]:
    """All names for ``kind``: built-ins plus entry points, ``name -> 'module:Class'``."""
    _check_kind(kind)
    names = dict(BUILTINS[kind])
    try:
        eps = metadata.entry_points(group=f"seisgrad.{kind}")
    except TypeError:  # pragma: no cover - Python < 3.10 API
        eps = metadata.entry_points().get(f"seisgrad.{kind}", [])  # type: ignore[attr-defined]
    for ep in eps:
        names.setdefault(ep.name, ep.value)
    return names


def _load(spec: str, kind: str, name: str) -> type:
    module_name, _, attr = spec.partition(":")
    if not attr or not module_name:
        raise RegistryError(f"{kind} '{name}': expected 'package.module:ClassName', got '{spec}'")
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # user code: a syntax error, sys.exit at import
        raise RegistryError(
            f"{kind} '{name}': cannot import module '{module_name}': {type(exc).__name__}: {exc}"
        ) from exc
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise RegistryError(
            f"{kind} '{name}': module '{module_name}' has no attribute '{attr}'"
        ) from None
    return obj


def base_class(kind: str) -> type:
    """Abstract base class of ``kind``."""
    _check_kind(kind)
    return _load(_BASES[kind], kind, "base")


def resolve(kind: str, name: str) -> type:
    """Class for ``name`` (a registered name or ``module:Class``) of component ``kind``.

    Raises
    ------
    RegistryError
        When the name is unknown (listing the valid names), cannot be imported, or is
        not a subclass of the kind's base class.
    """
    _check_kind(kind)
    if not isinstance(name, str) or not name:
        raise RegistryError(f"'{kind}' must be a module name, got {name!r}")
    names = available(kind)
    if name in names:
        spec = names[name]
    elif ":" in name:
        spec = name
    else:
        near = closest(name, list(names))
        hint = f" (did you mean '{near}'?)" if near else ""
        raise RegistryError(
            f"unknown {kind} '{name}'{hint}; valid names: {', '.join(sorted(names))}, "
            "or 'package.module:ClassName'"
        )
    cls = _load(spec, kind, name)
    base = base_class(kind)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise RegistryError(f"{kind} '{name}' ({spec}) is not a subclass of {base.__name__}")
    if not hasattr(cls, "Parameters"):
        raise RegistryError(f"{kind} '{name}' ({spec}) declares no Parameters schema")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
        raise RegistryError(f"{kind} '{name}' ({spec}) is abstract: it does not define {missing}")
    return cls
