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
    assert ServingSettings(precision="int8").precision == "int8"


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
