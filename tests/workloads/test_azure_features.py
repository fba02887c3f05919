"""Feast's azure mode on a real Azurite and a real Redis: a project's offline store, labels, frozen
training sets and registry under its SAHAB_FEAST_URI=abfss://..., point-in-time joins,
materialization into Redis, online reads; and `python -m workloads.features` end to end on the
environment the AKS manifests give."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pandas as pd
import pytest
from servers import azurite_server, redis_server  # noqa: F401  (pytest fixtures)
from workload_helpers import shipped_project

pytestmark = pytest.mark.slow
ACCOUNT = "devstoreaccount1"
START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture()
def azure_feast(azurite_server, redis_server, monkeypatch):
    """A fresh container and Redis database; the environment of a project's features pods on AKS
    (azure mode, the project's abfss:// root, uaenorth, the Redis string) plus the emulator
    override. Yields the ContainerClient (azure-storage-blob: the independent reader)."""
    from azure.storage.blob import BlobServiceClient

    for key, value in azurite_server.env.items():
        monkeypatch.setenv(key, value)
    name = f"f{uuid.uuid4().hex[:16]}"
    container = BlobServiceClient.from_connection_string(azurite_server.env["AZURE_STORAGE_CONNECTION_STRING"]).create_container(name)
    redis = urlparse(redis_server.url)
    monkeypatch.setenv("SAHAB_FEAST_MODE", "azure")
    monkeypatch.setenv("SAHAB_FEAST_URI", f"abfss://{name}@{ACCOUNT}.dfs.core.windows.net/feast/transaction-risk")
    monkeypatch.setenv("SAHAB_FEAST_REGION", "uaenorth")
    monkeypatch.setenv("SAHAB_FEAST_REDIS_URL", f"{redis.hostname}:{redis.port}")
    monkeypatch.setenv("SAHAB_FEAST_PROJECT", f"p{uuid.uuid4().hex[:8]}")  # keys of earlier tests never answer
    return container


def test_azure_mode_keeps_a_project_whole_under_its_root(azure_feast, tmp_path):
    from workloads.features import frames
    from workloads.features.ingest import generate
    from workloads.features.store import FeatureRepo
    from workloads.settings import FeatureStoreSettings

    project = shipped_project("transaction-risk")
    repo = FeatureRepo(project, tmp_path, FeatureStoreSettings())
    df = generate(project, repo, rows=2_000, seed=5, start=START, days=5)
    repo.apply()
    names = sorted(b.name for b in azure_feast.list_blobs(name_starts_with="feast/transaction-risk/"))
    assert "feast/transaction-risk/registry.pb" in names, names
    assert any(n.startswith("feast/transaction-risk/offline/sources/features/batch/generated-") for n in names), names
    assert any(n.startswith("feast/transaction-risk/offline/labels/arrival_date=") for n in names), names
    assert not (tmp_path / "projects" / "transaction-risk" / "feast" / "registry.db").exists(), "the registry must live on Azure, not in SAHAB_HOME"

    # The registry a second process reads back from Azure has what was applied.
    again = FeatureRepo(project, tmp_path, FeatureStoreSettings())
    assert sorted(v.name for v in again.store.list_feature_views()) == ["account_activity", "transaction_features"]

    got = repo.point_in_time(df[["account_id", "event_timestamp"]])
    pd.testing.assert_frame_equal(
        got[list(project.spec.feature_names)], df[list(project.spec.feature_names)], check_dtype=False, obj="point in time on abfss://"
    )
    account = df["account_id"].value_counts().index[0]
    rows = df[df["account_id"] == account].reset_index(drop=True)
    between = (rows["event_timestamp"][0] + (rows["event_timestamp"][1] - rows["event_timestamp"][0]) / 2).floor("us")
    joined = repo.point_in_time(pd.DataFrame({"account_id": [account], "event_timestamp": [between]}))
    assert joined["amount"].tolist() == [rows["amount"][0]], "the latest row at or before the time, never a later one"

    built = frames.frames_for(repo, "k-azure", log=lambda line: None)
    lineage = json.loads(azure_feast.download_blob("feast/transaction-risk/training-sets/k-azure/lineage.json").readall())
    assert lineage["data_sha256"] == built.data_sha256 and lineage["rows"]["train"] == len(built.train), "the frozen set is on Azure"
    assert frames.frames_for(repo, "k-azure", log=lambda line: None).reused, "and read back from it"

    repo.materialize_all()
    accounts = [int(a) for a in df["account_id"].unique()[:3]]
    online = repo.online(accounts)
    assert online["account_id"].tolist() == accounts
    for acc, (_, row) in zip(accounts, online.iterrows(), strict=True):
        latest = df[df["account_id"] == acc].iloc[-1]
        assert row["amount"] == latest["amount"] and row["channel"] == latest["channel"], f"account {acc} online"


def test_the_features_cli_runs_on_abfss_end_to_end(azure_feast, tmp_path, monkeypatch, capsys):
    from workloads.features.__main__ import main
    from workloads.features.store import FeatureRepo
    from workloads.settings import FeatureStoreSettings

    project = shipped_project("transaction-risk")
    monkeypatch.setenv("SAHAB_HOME", str(tmp_path))
    monkeypatch.setenv("SAHAB_PROJECT", str(project.folder))
    assert main(["generate", "--rows", "1500", "--seed", "3", "--days", "4"]) == 0
    assert main(["apply"]) == 0
    capsys.readouterr()
    assert main(["training-set", "--key", "k-cli"]) == 0
    lineage = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    stored = json.loads(azure_feast.download_blob("feast/transaction-risk/training-sets/k-cli/lineage.json").readall())
    assert lineage == stored and set(lineage["feature_views"]) == {"transaction_features", "account_activity"}, lineage
    assert lineage["rows"]["train"] + lineage["rows"]["holdout"] == lineage["rows"]["labels_in_windows"], lineage["rows"]

    assert main(["materialize"]) == 0
    capsys.readouterr()
    rows = FeatureRepo(project, tmp_path, FeatureStoreSettings()).rows()
    account = int(rows["account_id"].iloc[-1])
    assert main(["online", str(account)]) == 0
    assert str(account) in capsys.readouterr().out
    online = FeatureRepo(project, tmp_path, FeatureStoreSettings()).online([account]).iloc[0]
    latest = rows[rows["account_id"] == account].sort_values("event_timestamp").iloc[-1]
    assert online["amount"] == latest["amount"] and online["country"] == latest["country"], "materialized by the CLI"
    assert main(["generate", "--rows", "10", "--drift", '{"concept": 1.0}', "--start", (START + timedelta(days=9)).isoformat()]) == 0, (
        "drift controls pass through"
    )
