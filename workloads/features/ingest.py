"""Ingestion: what a project's data sources hold, into its offline store, idempotently.

Three inputs, one rule: every object written is named after what it was copied from, so copying
the same thing twice rewrites the same objects, and a small state file
(`<feast root>/offline/ingested.json`: source URI -> size and modification time) lets a later run
skip what it already copied.

- declared sources (`sources.features`, `sources.labels` in project.yaml: a Parquet file or folder,
  relative to the project folder, s3:// or abfss://): each file's feature rows go to
  `offline/sources/features/batch/src-<id>.parquet`; its labels to the label store (source `file`,
  arrival time from `sources.label_arrival`, else the event time); a file that changed replaces
  what it gave before;
- generated data (the project's `sources.generator`, examples and tests): features to
  `batch/<name>.parquet`, labels with their `label_arrival_ts` (else the event time), source `generator`;
- the prediction log (section 5 of the contract): each new file's `mode=live` rows become feature
  rows in `offline/sources/features/served/` with their `request_id` and `record` (shadow rows were
  never served); the key is the entity key's value, `ts` the row's time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from workloads import storage
from workloads.features import tables
from workloads.features.tables import ARRIVAL, INGEST_STATE, RECORD, REQUEST_ID, SERVED_DIR, DataError

if TYPE_CHECKING:
    from workloads.features.store import FeatureRepo

_STATE_VERSION = 1


@dataclass
class IngestReport:
    feature_files: int = 0
    feature_rows: int = 0
    label_files: int = 0
    label_rows: int = 0
    served_files: int = 0
    served_rows: int = 0
    skipped: int = 0
    """Source files already copied, unchanged."""
    written: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "written"}

    def __str__(self) -> str:
        return (
            f"{self.feature_rows} feature rows from {self.feature_files} file(s), {self.label_rows} labels from {self.label_files} file(s), "
            f"{self.served_rows} served rows from {self.served_files} log file(s), {self.skipped} unchanged file(s) skipped"
        )


class IngestState:
    """Source URI -> fingerprint (size, mtime) of what was copied; one JSON object under the Feast root."""

    def __init__(self, repo: FeatureRepo) -> None:
        self.uri = repo.uri(INGEST_STATE)
        raw = storage.read_bytes(self.uri)
        data = json.loads(raw) if raw else {}
        self.files: dict[str, str] = dict(data.get("files", {})) if data.get("version") == _STATE_VERSION else {}
        self.dirty = False

    @staticmethod
    def fingerprint(f: tables.StoredFile) -> str:
        return f"{f.size}:{f.mtime_ns}"

    def seen(self, f: tables.StoredFile) -> bool:
        return self.files.get(f.uri) == self.fingerprint(f)

    def mark(self, f: tables.StoredFile) -> None:
        self.files[f.uri] = self.fingerprint(f)
        self.dirty = True

    def save(self) -> None:
        if self.dirty:
            storage.write_bytes(self.uri, json.dumps({"version": _STATE_VERSION, "files": self.files}, indent=1, sort_keys=True).encode(), "feast root")
            self.dirty = False


def resolve_source(uri: str, folder: Path | None) -> str:
    """A declared source: s3:// and abfss:// as given, a relative path under the project folder."""
    if storage.is_remote(uri) or Path(uri).is_absolute() or folder is None:
        return uri
    return str((folder / uri).resolve())


def _source_files(uri: str, field_name: str) -> list[tables.StoredFile]:
    fs, path = storage.filesystem(uri, field_name)
    info = fs.get_file_info(path)
    if info.type.name == "File":
        return [tables.StoredFile(uri, int(info.size or 0), int(info.mtime_ns or 0))]
    files = tables.list_files(uri)
    if not files:
        raise DataError(f"{field_name}: {uri} holds no Parquet files. Fix: point it at a Parquet file or a folder of them")
    return files


def _read(f: tables.StoredFile) -> pd.DataFrame:
    data = storage.read_bytes(f.uri)
    if data is None:
        raise DataError(f"{f.uri}: vanished while being ingested")
    import io

    return pq.read_table(io.BytesIO(data)).to_pandas()


def ingest_frame(repo: FeatureRepo, frame: pd.DataFrame, name: str) -> tuple[int, int]:
    """Rows holding features and labels (a generator's output): features to `batch/<name>`, labels
    (source `generator`) to the label store. Idempotent per name. Returns (feature rows, labels)."""
    spec = repo.spec
    repo.write_rows(frame, name)
    labels = frame[[c for c in (spec.entity.key, spec.timestamp, spec.label.column, ARRIVAL, REQUEST_ID, RECORD) if c in frame.columns]]
    if ARRIVAL not in labels.columns:
        labels = labels.assign(**{ARRIVAL: labels[spec.timestamp]})
    repo.labels.remove(name)
    repo.labels.append(labels, source="generator", part=name)
    return len(frame), len(labels)


def generate(project, repo: FeatureRepo, *, rows: int, seed: int, start: datetime, days: float, drift: dict[str, Any] | None = None) -> pd.DataFrame:
    """Run the project's `sources.generator` and ingest its rows (named after the arguments)."""
    spec = repo.spec
    if not spec.sources.generator:
        raise DataError(f"{spec.name}: project.yaml declares no sources.generator. Fix: add `generator: data:generate` or ingest real sources")
    if not hasattr(project, "entry_point"):
        raise TypeError("generate() needs the loaded Project (its folder holds the generator), not only its spec")
    generator = project.entry_point(spec.sources.generator, field="sources.generator")
    frame = generator(rows, seed=seed, start=start, days=days, drift=drift)
    name = "generated-" + tables.short_id(rows, seed, pd.Timestamp(start).isoformat(), days, json.dumps(drift or {}, sort_keys=True, default=str))
    ingest_frame(repo, frame, name)
    return frame


def ingest_sources(project, repo: FeatureRepo, state: IngestState, report: IngestReport) -> None:
    spec = repo.spec
    folder = getattr(project, "folder", None)
    if spec.sources.features:
        uri = resolve_source(spec.sources.features, folder)
        for f in _source_files(uri, "sources.features"):
            if state.seen(f):
                report.skipped += 1
                continue
            df = _read(f)
            report.written.append(repo.write_rows(df, "src-" + tables.short_id("features", f.uri)))
            report.feature_files += 1
            report.feature_rows += len(df)
            state.mark(f)
    if spec.sources.labels:
        uri = resolve_source(spec.sources.labels, folder)
        arrival = spec.sources.label_arrival
        for f in _source_files(uri, "sources.labels"):
            if state.seen(f):
                report.skipped += 1
                continue
            df = _read(f)
            if arrival:
                if arrival not in df.columns:
                    raise DataError(f"sources.label_arrival: {f.uri} has no column {arrival!r}. Fix: add it or correct sources.label_arrival")
                df = df.rename(columns={arrival: ARRIVAL}) if arrival != ARRIVAL else df
            elif ARRIVAL not in df.columns and spec.timestamp in df.columns:
                df = df.assign(**{ARRIVAL: df[spec.timestamp]})
            part = "src-" + tables.short_id("labels", f.uri)
            repo.labels.remove(part)
            report.written.extend(repo.labels.append(df, source="file", part=part))
            report.label_files += 1
            report.label_rows += len(df)
            state.mark(f)


def served_frame(log: pd.DataFrame, spec) -> pd.DataFrame:
    """Live prediction-log rows as feature rows (key -> entity key, ts -> timestamp, request_id, record)."""
    if "mode" in log.columns:
        log = log[log["mode"].fillna("live") == "live"]
    missing = [c for c in ("request_id", "ts", "key") if c not in log.columns]
    if missing:
        raise DataError(f"prediction log: columns {missing} are missing (see workloads/serving/prediction_log.py for the format)")
    log = log.reset_index(drop=True)
    record = log[RECORD] if RECORD in log.columns else log.groupby("request_id", sort=False).cumcount()
    out = pd.DataFrame({spec.entity.key: log["key"], spec.timestamp: log["ts"], REQUEST_ID: log["request_id"], RECORD: record})
    for name in spec.feature_names:
        out[name] = log[name] if name in log.columns else None
    return out


def ingest_prediction_log(repo: FeatureRepo, log_uri: str, state: IngestState, report: IngestReport) -> None:
    for f in tables.list_files(log_uri):
        if state.seen(f):
            report.skipped += 1
            continue
        rows = served_frame(_read(f), repo.spec)
        if len(rows):
            report.written.append(repo.write_rows(rows, "log-" + tables.short_id("served", f.uri), folder=SERVED_DIR))
        report.served_files += 1
        report.served_rows += len(rows)
        state.mark(f)


def ingest(project, repo: FeatureRepo, *, prediction_log: str | None = None) -> IngestReport:
    """Copy declared sources and the prediction log's new live rows into the offline store."""
    state, report = IngestState(repo), IngestReport()
    try:
        ingest_sources(project, repo, state, report)
        if prediction_log:
            ingest_prediction_log(repo, prediction_log, state, report)
    finally:
        state.save()
    return report
