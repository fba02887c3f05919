"""The typed tables of a project's offline store, and the few I/O helpers they go through.

Every table is typed from project.yaml, never from what a file happened to hold:

    feature rows   <entity key> int64|string, <timestamp> timestamp[us, UTC], each numeric feature
                   float64, each categorical feature string, request_id string (null for batch
                   rows), record int32 (null for batch rows)
    labels         <entity key>, <timestamp> (the event time), <label> (binary int64 0/1,
                   multiclass string in `label.classes`, regression float64), label_arrival_ts
                   timestamp[us, UTC], request_id string, record int32, source string

Objects are written whole through `workloads.storage.write_bytes` (readers see an old or a new
file, never half of one), on a local folder, s3:// or abfss:// alike.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from workloads import storage
from workloads.errors import SahabError
from workloads.project.spec import ProjectSpec

# Where things sit under a project's Feast root (repo.py, labels.py, ingest.py, frames.py).
FEATURES_DIR = "offline/sources/features"
BATCH_DIR = "offline/sources/features/batch"
SERVED_DIR = "offline/sources/features/served"
LABELS_DIR = "offline/labels"
INGEST_STATE = "offline/ingested.json"
TRAINING_SETS_DIR = "training-sets"

REQUEST_ID, RECORD = "request_id", "record"
ARRIVAL, SOURCE = "label_arrival_ts", "source"
LABEL_SOURCES = ("generator", "file", "feedback", "labels-api")
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")


class DataError(SahabError):
    """Rows that do not fit the project: the message names the column and the fix (exit 2)."""


def key_type(spec: ProjectSpec) -> pa.DataType:
    return pa.int64() if spec.entity.dtype == "int64" else pa.string()


def label_type(spec: ProjectSpec) -> pa.DataType:
    return {"binary": pa.int64(), "multiclass": pa.string(), "regression": pa.float64()}[spec.label.task]


def feature_fields(spec: ProjectSpec) -> list[pa.Field]:
    """Each feature in the project's order: numeric float64, then categorical string."""
    return [pa.field(n, pa.float64()) for n in spec.numeric] + [pa.field(n, pa.string()) for n in spec.categorical]


def source_schema(spec: ProjectSpec) -> pa.Schema:
    return pa.schema(
        [
            pa.field(spec.entity.key, key_type(spec), nullable=False),
            pa.field(spec.timestamp, TIMESTAMP_TYPE, nullable=False),
            *feature_fields(spec),
            pa.field(REQUEST_ID, pa.string()),
            pa.field(RECORD, pa.int32()),
        ]
    )


def label_schema(spec: ProjectSpec) -> pa.Schema:
    return pa.schema(
        [
            pa.field(spec.entity.key, key_type(spec), nullable=False),
            pa.field(spec.timestamp, TIMESTAMP_TYPE, nullable=False),
            pa.field(spec.label.column, label_type(spec), nullable=False),
            pa.field(ARRIVAL, TIMESTAMP_TYPE, nullable=False),
            pa.field(REQUEST_ID, pa.string()),
            pa.field(RECORD, pa.int32()),
            pa.field(SOURCE, pa.string(), nullable=False),
        ]
    )


def frame_columns(spec: ProjectSpec) -> list[str]:
    """Columns of a training frame: key, timestamp, every feature (numeric then categorical), label."""
    return [spec.entity.key, spec.timestamp, *spec.feature_names, spec.label.column]


# --- conversions (pandas <-> the typed tables) ---


def utc(series: pd.Series, column: str, where: str) -> pd.Series:
    """`series` as datetime64[us, UTC]; a timezone-naive or unparseable value is an error naming `column`."""
    try:
        values = pd.to_datetime(series, utc=False)
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: column {column!r} is not a timestamp ({exc}). Fix: give ISO-8601 times with a UTC offset") from None
    if not isinstance(values.dtype, pd.DatetimeTZDtype):
        if values.empty:
            values = values.dt.tz_localize("UTC")
        else:
            raise DataError(f"{where}: column {column!r} has timezone-naive times. Fix: give them in UTC (e.g. 2025-01-01T12:00:00Z)")
    if values.isna().any():
        raise DataError(f"{where}: column {column!r} has {int(values.isna().sum())} missing times. Fix: every row needs one")
    return values.dt.tz_convert("UTC").astype("datetime64[us, UTC]")


def keys(series: pd.Series, spec: ProjectSpec, where: str) -> pd.Series:
    column = spec.entity.key
    if series.isna().any():
        raise DataError(f"{where}: column {column!r} (the entity key) has {int(series.isna().sum())} missing values. Fix: every row needs its key")
    if spec.entity.dtype == "string":
        return series.astype(str).astype(object)
    try:
        values = pd.to_numeric(series, errors="raise")
    except (ValueError, TypeError):
        raise DataError(f"{where}: column {column!r} must hold integers (entity.dtype: int64), got e.g. {series.iloc[0]!r}") from None
    if not np.all(np.mod(values.to_numpy(dtype=np.float64), 1) == 0):
        raise DataError(f"{where}: column {column!r} must hold integers (entity.dtype: int64)")
    return values.astype(np.int64)


def typed_features(df: pd.DataFrame, spec: ProjectSpec, where: str) -> pd.DataFrame:
    """Every feature column typed (numeric float64 with NaN, categorical object with None)."""
    missing = [n for n in spec.feature_names if n not in df.columns]
    if missing:
        raise DataError(f"{where}: feature column(s) {missing} are missing. Fix: every feature of project.yaml needs a column (null when unknown)")
    out = {}
    for name in spec.numeric:
        values = pd.to_numeric(df[name], errors="coerce")
        bad = values.isna() & df[name].notna()
        if bad.any():
            raise DataError(f"{where}: numeric feature {name!r} holds non-numbers, e.g. {df[name][bad].iloc[0]!r}")
        out[name] = values.astype(np.float64)
    for name in spec.categorical:
        col = df[name].astype(object)
        out[name] = col.where(col.notna(), None).map(lambda v: v if v is None else str(v))
    return pd.DataFrame(out, index=df.index)


def labels_of(series: pd.Series, spec: ProjectSpec, where: str) -> pd.Series:
    column, task = spec.label.column, spec.label.task
    if series.isna().any():
        raise DataError(f"{where}: label column {column!r} has {int(series.isna().sum())} missing values. Fix: send only known labels")
    if task == "binary":
        values = pd.to_numeric(series.map(lambda v: int(v) if isinstance(v, bool) else v), errors="coerce")
        if not values.isin([0, 1]).all():
            raise DataError(f"{where}: label column {column!r} is binary: 0 or 1 (or true/false), got e.g. {series[~values.isin([0, 1])].iloc[0]!r}")
        return values.astype(np.int64)
    if task == "multiclass":
        values = series.astype(str)
        unknown = sorted(set(values) - set(spec.label.classes))
        if unknown:
            raise DataError(f"{where}: label column {column!r} holds {unknown}, not among label.classes {list(spec.label.classes)}")
        return values.astype(object)
    values = pd.to_numeric(series, errors="coerce")
    if values.isna().any() or not np.isfinite(values.to_numpy(dtype=np.float64)).all():
        raise DataError(f"{where}: label column {column!r} is a regression target: finite numbers only")
    return values.astype(np.float64)


def request_columns(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """request_id (string or None) and record (Int32, null) of `df`, null when absent."""
    n = len(df)
    rid = df[REQUEST_ID] if REQUEST_ID in df.columns else pd.Series([None] * n, index=df.index, dtype=object)
    rid = rid.astype(object).where(rid.notna(), None).map(lambda v: v if v is None else str(v))
    rec = df[RECORD] if RECORD in df.columns else pd.Series([pd.NA] * n, index=df.index)
    rec = pd.to_numeric(rec, errors="coerce").astype("Int32")
    return rid, rec


def source_table(df: pd.DataFrame, spec: ProjectSpec, where: str) -> pa.Table:
    """Feature rows as the typed source table (see the module docstring)."""
    for column in (spec.entity.key, spec.timestamp):
        if column not in df.columns:
            raise DataError(f"{where}: column {column!r} is missing (the project's {'entity key' if column == spec.entity.key else 'timestamp'})")
    rid, rec = request_columns(df)
    frame = pd.DataFrame(
        {spec.entity.key: keys(df[spec.entity.key], spec, where), spec.timestamp: utc(df[spec.timestamp], spec.timestamp, where)}, index=df.index
    )
    frame = pd.concat([frame, typed_features(df, spec, where)], axis=1).assign(**{REQUEST_ID: rid, RECORD: rec})
    return pa.Table.from_pandas(frame.reset_index(drop=True), schema=source_schema(spec), preserve_index=False)


# --- I/O ---


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def write_table(uri: str, table: pa.Table, variable: str = "feast root") -> None:
    """One Parquet object written whole (storage.write_bytes)."""
    storage.write_bytes(uri, parquet_bytes(table), variable)


def read_table(uri: str, schema: pa.Schema | None = None) -> pa.Table:
    data = storage.read_bytes(uri)
    if data is None:
        raise FileNotFoundError(f"{uri}: no such object")
    table = pq.read_table(io.BytesIO(data))
    return table.cast(schema) if schema is not None and table.schema != schema else table


@dataclass(frozen=True)
class StoredFile:
    uri: str
    size: int
    mtime_ns: int

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]


def list_files(uri: str, suffix: str = ".parquet") -> list[StoredFile]:
    """Every file under `uri` (recursively) ending with `suffix`, sorted by URI; none when it is absent."""
    fs, path = storage.filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    out = []
    for info in infos:
        if info.type != pafs.FileType.File or not info.base_name.endswith(suffix):
            continue
        relative = info.path[len(path) :].lstrip("/")
        mtime = info.mtime_ns if info.mtime_ns is not None else 0
        out.append(StoredFile(storage.join(uri, relative), int(info.size or 0), int(mtime)))
    return sorted(out, key=lambda f: f.uri)


def delete(uri: str) -> None:
    fs, path = storage.filesystem(uri)
    if fs.get_file_info(path).type == pafs.FileType.File:
        fs.delete_file(path)


def frame_sha256(df: pd.DataFrame) -> str:
    """Content hash of a frame (values, dtypes, column order), independent of its index and storage."""
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def short_id(*parts: object) -> str:
    """A stable 16-hex id of `parts` (file names derived from what they hold or come from)."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:16]


def concat(tables: Iterable[pa.Table], schema: pa.Schema) -> pa.Table:
    tables = [t.cast(schema) if t.schema != schema else t for t in tables]
    return pa.concat_tables(tables) if tables else schema.empty_table()
