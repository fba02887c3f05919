"""The retraining loop end to end, for both shipped projects, in-process (`workloads.pipeline.run_project`):

1. baseline data (the project's generator) -> the first version, registered as `champion`;
2. a concept drift: live traffic (the prediction log) and its labels (naming their served
   records) after the drift -> a retrain whose frozen training set holds the post-drift rows, with a
   new data hash, that beats the champion on the common holdout and becomes `challenger`;
3. a retrain while that experiment runs -> registered `sahab.queued=true`, no alias;
4. a model that fails the gate -> registered with `sahab.gate.result=failed`, no alias (exit 3).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from workload_helpers import PROJECTS, local_repo, seed_project, shipped_project, write_prediction_log

from workloads.pipeline import local_settings, run_project
from workloads.registry.client import CHALLENGER, CHAMPION, alias_versions, mlflow_client
from workloads.settings import FeatureStoreSettings

pytestmark = [pytest.mark.slow, pytest.mark.integration]
START = datetime(2025, 1, 1, tzinfo=UTC)
# Per project: baseline rows and days, drifted rows and days (the training window + holdout + a
# day, so the retrain's window lies after the drift), training overrides, and the ones that fail the gate.
SCENARIO = {
    "transaction-risk": {
        "rows": 10_000,
        "days": 30,
        "drift_rows": 12_000,
        "drift_days": 33,
        "overrides": {"steps": 200, "threads": 1, "eval_every": 200, "log_every": 200},
        "bad": {"steps": 1, "threads": 1, "eval_every": 1, "optim": {"lr": 1e-6, "warmup_steps": 0}},
    },
    "delivery-time": {
        "rows": 6_000,
        "days": 20,
        "drift_rows": 6_000,
        "drift_days": 17,
        "overrides": {"rounds": 200, "threads": 1},
        "bad": {"rounds": 1, "threads": 1},
    },
}
LOCAL = FeatureStoreSettings(mode="local")


def _quiet(line: str) -> None:
    pass


@pytest.fixture(scope="module", params=PROJECTS)
def loop(request, tmp_path_factory):
    name = request.param
    s = SCENARIO[name]
    project = shipped_project(name)
    spec = project.spec
    home = tmp_path_factory.mktemp(f"home-{name}")
    seed_project(project, home, rows=s["rows"], seed=0, start=START, days=s["days"])
    first = run_project(project, home, key="baseline", overrides=s["overrides"], features=LOCAL, log=_quiet)

    drift_start = START + timedelta(days=s["days"])
    traffic = project.module("data").generate(s["drift_rows"], seed=11, start=drift_start, days=s["drift_days"], drift={"concept": 1.0})
    ids = write_prediction_log(str(home / "projects" / name / "serving-log"), project, traffic)
    labels = pd.concat([traffic[[spec.entity.key, spec.timestamp, spec.label.column, "label_arrival_ts"]].reset_index(drop=True), ids], axis=1)
    local_repo(project, home).labels.append(labels, source="feedback")
    second = run_project(project, home, key="after-drift", overrides=s["overrides"], features=LOCAL, post_drift_since=drift_start, reason="drift", log=_quiet)
    third = run_project(project, home, key="during-experiment", overrides=s["overrides"], features=LOCAL, log=_quiet)
    refused = run_project(project, home, key="refused", overrides=s["bad"], features=LOCAL, log=_quiet)
    settings = local_settings(home).for_project(project)
    tags = {o.version: mlflow_client(settings).get_model_version(name, o.version).tags for o in (first, second, third, refused)}
    return {"project": project, "home": home, "first": first, "second": second, "third": third, "refused": refused, "tags": tags, "settings": settings}


def test_the_first_version_becomes_champion_with_its_lineage(loop):
    first, tags = loop["first"], loop["tags"]
    name = loop["project"].name
    assert (first.status, first.alias, first.exit_code) == ("registered", CHAMPION, 0), f"{name}: {first.summary()}"
    t = tags[first.version]
    assert t["sahab.data.sha256"] == first.frames.data_sha256 and t["sahab.holdout.sha256"] == first.frames.holdout_sha256, f"{name}: data hashes tagged"
    assert t["sahab.training.window"] == first.frames.training_window and t["sahab.holdout.window"] == first.frames.holdout_window, f"{name}: windows tagged"
    primary = loop["project"].spec.primary_metric
    assert float(t[f"sahab.holdout.{primary}"]) == pytest.approx(first.holdout[primary]), f"{name}: sahab.holdout.{primary}"
    assert t["sahab.retrain.key"] == "baseline" and t["sahab.gate.result"] == "passed", f"{name}: {t}"
    assert t["sahab.drift.reference"] == "monitoring/reference.npz", f"{name}: the drift reference is logged with the version"
    summary = json.loads(json.dumps(first.summary(), default=str))
    assert summary["version"] == first.version and summary["rows"]["train"] == len(first.frames.train), f"{name}: the JSON summary"


def test_after_a_drift_the_challenger_learns_the_new_rows_and_beats_the_champion(loop):
    first, second, tags = loop["first"], loop["second"], loop["tags"]
    spec = loop["project"].spec
    name, primary = spec.name, spec.primary_metric
    assert (second.status, second.alias) == ("registered", CHALLENGER), f"{name}: {second.summary()}"
    assert second.frames.data_sha256 != first.frames.data_sha256, f"{name}: the retrain's data hash must differ from the champion's"
    assert tags[second.version]["sahab.data.sha256"] != tags[first.version]["sahab.data.sha256"], f"{name}: sahab.data.sha256 tags"
    post = second.frames.lineage["post_drift"]
    assert post["share"] > 0.9 and post["train_rows"] > 3_000, f"{name}: the training set holds the post-drift rows: {post}"
    rows = second.frames.lineage["rows"]
    assert rows["exact_join"] == rows["train"] + rows["holdout"], f"{name}: labels naming their served record join it exactly: {rows}"
    assert second.champion_version == first.version and second.champion_holdout is not None, f"{name}: the champion is scored on the same holdout"
    new, old = second.holdout[primary], second.champion_holdout[primary]
    better = new > old + 0.2 if primary == "auc" else new < 0.8 * old
    assert better, f"{name}: on the common holdout the challenger's {primary} {new:.4f} must clearly beat the champion's {old:.4f}"
    t = tags[second.version]
    assert float(t[f"sahab.holdout.champion.{primary}"]) == pytest.approx(old) and t["sahab.retrain.reason"] == "drift", f"{name}: {t}"


def test_a_retrain_while_the_experiment_runs_is_queued(loop):
    third, tags = loop["third"], loop["tags"]
    name = loop["project"].name
    assert (third.status, third.alias, third.exit_code) == ("queued", None, 0), f"{name}: {third.summary()}"
    assert tags[third.version]["sahab.queued"] == "true", f"{name}: tag sahab.queued"
    aliases = alias_versions((CHAMPION, CHALLENGER), name=name, settings=loop["settings"])
    assert aliases == {CHAMPION: loop["first"].version, CHALLENGER: loop["second"].version}, f"{name}: the running experiment's aliases stay: {aliases}"


def test_a_refused_gate_registers_without_an_alias_and_exits_3(loop):
    refused, tags = loop["refused"], loop["tags"]
    name = loop["project"].name
    assert (refused.status, refused.alias, refused.exit_code) == ("gate_failed", None, 3), f"{name}: {refused.summary()}"
    assert not refused.gate.passed and refused.gate.failed, f"{name}: {refused.gate}"
    t = tags[refused.version]
    assert t["sahab.gate.result"] == "failed" and json.loads(t["sahab.gate.checks"]), f"{name}: the failed checks are tagged"
    assert "sahab.queued" not in t, f"{name}: a refused version is never queued"
