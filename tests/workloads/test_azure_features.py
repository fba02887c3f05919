"""Feast's azure mode on a real Azurite and a real Redis: the offline store and the registry under
SAHAB_FEAST_URI=abfss://..., a point-in-time training set, materialization into Redis, online reads;
and `python -m workloads.features` end to end on the same environment the AKS manifests give."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from urllib.parse import urlparse

import pandas as pd
import pytest
from servers import azurite_server, redis_server  # noqa: F401  (pytest fixtures)

from workloads.data.generator import generate
from workloads.data.schema import ENTITY, FEATURES, TIMESTAMP

pytestmark = pytest.mark.slow
ACCOUNT = "devstoreaccount1"


@pytest.fixture()
def azure_feast(azurite_server, redis_server, monkeypatch):
    """A fresh container and Redis database; the environment of the features pods on AKS (azure
    mode, abfss:// URI, uaenorth, the Redis string) plus the emulator override. Yields the
    ContainerClient (azure-storage-blob: the independent reader)."""
    from azure.storage.blob import BlobServiceClient

    for key, value in azurite_server.env.items():
        monkeypatch.setenv(key, value)
    name = f"f{uuid.uuid4().hex[:16]}"
    container = BlobServiceClient.from_connection_string(azurite_server.env["AZURE_STORAGE_CONNECTION_STRING"]).create_container(name)
    redis = urlparse(redis_server.url)
    monkeypatch.setenv("SAHAB_FEAST_MODE", "azure")
    monkeypatch.setenv("SAHAB_FEAST_URI", f"abfss://{name}@{ACCOUNT}.dfs.core.windows.net/feast")
    monkeypatch.setenv("SAHAB_FEAST_REGION", "uaenorth")
    monkeypatch.setenv("SAHAB_FEAST_REDIS_URL", f"{redis.hostname}:{redis.port}")
    monkeypatch.setenv("SAHAB_FEAST_PROJECT", f"p{uuid.uuid4().hex[:8]}")  # keys of earlier tests never answer
    return container


def test_azure_mode_trains_point_in_time_and_serves_from_redis(azure_feast, tmp_path):
    from workloads.features.store import FeatureRepo
    from workloads.settings import FeatureStoreSettings

    df = generate(2_000, seed=5, days=5)
    repo = FeatureRepo(tmp_path, FeatureStoreSettings())
    repo.write_source(df)
    repo.apply()
    names = sorted(b.name for b in azure_feast.list_blobs(name_starts_with="feast/"))
    assert names == ["feast/offline/labels.parquet", "feast/offline/transactions.parquet", "feast/registry.pb"], names
    assert not (tmp_path / "feast" / "registry.db").exists(), "the registry must live on Azure, not in SAHAB_HOME"

    # The registry a second process reads back from Azure has what was applied.
    again = FeatureRepo(tmp_path, FeatureStoreSettings())
    assert sorted(v.name for v in again.store.list_feature_views()) == ["account_activity", "transaction_features"]

    got = repo.training_set()
    want = df.sort_values([TIMESTAMP, ENTITY], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    account = df[ENTITY].value_counts().index[0]
    rows = df[df[ENTITY] == account].sort_values(TIMESTAMP).reset_index(drop=True)
    between = (rows[TIMESTAMP][0] + (rows[TIMESTAMP][1] - rows[TIMESTAMP][0]) / 2).floor("us")
    joined = repo.training_set(pd.DataFrame({ENTITY: [account], TIMESTAMP: [between]}))
    assert joined["amount"].tolist() == [rows["amount"][0]], "the latest row at or before the time, never a later one"

    repo.materialize(df[TIMESTAMP].min().to_pydatetime(), df[TIMESTAMP].max().to_pydatetime() + timedelta(seconds=1))
    accounts = [int(a) for a in df[ENTITY].unique()[:3]]
    online = repo.online(accounts)
    assert online[ENTITY].tolist() == accounts
    for account, (_, row) in zip(accounts, online.iterrows(), strict=False):
        latest = df[df[ENTITY] == account].sort_values(TIMESTAMP).iloc[-1]
        assert row["amount"] == latest["amount"] and row["channel"] == latest["channel"], f"account {account} online"


def test_the_features_cli_runs_on_abfss_end_to_end(azure_feast, tmp_path, monkeypatch, capsys):
    from workloads.features.__main__ import main
    from workloads.training.config import DataConfig
    from workloads.training.data_source import load_frame

    monkeypatch.setenv("SAHAB_HOME", str(tmp_path))
    assert main(["generate", "--rows", "1500", "--seed", "3", "--days", "4"]) == 0
    assert main(["apply"]) == 0
    out = f"abfss://{azure_feast.container_name}@{ACCOUNT}.dfs.core.windows.net/training/set.parquet"
    assert main(["training-set", "--out", out]) == 0
    lineage = json.loads(azure_feast.download_blob("training/set.parquet.lineage.json").readall())
    assert lineage["rows"] == 1500 and set(lineage["feature_views"]) == {"transaction_features", "account_activity"}

    # The retrain Job reads that training set (and its lineage) back from abfss://.
    frame, views = load_frame(DataConfig(source="parquet", path=out))
    assert len(frame) == 1500 and list(frame.columns[:2]) == [ENTITY, TIMESTAMP] and set(FEATURES) <= set(frame.columns)
    assert views == lineage["feature_views"]

    assert main(["materialize"]) == 0
    capsys.readouterr()
    account = int(frame[ENTITY].iloc[-1])
    assert main(["online", str(account)]) == 0
    assert str(account) in capsys.readouterr().out
    from workloads.features.store import FeatureRepo
    from workloads.settings import FeatureStoreSettings

    online = FeatureRepo(tmp_path, FeatureStoreSettings()).online([account]).iloc[0]
    latest = frame[frame[ENTITY] == account].sort_values(TIMESTAMP).iloc[-1]
    assert online["amount"] == latest["amount"] and online["country"] == latest["country"], "materialized by the CLI"
