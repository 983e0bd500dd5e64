"""Turn a parameter file into components: the one place where YAML becomes objects.

The parameter file is flat, as in SeisFlows: the four module names
(``workflow``, ``system``, ``solver``, ``preprocess``), then the parameters of those
modules, then the ``path_*`` keys. Each key belongs to the component(s) whose schema
declares it; a key no chosen module declares is an error naming the closest valid key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seisgrad.config import (
    ParamInfo,
    PathParameters,
    Paths,
    from_mapping,
    read_yaml,
    resolve_path,
    schema_fields,
    to_mapping,
    unknown_key_message,
)
from seisgrad.errors import ConfigError
from seisgrad.registry import KINDS, available, resolve

__all__ = [
    "DEFAULT_MODULES",
    "Setup",
    "load_parameter_file",
    "resolve_classes",
    "owners",
    "build_from_config",
    "build_system",
    "fingerprint",
    "fingerprint_labels",
    "hash_path",
    "unknown_key_error",
]

DEFAULT_MODULES = {
    "workflow": "migration",
    "system": "workstation",
    "solver": "fd2d",
    "preprocess": "default",
}

#: Path keys whose files change results (their content is part of the fingerprint).
INPUT_PATHS = (
    "path_model_init",
    "path_model_true",
    "path_data",
    "path_mask",
    "path_sources",
    "path_stations",
)


#: Parameters naming user code as ``"path/to/file.py:function"``: the content of the file
#: is part of the fingerprint too (editing the function changes results).
CODE_PARAMETERS = ("weights_function",)


def load_parameter_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a YAML parameter file into a mapping (empty file: empty mapping).

    Raises
    ------
    ConfigError
        When the file is missing or a folder, is not UTF-8 text, is not valid YAML,
        repeats a key (naming both lines) or is not a mapping.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(
            f"parameter file {p} is a directory; pass the YAML file with -p/--parameter-file"
        )
    if not p.is_file():
        raise ConfigError(
            f"parameter file {p} not found; run 'seisgrad setup' to write one, "
            "or pass -p/--parameter-file"
        )
    data = read_yaml(p, "parameter file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected 'key: value' lines at the top level")
    return data


def resolve_classes(raw: Mapping[str, Any]) -> dict[str, type]:
    """Classes of the four modules named in ``raw``."""
    missing = [k for k in KINDS if k not in raw]
    if missing:
        raise ConfigError(
            f"the parameter file must name the module(s): {', '.join(missing)} "
            f"(e.g. {', '.join(f'{k}: {DEFAULT_MODULES[k]}' for k in missing)})"
        )
    return {k: resolve(k, raw[k]) for k in KINDS}


def owners(classes: Mapping[str, type]) -> dict[str, list[tuple[str, ParamInfo]]]:
    """Map every valid key to the components (``kind`` or ``paths``) that declare it.

    A key declared by several components must have the same type in each.
    """
    table: dict[str, list[tuple[str, ParamInfo]]] = {}
    schemas = [(k, classes[k].Parameters) for k in KINDS] + [("paths", PathParameters)]
    for owner, schema in schemas:
        for info in schema_fields(schema):
            if info.name in KINDS:
                raise ConfigError(f"{owner} declares a parameter named like a module: {info.name}")
            others = table.setdefault(info.name, [])
            for _, other in others:
                if other.type != info.type:
                    raise ConfigError(
                        f"parameter '{info.name}' is declared by two modules with different "
                        f"types ({other.type} and {info.type})"
                    )
            others.append((owner, info))
    return table


def _other_owners(key: str, classes: Mapping[str, type]) -> dict[str, list[str]]:
    """``kind -> names`` of the registered modules, other than the chosen ones, whose
    schema declares ``key``."""
    found: dict[str, list[str]] = {}
    for kind in KINDS:
        for name in sorted(available(kind)):
            try:
                cls = resolve(kind, name)
            except Exception:  # noqa: BLE001 - a broken plug-in must not hide the error
                continue
            if cls is classes.get(kind):
                continue
            if any(info.name == key for info in schema_fields(cls.Parameters)):
                found.setdefault(kind, []).append(name)
    return found


#: How like a valid key an unknown one must be to count as its misspelling
#: (:func:`difflib.SequenceMatcher` ratio: ``smoothh`` for ``smooth_h`` is 0.93).
TYPO_SIMILARITY = 0.85


def likely_typos(keys: Sequence[str], classes: Mapping[str, type]) -> list[str]:
    """The ``keys`` that no chosen module (``classes``) and no other registered module
    declares, and that are spelled almost like a valid key: misspellings, which
    ``seisgrad configure`` must refuse rather than keep as comments (a key of a module
    given as ``package.module:Class`` and swapped out is kept)."""
    import difflib

    valid = list(owners(classes))
    return [
        k
        for k in keys
        if k not in valid
        and k not in KINDS
        and difflib.get_close_matches(k, valid, n=1, cutoff=TYPO_SIMILARITY)
        and not _other_owners(k, classes)
    ]


def unknown_key_error(key: str, classes: Mapping[str, type], valid: Sequence[str]) -> ConfigError:
    """The error for a key of the parameter file that no chosen module declares.

    When another registered module takes the key (``nproc`` under ``system:
    workstation``), the message says which; otherwise it names the closest valid key and
    lists the valid ones (:func:`~seisgrad.config.unknown_key_message`).

    Returns
    -------
    ConfigError
        The error to raise.

    Parameters
    ----------
    key
        The unknown key.
    classes
        The chosen module classes, ``kind -> class``.
    valid
        The valid keys.
    """
    others = _other_owners(key, classes)
    if others:
        parts = []
        for kind, names in others.items():
            chosen = classes.get(kind)
            current = next(
                (n for n, spec in available(kind).items() if _spec_is(spec, chosen)), None
            )
            now = f", not of {kind} '{current}'" if current else ""
            parts.append(f"{kind} {'/'.join(repr(n) for n in names)}{now}")
        return ConfigError(
            f"unknown parameter '{key}' in the parameter file: it is a parameter of "
            + " and of ".join(parts)
            + "; remove it or choose that module"
        )
    return ConfigError(unknown_key_message(key, valid, "the parameter file"))


def _spec_is(spec: str, cls: type | None) -> bool:
    module, _, attr = spec.partition(":")
    return cls is not None and cls.__module__ == module and cls.__name__ == attr


@dataclass
class Setup:
    """Everything built from one parameter file."""

    parameter_file: Path
    raw: dict[str, Any]
    classes: dict[str, type]
    params: dict[str, Any]
    workflow: Any
    system: Any
    solver: Any
    preprocess: Any

    @property
    def paths(self) -> Any:
        return self.workflow.path


def validate(raw: Mapping[str, Any]) -> tuple[dict[str, type], dict[str, Any]]:
    """Validate a parsed parameter file; return the classes and parameter objects."""
    classes = resolve_classes(raw)
    table = owners(classes)
    per_owner: dict[str, dict[str, Any]] = {k: {} for k in (*KINDS, "paths")}
    valid = list(table) + list(KINDS)
    for key, value in raw.items():
        if key in KINDS:
            continue
        if key not in table:
            raise unknown_key_error(str(key), classes, valid)
        for owner, _ in table[key]:
            per_owner[owner][key] = value
    params = {}
    schemas = {k: classes[k].Parameters for k in KINDS} | {"paths": PathParameters}
    for owner, schema in schemas.items():
        params[owner] = from_mapping(schema, per_owner[owner])
    return classes, params


def build_from_config(
    path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> Setup:
    """Read, validate and build all components of a parameter file.

    Parameters
    ----------
    path
        The parameter file; relative ``path_*`` values are taken from its folder.
    overrides
        Values replacing those of the file (used by tests and by workers).
    """
    pfile = Path(path).resolve()
    raw = load_parameter_file(pfile)
    if overrides:
        raw = {**raw, **overrides}
    classes, params = validate(raw)
    system = classes["system"](params["system"])
    threads = system.solver_threads
    if threads is not None and hasattr(params["solver"], "threads"):
        # the System decides how many threads each task's solver may use
        params["solver"] = dataclasses.replace(params["solver"], threads=threads)
    solver = classes["solver"](params["solver"])
    preprocess = classes["preprocess"](params["preprocess"], base=pfile.parent)
    paths = Paths(params["paths"], pfile.parent)
    fp = fingerprint(raw, params, pfile.parent)
    labels = fingerprint_labels(classes)
    workflow = classes["workflow"](
        params["workflow"],
        paths,
        solver=solver,
        preprocess=preprocess,
        system=system,
        fingerprint=fp,
        fingerprint_labels=labels,
        parameter_file=pfile,
    )
    return Setup(pfile, dict(raw), classes, params, workflow, system, solver, preprocess)


def build_system(path: str | os.PathLike[str]) -> tuple[Any, Paths]:
    """Only the System of a parameter file, and the run's paths.

    What a launcher process needs before anything else: ``seisgrad submit`` with
    ``system: mpi`` starts ``mpiexec`` from these alone, and the ranks then build and
    validate the whole setup (:func:`build_from_config`), so the launcher does not do
    that work a second time. Keys of other components are not checked here.
    """
    pfile = Path(path).resolve()
    raw = load_parameter_file(pfile)
    cls = resolve("system", raw.get("system", DEFAULT_MODULES["system"]))
    schemas = {"system": cls.Parameters, "paths": PathParameters}
    values: dict[str, dict[str, Any]] = {k: {} for k in schemas}
    for owner, schema in schemas.items():
        names = {info.name for info in schema_fields(schema)}
        values[owner] = {k: v for k, v in raw.items() if k in names}
    system = cls(from_mapping(cls.Parameters, values["system"]))
    return system, Paths(from_mapping(PathParameters, values["paths"]), pfile.parent)


def hash_path(p: Path) -> str | None:
    """Digest of a file, or of a folder's files (names and contents); None if missing."""
    if not p.exists():
        return None
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
    for f in files:
        h.update(str(f.relative_to(p) if f != p else f.name).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def fingerprint(raw: Mapping[str, Any], params: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """Values that determine results: module names, parameters that affect results,
    and content hashes of input files (the ``path_*`` inputs and the user code files of
    :data:`CODE_PARAMETERS`)."""
    fp: dict[str, Any] = {k: str(raw[k]) for k in KINDS}
    for kind in KINDS:
        obj = params[kind]
        for info in schema_fields(type(obj)):
            if info.affects_results:
                value = getattr(obj, info.name)
                fp[info.name] = to_mapping(value)
                code = _code_file(value, base) if info.name in CODE_PARAMETERS else None
                if code is not None:
                    fp[content_key(info.name)] = hash_path(code)
    paths = params["paths"]
    for key in INPUT_PATHS:
        value = getattr(paths, key)
        if value is not None:
            fp[key] = value
            fp[content_key(key)] = hash_path(resolve_path(value, base))
    return fp


def _code_file(spec: Any, base: Path) -> Path | None:
    """The file of a ``"path/to/file.py:function"`` parameter (relative to ``base``);
    None for other values (an importable module, null)."""
    if not isinstance(spec, str) or ":" not in spec:
        return None
    target = spec.rsplit(":", 1)[0]
    if not target.endswith(".py"):
        return None
    return resolve_path(target, base)


def content_key(path_key: str) -> str:
    """Fingerprint key of the content hash of the input files of ``path_key``."""
    return f"{path_key}#content"


def fingerprint_labels(classes: Mapping[str, type]) -> dict[str, frozenset[str]]:
    """The labels of every key a fingerprint of these modules can hold.

    A task of a workflow declares its inputs with such labels
    (:class:`~seisgrad.workflow.base.TaskInputs`): a module-name key (``solver``) is
    labelled with its kind; a parameter with its own name and the components that
    declare it (``max_freq``: ``{"max_freq", "preprocess"}``; ``smooth_h``:
    ``{"smooth_h", "workflow"}``); a ``path_*`` key and the content hash of its files
    with the path key and ``paths``.
    """
    labels: dict[str, frozenset[str]] = {kind: frozenset({kind}) for kind in KINDS}
    for name, declared in owners(classes).items():
        labels[name] = frozenset({name, *(owner for owner, _ in declared)})
    for key in INPUT_PATHS:
        labels[content_key(key)] = frozenset({key, "paths"})
    for key in CODE_PARAMETERS:
        if key in labels:
            labels[content_key(key)] = labels[key]
    return labels
