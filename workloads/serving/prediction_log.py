"""Prediction log: every scored record appended to Parquet, off the request path.

Contract (the features pipeline ingests it, the monitoring job reads it; keep it exactly):

    <SAHAB_SERVING_PREDICTION_LOG_URI>/date=YYYY-MM-DD/hour=HH/part-<host>-<uuid>.parquet

The URI is a local folder (or `file://` URL), `s3://bucket/prefix/` (on EKS
`s3://<offline-features bucket>/serving-log/<project>/`) or
`abfss://<container>@<account>.dfs.core.windows.net/<prefix>/` (on AKS); it already names the
project (the writer never appends it). workloads/storage.py writes each file as one whole object
(`storage.write_bytes`: endpoints, credentials, the Azurite override). Hive partitions are the UTC
date and hour of `ts`. Columns, in order (`log_schema(project)`):

    request_id    string               the keyed request's id (echoed in the /score answer)
    record        int32                index of the record in its keyed request
    ts            timestamp[us, UTC]   the answer's served_at
    key           string               the entity key's value (the request's key)
    experiment_id string, nullable     null when no experiment ran (champion only, shadow)
    variant       string               "champion" | "challenger" (the variant that scored it)
    model_version string               the registry version that scored it
    mode          string               "live" (what was answered) | "shadow" (the challenger, not answered)
    score         float64              binary: P(positive); regression: the value; multiclass: P(predicted class)
    prediction    string, nullable     multiclass: the predicted class
    probabilities list<float64>, nullable   multiclass: every class's probability, in label.classes order
    reasons       list<struct<feature string, contribution float64>>, nullable
                                       the reason codes answered with the record, when the request asked
                                       for an explanation (issue 22; names features, never values)
    <each numeric feature>      float64 (null when missing), in the project's order
    <each categorical feature>  string  (null when missing)

`append()` only buffers, column by column (a list per column and hour, under a lock: a few
microseconds), so that what waits holds no object the garbage collector tracks: strings, floats,
datetimes and tuples of them. A buffered dict per record kept every request's objects alive
across young collections; promoted to the oldest generation, they set off a full collection every
few hundred requests (the serving process freezes everything it loaded, so each pass is short, but
they stopped every request in flight: at concurrency 16 the service answered 57% of the bare app's
requests/s with p99 5.4x its, against 95% and 1.1x with full collections held off,
benchmarks/serving.py on the shipped torch project). A background thread converts the columns into Arrow
tables every `stage_s` (0.25 s: each conversion holds the GIL for about a millisecond) and writes one file per hour partition every `flush_s` seconds and on
`close()`. At most `max_rows` rows wait in memory: beyond that a request's rows are dropped whole
and counted (`sahab_serving_prediction_log_dropped_total`), never blocking a request.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from workloads import storage

if TYPE_CHECKING:
    from workloads.project.project import Project
    from workloads.project.spec import ProjectSpec

logger = logging.getLogger(__name__)
VARIABLE = "SAHAB_SERVING_PREDICTION_LOG_URI"
MODES = ("live", "shadow")
PARTITIONING = ("date", "hour")

REASON = pa.struct([pa.field("feature", pa.string()), pa.field("contribution", pa.float64())])
HEAD = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("record", pa.int32(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("experiment_id", pa.string(), nullable=True),
        pa.field("variant", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        pa.field("prediction", pa.string(), nullable=True),
        pa.field("probabilities", pa.list_(pa.float64()), nullable=True),
        pa.field("reasons", pa.list_(REASON), nullable=True),
    ]
)
"""The platform's columns, before the project's features."""


def _spec(project: Project | ProjectSpec) -> ProjectSpec:
    from workloads.project.project import Project  # here, not at the top: the log needs no project unless given one

    return project.spec if isinstance(project, Project) else project


def log_schema(project: Project | ProjectSpec) -> pa.Schema:
    """The prediction log's columns for `project`: HEAD, then its numeric and categorical features."""
    spec = _spec(project)
    return pa.schema([*HEAD, *(pa.field(n, pa.float64()) for n in spec.numeric), *(pa.field(n, pa.string()) for n in spec.categorical)])


class _Hour:
    """One hour partition's buffered rows, a list per column of the log's schema (module docstring)."""

    __slots__ = ("lists", "rows")

    def __init__(self, width: int) -> None:
        self.lists: tuple[list[Any], ...] = tuple([] for _ in range(width))
        """One list per column, in the schema's order (a record appends to each in one pass)."""
        self.rows = 0

    def table(self, schema: pa.Schema) -> pa.Table:
        return pa.Table.from_pydict(dict(zip(schema.names, self.lists, strict=True)), schema=schema)


class PredictionLog:
    """Buffered, bounded Parquet writer of scored records for one project; see the module docstring."""

    def __init__(
        self,
        uri: str,
        project: Project | ProjectSpec,
        *,
        flush_s: float = 10.0,
        max_rows: int = 200_000,
        stage_s: float = 0.25,
        host: str | None = None,
        on_drop: Callable[[int], None] | None = None,
        on_write: Callable[[int], None] | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        spec = _spec(project)
        self.schema = log_schema(spec)
        self.numeric, self.categorical = tuple(spec.numeric), tuple(spec.categorical)
        self.uri, self.flush_s, self.max_rows, self.stage_s = uri, flush_s, max_rows, min(stage_s, flush_s)
        self.host = "".join(c if c.isalnum() or c in "-_" else "_" for c in (host or socket.gethostname()))
        storage.parse(uri, VARIABLE)  # an unusable URI fails here, at start, not at the first flush
        self._on_drop, self._on_write = on_drop, on_write
        self._features = (*self.numeric, *self.categorical)
        self._buffers: dict[int, _Hour] = {}
        """Rows not yet staged, by hour (hours since the epoch, UTC)."""
        self._staged: dict[tuple[str, str], list[pa.Table]] = {}
        self._rows = 0
        """Rows queued or staged (what max_rows bounds)."""
        self.dropped = 0
        self.written = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="prediction-log", daemon=True)
        self._thread.start()

    def append(
        self,
        *,
        request_id: str,
        key: str,
        experiment_id: str | None,
        variant: str,
        model_version: str,
        scores: Sequence[float],
        records: Sequence[Mapping[str, object]],
        ts: datetime | None = None,
        mode: str = "live",
        predictions: Sequence[str] | None = None,
        probabilities: Sequence[Sequence[float]] | None = None,
        reasons: Sequence[Sequence[dict] | None] | None = None,
    ) -> bool:
        """Queue one keyed request's records (record i scored `scores[i]`); False (and counted) when
        the buffer is full. Multiclass answers also give `predictions` and `probabilities` per record;
        an explained request its `reasons` per record ([{feature, contribution}])."""
        n = len(records)
        for name, values in (("scores", scores), ("predictions", predictions), ("probabilities", probabilities), ("reasons", reasons)):
            if values is not None and len(values) != n:
                raise ValueError(f"prediction log: {len(values)} {name} for {n} records")
        if mode not in MODES:
            raise ValueError(f"prediction log: mode {mode!r} is not one of {MODES}")
        ts = ts or datetime.now(UTC)
        hour = int(ts.timestamp()) // 3600
        with self._lock:
            if self._stop.is_set() or self._rows + n > self.max_rows:
                self.dropped += n
                dropped = True
            else:
                buffer = self._buffers.get(hour)
                if buffer is None:
                    buffer = self._buffers[hour] = _Hour(len(self.schema))
                # One pass per record over the columns' lists (a scoring service mostly sees one record).
                for i, record in enumerate(records):
                    row = (
                        request_id,
                        i,
                        ts,
                        key,
                        experiment_id,
                        variant,
                        model_version,
                        mode,
                        scores[i],
                        predictions[i] if predictions is not None else None,
                        tuple(probabilities[i]) if probabilities is not None else None,
                        reasons[i] if reasons is not None else None,
                        *[record.get(name) for name in self._features],
                    )
                    for column, value in zip(buffer.lists, row, strict=True):
                        column.append(value)
                buffer.rows += n
                self._rows += n
                dropped = False
        if dropped and self._on_drop:
            self._on_drop(n)
        return not dropped

    def stage(self) -> int:
        """Convert what is buffered into Arrow tables, one per hour partition (the rows written at the
        next flush); returns the rows staged. Arrow's buffers are a fraction of the Python objects'
        memory, and converting every `stage_s` keeps each conversion short."""
        with self._lock:
            buffers, self._buffers = self._buffers, {}
        staged = 0
        for hour, buffer in buffers.items():
            at = datetime.fromtimestamp(hour * 3600, UTC)
            partition = (at.strftime("%Y-%m-%d"), at.strftime("%H"))
            try:
                table = buffer.table(self.schema)
            except Exception:  # rows that do not fit the schema: count the loss, keep the writer alive
                logger.exception("prediction log: cannot convert %d rows", buffer.rows)
                with self._lock:
                    self.dropped += buffer.rows
                    self._rows -= buffer.rows
                if self._on_drop:
                    self._on_drop(buffer.rows)
                continue
            with self._lock:
                self._staged.setdefault(partition, []).append(table)
            staged += table.num_rows
        return staged

    def flush(self) -> int:
        """Write what is queued or staged now; returns the rows written. Safe to call from any thread."""
        with self._flush_lock:
            self.stage()
            with self._lock:
                staged, self._staged = self._staged, {}
                self._rows -= sum(t.num_rows for tables in staged.values() for t in tables)
            written = 0
            for (date, hour), tables in staged.items():
                table = pa.concat_tables(tables)
                folder = storage.join(self.uri, f"date={date}", f"hour={hour}")
                try:
                    # One whole object per file (storage.write_bytes): a reader never sees half a file,
                    # and on Azure the write needs only the log prefix (serving's role is conditioned to it).
                    sink = pa.BufferOutputStream()
                    pq.write_table(table, sink)
                    storage.write_bytes(storage.join(folder, f"part-{self.host}-{uuid.uuid4().hex}.parquet"), sink.getvalue().to_pybytes(), VARIABLE)
                except Exception:  # storage down: count the loss, keep serving
                    logger.exception("prediction log: cannot write %d rows under %s", table.num_rows, folder)
                    with self._lock:
                        self.dropped += table.num_rows
                    if self._on_drop:
                        self._on_drop(table.num_rows)
                    continue
                written += table.num_rows
            self.written += written
            if written and self._on_write:
                self._on_write(written)
            return written

    def _loop(self) -> None:
        next_flush = time.monotonic() + self.flush_s
        while not self._stop.wait(self.stage_s):
            try:
                if time.monotonic() >= next_flush:
                    next_flush = time.monotonic() + self.flush_s
                    self.flush()
                else:
                    with self._flush_lock:
                        self.stage()
            except Exception:  # never let the writer thread die
                logger.exception("prediction log flush failed")

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the interval thread and write what is left (called on shutdown)."""
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        self.flush()
