"""Example data for this project: seeded synthetic rows for whatever project.yaml declares.

The platform calls these (project.yaml `sources.generator: data:generate`; the contract is in
projects/README.md, "The generator"):

    generate(rows, *, seed, start, days, drift=None) -> DataFrame
        the entity key, the event timestamp (UTC, ascending), every feature project.yaml declares
        (numeric: float, categorical: string; about 2% missing), the label, and label_arrival_ts
    outcome(prediction, label) -> float
        what a client would report through /feedback once the label is known (higher is better)

The columns follow project.yaml: add, rename or remove a feature there (and list it in a feature
view) and this generator produces it, with a learnable signal. Same arguments -> same frame.

Drift (a mapping; what the drift and retraining demos turn on):
    mean_shift   {feature: shift in standard deviations}   covariate drift of numeric features
    new_levels   {feature: share of rows}                  never-seen categories
    concept      0..1                                      how far the label's dependence on the
                                                           features has moved (1: a new relation)
    label_delay_hours                                      extra hours before a label is known

Replace it with your own data when you have some: declare `sources.features` and `sources.labels`
(Parquet files or folders: a path, s3:// or abfss://) and remove `sources.generator`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workloads.project import ProjectSpec, load_project

_LEVELS = 4
_DRIFT = {"mean_shift", "new_levels", "concept", "label_delay_hours"}


@cache
def _spec() -> ProjectSpec:
    """This folder's project.yaml, validated (the columns come from it)."""
    return load_project(Path(__file__).resolve().parent).spec


def generate(rows: int, *, seed: int, start: datetime, days: float, drift: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """`rows` events over `days` days from `start` (timezone-aware); see the module docstring."""
    if rows < 1 or days <= 0 or start.tzinfo is None:
        raise ValueError(f"generate: rows >= 1, days > 0 and a timezone-aware start, got rows={rows}, days={days}, start={start!r}")
    drift = dict(drift or {})
    unknown = sorted(set(drift) - _DRIFT)
    if unknown:
        raise ValueError(f"drift: unknown control(s) {unknown}; allowed: {sorted(_DRIFT)}")
    spec = _spec()
    rng = np.random.default_rng(seed)
    drifted = np.random.default_rng([seed, 1])  # drift has its own stream: the other columns stay as without it
    offsets = np.sort(rng.uniform(0, days * 86_400, rows))
    keys = rng.integers(1, max(2, rows // 8), rows)
    out: dict[str, Any] = {
        spec.entity.key: keys if spec.entity.dtype == "int64" else np.array([f"{spec.entity.name}-{k}" for k in keys], dtype=object),
        spec.timestamp: pd.to_datetime(start, utc=True) + pd.to_timedelta(offsets, unit="s"),
    }
    concept = float(drift.get("concept", 0.0))
    signal = np.zeros(rows)
    for i, name in enumerate(spec.numeric):
        weight = (1.0 if i % 2 == 0 else -0.7) / (1 + i % 3)
        values = rng.normal(0.0, 1.0, rows)
        signal += values * weight * (1.0 - 2.0 * concept * (i % 2 == 0))  # concept drift flips half the relations
        values = values + float(drift.get("mean_shift", {}).get(name, 0.0))
        values[rng.random(rows) < 0.02] = np.nan
        out[name] = 10.0 * (i + 1) + (2.0 + i) * values
    for i, name in enumerate(spec.categorical):
        levels = np.array([f"{name}_{j}" for j in range(_LEVELS)], dtype=object)
        codes = rng.integers(0, _LEVELS, rows)
        effect = np.array([0.9, -0.6, 0.2, 0.0])[codes] * (1.0 if i % 2 == 0 else 0.5)
        signal += effect * (1.0 - 2.0 * concept)
        values = levels[codes]
        new = drifted.random(rows) < float(drift.get("new_levels", {}).get(name, 0.0))
        values[new] = f"{name}_new"
        values[rng.random(rows) < 0.02] = None
        out[name] = values
    noisy = signal + rng.normal(0.0, 0.5, rows)
    out[spec.label.column] = _label(spec, signal, noisy, rng)
    delay = rng.exponential(1.0, rows) + float(drift.get("label_delay_hours", 0.0))
    frame = pd.DataFrame(out)
    frame["label_arrival_ts"] = frame[spec.timestamp] + pd.to_timedelta(delay, unit="h")
    return frame


def _label(spec: ProjectSpec, signal: np.ndarray, noisy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    task = spec.label.task
    if task == "binary":
        return (rng.random(len(signal)) < 1.0 / (1.0 + np.exp(-(2.0 * signal - 1.5)))).astype(np.int64)
    if task == "multiclass":
        cuts = np.quantile(noisy, np.linspace(0, 1, len(spec.label.classes) + 1)[1:-1])
        return np.asarray(spec.label.classes, dtype=object)[np.digitize(noisy, cuts)]
    return (50.0 + 10.0 * noisy).astype(np.float64)


def outcome(prediction: Any, label: Any) -> float:
    """The A/B outcome of one decision, in [0, 1] (serving.outcome): binary, 1 when the decision taken
    at evaluation.threshold was right; multiclass, 1 when the predicted class was; regression, 1 minus
    the relative error, floored at 0."""
    spec = _spec()
    if spec.label.task == "binary":
        return float((float(prediction) >= spec.evaluation.threshold) == bool(int(label)))
    if spec.label.task == "multiclass":
        return float(str(prediction) == str(label))
    return max(0.0, 1.0 - abs(float(prediction) - float(label)) / max(abs(float(label)), 1.0))
