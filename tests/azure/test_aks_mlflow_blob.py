"""MLflow's tracking server with its artifact store in Azure Blob Storage, as it runs on AKS: the
`wasbs://` destination the Kubernetes layer renders (components/kubernetes/mlflow.py artifact_uri),
`--serve-artifacts`, against a real Azurite. Artifacts logged through the server land as blobs in
the container and come back byte for byte."""

from __future__ import annotations

import sys

import pytest
from servers import azurite_server  # noqa: F401  (pytest fixture)

from components.kubernetes.mlflow import artifact_uri
from workloads.local import servers

pytestmark = pytest.mark.slow
CONTAINER = "experiment-artifacts"


@pytest.fixture(scope="module")
def mlflow_on_blob(azurite_server, tmp_path_factory):
    from azure.storage.blob import BlobServiceClient

    blobs = BlobServiceClient.from_connection_string(azurite_server.env["AZURE_STORAGE_CONNECTION_STRING"])
    if not blobs.get_container_client(CONTAINER).exists():
        blobs.create_container(CONTAINER)
    # The URI as the AKS adapter renders it (abfss, contract 1), turned into MLflow's spelling as the layer does.
    destination = artifact_uri(f"abfss://{CONTAINER}@{servers.AZURITE_ACCOUNT}.dfs.core.windows.net/mlflow")
    assert destination == f"wasbs://{CONTAINER}@{servers.AZURITE_ACCOUNT}.blob.core.windows.net/mlflow", destination
    home = tmp_path_factory.mktemp("mlflow-blob")
    port = servers.free_port()
    # The Deployment's way: stores from the environment (MLFLOW_ARTIFACTS_DESTINATION), --serve-artifacts.
    # Only the emulator override differs from AKS: a connection string instead of workload identity.
    server = servers.spawn(
        "mlflow",
        [sys.executable, "-m", "mlflow", "server", "--host", servers.LOOPBACK, "--port", str(port), "--serve-artifacts", "--workers", "1"],
        log=home / "mlflow.log",
        url=f"http://{servers.LOOPBACK}:{port}",
        check=servers.HealthCheck(kind="http", port=port, path="/health", status=200),
        timeout=120,
        env={
            "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{home / 'mlflow.db'}",
            "MLFLOW_ARTIFACTS_DESTINATION": destination,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "AZURE_STORAGE_CONNECTION_STRING": azurite_server.env["AZURE_STORAGE_CONNECTION_STRING"],
        },
    )
    try:
        yield server, blobs.get_container_client(CONTAINER)
    finally:
        server.stop()


def test_artifacts_logged_through_the_server_are_blobs_in_the_container(mlflow_on_blob, tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    server, container = mlflow_on_blob
    # The client holds no Azure credentials: everything goes through the server's proxy.
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    client = MlflowClient(tracking_uri=server.url)
    experiment = client.create_experiment("aks-blob")
    run = client.create_run(experiment)
    payload = tmp_path / "model" / "weights.bin"
    payload.parent.mkdir()
    payload.write_bytes(bytes(range(256)) * 64)
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    client.log_artifacts(run.info.run_id, str(tmp_path / "model"), artifact_path="model")
    client.set_terminated(run.info.run_id)

    listed = {f.path for f in client.list_artifacts(run.info.run_id, "model")}
    assert listed == {"model/weights.bin", "model/MLmodel"}, f"artifacts listed through the server: {sorted(listed)}"
    back = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="model/weights.bin", dst_path=str(tmp_path / "back"), tracking_uri=server.url
    )
    assert open(back, "rb").read() == payload.read_bytes(), "the artifact downloaded through the server differs from the one logged"

    names = [b.name for b in container.list_blobs(name_starts_with="mlflow/")]
    mine = [n for n in names if f"/{run.info.run_id}/" in n]
    assert {"/".join(n.rsplit("/", 2)[-2:]) for n in mine} == {"model/weights.bin", "model/MLmodel"}, f"blobs of run {run.info.run_id} in {CONTAINER}: {mine}"
    weights = next(n for n in mine if n.endswith("/model/weights.bin"))
    assert container.download_blob(weights).readall() == payload.read_bytes(), f"blob {weights} differs from the logged artifact"


def test_training_logs_straight_to_the_experiments_wasbs_location(mlflow_on_blob, tmp_path, azurite_server, monkeypatch):
    """Training creates its experiment at SAHAB_MLFLOW_ARTIFACT_LOCATION (the same wasbs:// root) and its
    client writes the blobs itself, as serving and drift then read them: MLflow's Blob store on the client."""
    import mlflow
    from mlflow.tracking import MlflowClient

    server, container = mlflow_on_blob
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_server.env["AZURE_STORAGE_CONNECTION_STRING"])
    location = artifact_uri(f"abfss://{CONTAINER}@{servers.AZURITE_ACCOUNT}.dfs.core.windows.net/mlflow")
    client = MlflowClient(tracking_uri=server.url)
    experiment = client.create_experiment("aks-direct", artifact_location=location)
    run = client.create_run(experiment)
    assert run.info.artifact_uri.startswith(f"{location}/"), f"run artifact URI {run.info.artifact_uri} is not under {location}"
    (tmp_path / "reference.json").write_text('{"rows": 1000}')
    client.log_artifact(run.info.run_id, str(tmp_path / "reference.json"), artifact_path="drift")
    blob = f"mlflow/{run.info.artifact_uri.split('/mlflow/', 1)[1]}/drift/reference.json"
    assert container.download_blob(blob).readall() == b'{"rows": 1000}', f"blob {blob} in {CONTAINER}"
    back = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="drift/reference.json", dst_path=str(tmp_path / "back"), tracking_uri=server.url
    )
    assert open(back).read() == '{"rows": 1000}', "the artifact read back from wasbs:// differs"
