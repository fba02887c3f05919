"""Log a training run with its lineage, and its export, to MLflow.

Each run records: params (the flattened config), metrics (history and final, plus the export's
parity and int8 numbers), tags for the data snapshot's sha256, feature view versions and code
version, and artifacts config.json, torch/model.pt (weights + config + spec) and onnx/*.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
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


def experiment_id(client: MlflowClient, settings: SahabSettings) -> str:
    exp = client.get_experiment_by_name(settings.mlflow_experiment)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(settings.mlflow_experiment, artifact_location=settings.artifact_location())


def start_run(
    config: dict[str, Any],
    *,
    data_sha256: str,
    feature_views: dict[str, str],
    run_name: str | None = None,
    settings: SahabSettings | None = None,
) -> str:
    """Create a run holding the config as params and the lineage as tags; returns its id."""
    settings = settings or SahabSettings()
    client = mlflow_client(settings)
    tags = {
        TAG_DATA_SHA: data_sha256,
        TAG_FEATURE_VIEWS: json.dumps(feature_views, sort_keys=True),
        TAG_CODE_VERSION: code_version(),
        "mlflow.source.git.commit": code_version(),
        **{f"sahab.feature_view.{k}": v for k, v in feature_views.items()},
    }
    run = client.create_run(experiment_id(client, settings), run_name=run_name, tags=tags)
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
