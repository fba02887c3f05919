"""Feast repository: point-in-time correctness, materialization, both configurations."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from workloads.data.generator import generate
from workloads.data.schema import ENTITY, TIMESTAMP
from workloads.features.repo import repo_config
from workloads.settings import FeatureStoreSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    from workloads.features.store import FeatureRepo

    df = generate(3_000, seed=2)
    repo = FeatureRepo(tmp_path_factory.mktemp("feast"), FeatureStoreSettings(mode="local"))
    repo.write_source(df)
    repo.apply()
    return repo, df


def test_training_set_reproduces_the_rows_at_their_own_time(repo):
    repo, df = repo
    got = repo.training_set()
    want = df.sort_values([TIMESTAMP, ENTITY], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)


def test_point_in_time_join_never_reads_the_future(repo):
    repo, df = repo
    account = df[ENTITY].value_counts().index[0]
    rows = df[df[ENTITY] == account].reset_index(drop=True)
    between = (rows[TIMESTAMP][0] + (rows[TIMESTAMP][1] - rows[TIMESTAMP][0]) / 2).floor("us")
    before_any = rows[TIMESTAMP][0] - timedelta(seconds=1)
    entity_df = pd.DataFrame({ENTITY: [account, account], TIMESTAMP: [between, before_any]})
    got = repo.training_set(entity_df).set_index(TIMESTAMP)
    assert got.loc[between, "amount"] == rows["amount"][0], "must take the latest row at or before the time"
    # Feast's file store drops an entity row with no feature row at or before it; either way,
    # the later rows of that account must not be joined to it.
    assert before_any not in got.index or pd.isna(got.loc[before_any, "amount"]), "future value leaked"


def test_materialize_serves_the_latest_values_online(repo):
    repo, df = repo
    repo.materialize(df[TIMESTAMP].min().to_pydatetime(), df[TIMESTAMP].max().to_pydatetime() + timedelta(seconds=1))
    accounts = [int(a) for a in df[ENTITY].unique()[:3]]
    online = repo.online(accounts)
    for account, (_, row) in zip(accounts, online.iterrows(), strict=False):
        latest = df[df[ENTITY] == account].iloc[-1]
        assert row["amount"] == latest["amount"] and row["channel"] == latest["channel"], f"account {account}"
    assert set(repo.versions()) == {"transaction_features", "account_activity"}


def test_aws_configuration_uses_redis_and_s3_in_region(tmp_path):
    cfg = repo_config(
        FeatureStoreSettings(mode="aws", s3_uri="s3://sahab-features/feast", redis_url="features.abc.cache.amazonaws.com:6379,ssl=true"), tmp_path
    )
    assert cfg.online_store.type == "redis" and "ssl=true" in cfg.online_store.connection_string
    assert cfg.registry.path == "s3://sahab-features/feast/registry.pb"
    assert cfg.offline_store.type == "file"
    from workloads.features.repo import definitions

    _, views, _ = definitions(FeatureStoreSettings(mode="aws", s3_uri="s3://sahab-features/feast", redis_url="x:6379"), tmp_path)
    assert views[0].batch_source.path == "s3://sahab-features/feast/offline/transactions.parquet"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"region": "me-south-1"}, "not in the UAE"),
        ({"s3_uri": "gs://bucket"}, "must start with s3://"),
    ],
)
def test_feature_store_settings_refuse_out_of_region_or_bad_uri(env, message):
    with pytest.raises(ValueError, match=message):
        FeatureStoreSettings(**env)


def test_aws_mode_needs_a_bucket_and_redis_only_for_the_online_store(tmp_path):
    with pytest.raises(ValueError, match="SAHAB_FEAST_S3_URI"):
        repo_config(FeatureStoreSettings(mode="aws"), tmp_path)
    # The retrain Job reads only the offline store: no Redis secret, a throwaway online store.
    offline_only = repo_config(FeatureStoreSettings(mode="aws", s3_uri="s3://sahab-features/feast"), tmp_path)
    assert offline_only.online_store.type == "sqlite" and offline_only.registry.path == "s3://sahab-features/feast/registry.pb"
    with_redis = repo_config(FeatureStoreSettings(mode="aws", s3_uri="s3://sahab-features/feast", redis_url="h:6379,ssl=true"), tmp_path)
    assert with_redis.online_store.type == "redis", "with Redis the online store is Redis"
