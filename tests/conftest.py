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

# The files that take minutes of wall clock (a whole platform on loopback, trainings, drift windows
# of seconds), longest first. `make test` hands whole files to its workers in collection order
# (`--dist loadfile --no-loadscope-reorder`: xdist would otherwise queue the files with the most
# tests first, and these have few); started last, one of these would run alone at the end while the
# other workers idle, so they are collected first (longest-processing-time-first scheduling). The
# order of everything else is unchanged. Seconds measured in one full run on 2 cores: see the README.
LONG_FIRST = (
    "tests/local/test_local_loop_transaction_risk.py",  # ~450 s
    "tests/local/test_local_loop_delivery_time.py",  # ~450 s
    "tests/workloads/test_pipelines.py",  # ~300 s
    "tests/evidence/test_pack_gate.py",  # ~160 s
    "tests/workloads/test_retrain.py",  # ~150 s
    "tests/local/test_local_platform.py",  # ~130 s
    "tests/verify/test_verify_local.py",  # ~125 s
    "tests/local/test_local_notebooks.py",  # ~110 s
    "tests/privacy/test_pii_project.py",  # ~110 s (run, then `sahab local up`)
    "tests/serving/test_serving_http.py",  # ~100 s
    "tests/workloads/test_e2e.py",  # ~100 s
    "tests/projects/test_scaffold.py",  # ~85 s
    "tests/workloads/test_checkpoint.py",  # ~85 s
    "tests/workloads/test_training.py",  # ~75 s
)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))  # stable: the rest keep their order


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
