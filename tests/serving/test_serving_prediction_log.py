"""The prediction log's contract: hive partitions, exact columns and types, bounded memory,
flush on close; to a folder and to S3 (a real moto server through AWS_ENDPOINT_URL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from servers import s3_server  # noqa: F401  (pytest fixture)

from workloads import storage
from workloads.data.schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
from workloads.serving.prediction_log import SCHEMA, PredictionLog


def _record(i: int) -> dict[str, object]:
    rec: dict[str, object] = {f: None for f in FEATURES}
    rec.update(amount=float(i), channel="pos" if i % 2 else None, txn_count_24h=3.0)
    return rec


def _append(log: PredictionLog, request_id: str, n: int, ts: datetime, experiment: str | None = "e1") -> bool:
    return log.append(
        request_id=request_id,
        key=f"k-{request_id}",
        experiment_id=experiment,
        variant="challenger",
        model_version="7",
        scores=[0.25] * n,
        records=[_record(i) for i in range(n)],
        ts=ts,
    )


def test_columns_types_and_hive_partitions(tmp_path):
    log = PredictionLog(str(tmp_path / "log"), flush_s=3600, host="pod/1")
    t1 = datetime(2026, 12, 1, 22, 59, 59, 999_999, tzinfo=UTC)
    t2 = datetime(2026, 12, 1, 23, 0, 0, tzinfo=UTC)
    assert _append(log, "r1", 3, t1) and _append(log, "r2", 2, t2, experiment=None)
    log.close()
    files = sorted(p.relative_to(tmp_path / "log").as_posix() for p in (tmp_path / "log").rglob("*.parquet"))
    assert [f.rsplit("/", 1)[0] for f in files] == ["date=2026-12-01/hour=22", "date=2026-12-01/hour=23"], files
    assert all(f.rsplit("/", 1)[1].startswith("part-pod_1-") for f in files), files
    table = ds.dataset(tmp_path / "log", format="parquet", partitioning="hive").to_table()
    head = pa.schema(list(table.schema)[: len(SCHEMA)])
    assert head.names == ["request_id", "ts", "key", "experiment_id", "variant", "model_version", "score", *NUMERIC_FEATURES, *CATEGORICAL_FEATURES]
    assert head.field("ts").type == pa.timestamp("us", tz="UTC") and head.field("score").type == pa.float64()
    assert all(head.field(f).type == pa.float64() for f in NUMERIC_FEATURES)
    assert all(head.field(f).type == pa.string() for f in CATEGORICAL_FEATURES)
    rows = sorted(table.to_pylist(), key=lambda r: (r["request_id"], r["amount"]))
    assert [r["request_id"] for r in rows] == ["r1"] * 3 + ["r2"] * 2
    assert [r["experiment_id"] for r in rows] == ["e1"] * 3 + [None] * 2
    assert rows[0]["ts"] == t1 and rows[1]["channel"] == "pos" and rows[0]["channel"] is None
    assert rows[0]["merchant_category"] is None and rows[2]["amount"] == 2.0


def test_a_full_buffer_drops_and_counts_instead_of_growing(tmp_path):
    dropped: list[int] = []
    log = PredictionLog(str(tmp_path / "log"), flush_s=3600, max_rows=5, on_drop=dropped.append)
    now = datetime.now(UTC)
    assert _append(log, "a", 4, now)
    assert not _append(log, "b", 2, now), "4 + 2 rows exceed max_rows=5"
    assert log.dropped == 2 and dropped == [2]
    assert log.flush() == 4 and _append(log, "c", 5, now), "a flush frees the buffer"
    log.close()
    assert log.written == 9
    with pytest.raises(ValueError, match="2 scores for 1 records"):
        log.append(request_id="x", key="k", experiment_id=None, variant="champion", model_version="1", scores=[0.1, 0.2], records=[_record(0)])


def test_written_on_the_interval_without_a_flush_call(tmp_path):
    import time

    log = PredictionLog(str(tmp_path / "log"), flush_s=0.2)
    _append(log, "r", 2, datetime.now(UTC))
    deadline = time.monotonic() + 10
    while log.written < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.written == 2
    log.close()


@pytest.mark.slow
def test_to_s3_through_an_s3_compatible_endpoint(s3_server, monkeypatch):
    import boto3

    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.env.get("AWS_ACCESS_KEY_ID", "testing"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.env.get("AWS_SECRET_ACCESS_KEY", "testing"))
    monkeypatch.setenv("AWS_REGION", "me-central-1")
    bucket = f"offline-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=s3_server.url, region_name="me-central-1")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "me-central-1"})
    log = PredictionLog(f"s3://{bucket}/serving-log/", flush_s=3600, host="pod-a")
    _append(log, "r1", 3, datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    log.close()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("serving-log/date=2026-12-01/hour=09/part-pod-a-"), keys
    fs, root = storage.filesystem(f"s3://{bucket}/serving-log/")
    table = ds.dataset(root, filesystem=fs, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 3 and table.column("model_version").to_pylist() == ["7"] * 3
