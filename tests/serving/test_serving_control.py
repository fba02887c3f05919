"""The control plane in process (Starlette test client) over the embedded store and the session
registry: token, declared outcome range, attribution, and promotion guarded by settings."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from workloads.serving.abtest import assign
from workloads.serving.control import create_app
from workloads.serving.settings import ServingSettings
from workloads.serving.state import SqliteStore
from workloads.settings import SahabSettings

AUTH = {"Authorization": "Bearer s3cret"}


@pytest.fixture
def control(registry, tmp_path):
    def build(**values) -> TestClient:
        settings = ServingSettings(
            **{
                "control_token": "s3cret",
                "ab_mode": "split",
                "challenger_weight": 0.5,
                "test_key_outcomes": 1,
                "test_min_samples": 20,
                "reload_interval_s": 0,
                **values,
            }
        )
        return TestClient(create_app(settings, SahabSettings(), SqliteStore(tmp_path / "ab.sqlite")))

    return build


def test_every_call_but_healthz_needs_the_bearer_token(control):
    client = control()
    assert client.get("/healthz").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        assert client.get("/experiment", headers=headers).status_code == 401
        assert client.post("/feedback", json={}, headers=headers).status_code == 401
    no_token = control(control_token=None)
    resp = no_token.get("/experiment", headers=AUTH)
    assert resp.status_code == 401 and "SAHAB_SERVING_CONTROL_TOKEN" in resp.json()["error"]


@pytest.mark.parametrize(
    "outcome,field",
    [
        ({"request_id": "r", "key": "k", "outcome": 1.5}, ["outcomes", 0, "outcome"]),
        ({"request_id": "r", "key": "k", "outcome": -0.1}, ["outcomes", 0, "outcome"]),
        ({"request_id": "r", "key": "k", "outcome": "good"}, ["outcomes", 0, "outcome"]),
        ({"key": "k", "outcome": 1.0}, ["outcomes", 0, "request_id"]),
        ({"request_id": "r", "key": "k", "outcome": 1.0, "variant": "shadow"}, ["outcomes", 0, "variant"]),
        ({"request_id": "r", "key": "k", "outcome": 1.0, "experiment_id": "feedfeedfeedfeed"}, ["outcomes", 0, "experiment_id"]),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field(control, outcome, field):
    resp = control().post("/feedback", json={"outcomes": [outcome]}, headers=AUTH)
    assert resp.status_code == 400, resp.text
    assert any(d["loc"][: len(field)] == field for d in resp.json()["detail"]), resp.json()


def test_a_variant_other_than_the_keys_assignment_is_refused(control):
    client = control()
    key = "acct-7"
    wrong = "champion" if assign(key, 0.5, "sahab-ab-1") == "challenger" else "challenger"
    resp = client.post("/feedback", json={"outcomes": [{"request_id": "r", "key": key, "outcome": 1.0, "variant": wrong}]}, headers=AUTH)
    assert resp.status_code == 400 and ["outcomes", 0, "variant"] == resp.json()["detail"][0]["loc"], resp.text


def test_promotion_is_refused_when_not_allowed_and_reported_otherwise(control):
    client = control()
    outcomes = [{"request_id": f"r{i}", "key": f"k{i}", "outcome": 1.0 if assign(f"k{i}", 0.5, "sahab-ab-1") == "challenger" else 0.0} for i in range(300)]
    ack = client.post("/feedback", json={"outcomes": outcomes}, headers=AUTH).json()
    assert ack["accepted"] == 300 and ack["sealed"] == 300
    status = client.get("/experiment", headers=AUTH).json()
    assert status["decision"]["recommendation"] == "promote", status
    dry = client.post("/promote", json={"apply": False}, headers=AUTH)
    assert dry.status_code == 200 and dry.json()["action"] == "none"
    resp = client.post("/promote", json={"apply": True}, headers=AUTH)
    assert resp.status_code == 409 and "ALLOW_PROMOTION" in resp.json()["error"], resp.text
    assert client.post("/promote", json={"apply": "yes"}, headers=AUTH).status_code == 400


def test_the_token_can_come_from_a_mounted_file(control, tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    client = control(control_token_file=tmp_path / "token")
    assert client.get("/experiment", headers={"Authorization": "Bearer from-file"}).status_code == 200
    assert client.get("/experiment", headers=AUTH).status_code == 401, "the file wins over CONTROL_TOKEN"
    (tmp_path / "empty").write_text("")
    with pytest.raises(ValueError, match="CONTROL_TOKEN_FILE.*empty"):
        control(control_token_file=tmp_path / "empty")


def test_a_worse_challenger_is_rolled_back_by_version(control, registry_copy):
    from workloads.registry import client as registry_client

    client = control(allow_promotion=True)
    outcomes = [{"request_id": f"r{i}", "key": f"k{i}", "outcome": 0.0 if assign(f"k{i}", 0.5, "sahab-ab-1") == "challenger" else 1.0} for i in range(300)]
    client.post("/feedback", json={"outcomes": outcomes}, headers=AUTH)
    resp = client.post("/promote", json={"apply": True}, headers=AUTH)
    body = resp.json()
    assert resp.status_code == 200 and body["recommendation"] == "rollback" and body["action"] == "rolled_back", body
    versions = registry_client.alias_versions(("champion", "challenger"))
    assert versions == {"champion": registry_copy.champion, "challenger": None}, versions
