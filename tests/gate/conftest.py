"""Fixtures for the deployability checks: a fresh `Context` of a shipped plan per test, so a test
may break one object (the catalogue of broken variants) without touching the others."""

from __future__ import annotations

import copy

import pytest


@pytest.fixture
def uae_ctx(uae_plan):
    from sahab.gate.deployability import Context
    from sahab.gate.model import REPO

    return Context.of(copy.deepcopy(uae_plan), REPO / "environments" / "uae-central")


@pytest.fixture
def smb_ctx(smb_plan):
    from sahab.gate.deployability import Context
    from sahab.gate.model import REPO

    return Context.of(copy.deepcopy(smb_plan), REPO / "environments" / "smb")


@pytest.fixture(scope="session")
def north_plan():
    """The uae-north plan (AKS), once per session: issue 21's gate checks break copies of it."""
    from sahab.engine.offline import plan_environment
    from sahab.gate.model import REPO

    return plan_environment(REPO, "uae-north")


@pytest.fixture(scope="session")
def onprem_plan():
    from sahab.engine.offline import plan_environment
    from sahab.gate.model import REPO

    return plan_environment(REPO, "smb-onprem")


@pytest.fixture
def north_ctx(north_plan):
    from sahab.gate.deployability import Context
    from sahab.gate.model import REPO

    return Context.of(copy.deepcopy(north_plan), REPO / "environments" / "uae-north")


@pytest.fixture
def onprem_ctx(onprem_plan):
    from sahab.gate.deployability import Context
    from sahab.gate.model import REPO

    return Context.of(copy.deepcopy(onprem_plan), REPO / "environments" / "smb-onprem")
