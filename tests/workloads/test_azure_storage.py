"""abfss:// for every workload (workloads/storage.py), on a real Azurite: serving's prediction log
read by the drift job, checkpoints saved and resumed, and the settings that name what is wrong.

Azurite's Blob service stands where the storage account is: the emulator override
(SAHAB_AZURE_BLOB_ENDPOINT + AZURE_STORAGE_ACCOUNT_KEY) is the only difference from the cluster,
and every read-back here goes through azure-storage-blob, a client the workloads do not use."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from servers import azurite_server  # noqa: F401  (pytest fixture)

from workloads import storage

ACCOUNT = "devstoreaccount1"  # Azurite's account; the URI names it, as on the cluster
T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)


def abfss(container: str, path: str = "") -> str:
    return f"abfss://{container}@{ACCOUNT}.dfs.core.windows.net/{path}".rstrip("/")


@pytest.fixture()
def container(azurite_server, monkeypatch):
    """A fresh container on Azurite and the emulator override in the environment; yields its
    azure-storage-blob ContainerClient (the independent reader)."""
    from azure.storage.blob import BlobServiceClient

    for key, value in azurite_server.env.items():
        monkeypatch.setenv(key, value)
    name = f"t{uuid.uuid4().hex[:16]}"
    client = BlobServiceClient.from_connection_string(azurite_server.env["AZURE_STORAGE_CONNECTION_STRING"])
    return client.create_container(name)


def blobs(container_client, prefix: str = "") -> list[str]:
    return sorted(b.name for b in container_client.list_blobs(name_starts_with=prefix))


# --- the URI forms and the errors (no server) ---


def test_uri_forms_parse_to_one_location():
    loc = storage.parse("abfss://offline-features@sahabuae.dfs.core.windows.net/serving-log/")
    assert (loc.scheme, loc.account, loc.container, loc.path) == ("abfss", "sahabuae", "offline-features", "serving-log")
    assert loc.arrow_path == "offline-features/serving-log", "pyarrow's AzureFileSystem takes container/path"
    assert loc.uri == "abfss://offline-features@sahabuae.dfs.core.windows.net/serving-log"
    assert storage.parse("abfs://c1x@sahabuae.blob.core.windows.net/a").uri == "abfss://c1x@sahabuae.dfs.core.windows.net/a"
    s3 = storage.parse("s3://bucket/prefix/")
    assert (s3.scheme, s3.container, s3.path, s3.arrow_path) == ("s3", "bucket", "prefix", "bucket/prefix")
    assert storage.parse("file:///tmp/x/").path == "/tmp/x" and storage.parse("rel").path == os.path.abspath("rel")
    assert storage.join("abfss://c@a.dfs.core.windows.net/feast/", "/offline/", "t.parquet") == "abfss://c@a.dfs.core.windows.net/feast/offline/t.parquet"


@pytest.mark.parametrize(
    "uri, why",
    [
        ("abfss://sahabuae.dfs.core.windows.net/serving-log", "names no container and account"),
        ("abfss://@sahabuae.dfs.core.windows.net/serving-log", "names no container and account"),
        ("abfss://logs@sahabuae/serving-log", "names no container and account"),
        ("gs://bucket/log", "unknown scheme gs://"),
        ("s3:///log", "names no bucket"),
    ],
)
def test_an_unusable_uri_names_the_variable_and_the_accepted_forms(uri, why):
    with pytest.raises(ValueError) as err:
        storage.filesystem(uri, "SAHAB_DRIFT_LOG_URI")
    message = str(err.value)
    assert message.startswith(f"SAHAB_DRIFT_LOG_URI={uri!r}") and why in message, message
    assert "abfss://<container>@<account>.dfs.core.windows.net/<path>" in message and "s3://<bucket>" in message, message


def test_the_emulator_override_needs_its_key(monkeypatch):
    monkeypatch.setenv("SAHAB_AZURE_BLOB_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_KEY", raising=False)
    with pytest.raises(ValueError, match="needs AZURE_STORAGE_ACCOUNT_KEY"):
        storage.filesystem(abfss("logs", "x"))


def test_workload_settings_take_abfss_and_name_the_variable_of_a_bad_uri(monkeypatch):
    from workloads.monitoring.job import DriftJobSettings
    from workloads.serving.settings import ServingSettings
    from workloads.settings import TrainJobSettings

    uri = "abfss://offline-features@sahabuae.dfs.core.windows.net/serving-log/"
    assert ServingSettings(prediction_log_uri=uri).prediction_log_uri == uri
    assert DriftJobSettings(log_uri=uri).resolved_state_uri() == "abfss://offline-features@sahabuae.dfs.core.windows.net/drift-state"
    for settings, variable in (
        (ServingSettings, "SAHAB_SERVING_PREDICTION_LOG_URI"),
        (DriftJobSettings, "SAHAB_DRIFT_LOG_URI"),
        (TrainJobSettings, "SAHAB_TRAIN_CHECKPOINT_URI"),
    ):
        monkeypatch.setenv(variable, "abfss://sahabuae.dfs.core.windows.net/x")
        with pytest.raises(ValidationError, match=f"{variable}=.*names no container"):
            settings()
        monkeypatch.delenv(variable)


@pytest.mark.parametrize(
    "env, variable, message",
    [
        ({"SAHAB_FEAST_URI": "s3://features/feast"}, "SAHAB_FEAST_URI", "SAHAB_FEAST_MODE=azure needs abfss://"),
        (
            {"SAHAB_FEAST_URI": "abfss://f@a.dfs.core.windows.net/feast", "SAHAB_FEAST_REGION": "me-central-1"},
            "SAHAB_FEAST_REGION",
            "not an Azure region in the UAE",
        ),
        ({"SAHAB_FEAST_URI": "abfss://f@a.dfs.core.windows.net/feast", "SAHAB_FEAST_REGION": "westeurope"}, "SAHAB_FEAST_REGION", "is not in the UAE"),
        ({"SAHAB_FEAST_S3_URI": "s3://features/feast"}, "SAHAB_FEAST_S3_URI", "aws mode's variable"),
    ],
)
def test_feast_azure_mode_refuses_what_is_not_azure_in_the_uae(monkeypatch, env, variable, message):
    from workloads.settings import FeatureStoreSettings

    monkeypatch.setenv("SAHAB_FEAST_MODE", "azure")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as err:
        FeatureStoreSettings()
    assert variable in str(err.value) and message in str(err.value), str(err.value)


def test_the_copy_of_the_azure_uae_regions_agrees():
    from components.constants import UAE_REGIONS
    from workloads.settings import UAE_AZURE_REGIONS

    assert UAE_AZURE_REGIONS == UAE_REGIONS["azure"], "workloads/settings.py UAE_AZURE_REGIONS differs from components/constants.py"


def test_feast_azure_mode_defaults_to_uaenorth_and_needs_its_uri(monkeypatch, tmp_path):
    from workloads.features.repo import repo_config
    from workloads.settings import FeatureStoreSettings

    monkeypatch.setenv("SAHAB_FEAST_MODE", "azure")
    settings = FeatureStoreSettings()
    assert settings.region == "uaenorth", "azure mode's default region is uaenorth, not the AWS default"
    with pytest.raises(ValueError, match=r"SAHAB_FEAST_MODE=azure needs SAHAB_FEAST_URI=abfss://"):
        repo_config(settings, tmp_path)
    monkeypatch.setenv("SAHAB_FEAST_URI", "abfss://offline-features@sahabuae.dfs.core.windows.net/feast/")
    monkeypatch.setenv("SAHAB_FEAST_REDIS_URL", "sahab.uaenorth.redis.azure.net:10000,ssl=true,password=x")
    cfg = repo_config(FeatureStoreSettings(), tmp_path)
    assert cfg.registry.path == "abfss://offline-features@sahabuae.dfs.core.windows.net/feast/registry.pb"
    assert cfg.registry.registry_store_type == "workloads.features.repo.AzureBlobRegistryStore"
    assert cfg.online_store.type == "redis" and cfg.online_store.connection_string.endswith(":10000,ssl=true,password=x")
    # aws mode still takes the old spelling, and on EKS renders exactly what it did.
    monkeypatch.setenv("SAHAB_FEAST_MODE", "aws")
    monkeypatch.delenv("SAHAB_FEAST_URI")
    monkeypatch.setenv("SAHAB_FEAST_S3_URI", "s3://features/feast")
    assert repo_config(FeatureStoreSettings(region="me-central-1"), tmp_path).registry.path == "s3://features/feast/registry.pb"


def test_on_the_cluster_every_client_goes_to_the_account_with_the_default_credential(monkeypatch, tmp_path):
    """Without the emulator override (as on AKS): pyarrow's AzureFileSystem, adlfs' options and
    Feast's registry blob all name the URI's account and no key (DefaultAzureCredential: workload
    identity). Building them touches no network."""
    import pyarrow.fs as pafs
    from feast.infra.registry.registry import RegistryConfig

    from workloads.features.repo import AzureBlobRegistryStore

    for variable in ("SAHAB_AZURE_BLOB_ENDPOINT", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_CONNECTION_STRING"):
        monkeypatch.delenv(variable, raising=False)
    uri = "abfss://offline-features@sahabuae.dfs.core.windows.net/feast"
    fs, path = storage.filesystem(uri)
    assert isinstance(fs, pafs.AzureFileSystem) and path == "offline-features/feast"
    assert storage.storage_options(uri) == {"account_name": "sahabuae", "anon": False}
    registry = AzureBlobRegistryStore(RegistryConfig(path=f"{uri}/registry.pb"), tmp_path)
    assert registry.blob.url == "https://sahabuae.blob.core.windows.net/offline-features/feast/registry.pb"
    assert type(registry.blob.credential).__name__ == "DefaultAzureCredential", type(registry.blob.credential)


# --- on Azurite ---


@pytest.mark.slow
def test_objects_written_through_pyarrow_and_fsspec_are_the_same_blobs(container):
    import pyarrow as pa
    import pyarrow.parquet as pq

    uri = abfss(container.container_name, "a/t.parquet")
    fs, path = storage.filesystem(uri)
    pq.write_table(pa.table({"x": [1, 2, 3]}), path, filesystem=fs)
    assert blobs(container) == ["a/t.parquet"], "pyarrow wrote elsewhere than the URI names"
    assert pd.read_parquet(uri, storage_options=storage.storage_options(uri))["x"].tolist() == [1, 2, 3]
    storage.write_bytes(abfss(container.container_name, "a/state.json"), b'{"n": 1}')
    assert container.download_blob("a/state.json").readall() == b'{"n": 1}'
    assert storage.read_bytes(abfss(container.container_name, "a/none.json")) is None


def _live_rows(n: int, seed: int) -> pd.DataFrame:
    import numpy as np

    from workloads.data.generator import generate

    rows = generate(n, seed=seed, days=1)
    return rows.assign(score=np.random.default_rng(seed).beta(1, 30, n))


@pytest.mark.slow
def test_the_drift_job_reads_what_serving_logs_on_azure_once(container, tmp_path, monkeypatch):
    """Serving's writer appends to abfss://; `python -m workloads.monitoring run` tests that hour,
    keeps its state beside the log on Azure, and a second run finds nothing new."""
    from workloads.data.schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES
    from workloads.monitoring.__main__ import EXIT_OK, main
    from workloads.monitoring.profile import ReferenceProfile
    from workloads.serving.prediction_log import PredictionLog

    log_uri = abfss(container.container_name, "serving-log/")
    ref = _live_rows(6_000, seed=1)
    profile_uri = abfss(container.container_name, "profiles/reference.npz")
    ReferenceProfile.fit(ref, [*NUMERIC_FEATURES, "score"], list(CATEGORICAL_FEATURES), meta={"model_version": "4"}).save(profile_uri)
    assert blobs(container, "profiles/") == ["profiles/reference.npz"], "the profile is written to the abfss:// URI"

    live = _live_rows(900, seed=2)
    log = PredictionLog(log_uri, flush_s=3600, host="pod-a")
    for i, (_, row) in enumerate(live.iterrows()):
        record = {f: (None if pd.isna(row[f]) else row[f]) for f in FEATURES}
        assert log.append(
            request_id=f"r{i}",
            key=str(i),
            experiment_id=None,
            variant="champion",
            model_version="4",
            scores=[float(row["score"])],
            records=[record],
            ts=T0 + timedelta(seconds=3 * i),
        )
    log.close()
    assert (log.written, log.dropped) == (900, 0)
    parts = blobs(container, "serving-log/")
    assert len(parts) == 1 and parts[0].startswith("serving-log/date=2026-12-01/hour=10/part-pod-a-"), parts

    monkeypatch.setenv("SAHAB_DRIFT_LOG_URI", log_uri)
    monkeypatch.setenv("SAHAB_DRIFT_REFERENCE_URI", profile_uri)
    out = tmp_path / "run1"
    assert main(["run", "--now", "2026-12-01T11:10:00Z", "--out-dir", str(out)]) == EXIT_OK
    report = json.loads((out / "report.json").read_text())
    assert [w["n_rows"] for w in report["windows"]] == [900], report["windows"]
    state = json.loads(container.download_blob("drift-state/state.json").readall())
    assert state["watermark"] == "2026-12-01T11:00:00+00:00" and state["model_version"] == "4", state
    assert any(b.startswith("drift-state/reports/") and b.endswith("report.json") for b in blobs(container, "drift-state/"))

    # An hour later nothing new was logged: the watermark moves on, no window is tested again.
    # A fresh process, configured by the environment alone (what the CronJob runs).
    done = subprocess.run(
        [sys.executable, "-m", "workloads.monitoring", "run", "--now", "2026-12-01T12:10:00Z"],
        env=dict(os.environ),
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["tested"] == [] and "no log rows" in summary["reason"], summary
    state = json.loads(container.download_blob("drift-state/state.json").readall())
    assert state["watermark"] == "2026-12-01T12:00:00+00:00", state


@pytest.mark.slow
def test_a_checkpoint_on_azure_resumes_to_the_uninterrupted_weights(container, small_data):
    from workload_helpers import tiny_config

    from workloads.training.checkpoint import LATEST, open_store, step_name
    from workloads.training.trainer import train

    uri = abfss(container.container_name, "runs/r1")
    cfg = tiny_config(steps=30, log_every=13, checkpoint={"uri": uri, "every_steps": 10, "keep_last": 2})
    reference = train(cfg.model_copy(update={"checkpoint": cfg.checkpoint.model_copy(update={"uri": None})}), small_data, log=lambda s: None)

    def kill_at_13(line: str) -> None:
        if line.startswith("step 13/"):
            os.kill(os.getpid(), signal.SIGTERM)  # a spot eviction notice

    interrupted = train(cfg, small_data, log=kill_at_13)
    assert interrupted.interrupted and interrupted.step == 13
    assert container.download_blob(f"runs/r1/{LATEST}").readall().decode() == step_name(13)
    assert blobs(container, f"runs/r1/{step_name(13)}/") == [f"runs/r1/{step_name(13)}/state.pt"]
    assert open_store(uri).latest_step() == 13, "a fresh store reads LATEST back from Azure"

    resumed = train(cfg, small_data, resume=True, log=lambda s: None)
    assert not resumed.interrupted and resumed.step == 30
    for name, tensor in reference.model.state_dict().items():
        assert (tensor == resumed.model.state_dict()[name]).all(), f"tensor {name} differs after a resume from abfss://"
    steps = {b.split("/")[2] for b in blobs(container, "runs/r1/step-")}
    assert steps == {step_name(20), step_name(30)}, f"keep_last=2 by recency: {sorted(steps)}"


@pytest.mark.slow
def test_pruning_on_azure_goes_by_recency_and_never_removes_latest(container):
    from workloads.training.checkpoint import FileSystemStore, open_store, step_name

    uri = abfss(container.container_name, "run")
    store = open_store(uri)
    assert isinstance(store, FileSystemStore)

    # 10 and 30 published; 40 uploaded by an abandoned attempt, never published; then 35, keep_last=1.
    for step, keep_last in ((10, 2), (30, 2), (40, 0), (35, 1)):
        if not keep_last:
            container.upload_blob(f"run/{step_name(step)}/state.pt", b"stale")
            continue
        store.prepare(step)
        (store.staging(step) / "state.pt").write_text(str(step))
        store.commit(step, keep_last)
    assert store.latest_step() == 35
    assert (store.fetch(35) / "state.pt").read_text() == "35", "the checkpoint LATEST names must survive pruning"
    assert {b.split("/")[1] for b in blobs(container, "run/step-")} == {step_name(35)}
    for gone in (30, 40):
        with pytest.raises(FileNotFoundError, match=f"{step_name(gone)}/"):
            store.fetch(gone)
