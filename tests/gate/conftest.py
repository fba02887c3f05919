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
