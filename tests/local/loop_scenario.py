"""The whole loop on the local platform, for each shipped project, from the outside, against real
PostgreSQL, Redis and moto's S3 (issue 20, "Done when"):

clean traffic from the project's generator (no drift found) -> drifted traffic (covariate and
concept drift, the generator's own controls) with its labels and outcomes flowing back through the
control plane -> the monitoring job's drift episode -> exactly one retraining -> the challenger's
data hash differs from the champion's and its frozen training set holds the post-drift rows -> it
beats the champion on their common holdout -> the A/B test, fed the project's `outcome` of every
answered record, promotes it -> serving answers with it, the drift episode ends and no new
retraining starts.

Every assertion reads HTTP answers, the registry, the monitoring job's state and the frozen
training set in the object store; nothing is called in-process. Time is compressed through the
settings: the project is copied with a training window and holdout of seconds (its data.py,
train.py and columns unchanged), the bootstrap's example data spans those seconds, drift windows
are 10 s, and an outcome unit is sealed 4 s after a key's first exposure. (transaction-risk's
absolute AUC floor is lowered to what seconds of post-drift traffic can reach; the rest of its gate
is its own.) A window is
tested GRACE seconds after it ends, and the training window plus the holdout is shorter than
that: so the retraining, which starts after the first drifted window is tested, learns from
post-drift rows only.
"""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pandas as pd
from local_helpers import marked, running
from loop_helpers import Traffic, compressed_copy, monitoring_state, requests_of, tested_after, training_set, wait_for

from workloads.local import LocalOptions, down, project_env, served_projects, up
from workloads.local.platform import read_state
from workloads.project import load_project
from workloads.project.spec import HIGHER_IS_BETTER

WINDOW_S, GRACE_S = 10, 40
TRAIN_S, HOLDOUT_S = 24, 10  # TRAIN_S + HOLDOUT_S < GRACE_S: the retraining sees post-drift rows only
SCENARIO = {
    "transaction-risk": {
        # concept drift (the new fraud pattern: small amounts, young accounts, bursts, online), larger
        # and farther transactions: the champion flags a third of them and ranks fraud worse than chance
        "drift": {"concept": 1.0, "mean_shift": {"amount": 2.0, "distance_from_home_km": 2.0}},
        "rows": 10_000,
        "overrides": {"steps": 150, "threads": 1, "eval_every": 150, "log_every": 50},
        "retrain": ("--set", "steps=150", "--set", "threads=1", "--set", "eval_every=150", "--set", "log_every=50"),
        "shifted": "amount",
        # ~24 s of post-drift traffic learns the new pattern to an AUC of about 0.78 (0.83 with a month
        # of it): the absolute floor is set to what the compressed window can reach; the champion
        # comparison, the calibration guardrail and max_regression are the project's own.
        "changes": {"evaluation.gate.primary": {"metric": "auc", "min": 0.72}},
    },
    "delivery-time": {
        # road works on one side of the city (the ETA's relation moves), a heat wave, busier couriers
        "drift": {"concept": 1.0, "mean_shift": {"temperature_c": 2.0, "courier_deliveries_7d": 1.5}},
        "rows": 4_000,
        "overrides": {"rounds": 150, "threads": 1},
        "retrain": ("--set", "rounds=150", "--set", "threads=1"),
        "shifted": "temperature_c",
        "changes": {},
    },
}
LOOP_ENV = {
    "SAHAB_DRIFT_WINDOW": f"{WINDOW_S}s",
    "SAHAB_DRIFT_GRACE": f"{GRACE_S}s",
    "SAHAB_DRIFT_LOOKBACK": "1min",
    "SAHAB_DRIFT_PERIOD": "1h",
    "SAHAB_DRIFT_COOLDOWN": "1h",
    "SAHAB_DRIFT_REFERENCE_MODE": "training",
    "SAHAB_DRIFT_PERFORMANCE": "false",
    "SAHAB_MONITORING_MIN_WINDOW_ROWS": "100",
    "SAHAB_SERVING_PREDICTION_LOG_FLUSH_S": "1",
    "SAHAB_SERVING_RELOAD_INTERVAL_S": "2",
    "SAHAB_SERVING_CHALLENGER_WEIGHT": "0.5",
    "SAHAB_SERVING_TEST_MIN_SAMPLES": "40",
    "SAHAB_SERVING_UNIT_WINDOW_S": "2",
    "SAHAB_SERVING_MAX_LABEL_DELAY_S": "2",
    "SAHAB_SERVING_MAX_DURATION_S": "900",
}


def drift_retrain_ab_promote_loop(name: str, tmp_path) -> None:
    """The loop for one shipped project (module docstring). Each project's test lives in its own
    file (test_local_loop_<project>.py) so that `--dist loadfile` runs the two on different workers:
    each waits on wall-clock windows for minutes."""
    from mlflow import MlflowClient

    s = SCENARIO[name]
    changes = {"training.window": f"{TRAIN_S}s", "evaluation.holdout": f"{HOLDOUT_S}s", **s["changes"]}
    folder = compressed_copy(name, tmp_path / "projects", changes)
    project = load_project(folder)
    spec = project.spec
    state_dir = tmp_path / "local"
    lines: list[str] = []
    started = time.monotonic()
    up(
        LocalOptions(
            state_dir=state_dir,
            projects=(name,),
            projects_dir=folder.parent,
            rows=s["rows"],
            days=(TRAIN_S + HOLDOUT_S) / 86_400,
            overrides={name: s["overrides"]},
            challenger=False,
            feature_server=False,
            prometheus=False,
            drift_every_s=5,
            evaluator_every_s=3,
            retrain_args=s["retrain"],
            env=LOOP_ENV,
        ),
        progress=lambda line: lines.append(f"{time.monotonic() - started:6.1f}s {line}"),
    )
    timings = {"up": time.monotonic() - started}
    state = read_state(state_dir)
    identities = {x["name"]: x["identity"] for x in state["services"]}
    assert {"postgres", "redis", "s3", "mlflow", f"serving-{name}", f"control-{name}", f"evaluator-{name}", f"monitoring-{name}"} <= identities.keys(), lines
    env = project_env(state_dir, name)
    served = served_projects(state_dir)[name]
    data = served["bootstrap"]["data"]
    registry = MlflowClient(env["SAHAB_MLFLOW_TRACKING_URI"])

    def aliases() -> dict[str, str]:
        return {k: str(v) for k, v in registry.get_registered_model(name).aliases.items()}

    generate = project.module("data").generate
    # Feature rows from the bootstrap's own distribution (its time span, another seed), then drifted ones.
    start, days = pd.Timestamp(data["start"]).to_pydatetime(), (TRAIN_S + HOLDOUT_S) / 86_400
    # Large pools: each entity is a cluster of correlated rows, and a pool of few entities cycled
    # through would be a population of its own, not the bootstrap's.
    clean = requests_of(generate(50_000, seed=21, start=start, days=days), spec)
    drifted = requests_of(generate(50_000, seed=22, start=start, days=days, drift=s["drift"]), spec)
    traffic = Traffic(served["serving"], served["control"], env["SAHAB_SERVING_CONTROL_TOKEN"], project)
    traffic.pool = clean
    try:
        assert aliases() == {"champion": "1"}, f"after bootstrap: {aliases()}"
        v1 = registry.get_model_version(name, "1")
        clean_from = time.time()
        traffic.start()

        # 1. clean traffic: the monitoring job tests it and finds nothing
        found = wait_for("a clean window tested", lambda: (lambda st: st if tested_after(st, clean_from, 2, WINDOW_S) else None)(monitoring_state(env)), 240)
        assert found["episode"] is None and found["triggers"] == [], f"clean traffic opened an episode: {found}"
        assert aliases() == {"champion": "1"}, "a retraining started on clean traffic"
        timings["clean"] = time.monotonic() - started

        # 2. drift: one episode, one retraining, whose version becomes the challenger
        traffic.pool = drifted
        drifted_from = time.time()
        wait_for("a challenger registered by the retraining", lambda: aliases().get("challenger"), 480, every=2)
        timings["retrained"] = time.monotonic() - started
        versions = sorted(int(v.version) for v in registry.search_model_versions(f"name='{name}'"))
        assert versions == [1, 2], f"expected exactly one retrained version, the registry has {versions}"
        v2 = registry.get_model_version(name, "2")
        mon = monitoring_state(env)
        assert len(mon["triggers"]) == 1 and mon["triggers"][0]["reason"] == "drift", f"triggers: {mon['triggers']}"
        key = mon["triggers"][0]["key"].lower()
        assert v2.tags.get("sahab.retrain.key") == key and v2.tags.get("sahab.retrain.reason") == "drift", f"v2 tags {v2.tags}"
        assert v2.tags["sahab.data.sha256"] != v1.tags["sahab.data.sha256"], "the retrained version learned from the champion's data"

        # its frozen training set holds the post-drift rows, and only those
        frame = training_set(env, key)
        after = pd.to_datetime(frame[spec.timestamp], utc=True) >= pd.Timestamp(drifted_from, unit="s", tz="UTC") - timedelta(seconds=1)
        assert len(frame) >= 500 and after.all(), f"training set {key}: {int(after.sum())} of {len(frame)} rows after the drift began"
        shifted = s["shifted"]
        bootstrap_mean = pd.DataFrame([r for q in clean for r in q["records"]])[shifted].mean()
        assert frame[shifted].mean() > bootstrap_mean + 0.5 * frame[shifted].std(), f"{shifted}: the training set's rows are not the drifted ones"

        # it beats the champion on the same holdout
        primary = spec.primary_metric
        mine, theirs = float(v2.tags[f"sahab.holdout.{primary}"]), float(v2.tags[f"sahab.holdout.champion.{primary}"])
        better = mine > theirs if HIGHER_IS_BETTER.get(primary) else mine < theirs
        assert better, f"on the common holdout {v2.tags.get('sahab.holdout.window')}: challenger {primary} {mine}, champion {theirs}"

        # 3. serving picks the challenger up without a restart and splits keys between the two (the
        # answers say so: the experiment can be decided within seconds, before a poll of /readyz)
        def experiment_answers():
            got = [a for a in list(traffic.answers) if a["experiment_id"] and a["variant"] == "challenger" and a["model_version"] == "2"]
            return got or None

        experiment = wait_for("answers of challenger v2 in an experiment", experiment_answers, 90)[0]["experiment_id"]
        assert running(identities[f"serving-{name}"]), "serving was restarted to pick up the challenger"
        # the A/B test, fed the project's outcome of every answered record, promotes it
        wait_for("the evaluator to promote v2", lambda: aliases().get("champion") == "2", 300, every=2)
        timings["promoted"] = time.monotonic() - started
        in_experiment = [a for a in list(traffic.answers) if a["experiment_id"] == experiment]
        pairs = {(a["variant"], a["model_version"]) for a in in_experiment}
        assert pairs == {("champion", "1"), ("challenger", "2")}, f"experiment {experiment} was served by {pairs}"
        decision = httpx.get(f"{served['control']}/experiment", headers={"Authorization": f"Bearer {env['SAHAB_SERVING_CONTROL_TOKEN']}"}, timeout=30).json()
        assert sorted(int(v.version) for v in registry.search_model_versions(f"name='{name}'")) == [1, 2], "a version appeared during the experiment"

        # 4. serving answers with the new champion; the episode ends and no retraining follows
        wait_for(
            "serving to switch to champion v2", lambda: httpx.get(f"{served['serving']}/readyz", timeout=10).json().get("models", {}).get("champion") == "2", 60
        )
        promoted_at = time.time()
        mon = wait_for(
            "two windows tested after the promotion",
            lambda: (lambda st: st if st and st.get("model_version") == "2" and tested_after(st, promoted_at, 2, WINDOW_S) else None)(monitoring_state(env)),
            240,
        )
        timings["settled"] = time.monotonic() - started
        assert mon["episode"] is None, f"the drift episode is still open after the promotion: {mon['episode']}"
        assert [p["to"] for p in mon["promotions"]] == ["2"], f"promotions seen by the monitoring job: {mon['promotions']}"
        assert len(mon["triggers"]) == 1, f"a retraining started after the promotion: {mon['triggers']}"
        assert sorted(int(v.version) for v in registry.search_model_versions(f"name='{name}'")) == [1, 2], "a version was registered after the promotion"
    finally:
        traffic.stop.set()
        traffic.join(timeout=60)
        retrain_logs = sorted(p.name for p in (state_dir / "home" / "logs").glob("retrain-*.log"))
        stopped = down(state_dir)
    print(f"{name}: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()) + f"; decision {decision}")
    assert len(retrain_logs) == 1, f"retraining runs: {retrain_logs}"
    assert traffic.feedback["labels"] > 1000 and traffic.feedback["accepted"] > 100, f"feedback through the control plane: {traffic.feedback}"
    assert len(traffic.errors) <= max(2, len(traffic.answers) // 100), f"scoring or feedback errors: {traffic.errors[:5]}"
    left = [n for n, i in identities.items() if running(i)]
    assert not left and set(stopped) == set(identities), f"left running after down: {left}; stopped {stopped}"
    assert not marked(state["run_id"]), f"processes of this platform (workers, retrainings) left after down: {marked(state['run_id'])}"
