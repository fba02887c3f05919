"""Regression tests for the platform-layer defects of issue 9 (section 1): each would have broken a
real `pulumi up` or left a platform that does not work, and each test failed on the code before
its fix. Plan-level: they read the shipped uae-central and smb plans (the offline engine)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from k8s_helpers import HELM, containers, helm_images, k8s_objects, pods

POD_IDENTITY = (("169.254.170.23", 80), ("fd00:ec2::23", 80))
IMDS = (("169.254.169.254", 80), ("169.254.169.254", 443), ("fd00:ec2::254", 80))


def _peer_admits_ip(peer: dict[str, Any], ip: str) -> bool:
    """An egress peer admits an address outside the cluster only through an ipBlock."""
    block = peer.get("ipBlock")
    if not block:
        return False
    addr = ipaddress.ip_address(ip)
    net = ipaddress.ip_network(block["cidr"])
    if addr.version != net.version or addr not in net:
        return False
    return not any(addr in ipaddress.ip_network(e) for e in block.get("except") or [] if ipaddress.ip_network(e).version == addr.version)


def _rule_admits(rule: dict[str, Any], ip: str, port: int, protocol: str = "TCP") -> bool:
    """NetworkPolicy egress semantics: no `to` = every destination, no `ports` = every port."""
    ports = rule.get("ports")
    if ports and not any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports):
        return False
    peers = rule.get("to")
    return not peers or any(_peer_admits_ip(p, ip) for p in peers)


def _egress_policies(plan, namespace: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (r.urn, r.inputs["spec"])
        for r in k8s_objects(plan, "NetworkPolicy")
        if r.inputs["metadata"]["namespace"] == namespace and "Egress" in r.inputs["spec"].get("policyTypes", [])
    ]


def _namespaces(plan) -> list[str]:
    return [r.inputs["metadata"]["name"] for r in k8s_objects(plan, "Namespace")]


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_every_pod_reaches_the_pod_identity_agent_and_never_imds(env, request):
    """Defect: the baseline egress allowed DNS, 443 and pods, not the Pod Identity agent at
    169.254.170.23:80, so no pod got AWS credentials. IMDS must stay denied from every pod."""
    plan = request.getfixturevalue(env)
    for ns in _namespaces(plan):
        policies = _egress_policies(plan, ns)
        # Policies selecting every pod of the namespace decide what every pod may reach.
        # Every pod but the notebook servers (not in the plan), which have their own egress (components/kubernetes/notebooks.py).
        not_notebooks = {"matchExpressions": [{"key": "sahab.ae/notebook", "operator": "DoesNotExist"}]}
        everyone = [(urn, spec) for urn, spec in policies if spec.get("podSelector") in ({}, None, not_notebooks)]
        for ip, port in POD_IDENTITY:
            assert any(_rule_admits(rule, ip, port) for _, spec in everyone for rule in spec.get("egress") or []), (
                f"namespace {ns}: no egress rule selecting every pod allows the Pod Identity agent {ip}:{port}/TCP (policies: {[u for u, _ in everyone]})"
            )
        # Any policy of the namespace, whatever it selects: none may open IMDS.
        for urn, spec in policies:
            for ip, port in IMDS:
                assert not any(_rule_admits(rule, ip, port) for rule in spec.get("egress") or []), f"{urn}: egress admits IMDS {ip}:{port}"


# An upstream fact the pin table does not hold: the versions the DCGM exporter's chart index lists
# (NVIDIA/dcgm-exporter gh-pages helm-charts/index.yaml). The charts' default image tags are the pin
# table's `chart-image` pins, each naming its chart, values path and where it was checked.
CHART_INDEX = {
    "dcgm-exporter": {"4.0.1", "4.0.3", "4.0.4", "4.1.0", "4.1.1", "4.1.3", "4.2.0", "4.4.0", "4.4.1", "4.5.0", "4.5.2", "4.6.0", "4.7.1", "4.8.0"},
}


def _helm_tags(values: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """values path -> (image path after `/sahab/mirror/`, tag) of every image block."""
    out = {}
    for path, ref in helm_images(values):
        if "/sahab/mirror/" not in ref:
            continue  # the platform's own images (the notebook servers' `sahab/notebook`) are built, not pinned
        repo, tag = ref.rsplit(":", 1)
        out[path] = (repo.split("/sahab/mirror/", 1)[-1], tag)
    return out


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_charts_exist_and_overridden_tags_equal_the_charts_defaults(env, request):
    """Defects: DCGM exporter chart 4.2.3 does not exist; operator/config-reloader and
    kube-state-metrics tags differed from kube-prometheus-stack 77.6.2's defaults."""
    from components.kubernetes.pins import of_kind

    plan = request.getfixturevalue(env)
    charts = {(p.name, p.version): p for p in of_kind("chart")}
    for r in plan.by_type(HELM):
        chart, version = r.inputs["chart"], r.inputs["version"]
        if chart in CHART_INDEX:
            assert version in CHART_INDEX[chart], f"{r.urn}: chart {chart} {version} is not in the chart's index; it has {sorted(CHART_INDEX[chart])}"
        pin = charts.get((chart, version))
        assert pin is not None, f"{r.urn}: chart {chart} {version} is not pinned (add it to PINS in components/kubernetes/pins.py)"
        defaults = {p.values_path: p for p in of_kind("chart-image") if p.default_of == pin.key}
        overridden = _helm_tags(r.inputs["values"])
        for path, (image, tag) in overridden.items():
            assert path in defaults, f"{r.urn}: values {path} overrides an image that no chart-image pin of {pin.key} declares (components/kubernetes/pins.py)"
            want = defaults[path]
            assert (image, tag) == (want.name.split("/", 1)[1], want.version), (
                f"{r.urn}: values {path} is {image}:{tag}, but {chart} {version}'s default is {want.name}:{want.version} (pin {want.key}: {want.checked})"
            )
        missing = sorted(set(defaults) - set(overridden))
        assert not missing, f"{r.urn}: values {missing} keep {chart}'s upstream images (set them from the mirror: images.helm_image())"


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_one_pin_table_covers_every_chart_and_image_of_the_plan(env, request):
    from components.kubernetes.pins import IMAGE_KINDS, of_kind

    plan = request.getfixturevalue(env)
    charts = {(p.name, p.version) for p in of_kind("chart")}
    images = {(p.name.split("/", 1)[1], p.version) for p in of_kind(*IMAGE_KINDS)}
    for r in plan.by_type(HELM):
        assert (r.inputs["chart"], r.inputs["version"]) in charts, f"{r.urn}: chart {r.inputs['chart']} {r.inputs['version']} is not in pins.PINS"
        for path, image in _helm_tags(r.inputs["values"]).items():
            assert image in images, f"{r.urn}: values {path} image {image} is not in pins.PINS"
    for r, spec in pods(plan):
        for c in containers(spec):
            if "/sahab/mirror/" in c["image"]:
                repo, tag = c["image"].rsplit(":", 1)
                assert (repo.split("/sahab/mirror/", 1)[1], tag) in images, f"{r.urn}: {c['image']} not in pins.PINS"


def test_build_bases_have_mirror_repositories(uae_plan, smb_plan):
    """Defect: the ECR mirror repositories for the workload images' build bases were not created."""
    from components.kubernetes.images import WORKLOAD_IMAGES, mirror_repository

    for plan in (uae_plan, smb_plan):
        planned = {r.inputs["name"] for r in plan.resources if r.type == "aws:ecr/repository:Repository"}
        for repo, image in WORKLOAD_IMAGES.items():
            assert f"sahab/{mirror_repository(image.base)}" in planned, (
                f"{plan.stack}: no ECR repository sahab/{mirror_repository(image.base)} for the base of sahab/{repo}"
            )


def _installed(image) -> set[str]:
    """Distribution names an image recipe installs: its extras expanded from pyproject, plus packages."""
    import re
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower() for extra in image.extras for req in extras[extra]}
    return names | {p.lower() for p in image.packages}


def test_workload_images_install_the_drivers_their_backends_need():
    """Defects: the Feast image lacked s3fs (its S3 offline store) and the MLflow image had no
    PostgreSQL driver (its backend store is `postgresql://`)."""
    from components.kubernetes.images import WORKLOAD_IMAGES, build_args

    assert "s3fs" in _installed(WORKLOAD_IMAGES["features"]), "sahab/features: recipe installs no s3fs (Feast's S3 offline store)"
    assert {"psycopg2-binary", "psycopg2"} & _installed(WORKLOAD_IMAGES["mlflow"]), "sahab/mlflow: recipe installs no PostgreSQL driver"
    recipe = (Path(__file__).resolve().parents[2] / "components/kubernetes/IMAGES.md").read_text()
    assert "WORKLOAD_IMAGES" in recipe and "build_args" in recipe and "${PACKAGES}" in recipe, (
        "IMAGES.md: the build recipe must be driven by images.WORKLOAD_IMAGES"
    )
    assert build_args("mlflow")["PACKAGES"] == "psycopg2-binary"


# ---------------------------------------------------------------------------------------------
# Scheduling: pods fit the node pools that admit them; each HPA's maximum fits its tier
# ---------------------------------------------------------------------------------------------

# DaemonSet requests left on every node before workload pods (test's own estimate; GPU nodes also
# run the device plugin and the DCGM exporter).
DAEMONS = {"cpu": 200, "memory": 400}
GPU_DAEMONS = {"cpu": 150, "memory": 320}
GPU_TAINT_KEY = "nvidia.com/gpu"


def _cpu_m(q: str) -> int:
    return int(q[:-1]) if q.endswith("m") else int(float(q) * 1000)


def _mem_mib(q: str) -> int:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    for u, f in units.items():
        if q.endswith(u):
            return int(float(q[: -len(u)]) * f)
    return int(int(q) / 1024 / 1024)


def _node_pools(plan) -> list[dict[str, Any]]:
    """The spec's node pools as the scheduler sees them: labels, GPU taint, free CPU/memory/GPUs of
    the smallest instance type (stacks/offerings.allocatable), and how many nodes it may reach."""
    import yaml

    from stacks.offerings import CAPACITY, allocatable

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "environments" / plan.stack / f"Pulumi.{plan.stack}.yaml").read_text())["config"][
        "sahab:platform"
    ]
    env, karpenter = raw["name"], (raw.get("kubernetes") or {}).get("autoscaler", "karpenter") == "karpenter"
    limits = {r.inputs["metadata"]["name"]: r.inputs["spec"].get("limits", {}) for r in k8s_objects(plan, "NodePool")}
    pools = []
    for kind, specs in (("gpu", raw.get("gpu_pools") or []), ("cpu", raw.get("inference_tiers") or [])):
        for p in specs:
            name = f"{env}-{p['name']}"
            node = min((allocatable(t) for t in p["instance_types"]), key=lambda a: (a.cpu_millicores, a.memory_mib))
            reserve = [DAEMONS, GPU_DAEMONS] if kind == "gpu" else [DAEMONS]
            labels = {"sahab.ae/pool": name, "sahab.ae/capacity": p.get("capacity", "on-demand"), **(p.get("labels") or {})}
            if kind == "gpu":
                labels["sahab.ae/accelerator"] = "nvidia"
            if kind == "cpu" and karpenter:
                # Managed nodes hold the floor; Karpenter adds nodes up to its NodePool's cpu limit.
                extra = int(limits.get(name, {}).get("cpu", 0)) // max(CAPACITY[t].vcpus for t in p["instance_types"])
                nodes = p.get("min_size", 2) + extra
            else:
                nodes = p["max_size"]
            pools.append(
                {
                    "name": name,
                    "labels": labels,
                    "gpu": kind == "gpu",
                    "nodes": nodes,
                    "cpu": node.cpu_millicores - sum(r["cpu"] for r in reserve),
                    "memory": node.memory_mib - sum(r["memory"] for r in reserve),
                    "gpus": node.gpus,
                }
            )
    return pools


def _requests(pod: dict[str, Any]) -> dict[str, int]:
    total = {"cpu": 0, "memory": 0, "gpus": 0}
    for c in pod.get("containers") or []:
        req = (c.get("resources") or {}).get("requests") or {}
        total["cpu"] += _cpu_m(str(req.get("cpu", "0")))
        total["memory"] += _mem_mib(str(req.get("memory", "0")))
        total["gpus"] += int(req.get(GPU_TAINT_KEY, 0))
    return total


def _admits(pool: dict[str, Any], pod: dict[str, Any]) -> bool:
    if any(pool["labels"].get(k) != v for k, v in (pod.get("nodeSelector") or {}).items()):
        return False
    tolerates_gpu = any(t.get("key") == GPU_TAINT_KEY for t in pod.get("tolerations") or [])
    return tolerates_gpu or not pool["gpu"]


def _fits(pool: dict[str, Any], need: dict[str, int]) -> bool:
    return need["cpu"] <= pool["cpu"] and need["memory"] <= pool["memory"] and need["gpus"] <= pool["gpus"]


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_every_pod_fits_a_node_pool_that_admits_it(env, request):
    """Defect (smb): serving asked 2 CPU of a t3.large (about 1.93 allocatable) and training 8 CPU /
    64 GiB of a g5.xlarge (4 vCPU / 16 GiB), so neither ever scheduled and the GPU pool never left 0."""
    plan = request.getfixturevalue(env)
    pools = _node_pools(plan)
    for r, pod in pods(plan):
        need = _requests(pod)
        admitting = [p for p in pools if _admits(p, pod)]
        assert admitting, f"{r.urn}: no node pool admits the pod (nodeSelector {pod.get('nodeSelector')})"
        assert any(_fits(p, need) for p in admitting), (
            f"{r.urn}: requests {need['cpu']}m CPU / {need['memory']}Mi / {need['gpus']} GPUs fit no admitting pool: "
            + ", ".join(f"{p['name']} frees {p['cpu']}m / {p['memory']}Mi / {p['gpus']} GPUs" for p in admitting)
        )


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_each_hpa_maximum_fits_its_tier(env, request):
    """Defect (Karpenter mode): no CPU NodePool and no Cluster Autoscaler for the CPU tiers, so the
    serving HPA's maximum left pods pending on the managed groups' fixed nodes."""
    plan = request.getfixturevalue(env)
    pools = _node_pools(plan)
    deployments = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r for r in k8s_objects(plan, "Deployment")}
    by_pool: dict[str, list[tuple[str, dict[str, int], int]]] = {}
    for hpa in k8s_objects(plan, "HorizontalPodAutoscaler"):
        ns = hpa.inputs["metadata"]["namespace"]
        target = deployments[(ns, hpa.inputs["spec"]["scaleTargetRef"]["name"])]
        pod = target.inputs["spec"]["template"]["spec"]
        pool = next(p for p in pools if _admits(p, pod) and not p["gpu"])
        by_pool.setdefault(pool["name"], []).append((hpa.urn, _requests(pod), hpa.inputs["spec"]["maxReplicas"]))
    assert by_pool, "no HPA in the plan"
    for name, hpas in by_pool.items():
        pool = next(p for p in pools if p["name"] == name)
        need_cpu = sum(req["cpu"] * n for _, req, n in hpas)
        need_mem = sum(req["memory"] * n for _, req, n in hpas)
        # Whole pods per node, as the scheduler packs them (the largest pod bounds the packing).
        per_node = min(pool["cpu"] // max(req["cpu"] for _, req, _ in hpas), pool["memory"] // max(req["memory"] for _, req, _ in hpas))
        pods_at_max = sum(n for _, _, n in hpas)
        assert per_node * pool["nodes"] >= pods_at_max and need_cpu <= pool["cpu"] * pool["nodes"] and need_mem <= pool["memory"] * pool["nodes"], (
            f"{[u for u, _, _ in hpas]}: {pods_at_max} pods at the HPAs' maximum need {need_cpu}m CPU; tier {name} reaches {pool['nodes']} nodes "
            f"of {per_node} such pods each. Fix: a Karpenter CPU NodePool for the tier (or the Cluster Autoscaler), or a larger max_size"
        )


def test_karpenter_cpu_node_pools_are_on_demand_with_the_tier_labels(uae_plan):
    pools = {r.inputs["metadata"]["name"]: r for r in k8s_objects(uae_plan, "NodePool")}
    for tier in ("uae-central-serving", "uae-central-platform"):
        assert tier in pools, f"no Karpenter NodePool for inference tier {tier}: {sorted(pools)}"
        spec = pools[tier].inputs["spec"]
        reqs = {r["key"]: r["values"] for r in spec["template"]["spec"]["requirements"]}
        assert reqs["karpenter.sh/capacity-type"] == ["on-demand"], f"{pools[tier].urn}: inference capacity must be on-demand"
        assert not spec["template"]["spec"].get("taints"), f"{pools[tier].urn}: CPU nodes must not carry the GPU taint"
        assert spec["template"]["metadata"]["labels"]["sahab.ae/pool"] == tier


# ---------------------------------------------------------------------------------------------
# MLflow: the Host header check (MLflow >= 3.5) and the rotating database password
# ---------------------------------------------------------------------------------------------


def _container(plan, kind: str, name: str) -> tuple[str, dict[str, Any]]:
    for r, pod in pods(plan):
        if r.inputs.get("kind") == kind and r.inputs["metadata"]["name"] == name:
            return r.urn, pod["containers"][0]
    raise AssertionError(f"no {kind} {name} in {plan.stack}")


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_mlflow_admits_the_host_names_its_clients_use(env, request):
    """Defect: MLflow >= 3.5 answers 403 to a Host header outside its allowed hosts (default:
    localhost and private IPs), and every client calls it by its Service name."""
    from urllib.parse import urlsplit

    from mlflow.server.security_utils import is_allowed_host_header

    plan = request.getfixturevalue(env)
    urn, mlflow = _container(plan, "Deployment", "mlflow")
    allowed_env = _env(mlflow).get("MLFLOW_SERVER_ALLOWED_HOSTS")
    assert allowed_env, f"{urn}: MLFLOW_SERVER_ALLOWED_HOSTS unset, so only localhost and private IPs pass MLflow's Host check"
    hosts = [h.strip() for h in allowed_env.split(",")]  # as mlflow's get_allowed_hosts_from_env splits it
    clients = [
        (r.urn, e["value"])
        for r, pod in pods(plan)
        for c in containers(pod)
        for e in c.get("env", [])
        if e["name"] in ("SAHAB_MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI") and isinstance(e.get("value"), str)
    ]
    assert clients, "no MLflow client in the plan"
    for client, uri in clients:
        host = urlsplit(uri).netloc
        assert is_allowed_host_header(hosts, host), f"{urn}: MLflow refuses Host {host!r} that {client} sends"
    assert not is_allowed_host_header(hosts, "mlflow.attacker.example:5000"), f"{urn}: allowed hosts admit any name"


def test_mlflow_image_has_the_host_check_this_fix_targets():
    import mlflow
    from packaging.version import Version

    assert Version(mlflow.__version__) >= Version("3.5"), f"mlflow {mlflow.__version__}: the test's premise (Host header check) needs >= 3.5"


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_mlflow_rereads_its_rotating_database_secret(env, request):
    """Defect: the RDS-managed master secret rotates (every 7 days by default) while MLflow read it
    once at start; now the wrapper re-reads it and restarts the server when it changed."""
    plan = request.getfixturevalue(env)
    urn, mlflow = _container(plan, "Deployment", "mlflow")
    values = _env(mlflow)
    assert mlflow["command"][:2] == ["python", "/opt/sahab/with_secrets.py"], f"{urn}: MLflow does not start through the secrets wrapper"
    assert "MLFLOW_BACKEND_STORE_URI" in values["SAHAB_SECRET_ENV"], f"{urn}: the database URI is not rendered from the secret"
    refresh = values.get("SAHAB_SECRET_REFRESH_SECONDS")
    assert refresh and 0 < float(refresh) <= 300, (
        f"{urn}: SAHAB_SECRET_REFRESH_SECONDS={refresh!r}: a rotated password would break new connections until a restart"
    )


def _with_secrets():
    import importlib.util

    spec = importlib.util.spec_from_file_location("with_secrets_h9a", Path(__file__).resolve().parents[2] / "components/kubernetes/scripts/with_secrets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_with_secrets_restarts_the_command_when_the_secret_rotates(tmp_path):
    """Real processes: a child that records the password it was started with; rotating the secret
    restarts it with the new one, an unchanged secret does not."""
    import json
    import os
    import signal
    import sys
    import threading
    import time

    ws = _with_secrets()
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"username": "mlflow", "password": "first"}))
    seen = tmp_path / "seen.txt"
    child = f"import os, time; open({str(seen)!r}, 'a').write(f\"{{os.getpid()}} {{os.environ['DB']}}\\n\"); time.sleep(60)"
    spec = {"DB": {"arn": "arn:aws:secretsmanager:me-central-1:123456789012:secret:rds!db", "template": "postgresql://{username}:{password_url}@db/mlflow"}}
    result: dict[str, int] = {}
    runner = threading.Thread(
        target=lambda: result.update(
            rc=ws.supervise(
                [sys.executable, "-c", child],
                spec,
                lambda arn: secret.read_text(),
                {"PATH": os.environ["PATH"]},
                refresh_seconds=0.2,
                grace_seconds=5,
                log=lambda m: None,
            )
        )
    )
    runner.start()

    def lines(n: int, within: float = 15.0) -> list[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            got = seen.read_text().splitlines() if seen.exists() else []
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"child started {len(got)} times, expected {n}: {got}")

    try:
        first = lines(1)
        time.sleep(1.0)  # five refresh periods with the same secret
        assert len(seen.read_text().splitlines()) == 1, "restarted although the secret did not change"
        secret.write_text(json.dumps({"username": "mlflow", "password": "sec/ond"}))
        second = lines(2)
        assert first[0].endswith("postgresql://mlflow:first@db/mlflow"), first
        assert second[1].endswith("postgresql://mlflow:sec%2Fond@db/mlflow"), second
        old_pid, new_pid = int(second[0].split()[0]), int(second[1].split()[0])
        assert old_pid != new_pid
    finally:
        for line in seen.read_text().splitlines()[-1:] if seen.exists() else []:
            os.kill(int(line.split()[0]), signal.SIGTERM)
        runner.join(timeout=15)
    assert not runner.is_alive(), "supervise did not return when its child ended"
    assert result["rc"] == -signal.SIGTERM
