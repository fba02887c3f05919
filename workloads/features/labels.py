"""A project's label store: labels with their event time and the time they became known.

    <feast root>/offline/labels/arrival_date=YYYY-MM-DD/part-<id>.parquet

Columns (tables.label_schema): the entity key, the project's timestamp (the event the label is
about), the label column, `label_arrival_ts` (when the label became known, UTC), `request_id` and
`record` (the served record it labels, when known: the exact join of training frames), and
`source` (generator | file | feedback | labels-api).

`append(frame)` validates every column against the project (errors name the column) and writes
one whole object per arrival date (`workloads.storage.write_bytes`: atomic on a folder, s3:// and
abfss://). `read(since, until)` returns the labels that arrived in [since, until), partitions
outside the range unread. Writers: ingestion (generated data, label files) and the control plane
(/feedback with a label, /labels).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from workloads import storage
from workloads.features import tables
from workloads.features.tables import ARRIVAL, LABEL_SOURCES, LABELS_DIR, RECORD, REQUEST_ID, SOURCE, DataError
from workloads.project.spec import ProjectSpec

PARTITION = "arrival_date="


def _spec(project) -> ProjectSpec:
    return getattr(project, "spec", project)


def _aware(value: datetime | None, name: str) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise DataError(f"LabelStore.read: {name}={value!r} is timezone-naive. Fix: pass a UTC time")
    return ts.tz_convert("UTC")


class LabelStore:
    """The labels of one project under its Feast root (a folder, s3:// or abfss://)."""

    def __init__(self, project, feast_root: str, home: str | Path | None = None) -> None:
        self.spec = _spec(project)
        self.root = storage.join(str(feast_root), LABELS_DIR)
        self.schema = tables.label_schema(self.spec)
        self.home = home
        self._privacy: list = []

    @property
    def privacy(self):
        """The project's tokeniser (workloads/privacy), None when it marks no personal data; a
        marked entity key is stored as its token, whoever writes the label (issue 22)."""
        if not self._privacy:
            from workloads.privacy import for_project

            self._privacy.append(for_project(self.spec, self.home))
        return self._privacy[0]

    def table(self, frame: pd.DataFrame, *, source: str | None = None, now: datetime | None = None) -> pa.Table:
        """`frame` validated and typed as label rows (no write). Missing `label_arrival_ts`: `now`
        (default: the current time); missing `source`: the `source` argument."""
        spec, where = self.spec, "labels"
        for column in (spec.entity.key, spec.timestamp, spec.label.column):
            if column not in frame.columns:
                role = {spec.entity.key: "the entity key", spec.timestamp: "the event time", spec.label.column: "the label"}[column]
                raise DataError(f"{where}: column {column!r} ({role}) is missing. Fix: give it on every label")
        n = len(frame)
        if SOURCE in frame.columns:
            sources = frame[SOURCE].astype(object)
        elif source is not None:
            sources = pd.Series([source] * n, index=frame.index, dtype=object)
        else:
            raise DataError(f"{where}: no {SOURCE!r} column and no source given. Fix: one of {list(LABEL_SOURCES)}")
        bad = sorted({str(s) for s in sources if s not in LABEL_SOURCES})
        if bad:
            raise DataError(f"{where}: column {SOURCE!r} holds {bad}; allowed: {list(LABEL_SOURCES)}")
        if ARRIVAL in frame.columns:
            arrival = tables.utc(frame[ARRIVAL], ARRIVAL, where)
        else:
            arrival = pd.Series([pd.Timestamp(now or datetime.now(UTC)).tz_convert("UTC")] * n, index=frame.index).astype("datetime64[us, UTC]")
        event = tables.utc(frame[spec.timestamp], spec.timestamp, where)
        if self.privacy is not None:
            frame = self.privacy.frame(frame)
        rid, rec = tables.request_columns(frame)
        if (rec.notna() & rid.isna()).any():
            raise DataError(f"{where}: column {RECORD!r} is set where {REQUEST_ID!r} is not. Fix: a record index only makes sense within its request")
        if (rec.dropna() < 0).any():
            raise DataError(f"{where}: column {RECORD!r} must be >= 0 (the record's index in its request)")
        typed = pd.DataFrame(
            {
                spec.entity.key: tables.keys(frame[spec.entity.key], spec, where),
                spec.timestamp: event,
                spec.label.column: tables.labels_of(frame[spec.label.column], spec, where),
                ARRIVAL: arrival,
                REQUEST_ID: rid,
                RECORD: rec,
                SOURCE: sources,
            },
            index=frame.index,
        )
        return pa.Table.from_pandas(typed.reset_index(drop=True), schema=self.schema, preserve_index=False)

    def append(self, frame: pd.DataFrame, *, source: str | None = None, part: str | None = None, now: datetime | None = None) -> list[str]:
        """Validate and store `frame`; one object per arrival date. Returns the URIs written.

        `part` names the objects (`part-<part>.parquet`): ingestion passes an id derived from what
        it copies, so copying the same thing twice rewrites the same objects (idempotent); other
        writers leave it out and get a fresh one."""
        table = self.table(frame, source=source, now=now)
        if table.num_rows == 0:
            return []
        part = part or uuid.uuid4().hex
        dates = pd.Series(table.column(ARRIVAL).to_pandas()).dt.strftime("%Y-%m-%d").to_numpy()
        written = []
        for date in sorted(set(dates)):
            uri = storage.join(self.root, f"{PARTITION}{date}", f"part-{part}.parquet")
            tables.write_table(uri, table.filter(pa.array(dates == date)), "label store")
            written.append(uri)
        return written

    def remove(self, part: str) -> int:
        """Delete every object named `part-<part>.parquet` (a label file that was replaced); returns how many."""
        gone = [f for f in tables.list_files(self.root) if f.name == f"part-{part}.parquet"]
        for f in gone:
            tables.delete(f.uri)
        return len(gone)

    def files(self, since: datetime | None = None, until: datetime | None = None) -> list[tables.StoredFile]:
        lo, hi = _aware(since, "since"), _aware(until, "until")
        out = []
        for f in tables.list_files(self.root):
            folder = f.uri.rsplit("/", 2)[-2]
            if not folder.startswith(PARTITION):
                continue
            day = pd.Timestamp(folder[len(PARTITION) :], tz="UTC")
            if (lo is not None and day + pd.Timedelta(days=1) <= lo) or (hi is not None and day >= hi):
                continue
            out.append(f)
        return out

    def read(self, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
        """Labels whose `label_arrival_ts` is in [since, until) (either bound optional), typed, sorted by
        (event time, key, arrival). Every stored copy is returned (see `latest` to keep one per label)."""
        table = tables.concat((tables.read_table(f.uri, self.schema) for f in self.files(since, until)), self.schema)
        df = table.to_pandas()
        df[RECORD] = df[RECORD].astype("Int32")
        lo, hi = _aware(since, "since"), _aware(until, "until")
        if lo is not None:
            df = df[df[ARRIVAL] >= lo]
        if hi is not None:
            df = df[df[ARRIVAL] < hi]
        return df.sort_values([self.spec.timestamp, self.spec.entity.key, ARRIVAL], kind="stable").reset_index(drop=True)


def latest(labels: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
    """One row per labelled event, the one that arrived last (a correction replaces the first answer).

    An event is its served record (request_id, record) when the label names one, else (entity key,
    event time)."""
    if labels.empty:
        return labels
    identity = (
        labels[REQUEST_ID]
        .astype(object)
        .where(
            labels[REQUEST_ID].notna(),
            labels[spec.entity.key].astype(str) + "\x1f" + labels[spec.timestamp].astype("int64").astype(str),
        )
        + "\x1f"
        + labels[RECORD].astype("string").fillna("")
    )
    order = labels.assign(_identity=identity).sort_values([ARRIVAL], kind="stable")
    kept = order.drop_duplicates("_identity", keep="last").drop(columns="_identity")
    return kept.sort_values([spec.timestamp, spec.entity.key, ARRIVAL], kind="stable").reset_index(drop=True)
