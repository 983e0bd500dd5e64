"""Schema validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from seisgrad.config import from_mapping, param, schema_fields, to_mapping
from seisgrad.errors import ConfigError
from seisgrad.solver.acquisition import Event, PointSource, SourceTimeFunction
from seisgrad.solver.fd2d import FD2DParameters


@dataclass
class Inner:
    a: int = param(1, "an int", low=0, high=10)


@dataclass
class Schema:
    name: str = param(doc="required name")
    order: int = param(4, "order", choices=(2, 4, 8))
    dt: float = param(1e-3, "time step", low=0.0)
    flag: bool = param(False, "a flag")
    maybe: float | None = param(None, "optional")
    items: list[float] = param([1.0], "numbers", low=0.0)
    inner: Inner = param(default_factory=Inner, doc="nested")
    inners: list[Inner] = param([], "nested list")


def test_valid_values_are_converted():
    s = from_mapping(
        Schema,
        {"name": "x", "order": 8, "dt": 1, "maybe": "1e-3", "inners": [{"a": 3}]},
    )
    assert s.order == 8
    assert s.dt == 1.0 and isinstance(s.dt, float)
    assert s.maybe == pytest.approx(1e-3)
    assert s.inners[0].a == 3
    assert to_mapping(s)["inners"] == [{"a": 3}]


def test_mutable_defaults_are_not_shared():
    a = from_mapping(Schema, {"name": "a"})
    b = from_mapping(Schema, {"name": "b"})
    a.items.append(2.0)
    assert b.items == [1.0]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"name": "x", "ordr": 4}, "unknown parameter 'ordr'.*did you mean 'order'"),
        ({"name": "x", "order": 3}, "parameter 'order': 3 is not allowed; choose one of 2, 4, 8"),
        ({"name": "x", "dt": -1.0}, "parameter 'dt': -1.0 is below the minimum 0.0"),
        ({"name": "x", "flag": "yes"}, "parameter 'flag': expected true or false"),
        ({"name": "x", "order": "four"}, "parameter 'order': expected an integer"),
        ({"name": "x", "items": [1.0, -2.0]}, "below the minimum"),
        ({"name": "x", "inner": {"b": 1}}, "unknown parameter 'b' in 'inner'"),
        ({"name": "x", "inner": {"a": 11}}, "parameter 'inner.a': 11 is above the maximum 10"),
        ({}, "missing required parameter 'name'"),
    ],
)
def test_bad_values_name_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping(Schema, values)


def test_nested_event_schema():
    e = from_mapping(
        Event, {"name": "e1", "sources": [{"x": 1, "z": 2, "stf": {"kind": "gaussian"}}]}
    )
    assert e.sources[0].stf.kind == "gaussian"
    with pytest.raises(ConfigError, match="did you mean 'kind'"):
        from_mapping(Event, {"name": "e", "sources": [{"x": 1, "z": 2, "knd": "force"}]})
    # an event without sources is an object preprocessing may use; simulations and
    # workflows refuse it (tests/solver, tests/workflow)
    assert from_mapping(Event, {"name": "e", "sources": []}).sources == []


def test_schema_fields_documented():
    infos = {i.name: i for i in schema_fields(Schema)}
    assert infos["name"].required
    assert infos["order"].choices == (2, 4, 8)
    assert infos["dt"].doc == "time step"


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: FD2DParameters(pml_width=-1), r"'FD2DParameters.pml_width': -1 is below"),
        (lambda: FD2DParameters(pml_sides=["up"]), r"'up' is not allowed; choose one of"),
        (lambda: FD2DParameters(pml_sides="left"), r"expected list of str, got str 'left'"),
        (lambda: FD2DParameters(materials="elastc"), r"'elastc' is not allowed"),
        (lambda: FD2DParameters(precision="float16"), r"'float16' is not allowed"),
        (lambda: FD2DParameters(nt=0), r"'FD2DParameters.nt': 0 is below the minimum 2"),
        (lambda: FD2DParameters(threads=0), r"threads': 0 is below"),
        (lambda: FD2DParameters(pml_velocity=0.0), r"pml_velocity': must be positive"),
        (lambda: SourceTimeFunction(f0=0.0), r"needs f0 > 0"),
        (lambda: SourceTimeFunction(kind="rickr"), r"'rickr' is not allowed"),
        (lambda: SourceTimeFunction(kind="array"), r"needs 'values'"),
        (lambda: SourceTimeFunction(kind="array", values=[0.0, float("nan")]), "finite"),
        (lambda: PointSource(x=0.0, z=0.0, kind="presure"), r"'presure' is not allowed"),
        (lambda: FD2DParameters(ordr=4), r"unknown parameter 'ordr' in FD2DParameters; did you"),
    ],
)
def test_schemas_built_in_python_are_validated(build, message):
    """The parameter dataclasses check themselves when built in Python too (not only
    when read from a file), so a wrong value fails at once with a clear message."""
    with pytest.raises(ConfigError, match=message):
        build()


def test_schemas_built_in_python_convert_numpy_numbers():
    p = FD2DParameters(nt=np.int64(10), dt=np.float32(1e-3), pml_sides=("left", "right"))
    assert type(p.nt) is int and type(p.dt) is float and p.pml_sides == ["left", "right"]
    src = PointSource(x=np.float64(1.0), z=2)
    assert type(src.z) is float


def test_repeated_keys_name_both_lines(tmp_path):
    from seisgrad.config import parse_yaml, read_yaml

    with pytest.raises(ConfigError, match=r"f: key 'a' is repeated \(lines 1 and 3\)"):
        parse_yaml("a: 1\nb: 2\na: 3\n", "f")
    with pytest.raises(ConfigError, match=r"key 'k' is repeated \(line 2\)"):
        parse_yaml("a:\n  {k: 1, k: 2}\n", "f")
    # merge keys may be overridden; the same key in different mappings is fine
    data = parse_yaml("base: &b {k: 1}\nx:\n  <<: *b\n  k: 2\ny: {k: 3}\n", "f")
    assert data["x"] == {"k": 2} and data["y"] == {"k": 3}
    p = tmp_path / "p.yaml"
    p.write_bytes(b"a: 1\n\xff\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xff on line 2\)"):
        read_yaml(p)


@dataclass
class Floats:
    x: float = param(1.0, "a number")
    xs: list[float] = param([1.0], "numbers")
    maybe: float | None = param(None, "optional")
    wild: float = param(1.0, "may be infinite", allow_nonfinite=True)
    step: float = param(1.0, "positive", low=0.0, low_exclusive=True)
    choice: str | None = param(None, "a choice", choices=(None, "a"))


@pytest.mark.parametrize(
    "values, message",
    [
        ({"x": float("nan")}, "parameter 'x': .nan is not allowed; give a finite number"),
        ({"x": "inf"}, "parameter 'x': .inf is not allowed; give a finite number"),
        ({"xs": [1.0, float("-inf")]}, "parameter 'xs': -.inf is not allowed"),
        ({"maybe": np.float32("nan")}, "parameter 'maybe': .nan is not allowed"),
        ({"step": 0.0}, "parameter 'step': must be positive, got 0.0"),
        ({"step": -1}, "parameter 'step': must be positive, got -1.0"),
        ({"choice": "None"}, "'None' is not allowed; choose one of null, 'a' .*not None"),
        ({"maybe": "None"}, "expected float or null, got str 'None' .*not None"),
        ({"x": None}, "parameter 'x': expected a number, got null"),
    ],
)
def test_float_and_null_messages(values, message):
    with pytest.raises(ConfigError, match=message):
        from_mapping(Floats, values)


def test_non_finite_allowed_where_declared():
    assert from_mapping(Floats, {"wild": float("inf")}).wild == float("inf")
    assert from_mapping(Floats, {"step": 1e-9}).step == 1e-9


def test_configure_comments_show_null_and_open_bounds():
    from seisgrad.parfile import render_full

    text, _ = render_full({"workflow": "migration"})
    assert "one of null, illumination" in text and "None" not in text
    assert "(float or null; range (0.0, ])" in text  # pml_velocity: open bounds


def test_unknown_key_lists_valid_names():
    from seisgrad.config import unknown_key_message

    msg = unknown_key_message("ordr", ["order", "dt", "name"], "X")
    expected = "unknown parameter 'ordr' in X; did you mean 'order'? valid keys: dt, name, order"
    assert msg == expected
    many = [f"key_{i:02d}" for i in range(30)] + ["order"]
    msg = unknown_key_message("ordr", many, "X")
    assert "did you mean 'order'?" in msg and "order" in msg.split("valid keys: ")[1]
    assert msg.endswith("... (19 more)") and "\n" not in msg


def test_numbers_that_yaml_reads_as_text() -> None:
    """YAML 1.1 reads 1e3 (no dot) as a string: integer parameters take it when it is
    integral (they refused 'nt: 1e3'), float parameters too; Python-only spellings
    ('1_0', 'inf', '0x10') are refused."""
    from dataclasses import dataclass

    import yaml

    from seisgrad.config import from_mapping, param

    @dataclass
    class P:
        n: int = param(1, "a count")
        x: float = param(1.0, "a value")

    got = from_mapping(P, yaml.safe_load("n: 1e3\nx: 2E-4\n"))
    assert (got.n, got.x) == (1000, 2e-4) and isinstance(got.n, int)
    for bad in ("n: 1.5e0", "n: '1_0'", "x: '1_0'", "n: inf", "x: '0x10'"):
        with pytest.raises(ConfigError, match="expected"):
            from_mapping(P, yaml.safe_load(bad))
