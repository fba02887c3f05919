"""The drift reference of a registered model version: `monitoring/reference.npz` of its run.

The pipeline builds the profile from the rows the version was trained and judged on and the
version's own scores on them (`build_reference`), logs it with the run and tags the version with
the artifact's path and sha256 (`log_reference` returns the tags for `register_version`):

    profile = build_reference(project, frames, predictions)     # frames: training rows (+ holdout)
    tags = log_reference(profile, run_id, settings=settings)    # {sahab.drift.reference, sahab.sha256.reference.npz}

The monitoring job resolves the version behind an alias (normally `champion`), so after a
promotion live data meets the reference of the model that now serves it, and the version's
`sahab.holdout.<metric>` tags are the performance monitor's baseline.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from workloads.features.encoding import project_spec
from workloads.monitoring.profile import ReferenceProfile
from workloads.settings import SahabSettings

if TYPE_CHECKING:
    from workloads.project.project import Project
    from workloads.project.spec import ProjectSpec

REFERENCE_PROFILE = "reference.npz"
REFERENCE_ARTIFACT = f"monitoring/{REFERENCE_PROFILE}"
TAG_REFERENCE = "sahab.drift.reference"
UNKNOWN_VERSION = "unknown"
"""The version of a profile file saved without `model_version`: the job then compares every log row."""
SCORE, PREDICTION = "score", "prediction"
HOLDOUT_META = "sahab.holdout."
"""A profile file's meta keys `sahab.holdout.<metric>` stand in for the registry's tags (fixed references)."""


def monitored_columns(project: Project | ProjectSpec) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns the drift job tests: the project's features, the model's
    `score` and, for a multiclass model, its predicted class."""
    spec = project_spec(project)
    categorical = [*spec.categorical, *((PREDICTION,) if spec.label.task == "multiclass" else ())]
    return [*spec.numeric, SCORE], categorical


@dataclass(frozen=True)
class VersionReference:
    profile: ReferenceProfile
    model_version: str
    """Registry version the profile belongs to (the live rows it is compared with carry it)."""
    source: str
    """Where it came from: `models:/<name>@<alias>` or the path / URI given."""
    holdout: dict[str, float] = field(default_factory=dict)
    """The version's metrics on its holdout (`sahab.holdout.<metric>`): the performance baseline."""


def build_reference(
    project: Project | ProjectSpec,
    frame: pd.DataFrame,
    predictions: Any,
    *,
    meta: Mapping[str, str] | None = None,
    max_rows: int = 100_000,
) -> ReferenceProfile:
    """The reference of a version: `frame` (the rows it was trained and judged on: key, timestamp,
    features) with its scores (`predictions`: a workloads.evaluation.Predictions, or the scores as
    an array), seasonal or not as `monitoring.drift.reference` says (a rolling reference falls
    back on it until the log holds a week)."""
    spec = project_spec(project)
    numeric, categorical = monitored_columns(spec)
    score = np.asarray(getattr(predictions, "score", predictions), dtype=np.float64)
    if score.shape != (len(frame),):
        raise ValueError(f"build_reference: {score.shape[0] if score.ndim else 0} scores for {len(frame)} rows of {spec.name}; score every row")
    rows = frame.assign(**{SCORE: score})
    if PREDICTION in categorical:
        predicted = getattr(predictions, "prediction", None)
        if predicted is None:
            raise ValueError(f"build_reference: {spec.name} is multiclass; pass the Predictions (its predicted classes are profiled too)")
        rows = rows.assign(**{PREDICTION: np.asarray(predicted, dtype=object)})
    season: Literal["none", "auto"] = "none" if spec.monitoring.drift.reference == "training" else "auto"
    return ReferenceProfile.fit_seasonal(
        rows,
        numeric,
        categorical,
        timestamp=spec.timestamp,
        key=spec.entity.key,
        season=season,
        max_rows=max_rows,
        meta={"project": spec.name, **dict(meta or {})},
    )


def log_reference(profile: ReferenceProfile, run_id: str, *, settings: SahabSettings | None = None) -> dict[str, str]:
    """Log `profile` as the run's `monitoring/reference.npz`; returns the version tags that point at it."""
    from workloads.registry import tracking
    from workloads.registry.client import sha256_file, sha_tag

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "monitoring"
        folder.mkdir()
        path = folder / REFERENCE_PROFILE
        profile.save(path)
        tracking.log_artifacts(run_id, folder, "monitoring", settings=settings)
        return {TAG_REFERENCE: REFERENCE_ARTIFACT, sha_tag(REFERENCE_PROFILE): sha256_file(path)}


def registry_reference(
    project: Project | ProjectSpec | str, alias: str, *, settings: SahabSettings | None = None, cache: Path | None = None
) -> VersionReference:
    """Download and check the reference profile of the project's version behind `alias`.

    LookupError when the alias or the version's reference is missing; ValueError when the
    downloaded file's sha256 differs from the one recorded at registration."""
    from mlflow.exceptions import MlflowException

    from workloads.registry.client import holdout_metrics, mlflow_client, model_name, sha256_file, sha_tag

    settings = settings or SahabSettings()
    name = model_name(project, settings)
    client = mlflow_client(settings)
    try:
        mv = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        raise LookupError(f"registered model {name!r} has no alias {alias!r} (register and promote a model first): {exc.message}") from exc
    artifact = mv.tags.get(TAG_REFERENCE)
    if not artifact:
        raise LookupError(
            f"{name} v{mv.version} ({alias}) has no tag {TAG_REFERENCE}: it was registered without a drift reference; "
            f"retrain it with `python -m workloads.pipeline retrain` or set SAHAB_DRIFT_REFERENCE_URI"
        )
    if mv.run_id is None:
        raise LookupError(
            f"{name} v{mv.version} ({alias}) has the tag {TAG_REFERENCE} but no run to download it from: it was registered "
            f"from a path, not a run; retrain it with `python -m workloads.pipeline retrain` or set SAHAB_DRIFT_REFERENCE_URI"
        )
    dst = (cache or settings.home / "drift-references") / name / str(mv.version)
    dst.mkdir(parents=True, exist_ok=True)
    path = Path(client.download_artifacts(mv.run_id, artifact, str(dst)))
    expected = mv.tags.get(sha_tag(REFERENCE_PROFILE))
    if expected and sha256_file(path) != expected:
        raise ValueError(f"{path}: sha256 differs from the registry's {expected} ({name} v{mv.version}); re-register the version")
    return VersionReference(ReferenceProfile.load(path), str(mv.version), f"models:/{name}@{alias}", holdout_metrics(dict(mv.tags)))


def file_reference(uri: str) -> VersionReference:
    """A profile at a path or URI; its version is the `model_version` it was saved with (or
    `unknown`), its holdout baseline the meta keys `sahab.holdout.<metric>` (if any)."""
    profile = ReferenceProfile.load(uri)
    holdout = {k.removeprefix(HOLDOUT_META): float(v) for k, v in profile.meta.items() if k.startswith(HOLDOUT_META)}
    return VersionReference(profile, str(profile.meta.get("model_version", UNKNOWN_VERSION)), uri, holdout)
