"""Scheduling: pod templates against the node pools' allocatable capacity, labels and taints; HPA
maxima against the nodes the pools may grow to."""

from __future__ import annotations

import pytest
from gate_helpers import doc, policies, release, resource, workload

from sahab.gate.deployability import scheduling
from sahab.gate.deployability.pods import PodTemplate
from sahab.gate.deployability.scheduling import NODE_GROUP, Pool, Request, admits, pod_request, quantity, tolerates


def _template(ctx, rel):
    d = doc(ctx, rel)
    return (d["spec"]["jobTemplate"]["spec"]["template"] if d["kind"] == "CronJob" else d["spec"]["template"])["spec"]


def test_a_pod_too_large_for_every_pool_fails_naming_it_and_the_fix(uae_ctx):
    trainer = _template(uae_ctx, "sahab-training/cronjob-transaction-risk-retrain.yaml")["containers"][0]
    trainer["resources"]["requests"]["cpu"] = trainer["resources"]["limits"]["cpu"] = "400"
    found = policies(scheduling.check(uae_ctx))
    assert "scheduling-pod-fits" in found, found
    message = next(m for m in found["scheduling-pod-fits"] if "retrain" in m)
    assert "sahab-training/transaction-risk-retrain (CronJob)" in message and "400 CPU" in message and "p5en.48xlarge" in message and "Fix:" in message, message


def test_serving_2_cpu_on_t3_large_fails(smb_ctx):
    # The arithmetic: 2 CPU requested, about 1.93 allocatable on a t3.large.
    group = resource(smb_ctx, NODE_GROUP, "serving")
    group.inputs["instanceTypes"] = ["t3.large"]
    rel, serving = workload(smb_ctx, "Deployment", "serving")
    c = _template(smb_ctx, rel)["containers"][0]
    c["resources"] = {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    found = policies(scheduling.check(smb_ctx))
    assert any(f"sahab-serving/{serving['metadata']['name']} (Deployment)" in m and "t3.large" in m for m in found.get("scheduling-pod-fits", [])), found


def test_training_8_cpu_64_gib_on_g5_xlarge_fails(smb_ctx):
    group = resource(smb_ctx, NODE_GROUP, "train")
    group.inputs["instanceTypes"] = ["g5.xlarge"]
    c = _template(smb_ctx, "sahab-training/cronjob-transaction-risk-retrain.yaml")["containers"][0]
    c["resources"] = {"requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"}, "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"}}
    found = policies(scheduling.check(smb_ctx))
    assert any("sahab-training/transaction-risk-retrain (CronJob)" in m and "g5.xlarge" in m for m in found.get("scheduling-pod-fits", [])), found


def test_a_missing_toleration_leaves_no_admitting_pool(uae_ctx):
    spec = _template(uae_ctx, "sahab-training/cronjob-transaction-risk-retrain.yaml")
    spec["tolerations"] = []
    found = policies(scheduling.check(uae_ctx))
    message = next(m for m in found["scheduling-pod-fits"] if "retrain" in m)
    assert "no node pool admits it" in message and "nvidia.com/gpu" in message, message


def test_projects_serving_beyond_their_shared_tier_together_fails_naming_both(smb_ctx):
    """smb's serving tier grows to 6 one-CPU pods: each project's HPA (max 3) fits alone, and both fit
    together; at 3 nodes they no longer do, and the finding names both projects' Deployments."""
    assert not policies(scheduling.check(smb_ctx)).get("scheduling-hpas-fit-together"), "the shipped smb fits"
    group = resource(smb_ctx, NODE_GROUP, "serving")
    group.inputs["scalingConfig"]["maxSize"] = 3
    found = policies(scheduling.check(smb_ctx))
    assert "scheduling-hpa-capacity" not in found, f"each HPA alone still fits 3 nodes: {found}"
    (message,) = found["scheduling-hpas-fit-together"]
    assert "sahab-serving/transaction-risk-serving (max 3)" in message and "sahab-serving/delivery-time-serving (max 3)" in message, message
    assert "6 pods" in message and "at most 3 pods" in message and "kubernetes.projects[].serving.max_replicas" in message, message


@pytest.mark.parametrize("ctx_name", ["uae_ctx", "smb_ctx", "north_ctx", "onprem_ctx"])
def test_each_projects_pods_fit_the_pools_that_admit_them(ctx_name, request):
    """Both shipped projects on every environment: each of their pods is admitted by a pool it fits
    (GPU training on the GPU pool, LightGBM training and every CPU pod on CPU nodes)."""
    ctx = request.getfixturevalue(ctx_name)
    found = [f.message for f in scheduling.check(ctx) if f.enforcement == "mandatory"]
    assert found == [], f"{ctx_name}: " + "\n".join(found)
    placed = ctx.cache["scheduling"]
    for project in ("transaction-risk", "delivery-time"):
        mine = {k for k in placed if f"/{project}-" in k}
        assert {f"sahab-serving/{project}-serving", f"sahab-training/{project}-retrain", f"sahab-monitoring/{project}-monitoring"} <= mine, (
            f"{ctx_name}: {project}'s pods placed: {sorted(mine)}"
        )
    gpu_pools = {name for name, _, _ in placed["sahab-training/delivery-time-retrain"][1]}
    assert not any("train" in name for name in gpu_pools), f"{ctx_name}: delivery-time (LightGBM) trains on CPU nodes, admitted by {gpu_pools}"


def test_hpa_beyond_the_pools_nodes_fails(uae_ctx):
    hpa = next(d for _, d in uae_ctx.objects("HorizontalPodAutoscaler") if d["metadata"]["namespace"] == "sahab-serving")
    hpa["spec"]["maxReplicas"] = 500
    found = policies(scheduling.check(uae_ctx))
    message = next(m for m in found["scheduling-hpa-capacity"] if hpa["metadata"]["name"] in m)
    assert "maxReplicas 500" in message and "Fix:" in message, message


def test_node_groups_grow_only_with_the_cluster_autoscaler(smb_ctx, uae_ctx):
    assert any(r.get("chart", "").endswith("cluster-autoscaler") for _, r in smb_ctx.releases)
    smb_pool = next(p for p in scheduling.pools(smb_ctx) if p.kind == "node group" and "serving" in p.name)
    assert smb_pool.max_nodes == resource(smb_ctx, NODE_GROUP, "serving").inputs["scalingConfig"]["maxSize"], smb_pool
    karpenter = release(uae_ctx, "karpenter")
    assert karpenter, "uae-central runs Karpenter"
    for p in scheduling.pools(uae_ctx):
        if p.kind == "node group":
            group = next(r for r in uae_ctx.resources(NODE_GROUP) if r.urn == p.urn)
            assert p.max_nodes == group.inputs["scalingConfig"]["desiredSize"], f"{p.name}: nothing scales a node group in Karpenter mode"


def test_karpenter_nodepool_limits_bound_its_nodes(uae_ctx):
    pool = next(p for p in scheduling.pools(uae_ctx) if p.kind == "Karpenter NodePool" and "h200" in p.name)
    assert pool.max_nodes == 2, "limits nvidia.com/gpu 16 on 8-GPU p5en.48xlarge nodes"


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [("500m", "cpu", 500), ("2", "cpu", 2000), ("0.25", "cpu", 250), ("4Gi", "memory", 4096), ("512Mi", "memory", 512), ("1G", "memory", 954)],
)
def test_quantities(text, unit, value):
    assert quantity(text, unit) == value


def test_requests_fall_back_to_limits_then_limitrange_defaults():
    pod = PodTemplate(
        "ns",
        "p",
        "Deployment",
        {},
        {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}, {}], "initContainers": [{"resources": {"requests": {"cpu": "3"}}}]},
        1,
    )
    assert pod_request(pod, {"ns": {"cpu": "100m", "memory": "128Mi"}}) == Request(3000, 1152, 0)


def test_taints_tolerations_and_affinity():
    taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
    assert tolerates([{"key": "nvidia.com/gpu", "operator": "Exists"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)
    assert not tolerates([{"key": "nvidia.com/gpu", "value": "other", "effect": "NoSchedule"}], taint)
    pool = Pool("gpu", "Karpenter NodePool", ("g6.4xlarge",), {"sahab.ae/gpu": "l4"}, (taint,), 4, "limits")
    tolerant = {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}]}
    assert admits(PodTemplate("ns", "p", "Job", {}, tolerant, 1), pool, "g6.4xlarge") == ""
    assert "taint" in admits(PodTemplate("ns", "p", "Job", {}, {}, 1), pool, "g6.4xlarge")
    away = {
        **tolerant,
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [{"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"}]}]
                }
            }
        },
    }
    assert "affinity" in admits(PodTemplate("ns", "p", "Job", {}, away, 1), pool, "g6.4xlarge")
    assert "label" in admits(PodTemplate("ns", "p", "Job", {}, {**tolerant, "nodeSelector": {"sahab.ae/gpu": "h200"}}, 1), pool, "g6.4xlarge")


# --- AKS and an existing cluster: the same check against their own capacities ----------------------


@pytest.fixture(scope="module")
def _north_plan():
    from sahab.engine.offline import plan_environment
    from sahab.gate.model import REPO

    return plan_environment(REPO, "uae-north")


@pytest.fixture(scope="module")
def _onprem_plan():
    from sahab.engine.offline import plan_environment
    from sahab.gate.model import REPO

    return plan_environment(REPO, "smb-onprem")


def _ctx(plan, env):
    import copy

    from sahab.gate.deployability import Context
    from sahab.gate.model import REPO

    return Context.of(copy.deepcopy(plan), REPO / "environments" / env)


@pytest.fixture
def north_ctx(_north_plan):
    return _ctx(_north_plan, "uae-north")


@pytest.fixture
def onprem_ctx(_onprem_plan):
    return _ctx(_onprem_plan, "smb-onprem")


def test_shipped_aks_and_onprem_plans_schedule(north_ctx, onprem_ctx):
    for ctx in (north_ctx, onprem_ctx):
        found = policies(scheduling.check(ctx))
        assert not found, f"{ctx.environment_dir.name}: {found}"


def test_aks_pools_are_known_with_the_aks_allocatable(north_ctx):
    from stacks.azure_offerings import aks_allocatable

    pools = {p.name: p for p in scheduling.pools(north_ctx)}
    assert {"system", "platform", "serving", "trainh100", "traina10"} <= set(pools), sorted(pools)
    for name, pool in pools.items():
        assert pool.kind == "AKS agent pool" and pool.allocatable is not None, f"{name} ({pool.machine_types}): capacity unknown, scheduling unchecked"
    h100 = pools["trainh100"]
    assert h100.allocatable == scheduling.Allocatable(*aks_allocatable("Standard_NC40ads_H100_v5")), h100
    assert (h100.allocatable.gpus, h100.max_nodes) == (1, 2), "gpu_pools[0]: one H100 per node, at most 2 nodes (maxCount)"
    assert h100.cluster_daemons == scheduling.AKS_NODE_DAEMONS, "AKS pools subtract AKS's own daemons, not EKS's"


def test_an_aks_pod_too_large_fails_naming_the_pod_the_pool_and_the_fix(north_ctx):
    trainer = _template(north_ctx, "sahab-training/cronjob-transaction-risk-retrain.yaml")["containers"][0]
    trainer["resources"]["requests"]["cpu"] = trainer["resources"]["limits"]["cpu"] = "64"
    found = policies(scheduling.check(north_ctx))
    message = next(m for m in found["scheduling-pod-fits"] if "retrain" in m)
    assert "sahab-training/transaction-risk-retrain (CronJob)" in message and "64 CPU" in message, message
    assert "trainh100 Standard_NC40ads_H100_v5 leaves" in message, message  # kubernetes.training.gpu_pool: trainh100
    assert "Fix:" in message and "give trainh100 a larger VM size (its vm_size" in message and "environments/uae-north/Pulumi.uae-north.yaml" in message, (
        message
    )


def test_an_aks_pool_of_a_size_without_capacity_is_named(north_ctx):
    pool = resource(north_ctx, scheduling.AKS_POOL, "traina10")
    pool.inputs["vmSize"] = "Standard_NV6ads_A10_v5"  # a sixth of an A10: no whole GPU to promise
    found = policies(scheduling.check(north_ctx))
    message = next(m for m in found["scheduling-capacity-known"] if "traina10" in m)
    assert "Standard_NV6ads_A10_v5" in message and "stacks/azure_offerings.py VM_CAPACITY" in message, message


def test_an_onprem_pod_larger_than_the_declared_nodes_fails_naming_the_fix(onprem_ctx):
    rel, serving = workload(onprem_ctx, "Deployment", "serving")
    c = _template(onprem_ctx, rel)["containers"][0]
    c["resources"] = {"requests": {"cpu": "12", "memory": "4Gi"}, "limits": {"cpu": "12", "memory": "4Gi"}}
    found = policies(scheduling.check(onprem_ctx))
    message = next(m for m in found["scheduling-pod-fits"] if f"sahab-serving/{serving['metadata']['name']} (Deployment)" in m)
    assert "requests 12." in message and "existing nodes existing-node leaves" in message, message
    assert "Fix:" in message and "onprem.minimum" in message and "environments/smb-onprem/Pulumi.smb-onprem.yaml" in message, message


def test_onprem_nodes_are_the_declared_hardware_share(onprem_ctx):
    from stacks.capacity import declared_node

    (nodes,) = scheduling.pools(onprem_ctx)
    minimum = onprem_ctx.spec["onprem"]["minimum"]
    assert nodes.allocatable == declared_node(minimum["nodes"], minimum["cpu_cores"], minimum["memory_gib"]), nodes
    assert nodes.cluster_daemons == {}, "the customer's own daemons are not guessed"


def test_every_vm_size_of_the_shipped_azure_spec_has_a_capacity():
    import yaml

    from sahab.gate.model import REPO
    from stacks.azure_offerings import VM_CAPACITY

    doc = yaml.safe_load((REPO / "environments" / "uae-north" / "Pulumi.uae-north.yaml").read_text())["config"]["sahab:platform"]
    sizes = {p["name"]: p["vm_size"] for p in doc["gpu_pools"] + doc["inference_tiers"]} | {"system": doc["azure"]["system_vm_size"]}
    missing = {name: size for name, size in sizes.items() if size not in VM_CAPACITY}
    assert not missing, f"uae-north pools whose VM size stacks/azure_offerings.py VM_CAPACITY lacks: {missing}"
