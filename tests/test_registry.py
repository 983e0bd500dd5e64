"""Finding components by name."""

from __future__ import annotations

from importlib import metadata

import pytest

from seisgrad import registry
from seisgrad.errors import RegistryError
from seisgrad.system.workstation import Workstation


def test_builtin_and_module_class_names():
    assert registry.resolve("system", "workstation") is Workstation
    from tests.fakes import ToySolver

    assert registry.resolve("solver", "tests.fakes:ToySolver") is ToySolver


@pytest.mark.parametrize(
    "kind, name, message",
    [
        ("solver", "fd3d", r"unknown solver 'fd3d' \(did you mean 'fd2d'\?\); valid names: fd2d"),
        ("system", "cluster", "valid names: mpi, slurm, workstation"),
        ("solver", "tests.fakes:Nope", "module 'tests.fakes' has no attribute 'Nope'"),
        ("solver", "no_such_module:X", "cannot import module 'no_such_module'"),
        ("solver", "tests.fakes:ToyPreprocess", "is not a subclass of Solver"),
        ("gizmo", "x", "unknown component kind 'gizmo'"),
    ],
)
def test_errors_list_valid_names(kind, name, message):
    with pytest.raises(RegistryError, match=message):
        registry.resolve(kind, name)


def test_entry_points_add_names(monkeypatch):
    ep = metadata.EntryPoint(name="toy", value="tests.fakes:ToySolver", group="seisgrad.solver")
    real = metadata.entry_points

    def fake(**kw):
        if kw.get("group") == "seisgrad.solver":
            return metadata.EntryPoints([ep])
        return real(**kw)

    monkeypatch.setattr(metadata, "entry_points", fake)
    assert "toy" in registry.available("solver")
    from tests.fakes import ToySolver

    assert registry.resolve("solver", "toy") is ToySolver


def test_plug_ins_that_fail_to_import_or_are_abstract_are_named(tmp_path, monkeypatch):
    """User modules with a syntax error or an error at import, empty or relative module
    names and abstract classes are RegistryErrors (one line from the CLI), not
    tracebacks."""
    from seisgrad.errors import ConfigError, RegistryError
    from seisgrad.preprocess.misfit import get_misfit
    from seisgrad.registry import resolve

    (tmp_path / "flows_syntax.py").write_text("class MyMig(Migration)\n    pass\n")
    (tmp_path / "flows_raise.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "flows_exit.py").write_text("import sys\nsys.exit('config missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = {
        "flows_syntax:MyMig": "SyntaxError",
        "flows_raise:MyMig": "RuntimeError: boom",
        "flows_exit:MyMig": "SystemExit: config missing",
        ":X": "expected 'package.module:ClassName'",
        ".x:Y": "cannot import module '.x'",
        "seisgrad.workflow.base:Workflow": "is abstract: it does not define task_list",
    }
    for name, message in cases.items():
        with pytest.raises(RegistryError, match=message):
            resolve("workflow", name)
    with pytest.raises(ConfigError, match="Empty module name"):
        get_misfit(":X")
    with pytest.raises(ConfigError, match="is abstract"):
        get_misfit("seisgrad.preprocess.misfit:Misfit")
