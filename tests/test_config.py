"""Schema validation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from seisgrad.config import from_mapping, param, schema_fields, to_mapping
from seisgrad.errors import ConfigError
from seisgrad.solver.acquisition import Event


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
    with pytest.raises(ConfigError, match="has no point sources"):
        from_mapping(Event, {"name": "e", "sources": []})


def test_schema_fields_documented():
    infos = {i.name: i for i in schema_fields(Schema)}
    assert infos["name"].required
    assert infos["order"].choices == (2, 4, 8)
    assert infos["dt"].doc == "time step"
