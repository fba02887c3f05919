"""The uae-north plan (Azure, AKS in uaenorth), run once per session on the offline engine."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def north_plan(repo):
    from sahab.engine.offline import plan_environment

    return plan_environment(repo, "uae-north")
