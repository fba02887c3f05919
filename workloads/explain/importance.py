"""Global importance of a version: mean |attribution| per feature over the common holdout.

    importance = holdout_importance(project, model, encoding, holdout)   # Importance, or why none
    log_importance(run_id, importance, settings)                         # MLflow: metrics + explain/importance.json

The same attributions as the reason codes (workloads/explain: TreeSHAP for trees, integrated
gradients for torch), on the rows every version of the project is compared on, so two versions'
importances are comparable: both are in the model's output units (a tree's margin, a torch logit,
a regression value). At most `MAX_ROWS` rows (the holdout's first ones, in its stored order: the
same rows for every version of one holdout), in chunks of `CHUNK` (integrated gradients
interpolate `steps` copies of each row, at most `IMPORTANCE_MAX_STEPS`). sklearn has no attributions (attribution.py): the
importance is then `None` with the reason, which the model card shows.

What is logged to the version's training run (the pipeline's register step):
- metrics `importance.<feature>` (one per feature: MLflow's own UI compares them across runs);
- artifact `explain/importance.json`: `{"method", "units", "rows", "features": {name: value}}`,
  largest first (the model card reads it).
A personal-data feature gets its importance like any other: a number per feature name, never a value.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workloads.explain.attribution import EXPLAINABLE, NOT_EXPLAINABLE

MAX_ROWS = 2_000
CHUNK = 256
IMPORTANCE_MAX_STEPS = 64
"""torch: integrated gradients' steps stop doubling here (a mean over thousands of rows does not need
each row's last per cent of completeness; a reason code does, and keeps the default bound)."""
ARTIFACT_DIR, ARTIFACT_FILE = "explain", "importance.json"
METRIC_PREFIX = "importance."


@dataclass(frozen=True)
class Importance:
    """Mean |attribution| per feature (largest first), or `unavailable` saying why there is none."""

    features: dict[str, float] = field(default_factory=dict)
    method: str = ""
    units: str = ""
    rows: int = 0
    unavailable: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "units": self.units, "rows": self.rows, "features": self.features, "unavailable": self.unavailable}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Importance:
        return cls(
            {str(k): float(v) for k, v in (data.get("features") or {}).items()},
            data.get("method", ""),
            data.get("units", ""),
            int(data.get("rows", 0)),
            data.get("unavailable"),
        )


def holdout_importance(project: Any, model: Any, encoding: Any, holdout: Any, max_rows: int = MAX_ROWS) -> Importance:
    """Mean |attribution| of `model` (native, with its `encoding`) over the first `max_rows` rows of `holdout`."""
    from workloads.explain import Explainer
    from workloads.features.encoding import encode

    framework = getattr(project, "spec", project).training.framework
    if framework not in EXPLAINABLE:
        return Importance(unavailable=NOT_EXPLAINABLE.get(framework, f"no attributions for framework {framework}"))
    rows = holdout.head(max_rows)
    if rows.empty:
        return Importance(unavailable="the holdout has no rows")
    numeric, categorical = encode(rows, encoding)
    explainer = Explainer(project, model, encoding)
    total = np.zeros(len(explainer.features))
    method = units = ""
    for start in range(0, len(rows), CHUNK):
        part = explainer.explain(numeric[start : start + CHUNK], categorical[start : start + CHUNK], max_steps=IMPORTANCE_MAX_STEPS)
        total += np.abs(part.values).sum(axis=0)
        method, units = part.method, part.units
    mean = total / len(rows)
    order = sorted(range(len(mean)), key=lambda j: (-mean[j], j))
    return Importance({explainer.features[j]: float(mean[j]) for j in order}, method, units, len(rows))


def log_importance(run_id: str, importance: Importance, settings: Any = None) -> None:
    """Record `importance` on the training run (module docstring)."""
    from workloads.registry import tracking

    if importance.features:
        tracking.log_metrics(run_id, 0, {f"{METRIC_PREFIX}{k}": v for k, v in importance.features.items()}, settings=settings)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ARTIFACT_FILE).write_text(json.dumps(importance.to_dict(), indent=2))
        tracking.log_artifacts(run_id, Path(tmp), ARTIFACT_DIR, settings=settings)


def read_importance(client: Any, run_id: str) -> Importance | None:
    """The importance logged on a run (None when the run has none: registered before issue 22)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, f"{ARTIFACT_DIR}/{ARTIFACT_FILE}", tmp)
        except Exception:  # noqa: BLE001 (MLflow raises several types for a missing artifact)
            return None
        return Importance.from_dict(json.loads(Path(path).read_text()))
