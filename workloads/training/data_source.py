"""Load the rows a config asks for: from the seeded generator or a feature-store training set."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from workloads import storage
from workloads.data.generator import generate
from workloads.training.config import DataConfig

LINEAGE_SUFFIX = ".lineage.json"


def load_frame(cfg: DataConfig) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows plus feature view versions (from the training set's lineage file, if any). The path is
    local, s3:// or abfss:// (workloads/storage.py)."""
    if cfg.source == "generate":
        return generate(cfg.rows, seed=cfg.seed, days=cfg.days), {}
    path = str(cfg.path)
    if not storage.is_remote(path) and not Path(path).is_file():
        raise FileNotFoundError(f"data.path {path} does not exist (write it with `python -m workloads.features training-set`)")
    from workloads.features.store import _read_parquet

    lineage = storage.read_bytes(path + LINEAGE_SUFFIX, "data.path")
    views = json.loads(lineage)["feature_views"] if lineage is not None else {}
    return _read_parquet(path), views
