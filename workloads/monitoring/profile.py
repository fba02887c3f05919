"""The reference profile: what live data is compared with, taken from the training data.

Numeric features keep a sorted sample of their non-missing values (the KS test needs the
empirical distribution, not a summary) capped at `max_rows`, plus decile edges and the
reference's share in each decile bin (for PSI) and the missing count. Categorical features keep
their category counts and missing count. Stored as one `.npz` (arrays plus a JSON header), so
loading needs neither pickle nor pandas.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from workloads.monitoring.stats import bin_proportions
from workloads.storage import is_remote, storage_options

FORMAT_VERSION = 1
PSI_BINS = 10


def open_uri(path: str | Path, mode: str):
    """A file object for a local path or an fsspec URI (S3 needs s3fs, in the images' `aws` extra;
    abfss:// adlfs, in their `azure` extra, with workloads/storage.py's options)."""
    if is_remote(path):
        import fsspec

        return fsspec.open(str(path), mode, **storage_options(str(path))).open()
    return open(Path(path), mode)


@dataclass(frozen=True)
class NumericProfile:
    sample: np.ndarray
    """Sorted float64 non-missing values (a seeded subsample when the column is longer)."""
    n_rows: int
    n_missing: int
    mean: float
    std: float
    edges: np.ndarray
    """Interior bin edges (reference deciles) for PSI."""
    proportions: np.ndarray


@dataclass(frozen=True)
class CategoricalProfile:
    categories: tuple[str, ...]
    counts: np.ndarray
    n_rows: int
    n_missing: int


@dataclass(frozen=True)
class ReferenceProfile:
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]
    n_rows: int
    meta: dict[str, str] = field(default_factory=dict)
    """Free-form provenance: model name and version, training run id, data range."""

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        numeric: Sequence[str],
        categorical: Sequence[str],
        *,
        max_rows: int = 100_000,
        seed: int = 0,
        meta: dict[str, str] | None = None,
    ) -> ReferenceProfile:
        """Profile `df` (training rows) over the given columns."""
        absent = [c for c in (*numeric, *categorical) if c not in df.columns]
        if absent:
            raise ValueError(f"ReferenceProfile.fit: columns {absent} are missing from the reference data")
        if len(df) == 0:
            raise ValueError("ReferenceProfile.fit: the reference data is empty")
        rng = np.random.default_rng(seed)
        num = {}
        for name in numeric:
            values = numeric_values(df[name])
            present = values[~np.isnan(values)]
            if present.size > max_rows:
                present = rng.choice(present, max_rows, replace=False)
            present = np.sort(present)
            edges = np.unique(np.quantile(present, np.linspace(0, 1, PSI_BINS + 1)[1:-1])) if present.size else np.zeros(0)
            num[name] = NumericProfile(
                sample=present,
                n_rows=len(values),
                n_missing=int(np.isnan(values).sum()),
                mean=float(present.mean()) if present.size else math.nan,
                std=float(present.std()) if present.size else math.nan,
                edges=edges,
                proportions=bin_proportions(present, edges),
            )
        cat = {}
        for name in categorical:
            values, missing = categorical_values(df[name])
            counts = values.value_counts()
            cat[name] = CategoricalProfile(
                categories=tuple(str(c) for c in counts.index),
                counts=counts.to_numpy(dtype=np.int64),
                n_rows=len(df),
                n_missing=missing,
            )
        return cls(num, cat, len(df), dict(meta or {}))

    def save(self, path: str | Path) -> str | Path:
        """Write the profile to a local path or a URI (`s3://...`, `abfss://...`, anything fsspec opens)."""
        if not is_remote(path):
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format_version": FORMAT_VERSION,
            "n_rows": self.n_rows,
            "meta": self.meta,
            "numeric": {k: {"n_rows": p.n_rows, "n_missing": p.n_missing, "mean": p.mean, "std": p.std} for k, p in self.numeric.items()},
            "categorical": {
                k: {"categories": list(p.categories), "counts": p.counts.tolist(), "n_rows": p.n_rows, "n_missing": p.n_missing}
                for k, p in self.categorical.items()
            },
        }
        arrays = {"header": np.array(json.dumps(header))}
        for i, (_k, p) in enumerate(self.numeric.items()):
            # Positional keys: feature names are free text, npz keys are file names.
            arrays[f"n{i}_sample"], arrays[f"n{i}_edges"], arrays[f"n{i}_props"] = p.sample, p.edges, p.proportions
        with open_uri(path, "wb") as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ReferenceProfile:
        with open_uri(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"{path}: profile format_version {header.get('format_version')!r}, expected {FORMAT_VERSION}")
            num = {
                k: NumericProfile(
                    sample=data[f"n{i}_sample"],
                    edges=data[f"n{i}_edges"],
                    proportions=data[f"n{i}_props"],
                    n_rows=h["n_rows"],
                    n_missing=h["n_missing"],
                    mean=h["mean"],
                    std=h["std"],
                )
                for i, (k, h) in enumerate(header["numeric"].items())
            }
        cat = {
            k: CategoricalProfile(tuple(h["categories"]), np.asarray(h["counts"], dtype=np.int64), h["n_rows"], h["n_missing"])
            for k, h in header["categorical"].items()
        }
        return cls(num, cat, header["n_rows"], header.get("meta", {}))


def numeric_values(column: pd.Series) -> np.ndarray:
    """float64 values with NaN for missing (None, NaN, non-numeric text)."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def categorical_values(column: pd.Series) -> tuple[pd.Series, int]:
    """(non-missing values as str, number of missing)."""
    present = column.dropna()
    return present.astype(str), int(len(column) - len(present))
