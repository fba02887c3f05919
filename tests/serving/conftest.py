"""A local MLflow registry with a `champion` and a `challenger`, built once per session by the
local pipeline (workloads/pipeline.py).

The registry is private to these tests: its location is set with a session-scoped MonkeyPatch
(SAHAB_HOME, SAHAB_MLFLOW_TRACKING_URI) that is undone at the end, so other test folders never
see it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from serving_models import build_registry

# BentoML's /metrics reads prometheus_client's multiprocess files; `bentoml serve` sets this
# directory in each worker, the in-process test client needs one before prometheus_client loads.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="sahab-prometheus-"))


@dataclass(frozen=True)
class Registry:
    home: Path
    tracking_uri: str
    champion: str
    challenger: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Registry:
    home = tmp_path_factory.mktemp("sahab-serving")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    env = {"SAHAB_HOME": str(home), "SAHAB_MLFLOW_TRACKING_URI": uri}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        champion, challenger = build_registry(home)
        yield Registry(home, uri, champion, challenger, env)


@pytest.fixture
def registry_copy(registry, tmp_path, monkeypatch) -> Registry:
    """The session registry's database copied (artifacts shared, read-only): for tests that move
    aliases. Artifact URIs in the database are absolute, so the copy still finds them."""
    db = tmp_path / "mlflow.db"
    shutil.copy(registry.home / "mlflow.db", db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("SAHAB_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SAHAB_HOME", str(tmp_path))
    return Registry(tmp_path, uri, registry.champion, registry.challenger, {"SAHAB_HOME": str(tmp_path), "SAHAB_MLFLOW_TRACKING_URI": uri})


@pytest.fixture
def serving_env(monkeypatch):
    """Set SAHAB_SERVING_* variables for the service instance a test builds."""

    def apply(**values: object) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"SAHAB_SERVING_{key.upper()}", str(value))

    apply(reload_interval_s=0, ab_mode="split", challenger_weight=0.5)
    return apply
