"""Write and edit parameter files while keeping their comments.

``seisgrad configure`` renders a complete, documented file from the chosen modules'
schemas (values already set are kept); ``seisgrad par KEY VALUE`` replaces one
top-level value (or one field of it: ``receivers.n``) in place and leaves every other
line untouched.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any

import yaml

from seisgrad.build import DEFAULT_MODULES, load_parameter_file, owners
from seisgrad.config import (
    PathParameters,
    parse_yaml,
    schema_fields,
    show,
    to_mapping,
    type_name,
    validate_value,
)
from seisgrad.errors import ConfigError
from seisgrad.model import atomic_path
from seisgrad.registry import KINDS, resolve

__all__ = [
    "render_minimal",
    "render_full",
    "write_text_atomic",
    "set_value",
    "get_value",
    "default_value",
    "unused_keys",
    "Change",
]

_HEADER = """\
# seisgrad parameter file
# Modules are chosen by name ('seisgrad print modules' lists them) or as
# 'package.module:ClassName'. Run 'seisgrad configure' to list every parameter of the
# chosen modules with its documentation, 'seisgrad check' to validate.
"""


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (temporary file + rename).

    A new file gets the usual mode (``0o666`` less the umask); a file that is
    replaced keeps its permission bits (a parameter file made private stays so).

    Parameters
    ----------
    path
        The file to write.
    text
        Its new content.

    Returns
    -------
    Path
        ``path``.
    """
    final, tmp = atomic_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        if final.exists():
            tmp.chmod(stat.S_IMODE(final.stat().st_mode))
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    return final


def _dump_value(key: str, value: Any) -> str:
    """``key: value`` as YAML (block style for nested values)."""
    value = to_mapping(value)
    if isinstance(value, (dict, list)) and value:
        body = yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip()
        return f"{key}:\n" + "\n".join("  " + line for line in body.splitlines())
    text = yaml.safe_dump({key: value}, default_flow_style=True, sort_keys=False).strip()
    return text[1:-1] if text.startswith("{") else text


def render_minimal(modules: Mapping[str, str]) -> str:
    """A minimal file naming the modules (``seisgrad setup``)."""
    for kind in KINDS:
        resolve(kind, modules[kind])
    lines = [_HEADER]
    lines += [f"{k}: {modules[k]}" for k in KINDS]
    return "\n".join(lines) + "\n"


def _doc_line(info: Any) -> str:
    extra = [type_name(info.type)]
    if info.choices:
        extra.append("one of " + ", ".join("null" if c is None else str(c) for c in info.choices))
    if info.low is not None or info.high is not None:
        extra.append(
            f"range {'(' if info.low_exclusive else '['}{'' if info.low is None else info.low}, "
            f"{'' if info.high is None else info.high}]"
        )
    if info.required:
        extra.append("required")
    return f"# {info.doc} ({'; '.join(extra)})" if info.doc else f"# ({'; '.join(extra)})"


#: The line above the values that ``configure`` keeps as comments (see :func:`kept_values`).
KEPT_MARKER = "# ---------- not used by the chosen modules (kept as comments) ----------"


def leading_comments(text: str) -> str:
    """The user's comment lines at the top of a parameter file (before its first key
    or blank line), which ``configure`` keeps above the header it writes (without that
    header, which it writes again); ``""`` when there are none."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    head = "\n".join(lines) + "\n" if lines else ""
    if _HEADER in head:  # written by an earlier configure, below the user's lines
        head = head[: head.index(_HEADER)]
    return "" if _HEADER.startswith(head) else head


def kept_values(text: str) -> dict[str, Any]:
    """The values a previous ``configure`` kept as comments (after :data:`KEPT_MARKER`),
    so that swapping a module back restores them; empty when there are none or they
    no longer parse."""
    lines = text.splitlines()
    if KEPT_MARKER not in lines:
        return {}
    body = []
    for line in lines[lines.index(KEPT_MARKER) + 1 :]:
        if not line.startswith("#"):
            break
        body.append(line[2:] if line.startswith("# ") else line[1:])
    try:
        data = parse_yaml("\n".join(body) + "\n", "kept values")
    except ConfigError:
        return {}
    return dict(data) if isinstance(data, dict) else {}


def chosen_modules(raw: Mapping[str, Any]) -> dict[str, str]:
    """The module named in ``raw`` for each kind, or the default one."""
    return {k: str(raw.get(k, DEFAULT_MODULES[k])) for k in KINDS}


def chosen_classes(raw: Mapping[str, Any]) -> dict[str, type]:
    """The classes of :func:`chosen_modules`."""
    return {k: resolve(k, name) for k, name in chosen_modules(raw).items()}


def render_full(raw: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Every parameter of the modules named in ``raw``, documented, values kept.

    Returns the text and the keys of ``raw`` that no chosen module declares (written
    as comments at the end so nothing the user set is lost).
    """
    modules = chosen_modules(raw)
    classes = chosen_classes(raw)
    table = owners(classes)
    out = [_HEADER]
    out += [f"{k}: {modules[k]}" for k in KINDS]
    written: set[str] = set()
    sections = [(k, classes[k].Parameters, f"{k}: {modules[k]}") for k in KINDS]
    sections.append(("paths", PathParameters, "paths (relative to this file's folder)"))
    for _, schema, title in sections:
        infos = [i for i in schema_fields(schema) if i.name not in written]
        if not infos:
            continue
        out.append("")
        out.append(f"# {'=' * 10} {title} {'=' * 10}")
        for info in infos:
            written.add(info.name)
            out.append(_doc_line(info))
            if info.name in raw:
                value = raw[info.name]
            elif info.default is MISSING:
                value = None
            else:
                value = info.default
            out.append(_dump_value(info.name, value))
    unused = [k for k in raw if k not in table and k not in KINDS]
    if unused:
        out.append("")
        out.append(KEPT_MARKER)
        for k in unused:
            out += ["# " + line for line in _dump_value(k, raw[k]).splitlines()]
    return "\n".join(out) + "\n", unused


#: A top-level key: plain, or quoted as YAML allows (``"dt": 0.001``).
_TOP = re.compile(r"""^(?:"([^"\\]*)"|'([^']*)'|([A-Za-z_][A-Za-z0-9_]*))\s*:""")


def _block(lines: list[str], key: str) -> tuple[int, int] | None:
    """Line range ``[start, end)`` of a top-level key's value block."""
    start = None
    for i, line in enumerate(lines):
        m = _TOP.match(line)
        if m and next(g for g in m.groups() if g is not None) == key:
            start = i
            break
    if start is None:
        return None
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() == "" or line.startswith((" ", "\t", "-")):
            end += 1
            continue
        if line.startswith("#"):
            # a comment at column 0 inside the value: the block goes on when the next
            # line that is neither blank nor a comment belongs to it
            nxt = end + 1
            while nxt < len(lines) and (not lines[nxt].strip() or lines[nxt].startswith("#")):
                nxt += 1
            if nxt < len(lines) and lines[nxt].startswith((" ", "\t", "-")):
                end = nxt
                continue
        break
    # leave trailing blank lines to the next block
    while end > start + 1 and lines[end - 1].strip() == "":
        end -= 1
    return start, end


def default_value(raw: Mapping[str, Any], key: str) -> Any:
    """What ``key`` is when the parameter file ``raw`` does not set it: the default
    module name or the schema default (``MISSING`` for a required parameter)."""
    if key in KINDS:
        return DEFAULT_MODULES[key]
    from seisgrad.build import resolve_classes

    info = owners(resolve_classes(raw))[key][0][1]
    return MISSING if info.required else to_mapping(info.default)


def _split_key(key: str) -> tuple[str, list[str]]:
    """``"receivers.n"`` -> ``("receivers", ["n"])``; a key without dots -> ``(key, [])``."""
    top, *rest = key.split(".")
    if not top or any(not part for part in rest):
        raise ConfigError(f"'{key}' is not a parameter name (use NAME or NAME.FIELD)")
    return top, rest


def _step(value: Any, part: str, shown: str) -> tuple[Any, bool]:
    """The element ``part`` of ``value`` (a mapping key, or a list index) and whether it
    exists; ``shown`` is the dotted key so far, for messages."""
    if isinstance(value, Mapping):
        return value.get(part), part in value
    if isinstance(value, list):
        try:
            i = int(part)
        except ValueError:
            raise ConfigError(
                f"'{shown}' is a list: follow it with an index 0..{len(value) - 1}, not '{part}'"
            ) from None
        if not 0 <= i < len(value):
            raise ConfigError(f"'{shown}' has {len(value)} entries; there is no entry {part}")
        return value[i], True
    raise ConfigError(f"'{shown}' is {show(value)}, which has no field '{part}'")


def _fields_of(value: Any) -> str:
    if isinstance(value, Mapping):
        return "its fields: " + (", ".join(map(str, value)) or "none")
    if isinstance(value, list):
        return f"it is a list of {len(value)} entries"
    return f"it is {show(value)}"


def _nested_get_or_none(value: Any, top: str, rest: list[str]) -> tuple[Any, bool]:
    """:func:`_nested_get` of a default, where a missing list entry is not found (an
    entry the file has may be missing from the default)."""
    try:
        return _nested_get(value, top, rest)
    except ConfigError:
        return None, False


def _nested_get(value: Any, top: str, rest: list[str]) -> tuple[Any, bool]:
    shown = top
    for part in rest:
        value, here = _step(value, part, shown)
        if not here:
            return None, False
        shown += f".{part}"
    return value, True


def get_value(path: str | os.PathLike[str], key: str) -> tuple[Any, bool]:
    """Value of ``key`` and whether the file sets it (else the schema default).

    ``key`` may name a field of a mapping or list value with dots (``receivers.n``,
    ``events.0.name``).
    """
    top, rest = _split_key(key)
    raw = load_parameter_file(path)
    value, is_set = _top_value(raw, path, top)
    if rest:
        if is_set and value is None:  # 'receivers:' with nothing: the default
            value, is_set = default_value(raw, top), False
        inner, found = _nested_get(value, top, rest)
        if found:
            return inner, is_set
        default = default_value(raw, top) if is_set else value
        if is_set and default is not MISSING:  # a field the file leaves out: its default
            inner, found = _nested_get_or_none(default, top, rest)
            if found:
                return inner, False
        if isinstance(default, Mapping) or not is_set:
            shown = default if isinstance(default, Mapping) else value
            raise ConfigError(f"{top} has no field '{'.'.join(rest)}' ({_fields_of(shown)})")
        raise ConfigError(
            f"'{key}' is not set in {path}, and the default of {top} does not hold it (set "
            "it to give it a value)"
        )
    return value, is_set


def _top_value(raw: Mapping[str, Any], path: str | os.PathLike[str], key: str) -> tuple[Any, bool]:
    """Top-level ``key`` of the file ``raw`` (read from ``path``) and whether the file
    sets it, else its default."""
    if key in raw:
        return raw[key], True
    _check_key(raw, key)
    value = default_value(raw, key)
    if value is MISSING:
        raise ConfigError(f"required parameter '{key}' is not set in {path}")
    return value, False


def _check_key(raw: Mapping[str, Any], key: str) -> None:
    from seisgrad.build import resolve_classes, unknown_key_error

    if key in KINDS:
        return
    classes = resolve_classes(raw)
    table = owners(classes)
    if key not in table:
        raise unknown_key_error(key, classes, list(table) + list(KINDS))


def unused_keys(raw: Mapping[str, Any]) -> list[str]:
    """Keys of the parameter file ``raw`` that none of its modules takes (after a
    module was swapped: ``seisgrad configure`` keeps them as comments)."""
    from seisgrad.build import resolve_classes

    table = owners(resolve_classes(raw))
    return [str(k) for k in raw if k not in table and k not in KINDS]


def _valid(raw: Mapping[str, Any]) -> bool:
    """Whether the parameters ``raw`` pass the schema checks (not the input files)."""
    from seisgrad.build import validate

    try:
        validate(raw)
    except ConfigError:
        return False
    return True


@dataclass(frozen=True)
class Change:
    """What :func:`set_value` changed.

    Attributes
    ----------
    old
        The value before: the file's, or the default when the file did not set the key
        (``MISSING`` for an unset required parameter).
    was_set
        Whether the file set the key before.
    new
        The new value.
    unused
        For a module key (``workflow``, ``solver``, ...): keys of the file that the
        modules now chosen do not take (``seisgrad check`` refuses them until
        ``seisgrad configure`` turns them into comments); else empty.
    """

    old: Any
    was_set: bool
    new: Any
    unused: tuple[str, ...] = ()


def set_value(path: str | os.PathLike[str], key: str, text: str) -> Change:
    """Set ``key`` to the YAML value ``text`` in place, keeping comments.

    ``key`` is a top-level parameter, or a field of one named with dots
    (``receivers.n``, ``events.0.sources.0.x``): the top-level value is rewritten with
    that field changed (a mapping the file does not set starts empty, so its other
    fields keep their defaults; a list starts from its default). Comments inside that
    value are not kept; the file's other lines are.

    The new value is validated before the file is written; on error the file is
    unchanged. Setting a module key (``workflow``, ``system``, ``solver``,
    ``preprocess``) to another module may leave keys the new module does not take:
    they are kept, and named in the result (:attr:`Change.unused`).

    Returns
    -------
    Change
        The old value (or default), the new one, and the keys left unused.
    """
    p = Path(path)
    top, rest = _split_key(key)
    if rest:
        return _set_field(p, top, rest, text)
    raw = load_parameter_file(p)
    _check_key(raw, key)
    try:
        new = yaml.safe_load(text) if text != "" else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"value for '{key}' is not valid YAML: {text!r}") from exc
    was_set = key in raw
    old = raw[key] if was_set else default_value(raw, key)
    if key in KINDS:
        resolve(key, new)
    else:
        from seisgrad.build import resolve_classes

        for _, info in owners(resolve_classes(raw))[key]:
            validate_value(info, new)
    lines = p.read_text(encoding="utf-8-sig").splitlines()
    block = _block(lines, key)
    new_lines = _dump_value(key, new).splitlines()
    if block is None:
        if was_set:  # written in a form this editor does not find: never add a second one
            raise ConfigError(
                f"'{key}' is set in {p} in a form 'seisgrad par' cannot edit; edit that "
                "line by hand"
            )
        lines += new_lines
    else:
        start, end = block
        comment = re.search(r"\s+#.*$", lines[start])
        if comment and end - start == 1 and len(new_lines) == 1:
            try:  # an inline comment after a one-line value stays
                kept = yaml.safe_load(lines[start][: comment.start()]) == {key: old}
            except yaml.YAMLError:
                kept = False
            if kept:
                new_lines[0] += comment.group(0)
        lines[start:end] = new_lines
    text_out = "\n".join(lines) + "\n"
    # what the file will say, read back: an edit this line editor cannot make safely
    # (an anchor another key refers to, a value in an unusual layout) is refused
    try:
        back = parse_yaml(text_out, str(p))
    except ConfigError:
        back = None
    if back != {**raw, key: new}:
        raise ConfigError(
            f"'{key}' cannot be set in {p} without changing other values (anchors and "
            "aliases, or an unusual layout); edit the file by hand"
        )
    if key not in KINDS and _valid(raw):
        # the checks that involve other keys or names (a misfit name, window order,
        # mute settings): a file that was valid stays valid
        from seisgrad.build import validate

        try:
            validate(back)
        except ConfigError as exc:
            raise ConfigError(f"{key}: {show(new)} is refused ({exc}); {p} is unchanged") from exc
    write_text_atomic(p, text_out)
    unused: tuple[str, ...] = ()
    if key in KINDS:
        unused = tuple(unused_keys({**raw, key: new}))
    return Change(old, was_set, new, unused)


def _set_field(p: Path, top: str, rest: list[str], text: str) -> Change:
    """:func:`set_value` for the dotted key ``top.rest...``."""
    import copy

    key = ".".join([top, *rest])
    raw = load_parameter_file(p)
    _check_key(raw, top)
    if top in KINDS:
        raise ConfigError(f"'{top}' is a module name, which has no fields; set '{top}' itself")
    try:
        new = yaml.safe_load(text) if text != "" else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"value for '{key}' is not valid YAML: {text!r}") from exc
    try:
        old, was_set = get_value(p, key)
    except ConfigError:  # no such field yet
        old, was_set = MISSING, False
    default = default_value(raw, top)
    base = copy.deepcopy(raw[top]) if top in raw else None
    if base is None:  # not set, or set to nothing: start from the default
        if isinstance(default, list):
            base = copy.deepcopy(default)
        elif isinstance(default, Mapping):
            base = {}
        else:
            raise ConfigError(
                f"'{top}' is not set in {p} and its default, {show(default)}, has no "
                f"fields; set '{top}' itself"
            )
    parent, shown = base, top
    for n, part in enumerate(rest[:-1]):
        child, here = _step(parent, part, shown)
        if not here:  # a mapping without this field: start from the field's default
            child, known = _nested_get_or_none(default, top, rest[: n + 1])
            child = copy.deepcopy(child) if known else {}
            parent[part] = child
        parent, shown = child, f"{shown}.{part}"
    last = rest[-1]
    if isinstance(parent, list):
        _step(parent, last, shown)  # checks the index
        parent[int(last)] = new
    elif isinstance(parent, dict):
        parent[last] = new
    else:
        raise ConfigError(f"'{shown}' is {show(parent)}, which has no field '{last}'")
    dumped = yaml.safe_dump(base, default_flow_style=True, sort_keys=False, width=10**9)
    set_value(p, top, dumped.strip())
    return Change(old, was_set, new)
