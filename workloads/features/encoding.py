"""Feature and label encoding shared by training, export, evaluation and serving, so every one of
them turns a record into the same arrays.

Contract:
- `FeatureSpec.fit(df, project)` learns, from training rows only, each categorical feature's
  vocabulary and each numeric feature's mean and std, for the project's features in declaration
  order (numerics first, then categoricals); `FeatureSpec.fit(df, numeric=[...], categorical=[...])`
  takes the lists explicitly. There are no default columns: the project says what they are.
- `encode(records, spec)` -> (numeric float32 [B, n_num], categorical int64 [B, n_cat]).
  Numerics stay raw (a torch model standardises them with buffers built from the spec; trees do
  not need it); a missing numeric (NaN, None or absent key) becomes the training mean. A
  categorical value is its 1-based index in the vocabulary; None, NaN, absent or unseen values
  map to 0, the reserved out-of-vocabulary index.
- `encode_labels(values, project)`: binary float32 0/1; multiclass int64 index into
  `label.classes` (an unknown class is an error naming it); regression float32.
- `to_json()` / `from_json()` round-trip exactly. The JSON (format_version 2) also records the
  task, the label column, the classes and the feature order; export ships it next to the ONNX
  graph as `feature_spec.json`, so a registered version is scored with its own encoding.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workloads.errors import SahabError

if TYPE_CHECKING:
    from workloads.project.project import Project
    from workloads.project.spec import ProjectSpec

OOV_INDEX = 0
FORMAT_VERSION = 2
TASKS = ("binary", "multiclass", "regression")


class EncodingError(SahabError, ValueError):
    """Rows or labels that do not fit the project (a missing column, an unknown class, a NaN label). Exit 2."""

    exit_code = 2


def project_spec(project: Project | ProjectSpec) -> ProjectSpec:
    """The ProjectSpec of a loaded Project, or the spec itself."""
    from workloads.project.project import Project

    return project.spec if isinstance(project, Project) else project


@dataclass(frozen=True)
class FeatureSpec:
    """What the model was trained on: feature order, vocabularies, numeric statistics, the label."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    vocabularies: dict[str, list[str]]
    numeric_means: dict[str, float]
    numeric_stds: dict[str, float]
    task: str = "binary"
    """binary | multiclass | regression: what the graph's output means."""
    classes: tuple[str, ...] = ()
    """multiclass: the classes in output order."""
    label: str | None = None
    """The label column the model learned."""

    def __post_init__(self) -> None:
        missing = [c for c in self.categorical if c not in self.vocabularies]
        missing += [n for n in self.numeric if n not in self.numeric_means or n not in self.numeric_stds]
        if missing:
            raise EncodingError(f"FeatureSpec lacks statistics or vocabulary for {missing}")
        if self.task not in TASKS:
            raise EncodingError(f"FeatureSpec task {self.task!r}: expected one of {list(TASKS)}")
        if (self.task == "multiclass") != bool(self.classes):
            raise EncodingError(f"FeatureSpec: a multiclass encoding lists its classes, others none (task {self.task}, classes {list(self.classes)})")

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        project: Project | ProjectSpec | None = None,
        *,
        numeric: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        min_count: int = 1,
    ) -> FeatureSpec:
        """Learn statistics from `df` (training rows only; NaN / None are ignored), for the
        project's features or the explicit `numeric` / `categorical` lists."""
        task, label = "binary", None
        classes: tuple[str, ...] = ()
        if project is not None:
            spec = project_spec(project)
            numeric = spec.numeric if numeric is None else numeric
            categorical = spec.categorical if categorical is None else categorical
            task, classes, label = spec.label.task, tuple(spec.label.classes), spec.label.column
        if numeric is None or categorical is None:
            raise EncodingError("FeatureSpec.fit: give the project, or both numeric= and categorical= (there are no default columns)")
        absent = [c for c in (*numeric, *categorical) if c not in df.columns]
        if absent:
            raise EncodingError(f"FeatureSpec.fit: columns {absent} are missing from the frame (it has {list(df.columns)})")
        means, stds = {}, {}
        for name in numeric:
            col = pd.to_numeric(df[name], errors="coerce").astype(np.float64)
            mean, std = col.mean(), col.std(ddof=0)
            means[name] = 0.0 if math.isnan(mean) else float(mean)
            # A constant or empty column must not divide by zero inside the model.
            stds[name] = 1.0 if math.isnan(std) or std < 1e-12 else float(std)
        vocabularies = {}
        for name in categorical:
            counts = df[name].dropna().astype(str).value_counts()
            vocabularies[name] = sorted(counts[counts >= min_count].index.tolist())
        return cls(tuple(numeric), tuple(categorical), vocabularies, means, stds, task, classes, label)

    @property
    def features(self) -> tuple[str, ...]:
        """The feature order of the model's inputs: numerics, then categoricals."""
        return self.numeric + self.categorical

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Embedding table sizes: vocabulary size plus the OOV slot."""
        return tuple(len(self.vocabularies[c]) + 1 for c in self.categorical)

    @property
    def outputs(self) -> int:
        """Width of the model's output: K classes for multiclass, else 1."""
        return len(self.classes) if self.task == "multiclass" else 1

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": FORMAT_VERSION,
                "task": self.task,
                "label": self.label,
                "classes": list(self.classes),
                "features": list(self.features),
                "numeric": list(self.numeric),
                "categorical": list(self.categorical),
                "vocabularies": self.vocabularies,
                "numeric_means": self.numeric_means,
                "numeric_stds": self.numeric_stds,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        data = json.loads(text)
        if data.get("format_version") != FORMAT_VERSION:
            raise EncodingError(
                f"feature spec format_version {data.get('format_version')!r}; expected {FORMAT_VERSION} (re-export the version with this platform)"
            )
        spec = cls(
            tuple(data["numeric"]),
            tuple(data["categorical"]),
            {k: list(v) for k, v in data["vocabularies"].items()},
            {k: float(v) for k, v in data["numeric_means"].items()},
            {k: float(v) for k, v in data["numeric_stds"].items()},
            data["task"],
            tuple(data["classes"]),
            data.get("label"),
        )
        if list(spec.features) != list(data["features"]):
            raise EncodingError(f"feature spec: 'features' {data['features']} disagrees with numeric + categorical {list(spec.features)}")
        return spec


def encode(records: pd.DataFrame | Sequence[Mapping[str, object]], spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """Encode records into (numeric float32 [B, n_num], categorical int64 [B, n_cat])."""
    df = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(list(records))
    n = len(df)
    numeric = np.empty((n, len(spec.numeric)), dtype=np.float32)
    for j, name in enumerate(spec.numeric):
        if name in df.columns:
            col = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            col = np.full(n, np.nan)
        numeric[:, j] = np.where(np.isnan(col), spec.numeric_means[name], col)
    categorical = np.zeros((n, len(spec.categorical)), dtype=np.int64)
    for j, name in enumerate(spec.categorical):
        if name not in df.columns:
            continue
        index = {v: i + 1 for i, v in enumerate(spec.vocabularies[name])}
        values = df[name].to_numpy(dtype=object)
        categorical[:, j] = [OOV_INDEX if _missing(v) else index.get(str(v), OOV_INDEX) for v in values]
    return numeric, categorical


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def encode_labels(values: pd.Series | Sequence[Any] | np.ndarray, project: Project | ProjectSpec | FeatureSpec) -> np.ndarray:
    """Labels as the model learns them (see the module docstring); `project` may be the project or
    a version's own FeatureSpec. A missing label, a non-0/1 binary label or an unknown class is an
    EncodingError naming the column and the values."""
    if isinstance(project, FeatureSpec):
        task, classes, column = project.task, project.classes, project.label or "label"
    else:
        spec = project_spec(project)
        task, classes, column = spec.label.task, tuple(spec.label.classes), spec.label.column
    series = values if isinstance(values, pd.Series) else pd.Series(list(values) if not isinstance(values, np.ndarray) else values)
    missing = int(series.isna().sum())
    if missing:
        raise EncodingError(f"label {column!r}: {missing} of {len(series)} rows have no label; drop them before training or scoring")
    if task == "multiclass":
        index = {c: i for i, c in enumerate(classes)}
        text = series.astype(str)
        unknown = sorted(set(text.unique()) - set(index))
        if unknown:
            raise EncodingError(
                f"label {column!r}: classes {unknown[:10]} are not in label.classes {list(classes)}. Fix: add them to project.yaml or drop those rows"
            )
        return text.map(index).to_numpy(dtype=np.int64)
    numbers = pd.to_numeric(series, errors="coerce")
    bad = series[numbers.isna()]
    if len(bad):
        raise EncodingError(f"label {column!r}: {len(bad)} values are not numbers, e.g. {bad.iloc[:3].tolist()}")
    out = numbers.to_numpy(dtype=np.float64)
    if task == "binary":
        wrong = sorted(float(v) for v in set(np.unique(out)) - {0.0, 1.0})
        if wrong:
            raise EncodingError(f"label {column!r}: a binary label is 0 or 1, found {wrong[:10]}")
    return out.astype(np.float32)
