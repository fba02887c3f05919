"""Model governance in the pack: the projects deployed, and what a real MLflow registry (SQLite-backed,
written through MlflowClient as the pipeline and the evaluator write it) and the drift job's state
say about each; offline, the inventory says so."""

from __future__ import annotations

import json

import pytest
from evidence_helpers import REPO, local_pack

from sahab.evidence.inventory import build_inventory, monitoring_history, projects_of, registry_inventory

DECISION = {"action": "promoted", "recommendation": "promote", "reason": "challenger better: lift 0.031, p 0.004", "units": 412, "p_value": 0.004}


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("transaction-risk")
    for version, tags in (
        ("1", {"sahab.data.sha256": "a" * 64, "sahab.holdout.auc": "0.91", "sahab.training.window": "2026-10-01/2026-10-31"}),
        (
            "2",
            {
                "sahab.data.sha256": "b" * 64,
                "sahab.holdout.auc": "0.93",
                "sahab.abtest.decision": json.dumps(DECISION),
                "sahab.promotion.at": "2026-11-20T10:00:00+00:00",
                "sahab.promotion.previous": "1",
                "sahab.model_card": "runs:/r2/model_card.html",
            },
        ),
    ):
        mv = client.create_model_version("transaction-risk", source=f"file:///tmp/v{version}", tags=tags)
        assert str(mv.version) == version, mv
    client.set_registered_model_alias("transaction-risk", "champion", "2")
    client.set_registered_model_alias("transaction-risk", "previous", "1")
    return uri


def test_the_registry_inventory_names_versions_aliases_data_decisions_and_promotions(registry):
    inv = registry_inventory(registry, ["transaction-risk", "delivery-time"])
    assert inv["reachable"], inv
    model = inv["models"]["transaction-risk"]
    assert model["aliases"] == {"champion": "2", "previous": "1"}, model["aliases"]
    v1, v2 = model["versions"]
    assert v1["data_sha256"] == "a" * 64 and v1["holdout"]["auc"] == 0.91 and v1["aliases"] == ["previous"], v1
    assert v2["abtest_decision"] == DECISION, "the A/B decision keeps its statistics"
    assert v2["promotion"] == {"at": "2026-11-20T10:00:00+00:00", "previous": 1}, v2["promotion"]
    assert v2["model_card"] == "runs:/r2/model_card.html" and v2["aliases"] == ["champion"], v2
    assert inv["models"]["delivery-time"] == {"registered": False}, "a project never registered says so"


def test_an_unreachable_registry_is_reported_not_fatal():
    inv = registry_inventory("http://127.0.0.1:9", ["transaction-risk"])
    assert inv["reachable"] is False and inv["models"] == {} and inv["error"], inv


def test_monitoring_history_reads_the_drift_jobs_state(tmp_path):
    from workloads.monitoring.job import JobState

    state_uri = str(tmp_path / "drift-state" / "transaction-risk")
    JobState(
        watermark="2026-11-30T23:00:00+00:00",
        model_version="2",
        triggers=[{"at": "2026-11-10T00:00:00+00:00", "key": "drift-1"}],
        promotions=[{"from": "1", "to": "2"}],
    ).save(state_uri)
    hist = monitoring_history({"transaction-risk": state_uri, "delivery-time": str(tmp_path / "nothing")})
    assert hist["transaction-risk"]["model_version"] == "2" and hist["transaction-risk"]["promotions"] == [{"from": "1", "to": "2"}], hist
    assert hist["delivery-time"]["triggers"] == [], "a project whose job never ran has an empty history"


def test_projects_come_from_the_spec_when_it_lists_them():
    assert [p["name"] for p in projects_of(REPO, {})] == ["delivery-time", "transaction-risk"], "else every projects/*/project.yaml"
    listed = projects_of(REPO, {"kubernetes": {"projects": ["transaction-risk"]}})
    assert [(p["name"], p["team"], p["source"]) for p in listed] == [("transaction-risk", "risk", "spec kubernetes.projects")], listed
    bound = projects_of(REPO, {"kubernetes": {"projects": [{"name": "transaction-risk", "team": "fraud"}, {"name": "gone", "path": "projects/gone"}]}})
    assert [(p["name"], p["team"], p["framework"], p["folder"]) for p in bound] == [
        ("transaction-risk", "fraud", "torch", "projects/transaction-risk"),
        ("gone", None, None, None),
    ], "a binding's team overrides the project's; a folder that is not there is reported as such"


def test_offline_the_inventory_says_so_and_a_pack_carries_the_registry(registry, tmp_path):
    offline = build_inventory(REPO, {}, None, None)
    assert offline["registry"] is None and offline["registry_note"].startswith("offline: no registry"), offline
    pack = local_pack(tmp_path, registry=registry)
    inv = json.loads((pack.out / "inventory.json").read_text())
    assert inv["registry"]["models"]["transaction-risk"]["versions"][1]["abtest_decision"]["p_value"] == 0.004, "the pack's inventory.json"
    html = (pack.out / "index.html").read_text()
    assert "champion → v2" in html and "promoted: challenger better: lift 0.031, p 0.004" in html, "the dashboard shows aliases and the A/B decision"
