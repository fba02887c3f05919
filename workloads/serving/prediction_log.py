"""Prediction log: every scored record appended to Parquet, off the request path.

Contract (the drift job of issue 11 reads it; keep it exactly):

    <SAHAB_SERVING_PREDICTION_LOG_URI>/date=YYYY-MM-DD/hour=HH/part-<host>-<uuid>.parquet

The URI is a local folder (or `file://` URL), `s3://bucket/prefix/` (on EKS
`s3://<offline-features bucket>/serving-log/`) or
`abfss://<container>@<account>.dfs.core.windows.net/<prefix>/` (on AKS); workloads/storage.py
writes each file as one whole object (`storage.write_bytes`: endpoints, credentials, the Azurite override). Hive partitions are the UTC date and hour of `ts`. Columns, in order (`SCHEMA`):

    request_id    string            the keyed request's id (echoed in the /score answer)
    ts            timestamp[us, UTC] when the record was scored
    key           string            the A/B key
    experiment_id string, nullable  null when no experiment ran (champion only)
    variant       string            "champion" | "challenger" (the variant that served)
    model_version string            the registry version that served
    score         float64
    <each NUMERIC_FEATURE>     float64 (null when missing)
    <each CATEGORICAL_FEATURE> string  (null when missing)

Shadow scores are not logged: the log holds what was served. `append()` only queues (a deque under
a lock, a few microseconds); a background thread converts and writes every `flush_s` seconds and
on `close()`. At most `max_rows` rows wait in memory: beyond that a batch is dropped whole and
counted (`sahab_serving_prediction_log_dropped_total`), never blocking a request.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from workloads import storage
from workloads.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES

logger = logging.getLogger(__name__)
VARIABLE = "SAHAB_SERVING_PREDICTION_LOG_URI"

SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("key", pa.string(), nullable=False),
        pa.field("experiment_id", pa.string(), nullable=True),
        pa.field("variant", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("score", pa.float64(), nullable=False),
        *(pa.field(name, pa.float64()) for name in NUMERIC_FEATURES),
        *(pa.field(name, pa.string()) for name in CATEGORICAL_FEATURES),
    ]
)
PARTITIONING = ("date", "hour")


@dataclass(frozen=True)
class _Batch:
    """One keyed request's scored records, as the service holds them (converted at flush)."""

    request_id: str
    ts: datetime
    key: str
    experiment_id: str | None
    variant: str
    model_version: str
    scores: Sequence[float]
    records: Sequence[dict[str, object]]


def to_table(batches: Sequence[_Batch]) -> pa.Table:
    """The batches as one table with SCHEMA (records x features, metadata repeated per record)."""
    counts = [len(b.scores) for b in batches]
    total = sum(counts)

    def repeat(values: list[object]) -> list[object]:
        return [v for v, n in zip(values, counts, strict=False) for _ in range(n)]

    records = [r for b in batches for r in b.records]
    columns: dict[str, object] = {
        "request_id": repeat([b.request_id for b in batches]),
        "ts": repeat([b.ts for b in batches]),
        "key": repeat([b.key for b in batches]),
        "experiment_id": repeat([b.experiment_id for b in batches]),
        "variant": repeat([b.variant for b in batches]),
        "model_version": repeat([b.model_version for b in batches]),
        "score": np.fromiter((s for b in batches for s in b.scores), dtype=np.float64, count=total),
    }
    for name in NUMERIC_FEATURES:
        columns[name] = [r.get(name) for r in records]
    for name in CATEGORICAL_FEATURES:
        columns[name] = [r.get(name) for r in records]
    return pa.Table.from_pydict(columns, schema=SCHEMA)


class PredictionLog:
    """Buffered, bounded Parquet writer of scored records; see the module docstring."""

    def __init__(
        self,
        uri: str,
        *,
        flush_s: float = 10.0,
        max_rows: int = 200_000,
        host: str | None = None,
        on_drop: Callable[[int], None] | None = None,
        on_write: Callable[[int], None] | None = None,
    ) -> None:
        if max_rows < 1:
            raise ValueError(f"max_rows must be >= 1, got {max_rows}")
        self.uri, self.flush_s, self.max_rows = uri, flush_s, max_rows
        self.host = "".join(c if c.isalnum() or c in "-_" else "_" for c in (host or socket.gethostname()))
        storage.parse(uri, VARIABLE)  # an unusable URI fails here, at start, not at the first flush
        self._on_drop, self._on_write = on_drop, on_write
        self._queue: deque[_Batch] = deque()
        self._rows = 0
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
        records: Sequence[dict[str, object]],
        ts: datetime | None = None,
    ) -> bool:
        """Queue one keyed request's records; False (and counted) when the buffer is full."""
        if len(scores) != len(records):
            raise ValueError(f"prediction log: {len(scores)} scores for {len(records)} records")
        n = len(records)
        with self._lock:
            if self._stop.is_set() or self._rows + n > self.max_rows:
                self.dropped += n
                dropped = True
            else:
                self._queue.append(_Batch(request_id, ts or datetime.now(UTC), key, experiment_id, variant, model_version, scores, records))
                self._rows += n
                dropped = False
        if dropped and self._on_drop:
            self._on_drop(n)
        return not dropped

    def flush(self) -> int:
        """Write what is queued now; returns the rows written. Safe to call from any thread."""
        with self._flush_lock:
            with self._lock:
                batches, self._queue = list(self._queue), deque()
                self._rows = 0
            if not batches:
                return 0
            by_hour: dict[tuple[str, str], list[_Batch]] = {}
            for b in batches:
                ts = b.ts.astimezone(UTC)
                by_hour.setdefault((ts.strftime("%Y-%m-%d"), ts.strftime("%H")), []).append(b)
            written = 0
            for (date, hour), group in by_hour.items():
                table = to_table(group)
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
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception:  # never let the writer thread die
                logger.exception("prediction log flush failed")

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the interval thread and write what is left (called on shutdown)."""
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        self.flush()
