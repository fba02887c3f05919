"""Serving settings: refused values name the variable; the load-shedding middleware's contract."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from workloads.serving.overload import LoadShedding
from workloads.serving.settings import ServingSettings


def test_settings_refuse_bad_values(monkeypatch):
    monkeypatch.setenv("SAHAB_SERVING_PRECISION", "fp16")
    with pytest.raises(ValidationError, match="precision"):
        ServingSettings()
    monkeypatch.delenv("SAHAB_SERVING_PRECISION")
    with pytest.raises(ValidationError, match="CHALLENGER_ALIAS"):
        ServingSettings(challenger_alias="champion")
    with pytest.raises(ValidationError, match="challenger_weight"):
        ServingSettings(challenger_weight=1.5)
    with pytest.raises(ValidationError, match="max_batch_size"):
        ServingSettings(max_batch_size=0)
    with pytest.raises(ValidationError, match="shadow_queue"):
        ServingSettings(shadow_queue=0)
    assert ServingSettings(precision="int8").precision == "int8"


def test_serving_defaults_for_a_small_pod():
    """What a 1-2 core pod runs with unless told otherwise (benchmarks/serving.py measured them)."""
    s = ServingSettings()
    assert s.precision is None, "unset: the project's serving.precision decides"
    assert (s.workers, s.intra_op_threads) == (1, 1), "one worker process, one onnxruntime thread"
    assert s.adaptive_batching and s.fast_path and s.inline_records == 64, "timer-free batching, /score on the fast path, small calls inline"
    assert not s.access_log and not s.trace_requests, "no per-request log line or spans unless asked for"
    assert s.max_latency_ms == 1000 and s.max_concurrency == 128


def test_load_shedding_answers_503_beyond_the_bound():
    release = asyncio.Event()
    sent: list[dict] = []

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})

    async def run() -> None:
        app = LoadShedding(slow_app, max_in_flight=2)
        scope = {"type": "http", "path": "/score"}

        async def send(msg):
            sent.append(msg)

        first = [asyncio.create_task(app(scope, None, send)) for _ in range(2)]
        await asyncio.sleep(0)
        await app(scope, None, send)  # the third is refused at once
        release.set()
        await asyncio.gather(*first)
        assert app.in_flight == 0

    asyncio.run(run())
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [503, 200, 200], statuses
    headers = dict(next(m for m in sent if m.get("status") == 503)["headers"])
    assert headers[b"retry-after"] == b"1"
    with pytest.raises(ValueError, match="max_in_flight"):
        LoadShedding(slow_app, max_in_flight=0)


def test_load_shedding_counts_bytes_in_flight():
    release = asyncio.Event()
    sent: list[dict] = []

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})

    def scope(size: int) -> dict:
        return {"type": "http", "path": "/score", "headers": [(b"content-length", str(size).encode())]}

    async def run() -> None:
        app = LoadShedding(slow_app, max_in_flight=100, max_bytes=1000)

        async def send(msg):
            sent.append(msg)

        first = asyncio.create_task(app(scope(800), None, send))
        await asyncio.sleep(0)
        await app(scope(300), None, send)  # 800 + 300 > 1000: shed although only one request is in flight
        await app(scope(5000), None, send)  # larger than the whole budget: 413, retrying cannot help
        small = asyncio.create_task(app(scope(150), None, send))  # 800 + 150 fits
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, small)
        assert app.in_flight == 0 and app.bytes_in_flight == 0

    asyncio.run(run())
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [503, 413, 200, 200], statuses


def test_new_settings_validate_their_values():
    with pytest.raises(ValidationError, match="OUTCOME_MIN"):
        ServingSettings(outcome_min=1.0, outcome_max=0.0)
    with pytest.raises(ValidationError, match="redis://"):
        ServingSettings(ab_redis_url="http://cache:6379")
    with pytest.raises(ValidationError, match="PREDICTION_LOG_URI"):
        ServingSettings(prediction_log_uri="gs://bucket/log")
    s = ServingSettings(ab_redis_url="rediss://:pw@cache:6379/2", prediction_log_uri="s3://offline/serving-log/")
    assert "pw" not in repr(s), "the Redis URL (with its password) must not show in logs"
    from pathlib import Path

    assert ServingSettings().state_path(Path("/h")) == Path("/h/serving/ab-state.sqlite")
