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
    trainer = _template(uae_ctx, "sahab-training/cronjob-retrain.yaml")["containers"][0]
    trainer["resources"]["requests"]["cpu"] = trainer["resources"]["limits"]["cpu"] = "400"
    found = policies(scheduling.check(uae_ctx))
    assert "scheduling-pod-fits" in found, found
    message = next(m for m in found["scheduling-pod-fits"] if "retrain" in m)
    assert "sahab-training/retrain (CronJob)" in message and "400 CPU" in message and "p5en.48xlarge" in message and "Fix:" in message, message


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
    c = _template(smb_ctx, "sahab-training/cronjob-retrain.yaml")["containers"][0]
    c["resources"] = {"requests": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"}, "limits": {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "1"}}
    found = policies(scheduling.check(smb_ctx))
    assert any("sahab-training/retrain (CronJob)" in m and "g5.xlarge" in m for m in found.get("scheduling-pod-fits", [])), found


def test_a_missing_toleration_leaves_no_admitting_pool(uae_ctx):
    spec = _template(uae_ctx, "sahab-training/cronjob-retrain.yaml")
    spec["tolerations"] = []
    found = policies(scheduling.check(uae_ctx))
    message = next(m for m in found["scheduling-pod-fits"] if "retrain" in m)
    assert "no node pool admits it" in message and "nvidia.com/gpu" in message, message


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
