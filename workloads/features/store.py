"""A project's feature store: its feature rows, Feast (apply, point-in-time joins, materialize,
online reads) and its labels, under the project's Feast root.

    repo = FeatureRepo(project, home)          # local: <home>/projects/<name>/feast
    repo.write_rows(frame, "generated-seed0")   # batch feature rows (typed from project.yaml)
    repo.apply()
    repo.point_in_time(labels)                  # each row's features as they were at its time
    repo.materialize_all(); repo.online([key])

Point-in-time correctness: each entity row (key, time) gets, per feature view, the latest feature
row of that key at or before its time and not older than the view's TTL (Feast's
`get_historical_features`); no value from the row's future leaks in. Feast's file store collapses
entity rows that share (key, time) and drops a row from every view when one view's TTL excludes
it (checked: feast 0.67.0 feast/infra/offline_stores/dask.py `_drop_duplicates`, `_filter_ttl`), so
the join runs on the unique (key, time) pairs, one view at a time, and is merged back: a feature
of an expired view is null, as Feast documents, and every input row keeps its place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from feast import FeatureStore
from feast.errors import FeatureViewNotFoundException

from workloads import storage
from workloads.features import tables
from workloads.features.labels import LabelStore
from workloads.features.repo import definitions, feast_root, repo_config, view_fingerprint
from workloads.features.tables import BATCH_DIR, FEATURES_DIR, SERVED_DIR, DataError
from workloads.project.spec import ProjectSpec
from workloads.settings import FeatureStoreSettings, SahabSettings

# The entity-frame time column Feast looks for by name (feast/infra/offline_stores/offline_utils.py
# DEFAULT_ENTITY_DF_EVENT_TIMESTAMP_COL): named so, Feast never guesses among datetime columns.
_FEAST_TIME = "event_timestamp"


class FeatureRepo:
    """One project's Feast store plus its offline data, for one configuration (local, aws, azure)."""

    def __init__(self, project, home: str | Path | None = None, settings: FeatureStoreSettings | None = None) -> None:
        self.project = project
        self.spec: ProjectSpec = getattr(project, "spec", project)
        self.home = Path(home) if home is not None else SahabSettings().home
        self.settings = settings or FeatureStoreSettings()
        self.root = feast_root(self.spec, self.settings, self.home)
        if self.settings.mode == "local":
            Path(self.root).mkdir(parents=True, exist_ok=True)
        self.config = repo_config(self.spec, self.settings, self.home)
        self.definitions = definitions(self.spec, self.settings, self.home)
        self.labels = LabelStore(self.spec, self.root, self.home)
        self._store: FeatureStore | None = None

    # --- Feast ---

    @property
    def store(self) -> FeatureStore:
        if self._store is None:
            self._store = FeatureStore(config=self.config)
        return self._store

    @property
    def views(self):
        return self.definitions.views

    @property
    def service(self):
        return self.definitions.service

    def apply(self) -> None:
        """Register entity, feature views and feature service (idempotent)."""
        self.store.apply(self.definitions.objects())

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

    # --- feature rows ---

    def uri(self, *parts: str) -> str:
        return storage.join(self.root, *parts)

    def write_rows(self, frame: pd.DataFrame, name: str, *, folder: str = BATCH_DIR) -> str:
        """Store feature rows (typed from project.yaml) as `<folder>/<name>.parquet`; the same name
        rewrites the same object. Returns its URI."""
        if not name or "/" in name:
            raise ValueError(f"write_rows: {name!r} is not a file name")
        uri = self.uri(folder, f"{name}.parquet")
        if self.labels.privacy is not None:  # personal data becomes tokens before anything is written (issue 22)
            frame = self.labels.privacy.frame(frame)
        tables.write_table(uri, tables.source_table(frame, self.spec, f"feature rows {name}"))
        return uri

    def rows(self, folder: str = FEATURES_DIR) -> pd.DataFrame:
        """Every stored feature row under `folder` (default: batch and served), typed."""
        schema = tables.source_schema(self.spec)
        df = tables.concat((tables.read_table(f.uri, schema) for f in tables.list_files(self.uri(folder))), schema).to_pandas()
        df[tables.RECORD] = df[tables.RECORD].astype("Int32")
        return df

    def served_rows(self) -> pd.DataFrame:
        return self.rows(SERVED_DIR)

    def time_range(self) -> tuple[datetime, datetime]:
        """Earliest and latest feature-row time (what materialization covers by default)."""
        ts = self.rows()[self.spec.timestamp]
        if ts.empty:
            raise DataError(f"{self.spec.name}: the offline store holds no feature rows. Fix: `python -m workloads.features ingest` (or generate) first")
        return ts.min().to_pydatetime(), ts.max().to_pydatetime()

    # --- point in time ---

    def point_in_time(self, entity_df: pd.DataFrame) -> pd.DataFrame:
        """Each row of `entity_df` (entity key, timestamp, anything else) with every feature as it was
        at the row's time (see the module docstring); same rows, same order, same index. A feature
        with no row in its view's TTL is null; `features_found` says whether any view matched."""
        spec = self.spec
        key, ts = spec.entity.key, spec.timestamp
        if entity_df.empty:
            return entity_df.assign(**{n: pd.Series(dtype=object) for n in spec.feature_names}, features_found=pd.Series(dtype=bool))
        pairs = pd.DataFrame(
            {key: tables.keys(entity_df[key], spec, "entity rows"), _FEAST_TIME: tables.utc(entity_df[ts], ts, "entity rows")}
        ).drop_duplicates(ignore_index=True)
        if not tables.list_files(self.uri(FEATURES_DIR)):
            raise DataError(f"{spec.name}: the offline store holds no feature rows to join. Fix: `python -m workloads.features ingest` (or generate) first")
        joined = pairs.copy()
        found = np.zeros(len(pairs), dtype=bool)
        for view in self.views:
            names = [f.name for f in view.schema if f.name != key]
            try:
                job = self.store.get_historical_features(entity_df=pairs, features=[f"{view.name}:{n}" for n in names])
            except FeatureViewNotFoundException:
                raise DataError(
                    f"{spec.name}: feature view {view.name!r} is not registered in Feast project {self.config.project!r}. "
                    "Fix: `python -m workloads.features apply` (the pipeline applies before it builds frames)"
                ) from None
            try:
                got = job.to_df()
            except NotImplementedError as exc:
                # When no entity row has a feature row of this view within its TTL (keys never seen,
                # e.g. labels of requests whose log rows are not ingested yet), Feast's file store
                # masks every candidate's timestamp and then sorts by it; dask cannot split an
                # all-null column ("Divisions calculation failed"). No row matched: every feature of
                # the view is null for these rows, as Feast documents for an expired view.
                # checked: feast 0.67.0 feast/infra/offline_stores/dask.py `_filter_ttl`, `_drop_duplicates`.
                if "Divisions calculation failed" not in str(exc):
                    raise
                got = pairs.assign(**{n: None for n in names})
            got = got.copy()
            got[_FEAST_TIME] = pd.to_datetime(got[_FEAST_TIME], utc=True).astype("datetime64[us, UTC]")
            got[key] = tables.keys(got[key], spec, "feast")
            merged = pairs.merge(got[[key, _FEAST_TIME, *names]], on=[key, _FEAST_TIME], how="left", validate="one_to_one")
            present = merged[names].notna().any(axis=1).to_numpy()
            found |= present
            for n in names:
                joined[n] = merged[n].to_numpy()
        joined["features_found"] = found
        right = pd.concat([joined[[key, _FEAST_TIME]], tables.typed_features(joined, spec, "feast"), joined[["features_found"]]], axis=1)
        left = entity_df.drop(columns=[c for c in (*spec.feature_names, "features_found") if c in entity_df.columns]).copy()
        left["_key"], left["_time"] = pairs_key(entity_df, spec)
        out = left.merge(right.rename(columns={key: "_key", _FEAST_TIME: "_time"}), on=["_key", "_time"], how="left", validate="many_to_one")
        out.index = entity_df.index
        return out.drop(columns=["_key", "_time"])

    # --- online ---

    def materialize(self, start: datetime, end: datetime) -> None:
        """Load the latest feature values in [start, end] into the online store."""
        self.store.materialize(start_date=start, end_date=end)

    def materialize_all(self) -> tuple[datetime, datetime]:
        """Materialize every stored feature row; returns the range covered."""
        start, end = self.time_range()
        end = end + timedelta(seconds=1)
        self.materialize(start, end)
        return start, end

    def online(self, entity_keys: list) -> pd.DataFrame:
        """Latest materialized features of `entity_keys` (one row each, in the given order)."""
        spec = self.spec
        typed = tables.keys(pd.Series(list(entity_keys)), spec, "online keys").tolist()
        response = self.store.get_online_features(features=self.store.get_feature_service(self.service.name), entity_rows=[{spec.entity.key: k} for k in typed])
        return response.to_df()[[spec.entity.key, *spec.feature_names]]


def pairs_key(df: pd.DataFrame, spec: ProjectSpec) -> tuple[pd.Series, pd.Series]:
    return tables.keys(df[spec.entity.key], spec, "entity rows"), tables.utc(df[spec.timestamp], spec.timestamp, "entity rows")
