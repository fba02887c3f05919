"""A local MLflow registry with a `champion` and a `challenger` of three projects, one per task,
built once per session through the platform's training runtime and export (serving_models.py):

- binary:     projects/transaction-risk (torch, int8 kept where it holds the metric)
- regression: projects/delivery-time (LightGBM, no int8)
- multiclass: a test project with three classes and a non-nullable feature (LightGBM)

The registry is private to these tests: its location (SAHAB_HOME, SAHAB_MLFLOW_TRACKING_URI) is
set while it is built and, afterwards, only around each test that asks for `registry` (a
function-scoped monkeypatch). A session-long variable would leak into whatever test file the same
xdist worker runs next (a drift job once found this registry's experiment "running"). A test picks
its project with `SAHAB_PROJECT` (the `Registry.env(task)` mapping).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from serving_models import BINARY, REGRESSION, Versions, build_versions, write_multiclass_project

from workloads.project import load_project

# BentoML's /metrics reads prometheus_client's multiprocess files; `bentoml serve` sets this
# directory in each worker, the in-process test client needs one before prometheus_client loads.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="sahab-prometheus-"))
TASKS = ("binary", "regression", "multiclass")


@dataclass(frozen=True)
class Registry:
    home: Path
    tracking_uri: str
    versions: dict[str, Versions]
    """Per task: the project and its champion / challenger versions."""

    @property
    def base_env(self) -> dict[str, str]:
        return {"SAHAB_HOME": str(self.home), "SAHAB_MLFLOW_TRACKING_URI": self.tracking_uri}

    def env(self, task: str) -> dict[str, str]:
        """The variables a serving process of `task`'s project needs."""
        return {**self.base_env, **self.versions[task].env}


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Registry:
    home = tmp_path_factory.mktemp("sahab-serving")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAHAB_HOME", str(home))
        mp.setenv("SAHAB_MLFLOW_TRACKING_URI", uri)
        projects = {"binary": load_project(BINARY), "regression": load_project(REGRESSION), "multiclass": write_multiclass_project(home / "projects")}
        versions = {task: build_versions(project, home) for task, project in projects.items()}
    return Registry(home, uri, versions)


@pytest.fixture(autouse=True)
def _registry_location(request, monkeypatch) -> None:
    """The session registry's location for the test that uses it, undone after that test."""
    if "registry" in request.fixturenames:
        for key, value in request.getfixturevalue("registry").base_env.items():
            monkeypatch.setenv(key, value)


@pytest.fixture
def registry_copy(registry, tmp_path, monkeypatch) -> Registry:
    """The session registry's database copied (artifacts shared, read-only): for tests that move
    aliases. Artifact URIs in the database are absolute, so the copy still finds them."""
    db = tmp_path / "mlflow.db"
    shutil.copy(registry.home / "mlflow.db", db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("SAHAB_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SAHAB_HOME", str(tmp_path))
    return Registry(tmp_path, uri, registry.versions)


@pytest.fixture
def serving_env(monkeypatch):
    """Set SAHAB_SERVING_* variables for the service instance a test builds."""

    def apply(**values: object) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"SAHAB_SERVING_{key.upper()}", str(value))

    apply(reload_interval_s=0, ab_mode="split", challenger_weight=0.5)
    return apply
