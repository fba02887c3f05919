"""The uae-north plan's workloads as they would start on AKS.

Every container that runs a Sahab workload gets its environment the way the kubelet and the entry
point build it (values, `$(VAR)` references, the workload-identity webhook's AZURE_* variables,
then scripts/with_secrets.py rendering SAHAB_SECRET_ENV from secrets shaped as the Azure layer
writes them to Key Vault), and the workload's own settings classes must accept it. The Redis URLs
must reach Azure Managed Redis (its port, through the private endpoint the egress rules admit), and
each pod's identity must hold roles on exactly the containers and secrets its environment names.
"""

from __future__ import annotations

import importlib
import ipaddress
import json
import os
import re
import urllib.parse

import pytest

from components.azure._common import ROLES
from components.azure.data_services import REDIS_PORT
from sahab.gate.deployability import Context
from sahab.gate.deployability.pods import PodTemplate, manifest_pods
from sahab.gate.deployability.workload_env import ENTRY_POINTS, MLFLOW, _with_secrets, container_env, entry_points

WORKLOAD_IDENTITY_USE = "azure.workload.identity/use"
CLIENT_ID = "azure.workload.identity/client-id"
# A plausible Azure Managed Redis access key (base64: `+`, `/` and `=` exercise the URL quoting).
REDIS_KEY = "Zm9vYmFy+YmF6/cXV4cXV1eC0xMjM0NTY3ODkwYWJjZGVm="
# The secrets as components/azure/data_services.py writes them (json.dumps of these fields).
KEY_VAULT_SECRETS = {"online-store": {"password": REDIS_KEY}, "registry-db": {"username": "sahabadmin", "password": "p@ss/word=1"}}
# What the workload-identity webhook injects into a labelled pod (contract 2).
WEBHOOK_ENV = {
    "AZURE_TENANT_ID": "5a4a1d1e-0000-4000-8000-00000000ae02",
    "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
    "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.com/",
}
# Variables naming storage the workload writes (the rest it reads).
WRITTEN = {"SAHAB_SERVING_PREDICTION_LOG_URI", "SAHAB_TRAIN_CHECKPOINT_URI", "MLFLOW_ARTIFACTS_DESTINATION", "SAHAB_DRIFT_STATE_URI"}
# Entry points that use only the label store under the project's Feast root (SAHAB_FEAST_URI), and
# whether they write it: the control plane appends labels, the monitoring job reads them.
LABEL_STORE_USERS = {"python -m workloads.serving.control": True, "python -m workloads.monitoring run": False}
# Variables of WRITTEN that an entry point only reads: the retrain pipeline ingests the prediction log.
READ_ONLY = {"python -m workloads.pipeline": {"SAHAB_SERVING_PREDICTION_LOG_URI"}, "python -m workloads.pipelines step": {"SAHAB_SERVING_PREDICTION_LOG_URI"}}
STORAGE_URI = re.compile(r"(?:abfss://(?P<c1>[^@/]+)@(?P<a1>[^.]+)\.dfs|wasbs://(?P<c2>[^@/]+)@(?P<a2>[^.]+)\.blob)\.core\.windows\.net/?(?P<path>.*)")


def _fetch(arn: str) -> str:
    """Key Vault `https://<vault>.vault.azure.net/secrets/<name>`: the secret's value as Azure stores it."""
    parsed = urllib.parse.urlparse(arn)
    assert parsed.hostname and parsed.hostname.endswith(".vault.azure.net") and parsed.path.startswith("/secrets/"), (
        f"secret source {arn!r} is not a Key Vault secret"
    )
    return json.dumps(KEY_VAULT_SECRETS[parsed.path.removeprefix("/secrets/")])


def _environment(ctx: Context, pod: PodTemplate, container: dict, accounts: dict[tuple[str, str], dict]) -> dict[str, str]:
    """The gate's view of the container's environment (sahab/gate/deployability/workload_env.py: values,
    `$(VAR)`, envFrom), plus what the webhook injects, then with_secrets.py with the secrets as Key Vault holds them."""
    env = container_env(ctx, pod.namespace, container)
    if pod.labels.get(WORKLOAD_IDENTITY_USE) == "true":
        annotations = accounts.get((pod.namespace, pod.service_account), {}).get("annotations") or {}
        env.update({**WEBHOOK_ENV, "AZURE_CLIENT_ID": str(annotations.get(CLIENT_ID, ""))})
    argv = [*(container.get("command") or []), *(container.get("args") or [])]
    if any(a.endswith("/with_secrets.py") for a in argv) and "SAHAB_SECRET_ENV" in env:
        env = _with_secrets().environment(env, json.loads(env["SAHAB_SECRET_ENV"]), _fetch)
    return env


def _load(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@pytest.fixture(scope="module")
def north(north_plan):
    """(workload containers [(pod, container, entry, env)], service accounts, the plan's resources by type,
    containers whose secrets cannot be rendered)."""
    objects = [(r.urn, r.inputs) for r in north_plan.resources if r.type.startswith("kubernetes:") and r.custom and isinstance(r.inputs.get("kind"), str)]
    accounts = {
        ((d.get("metadata") or {}).get("namespace"), (d.get("metadata") or {}).get("name")): d.get("metadata") or {}
        for _, d in objects
        if d.get("kind") == "ServiceAccount"
    }
    ctx = Context.of(north_plan)
    runs, unrendered = [], []
    for pod in manifest_pods(objects):
        for container in pod.spec.get("containers") or []:
            entries = entry_points(container)
            if not entries:
                continue
            try:
                env = _environment(ctx, pod, container, accounts)
                runs += [(pod, container, entry, env) for entry in entries]
            except KeyError as exc:  # a template field the secret does not have: with_secrets.py exits at start
                unrendered.append(f"{_label(pod, container)}: SAHAB_SECRET_ENV names field {exc} that its secret does not hold ({sorted(KEY_VAULT_SECRETS)})")
    by_type: dict[str, list] = {}
    for r in north_plan.resources:
        by_type.setdefault(r.type, []).append(r)
    return runs, accounts, by_type, unrendered


def _label(pod: PodTemplate, container: dict) -> str:
    return f"{pod.label} container {container['name']}"


def test_every_workload_container_is_checked(north):
    runs, _, _, _ = north
    entries = {entry for _, _, entry, _ in runs}
    expected = {
        "python -m workloads.features",
        "bentoml serve",
        "python -m workloads.serving.control",
        "python -m workloads.serving.evaluator",
        "python -m workloads.pipeline",
        "python -m workloads.export",
        "python -m workloads.monitoring run",
        "mlflow server",
    }
    assert expected <= entries, f"workload containers not found in the plan: {sorted(expected - entries)}"


def test_every_container_env_builds_its_workloads_settings(north, monkeypatch):
    """What each entry point constructs at start must accept the rendered environment (a refusal is a
    crash-looping pod on AKS)."""
    from pydantic import ValidationError

    runs, _, _, unrendered = north
    refused = list(unrendered)
    for pod, container, entry, env in runs:
        for name in [k for k in os.environ if k.startswith(("SAHAB_", "AZURE_", "AWS_", "MLFLOW_"))]:
            monkeypatch.delenv(name)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        for path in (p for p in ENTRY_POINTS[entry] if p != MLFLOW):
            try:
                _load(path)()
            except (ValidationError, ValueError) as exc:
                refused.append(f"{_label(pod, container)}: {path.split(':')[1]} refuses its environment: {exc}")
    assert not refused, "\n".join(refused)


def test_feature_store_env_is_azure_mode_on_the_data_account(north):
    runs, _, by_type, _ = north
    account = next(a.outputs["name"] for a in by_type["azure-native:storage:StorageAccount"] if a.name.endswith("-data"))
    feast = [(pod, c, env) for pod, c, entry, env in runs if "SAHAB_FEAST_MODE" in env]
    assert {entry for _, _, entry, env in runs if "SAHAB_FEAST_MODE" in env} >= {
        "python -m workloads.features",
        "python -m workloads.pipeline",
        "python -m workloads.serving.control",
        "python -m workloads.monitoring run",
    }
    for pod, c, env in feast:
        where = _label(pod, c)
        project = pod.labels["sahab.ae/project"]
        assert env["SAHAB_FEAST_MODE"] == "azure", f"{where}: SAHAB_FEAST_MODE={env['SAHAB_FEAST_MODE']}"
        assert env.get("SAHAB_FEAST_URI") == f"abfss://offline-features@{account}.dfs.core.windows.net/feast/{project}", (
            f"{where}: SAHAB_FEAST_URI={env.get('SAHAB_FEAST_URI')} (the project's own Feast root)"
        )
        assert env.get("SAHAB_FEAST_REGION") == "uaenorth", f"{where}: SAHAB_FEAST_REGION={env.get('SAHAB_FEAST_REGION')}"
        assert "SAHAB_FEAST_S3_URI" not in env, f"{where}: the S3 spelling on Azure"


def test_redis_urls_name_managed_redis_and_its_key(north):
    """Feast's connection string and the A/B state's URL, as the workloads parse them: the cache's host,
    Azure Managed Redis's port (10000, not 6379), TLS, and the access key from the Key Vault secret."""
    from feast.infra.online_stores.redis import RedisOnlineStore

    runs, _, by_type, _ = north
    host = by_type["azure-native:redisenterprise:RedisEnterprise"][0].outputs["hostName"]
    seen = set()
    for pod, c, entry, env in runs:
        where = _label(pod, c)
        if "SAHAB_FEAST_REDIS_URL" in env:
            nodes, params = RedisOnlineStore._parse_connection_string(env["SAHAB_FEAST_REDIS_URL"])
            assert nodes == [{"host": host, "port": str(REDIS_PORT)}], f"{where}: Feast's Redis nodes {nodes}"
            assert params.get("ssl") is True and params.get("password") == REDIS_KEY, (
                f"{where}: Feast's Redis parameters {sorted(params)} (TLS, the access key)"
            )
            seen.add(entry)
        if "SAHAB_SERVING_AB_REDIS_URL" in env:
            url = urllib.parse.urlparse(env["SAHAB_SERVING_AB_REDIS_URL"])
            assert (url.scheme, url.hostname, url.port) == ("rediss", host, REDIS_PORT), f"{where}: A/B state at {url.scheme}://{url.hostname}:{url.port}"
            assert urllib.parse.unquote(url.password or "") == REDIS_KEY, f"{where}: the A/B state's password is not the access key"
            seen.add(entry)
    assert seen >= {
        "python -m workloads.features",
        "python -m workloads.serving.control",
        "python -m workloads.serving.evaluator",
        "python -m workloads.pipeline",  # experiment_running before it names a challenger
        "python -m workloads.monitoring run",  # a running experiment holds retraining back
    }, f"Redis clients found: {sorted(seen)}"


def test_redis_egress_reaches_the_private_endpoint(north):
    """Every pod that talks to Redis may leave for its port, towards a range holding the endpoints subnet
    (where the private endpoint of Azure Managed Redis gets its address)."""
    runs, _, by_type, _ = north
    endpoints = next(ipaddress.ip_network(s.inputs["addressPrefix"]) for s in by_type["azure-native:network:Subnet"] if s.inputs["subnetName"] == "endpoints")
    policies = [r.inputs for r in by_type.get("kubernetes:networking.k8s.io/v1:NetworkPolicy", [])]
    for pod, c, _, env in runs:
        if not ({"SAHAB_FEAST_REDIS_URL", "SAHAB_SERVING_AB_REDIS_URL"} & set(env)):
            continue
        allowed = [
            peer["ipBlock"]["cidr"]
            for p in policies
            if p["metadata"]["namespace"] == pod.namespace
            and all(pod.labels.get(k) == v for k, v in ((p["spec"].get("podSelector") or {}).get("matchLabels") or {}).items())
            for rule in p["spec"].get("egress") or []
            if any(port.get("port") == REDIS_PORT for port in rule.get("ports") or [])
            for peer in rule.get("to") or []
            if "ipBlock" in peer
        ]
        assert any(endpoints.subnet_of(ipaddress.ip_network(cidr)) for cidr in allowed), (
            f"{_label(pod, c)}: no egress to port {REDIS_PORT} covering the endpoints subnet {endpoints} (allowed: {allowed})"
        )


def test_mlflow_artifacts_are_wasbs_on_the_data_account(north):
    from mlflow.store.artifact.azure_blob_artifact_repo import AzureBlobArtifactRepository

    runs, _, by_type, _ = north
    account = next(a.outputs["name"] for a in by_type["azure-native:storage:StorageAccount"] if a.name.endswith("-data"))
    roots = {
        (_label(pod, c), pod.labels.get("sahab.ae/project"), name): env[name]
        for pod, c, _, env in runs
        for name in ("MLFLOW_ARTIFACTS_DESTINATION", "SAHAB_MLFLOW_ARTIFACT_LOCATION")
        if name in env
    }
    assert {name for _, _, name in roots} == {"MLFLOW_ARTIFACTS_DESTINATION", "SAHAB_MLFLOW_ARTIFACT_LOCATION"}, f"artifact roots found: {sorted(roots)}"
    for (where, project, name), uri in roots.items():
        container, storage_account, path, _ = AzureBlobArtifactRepository.parse_wasbs_uri(uri)
        # The server's root; each project's experiment keeps its artifacts under <root>/<project> (its training pods' location).
        wanted = "mlflow" if name == "MLFLOW_ARTIFACTS_DESTINATION" else f"mlflow/{project}"
        assert (container, storage_account, path) == ("experiment-artifacts", account, wanted), f"{where}: {name}={uri}"


def test_mlflow_backend_store_is_the_flexible_server_with_the_vault_credentials(north):
    """The registry database URL with_secrets.py renders from the Key Vault secret, as SQLAlchemy reads it."""
    from sqlalchemy.engine import make_url

    runs, _, by_type, _ = north
    fqdn = by_type["azure-native:dbforpostgresql:Server"][0].outputs["fullyQualifiedDomainName"]
    urls = [(_label(pod, c), env["MLFLOW_BACKEND_STORE_URI"]) for pod, c, entry, env in runs if entry == "mlflow server"]
    assert urls, "no MLflow server container in the plan"
    secret = KEY_VAULT_SECRETS["registry-db"]
    for where, raw in urls:
        url = make_url(raw)
        assert (url.drivername, url.host, url.port, url.database) == ("postgresql", fqdn, 5432, "mlflow"), f"{where}: backend store {url!r}"
        assert (url.username, url.password, url.query.get("sslmode")) == (secret["username"], secret["password"], "require"), (
            f"{where}: credentials or TLS of {url!r}"
        )


def _storage_uris(env: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(variable, account, container, path) of every Azure storage URI in a container's environment,
    plus the drift job's state folder (`drift-state/` beside the log, DriftJobSettings.resolved_state_uri)."""
    env = dict(env)
    if "SAHAB_DRIFT_LOG_URI" in env and "SAHAB_DRIFT_STATE_URI" not in env:
        env["SAHAB_DRIFT_STATE_URI"] = env["SAHAB_DRIFT_LOG_URI"].rstrip("/").rsplit("/", 1)[0] + "/drift-state/"
    out = []
    for name, value in env.items():
        match = STORAGE_URI.fullmatch(value)
        if match:
            out.append((name, match["a1"] or match["a2"], match["c1"] or match["c2"], match["path"]))
    return out


def test_pods_with_cloud_identity_have_the_roles_their_env_needs(north):
    """Labelled for the webhook, a service account annotated with the client id of the identity federated
    with exactly that account, and that identity's role assignments cover every container (read, or
    write where the workload writes; path conditions admitting the URI's path) and Key Vault secret
    its environment names."""
    runs, accounts, by_type, _ = north
    identities = {i.outputs["clientId"]: i for i in by_type["azure-native:managedidentity:UserAssignedIdentity"]}
    federated = by_type["azure-native:managedidentity:FederatedIdentityCredential"]
    assignments = by_type["azure-native:authorization:RoleAssignment"]
    role_of = {v: k for k, v in ROLES.items()}
    checked = 0
    from workloads.features.tables import LABELS_DIR

    for pod, c, entry, env in runs:
        where = _label(pod, c)
        uris = _storage_uris(env)
        if entry in LABEL_STORE_USERS:
            uris = [(n, a, ct, f"{p.rstrip('/')}/{LABELS_DIR}/" if n == "SAHAB_FEAST_URI" else p) for n, a, ct, p in uris]
        raw = next((e["value"] for e in c.get("env") or [] if e["name"] == "SAHAB_SECRET_ENV"), None)
        vault_secrets = [item["arn"] for item in json.loads(raw).values()] if raw else []
        if not uris and not vault_secrets:
            continue
        checked += 1
        assert pod.labels.get(WORKLOAD_IDENTITY_USE) == "true", f"{where}: uses Azure storage or Key Vault without the {WORKLOAD_IDENTITY_USE} label"
        client_id = (accounts.get((pod.namespace, pod.service_account), {}).get("annotations") or {}).get(CLIENT_ID)
        assert client_id in identities, f"{where}: service account {pod.namespace}/{pod.service_account} names no identity of the plan ({client_id!r})"
        identity = identities[client_id]
        subject = f"system:serviceaccount:{pod.namespace}:{pod.service_account}"
        assert any(f.inputs["subject"] == subject and f.inputs["resourceName"] == identity.outputs["name"] for f in federated), (
            f"{where}: identity {identity.urn} is not federated with {subject}"
        )
        mine = [a.inputs for a in assignments if a.inputs["principalId"] == identity.outputs["principalId"]]
        for name, account, container, path in uris:
            scope = f"/storageAccounts/{account}/blobServices/default/containers/{container}"
            roles = [a for a in mine if a["scope"].endswith(scope) and _admits(a.get("condition"), path)]
            writes = (name in WRITTEN and name not in READ_ONLY.get(entry, set())) or (name == "SAHAB_FEAST_URI" and LABEL_STORE_USERS.get(entry, False))
            wanted = {"Storage Blob Data Contributor"} if writes else {"Storage Blob Data Contributor", "Storage Blob Data Reader"}
            assert any(role_of.get(a["roleDefinitionId"].rsplit("/", 1)[-1]) in wanted for a in roles), (
                f"{where}: {name} names {container}/{path} on {account} but identity {identity.urn} has no {' or '.join(sorted(wanted))} there"
            )
        for arn in vault_secrets:
            host, secret = urllib.parse.urlparse(arn).hostname, urllib.parse.urlparse(arn).path
            scope = f"/vaults/{host.split('.', 1)[0]}{secret}"
            assert any(a["scope"].endswith(scope) and role_of.get(a["roleDefinitionId"].rsplit("/", 1)[-1]) == "Key Vault Secrets User" for a in mine), (
                f"{where}: reads {arn} but identity {identity.urn} is not a Key Vault Secrets User on it"
            )
    assert checked >= 7, f"only {checked} containers use Azure storage or Key Vault"


def _admits(condition: str | None, path: str) -> bool:
    """Whether an ABAC condition (components/azure/identity.py path_condition) admits listing and
    reading under `path`, judged by the condition evaluator in tests/azure/abac.py."""
    from abac import allows, list_blobs, read_blob

    folder = path.rstrip("/") + "/"
    return allows(condition, list_blobs(folder)) and allows(condition, read_blob(folder + "part-0.parquet"))
