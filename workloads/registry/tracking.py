"""Log a training run with its lineage, and its export, to MLflow: one experiment per project
(named after it), one run per training.

Each run records: params (the flattened config), metrics (validation history and final, plus the
export's parity and int8 numbers), tags for the data snapshot's sha256, feature view versions and
code version, and artifacts config.json, native/ (the fitted model in its framework's format, its
encoding and a validation sample, for re-export) and onnx/*.

`training_run(...)` opens the run on rank 0 only: under a launcher every rank runs the same
command, and only rank 0 may log, export and register (the others yield None).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from workloads.registry.client import mlflow_client
from workloads.settings import SahabSettings

TAG_DATA_SHA = "sahab.data.sha256"
TAG_FEATURE_VIEWS = "sahab.feature_views"
TAG_CODE_VERSION = "sahab.code_version"


def code_version() -> str:
    """SAHAB_CODE_VERSION (set by the image build), else the git commit of this checkout."""
    if os.environ.get("SAHAB_CODE_VERSION"):
        return os.environ["SAHAB_CODE_VERSION"]
    try:
        root = Path(__file__).resolve().parents[2]
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = json.dumps(value) if isinstance(value, (list, tuple)) else str(value)
    return out


def experiment_id(client: MlflowClient, settings: SahabSettings, experiment: str | None = None) -> str:
    """The id of `experiment` (the project's name; default SAHAB_MLFLOW_EXPERIMENT), created when new."""
    name = experiment or getattr(settings, "mlflow_experiment", None)
    if not name:
        raise ValueError("no MLflow experiment: pass the project's name (one experiment per project)")
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=settings.artifact_location())


def start_run(
    config: dict[str, Any],
    *,
    data_sha256: str,
    feature_views: dict[str, str] | None = None,
    experiment: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    settings: SahabSettings | None = None,
) -> str:
    """Create a run in `experiment` holding the config as params and the lineage as tags; returns its id."""
    settings = settings or SahabSettings()
    client = mlflow_client(settings)
    feature_views = feature_views or {}
    all_tags = {
        TAG_DATA_SHA: data_sha256,
        TAG_FEATURE_VIEWS: json.dumps(feature_views, sort_keys=True),
        TAG_CODE_VERSION: code_version(),
        "mlflow.source.git.commit": code_version(),
        **{f"sahab.feature_view.{k}": v for k, v in feature_views.items()},
        **(tags or {}),
    }
    run = client.create_run(experiment_id(client, settings, experiment), run_name=run_name, tags=all_tags)
    params = [Param(k, v[:6000]) for k, v in sorted(flatten(config).items())]
    for i in range(0, len(params), 100):  # MLflow caps a batch at 100 params
        client.log_batch(run.info.run_id, params=params[i : i + 100])
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
        client.log_artifact(run.info.run_id, str(Path(tmp) / "config.json"))
    return run.info.run_id


def log_metrics(run_id: str, step: int, metrics: dict[str, float], *, settings: SahabSettings | None = None) -> None:
    now = int(time.time() * 1000)
    mlflow_client(settings).log_batch(run_id, metrics=[Metric(k, float(v), now, step) for k, v in metrics.items()])


def log_artifacts(run_id: str, local_dir: Path, artifact_path: str, *, settings: SahabSettings | None = None) -> None:
    mlflow_client(settings).log_artifacts(run_id, str(local_dir), artifact_path)


def set_tags(run_id: str, tags: dict[str, str], *, settings: SahabSettings | None = None) -> None:
    mlflow_client(settings).log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def end_run(run_id: str, status: str = "FINISHED", *, settings: SahabSettings | None = None) -> None:
    mlflow_client(settings).set_terminated(run_id, status)


@dataclass
class RunHandle:
    """The MLflow run of one training (rank 0): log through it; mark it interrupted to end it KILLED."""

    run_id: str
    settings: SahabSettings
    interrupted: bool = False

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        log_metrics(self.run_id, step, metrics, settings=self.settings)

    def set_tags(self, tags: dict[str, str]) -> None:
        set_tags(self.run_id, tags, settings=self.settings)

    def log_artifacts(self, local_dir: Path, artifact_path: str) -> None:
        log_artifacts(self.run_id, local_dir, artifact_path, settings=self.settings)


def is_rank_zero() -> bool:
    """Rank 0 of a launched run, or a single process (RANK unset)."""
    return int(os.environ.get("RANK", "0")) == 0


@contextmanager
def training_run(
    experiment: str,
    config: dict[str, Any],
    *,
    data_sha256: str = "",
    feature_views: dict[str, str] | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    settings: SahabSettings | None = None,
) -> Iterator[RunHandle | None]:
    """One MLflow run per training: created on rank 0 (others get None), ended FINISHED, KILLED
    (`handle.interrupted = True`: stopped by SIGTERM after a checkpoint) or FAILED on an error."""
    if not is_rank_zero():
        yield None
        return
    settings = settings or SahabSettings()
    run_id = start_run(config, data_sha256=data_sha256, feature_views=feature_views, experiment=experiment, run_name=run_name, tags=tags, settings=settings)
    handle = RunHandle(run_id, settings)
    try:
        yield handle
    except BaseException:
        end_run(run_id, "FAILED", settings=settings)
        raise
    end_run(run_id, "KILLED" if handle.interrupted else "FINISHED", settings=settings)
