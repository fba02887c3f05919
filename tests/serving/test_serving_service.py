"""The generic scoring service through BentoML's in-process test client (Starlette on `to_asgi()`),
for each task's project: shapes, the version's own scores, sticky routing, the fast path against
BentoML's API path, int8, shadow off the request path, validation, integrity, the prediction log,
exposures and the batcher."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.dataset as ds
import pytest
from serving_models import REPO, entity_keys, feature_records
from starlette.testclient import TestClient

from workloads.evaluation import predict_onnx
from workloads.features.encoding import FeatureSpec, encode
from workloads.registry import client as registry_client
from workloads.serving.batching import MicroBatcher, Overloaded
from workloads.serving.exposures import parse_request_id
from workloads.serving.model import Encoder
from workloads.serving.prediction_log import log_schema
from workloads.serving.state import Experiment, open_store

SALT = "sahab-ab-1"


@dataclass
class Served:
    http: TestClient
    core: object
    """The worker's ScoringCore (workloads.serving.service)."""
    versions: object
    """serving_models.Versions of the project."""

    @property
    def project(self):
        return self.versions.project

    def score(self, requests: list[dict], **kwargs):
        return self.http.post("/score", json={"requests": requests}, **kwargs)


@pytest.fixture
def serve(registry, serving_env, monkeypatch):
    from workloads.serving.service import build_service

    clients = []

    def build(task: str = "binary", *, source=None, **env: object) -> Served:
        """The service of `task`'s project on the session registry (or `source`, a registry_copy)."""
        for key, value in (source or registry).env(task).items():
            monkeypatch.setenv(key, value)
        serving_env(**env)
        _forget_bentoml_metrics()
        service = build_service(registry.versions[task].project)
        client = TestClient(service.to_asgi(), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Served(client, service.inner.live_cores[0], registry.versions[task])

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


def _reference(project, version: str, records, precision: str = "fp32"):
    """The version's answer computed apart from the service: its own encoding (pandas `encode`) and
    a fresh onnxruntime session (workloads.evaluation.predict_onnx)."""
    resolved = registry_client.resolve_version(version, name=project.name)
    spec = FeatureSpec.from_json(resolved.feature_spec.read_text())
    return predict_onnx(resolved.fp32_onnx if precision == "fp32" else resolved.int8_onnx, spec, records)


def _metric(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples with these labels in a /metrics page (metrics are per process and
    the tests share one: compare before and after)."""
    total = 0.0
    for line in text.splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.parametrize("task", ["binary", "regression", "multiclass"])
def test_each_task_answers_with_its_shapes_and_the_versions_own_scores(serve, registry, task):
    served = serve(task)
    project, versions = served.project, served.versions
    served.core.tally.flush()
    before = served.http.get("/metrics").text
    readyz = served.http.get("/readyz")
    assert readyz.status_code == 200 and readyz.json()["project"] == project.name, readyz.text
    status = served.http.post("/status", json={}).json()
    assert status["ready"] and status["reason"].startswith("verified"), status
    assert {v: m["version"] for v, m in status["models"].items()} == {"champion": versions.champion, "challenger": versions.challenger}
    tags = registry_client.resolve_version(versions.champion, name=project.name).sha256
    assert status["models"]["champion"]["sha256"] == tags[registry_client.FP32_ONNX], "status must name the sha256 of the graph that runs"

    records = feature_records(project, 40, seed=3)
    keys = entity_keys(project, 39, f"{task}-")
    payload = [{"key": k, "records": records[i : i + 1]} for i, k in enumerate(keys)] + [{"key": keys[0], "records": records[:5]}]
    resp = served.score(payload)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    experiment = Experiment(project.name, versions.champion, versions.challenger, SALT, 0.5)
    assert [a["key"] for a in body] == [p["key"] for p in payload]
    for i, answer in enumerate(body):
        recs = payload[i]["records"]
        assert answer["variant"] == experiment.variant(answer["key"]), f"{answer['key']}: routed off its sticky variant"
        version = versions.champion if answer["variant"] == "champion" else versions.challenger
        assert answer["model_name"] == project.name and answer["model_version"] == version and answer["precision"] == "fp32", answer
        assert answer["experiment_id"] == experiment.id, "every answer names the experiment that routed it"
        parsed = parse_request_id(answer["request_id"])
        assert parsed is not None and parsed[0] == experiment.id, f"generated request_id {answer['request_id']} must embed the experiment"
        assert abs(parsed[1] - _timestamp(answer["served_at"])) < 1e-3, "the request id's time is the answer's served_at"
        expected = _reference(project, version, recs)
        if task == "multiclass":
            assert set(answer) >= {"probabilities", "predictions", "classes"} and "scores" not in answer, answer
            assert answer["classes"] == list(project.spec.label.classes)
            probabilities = np.asarray(answer["probabilities"])
            assert probabilities.shape == (len(recs), 3) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5), (
                "probabilities: one row per record, summing to 1"
            )
            assert np.allclose(probabilities, expected.probabilities, atol=1e-5), f"{answer['key']}: probabilities differ from the version's own"
            assert answer["predictions"] == list(expected.prediction), "predictions: the most probable class"
        else:
            assert "probabilities" not in answer and len(answer["scores"]) == len(recs), answer
            assert np.allclose(answer["scores"], expected.score, rtol=1e-6, atol=1e-6), f"{answer['key']}: scores differ from the version's own"
            if task == "binary":
                assert all(0.0 <= s <= 1.0 for s in answer["scores"]), "binary scores are P(positive)"
    assert {a["variant"] for a in body} == {"champion", "challenger"}, "a 50% split over 40 keys shows both variants"
    again = served.score(payload).json()
    assert [a["variant"] for a in again] == [a["variant"] for a in body], "assignment must be sticky"

    served.core.tally.flush()
    metrics = served.http.get("/metrics").text
    for variant in ("champion", "challenger"):

        def grew(name: str, variant: str = variant, **labels: str) -> float:
            return _metric(metrics, name, variant=variant, **labels) - _metric(before, name, variant=variant, **labels)

        answered = sum(a["variant"] == variant for a in body + again)
        assert grew("sahab_serving_requests_total", mode="live") == answered, f"{variant}: every keyed request counted once"
        assert grew("sahab_serving_inference_seconds_count") >= 1, f"no latency observed for {variant}"
        scored = grew("sahab_serving_score_count", mode="live")
        records = sum(len(p["records"]) for p, a in zip(payload + payload, body + again, strict=True) if a["variant"] == variant)
        assert scored == (records if task != "regression" else 0), f"{task}: the score histogram holds every probability (none for a regression value)"
    assert re.search(r"^sahab_serving_ready(\{[^}]*\})? 1\.0$", metrics, re.M), "ready gauge must read 1"


def _timestamp(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_the_fast_path_answers_exactly_as_bentomls_api_path(serve, task):
    fast = serve(task)
    api = serve(task, fast_path="false")
    records = feature_records(fast.project, 6, seed=4)
    keys = entity_keys(fast.project, 3, "paths-")
    payload = [{"key": k, "request_id": f"rid-{i}", "records": records[2 * i : 2 * i + 2]} for i, k in enumerate(keys)]
    a, b = fast.score(payload), api.score(payload)
    assert a.status_code == b.status_code == 200, (a.text, b.text)
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"

    def comparable(answers):
        return [{k: v for k, v in x.items() if k != "served_at"} for x in answers]

    assert comparable(a.json()) == comparable(b.json()), "the fast path must answer what BentoML's API path answers"
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", x["served_at"]) for x in a.json() + b.json()), "served_at: the same ISO form"
    bad = [{"key": keys[0], "records": [{**records[0], "surprise": 1}]}]
    ea, eb = fast.score(bad), api.score(bad)
    assert ea.status_code == eb.status_code == 400
    assert ea.json()["detail"][0]["loc"] == eb.json()["detail"][0]["loc"] == ["requests", 0, "records", 0, "surprise"], (ea.text, eb.text)
    assert ea.json()["error"] == eb.json()["error"], "the same error line"


def test_int8_where_the_version_has_it_and_fp32_where_it_has_none(serve):
    binary = serve("binary", precision="int8", ab_mode="off")
    records = feature_records(binary.project, 256, seed=4)
    (answer,) = binary.score([{"key": "7", "records": records}]).json()
    assert answer["precision"] == "int8" and answer["variant"] == "champion" and len(answer["scores"]) == 256, answer
    expected = _reference(binary.project, binary.versions.champion, records, "int8").score
    assert np.allclose(answer["scores"], expected, atol=1e-6), "int8 answers are the int8 graph's"

    trees = serve("regression", precision="int8", ab_mode="off")
    (answer,) = trees.score([{"key": "courier-1", "records": feature_records(trees.project, 3)}]).json()
    assert answer["precision"] == "fp32", "a tree model has no int8 graph: it is served in fp32 and says so"
    reason = trees.http.post("/status", json={}).json()["reason"]
    assert "no int8 graph" in reason and "fp32" in reason, reason


def test_shadow_scores_off_the_request_path_and_logs_both_for_the_same_requests(serve, tmp_path):
    served = serve("multiclass", ab_mode="shadow", prediction_log_uri=tmp_path / "log", prediction_log_flush_s=3600)
    core, versions, project = served.core, served.versions, served.project
    before = _metric(served.http.get("/metrics").text, "sahab_serving_records_total", variant="challenger", mode="shadow")
    challenger = core._models["challenger"]
    gate, entered = threading.Event(), threading.Event()
    original = challenger.predict

    def slow_predict(records):
        entered.set()
        gate.wait(30)
        return original(records)

    # A challenger that takes as long as the test wants: the live answers must not wait for it.
    object.__setattr__(challenger, "predict", slow_predict)
    records = feature_records(project, 20, seed=5)
    keys = entity_keys(project, 20, "shadow-")
    started = time.monotonic()
    answers = []
    for i in range(0, 20, 5):
        resp = served.score([{"key": k, "records": records[j : j + 1]} for j, k in enumerate(keys[i : i + 5], start=i)])
        assert resp.status_code == 200, resp.text
        answers += resp.json()
    live_s = time.monotonic() - started
    assert entered.wait(10), "the challenger must be asked to shadow-score"
    assert {a["variant"] for a in answers} == {"champion"} and {a["model_version"] for a in answers} == {versions.champion}
    assert {a["experiment_id"] for a in answers} == {None}, "shadow mode runs no experiment"
    assert live_s < 10, f"live answers waited for the blocked challenger ({live_s:.1f} s)"
    gate.set()
    core.shadow.drain()
    assert core.prediction_log.flush() == 40, "20 live rows and 20 shadow rows"
    rows = ds.dataset(tmp_path / "log", format="parquet", partitioning="hive").to_table().to_pylist()
    live = {r["request_id"]: r for r in rows if r["mode"] == "live"}
    shadow = {r["request_id"]: r for r in rows if r["mode"] == "shadow"}
    assert set(live) == set(shadow) == {a["request_id"] for a in answers}, "shadow rows for the same request ids as the live ones"
    expected = _reference(project, versions.challenger, records)
    for a in answers:
        i = keys.index(a["key"])
        s, li = shadow[a["request_id"]], live[a["request_id"]]
        assert (s["variant"], s["model_version"], li["variant"], li["model_version"]) == ("challenger", versions.challenger, "champion", versions.champion)
        assert s["record"] == li["record"] == 0 and s["tenure_months"] == li["tenure_months"] == records[i]["tenure_months"]
        assert np.allclose(s["probabilities"], expected.probabilities[i], atol=1e-5), f"{a['key']}: shadow probabilities are the challenger's"
        assert s["prediction"] == expected.prediction[i]
    core.tally.flush()
    metrics = served.http.get("/metrics").text
    assert _metric(metrics, "sahab_serving_records_total", variant="challenger", mode="shadow") - before == 20, "the challenger shadow-scored every record once"


def test_a_full_shadow_queue_drops_and_counts_instead_of_delaying(serve):
    served = serve("binary", ab_mode="shadow", shadow_queue=1)
    before = _metric(served.http.get("/metrics").text, "sahab_serving_shadow_dropped_total")
    challenger = served.core._models["challenger"]
    gate = threading.Event()
    original = challenger.predict
    object.__setattr__(challenger, "predict", lambda records: (gate.wait(30), original(records))[1])
    records = feature_records(served.project, 8, seed=6)
    for i in range(8):
        assert served.score([{"key": str(i), "records": records[i : i + 1]}]).status_code == 200
    gate.set()
    served.core.shadow.drain()
    assert served.core.shadow.dropped >= 5, f"one batch in the worker and one queued at most; dropped {served.core.shadow.dropped}"
    assert served.core.shadow.scored + served.core.shadow.dropped == 8, "every request is either shadow-scored or counted as dropped"
    metrics = served.http.get("/metrics").text
    assert _metric(metrics, "sahab_serving_shadow_dropped_total") - before == served.core.shadow.dropped, "every drop is counted"


def _bad_payloads(spec) -> list[tuple[str, object, str]]:
    num, cat = spec.numeric[0], spec.categorical[0]

    def one(rec):
        return {"requests": [{"key": "12", "records": [rec]}]}

    return [
        ("wrong type", lambda r: one({**r, num: "12.5"}), num),
        ("bool as number", lambda r: one({**r, num: True}), num),
        ("number as category", lambda r: one({**r, cat: 3}), cat),
        ("unknown field", lambda r: one({**r, "amuont": 1.0}), "amuont"),
        ("huge number", lambda r: one({**r, num: 1e300}), num),
        ("null key", lambda r: {"requests": [{"key": None, "records": [r]}]}, "key"),
        ("key of another entity", lambda r: {"requests": [{"key": "acct-1", "records": [r]}]}, "key"),
        ("empty records", lambda r: {"requests": [{"key": "1", "records": []}]}, "records"),
        ("records not a list", lambda r: {"requests": [{"key": "1", "records": r}]}, "records"),
        ("no requests", lambda r: {}, "requests"),
        ("empty requests", lambda r: {"requests": []}, "requests"),
        ("oversized batch", lambda r: {"requests": [{"key": "1", "records": [r] * 257}]}, "records"),
        ("too many requests", lambda r: {"requests": [{"key": str(i), "records": [r]} for i in range(65)]}, "requests"),
    ]


def test_bad_input_is_a_4xx_naming_the_field(serve):
    served = serve("binary")
    record = feature_records(served.project, 1, seed=6)[0]
    for case, build, field in _bad_payloads(served.project.spec):
        resp = served.http.post("/score", json=build(record))
        assert 400 <= resp.status_code < 500, f"{case}: {resp.status_code} {resp.text[:300]}"
        assert field in resp.text, f"{case}: the error must name {field!r}: {resp.text[:300]}"
        if case == "oversized batch":
            assert "at most 256" in resp.text


def test_required_features_and_absent_nullable_ones(serve):
    served = serve("multiclass")
    record = feature_records(served.project, 1, seed=7)[0]
    without = {k: v for k, v in record.items() if k != "tenure_months"}
    for rec in (without, {**record, "tenure_months": None}):
        resp = served.score([{"key": "s1", "records": [rec]}])
        assert resp.status_code == 400, resp.text
        assert resp.json()["detail"][0]["loc"] == ["requests", 0, "records", 0, "tenure_months"], "the non-nullable feature is named"
    sparse = {"tenure_months": 12.0}
    resp = served.score([{"key": "s1", "records": [sparse]}])
    assert resp.status_code == 200, f"nullable features may be left out: {resp.text}"
    assert len(resp.json()[0]["probabilities"][0]) == 3


def test_garbage_never_yields_a_5xx(serve):
    served = serve("binary")
    record = feature_records(served.project, 1, seed=7)[0]
    rng = random.Random(0)
    junk = [None, "", "x", -1, 0, 1.5, True, [], {}, [1, 2], {"a": 1}, "9" * 400, -1e12]
    for raw in (b"", b"{", b"not json", b"[]", b"null", b'{"requests": 5}', "\u00ff".encode("latin-1")):
        resp = served.http.post("/score", content=raw, headers={"content-type": "application/json"})
        assert resp.status_code < 500, f"{raw!r}: {resp.status_code} {resp.text[:200]}"
    for i in range(150):
        rec = dict(record)
        for _ in range(rng.randint(1, 3)):
            rec[rng.choice([*rec, "extra"])] = rng.choice(junk)
        payload = {"requests": [{"key": rng.choice(["12", None, 5, ""]), "records": [rec]}]}
        resp = served.http.post("/score", json=payload)
        assert resp.status_code < 500, f"case {i} {json.dumps(payload)[:300]}: {resp.status_code} {resp.text[:200]}"
    for route in ("/feedback", "/promote", "/experiment_status", "/labels"):
        resp = served.http.post(route, json={"apply": True})
        assert resp.status_code == 404, f"{route} must not exist on the scoring port: {resp.status_code}"


def _artifact(project, version: str, filename: str) -> Path:
    resolved = registry_client.resolve_version(version, name=project.name)
    run = registry_client.mlflow_client().get_run(resolved.run_id)
    return Path(run.info.artifact_uri.removeprefix("file://")) / registry_client.ARTIFACT_DIR / filename


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_bad_artifact_keeps_service_unready_and_says_why(serve, registry, damage, caplog):
    versions = registry.versions["regression"]
    path = _artifact(versions.project, versions.champion, registry_client.FP32_ONNX)
    original = path.read_bytes()
    try:
        if damage == "tampered":
            path.write_bytes(original[:-8] + b"\x00" * 8)
        else:
            path.unlink()
        served = serve("regression", reload_interval_s=3600)
        readyz = served.http.get("/readyz")
        assert readyz.status_code == 503 and "model.fp32.onnx" in readyz.json()["reason"], readyz.text
        expected = "differs" if damage == "tampered" else "missing"
        assert expected in readyz.json()["reason"] or "download" in readyz.json()["reason"], readyz.json()["reason"]
        assert any("unready" in r.getMessage() for r in caplog.records), "the reason must be logged"
        resp = served.score([{"key": "c1", "records": feature_records(versions.project, 1)}])
        assert resp.status_code == 503 and "no verified model" in resp.text, resp.text
    finally:
        path.write_bytes(original)
    # Once the artifact is right again, the next readiness probe reloads (interval 0).
    served = serve("regression", reload_interval_s=0)
    assert served.http.get("/readyz").status_code == 200


def test_a_version_that_does_not_fit_the_project_is_refused_with_the_reason(serve, registry_copy):
    """transaction-risk's champion alias moved to a version holding another project's graph and
    encoding (valid digests): the service refuses it at load and says why on /readyz."""
    other = registry_copy.versions["multiclass"]
    target = registry_copy.versions["binary"].project.name
    client = registry_client.mlflow_client()
    foreign = client.get_model_version(other.project.name, other.champion)
    misfit = client.create_model_version(target, source=foreign.source, run_id=foreign.run_id, tags=foreign.tags).version
    client.set_registered_model_alias(target, "champion", misfit)
    served = serve("binary", source=registry_copy, reload_interval_s=3600)
    readyz = served.http.get("/readyz")
    assert readyz.status_code == 503, readyz.text
    reason = readyz.json()["reason"]
    assert f"v{misfit}" in reason and "does not fit project 'transaction-risk'" in reason, reason
    assert "task 'multiclass' != the project's label.task 'binary'" in reason or "numeric features" in reason, reason


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_the_prediction_log_gets_every_record_with_the_contracts_columns(serve, task, tmp_path):
    served = serve(task, prediction_log_uri=tmp_path / "log", prediction_log_flush_s=3600)
    project, spec = served.project, served.project.spec
    records = feature_records(project, 6, seed=12)
    keys = entity_keys(project, 5, "log-")
    payload = [{"key": k, "records": records[i : i + 2], **({"request_id": f"rid-{i}"} if i % 2 else {})} for i, k in enumerate(keys)]
    body = served.score(payload).json()
    assert [a["request_id"] for a in body][1::2] == ["rid-1", "rid-3"], "a given request_id is echoed"
    assert served.core.prediction_log.flush() == 10
    table = ds.dataset(tmp_path / "log", format="parquet", partitioning="hive").to_table()
    schema = log_schema(spec)
    assert table.schema.names[: len(schema)] == schema.names, "columns in the contract's order (section 5)"
    assert all(table.schema.field(f.name).type == f.type for f in schema), "column types of the contract"
    by_request = {a["request_id"]: a for a in body}
    for row in table.to_pylist():
        answer = by_request[row["request_id"]]
        sent = next(p for p in payload if p["key"] == answer["key"])["records"][row["record"]]
        assert (row["variant"], row["model_version"], row["key"], row["mode"]) == (answer["variant"], answer["model_version"], answer["key"], "live")
        assert row["experiment_id"] == answer["experiment_id"] and row["ts"].timestamp() == pytest.approx(_timestamp(answer["served_at"]))
        assert all(row[f] == sent[f] or (row[f] is None and sent[f] is None) for f in spec.feature_names), (
            f"{row['request_id']}#{row['record']}: features as sent"
        )
        if task == "multiclass":
            assert row["probabilities"] == pytest.approx(answer["probabilities"][row["record"]]) and row["prediction"] == answer["predictions"][row["record"]]
            assert row["score"] == pytest.approx(max(row["probabilities"]))
        else:
            assert row["score"] == pytest.approx(answer["scores"][row["record"]]) and row["prediction"] is None and row["probabilities"] is None


def test_exposures_and_guardrail_counts_reach_the_experiment_store(serve, tmp_path):
    served = serve("regression", ab_state_path=tmp_path / "ab.sqlite")
    project, versions = served.project, served.versions
    keys = entity_keys(project, 30, "exposed-")
    records = feature_records(project, 30, seed=13)
    body = served.score([{"key": k, "records": records[i : i + 1]} for i, k in enumerate(keys)]).json()
    served.core.exposures.flush()
    store = open_store(served.core.settings, served.core.sahab.home)
    experiment_id = body[0]["experiment_id"]
    assert store.experiment(experiment_id) == Experiment(project.name, versions.champion, versions.challenger, SALT, 0.5), "the experiment is registered"
    counters = store.counters(experiment_id)
    by_variant = {v: sum(a["variant"] == v for a in body) for v in ("champion", "challenger")}
    assert {v: counters.get(f"{v}:requests", 0) for v in by_variant} == by_variant, f"guardrail request counts per variant: {counters}"
    assert store.started_at(experiment_id) is not None, "the first exposure starts the experiment's clock"


def test_a_moved_alias_is_reloaded_within_the_interval(serve, registry_copy):
    versions = registry_copy.versions["regression"]
    served = serve("regression", source=registry_copy, reload_interval_s=0.5)
    assert served.http.get("/readyz").json()["models"]["champion"] == versions.champion
    name = versions.project.name
    registry_client.set_alias(name, "champion", versions.challenger)
    registry_client.set_alias(name, "challenger", versions.champion)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = served.http.get("/readyz").json()["models"]
        if live == {"champion": versions.challenger, "challenger": versions.champion}:
            break
        time.sleep(0.25)
    assert live == {"champion": versions.challenger, "challenger": versions.champion}, live
    body = served.score([{"key": "after-move", "records": feature_records(versions.project, 1)}]).json()
    assert body[0]["model_version"] in {versions.champion, versions.challenger}


def test_the_encoder_is_the_encodings_encode(registry):
    """The service's pandas-free encoder gives the arrays `workloads.features.encoding.encode` gives
    (the one training, export and evaluation use), on missing, null, NaN and unseen values."""
    for task in ("binary", "regression", "multiclass"):
        versions = registry.versions[task]
        resolved = registry_client.resolve_version(versions.champion, name=versions.project.name)
        spec = FeatureSpec.from_json(resolved.feature_spec.read_text())
        records = feature_records(versions.project, 200, seed=14)
        rng = random.Random(1)
        for rec in records:
            name = rng.choice(spec.features)
            roll = rng.random()
            if roll < 0.3:
                rec.pop(name, None)
            elif roll < 0.5:
                rec[name] = None
            elif roll < 0.6 and name in spec.numeric:
                rec[name] = math.nan
            elif roll < 0.8 and name in spec.categorical:
                rec[name] = "never-seen-before"
        numeric, categorical = Encoder(spec)(records)
        ref_numeric, ref_categorical = encode(records, spec)
        assert numeric.dtype == np.float32 and categorical.dtype == np.int64
        assert np.array_equal(numeric, ref_numeric) and np.array_equal(categorical, ref_categorical), f"{task}: Encoder differs from encode()"


# --- the batcher -----------------------------------------------------------------------------------


def test_calls_in_one_turn_of_the_loop_share_one_model_call():
    seen: list[list[int]] = []

    def double(items):
        seen.append(list(items))
        return [2 * x for x in items]

    batcher = MicroBatcher(double, max_items=64, inline_records=64)

    async def run():
        return await asyncio.gather(*(batcher.submit([i, i + 100]) for i in range(10)))

    results = asyncio.run(run())
    assert results == [[2 * i, 2 * (i + 100)] for i in range(10)], "each caller gets its own results, in order"
    assert len(seen) == 1 and len(seen[0]) == 20, f"ten concurrent calls merge into one model call: {seen}"
    batcher.close()


def test_large_calls_go_to_the_model_thread_and_errors_reach_every_caller():
    threads: list[str] = []

    def fn(items):
        threads.append(threading.current_thread().name)
        if "boom" in items:
            raise ValueError("model failed")
        return items

    batcher = MicroBatcher(fn, max_items=4, inline_records=2, name="model-batcher-test")

    async def run():
        small = await batcher.submit([1])
        large = await batcher.submit([1, 2, 3], records=3)
        with pytest.raises(ValueError, match="model failed"):
            await batcher.submit(["boom"])
        return small, large

    small, large = asyncio.run(run())
    assert small == [1] and large == [1, 2, 3]
    assert threads[:2] == [threading.main_thread().name, "model-batcher-test"], f"small calls inline, large ones on the model thread: {threads}"
    batcher.close()


def test_a_call_that_waited_past_the_budget_is_refused_as_overloaded():
    release = threading.Event()

    def slow(items):
        release.wait(5)
        return items

    batcher = MicroBatcher(slow, max_items=1, inline_records=0, max_wait_s=0.05)

    async def run():
        first = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.02)
        second = asyncio.ensure_future(batcher.submit([2]))
        await asyncio.sleep(0.2)
        release.set()
        return await asyncio.gather(first, second, return_exceptions=True)

    first, second = asyncio.run(run())
    assert first == [1], "the call the model took is answered"
    assert isinstance(second, Overloaded) and "MAX_LATENCY_MS" in str(second), f"a call queued past max_wait_s is refused: {second!r}"
    batcher.close()


def test_the_service_is_named_after_its_project_and_runs_lean_by_default(registry, monkeypatch):
    from workloads.serving.service import build_service

    project = registry.versions["regression"].project
    service = build_service(project)
    assert service.name == "delivery_time", "the BentoML service is named after the project"
    assert "/score" in service.config["tracing"]["excluded_urls"], "no spans per request unless SAHAB_SERVING_TRACE_REQUESTS"
    assert service.config["logging"]["access"]["enabled"] is False, "no access-log line per request unless SAHAB_SERVING_ACCESS_LOG"
    assert service.config["traffic"]["max_concurrency"] == 256, "BentoML's own 429 limit stays a backstop above LoadShedding's 503"
    monkeypatch.setenv("SAHAB_SERVING_TRACE_REQUESTS", "true")
    monkeypatch.setenv("SAHAB_SERVING_ACCESS_LOG", "true")
    service = build_service(project)
    assert "tracing" not in service.config and "logging" not in service.config, "asked for, BentoML's defaults apply"


def test_scorer_needs_a_project_and_says_so(registry):
    env = {k: v for k, v in os.environ.items() if k != "SAHAB_PROJECT"}
    code = "import workloads.serving.service as s; print(s.Scorer.name)"
    out = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(REPO)}, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "SAHAB_PROJECT is not set" in out.stderr, out.stderr[-1500:]
    project = registry.versions["multiclass"].project
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "PYTHONPATH": str(REPO), "SAHAB_PROJECT": str(project.folder)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "plan_moves", out.stderr[-1500:]
