"""The service as deployed: a real `bentoml serve` process on 127.0.0.1."""

from __future__ import annotations

import asyncio
import re

import bentoml
import httpx
import pytest
from serving_models import feature_records, start_bentoml_serve, stop_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(registry, tmp_path_factory):
    env = {
        **registry.env,
        "SAHAB_SERVING_AB_MODE": "split",
        "SAHAB_SERVING_CHALLENGER_WEIGHT": "0.5",
        # Small on purpose: the overload test must be able to exceed it.
        "SAHAB_SERVING_MAX_CONCURRENCY": "4",
    }
    srv = start_bentoml_serve(env, tmp_path_factory.mktemp("serve") / "bentoml.log")
    yield srv
    stop_server(srv)


def test_real_server_scores_with_both_variants_and_exposes_metrics(server, registry):
    records = feature_records(20, seed=8)
    payload = {"requests": [{"key": f"acct-{i}", "records": records[i : i + 1]} for i in range(20)]}
    resp = httpx.post(f"{server.url}/score", json=payload, timeout=30)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {r["variant"] for r in body} == {"champion", "challenger"}
    assert {r["model_version"] for r in body} == {registry.champion, registry.challenger}

    # BentoML's own client speaks to the same endpoint.
    with bentoml.SyncHTTPClient(server.url, timeout=30) as client:
        out = client.score(requests=[{"key": "acct-0", "records": records[:2]}])
    assert len(out) == 1 and len(out[0]["scores"]) == 2

    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    for variant in ("champion", "challenger"):
        assert re.search(rf'sahab_serving_requests_total\{{[^}}]*variant="{variant}"[^}}]*\}} [1-9]', metrics), f"no request counter for {variant} in /metrics"
        assert f'sahab_serving_score_bucket{{le="0.5",mode="live",variant="{variant}"}}' in metrics or re.search(
            rf'sahab_serving_score_bucket\{{[^}}]*variant="{variant}"', metrics
        )
    assert "bentoml_service_request_total" in metrics
    assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200


def test_real_server_refuses_bad_input_with_4xx(server):
    record = feature_records(1, seed=9)[0]
    for payload in (
        {"requests": [{"key": "k", "records": [{**record, "amount": "lots"}]}]},
        {"requests": [{"key": "k", "records": [record] * 1000}]},
        {"nonsense": True},
    ):
        resp = httpx.post(f"{server.url}/score", json=payload, timeout=30)
        assert 400 <= resp.status_code < 500, f"{resp.status_code} {resp.text[:200]}"
    resp = httpx.post(f"{server.url}/score", content=b"{not json", headers={"content-type": "application/json"})
    assert 400 <= resp.status_code < 500


def test_overload_is_shed_with_503_not_queued(server):
    records = feature_records(256, seed=10)
    payload = {"requests": [{"key": f"o{i}", "records": records} for i in range(16)]}

    async def fire() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await asyncio.gather(*(client.post(f"{server.url}/score", json=payload) for _ in range(40)))

    replies = asyncio.run(fire())
    codes = [r.status_code for r in replies]
    assert set(codes) <= {200, 503}, f"only success or load shedding expected, got {sorted(set(codes))}"
    assert codes.count(503) >= 1, "40 concurrent requests over max_concurrency=4 must shed some"
    assert codes.count(200) >= 1
    shed = [r for r in replies if r.status_code == 503]
    assert any("overloaded" in r.text and r.headers.get("retry-after") == "1" for r in shed), shed[0].text
    # The server is still healthy afterwards.
    assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
