"""Load the rows a config asks for: from the seeded generator or a feature-store training set."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from workloads.data.generator import generate
from workloads.training.config import DataConfig

LINEAGE_SUFFIX = ".lineage.json"


def load_frame(cfg: DataConfig) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows plus feature view versions (from the training set's lineage file, if any)."""
    if cfg.source == "generate":
        return generate(cfg.rows, seed=cfg.seed, days=cfg.days), {}
    path = str(cfg.path)
    if not path.startswith("s3://") and not Path(path).is_file():
        raise FileNotFoundError(f"data.path {path} does not exist (write it with `python -m workloads.features training-set`)")
    from workloads.features.store import _read_parquet

    lineage_path = Path(path + LINEAGE_SUFFIX)
    views = json.loads(lineage_path.read_text())["feature_views"] if lineage_path.is_file() else {}
    return _read_parquet(path), views
