"""Fixture prediction logs in serving's layout and schema (workloads.serving.prediction_log:
`date=YYYY-MM-DD/hour=HH/part-*.parquet`, typed by `log_schema(project)`), labels through the
project's LabelStore, and a small fitted champion to score them with."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from drift_data import features, project

from workloads.serving.prediction_log import log_schema


def log_rows(
    frame: pd.DataFrame,
    hour: datetime,
    *,
    name: str = "transaction-risk",
    model_version: str = "1",
    seed: int = 0,
    mode: str = "live",
    variant: str = "champion",
) -> pd.DataFrame:
    """`frame` (the project's rows, with a `score` column or not) as logged records spread over
    `hour`, each its own keyed request (`record` 0), scored by `model_version`."""
    spec = project(name).spec
    rng = np.random.default_rng(seed)
    n = len(frame)
    ts = (pd.Timestamp(hour) + pd.to_timedelta(np.sort(rng.uniform(0, 3_599, n)), unit="s")).floor("us")
    return pd.DataFrame(
        {
            "request_id": [f"{hour:%Y%m%d%H}-{seed}-{mode}-{i}" for i in range(n)],
            "record": np.zeros(n, dtype=np.int32),
            "ts": ts,
            "key": frame[spec.entity.key].astype(str).to_numpy(),
            "experiment_id": "exp-1",
            "variant": variant,
            "model_version": model_version,
            "mode": mode,
            "score": frame["score"].to_numpy() if "score" in frame else rng.beta(1, 30, n),
            "prediction": None,
            "probabilities": None,
            "reasons": None,
            **{f: frame[f].to_numpy() for f in spec.feature_names},
        }
    )


def write_hour(root: Path, rows: pd.DataFrame, hour: datetime, part: int = 0, name: str = "transaction-risk") -> Path:
    folder = Path(root) / f"date={hour:%Y-%m-%d}" / f"hour={hour:%H}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-test-{part:05d}.parquet"
    typed = rows.reset_index(drop=True).astype({f: object for f in project(name).spec.categorical})
    pq.write_table(pa.Table.from_pandas(typed, schema=log_schema(project(name)), preserve_index=False), path)
    return path


def hours(start: datetime, n: int) -> list[datetime]:
    return [start + timedelta(hours=i) for i in range(n)]


def labels_for(
    logged: pd.DataFrame, frame: pd.DataFrame, *, name: str = "transaction-risk", exact_share: float = 0.5, delay: timedelta = timedelta(minutes=30)
) -> pd.DataFrame:
    """Label rows for logged records: the event time is the served time, the label the frame's;
    `exact_share` of them name their request (the rest are matched by key and time)."""
    spec = project(name).spec
    n = len(logged)
    exact = np.arange(n) < int(exact_share * n)
    return pd.DataFrame(
        {
            spec.entity.key: frame[spec.entity.key].to_numpy(),
            spec.timestamp: logged["ts"].to_numpy(),
            spec.label.column: frame[spec.label.column].to_numpy(),
            "label_arrival_ts": logged["ts"] + delay,
            "request_id": np.where(exact, logged["request_id"], None),
            "record": pd.array([0 if e else pd.NA for e in exact], dtype="Int32"),
            "source": "feedback",
        }
    )


class Champion:
    """A fitted logistic regression on transaction-risk's features: the model whose scores the log
    holds (AUC ~0.87 on the baseline; its ranking fails under concept drift, its calibration under
    a doubled positive rate)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        from sklearn.linear_model import LogisticRegression

        self.numeric, self.categorical = features()
        x = self._design(frame)
        self.columns = x.columns
        self.model = LogisticRegression(max_iter=2_000).fit(x, frame[project().spec.label.column])

    def _design(self, frame: pd.DataFrame) -> pd.DataFrame:
        num = {f: frame[f].fillna(0.0) if f == "amount_zscore_30d" else np.log1p(frame[f].clip(lower=0).fillna(0.0)) for f in self.numeric}
        return pd.concat([pd.DataFrame(num), pd.get_dummies(frame[self.categorical].fillna("na").astype(str))], axis=1)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self._design(frame).reindex(columns=self.columns, fill_value=0))[:, 1]
