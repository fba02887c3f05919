"""Fixtures for the drift tests (data helpers live in drift_data.py)."""

from __future__ import annotations

import pytest
from drift_data import reference_and_current


@pytest.fixture(scope="session")
def stationary_pair():
    """40,000 generated rows split into two exchangeable halves: no drift between them."""
    return reference_and_current(40_000, seed=7)
