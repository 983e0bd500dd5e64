"""Fixtures of the solver tests."""

from __future__ import annotations

import pytest

from seisgrad.solver.fd2d import propagator


@pytest.fixture(autouse=True)
def _thin_layers_are_deliberate(monkeypatch, request) -> None:
    """The tests use 6-cell absorbing layers for speed (``setups.small_solver``); the
    warning about thin layers (``propagator.PML_THIN``) would be in every ``check`` they
    make, so it is off here except in tests marked ``thin_layer_warning``."""
    if request.node.get_closest_marker("thin_layer_warning") is None:
        monkeypatch.setattr(propagator, "PML_THIN", 0)
