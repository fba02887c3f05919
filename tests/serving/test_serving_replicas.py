"""The issue's done-when, on real processes: two `bentoml serve` replicas and two control planes
on loopback over one real Redis and one MLflow registry, and the evaluator CLI.

- fed feedback alternately, both control planes report the identical experiment status; a key
  gets the same variant from both replicas; restarting a control plane loses nothing;
- moving the challenger alias to an untested version makes promotion answer 409;
- eight concurrent promotions give exactly one `promoted`; the replicas reload the new champion.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from servers import redis_server  # noqa: F401  (pytest fixture)
from serving_models import REPO, feature_records, start_bentoml_serve, start_module, stop_server

from workloads.serving.abtest import assign

pytestmark = pytest.mark.slow
TOKEN = "test-control-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SALT = "sahab-ab-1"


@pytest.fixture(scope="module")
def platform(registry, redis_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("replicas")
    shutil.copy(registry.home / "mlflow.db", home / "mlflow.db")
    env = {
        "SAHAB_HOME": str(home),
        "SAHAB_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "SAHAB_SERVING_AB_MODE": "split",
        "SAHAB_SERVING_CHALLENGER_WEIGHT": "0.5",
        "SAHAB_SERVING_AB_SALT": SALT,
        "SAHAB_SERVING_AB_REDIS_URL": redis_server.url,
        "SAHAB_SERVING_AB_REDIS_PREFIX": f"replicas-{uuid.uuid4().hex[:8]}:",
        "SAHAB_SERVING_CONTROL_TOKEN": TOKEN,
        "SAHAB_SERVING_TEST_KEY_OUTCOMES": "1",
        "SAHAB_SERVING_TEST_MIN_SAMPLES": "100",
        "SAHAB_SERVING_ALLOW_PROMOTION": "true",
        "SAHAB_SERVING_RELOAD_INTERVAL_S": "1",
    }
    started = []
    state = {"env": env, "home": home, "serving": [], "control": [], "registry": registry}
    try:
        for i in range(2):
            started.append(start_bentoml_serve(env, home / f"serve-{i}.log"))
        for i in range(2):
            started.append(start_module("workloads.serving.control", env, home / f"control-{i}.log", "/healthz"))
        state["serving"], state["control"] = started[:2], started[2:]
        yield state
    finally:
        # A test may replace a control plane (the restart case): stop what the state holds too.
        for server in [*started, *state["serving"], *state["control"]]:
            stop_server(server)


def _mlflow(env):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=env["SAHAB_MLFLOW_TRACKING_URI"], registry_uri=env["SAHAB_MLFLOW_TRACKING_URI"])


def _experiment(url: str) -> dict:
    resp = httpx.get(f"{url}/experiment", headers=AUTH, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_two_replicas_share_one_experiment_and_promote_exactly_once(platform):
    env, (serve_a, serve_b), (ctl_a, ctl_b) = platform["env"], platform["serving"], platform["control"]
    champion, challenger = platform["registry"].champion, platform["registry"].challenger

    # A key gets the same variant, experiment and version from both scoring replicas.
    records = feature_records(40, seed=21)
    payload = {"requests": [{"key": f"acct-{i}", "records": records[i : i + 1]} for i in range(40)]}
    answers = [httpx.post(f"{s.url}/score", json=payload, timeout=60).json() for s in (serve_a, serve_b)]
    assert [(r["variant"], r["model_version"]) for r in answers[0]] == [(r["variant"], r["model_version"]) for r in answers[1]]
    assert {r["variant"] for r in answers[0]} == {"champion", "challenger"}
    experiment_id = answers[0][0]["experiment_id"]
    assert {r["experiment_id"] for a in answers for r in a} == {experiment_id}

    # The control plane refuses a call without the token; the scoring port has no /feedback.
    assert httpx.get(f"{ctl_a.url}/experiment", timeout=10).status_code == 401
    assert httpx.post(f"{serve_a.url}/feedback", json={}, timeout=10).status_code == 404

    # Feedback, alternately to both control planes: the challenger is clearly better.
    rng = np.random.default_rng(0)
    outcomes = []
    for i in range(600):
        key = f"user-{i}"
        better = assign(key, 0.5, SALT) == "challenger"
        outcomes.append({"request_id": f"req-{i}", "key": key, "experiment_id": experiment_id, "outcome": float(rng.uniform() < (0.7 if better else 0.3))})
    for n, lo in enumerate(range(0, 600, 100)):
        ack = httpx.post(f"{(ctl_a, ctl_b)[n % 2].url}/feedback", json={"outcomes": outcomes[lo : lo + 100]}, headers=AUTH, timeout=30).json()
        assert ack["accepted"] == 100 and ack["duplicates"] == 0 and ack["experiment_id"] == experiment_id, ack
    retry = httpx.post(f"{ctl_b.url}/feedback", json={"outcomes": outcomes[:100]}, headers=AUTH, timeout=30).json()
    assert retry["accepted"] == 0 and retry["duplicates"] == 100, "a retried feedback call must count once"

    status_a, status_b = _experiment(ctl_a.url), _experiment(ctl_b.url)
    assert status_a == status_b, "both replicas must report the identical experiment status"
    decision = status_a["decision"]
    assert status_a["experiment_id"] == experiment_id and decision["recommendation"] == "promote", decision
    assert decision["n_champion"] + decision["n_challenger"] == 600 and decision["challenger_version"] == challenger

    # A restart of a control plane loses nothing.
    stop_server(ctl_a)
    ctl_a = start_module("workloads.serving.control", env, platform["home"] / "control-restarted.log", "/healthz")
    platform["control"][0] = ctl_a
    assert _experiment(ctl_a.url) == status_b

    # The evaluator CLI (one look, not acting) reads the same state and reaches the same decision.
    out = subprocess.run(
        [sys.executable, "-m", "workloads.serving.evaluator", "--once", "--no-apply"],
        env={**__import__("os").environ, **env, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    look = json.loads(out.stdout.strip().splitlines()[-1])
    assert look["experiment_id"] == experiment_id and look["decision"]["recommendation"] == "promote"
    assert look["action"] == "none"

    # The challenger alias moved to an untested version: promotion of what was tested is a 409.
    mlflow = _mlflow(env)
    name = "transaction-risk"
    tested = mlflow.get_model_version(name, challenger)
    untested = mlflow.create_model_version(name, source=tested.source, run_id=tested.run_id, tags=tested.tags).version
    mlflow.set_registered_model_alias(name, "challenger", untested)
    resp = httpx.post(f"{ctl_a.url}/promote", json={"apply": True, "experiment_id": experiment_id}, headers=AUTH, timeout=60)
    assert resp.status_code == 409 and resp.json()["action"] == "conflict", resp.text
    assert f"v{untested}" in resp.json()["detail"]
    assert str(mlflow.get_model_version_by_alias(name, "champion").version) == champion, "nothing may move on a conflict"
    mlflow.set_registered_model_alias(name, "challenger", challenger)

    # Eight concurrent promotions, over both control planes: exactly one wins.
    def promote(i: int) -> httpx.Response:
        return httpx.post(f"{(ctl_a, ctl_b)[i % 2].url}/promote", json={"apply": True, "experiment_id": experiment_id}, headers=AUTH, timeout=120)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(promote, range(8)))
    codes = sorted(r.status_code for r in results)
    actions = sorted(r.json()["action"] for r in results)
    assert codes == [200] + [409] * 7 and actions == ["conflict"] * 7 + ["promoted"], [r.text[:200] for r in results]
    assert str(mlflow.get_model_version_by_alias(name, "champion").version) == challenger, "the tested version is champion"
    tags = mlflow.get_model_version(name, challenger).tags
    assert json.loads(tags["sahab.abtest.decision"])["experiment_id"] == experiment_id

    # Both scoring replicas reload the new champion within the reload interval.
    deadline = time.monotonic() + 60
    live = {}
    while time.monotonic() < deadline:
        live = {s.url: httpx.get(f"{s.url}/readyz", timeout=10).json()["models"] for s in (serve_a, serve_b)}
        if all(m == {"champion": challenger} for m in live.values()):
            break
        time.sleep(0.5)
    assert all(m == {"champion": challenger} for m in live.values()), live
    after = httpx.post(f"{serve_b.url}/score", json=payload, timeout=60).json()
    assert {r["model_version"] for r in after} == {challenger} and {r["experiment_id"] for r in after} == {None}
