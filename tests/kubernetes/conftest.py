"""Fixtures for the Kubernetes platform layer: the shipped plans (shared, from tests/conftest.py)
and their manifests written once. Helpers that walk objects live in k8s_helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def uae_manifests(uae_plan, tmp_path_factory) -> Path:
    from sahab.engine.offline import write_plan

    out = tmp_path_factory.mktemp("uae-central")
    write_plan(uae_plan, out)
    return out / "manifests"


@pytest.fixture(scope="session")
def smb_manifests(smb_plan, tmp_path_factory) -> Path:
    from sahab.engine.offline import write_plan

    out = tmp_path_factory.mktemp("smb")
    write_plan(smb_plan, out)
    return out / "manifests"
