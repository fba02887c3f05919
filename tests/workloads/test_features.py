"""A project's Feast repository: definitions generated from project.yaml, point-in-time joins that
never read the future and honour each view's TTL, materialization and online reads, and the
local / aws / azure configurations, for both shipped projects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from feast import ValueType
from feast.types import Float64, Int64, String
from workload_helpers import PROJECTS, seed_project, shipped_project

from workloads.features.repo import definitions, repo_config
from workloads.project.paths import local_paths
from workloads.settings import FeatureStoreSettings

pytestmark = pytest.mark.slow
START = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module", params=PROJECTS)
def seeded(request, tmp_path_factory):
    project = shipped_project(request.param)
    repo, frame = seed_project(project, tmp_path_factory.mktemp("home"), rows=1_500, seed=2, start=START, days=4)
    repo.apply()
    return project, repo, frame


def test_local_paths_lay_out_one_folder_per_project(tmp_path):
    paths = local_paths(tmp_path, shipped_project("delivery-time"))
    root = tmp_path.resolve() / "projects" / "delivery-time"
    assert (paths.feast, paths.serving_log, paths.drift_state, paths.checkpoint("k1")) == (
        root / "feast",
        root / "serving-log",
        root / "drift-state",
        root / "checkpoints" / "k1",
    ), f"local layout under {root}"
    with pytest.raises(ValueError, match="cannot name a folder"):
        local_paths(tmp_path, "../escape")


@pytest.mark.parametrize("name", PROJECTS)
def test_definitions_come_from_project_yaml(name, tmp_path):
    spec = shipped_project(name).spec
    defs = definitions(spec, FeatureStoreSettings(mode="local"), tmp_path)
    assert defs.entity.name == spec.entity.name and defs.entity.join_key == spec.entity.key, f"{name}: entity"
    assert defs.entity.value_type == (ValueType.INT64 if spec.entity.dtype == "int64" else ValueType.STRING), f"{name}: entity value type"
    assert [v.name for v in defs.views] == [v.name for v in spec.feature_views], f"{name}: one FeatureView per feature_views entry"
    for view, declared in zip(defs.views, spec.feature_views, strict=True):
        assert view.ttl == declared.ttl, f"{name}: {view.name} ttl"
        types = {f.name: f.dtype for f in view.schema}
        assert types.pop(spec.entity.key) == (Int64 if spec.entity.dtype == "int64" else String), f"{name}: {view.name} key field"
        assert types == {f: Float64 if spec.feature(f).type == "numeric" else String for f in declared.features}, f"{name}: {view.name} fields"
    assert defs.service.name == spec.name, f"{name}: the FeatureService is named after the project"
    assert defs.source.path.endswith(f"projects/{name}/feast/offline/sources/features"), f"{name}: source {defs.source.path}"
    assert repo_config(spec, FeatureStoreSettings(mode="local"), tmp_path).project == spec.feast_project, f"{name}: Feast project"


def test_point_in_time_reproduces_each_row_at_its_own_time(seeded):
    project, repo, frame = seeded
    spec = project.spec
    labels = frame[[spec.entity.key, spec.timestamp, spec.label.column]]
    got = repo.point_in_time(labels)
    assert got.index.equals(labels.index) and got["features_found"].all(), f"{spec.name}: every row keeps its place and finds its features"
    want = frame[list(spec.feature_names)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[list(spec.feature_names)].reset_index(drop=True), want, check_dtype=False, obj=f"{spec.name} features")


def test_point_in_time_never_reads_the_future_and_keeps_duplicate_rows(seeded):
    project, repo, frame = seeded
    spec = project.spec
    key, ts = spec.entity.key, spec.timestamp
    busiest = frame[key].value_counts().index[0]
    rows = frame[frame[key] == busiest].reset_index(drop=True)
    between = (rows[ts][0] + (rows[ts][1] - rows[ts][0]) / 2).floor("us")
    before_any = rows[ts][0] - timedelta(seconds=1)
    entity = pd.DataFrame({key: [busiest, busiest, busiest], ts: [between, between, before_any]})
    got = repo.point_in_time(entity)
    first = spec.numeric[0]
    assert got[first].tolist()[:2] == [rows[first][0]] * 2, (
        f"{spec.name}: the latest row at or before the time, once per entity row (Feast alone collapses duplicates)"
    )
    assert not got["features_found"].iloc[2] and got[list(spec.feature_names)].iloc[2].isna().all(), f"{spec.name}: before the first row nothing is known"


def test_a_view_past_its_ttl_is_null_and_the_others_still_join():
    """delivery-time's road_conditions view lives 2 h, order_features 1 d: three hours after an order
    the order's features still join, its road conditions do not."""
    project = shipped_project("delivery-time")
    import tempfile
    from pathlib import Path

    repo, frame = seed_project(project, Path(tempfile.mkdtemp()), rows=300, seed=3, start=START, days=1)
    repo.apply()
    row = frame.iloc[-1]
    later = pd.DataFrame({"courier_id": [row["courier_id"]], "order_ts": [row["order_ts"] + timedelta(hours=3)]})
    got = repo.point_in_time(later).iloc[0]
    newest = frame[frame["courier_id"] == row["courier_id"]].iloc[-1]
    assert got["distance_km"] == newest["distance_km"] and got["area"] == newest["area"], "order_features (ttl 1d) still joins after 3 h"
    assert pd.isna(got["traffic_index"]) and got["weather"] is None, "road_conditions (ttl 2h) is stale after 3 h: null, never passed as current"


def test_materialize_serves_the_latest_values_online(seeded):
    project, repo, frame = seeded
    spec = project.spec
    repo.materialize_all()
    keys = list(frame[spec.entity.key].unique()[:3])
    online = repo.online(keys)
    assert online[spec.entity.key].tolist() == keys, f"{spec.name}: one row per key, in order"
    for k, (_, row) in zip(keys, online.iterrows(), strict=True):
        latest = frame[frame[spec.entity.key] == k].iloc[-1]
        for feature in (spec.numeric[0], spec.categorical[0]):
            assert row[feature] == latest[feature], f"{spec.name} key {k}: online {feature} {row[feature]!r} != latest {latest[feature]!r}"
    assert set(repo.versions()) == {v.name for v in spec.feature_views}, f"{spec.name}: versions of every view"


def test_aws_configuration_uses_redis_and_the_projects_root_in_region(tmp_path):
    spec = shipped_project("transaction-risk").spec
    settings = FeatureStoreSettings(mode="aws", s3_uri="s3://sahab-features/feast/transaction-risk", redis_url="features.abc.cache.amazonaws.com:6379,ssl=true")
    cfg = repo_config(spec, settings, tmp_path)
    assert cfg.online_store.type == "redis" and "ssl=true" in cfg.online_store.connection_string
    assert cfg.registry.path == "s3://sahab-features/feast/transaction-risk/registry.pb", "the registry sits at the project's root, never suffixed again"
    assert cfg.offline_store.type == "file" and cfg.project == "transaction_risk"
    defs = definitions(spec, settings, tmp_path)
    assert defs.source.path == "s3://sahab-features/feast/transaction-risk/offline/sources/features", defs.source.path
    assert repo_config(spec, FeatureStoreSettings(mode="aws", s3_uri="s3://b/feast/p", project="pinned"), tmp_path).project == "pinned", (
        "SAHAB_FEAST_PROJECT wins"
    )


@pytest.mark.parametrize("env, message", [({"region": "me-south-1"}, "not in the UAE"), ({"s3_uri": "gs://bucket"}, "must start with s3://")])
def test_feature_store_settings_refuse_out_of_region_or_bad_uri(env, message):
    with pytest.raises(ValueError, match=message):
        FeatureStoreSettings(**env)


def test_aws_mode_needs_the_projects_root_and_redis_only_for_the_online_store(tmp_path):
    spec = shipped_project("delivery-time").spec
    with pytest.raises(ValueError, match="SAHAB_FEAST_S3_URI=s3://bucket/feast/<project>"):
        repo_config(spec, FeatureStoreSettings(mode="aws"), tmp_path)
    offline_only = repo_config(spec, FeatureStoreSettings(mode="aws", s3_uri="s3://f/feast/delivery-time"), tmp_path)
    assert offline_only.online_store.type == "sqlite" and offline_only.registry.path == "s3://f/feast/delivery-time/registry.pb"
    with_redis = repo_config(spec, FeatureStoreSettings(mode="aws", s3_uri="s3://f/feast/delivery-time", redis_url="h:6379,ssl=true"), tmp_path)
    assert with_redis.online_store.type == "redis", "with Redis the online store is Redis"
