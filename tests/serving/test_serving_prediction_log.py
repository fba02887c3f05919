"""The prediction log's contract (section 5 of the project contracts): hive partitions, the exact
columns and types for any project, record index, mode, multiclass answers, bounded memory, staging
out of the collector's view, flush on close; to a folder and to S3 (a real moto server through
AWS_ENDPOINT_URL)."""

from __future__ import annotations

import gc
import time
import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from servers import s3_server  # noqa: F401  (pytest fixture)
from serving_models import BINARY, write_multiclass_project

from workloads import storage
from workloads.project import load_project
from workloads.serving.prediction_log import HEAD, PredictionLog, log_schema


@pytest.fixture(scope="module")
def binary():
    return load_project(BINARY)


def _record(project, i: int) -> dict[str, object]:
    spec = project.spec
    rec: dict[str, object] = {f: None for f in spec.feature_names}
    rec[spec.numeric[0]] = float(i)
    rec[spec.categorical[0]] = "pos" if i % 2 else None
    rec[spec.numeric[2]] = 3.0
    return rec


def _append(log: PredictionLog, project, request_id: str, n: int, ts: datetime, experiment: str | None = "e1", mode: str = "live") -> bool:
    return log.append(
        request_id=request_id,
        key=f"k-{request_id}",
        experiment_id=experiment,
        variant="challenger",
        model_version="7",
        mode=mode,
        scores=[0.25] * n,
        records=[_record(project, i) for i in range(n)],
        ts=ts,
    )


def test_columns_types_and_hive_partitions(tmp_path, binary):
    spec = binary.spec
    log = PredictionLog(str(tmp_path / "log"), binary, flush_s=3600, host="pod/1")
    t1 = datetime(2026, 12, 1, 22, 59, 59, 999_999, tzinfo=UTC)
    t2 = datetime(2026, 12, 1, 23, 0, 0, tzinfo=UTC)
    assert _append(log, binary, "r1", 3, t1) and _append(log, binary, "r2", 2, t2, experiment=None, mode="shadow")
    log.close()
    files = sorted(p.relative_to(tmp_path / "log").as_posix() for p in (tmp_path / "log").rglob("*.parquet"))
    assert [f.rsplit("/", 1)[0] for f in files] == ["date=2026-12-01/hour=22", "date=2026-12-01/hour=23"], files
    assert all(f.rsplit("/", 1)[1].startswith("part-pod_1-") for f in files), files
    table = ds.dataset(tmp_path / "log", format="parquet", partitioning="hive").to_table()
    head = pa.schema(list(table.schema)[: len(log_schema(spec))])
    expected = [
        "request_id",
        "record",
        "ts",
        "key",
        "experiment_id",
        "variant",
        "model_version",
        "mode",
        "score",
        "prediction",
        "probabilities",
        "reasons",
        *spec.numeric,
        *spec.categorical,
    ]
    assert head.names == expected, f"columns of the contract, in order: {head.names}"
    assert head.field("ts").type == pa.timestamp("us", tz="UTC") and head.field("score").type == pa.float64()
    assert head.field("record").type == pa.int32() and head.field("probabilities").type == pa.list_(pa.float64())
    assert all(head.field(f).type == pa.float64() for f in spec.numeric), "numeric features are float64"
    assert all(head.field(f).type == pa.string() for f in spec.categorical), "categorical features are strings"
    rows = sorted(table.to_pylist(), key=lambda r: (r["request_id"], r["record"]))
    assert [(r["request_id"], r["record"]) for r in rows] == [("r1", 0), ("r1", 1), ("r1", 2), ("r2", 0), ("r2", 1)], "record: index in its keyed request"
    assert [r["experiment_id"] for r in rows] == ["e1"] * 3 + [None] * 2
    assert [r["mode"] for r in rows] == ["live"] * 3 + ["shadow"] * 2
    first_num, first_cat = spec.numeric[0], spec.categorical[0]
    assert rows[0]["ts"] == t1 and rows[1][first_cat] == "pos" and rows[0][first_cat] is None
    assert rows[0][spec.numeric[1]] is None and rows[2][first_num] == 2.0
    assert all(r["prediction"] is None and r["probabilities"] is None for r in rows), "binary rows carry no class answer"


def test_multiclass_rows_carry_the_class_and_every_probability(tmp_path):
    project = write_multiclass_project(tmp_path / "projects")
    log = PredictionLog(str(tmp_path / "log"), project, flush_s=3600)
    probabilities = [[0.2, 0.5, 0.3], [0.7, 0.2, 0.1]]
    assert log.append(
        request_id="m1",
        key="s1",
        experiment_id=None,
        variant="champion",
        model_version="2",
        scores=[0.5, 0.7],
        predictions=["upgrade", "stay"],
        probabilities=probabilities,
        records=[_record(project, 0), _record(project, 1)],
        ts=datetime(2026, 12, 2, 8, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match="1 predictions for 2 records"):
        log.append(
            request_id="x", key="k", experiment_id=None, variant="champion", model_version="1", scores=[0.1, 0.2], predictions=["stay"], records=[{}, {}]
        )
    with pytest.raises(ValueError, match="mode 'replay'"):
        log.append(request_id="x", key="k", experiment_id=None, variant="champion", model_version="1", scores=[0.1], records=[{}], mode="replay")
    log.close()
    rows = ds.dataset(tmp_path / "log", format="parquet", partitioning="hive").to_table().to_pylist()
    assert [(r["prediction"], r["probabilities"], r["score"]) for r in rows] == [("upgrade", probabilities[0], 0.5), ("stay", probabilities[1], 0.7)]
    assert log_schema(project).names[len(HEAD) :] == ["tenure_months", "monthly_spend", "support_calls", "plan", "region"], "the project's features follow"


def test_a_full_buffer_drops_and_counts_instead_of_growing(tmp_path, binary):
    dropped: list[int] = []
    log = PredictionLog(str(tmp_path / "log"), binary, flush_s=3600, max_rows=5, on_drop=dropped.append)
    now = datetime.now(UTC)
    assert _append(log, binary, "a", 4, now)
    assert log.stage() == 4, "staged rows still count against max_rows"
    assert not _append(log, binary, "b", 2, now), "4 + 2 rows exceed max_rows=5"
    assert log.dropped == 2 and dropped == [2]
    assert log.flush() == 4 and _append(log, binary, "c", 5, now), "a flush frees the buffer"
    log.close()
    assert log.written == 9
    with pytest.raises(ValueError, match="2 scores for 1 records"):
        log.append(request_id="x", key="k", experiment_id=None, variant="champion", model_version="1", scores=[0.1, 0.2], records=[_record(binary, 0)])


def test_waiting_rows_hold_nothing_the_collector_tracks(tmp_path, binary):
    """Rows waiting for the flush, buffered or staged, are no objects the garbage collector tracks:
    a request's objects die young instead of being promoted and setting off full collections (the
    serving benchmark's throughput and p99 under load: module docstring of prediction_log)."""
    log = PredictionLog(str(tmp_path / "log"), binary, flush_s=3600, stage_s=3600)
    now = datetime.now(UTC)
    gc.collect()
    baseline = len(gc.get_objects())
    for i in range(2000):
        _append(log, binary, f"r{i}", 1, now)
    for i in range(200):
        _append(log, binary, f"m{i}", 3, now)
    gc.collect()
    buffered = len(gc.get_objects()) - baseline
    assert log.stage() == 2600
    gc.collect()
    staged = len(gc.get_objects()) - baseline
    assert buffered < 100 and staged < 100, f"objects the collector tracks for 2,600 waiting rows: {buffered} buffered, {staged} staged"
    assert log.flush() == 2600
    log.close()


def test_written_on_the_interval_without_a_flush_call(tmp_path, binary):
    log = PredictionLog(str(tmp_path / "log"), binary, flush_s=0.2)
    _append(log, binary, "r", 2, datetime.now(UTC))
    deadline = time.monotonic() + 10
    while log.written < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.written == 2
    log.close()


@pytest.mark.slow
def test_to_s3_through_an_s3_compatible_endpoint(s3_server, monkeypatch, binary):
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
    log = PredictionLog(f"s3://{bucket}/serving-log/transaction-risk/", binary, flush_s=3600, host="pod-a")
    _append(log, binary, "r1", 3, datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    log.close()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 1 and keys[0].startswith("serving-log/transaction-risk/date=2026-12-01/hour=09/part-pod-a-"), keys
    fs, root = storage.filesystem(f"s3://{bucket}/serving-log/transaction-risk/")
    table = ds.dataset(root, filesystem=fs, format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 3 and table.column("model_version").to_pylist() == ["7"] * 3


def test_explained_records_keep_their_reasons_and_the_others_a_null(tmp_path, binary):
    """Issue 22: an explained request's reason codes are logged with its predictions (nullable column)."""
    log = PredictionLog(str(tmp_path / "log"), binary, flush_s=3600)
    ts = datetime(2026, 12, 3, 9, tzinfo=UTC)
    reasons = [[{"feature": "amount", "contribution": 1.5}, {"feature": "channel", "contribution": -0.25}], [{"feature": "amount", "contribution": 0.1}]]
    common = {"experiment_id": None, "variant": "champion", "model_version": "3", "ts": ts}
    assert log.append(request_id="e1", key="k1", scores=[0.9, 0.2], records=[_record(binary, 0), _record(binary, 1)], reasons=reasons, **common)
    assert log.append(request_id="p1", key="k2", scores=[0.4], records=[_record(binary, 2)], **common)
    with pytest.raises(ValueError, match="1 reasons for 2 records"):
        log.append(request_id="x", key="k", scores=[0.1, 0.2], records=[{}, {}], reasons=[[]], **common)
    log.close()
    table = ds.dataset(tmp_path / "log", format="parquet", partitioning="hive").to_table()
    assert table.schema.field("reasons").nullable, "reasons is nullable: most requests ask for no explanation"
    rows = sorted(table.to_pylist(), key=lambda r: (r["request_id"], r["record"]))
    assert [r["reasons"] for r in rows] == [*reasons, None], f"reasons column per record: {[r['reasons'] for r in rows]}"
