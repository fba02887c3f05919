"""Fixtures for the workload tests: small data, and one full local pipeline per session.

Torch runs on one thread: the machines these tests run on are shared.
"""

from __future__ import annotations

import time

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_data():
    """A small encoded training set (6,000 rows, out-of-time validation split)."""
    from workloads.data.generator import generate
    from workloads.training.data import prepare

    return prepare(generate(6_000, seed=7), 0.25)


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """The whole local workflow once: champion promoted, a second version as challenger.

    Yields (home, resolved champion, wall seconds).
    """
    from workloads.pipeline import run_local_pipeline

    home = tmp_path_factory.mktemp("sahab-home")
    start = time.perf_counter()
    resolved = run_local_pipeline(home, seed=0, rows=20_000, steps=200, challenger=True, log=lambda s: None)
    return home, resolved, time.perf_counter() - start
