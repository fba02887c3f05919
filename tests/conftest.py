"""Shared fixtures: the repository, plans of the shipped environments, and Pulumi mocks.

The mocks themselves live in `sahab/engine/mocks.py` because the offline engine answers with the very
same ones: a test and `sahab plan` can never disagree about what a provider returns.
"""

from __future__ import annotations

import asyncio
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
    from sahab.engine.offline import plan_environment

    return plan_environment(REPO, "uae-central")


@pytest.fixture(scope="session")
def smb_plan():
    from sahab.engine.offline import plan_environment

    return plan_environment(REPO, "smb")


@pytest.fixture
def unit_mocks():
    """Pulumi's unit-test mode with Sahab's mocks, for constructing components directly.

    A fresh event loop each time: `set_mocks` registers the root stack on the current loop, and
    tests that ran before (servers, test clients) may have left the main thread without one.
    """
    import pulumi

    from sahab.engine.mocks import ProviderMocks

    asyncio.set_event_loop(asyncio.new_event_loop())
    pulumi.runtime.set_mocks(ProviderMocks(stack="unit", default_region="me-central-1"), project="sahab", stack="unit", preview=False)
    yield
