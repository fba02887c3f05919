"""Fixture prediction logs in serving's layout: `date=YYYY-MM-DD/hour=HH/part-*.parquet`, columns
request_id, ts (UTC), key, experiment_id, variant, model_version, score and every schema feature."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from workloads.data.schema import ENTITY, FEATURES


def log_rows(features: pd.DataFrame, hour: datetime, *, model_version: str = "1", seed: int = 0) -> pd.DataFrame:
    """`features` as logged records spread over `hour`, scored by `model_version`."""
    rng = np.random.default_rng(seed)
    n = len(features)
    ts = pd.Timestamp(hour) + pd.to_timedelta(np.sort(rng.uniform(0, 3_599, n)), unit="s")
    return pd.DataFrame(
        {
            "request_id": [str(uuid.UUID(int=int(x))) for x in rng.integers(0, 2**63, n)],
            "ts": ts,
            "key": features[ENTITY].astype(str).to_numpy() if ENTITY in features else np.arange(n).astype(str),
            "experiment_id": "exp-1",
            "variant": "champion",
            "model_version": model_version,
            "score": features["score"].to_numpy() if "score" in features else rng.beta(1, 30, n),
            **{f: features[f].to_numpy() for f in FEATURES},
        }
    )


def write_hour(root: Path, rows: pd.DataFrame, hour: datetime, part: int = 0) -> Path:
    folder = Path(root) / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{part:05d}.parquet"
    pq.write_table(pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False), path)
    return path


def hours(start: datetime, n: int) -> list[datetime]:
    return [start + timedelta(hours=i) for i in range(n)]
