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


def test_each_project_runs_as_its_own_service_accounts_and_reaches_the_online_store(plan):
    """No cloud identities here: each project's pods run as the project's own service accounts
    (components/workloads.py), and every namespace whose pods read the A/B state in Redis (serving,
    and the retrain pipeline and monitoring job asking whether an experiment runs) holds its password."""
    from components.workloads import project_workloads

    accounts = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in plan.resources if r.type == "kubernetes:core/v1:ServiceAccount"}
    secrets = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]) for r in plan.resources if r.type == "kubernetes:core/v1:Secret"}
    for project in ("transaction-risk", "delivery-time"):
        for w in project_workloads(project):
            assert (w.namespace, w.service_account) in accounts, f"smb-onprem: no service account {w.namespace}/{w.service_account} for {project}"
            assert (w.namespace, "online-store") in secrets, f"smb-onprem: {w.namespace} lacks the online-store Secret {w.name} reads"
    pods = {
        r.inputs["metadata"]["name"]: r
        for r in plan.resources
        if r.type in ("kubernetes:batch/v1:CronJob", "kubernetes:apps/v1:Deployment") and r.inputs["metadata"]["name"].startswith("delivery-time-")
    }
    for name in ("delivery-time-retrain", "delivery-time-monitoring"):
        env = _env(_containers(pods[name])[0])
        assert '"arn": "env:SAHAB_ONLINE_STORE_"' in env["SAHAB_SECRET_ENV"]["value"], f"{name}: SAHAB_SECRET_ENV {env['SAHAB_SECRET_ENV']}"


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
            "kubernetes.access",
            "EKS access entries",
        ),
        (lambda r: r["kubernetes"].update(autoscaler="karpenter"), "kubernetes.autoscaler", "unknown key for cloud: kubernetes"),
        (lambda r: r.update(cluster={"admin_role_arns": ["arn:aws:iam::111122223333:role/admin"]}), "cluster", "holds the kubeconfig"),
        (lambda r: r.update(inference_tiers=[{"name": "serving", "instance_types": ["m7i.xlarge"]}]), "inference_tiers", "its own nodes"),
        (lambda r: r.update(databases={"registry": {"instance_class": "db.r6g.large"}}), "databases", "cloud: aws / azure"),
        (lambda r: r.update(gpu_pools=[{"name": "gpu", "instance_types": ["node"], "max_size": 1}]), "gpu_pools[0].instance_types", "GPU nodes are yours"),
        (lambda r: r.update(gpu_pools=[{"name": "gpu", "max_size": 1}]), "onprem.minimum.gpus", "0 GPUs"),
        (lambda r: r["onprem"].pop("api_server"), "onprem.api_server", "kubectl get endpoints kubernetes"),
        (lambda r: r["onprem"]["api_server"].update(address="api.smb.example.ae"), "onprem.api_server.address", "not an IP address"),
        (lambda r: r["onprem"]["api_server"].update(address="127.0.0.1"), "onprem.api_server.address", "server node's address"),
        (lambda r: r["onprem"]["api_server"].update(address="10.42.0.1"), "onprem.api_server.address", "is in the pod network 10.42.0.0/16"),
        (lambda r: r["onprem"]["api_server"].update(port=70000), "onprem.api_server.port", "less than or equal to 65535"),
        (lambda r: r["onprem"].pop("node_cidrs"), "onprem.node_cidrs", "kubectl get nodes -o wide"),
        (lambda r: r["onprem"].update(node_cidrs=[]), "onprem.node_cidrs", "at least one CIDR"),
        (lambda r: r["onprem"].update(node_cidrs=["10.10.0.0/33"]), "onprem.node_cidrs", "is not a CIDR"),
        (lambda r: r["onprem"].update(node_cidrs=["0.0.0.0/0"]), "onprem.node_cidrs", "wider than any node network"),
        (lambda r: r["onprem"].update(node_cidrs=["10.10.0.0/24", "10.42.8.0/24"]), "onprem.node_cidrs[1]", "overlaps network.cidr"),
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
    assert {"cluster", "inference_tiers", "storage", "encryption", "databases"}.isdisjoint(type(spec).model_fields), "no cloud-only fields on cloud: kubernetes"


def test_scheduling_knows_the_customer_nodes_and_gpu_nodes():
    from sahab.gate.deployability.scheduling import existing_nodes

    raw = _raw()
    raw["gpu_pools"] = [{"name": "gpu", "max_size": 1}]
    raw["onprem"]["minimum"].update(nodes=2, cpu_cores=24, memory_gib=160, gpus=1)
    assert load_spec(raw).gpu_pools[0].machine_types == (), "an existing cluster's GPU pool names no machine type"
    cpu, gpu = existing_nodes(raw)
    assert (cpu.max_nodes, cpu.allocatable.cpu_millicores, cpu.allocatable.gpus) == (1, 12000, 0), cpu
    assert gpu.labels == {"sahab.ae/pool": "smb-onprem-gpu", "sahab.ae/accelerator": "nvidia"} and gpu.allocatable.gpus == 1, gpu
    assert gpu.taints == ({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},), "GPU nodes are tainted like the clouds'"
    assert existing_nodes({"cloud": "aws"}) == [], "only cloud: kubernetes has existing nodes"


def test_the_gate_validates_manifests_against_the_clusters_own_version(plan):
    from types import SimpleNamespace

    from sahab.gate.entry import _kubernetes_version

    raw = _raw()
    raw["onprem"]["kubernetes_version"] = "1.31"
    assert _kubernetes_version(SimpleNamespace(config={"sahab:platform": raw})) == "1.31", "onprem.kubernetes_version is the cluster's (no cluster: here)"
    assert _kubernetes_version(plan) == _raw()["onprem"]["kubernetes_version"], "the shipped plan's config"


def test_network_policies_name_the_api_server_endpoint_and_the_nodes(plan):
    """k3s judges egress after the `kubernetes` Service's DNAT: every API client's policy names the server's
    node IP and port from onprem.api_server, and Prometheus's kubelet egress the onprem.node_cidrs (never the
    pod network, network.cidr)."""
    from sahab.engine.render import manifests

    raw = _raw()
    docs = [d for r in plan.resources for _, d in manifests([r]) if d.get("kind") == "NetworkPolicy"]
    named = {(d["metadata"]["namespace"], d["metadata"]["name"]): d["spec"] for d in docs}
    endpoint = f"{raw['onprem']['api_server']['address']}/32"
    api = {k: v for k, v in named.items() if k[1].startswith("allow-api-server-")}
    assert {("sahab-monitoring", "allow-api-server-prometheus-operator"), ("sahab-platform", "allow-api-server-workflow-controller")} <= set(api), sorted(api)
    assert {("sahab-team-risk", "allow-api-server-pipeline"), ("sahab-monitoring", "allow-api-server-drift")} <= set(api), sorted(api)
    for key, spec in api.items():
        assert spec["egress"] == [{"to": [{"ipBlock": {"cidr": endpoint}}], "ports": [{"protocol": "TCP", "port": 6443}]}], f"{key}: {spec['egress']}"
        assert spec["podSelector"].get("matchLabels") and spec["policyTypes"] == ["Egress"], f"{key}: selects only the API client's pods"
    kubelets = named[("sahab-monitoring", "allow-kubelet-scrape")]
    assert kubelets["egress"] == [{"to": [{"ipBlock": {"cidr": c}} for c in raw["onprem"]["node_cidrs"]], "ports": [{"protocol": "TCP", "port": 10250}]}], (
        kubelets
    )
    assert kubelets["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}, kubelets
    for key, spec in named.items():
        for rule in spec.get("egress") or []:
            ports = {p.get("port") for p in rule.get("ports") or []}
            if 10250 in ports:
                assert key == ("sahab-monitoring", "allow-kubelet-scrape"), f"{key}: a kubelet rule outside Prometheus's own policy"
    assert not any(d.get("kind") == "CiliumNetworkPolicy" for r in plan.resources for _, d in manifests([r])), "k3s runs no Cilium"
