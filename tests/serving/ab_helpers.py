"""A small project and a small MLflow registry for the A/B tests (no training: the A/B layer only
reads aliases and tags, and `promote_tested` the versions' gate inputs).

    project = ab_project(tmp_path, unit_window="4h")      # projects/<name>/project.yaml, loaded
    sahab = ab_registry(tmp_path, project.name, versions=3)  # champion=1, challenger=2, v3 unaliased

A plain module (not a conftest), imported by the A/B test files.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from workloads.project import Project, load_project
from workloads.registry import client as registry
from workloads.settings import SahabSettings

NAME = "ab-demo"
_TEMPLATES: dict[str, Path] = {}


def ab_project(root: Path, *, name: str = NAME, outcome: tuple[float, float] = (0.0, 1.0), task: str = "binary", **experiment: Any) -> Project:
    """A project folder under `root` with an A/B-relevant `experiment:` (durations as strings: '4h')."""
    label: dict[str, Any] = {"column": "converted", "task": task}
    if task == "multiclass":
        label["classes"] = ["low", "mid", "high"]
    raw = {
        "name": name,
        "team": "growth",
        "entity": {"name": "customer", "key": "customer_id", "dtype": "string"},
        "label": label,
        "features": [{"name": "spend", "type": "numeric"}, {"name": "tier", "type": "categorical"}],
        "feature_views": [{"name": "customer_stats", "features": ["spend", "tier"]}],
        "training": {"framework": "sklearn"},
        "evaluation": {"gate": {"primary": {"metric": {"binary": "auc", "multiclass": "logloss", "regression": "rmse"}[task], "min": 0.0}}},
        "serving": {"outcome": {"name": "satisfied", "min": outcome[0], "max": outcome[1]}},
        "experiment": {"challenger_weight": 0.5, "min_units": 20, "unit_window": "4h", "max_label_delay": "2h", "max_duration": "7d", **experiment},
    }
    folder = root / "projects" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_project(folder)


def _build(home: Path, name: str, versions: int) -> None:
    sahab = SahabSettings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    client = registry.mlflow_client(sahab)
    experiment = client.create_experiment(name, artifact_location=(home / "mlartifacts").as_uri())
    client.create_registered_model(name)
    for i in range(versions):
        run = client.create_run(experiment)
        client.set_terminated(run.info.run_id)
        # What the promotion gate judges (registry.client.judge_version): the version on its holdout.
        tags = registry.VersionRecord(data_sha256=f"{i:064x}", holdout_sha256="h" * 64, holdout_metrics={"auc": 0.9}).tags()
        client.create_model_version(name, source=f"{run.info.artifact_uri}/onnx", run_id=run.info.run_id, tags=tags)
    client.set_registered_model_alias(name, registry.CHAMPION, "1")
    if versions > 1:
        client.set_registered_model_alias(name, registry.CHALLENGER, "2")


def ab_registry(home: Path, name: str = NAME, versions: int = 3) -> SahabSettings:
    """An MLflow registry (SQLite) under `home` holding `versions` versions of `name`, champion v1
    and challenger v2; built once per session and copied (MLflow's migrations take seconds)."""
    key = f"{name}:{versions}"
    if key not in _TEMPLATES:
        template = Path(home).parent / f"template-{name}-{versions}"
        template.mkdir(parents=True, exist_ok=True)
        _build(template, name, versions)
        _TEMPLATES[key] = template
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(_TEMPLATES[key] / "mlflow.db", home / "mlflow.db")
    return SahabSettings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
