"""The experiment lifecycle through the evaluator's `look()`, on a real MLflow registry (SQLite) and
both experiment stores (Redis, SQLite): rollback by default, guardrails, the maximum duration,
queued versions, promotion only when allowed, `experiment_running`, and a null experiment with
arm-dependent label delay fed hour by hour that never promotes."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from ab_helpers import ab_project, ab_registry
from servers import redis_server  # noqa: F401  (pytest fixture)

from workloads.registry import client as registry
from workloads.serving import evaluator
from workloads.serving.settings import ServingSettings, ab_config
from workloads.serving.state import Exposure, Outcome, RedisStore, SqliteStore

pytestmark = pytest.mark.slow

H = 3600.0
T0 = 1_780_000_000.0


@pytest.fixture(params=["sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "redis":
        s = RedisStore(request.getfixturevalue("redis_server").url, f"life:{uuid.uuid4().hex[:8]}:")
    else:
        s = SqliteStore(tmp_path / "ab.sqlite")
    yield s
    s.close()


def _setup(tmp_path, versions: int = 3, **experiment):
    project = ab_project(tmp_path, **experiment)
    sahab = ab_registry(tmp_path / "home", project.name, versions=versions)
    return project, sahab


def _settings(**values) -> ServingSettings:
    return ServingSettings(**{"ab_mode": "split", "reload_interval_s": 0, **values})


def _aliases(project, sahab) -> dict[str, str | None]:
    return registry.alias_versions(("champion", "challenger"), name=project.name, settings=sahab)


def _feed(store, experiment, n: int, value_of, start: float = T0) -> None:
    """n keys exposed one second apart, each with one outcome a minute after its exposure."""
    keys = [f"cust-{i}" for i in range(n)]
    store.expose(experiment.id, [Exposure(k, experiment.variant(k), start + i) for i, k in enumerate(keys)])
    store.record(experiment.id, [Outcome(f"r-{k}", k, experiment.variant(k), value_of(experiment.variant(k)), start + i + 60) for i, k in enumerate(keys)])


def test_a_harmful_challenger_is_rolled_back_by_default(tmp_path, store):
    project, sahab = _setup(tmp_path)
    settings = _settings()
    assert settings.allow_promotion is False and ab_config(project.spec, settings).rollback is True, "defaults: no promotion, rollback on"
    experiment = evaluator.current_experiment(project, settings, sahab)
    store.register(experiment, now=T0)
    _feed(store, experiment, 300, lambda v: 0.0 if v == "challenger" else 1.0)
    early = evaluator.look(store, project, settings, sahab, now=T0 + H)
    assert early["action"] == "none" and early["decision"]["n_champion"] == 0, f"nothing is sealed before unit_window + max_label_delay: {early['detail']}"
    assert evaluator.experiment_running(project, settings, sahab, store=store), "experiment_running while undecided"
    out = evaluator.look(store, project, settings, sahab, now=T0 + 7 * H)
    assert out["decision"]["recommendation"] == "rollback" and out["action"] == "rolled_back", f"look(): {out['action']}: {out['detail']}"
    assert _aliases(project, sahab) == {"champion": "1", "challenger": None}, f"aliases after rollback: {_aliases(project, sahab)}"
    assert store.ended(experiment.id)["action"] == "rolled_back", f"store.ended({experiment.id})"
    tag = registry.mlflow_client(sahab).get_model_version(project.name, "2").tags[evaluator.DECISION_TAG]
    assert json.loads(tag)["action"] == "rolled_back", f"tag {evaluator.DECISION_TAG} on v2"
    assert not evaluator.experiment_running(project, settings, sahab, store=store), "no experiment runs after the rollback"


def test_with_rollback_off_a_worse_challenger_waits_and_ends_at_max_duration(tmp_path, store):
    project, sahab = _setup(tmp_path, rollback=False)
    settings = _settings()
    experiment = evaluator.current_experiment(project, settings, sahab)
    store.register(experiment, now=T0)
    _feed(store, experiment, 300, lambda v: 0.0 if v == "challenger" else 1.0)
    out = evaluator.look(store, project, settings, sahab, now=T0 + 7 * H)
    assert out["decision"]["recommendation"] == "rollback" and out["action"] == "none", f"experiment.rollback false: {out['action']}"
    end = evaluator.look(store, project, settings, sahab, now=T0 + 7 * 86_400 + 1)
    assert end["action"] == "ended" and _aliases(project, sahab)["challenger"] is None, f"at max_duration: {end['action']}: {end['detail']}"


@pytest.mark.parametrize("broken", ["errors", "latency"])
def test_a_guardrail_stops_a_failing_or_slow_challenger(tmp_path, store, broken):
    from workloads.serving.exposures import latency_bucket

    project, sahab = _setup(tmp_path)
    settings = _settings()
    experiment = evaluator.current_experiment(project, settings, sahab)
    store.register(experiment, now=T0)
    fast, slow = latency_bucket(0.004), latency_bucket(0.040)
    counters = {"champion:requests": 5000, "champion:errors": 5, f"champion:latency:{fast}": 5000, "challenger:requests": 5000}
    if broken == "errors":
        counters |= {"challenger:errors": 400, f"challenger:latency:{fast}": 4600}
    else:
        counters |= {f"challenger:latency:{slow}": 5000}
    store.add_counters(experiment.id, counters)
    out = evaluator.look(store, project, settings, sahab, now=T0 + H)
    assert out["action"] == "rolled_back" and out["decision"]["reason"].startswith("guardrail"), f"{broken}: {out['action']}: {out['detail']}"
    breached = [g["name"] for g in out["decision"]["guardrails"] if g["breached"]]
    assert breached == [{"errors": "error_rate", "latency": "latency_p99"}[broken]], f"guardrails breached: {breached}"


def test_max_duration_ends_an_undecided_experiment_as_keep_champion(tmp_path, store):
    project, sahab = _setup(tmp_path)
    settings = _settings()
    experiment = evaluator.current_experiment(project, settings, sahab)
    store.register(experiment, now=T0)
    _feed(store, experiment, 300, lambda v: 1.0)
    assert evaluator.look(store, project, settings, sahab, now=T0 + 7 * 86_400 - 1)["action"] == "none", "before max_duration"
    out = evaluator.look(store, project, settings, sahab, now=T0 + 7 * 86_400)
    assert out["decision"]["recommendation"] == "end" and out["action"] == "ended", f"at max_duration: {out['action']}: {out['detail']}"
    assert _aliases(project, sahab) == {"champion": "1", "challenger": None}, f"keep champion: {_aliases(project, sahab)}"
    assert store.ended(experiment.id)["action"] == "ended"


def test_the_newest_queued_version_becomes_the_challenger_when_an_experiment_ends(tmp_path, store):
    project, sahab = _setup(tmp_path, versions=4)
    client = registry.mlflow_client(sahab)
    for version in ("3", "4"):  # two retrains finished while the experiment ran
        client.set_model_version_tag(project.name, version, evaluator.QUEUED_TAG, "true")
    settings = _settings()
    first = evaluator.current_experiment(project, settings, sahab)
    store.register(first, now=T0)
    out = evaluator.look(store, project, settings, sahab, now=T0 + 7 * 86_400)
    assert out["action"] == "ended" and "queued v4" in out["detail"], f"look(): {out['detail']}"
    assert _aliases(project, sahab) == {"champion": "1", "challenger": "4"}, f"aliases: {_aliases(project, sahab)}"
    tags = {v: client.get_model_version(project.name, v).tags[evaluator.QUEUED_TAG] for v in ("3", "4")}
    assert tags == {"3": "superseded", "4": "activated"}, f"{evaluator.QUEUED_TAG} tags: {tags}"
    second = evaluator.current_experiment(project, settings, sahab)
    assert second.id != first.id and second.experiment_salt != first.experiment_salt, "the queued version starts a new experiment with its own salt"
    assert evaluator.experiment_running(project, settings, sahab, store=store), "the new experiment runs"


def test_a_queued_version_starts_an_experiment_when_none_runs(tmp_path, store):
    project, sahab = _setup(tmp_path)
    client = registry.mlflow_client(sahab)
    client.delete_registered_model_alias(project.name, "challenger")
    client.set_model_version_tag(project.name, "3", evaluator.QUEUED_TAG, "true")
    settings = _settings()
    observe = evaluator.look(store, project, settings, sahab, apply=False)
    assert observe["action"] == "none" and _aliases(project, sahab)["challenger"] is None, "--no-apply moves nothing"
    out = evaluator.look(store, project, settings, sahab)
    assert out["action"] == "activated" and _aliases(project, sahab)["challenger"] == "3", f"look(): {out}"


def test_promotion_happens_only_when_allowed(tmp_path, store):
    project, sahab = _setup(tmp_path)
    experiment = evaluator.current_experiment(project, _settings(), sahab)
    store.register(experiment, now=T0)
    _feed(store, experiment, 300, lambda v: 1.0 if v == "challenger" else 0.0)
    held = evaluator.look(store, project, _settings(), sahab, now=T0 + 7 * H)
    assert held["decision"]["recommendation"] == "promote" and held["action"] == "none", f"ALLOW_PROMOTION=false: {held['action']}"
    assert evaluator.look(store, project, _settings(allow_promotion=True), sahab, now=T0 + 7 * H, apply=False)["action"] == "none", "--no-apply"
    done = evaluator.look(store, project, _settings(allow_promotion=True), sahab, now=T0 + 8 * H)
    assert done["action"] == "promoted", f"look(): {done['action']}: {done['detail']}"
    assert _aliases(project, sahab) == {"champion": "2", "challenger": None}, f"aliases after promotion: {_aliases(project, sahab)}"
    again = evaluator.act(store, experiment, done["decision"], "promote", _settings(allow_promotion=True), sahab)
    assert again.action == "none" and "ended" in again.detail, f"an ended experiment is not acted on twice: {again}"


def test_experiment_running_only_in_split_mode_with_both_aliases(tmp_path, store):
    project, sahab = _setup(tmp_path)
    assert evaluator.experiment_running(project, _settings(), sahab, store=store)
    assert not evaluator.experiment_running(project, _settings(ab_mode="shadow"), sahab, store=store), "shadow mode runs no experiment"
    assert not evaluator.experiment_running(project, _settings(challenger_weight=0.0), sahab, store=store), "weight 0 runs no experiment"
    registry.mlflow_client(sahab).delete_registered_model_alias(project.name, "challenger")
    assert not evaluator.experiment_running(project, _settings(), sahab, store=store), "no challenger, no experiment"


def test_a_null_experiment_with_arm_dependent_label_delay_never_promotes(tmp_path, store):
    """3,000 keys over 10 days, 90/10, success 0.9 in both arms; failures known after 24 h (champion)
    and 48 h (challenger), successes within the hour. Fed hour by hour as they arrive, looked at
    every 6 hours: the evaluator never recommends promote."""
    project, sahab = _setup(tmp_path, challenger_weight=0.1, min_units=200, unit_window="1d", max_label_delay="3d", max_duration="30d")
    settings = _settings()
    experiment = evaluator.current_experiment(project, settings, sahab)
    store.register(experiment, now=T0)
    rng = np.random.default_rng(48)
    n = 3000
    keys = [f"cust-{i}" for i in range(n)]
    variants = [experiment.variant(k) for k in keys]
    first = T0 + np.sort(rng.uniform(0, 10 * 86_400, n))
    success = rng.uniform(size=n) < 0.9
    late = np.where(np.array(variants) == "challenger", 48 * H, 24 * H)
    arrival = first + 60 + np.where(success, rng.uniform(0, H, n), late)
    recommendations = []
    t = T0
    while t < T0 + 14 * 86_400:
        t_next = t + 6 * H
        exposed = np.flatnonzero((first >= t) & (first < t_next))
        store.expose(experiment.id, [Exposure(keys[i], variants[i], float(first[i])) for i in exposed])
        arrived = np.flatnonzero((arrival >= t) & (arrival < t_next))
        store.record(experiment.id, [Outcome(f"r-{i}", keys[i], variants[i], float(success[i]), float(first[i] + 60)) for i in arrived])
        look = evaluator.look(store, project, settings, sahab, now=t_next, apply=False)
        recommendations.append(look["decision"]["recommendation"])
        t = t_next
    final = look["decision"]
    assert final["n_champion"] + final["n_challenger"] == n, f"every key sealed by the end: {final['n_champion']} + {final['n_challenger']}"
    assert "promote" not in recommendations, f"a null challenger was promoted at look {recommendations.index('promote')}"
