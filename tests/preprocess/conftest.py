"""Fixtures of the preprocess tests."""

from __future__ import annotations

import numpy as np
import pytest

from seisgrad.preprocess.processing import TraceContext
from tests.preprocess.helpers import make_context


@pytest.fixture
def ctx() -> TraceContext:
    return make_context()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)
