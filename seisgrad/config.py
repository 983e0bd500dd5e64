"""Parameter schemas and their validation.

Every component (workflow, system, solver, preprocess) declares its parameters as a
dataclass whose fields are made with :func:`param`. A field carries its type, default,
allowed values or bounds and a one-line doc. This module turns a plain mapping (a parsed
YAML file) into such a dataclass, rejecting unknown keys (naming the closest valid key),
wrong types and out-of-range values with :class:`~seisgrad.errors.ConfigError`.

Nested dataclasses and lists of dataclasses are validated recursively, so a source list
in the parameter file is checked as strictly as a scalar.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence, Sized
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from seisgrad.errors import ConfigError

T = TypeVar("T")

__all__ = [
    "param",
    "ParamInfo",
    "schema_fields",
    "from_mapping",
    "to_mapping",
    "closest",
    "unknown_key_message",
    "name_list",
    "show",
    "PathParameters",
    "Paths",
    "type_name",
    "validate_value",
    "check_schema",
    "Schema",
    "read_yaml",
    "parse_yaml",
]


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping (PyYAML keeps the
    last one silently, while ``seisgrad par`` would edit the first)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                    continue
                key = self.construct_object(key_node)  # a scalar: hashable
                line = key_node.start_mark.line + 1
                if key in seen:
                    lines = (
                        f"lines {seen[key]} and {line}" if seen[key] != line else f"line {line}"
                    )
                    raise ConfigError(f"key '{key}' is repeated ({lines}); keep only one of them")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, name: str) -> Any:
    """Parse YAML ``text`` (from ``name``, a file name for messages), refusing keys that
    are repeated in one mapping.

    Raises
    ------
    ConfigError
        For invalid YAML (naming the line) or a repeated key (naming both lines).
    """
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{name}{where}: invalid YAML: {problem}") from exc


def read_yaml(path: str | Path, what: str = "file") -> Any:
    """Read a UTF-8 YAML file (see :func:`parse_yaml`).

    Parameters
    ----------
    path
        The file.
    what
        What the file is, for messages (``"parameter file"``, ``"sources file"``).

    Raises
    ------
    ConfigError
        When the file cannot be read, is not UTF-8 text, is not valid YAML or repeats
        a key.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {p}: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{p} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
            "save it with UTF-8 encoding"
        ) from None
    return parse_yaml(text, str(p))


@dataclass(frozen=True)
class ParamInfo:
    """Description of one schema field, as shown by ``seisgrad configure``."""

    name: str
    type: Any
    default: Any
    doc: str
    choices: tuple[Any, ...] | None
    low: float | None
    high: float | None
    affects_results: bool
    required: bool
    low_exclusive: bool = False
    allow_nonfinite: bool = False


def param(
    default: Any = MISSING,
    doc: str = "",
    *,
    choices: Sequence[Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    affects_results: bool = True,
    default_factory: Any = MISSING,
    low_exclusive: bool = False,
    allow_nonfinite: bool = False,
) -> Any:
    """Declare a schema field.

    Parameters
    ----------
    default
        Default value; leave out for a required parameter. Lists and dicts are copied.
    doc
        One-line description, written as a comment by ``seisgrad configure``.
    choices
        Allowed values (checked after type conversion).
    low, high
        Inclusive bounds for numbers (or for every element of a list of numbers).
    affects_results
        ``False`` for parameters that change how, not what, is computed (threads,
        logging, scheduler settings). Changing them does not invalidate finished work.
    default_factory
        Factory for mutable defaults.
    low_exclusive
        ``True`` when ``low`` itself is not allowed (``dt > 0``: ``low=0.0,
        low_exclusive=True``).
    allow_nonfinite
        ``True`` to accept NaN and infinite floats; by default a float parameter (or an
        element of a list of floats) must be finite.
    """
    meta = {
        "doc": doc,
        "choices": tuple(choices) if choices is not None else None,
        "low": low,
        "high": high,
        "affects_results": affects_results,
        "low_exclusive": low_exclusive,
        "allow_nonfinite": allow_nonfinite,
    }
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    if isinstance(default, (list, dict)):
        value = default
        return field(
            default_factory=lambda: type(value)(value),
            metadata=meta,  # noqa: B023
        )
    return field(default=default, metadata=meta)


def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def schema_fields(cls: type) -> list[ParamInfo]:
    """Return the documented fields of a schema dataclass, in declaration order."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass schema")
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = MISSING
        md = f.metadata
        out.append(
            ParamInfo(
                name=f.name,
                type=hints[f.name],
                default=default,
                doc=md.get("doc", ""),
                choices=md.get("choices"),
                low=md.get("low"),
                high=md.get("high"),
                affects_results=md.get("affects_results", True),
                required=default is MISSING,
                low_exclusive=md.get("low_exclusive", False),
                allow_nonfinite=md.get("allow_nonfinite", False),
            )
        )
    return out


def closest(name: str, valid: Sequence[str]) -> str | None:
    """Closest valid name to ``name`` (or ``None`` when nothing is close)."""
    match = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return match[0] if match else None


#: At most this many valid names are listed in a message about an unknown name.
MAX_LISTED = 12


def name_list(name: str, valid: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``valid`` names as one line for a message about the unknown ``name``.

    All of them (sorted) when there are at most ``limit``; otherwise the ``limit``
    names most like ``name`` (sorted) and how many more there are.
    """
    names = sorted(set(valid))
    if len(names) <= limit:
        return ", ".join(names)
    ranked = sorted(names, key=lambda v: -difflib.SequenceMatcher(None, name, v).ratio())
    shown = sorted(ranked[:limit])
    return ", ".join(shown) + f", ... ({len(names) - limit} more)"


def unknown_key_message(key: str, valid: Sequence[str], where: str) -> str:
    """One-line message for an unknown key: the closest valid key, if one is close, and
    the valid keys (see :func:`name_list`)."""
    near = closest(key, valid)
    hint = f"did you mean '{near}'? " if near else ""
    return f"unknown parameter '{key}' in {where}; {hint}valid keys: {name_list(key, valid)}"


def is_positive_real(value: Any) -> bool:
    """Whether ``value`` is a real number (numpy scalars included; not a bool or a
    string) that is finite and > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(value) and value > 0


def show(value: Any) -> str:
    """``value`` as a YAML user writes it: ``null``, ``true``, ``.nan``, ``'text'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return repr(value)


def type_name(tp: Any) -> str:
    """Human-readable name of an annotation (``int``, ``list of float``, ...)."""
    origin = get_origin(tp)
    if tp is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in get_args(tp))
    if origin in (list, tuple, Sequence):
        args = get_args(tp)
        return f"list of {type_name(args[0])}" if args else "list"
    if origin in (dict, Mapping):
        return "mapping"
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in get_args(tp))
    if dataclasses.is_dataclass(tp):
        return f"mapping ({tp.__name__})"
    return getattr(tp, "__name__", str(tp))


def _label(path: str) -> str:
    return f"parameter '{path}'"


def _brief(value: Any, limit: int = 80) -> str:
    """``repr(value)``, shortened to about ``limit`` characters for messages (a long list
    or an array is named by its type and size, not printed whole)."""
    text = show(value)
    if len(text) <= limit:
        return text
    shape = getattr(value, "shape", None)
    if shape is not None:
        size = f" of shape {tuple(shape)}"
    elif isinstance(value, Sized):
        size = f" of length {len(value)}"
    else:
        size = ""
    return f"{text[: limit // 2]}... ({type(value).__name__}{size})"


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Convert ``value`` to annotation ``tp`` or raise ConfigError naming ``where``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{_label(where)}: expected {type_name(tp)}, got null")
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, where)
            except ConfigError as exc:
                errors.append(exc)
        hint = ""
        if type(None) in args and isinstance(value, str) and value.lower() == "none":
            hint = " (YAML's null is written null or ~, not None)"
        raise ConfigError(
            f"{_label(where)}: expected {type_name(tp)}, got {type(value).__name__} "
            f"{_brief(value)}{hint}"
        )
    if origin is typing.Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(
            f"{_label(where)}: expected one of {show(list(get_args(tp)))}, got {_brief(value)}"
        )
    if origin in (list, tuple, Sequence):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(
                f"{_label(where)}: expected {type_name(tp)}, "
                f"got {type(value).__name__} {_brief(value)}"
            )
        args = get_args(tp)
        inner = args[0] if args else Any
        out = [_convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{_label(where)}: expected a mapping, got {_brief(value)}")
        args = get_args(tp)
        if args:
            return {
                _convert(k, args[0], f"{where} (key)"): _convert(v, args[1], f"{where}.{k}")
                for k, v in value.items()
            }
        return dict(value)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{_label(where)}: expected {type_name(tp)}, got {_brief(value)}")
        return from_mapping(tp, value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{_label(where)}: expected true or false, got {_brief(value)}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{_label(where)}: expected an integer, got {_brief(value)}")
        if isinstance(value, numbers.Integral):  # numpy integers too
            return int(value)
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
        number = _yaml_number(value)
        if number is not None and number.is_integer():
            return int(number)  # YAML reads 1e3 (no dot) as a string
        raise ConfigError(f"{_label(where)}: expected an integer, got {_brief(value)}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{_label(where)}: expected a number, got {_brief(value)}")
        if isinstance(value, numbers.Real):  # numpy numbers too
            return float(value)
        number = _yaml_number(value)
        if number is not None:
            return number  # YAML reads 1e-3 (no dot) as a string
        raise ConfigError(f"{_label(where)}: expected a number, got {_brief(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{_label(where)}: expected a string, got {_brief(value)}")
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise ConfigError(f"{_label(where)}: expected {type_name(tp)}, got {_brief(value)}")
    return value


_NUMBER = re.compile(r"[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|inf|infinity|nan)", re.I)


def _yaml_number(value: Any) -> float | None:
    """A number written so that YAML 1.1 reads it as text (``1e3``, ``2E-4``; ``inf``
    and ``nan``, which the finite checks then refuse), else None: not ``1_0`` or
    ``0x10``, which Python would take."""
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value)
    return None


def _check_range(value: Any, info: ParamInfo, where: str) -> None:
    if value is None:
        return
    items = value if isinstance(value, (list, tuple)) else [value]
    for v in items:
        if isinstance(v, float) and not math.isfinite(v) and not info.allow_nonfinite:
            raise ConfigError(f"{_label(where)}: {show(v)} is not allowed; give a finite number")
        if info.choices is not None and v not in info.choices:
            hint = ""
            if None in info.choices and isinstance(v, str) and v.lower() == "none":
                hint = " (YAML's null is written null or ~, not None)"
            raise ConfigError(
                f"{_label(where)}: {show(v)} is not allowed; choose one of "
                + ", ".join(show(c) for c in info.choices)
                + hint
            )
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if info.low is not None and info.low_exclusive and not v > info.low:
                need = "positive" if info.low == 0 else f"above {info.low}"
                raise ConfigError(f"{_label(where)}: must be {need}, got {show(v)}")
            if info.low is not None and v < info.low:
                raise ConfigError(f"{_label(where)}: {show(v)} is below the minimum {info.low}")
            if info.high is not None and v > info.high:
                raise ConfigError(f"{_label(where)}: {show(v)} is above the maximum {info.high}")


def validate_value(info: ParamInfo, value: Any, where: str | None = None) -> Any:
    """Convert and check one value against its field description (``where``: key path)."""
    path = where or info.name
    out = _convert(value, info.type, path)
    _check_range(out, info, path)
    return out


def from_mapping(cls: type[T], values: Mapping[str, Any], where: str = "") -> T:
    """Build schema dataclass ``cls`` from ``values``, validating every key.

    ``where`` is the key path of ``values`` inside the parameter file (empty at the
    top level); messages name keys by their full path (``events[0].sources[1].kind``).

    Raises
    ------
    ConfigError
        For an unknown key (the message names the closest valid key), a missing
        required key, a wrong type or a value outside its choices or bounds.
    """
    infos = {i.name: i for i in schema_fields(cls)}
    place = f"'{where}'" if where else "the parameter file"
    for key in values:
        if key not in infos:
            raise ConfigError(unknown_key_message(str(key), list(infos), place))
    kwargs = {}
    for name, info in infos.items():
        path = f"{where}.{name}" if where else name
        if name in values:
            value = _convert(values[name], info.type, path)
            _check_range(value, info, path)
            kwargs[name] = value
        elif info.required:
            raise ConfigError(f"missing required parameter '{path}'")
    obj = cls(**kwargs)
    post = getattr(obj, "validate", None)
    if callable(post):
        post()
    return obj


@functools.cache
def _checked_fields(cls: type) -> tuple[ParamInfo, ...]:
    """:func:`schema_fields` of ``cls``, once per class (type hints are slow to resolve;
    only names, types, choices and bounds are used from it)."""
    return tuple(schema_fields(cls))


def check_schema(obj: Any) -> None:
    """Validate a schema dataclass built in Python, as :func:`from_mapping` validates one
    read from a file: convert every field to its declared type (numpy numbers to Python
    ones, tuples to lists), check choices and bounds, then run its ``validate()``.

    Raises
    ------
    ConfigError
        Naming the field (``FD2DParameters.pml_width``) and what is wrong with it.
    """
    cls = type(obj)
    for info in _checked_fields(cls):
        path = f"{cls.__name__}.{info.name}"
        value = _convert(getattr(obj, info.name), info.type, path)
        _check_range(value, info, path)
        object.__setattr__(obj, info.name, value)
    post = getattr(obj, "validate", None)
    if callable(post):
        post()


class Schema:
    """Base of the parameter dataclasses: they validate themselves when built
    (:func:`check_schema`), from a file or in Python, so a wrong value is a
    :class:`~seisgrad.errors.ConfigError` at once rather than a failure deep inside a
    run."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # an unknown keyword names the closest field (not a bare TypeError)
        if kwargs and dataclasses.is_dataclass(cls):
            names = [info.name for info in _checked_fields(cls)]
            for key in kwargs:
                if key not in names:
                    raise ConfigError(unknown_key_message(key, names, cls.__name__))
        return super().__new__(cls)

    def __post_init__(self) -> None:
        check_schema(self)


def to_mapping(obj: Any) -> Any:
    """Convert a schema dataclass (recursively) to plain YAML-friendly values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_mapping(v) for k, v in obj.items()}
    return obj


@dataclass
class PathParameters(Schema):
    """Paths shared by all components (relative paths are taken from the folder that
    holds the parameter file)."""

    path_workdir: str = param(".", "working folder; state file and logs live here")
    path_scratch: str = param(
        "scratch", "scratch folder for per-source work (relative: inside path_workdir)"
    )
    path_output: str = param(
        "output", "folder for exported results (relative: inside path_workdir)"
    )
    path_model_init: str | None = param(None, "initial (starting) model, HDF5 file")
    path_model_true: str | None = param(None, "true model used to make synthetic data")
    path_data: str | None = param(None, "folder with observed data (one file per source)")
    path_mask: str | None = param(None, "mask (HDF5 model file) multiplied into the gradient")
    path_sources: str | None = param(None, "file listing sources (YAML list)")
    path_stations: str | None = param(None, "SPECFEM-style STATIONS file")


def resolve_path(value: str | os.PathLike[str], base: Path) -> Path:
    """``value`` with ``~`` expanded, relative to ``base`` unless absolute: how every
    path parameter is read (and so hashed for the fingerprint)."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


class Paths:
    """Absolute paths of a run, from :class:`~seisgrad.config.PathParameters`."""

    def __init__(self, paths: PathParameters, base: Path) -> None:
        self.params = paths
        self.base = base

        def resolve(value: str | None) -> Path | None:
            return None if value is None else resolve_path(value, base)

        self.workdir = resolve(paths.path_workdir) or base

        def in_workdir(value: str) -> Path:
            return resolve_path(value, self.workdir)

        self.scratch = in_workdir(paths.path_scratch)
        self.output = in_workdir(paths.path_output)
        self.model_init = resolve(paths.path_model_init)
        self.model_true = resolve(paths.path_model_true)
        self.data = resolve(paths.path_data)
        self.mask = resolve(paths.path_mask)
        self.sources = resolve(paths.path_sources)
        self.stations = resolve(paths.path_stations)
        self.logs = self.workdir / "logs"
