"""The whole loop on the local platform, from the outside, against real PostgreSQL, Redis and
moto's S3: serve -> prediction log -> drift job -> exactly one retraining -> challenger served by
key -> feedback that favours it -> the evaluator promotes once -> serving answers with the new
champion. Every assertion goes through HTTP answers, the registry's aliases and versions, the drift
job's state and the prediction log in the object store; nothing is called in-process.

Speeds are the test's, not the platform's defaults: 15 s drift windows, the drift job back to back,
the evaluator every 3 s, 30 keys per arm, one outcome per key. The retraining trains on the
feature store with the bootstrap's config and seed, so the challenger passes the registry's
evaluation gate; which variant wins is decided by the feedback alone.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
from local_helpers import marked, running

from workloads.local import LocalOptions, down, platform_env, up
from workloads.local.platform import BUCKETS, read_state

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(1500)]

ROWS, STEPS = 8000, 150
WINDOW_S = 15
RETRAIN = (
    "--set",
    "seed=0",
    "--set",
    f"steps={STEPS}",
    "--set",
    f"eval_every={STEPS}",
    "--set",
    f"log_every={STEPS // 4}",
    "--set",
    "threads=1",
    "--set",
    "optim.warmup_steps=20",
)
LOOP_ENV = {
    "SAHAB_DRIFT_WINDOW": f"{WINDOW_S}s",
    "SAHAB_DRIFT_GRACE": "3s",
    "SAHAB_DRIFT_LOOKBACK": "2min",
    "SAHAB_DRIFT_COOLDOWN": "1h",
    "SAHAB_MONITORING_MIN_WINDOW_ROWS": "100",
    "SAHAB_SERVING_PREDICTION_LOG_FLUSH_S": "1",
    "SAHAB_SERVING_RELOAD_INTERVAL_S": "2",
    "SAHAB_SERVING_CHALLENGER_WEIGHT": "0.5",
    "SAHAB_SERVING_TEST_MIN_SAMPLES": "30",
    "SAHAB_SERVING_TEST_KEY_OUTCOMES": "1",
}


def wait_for(what: str, check: Callable[[], object], timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def feature_rows(drifted: bool) -> list[dict]:
    """Rows the model saw in training (the earlier 70% of the bootstrap's own data, so no time
    trend), or the same rows shifted by two standard deviations on three features."""
    from workloads.data.generator import DriftSpec, generate
    from workloads.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TIMESTAMP

    spec = DriftSpec(mean_shift={"amount": 2.0, "distance_from_home_km": 2.0, "hours_since_last_txn": 2.0}) if drifted else None
    frame = generate(ROWS, seed=0, drift=spec).sort_values(TIMESTAMP).head(int(ROWS * 0.7))
    frame = frame[[*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]]
    return [{k: (None if v != v else v) for k, v in row.items()} for row in frame.to_dict("records")]


class Traffic(threading.Thread):
    """20 keyed requests a second, each one record from the current pool under a new key."""

    def __init__(self, url: str, pool: list[dict]):
        super().__init__(daemon=True)
        self.url, self.pool, self.answers, self.errors = url, pool, [], []
        self.stop = threading.Event()
        self.rng = random.Random(7)

    def run(self) -> None:
        with httpx.Client(timeout=30) as client:
            n = 0
            while not self.stop.is_set():
                started = time.monotonic()
                batch = [{"key": f"acct-{n + i}", "records": [self.rng.choice(self.pool)]} for i in range(20)]
                n += 20
                try:
                    reply = client.post(f"{self.url}/score", json={"requests": batch})
                    if reply.status_code == 200:
                        self.answers.extend(reply.json())
                    else:
                        self.errors.append(f"{reply.status_code} {reply.text[:300]}")
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def s3_filesystem(env: dict[str, str]):
    import pyarrow.fs as pafs

    endpoint = env["AWS_ENDPOINT_URL_S3"]
    return pafs.S3FileSystem(
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        region="me-central-1",
        endpoint_override=endpoint.split("://", 1)[1],
        scheme="http",
    )


def drift_state(env: dict[str, str]) -> dict | None:
    fs = s3_filesystem(env)
    path = f"{BUCKETS['offline-features']}/drift-state/state.json"
    import pyarrow.fs as pafs

    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as fh:
        return json.loads(fh.read())


def prediction_log(env: dict[str, str]):
    import pyarrow.dataset as ds

    dataset = ds.dataset(f"{BUCKETS['offline-features']}/serving-log", filesystem=s3_filesystem(env), format="parquet", partitioning="hive")
    return dataset.to_table(columns=["request_id", "key", "variant", "model_version", "experiment_id"]).to_pandas()


def test_drift_retrain_ab_promote_loop(tmp_path):
    from mlflow import MlflowClient

    state_dir = tmp_path / "local"
    lines: list[str] = []
    started = time.monotonic()
    up(
        LocalOptions(
            state_dir=state_dir,
            rows=ROWS,
            steps=STEPS,
            challenger=False,
            prometheus=False,
            drift_every_s=5,
            evaluator_every_s=3,
            retrain_args=RETRAIN,
            env=LOOP_ENV,
        ),
        progress=lambda line: lines.append(f"{time.monotonic() - started:6.1f}s {line}"),
    )
    identities = {s["name"]: s["identity"] for s in read_state(state_dir)["services"]}
    run_id = read_state(state_dir)["run_id"]
    assert {"postgres", "redis", "s3", "mlflow", "feast", "serving", "control", "evaluator", "drift"} <= identities.keys(), lines
    env = platform_env(state_dir)
    urls = {s["name"]: s["url"] for s in read_state(state_dir)["services"]}
    serving, control = urls["serving"], urls["control"]
    registry = MlflowClient(env["SAHAB_MLFLOW_TRACKING_URI"])
    model = "transaction-risk"

    def aliases():
        return {k: str(v) for k, v in registry.get_registered_model(model).aliases.items()}

    traffic = Traffic(serving, feature_rows(drifted=False))
    try:
        assert aliases() == {"champion": "1"}, f"after bootstrap: {aliases()}"
        clean_from = time.time()
        traffic.start()

        # 1. clean traffic: the drift job tests it and finds nothing
        def clean_window_tested():
            state = drift_state(env)
            done = state and state["watermark"] and datetime.fromisoformat(state["watermark"]).timestamp() >= clean_from + 2 * WINDOW_S
            return state if done else None

        state = wait_for("the drift job to test a clean window", clean_window_tested, 240)
        assert state["episode"] is None and state["triggers"] == [], f"clean traffic raised drift: {state}"
        assert aliases() == {"champion": "1"}, "a retraining started on clean traffic"

        # 2. drift: exactly one retraining, whose version becomes the challenger
        traffic.pool = feature_rows(drifted=True)
        drifted_from = time.time()
        wait_for("a challenger registered by the retraining", lambda: aliases().get("challenger"), 420, every=2)
        versions = sorted(int(v.version) for v in registry.search_model_versions(f"name='{model}'"))
        assert versions == [1, 2], f"expected exactly one retrained version, registry has {versions}"
        challenger = registry.get_model_version(model, "2")
        state = drift_state(env)
        assert len(state["triggers"]) == 1, f"drift triggers: {state['triggers']}"
        assert challenger.tags.get("sahab.retrain.key") == state["triggers"][0]["key"].lower(), f"v2 tags {challenger.tags} vs trigger {state['triggers'][0]}"
        assert challenger.tags.get("sahab.retrain.reason") == "drift", challenger.tags
        first_window = min(pd.Timestamp(w).timestamp() for w in state["triggers"][0]["windows"])
        assert first_window >= drifted_from - WINDOW_S, f"the trigger names windows before the drift began: {state['triggers'][0]}"

        # 3. serving picks the challenger up without a restart, and serves it by key
        def both_loaded():
            answer = httpx.get(f"{serving}/readyz", timeout=10).json()
            return answer if answer.get("models") == {"champion": "1", "challenger": "2"} else None

        experiment = wait_for("serving to load the challenger", both_loaded, 60)["experiment_id"]
        assert running(identities["serving"]), "serving was restarted to pick up the challenger"
        probe = [{"key": f"sticky-{i}", "records": [traffic.pool[i]]} for i in range(40)]
        first = httpx.post(f"{serving}/score", json={"requests": probe}, timeout=30).json()
        again = httpx.post(f"{serving}/score", json={"requests": probe}, timeout=30).json()
        assert [a["variant"] for a in first] == [a["variant"] for a in again], "A/B assignment is not sticky by key"
        served = {(a["variant"], a["model_version"]) for a in first}
        assert served == {("champion", "1"), ("challenger", "2")}, f"40 keys at weight 0.5 were served by {served}"

        # 4. feedback favouring the challenger, through the control plane; one promotion follows
        in_experiment = wait_for(
            "200 keys scored in the experiment",
            lambda: (lambda got: got if len(got) >= 200 else None)([a for a in list(traffic.answers) if a["experiment_id"] == experiment]),
            90,
        )
        outcomes = [
            {"request_id": a["request_id"], "key": a["key"], "experiment_id": experiment, "outcome": 1.0 if a["variant"] == "challenger" else 0.0}
            for a in in_experiment[:200]
        ]
        reply = httpx.post(
            f"{control}/feedback", json={"outcomes": outcomes}, timeout=30, headers={"Authorization": f"Bearer {env['SAHAB_SERVING_CONTROL_TOKEN']}"}
        )
        assert reply.status_code == 200, f"control /feedback: {reply.status_code} {reply.text[:500]}"
        assert reply.json()["accepted"] == 200, reply.json()
        assert httpx.post(f"{control}/feedback", json={"outcomes": outcomes[:5]}, timeout=30).status_code == 401, (
            "the control plane accepted feedback without its token"
        )
        wait_for("the evaluator to promote v2", lambda: aliases().get("champion") == "2", 120)
        assert sorted(int(v.version) for v in registry.search_model_versions(f"name='{model}'")) == [1, 2]

        # 5. serving answers with the new champion
        wait_for("serving to switch to champion v2", lambda: httpx.get(f"{serving}/readyz", timeout=10).json().get("models", {}).get("champion") == "2", 60)
        after = httpx.post(f"{serving}/score", json={"requests": probe}, timeout=30).json()
        assert {a["model_version"] for a in after if a["variant"] == "champion"} == {"2"}, after[:3]

        # 6. the prediction log in the object store holds what was served, request by request
        def logged():
            log = prediction_log(env)
            return log if set(a["request_id"] for a in after) <= set(log["request_id"]) else None

        log = wait_for("the prediction log to hold the last answers", logged, 30)
        by_id = log.drop_duplicates("request_id").set_index("request_id")
        for answer in [*first, *after, *in_experiment[:50]]:
            row = by_id.loc[answer["request_id"]]
            assert (row["key"], row["variant"], row["model_version"]) == (answer["key"], answer["variant"], answer["model_version"]), (
                f"prediction log row {answer['request_id']}: {dict(row)} vs answer {answer}"
            )
        served_pairs = set(zip(log["variant"], log["model_version"], strict=False))
        assert {("champion", "1"), ("challenger", "2"), ("champion", "2")} <= served_pairs, served_pairs
        assert log[log["model_version"] == "1"]["experiment_id"].isna().any(), "champion-only traffic carries an experiment id"
    finally:
        traffic.stop.set()
        traffic.join(timeout=30)
        retrain_logs = sorted(p.name for p in (Path(env["SAHAB_HOME"]) / "logs").glob("retrain-*.log")) if "env" in locals() else []
        stopped = down(state_dir)
    assert len(retrain_logs) == 1, f"retraining runs: {retrain_logs}"
    assert not traffic.errors[:1] or len(traffic.errors) < len(traffic.answers) / 100, f"scoring errors: {traffic.errors[:5]}"
    left = [n for n, i in identities.items() if running(i)]
    assert not left and set(stopped) == set(identities), f"left running after down: {left}; stopped {stopped}"
    assert not marked(run_id), f"processes of this platform (workers, retrainings) left after down: {marked(run_id)}"
