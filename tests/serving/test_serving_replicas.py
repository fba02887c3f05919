"""The A/B loop on real processes: two `bentoml serve` replicas of the generic service and two
control planes on loopback over one real Redis and one MLflow registry, and the evaluator CLI.

- a key gets the same variant, experiment and version from both replicas; the replicas record
  every keyed request as an exposure (off the request path) in the shared store;
- feedback naming only the generated request ids is attributed to the experiment, alternately
  through both control planes; both report the identical experiment status once the units seal,
  and restarting a control plane loses nothing;
- moving the challenger alias to an untested version makes promotion answer 409;
- eight concurrent promotions give exactly one `promoted`; the replicas reload the new champion.

The project is the multiclass test project (its gate, logloss <= 1.2, is one a few-second model
passes); unit window 1 s and no label delay, so units seal within the test.
"""

from __future__ import annotations

import json
import os
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
from serving_models import REPO, entity_keys, feature_records, start_bentoml_serve, start_module, stop_server

pytestmark = pytest.mark.slow
TOKEN = "test-control-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SALT = "sahab-ab-1"


@pytest.fixture(scope="module")
def platform(registry, redis_server, tmp_path_factory):
    home = tmp_path_factory.mktemp("replicas")
    shutil.copy(registry.home / "mlflow.db", home / "mlflow.db")
    versions = registry.versions["multiclass"]
    env = {
        "SAHAB_HOME": str(home),
        "SAHAB_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "SAHAB_PROJECT": str(versions.project.folder),
        "SAHAB_SERVING_AB_MODE": "split",
        "SAHAB_SERVING_CHALLENGER_WEIGHT": "0.5",
        "SAHAB_SERVING_AB_SALT": SALT,
        "SAHAB_SERVING_AB_REDIS_URL": redis_server.url,
        "SAHAB_SERVING_AB_REDIS_PREFIX": f"replicas-{uuid.uuid4().hex[:8]}:",
        "SAHAB_SERVING_CONTROL_TOKEN": TOKEN,
        "SAHAB_SERVING_TEST_MIN_SAMPLES": "100",
        "SAHAB_SERVING_UNIT_WINDOW_S": "1",
        "SAHAB_SERVING_MAX_LABEL_DELAY_S": "0",
        "SAHAB_SERVING_MAX_DURATION_S": "3600",
        # Loopback latencies on a shared machine say nothing about the challenger: no latency guardrail here.
        "SAHAB_SERVING_MAX_LATENCY_RATIO": "1000",
        "SAHAB_SERVING_ALLOW_PROMOTION": "true",
        "SAHAB_SERVING_RELOAD_INTERVAL_S": "1",
    }
    started = []
    state = {"env": env, "home": home, "serving": [], "control": [], "versions": versions}
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
    versions = platform["versions"]
    project, champion, challenger = versions.project, versions.champion, versions.challenger

    # A key gets the same variant, experiment and version from both scoring replicas.
    keys = entity_keys(project, 600, "user-")
    records = feature_records(project, 600, seed=21)
    answers: dict[str, dict] = {}
    for lo in range(0, 600, 50):
        payload = {"requests": [{"key": k, "records": records[i : i + 1]} for i, k in enumerate(keys[lo : lo + 50], start=lo)]}
        a, b = (httpx.post(f"{s.url}/score", json=payload, timeout=60).json() for s in (serve_a, serve_b))
        assert [(x["variant"], x["model_version"], x["experiment_id"]) for x in a] == [(x["variant"], x["model_version"], x["experiment_id"]) for x in b]
        answers.update({x["key"]: x for x in (a if lo % 100 else b)})
    experiment_id = answers[keys[0]]["experiment_id"]
    assert {x["experiment_id"] for x in answers.values()} == {experiment_id}
    assert {x["variant"] for x in answers.values()} == {"champion", "challenger"}

    # The control plane refuses a call without the token; the scoring port has no /feedback.
    assert httpx.get(f"{ctl_a.url}/experiment", timeout=10).status_code == 401
    assert httpx.post(f"{serve_a.url}/feedback", json={}, timeout=10).status_code == 404

    # Feedback naming only the generated request ids (the exposures are flushed every second): the
    # challenger is clearly better.
    time.sleep(2.5)
    rng = np.random.default_rng(0)
    outcomes = []
    for key in keys:
        better = answers[key]["variant"] == "challenger"
        outcomes.append({"request_id": answers[key]["request_id"], "key": key, "outcome": float(rng.uniform() < (0.7 if better else 0.3))})
    for n, lo in enumerate(range(0, 600, 100)):
        ack = httpx.post(f"{(ctl_a, ctl_b)[n % 2].url}/feedback", json={"outcomes": outcomes[lo : lo + 100]}, headers=AUTH, timeout=30).json()
        assert ack["accepted"] == 100 and ack["duplicates"] == 0 and ack["experiments"] == [experiment_id], ack
    retry = httpx.post(f"{ctl_b.url}/feedback", json={"outcomes": outcomes[:100]}, headers=AUTH, timeout=30).json()
    assert retry["accepted"] == 0 and retry["duplicates"] == 100, "a retried feedback call must count once"

    time.sleep(1.5)  # every unit's window (1 s after its first exposure) has passed: they seal at the next look
    status_a, status_b = _experiment(ctl_a.url), _experiment(ctl_b.url)
    decision_a, decision_b = ({k: v for k, v in s["decision"].items() if k != "evaluated_at"} for s in (status_a, status_b))
    assert decision_a == decision_b, "both replicas must report the identical experiment status"
    decision = status_a["decision"]
    assert status_a["experiment_id"] == experiment_id and decision["recommendation"] == "promote", decision
    assert decision["n_champion"] + decision["n_challenger"] == 600 and decision["challenger_version"] == challenger

    # A restart of a control plane loses nothing.
    stop_server(ctl_a)
    ctl_a = start_module("workloads.serving.control", env, platform["home"] / "control-restarted.log", "/healthz")
    platform["control"][0] = ctl_a
    again = _experiment(ctl_a.url)["decision"]
    assert {k: v for k, v in again.items() if k != "evaluated_at"} == decision_b

    # The evaluator CLI (one look, not acting) reads the same state and reaches the same decision.
    out = subprocess.run(
        [sys.executable, "-m", "workloads.serving.evaluator", "--once", "--no-apply"],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    look = json.loads(out.stdout.strip().splitlines()[-1])
    assert look["experiment_id"] == experiment_id and look["decision"]["recommendation"] == "promote" and look["action"] == "none", look

    # The challenger alias moved to an untested version: promotion of what was tested is a 409.
    mlflow = _mlflow(env)
    name = project.name
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

    # Both scoring replicas reload the new champion within the reload interval.
    deadline = time.monotonic() + 60
    live = {}
    while time.monotonic() < deadline:
        live = {s.url: httpx.get(f"{s.url}/readyz", timeout=10).json()["models"] for s in (serve_a, serve_b)}
        if all(m == {"champion": challenger} for m in live.values()):
            break
        time.sleep(0.5)
    assert all(m == {"champion": challenger} for m in live.values()), live
    payload = {"requests": [{"key": k, "records": records[i : i + 1]} for i, k in enumerate(keys[:20])]}
    after = httpx.post(f"{serve_b.url}/score", json=payload, timeout=60).json()
    assert {a["model_version"] for a in after} == {challenger} and {a["experiment_id"] for a in after} == {None}
