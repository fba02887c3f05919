"""The scoring service through BentoML's in-process test client (Starlette on `to_asgi()`)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from serving_models import feature_records
from starlette.testclient import TestClient

from workloads.features.encoding import FeatureSpec, encode
from workloads.registry import client as registry_client
from workloads.serving.abtest import assign


@pytest.fixture
def make_client(registry, serving_env):
    from workloads.serving.service import TransactionRisk

    clients = []

    def build(**env: object) -> TestClient:
        serving_env(**env)
        _forget_bentoml_metrics()
        client = TestClient(TransactionRisk.to_asgi(), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for c in clients:
        c.__exit__(None, None, None)


def _forget_bentoml_metrics() -> None:
    """BentoML registers its HTTP metrics in prometheus_client's default registry once per app,
    assuming one app per process; a second test app would collide, so drop the first's."""
    from prometheus_client import REGISTRY

    for collector in list(REGISTRY._collector_to_names):
        if any(n.startswith("bentoml_") for n in REGISTRY._collector_to_names[collector]):
            REGISTRY.unregister(collector)


def _expected(version: str, records, precision: str = "fp32") -> np.ndarray:
    resolved = registry_client.resolve_version(version)
    spec = FeatureSpec.from_json(resolved.feature_spec.read_text())
    path = resolved.fp32_onnx if precision == "fp32" else resolved.int8_onnx
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    num, cat = encode(records, spec)
    return sess.run(["score"], {"numeric": num, "categorical": cat})[0]


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_serves_champion_and_challenger_with_verified_versions(make_client, registry):
    client = make_client()
    assert client.get("/readyz").status_code == 200
    status = client.post("/status", json={}).json()
    assert status["ready"] and status["reason"].startswith("verified")
    assert status["models"]["champion"]["version"] == registry.champion
    assert status["models"]["challenger"]["version"] == registry.challenger
    tags = registry_client.resolve_version(registry.champion).sha256
    assert status["models"]["champion"]["sha256"] == tags[registry_client.FP32_ONNX]

    records = feature_records(40, seed=3)
    keys = [f"acct-{i}" for i in range(40)]
    payload = {"requests": [{"key": k, "records": records[i : i + 1]} for i, k in enumerate(keys)]}
    body = client.post("/score", json=payload).json()
    assert [r["key"] for r in body] == keys
    for i, resp in enumerate(body):
        assert resp["variant"] == assign(keys[i], 0.5, "sahab-ab-1"), f"{keys[i]} routed off its sticky variant"
        version = registry.champion if resp["variant"] == "champion" else registry.challenger
        assert resp["model_version"] == version and resp["precision"] == "fp32"
        assert resp["scores"] == pytest.approx(_expected(version, records[i : i + 1]).tolist(), abs=1e-6)
    assert {r["variant"] for r in body} == {"champion", "challenger"}
    again = client.post("/score", json=payload).json()
    assert [r["variant"] for r in again] == [r["variant"] for r in body], "assignment must be sticky"

    metrics = client.get("/metrics").text
    for variant in ("champion", "challenger"):
        assert _metric(metrics, "sahab_serving_requests_total", variant=variant, mode="live") >= 1
        assert _metric(metrics, "sahab_serving_score_count", variant=variant, mode="live") >= 1
        assert _metric(metrics, "sahab_serving_inference_seconds_count", variant=variant) >= 1
    assert re.search(r"^sahab_serving_ready(\{[^}]*\})? 1\.0$", metrics, re.M), "ready gauge must read 1"


def test_int8_precision_and_multi_record_requests(make_client, registry):
    client = make_client(precision="int8", ab_mode="off")
    records = feature_records(300, seed=4)[:256]
    body = client.post("/score", json={"requests": [{"key": "k1", "records": records}]}).json()
    (resp,) = body
    assert resp["precision"] == "int8" and resp["variant"] == "champion" and len(resp["scores"]) == 256
    expected = _expected(registry.champion, records, "int8")
    assert np.allclose(resp["scores"], expected, atol=1e-6)
    fp32 = _expected(registry.champion, records, "fp32")
    assert np.max(np.abs(expected - fp32)) < 0.05, "int8 scores should stay close to fp32"


def test_shadow_mode_scores_challenger_but_returns_champion(make_client, registry):
    client = make_client(ab_mode="shadow")
    before = client.get("/metrics").text
    records = feature_records(10, seed=5)
    payload = {"requests": [{"key": f"s-{i}", "records": records} for i in range(20)]}
    body = client.post("/score", json=payload).json()
    assert {r["variant"] for r in body} == {"champion"}
    assert {r["model_version"] for r in body} == {registry.champion}
    after = client.get("/metrics").text

    def shadow(text):
        return _metric(text, "sahab_serving_records_total", variant="challenger", mode="shadow")

    assert shadow(after) - shadow(before) == 200, "the challenger must score every record in shadow"


BAD_PAYLOADS = [
    ("wrong type", lambda r: {"requests": [{"key": "k", "records": [{**r, "amount": "12.5"}]}]}, "amount"),
    ("bool as number", lambda r: {"requests": [{"key": "k", "records": [{**r, "txn_count_24h": True}]}]}, "txn_count_24h"),
    ("number as category", lambda r: {"requests": [{"key": "k", "records": [{**r, "channel": 3}]}]}, "channel"),
    ("missing feature", lambda r: {"requests": [{"key": "k", "records": [{k: v for k, v in r.items() if k != "country"}]}]}, "country"),
    ("unknown field", lambda r: {"requests": [{"key": "k", "records": [{**r, "amuont": 1.0}]}]}, "amuont"),
    ("huge number", lambda r: {"requests": [{"key": "k", "records": [{**r, "amount": 1e300}]}]}, "amount"),
    ("null key", lambda r: {"requests": [{"key": None, "records": [r]}]}, "key"),
    ("empty records", lambda r: {"requests": [{"key": "k", "records": []}]}, "records"),
    ("records not a list", lambda r: {"requests": [{"key": "k", "records": r}]}, "records"),
    ("no requests", lambda r: {}, "requests"),
    ("empty requests", lambda r: {"requests": []}, "requests"),
    ("oversized batch", lambda r: {"requests": [{"key": "k", "records": [r] * 257}]}, "records"),
    ("too many requests", lambda r: {"requests": [{"key": str(i), "records": [r]} for i in range(65)]}, "requests"),
]


@pytest.mark.parametrize("case,build,field", BAD_PAYLOADS, ids=[c[0] for c in BAD_PAYLOADS])
def test_bad_input_is_a_4xx_naming_the_field(make_client, case, build, field):
    client = make_client()
    record = feature_records(1, seed=6)[0]
    resp = client.post("/score", json=build(record))
    assert 400 <= resp.status_code < 500, f"{case}: {resp.status_code} {resp.text[:300]}"
    assert field in resp.text, f"{case}: the error must name {field!r}: {resp.text[:300]}"
    if case == "oversized batch":
        assert "at most 256" in resp.text


def test_garbage_never_yields_a_5xx(make_client):
    client = make_client()
    record = feature_records(1, seed=7)[0]
    rng = random.Random(0)
    junk = [None, "", "x", -1, 0, 1.5, True, [], {}, [1, 2], {"a": 1}, "9" * 400, -1e12]
    for raw in (b"", b"{", b"not json", b"[]", b"null", b'{"requests": 5}', "\u00ff".encode("latin-1")):
        resp = client.post("/score", content=raw, headers={"content-type": "application/json"})
        assert resp.status_code < 500, f"{raw!r}: {resp.status_code} {resp.text[:200]}"
    for i in range(150):
        rec = dict(record)
        for _ in range(rng.randint(1, 3)):
            rec[rng.choice([*rec, "extra"])] = rng.choice(junk)
        payload = {"requests": [{"key": rng.choice(["k", None, 5, ""]), "records": [rec]}]}
        resp = client.post("/score", json=payload)
        assert resp.status_code < 500, f"case {i} {json.dumps(payload)[:300]}: {resp.status_code} {resp.text[:200]}"
    for route in ("/feedback", "/promote", "/experiment_status"):
        resp = client.post(route, json={"apply": True})
        assert resp.status_code == 404, f"{route} must not exist on the scoring port: {resp.status_code}"


def _tamper(registry, version: str, filename: str) -> tuple[Path, bytes]:
    resolved = registry_client.resolve_version(version)
    run = registry_client.mlflow_client().get_run(resolved.run_id)
    path = Path(run.info.artifact_uri.removeprefix("file://")) / registry_client.ARTIFACT_DIR / filename
    return path, path.read_bytes()


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_bad_artifact_keeps_service_unready_and_says_why(make_client, registry, damage, caplog):
    path, original = _tamper(registry, registry.champion, registry_client.FP32_ONNX)
    try:
        if damage == "tampered":
            path.write_bytes(original[:-8] + b"\x00" * 8)
        else:
            path.unlink()
        client = make_client(reload_interval_s=3600)
        assert client.get("/readyz").status_code == 503
        status = client.post("/status", json={}).json()
        assert not status["ready"] and "model.fp32.onnx" in status["reason"], status
        expected = "differs" if damage == "tampered" else "missing"
        assert expected in status["reason"] or "download" in status["reason"], status["reason"]
        assert any("unready" in r.getMessage() for r in caplog.records), "the reason must be logged"
        record = feature_records(1)[0]
        resp = client.post("/score", json={"requests": [{"key": "k", "records": [record]}]})
        assert resp.status_code == 503
    finally:
        path.write_bytes(original)
    # Once the artifact is right again, the next readiness probe reloads (interval 0).
    client = make_client(reload_interval_s=0)
    assert client.get("/readyz").status_code == 200


def test_answers_carry_request_and_experiment_ids_and_the_prediction_log_gets_every_record(make_client, registry, tmp_path):
    import pyarrow.dataset as ds

    from workloads.serving.prediction_log import SCHEMA
    from workloads.serving.state import Experiment

    client = make_client(prediction_log_uri=tmp_path / "log", prediction_log_flush_s=3600)
    records = feature_records(6, seed=12)
    payload = {"requests": [{"key": f"log-{i}", "records": records[i : i + 2], **({"request_id": f"rid-{i}"} if i % 2 else {})} for i in range(5)]}
    body = client.post("/score", json=payload).json()
    expected_id = Experiment(registry_client.SahabSettings().model_name, registry.champion, registry.challenger, "sahab-ab-1", 0.5).id
    assert {r["experiment_id"] for r in body} == {expected_id}
    assert [r["request_id"] for r in body][1::2] == ["rid-1", "rid-3"], "a given request_id is echoed"
    assert all(len(r["request_id"]) == 32 for r in body[0::2]), "a missing request_id is generated"
    status = client.post("/status", json={}).json()
    readyz = client.get("/readyz").json()
    assert status["experiment_id"] == readyz["experiment_id"] == expected_id
    assert readyz["models"] == {"champion": registry.champion, "challenger": registry.challenger}

    from workloads.serving.service import _LIVE

    assert _LIVE[0].prediction_log.flush() == 10
    table = ds.dataset(tmp_path / "log", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 10 and table.schema.names[: len(SCHEMA)] == SCHEMA.names
    rows = table.to_pylist()
    by_request = {r["request_id"]: r for r in body}
    for row in rows:
        answer = by_request[row["request_id"]]
        assert row["variant"] == answer["variant"] and row["model_version"] == answer["model_version"]
        assert row["experiment_id"] == expected_id and row["key"] == answer["key"]
        assert min(abs(row["score"] - v) for v in answer["scores"]) < 1e-7, row
    assert sorted(r["amount"] for r in rows if r["amount"] is not None) == sorted(
        r["amount"] for req in payload["requests"] for r in req["records"] if r["amount"] is not None
    )


def test_a_moved_alias_is_reloaded_within_the_interval(make_client, registry_copy):
    import time

    client = make_client(reload_interval_s=0.5)
    assert client.get("/readyz").json()["models"]["champion"] == registry_copy.champion
    name = registry_client.SahabSettings().model_name
    registry_client.set_alias(name, "champion", registry_copy.challenger)
    registry_client.set_alias(name, "challenger", registry_copy.champion)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = client.get("/readyz").json()["models"]
        if live == {"champion": registry_copy.challenger, "challenger": registry_copy.champion}:
            break
        time.sleep(0.25)
    assert live == {"champion": registry_copy.challenger, "challenger": registry_copy.champion}, live
    body = client.post("/score", json={"requests": [{"key": "after-move", "records": feature_records(1)}]}).json()
    assert body[0]["model_version"] in {registry_copy.champion, registry_copy.challenger}
