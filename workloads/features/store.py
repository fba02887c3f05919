"""Operations on the feature store: write source data, apply, training sets, materialize, serve.

Training sets are point-in-time correct: each label row (account, timestamp) is joined with the
latest feature row of that account at or before its timestamp (and within the view's TTL), so
no feature value from the label's future leaks into training.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from feast import FeatureStore

from workloads import storage
from workloads.data.schema import CATEGORICAL_FEATURES, ENTITY, FEATURES, LABEL, NUMERIC_FEATURES, TIMESTAMP
from workloads.features.repo import (
    FEATURE_SERVICE,
    LABELS_FILE,
    SOURCE_FILE,
    definitions,
    offline_root,
    repo_config,
    view_fingerprint,
)
from workloads.settings import FeatureStoreSettings


class FeatureRepo:
    """The Feast store plus the paths of its source data, for one configuration."""

    def __init__(self, home: Path, settings: FeatureStoreSettings | None = None) -> None:
        self.home = Path(home)
        self.settings = settings or FeatureStoreSettings()
        if self.settings.mode == "local":
            (self.home / "feast" / "offline").mkdir(parents=True, exist_ok=True)
        self.config = repo_config(self.settings, self.home)
        self.entity, self.views, self.service = definitions(self.settings, self.home)
        self._store: FeatureStore | None = None

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            self._store = FeatureStore(config=self.config)
        return self._store

    def _path(self, name: str) -> str:
        return f"{offline_root(self.settings, self.home)}/{name}"

    def write_source(self, df: pd.DataFrame) -> None:
        """Store generated transactions: features as the offline source, labels beside them."""
        _write_parquet(df[[ENTITY, TIMESTAMP, *FEATURES]], self._path(SOURCE_FILE))
        _write_parquet(df[[ENTITY, TIMESTAMP, LABEL]], self._path(LABELS_FILE))

    def labels(self) -> pd.DataFrame:
        return _read_parquet(self._path(LABELS_FILE))

    def apply(self) -> None:
        self.store.apply([self.entity, *self.views, self.service])

    def versions(self) -> dict[str, str]:
        """Feature view name -> `v<registry version>@<definition hash>` for the run's lineage."""
        out = {}
        for view in self.views:
            try:
                registered = self.store.get_feature_view(view.name)
                number = getattr(registered, "current_version_number", None)
            except Exception:  # noqa: BLE001 (not applied yet: the definition hash alone identifies it)
                number = None
            out[view.name] = f"v{number if number is not None else 0}@{view_fingerprint(view)}"
        return out

    def training_set(self, entity_df: pd.DataFrame | None = None) -> pd.DataFrame:
        """Point-in-time join of `entity_df` (default: every stored label) with the feature service.

        Returns ENTITY, TIMESTAMP, every feature (schema order) and, when present in
        `entity_df`, LABEL, sorted by TIMESTAMP.
        """
        entity_df = self.labels() if entity_df is None else entity_df
        job = self.store.get_historical_features(entity_df=entity_df, features=self.store.get_feature_service(FEATURE_SERVICE))
        df = job.to_df()
        extra = [LABEL] if LABEL in df.columns else []
        df = df[[ENTITY, TIMESTAMP, *FEATURES, *extra]].sort_values([TIMESTAMP, ENTITY], kind="stable")
        for name in NUMERIC_FEATURES:
            df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
        for name in CATEGORICAL_FEATURES:
            df[name] = df[name].astype(object).where(df[name].notna(), None)
        df[TIMESTAMP] = pd.to_datetime(df[TIMESTAMP], utc=True)
        return df.reset_index(drop=True)

    def materialize(self, start: datetime, end: datetime) -> None:
        """Load the latest feature values in [start, end] into the online store."""
        self.store.materialize(start_date=start, end_date=end)

    def online(self, account_ids: list[int]) -> pd.DataFrame:
        """Latest materialized features for `account_ids` (one row each, in the given order)."""
        response = self.store.get_online_features(
            features=self.store.get_feature_service(FEATURE_SERVICE),
            entity_rows=[{ENTITY: int(a)} for a in account_ids],
        )
        return response.to_df()[[ENTITY, *FEATURES]]


def _write_parquet(df: pd.DataFrame, uri: str) -> None:
    """`df` as one Parquet file at a local path or URI (workloads/storage.py: pyarrow's own S3 and
    Azure clients, no fsspec needed to write)."""
    table = pa.Table.from_pandas(df.reset_index(drop=True), preserve_index=False)
    fs, path = storage.filesystem(uri)
    storage.make_dirs(fs, path.rsplit("/", 1)[0])
    pq.write_table(table, path, filesystem=fs)


def _read_parquet(uri: str) -> pd.DataFrame:
    fs, path = storage.filesystem(uri)
    return pq.read_table(path, filesystem=fs).to_pandas()
