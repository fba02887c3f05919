"""abfss:// for every workload (workloads/storage.py), on a real Azurite: serving's prediction log
read by the drift job, checkpoints saved and resumed, and the settings that name what is wrong.

Azurite's Blob service stands where the storage account is: the emulator override
(SAHAB_AZURE_BLOB_ENDPOINT + AZURE_STORAGE_ACCOUNT_KEY) is the only difference from the cluster,
and every read-back here goes through azure-storage-blob, a client the workloads do not use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from servers import azurite_server  # noqa: F401  (pytest fixture)
from workload_helpers import shipped_project

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


def test_workload_settings_take_abfss_and_name_the_variable_of_a_bad_uri(monkeypatch, tmp_path):
    from workloads.monitoring.drift import DriftSettings
    from workloads.monitoring.job import DriftJobSettings, configure
    from workloads.serving.settings import ServingSettings
    from workloads.settings import TrainJobSettings

    spec = shipped_project("transaction-risk").spec
    account = "abfss://offline-features@sahabuae.dfs.core.windows.net"
    uri = f"{account}/serving-log/"
    assert ServingSettings(prediction_log_uri=uri).prediction_log_uri == uri
    # The drift job's state defaults to drift-state/ beside the log: per project, as the AKS
    # manifests name the log (components/workloads.py SERVING_LOG: serving-log/<project>/), or
    # beside a log root that names no project.
    for log_uri, state_uri in ((f"{account}/serving-log/{spec.name}/", f"{account}/drift-state/{spec.name}"), (uri, f"{account}/drift-state")):
        cfg = configure(DriftJobSettings(log_uri=log_uri), DriftSettings(), spec, tmp_path)
        assert (cfg.log_uri, cfg.state_uri) == (log_uri.rstrip("/"), state_uri), f"SAHAB_DRIFT_LOG_URI={log_uri}: log and state {cfg.log_uri}, {cfg.state_uri}"
    for settings, variable in (
        (ServingSettings, "SAHAB_SERVING_PREDICTION_LOG_URI"),
        (DriftJobSettings, "SAHAB_DRIFT_LOG_URI"),
        (DriftJobSettings, "SAHAB_DRIFT_STATE_URI"),
        (TrainJobSettings, "SAHAB_TRAIN_CHECKPOINT_URI"),
    ):
        monkeypatch.setenv(variable, "abfss://sahabuae.dfs.core.windows.net/x")
        with pytest.raises(ValidationError, match=f"{variable}='abfss://sahabuae.dfs.core.windows.net/x'.*names no container"):
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

    spec = shipped_project("transaction-risk").spec
    monkeypatch.setenv("SAHAB_FEAST_MODE", "azure")
    settings = FeatureStoreSettings()
    assert settings.region == "uaenorth", "azure mode's default region is uaenorth, not the AWS default"
    with pytest.raises(ValueError, match=r"SAHAB_FEAST_MODE=azure needs SAHAB_FEAST_URI=abfss://"):
        repo_config(spec, settings, tmp_path)
    # The URI is the project's own Feast root, used as given (never suffixed with the project).
    root = f"abfss://offline-features@sahabuae.dfs.core.windows.net/feast/{spec.name}"
    monkeypatch.setenv("SAHAB_FEAST_URI", f"{root}/")
    monkeypatch.setenv("SAHAB_FEAST_REDIS_URL", "sahab.uaenorth.redis.azure.net:10000,ssl=true,password=x")
    cfg = repo_config(spec, FeatureStoreSettings(), tmp_path)
    assert cfg.registry.path == f"{root}/registry.pb", f"registry under SAHAB_FEAST_URI: {cfg.registry.path}"
    assert cfg.registry.registry_store_type == "workloads.features.repo.AzureBlobRegistryStore", cfg.registry.registry_store_type
    assert cfg.online_store.type == "redis" and cfg.online_store.connection_string.endswith(":10000,ssl=true,password=x"), (
        "online store from SAHAB_FEAST_REDIS_URL"
    )
    assert cfg.project == spec.feast_project, f"Feast project {cfg.project}"
    # aws mode still takes the old spelling, and on EKS renders exactly what it did.
    monkeypatch.setenv("SAHAB_FEAST_MODE", "aws")
    monkeypatch.delenv("SAHAB_FEAST_URI")
    monkeypatch.setenv("SAHAB_FEAST_S3_URI", f"s3://features/feast/{spec.name}")
    aws = repo_config(spec, FeatureStoreSettings(region="me-central-1"), tmp_path)
    assert aws.registry.path == f"s3://features/feast/{spec.name}/registry.pb", f"SAHAB_FEAST_S3_URI's registry: {aws.registry.path}"


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


def _scored_rows(project, rows: int, seed: int) -> pd.DataFrame:
    """Rows of the project's own generator (`sources.generator` in its data.py), each with a score."""
    import numpy as np

    generate = project.entry_point(project.spec.sources.generator, "sources.generator")
    frame = generate(rows, seed=seed, days=30)
    return frame.assign(score=np.random.default_rng(seed).beta(1, 30, rows))


@pytest.mark.slow
def test_the_drift_job_reads_what_serving_logs_on_azure_once(container, tmp_path, monkeypatch):
    """Serving's writer appends to abfss://; `python -m workloads.monitoring run` tests that hour,
    keeps its state beside the log on Azure, and a second run finds nothing new."""
    from workloads.monitoring.__main__ import EXIT_OK, main
    from workloads.monitoring.reference import build_reference
    from workloads.serving.prediction_log import PredictionLog

    project = shipped_project("transaction-risk")
    spec = project.spec
    # The AKS layout (components/workloads.py SERVING_LOG): the project's log under serving-log/<project>/.
    log_uri = abfss(container.container_name, f"serving-log/{spec.name}/")
    # Reference and live rows: disjoint random parts of one generated population.
    rows = _scored_rows(project, 6_900, seed=1).sample(frac=1.0, random_state=1).reset_index(drop=True)
    ref, live = rows.iloc[:6_000].reset_index(drop=True), rows.iloc[6_000:].reset_index(drop=True)
    profile_uri = abfss(container.container_name, "profiles/reference.npz")
    build_reference(project, ref, ref["score"].to_numpy(), meta={"model_version": "4"}).save(profile_uri)
    assert blobs(container, "profiles/") == ["profiles/reference.npz"], "the profile is written to the abfss:// URI"

    log = PredictionLog(log_uri, project, flush_s=3600, host="pod-a")
    for i, (_, row) in enumerate(live.iterrows()):
        record = {f: (None if pd.isna(row[f]) else row[f]) for f in spec.feature_names}
        assert log.append(
            request_id=f"r{i}",
            key=str(row[spec.entity.key]),
            experiment_id=None,
            variant="champion",
            model_version="4",
            scores=[float(row["score"])],
            records=[record],
            ts=T0 + timedelta(seconds=3 * i),
        ), f"record {i} was dropped"
    log.close()
    assert (log.written, log.dropped) == (900, 0), (log.written, log.dropped)
    parts = blobs(container, "serving-log/")
    assert len(parts) == 1 and parts[0].startswith(f"serving-log/{spec.name}/date=2026-12-01/hour=10/part-pod-a-"), parts

    # What the monitoring CronJob is given (components/kubernetes/drift.py), SAHAB_HOME kept in tmp_path.
    for key, value in {
        "SAHAB_PROJECT": str(project.folder),
        "SAHAB_HOME": str(tmp_path / "home"),
        "SAHAB_DRIFT_LOG_URI": log_uri,
        "SAHAB_DRIFT_REFERENCE_URI": profile_uri,
    }.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "run1"
    assert main(["run", "--now", "2026-12-01T11:10:00Z", "--out-dir", str(out)]) == EXIT_OK
    report = json.loads((out / "report.json").read_text())
    assert [(w["n_rows"], w["tested"]) for w in report["windows"]] == [(900, True)], report["windows"]
    assert (report["reference"]["model_version"], report["reference"]["source"]) == ("4", profile_uri), report["reference"]
    assert not report["drift_detected"], f"live rows of the reference's own population read back as drift: {report['reason']}"
    state_prefix = f"drift-state/{spec.name}/"
    state = json.loads(container.download_blob(f"{state_prefix}state.json").readall())
    assert state["watermark"] == "2026-12-01T11:00:00+00:00" and state["model_version"] == "4", state
    kept = blobs(container, state_prefix)
    assert any(b.startswith(f"{state_prefix}reports/") and b.endswith("report.json") for b in kept), f"no report kept beside the state: {kept}"

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
    assert summary["tested"] == [] and "no live log rows of v4" in summary["reason"], summary
    state = json.loads(container.download_blob(f"{state_prefix}state.json").readall())
    assert state["watermark"] == "2026-12-01T12:00:00+00:00", state


@pytest.mark.slow
def test_a_checkpoint_on_azure_resumes_to_the_uninterrupted_weights(container, small_data):
    from project_fixtures import kill_at, quiet
    from workload_helpers import tiny_config

    from workloads.training.checkpoint import LATEST, open_store, step_name
    from workloads.training.runtime import run_training

    project, frame = small_data  # checkpoints every 10 steps
    uri = abfss(container.container_name, "runs/r1")
    cfg = tiny_config(steps=30, log_every=13)
    reference = run_training(project, frame, overrides=cfg, log=quiet)

    interrupted = run_training(project, frame, overrides=cfg, checkpoint_uri=uri, keep_last=2, log=kill_at(13))  # a spot eviction notice
    assert interrupted.interrupted and interrupted.step == 13
    assert container.download_blob(f"runs/r1/{LATEST}").readall().decode() == step_name(13)
    assert blobs(container, f"runs/r1/{step_name(13)}/") == [f"runs/r1/{step_name(13)}/state.pt"]
    assert open_store(uri).latest_step() == 13, "a fresh store reads LATEST back from Azure"

    resumed = run_training(project, frame, overrides=cfg, checkpoint_uri=uri, keep_last=2, resume=True, log=quiet)
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
