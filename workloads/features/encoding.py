"""Feature encoding shared by training and serving, so both turn a record into the same tensors.

Contract:
- `FeatureSpec.fit(df)` learns, from training rows only, each categorical feature's vocabulary
  and each numeric feature's mean and std.
- `encode(records, spec)` -> (numeric float32 [B, n_num], categorical int64 [B, n_cat]).
  Numerics stay raw (the model standardises them with buffers built from the spec); a missing
  numeric (NaN, None or absent key) becomes the training mean. A categorical value is its
  1-based index in the vocabulary; None, NaN, absent or unseen values map to 0, the reserved
  out-of-vocabulary index.
- `to_json()` / `from_json()` round-trip exactly; the JSON is what export ships next to the
  ONNX model as `feature_spec.json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from workloads.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES

OOV_INDEX = 0
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class FeatureSpec:
    """What the model was trained on: feature order, vocabularies and numeric statistics."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    vocabularies: dict[str, list[str]]
    numeric_means: dict[str, float]
    numeric_stds: dict[str, float]

    def __post_init__(self) -> None:
        missing = [c for c in self.categorical if c not in self.vocabularies]
        missing += [n for n in self.numeric if n not in self.numeric_means or n not in self.numeric_stds]
        if missing:
            raise ValueError(f"FeatureSpec lacks statistics or vocabulary for {missing}")

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        numeric: Sequence[str] = NUMERIC_FEATURES,
        categorical: Sequence[str] = CATEGORICAL_FEATURES,
        min_count: int = 1,
    ) -> FeatureSpec:
        """Learn statistics from `df` (training rows only; NaN / None are ignored)."""
        absent = [c for c in (*numeric, *categorical) if c not in df.columns]
        if absent:
            raise ValueError(f"FeatureSpec.fit: columns {absent} are missing from the frame")
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
        return cls(tuple(numeric), tuple(categorical), vocabularies, means, stds)

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Embedding table sizes: vocabulary size plus the OOV slot."""
        return tuple(len(self.vocabularies[c]) + 1 for c in self.categorical)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format_version": _FORMAT_VERSION,
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
        if data.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"feature spec format_version {data.get('format_version')!r}; expected {_FORMAT_VERSION}")
        return cls(
            tuple(data["numeric"]),
            tuple(data["categorical"]),
            {k: list(v) for k, v in data["vocabularies"].items()},
            {k: float(v) for k, v in data["numeric_means"].items()},
            {k: float(v) for k, v in data["numeric_stds"].items()},
        )


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
