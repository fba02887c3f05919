"""`cloud: kubernetes` (environments/smb-onprem): the platform layer on the customer's own cluster,
with in-cluster PostgreSQL, Redis and object store, nothing outside the cluster."""

from __future__ import annotations

import copy

import pytest
import yaml

from sahab.cost import estimate_plan
from sahab.engine.offline import plan_environment
from stacks.spec import SpecError, load_spec
from tests.conftest import REPO

ENV = REPO / "environments" / "smb-onprem" / "Pulumi.smb-onprem.yaml"
REGISTRY = "registry.smb.example.ae:5000/"
PLATFORM_NS = "sahab-platform"


@pytest.fixture(scope="module")
def plan():
    return plan_environment(REPO, "smb-onprem")


def _raw() -> dict:
    return copy.deepcopy(yaml.safe_load(ENV.read_text())["config"]["sahab:platform"])


def _containers(r):
    spec = r.inputs.get("spec") or {}
    template = spec.get("template") or (spec.get("jobTemplate") or {}).get("spec", {}).get("template") or {}
    pod = template.get("spec") or {}
    return [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]


def _env(container) -> dict:
    return {e["name"]: e for e in container.get("env") or []}


def test_nothing_is_created_outside_the_cluster(plan):
    clouds = sorted({r.type for r in plan.resources if r.type.split(":")[0] in ("aws", "azure-native", "azure")})
    assert clouds == [], f"cloud resources in an on-premises plan: {clouds}"
    providers = {r.type for r in plan.resources if r.type.startswith("pulumi:providers:")}
    assert providers <= {"pulumi:providers:kubernetes", "pulumi:providers:random", "pulumi:providers:tls"}, providers


def test_every_image_comes_from_the_customer_registry(plan):
    images = [(r.urn, c["image"]) for r in plan.resources if r.type.startswith("kubernetes:") for c in _containers(r)]
    assert images, "the plan has pods"
    for urn, image in images:
        assert image.startswith(REGISTRY), f"{urn}: {image} is not from {REGISTRY}"
    releases = [r for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release"]
    for r in releases:
        text = repr(r.inputs.get("values"))
        assert "registry.smb.example.ae:5000" in text or "image" not in text, f"{r.urn}: chart images not from the customer registry"


def test_data_services_run_in_the_cluster_on_the_platform_storage_class(plan):
    sets = {
        r.inputs["metadata"]["name"]: r
        for r in plan.resources
        if r.type == "kubernetes:apps/v1:StatefulSet" and r.inputs["metadata"].get("namespace") == PLATFORM_NS
    }
    assert set(sets) >= {"registry-db", "online-store", "object-store"}, sorted(sets)
    for _name, r in sets.items():
        claim = r.inputs["spec"]["volumeClaimTemplates"][0]["spec"]
        assert claim["storageClassName"] == "sahab-encrypted", f"{r.urn}: {claim}"
        pod = r.inputs["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["automountServiceAccountToken"] is False, f"{r.urn}: pod security"
        for c in pod["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] and c["resources"]["limits"], f"{r.urn} {c['name']}: restricted, with limits"
    (sc,) = [r for r in plan.resources if r.type == "kubernetes:storage.k8s.io/v1:StorageClass"]
    assert sc.inputs["provisioner"] == "rancher.io/local-path" and not sc.inputs.get("parameters"), f"{sc.urn}: the customer's provisioner, no cloud key"
    pg = sets["registry-db"].inputs["spec"]["template"]["spec"]["containers"][0]
    volumes = {v["name"]: v for v in sets["registry-db"].inputs["spec"]["template"]["spec"]["volumes"]}
    assert "ssl=on" in pg["args"] and _env(pg)["POSTGRES_PASSWORD_FILE"]["value"] == "/etc/postgresql/credentials/password"
    assert volumes["credentials"]["secret"]["secretName"] == "registry-db", "the password is a mounted Secret, not an environment variable"
    redis = sets["online-store"].inputs["spec"]["template"]["spec"]["containers"][0]
    assert redis["args"][:5] == ["/etc/redis/redis.conf", "--port", "0", "--tls-port", "6379"], "Redis listens on TLS only, its password in the mounted config"
    for _name, r in sets.items():
        envs = [e for c in r.inputs["spec"]["template"]["spec"]["containers"] for e in c.get("env") or []]
        assert not [e for e in envs if "secretKeyRef" in e.get("valueFrom", {})], f"{r.urn}: no secret in the environment"
        assert r.inputs["spec"]["template"]["spec"]["securityContext"]["runAsUser"] >= 10000, f"{r.urn}: a high uid"


def test_workloads_reach_the_services_through_secrets_of_their_namespace(plan):
    (mlflow,) = [r for r in plan.resources if r.type == "kubernetes:apps/v1:Deployment" and r.inputs["metadata"]["name"] == "mlflow"]
    env = _env(_containers(mlflow)[0])
    assert '"arn": "env:SAHAB_REGISTRY_DB_"' in env["SAHAB_SECRET_ENV"]["value"], env["SAHAB_SECRET_ENV"]
    assert env["SAHAB_REGISTRY_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "registry-db", "key": "password", "optional": True}
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "http://object-store.sahab-platform.svc:8333"
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "object-store"
    secrets = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in plan.resources if r.type == "kubernetes:core/v1:Secret"}
    assert (PLATFORM_NS, "registry-db") in secrets and not any(n == "registry-db" and ns != PLATFORM_NS for ns, n in secrets), (
        "database credentials only beside MLflow"
    )
    for ns in ("sahab-serving", "sahab-monitoring", "sahab-training"):
        assert (ns, "object-store") in secrets, f"{ns}: object store credentials for its workloads"
    (netpol,) = [
        r
        for r in plan.resources
        if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy" and r.inputs["metadata"] == {"name": "registry-db", "namespace": PLATFORM_NS}
    ]
    sources = [s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for rule in netpol.inputs["spec"]["ingress"] for s in rule["from"]]
    assert sources == [PLATFORM_NS], f"{netpol.urn}: only the platform namespace reaches PostgreSQL, got {sources}"


def test_cost_of_an_on_premises_plan_is_no_cloud_bill_and_says_so(plan):
    est = estimate_plan(plan)
    assert est.cloud == "kubernetes" and est.snapshot is None and not est.lines
    assert "customer's own cluster" in (est.note or "")
    volumes = [u for u in est.unpriced if u.type in ("kubernetes:apps/v1:StatefulSet", "kubernetes:helm.sh/v3:Release")]
    assert volumes and all("customer's disks" in u.reason for u in volumes), [u.reason for u in est.unpriced]


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda r: r.pop("onprem"), "onprem", "needs `onprem:`"),
        (lambda r: r["onprem"].update(registry_host="docker.io"), "onprem.registry_host", "public registry"),
        (lambda r: r["onprem"].update(disks_encrypted=False), "onprem.disks_encrypted", "encrypt them"),
        (lambda r: r.update(region="me-central-1"), "region", "not in a cloud region"),
        (
            lambda r: r["kubernetes"].update(access={"auditor_role_arns": ["arn:aws:iam::111122223333:role/auditor"]}),
            "kubernetes.access.auditor_role_arns",
            "EKS access entries",
        ),
        (lambda r: r.update(gpu_pools=[{"name": "gpu", "instance_types": ["node"], "max_size": 1}]), "onprem.minimum.gpus", "0 GPUs"),
    ],
)
def test_spec_refuses_what_an_existing_cluster_cannot_honour(change, path, words):
    raw = _raw()
    change(raw)
    with pytest.raises(SpecError) as e:
        load_spec(raw)
    assert any(p.startswith(path) and words in p for p in e.value.problems), e.value.problems


def test_the_shipped_spec_is_valid_and_needs_no_inference_tiers():
    spec = load_spec(_raw())
    assert spec.cloud == "kubernetes" and spec.inference_tiers == () and spec.onprem.registry_host == "registry.smb.example.ae:5000"


def test_scheduling_knows_the_customer_nodes_and_gpu_nodes():
    from sahab.gate.deployability.scheduling import existing_nodes

    raw = _raw()
    raw["gpu_pools"] = [{"name": "gpu", "instance_types": ["node"], "max_size": 1}]
    raw["onprem"]["minimum"].update(nodes=2, cpu_cores=24, memory_gib=160, gpus=1)
    cpu, gpu = existing_nodes(raw)
    assert (cpu.max_nodes, cpu.allocatable.cpu_millicores, cpu.allocatable.gpus) == (1, 12000, 0), cpu
    assert gpu.labels == {"sahab.ae/pool": "smb-onprem-gpu", "sahab.ae/accelerator": "nvidia"} and gpu.allocatable.gpus == 1, gpu
    assert gpu.taints == ({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},), "GPU nodes are tainted like the clouds'"
    assert existing_nodes({"cloud": "aws"}) == [], "only cloud: kubernetes has existing nodes"
