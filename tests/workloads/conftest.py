"""Fixtures for the workload tests: a small torch project and its rows (the pipeline's own tests
build theirs in test_e2e.py).

Torch runs on one thread: the machines these tests run on are shared.
"""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    """A small torch binary project (the platform's tabular library) and 6,000 synthetic rows:
    (project, frame). Its training.checkpoint_every_steps is 10."""
    from project_fixtures import synthetic_frame, write_project

    project = write_project(tmp_path_factory.mktemp("projects"), framework="torch", task="binary")
    return project, synthetic_frame(project.spec, 6_000, seed=7)
