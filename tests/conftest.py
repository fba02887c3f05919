"""Shared fixtures: the repository, plans of the shipped environments, and Pulumi mocks.

The mocks themselves live in `sahab/mocks.py` because the offline engine answers with the very
same ones: a test and `sahab plan` can never disagree about what a provider returns.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("PULUMI_TEST_MODE", "true")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def uae_plan():
    """The uae-central plan, run once per session on the offline engine."""
    from sahab.offline import plan_environment

    return plan_environment(REPO, "uae-central")


@pytest.fixture(scope="session")
def smb_plan():
    from sahab.offline import plan_environment

    return plan_environment(REPO, "smb")
