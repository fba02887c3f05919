"""The control plane in process (Starlette test client) over the embedded store, a small MLflow
registry and the project's real label store: token, declared outcome range, attribution by
experiment id or generated request id (unattributable feedback refused), event times, labels to the
label store, and promotion / rollback guarded by settings."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest
from ab_helpers import ab_project, ab_registry
from starlette.testclient import TestClient

from workloads.features.labels import LabelStore
from workloads.project import Project
from workloads.registry import client as registry_client
from workloads.serving import evaluator
from workloads.serving.control import create_app
from workloads.serving.exposures import new_request_id
from workloads.serving.settings import ServingSettings
from workloads.serving.state import Experiment, Exposure, SqliteStore
from workloads.settings import SahabSettings

pytestmark = pytest.mark.slow

AUTH = {"Authorization": "Bearer s3cret"}
T0 = 1_780_000_000.0


@dataclass
class Control:
    """The app's test client and what it runs on."""

    http: TestClient
    project: Project
    sahab: SahabSettings
    store: SqliteStore
    labels: LabelStore
    experiment: Experiment

    def get(self, path: str, **kwargs):
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.http.post(path, **kwargs)


@pytest.fixture
def control(tmp_path):
    project = ab_project(tmp_path)
    sahab = ab_registry(tmp_path / "home", project.name)
    labels = LabelStore(project, str(tmp_path / "feast"))
    store = SqliteStore(tmp_path / "ab.sqlite")

    def build(**values) -> Control:
        settings = ServingSettings(**{"control_token": "s3cret", "ab_mode": "split", "reload_interval_s": 0, **values})
        experiment = evaluator.current_experiment(project, settings, sahab)
        assert experiment is not None, "the registry's champion v1 and challenger v2 define an experiment"
        return Control(TestClient(create_app(settings, sahab, store, project=project, labels=labels)), project, sahab, store, labels, experiment)

    yield build
    store.close()


def test_every_call_but_healthz_needs_the_bearer_token(control):
    client = control()
    assert client.get("/healthz").status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
        assert client.get("/experiment", headers=headers).status_code == 401
        assert client.post("/feedback", json={}, headers=headers).status_code == 401
        assert client.post("/labels", json={}, headers=headers).status_code == 401
    no_token = control(control_token=None)
    resp = no_token.get("/experiment", headers=AUTH)
    assert resp.status_code == 401 and "SAHAB_SERVING_CONTROL_TOKEN" in resp.json()["error"]


def _item(client, **fields) -> dict:
    return {
        "request_id": "client-req-1",
        "key": "cust-1",
        "outcome": 1.0,
        "experiment_id": client.experiment.id,
        "event_time": "2026-05-01T12:00:00Z",
        **fields,
    }


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"outcome": 1.5}, "outcome"),
        ({"outcome": -0.1}, "outcome"),
        ({"outcome": "good"}, "outcome"),
        ({"request_id": None}, "request_id"),
        ({"variant": "shadow"}, "variant"),
        ({"experiment_id": "feedfeedfeedfeed"}, "experiment_id"),
        ({"experiment_id": None}, "experiment_id"),  # a client's own request id and no experiment: unattributable
        ({"event_time": None}, "event_time"),  # no event time and no generated request id to take it from
        ({"event_time": "2026-05-01T12:00:00"}, "event_time"),  # no time zone
        ({"label": 0.5}, "label"),  # a binary label
        ({"record": -1}, "record"),
    ],
)
def test_bad_feedback_is_a_400_naming_the_field_and_stores_nothing(control, fields, field):
    client = control()
    good = _item(client, request_id="good-1", key="cust-2")
    resp = client.post("/feedback", json={"outcomes": [good, _item(client, **fields)]}, headers=AUTH)
    assert resp.status_code == 400, resp.text
    assert any(d["loc"][:3] == ["outcomes", 1, field] for d in resp.json()["detail"]), f"outcomes.1.{field} not named: {resp.json()}"
    assert client.store.counts(client.experiment.id)["outcomes:champion"] + client.store.counts(client.experiment.id)["outcomes:challenger"] == 0, (
        "a refused batch must store nothing"
    )


def test_feedback_is_attributed_by_a_generated_request_id_with_its_served_time(control):
    client = control()
    exp = client.experiment
    served = T0 + 12.345
    client.store.expose(exp.id, [Exposure("cust-9", exp.variant("cust-9"), served)])
    rid = new_request_id(exp.id, served)
    resp = client.post("/feedback", json={"outcomes": [{"request_id": rid, "key": "cust-9", "outcome": 1.0}]}, headers=AUTH)
    assert resp.status_code == 200 and resp.json()["accepted"] == 1 and resp.json()["experiments"] == [exp.id], resp.text
    client.store.seal(exp.id, served + 10 * 3600, 4 * 3600, 2 * 3600)
    assert client.store.units(exp.id) == ([exp.variant("cust-9")], [1.0]), "the outcome's event time is the served time: inside the unit window"
    other = new_request_id("0123456789abcdef", served)
    clash = client.post("/feedback", json={"outcomes": [{"request_id": other, "key": "cust-9", "outcome": 1.0, "experiment_id": exp.id}]}, headers=AUTH)
    assert clash.status_code == 400 and clash.json()["detail"][0]["loc"] == ["outcomes", 0, "experiment_id"], clash.text
    none = client.post("/feedback", json={"outcomes": [{"request_id": new_request_id(None, served), "key": "cust-9", "outcome": 1.0}]}, headers=AUTH)
    assert none.status_code == 200 and none.json()["no_experiment"] == 1 and none.json()["accepted"] == 0, f"served without an experiment: {none.text}"


def test_a_variant_other_than_the_keys_assignment_is_refused(control):
    client = control()
    key = "cust-7"
    wrong = "champion" if client.experiment.variant(key) == "challenger" else "challenger"
    resp = client.post("/feedback", json={"outcomes": [_item(client, key=key, variant=wrong)]}, headers=AUTH)
    assert resp.status_code == 400 and ["outcomes", 0, "variant"] == resp.json()["detail"][0]["loc"], resp.text


def test_feedback_labels_and_the_labels_endpoint_land_in_the_label_store(control):
    client = control()
    spec = client.project.spec
    items = [_item(client, request_id="req-a", key="cust-1", record=0, label=1), _item(client, request_id="req-a", key="cust-1", record=1, label=False)]
    resp = client.post("/feedback", json={"outcomes": items}, headers=AUTH)
    assert resp.status_code == 200 and resp.json()["labels"] == 2 and resp.json()["accepted"] == 2, resp.text
    api = client.post("/labels", json={"labels": [{"key": "cust-2", "event_time": "2026-05-02T08:30:00+04:00", "label": 1}]}, headers=AUTH)
    assert api.status_code == 200 and api.json() == {"accepted": 1}, api.text
    stored = client.labels.read()
    assert sorted(stored["source"]) == ["feedback", "feedback", "labels-api"], f"label store sources: {stored['source'].tolist()}"
    fed = stored[stored["source"] == "feedback"].sort_values("record")
    assert fed[spec.label.column].tolist() == [1, 0] and fed["request_id"].tolist() == ["req-a", "req-a"], f"feedback labels: {fed.to_dict('records')}"
    assert fed[spec.timestamp].iloc[0] == pd.Timestamp("2026-05-01T12:00:00Z"), f"{spec.timestamp} of a feedback label"
    via_api = stored[stored["source"] == "labels-api"].iloc[0]
    assert via_api[spec.timestamp] == pd.Timestamp("2026-05-02T04:30:00Z"), f"{spec.timestamp} of a /labels label (converted to UTC)"
    bad = client.post("/labels", json={"labels": [{"key": "cust-3", "event_time": "2026-05-02T08:30:00Z", "label": "yes", "record": 2}]}, headers=AUTH)
    assert bad.status_code == 400 and {tuple(d["loc"]) for d in bad.json()["detail"]} == {("labels", 0, "label"), ("labels", 0, "record")}, bad.text


def _feed_experiment(client, challenger_value: float, champion_value: float, n: int = 300) -> None:
    exp = client.experiment
    client.store.register(exp, now=T0)
    client.store.expose(exp.id, [Exposure(f"k{i}", exp.variant(f"k{i}"), T0 + i) for i in range(n)])
    outcomes = [
        {
            "request_id": f"r{i}",
            "key": f"k{i}",
            "outcome": challenger_value if exp.variant(f"k{i}") == "challenger" else champion_value,
            "experiment_id": exp.id,
        }
        | {"event_time": pd.Timestamp(T0 + i + 30, unit="s", tz="UTC").isoformat()}
        for i in range(n)
    ]
    ack = client.post("/feedback", json={"outcomes": outcomes}, headers=AUTH).json()
    assert ack["accepted"] == n, ack


def test_promotion_is_refused_when_not_allowed_and_reported_otherwise(control):
    client = control()
    _feed_experiment(client, 1.0, 0.0)
    status = client.get("/experiment", headers=AUTH).json()
    assert status["decision"]["recommendation"] == "promote", status  # sealed: the test's clock is long past T0 + W + D
    dry = client.post("/promote", json={"apply": False}, headers=AUTH)
    assert dry.status_code == 200 and dry.json()["action"] == "none"
    resp = client.post("/promote", json={"apply": True}, headers=AUTH)
    assert resp.status_code == 409 and "ALLOW_PROMOTION" in resp.json()["error"], resp.text
    assert client.post("/promote", json={"apply": "yes"}, headers=AUTH).status_code == 400


def test_a_worse_challenger_is_rolled_back_by_version_without_promotion_rights(control):
    client = control()
    _feed_experiment(client, 0.0, 1.0)
    resp = client.post("/promote", json={"apply": True}, headers=AUTH)
    body = resp.json()
    assert resp.status_code == 200 and body["recommendation"] == "rollback" and body["action"] == "rolled_back", body
    versions = registry_client.alias_versions(("champion", "challenger"), name=client.project.name, settings=client.sahab)
    assert versions == {"champion": "1", "challenger": None}, versions


def test_the_token_can_come_from_a_mounted_file(control, tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    client = control(control_token_file=tmp_path / "token")
    assert client.get("/experiment", headers={"Authorization": "Bearer from-file"}).status_code == 200
    assert client.get("/experiment", headers=AUTH).status_code == 401, "the file wins over CONTROL_TOKEN"
    (tmp_path / "empty").write_text("")
    with pytest.raises(ValueError, match="CONTROL_TOKEN_FILE.*empty"):
        control(control_token_file=tmp_path / "empty")
