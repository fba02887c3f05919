"""The cluster part of `sahab verify` on API objects built from the uae-central plan's manifests.

There is no cluster here: the "live" cluster is what the plan renders (namespaces, network
policies, Deployments with their pod templates) plus the nodes its node groups promise, each
given the status a healthy cluster reports. Every check passes on it; then one property is
broken per case and exactly that check fails, naming the object.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from sahab.ops.verify.base import failing
from sahab.ops.verify.cluster import cluster_checks
from sahab.ops.verify.context import promises_from_plan


class ManifestCluster:
    """A ClusterView over plain objects (what `Cluster.list` returns from the API)."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]], targets: dict[str, Any]):
        self.objects, self.targets = objects, targets

    def list(self, kind: str) -> list[dict[str, Any]]:
        return self.objects.get(kind, [])

    def prometheus_targets(self, namespace: str) -> dict[str, Any]:
        return self.targets


def _ready_pod(name: str, namespace: str, spec: dict[str, Any], node: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {**copy.deepcopy(spec), "nodeName": node},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def healthy_cluster(plan_json: dict[str, Any]) -> ManifestCluster:
    promises = promises_from_plan(plan_json)
    manifests = [r["inputs"] for r in plan_json["resources"] if r["type"].startswith("kubernetes:") and "kind" in r["inputs"]]

    def kind(k):
        return [copy.deepcopy(m) for m in manifests if m["kind"] == k]

    nodes, pods = [], []
    for pool in promises.pools:
        for n in range(max(pool.min_size, 1)):  # a GPU pool from 0 gets one node, so its checks have something to read
            name = f"{pool.name}-{n}"
            nodes.append(
                {
                    "metadata": {"name": name, "labels": {**pool.labels, "kubernetes.io/hostname": name}},
                    "spec": {"taints": [{"key": k, "value": v, "effect": e} for k, v, e in pool.taints]},
                    "status": {
                        "conditions": [{"type": "Ready", "status": "True"}],
                        "allocatable": {"cpu": "8", **({"nvidia.com/gpu": "8"} if pool.gpu else {})},
                    },
                }
            )
            if pool.gpu:
                plugin_spec = {"containers": [{"name": "nvidia-device-plugin-ctr", "securityContext": {"readOnlyRootFilesystem": True}}]}
                pods.append(_ready_pod(f"nvidia-device-plugin-{name}", "sahab-gpu", plugin_spec, name))
    deployments = kind("Deployment")
    for d in deployments:
        replicas = d["spec"].get("replicas", 1)
        d["status"] = {"replicas": replicas, "availableReplicas": replicas, "conditions": [{"type": "Available", "status": "True"}]}
        for i in range(replicas):
            pods.append(_ready_pod(f"{d['metadata']['name']}-{i}", d["metadata"]["namespace"], d["spec"]["template"]["spec"], f"node-{i}"))
    gpu_nodes = sum(1 for n in nodes if "nvidia.com/gpu" in n["status"]["allocatable"])
    daemonsets = [
        {
            "metadata": {"name": "nvidia-device-plugin", "namespace": "sahab-gpu"},
            "status": {"desiredNumberScheduled": gpu_nodes, "currentNumberScheduled": gpu_nodes, "numberReady": gpu_nodes, "numberMisscheduled": 0},
        }
    ]
    targets = {
        "status": "success",
        "data": {
            "activeTargets": [
                {"scrapeUrl": "http://10.40.32.10:3000/metrics", "health": "up", "labels": {"job": "serving"}, "lastError": ""},
                {"scrapeUrl": "http://10.40.32.11:9400/metrics", "health": "up", "labels": {"job": "dcgm-exporter"}, "lastError": ""},
            ]
        },
    }
    return ManifestCluster(
        {
            "Node": nodes,
            "Pod": pods,
            "Deployment": deployments,
            "DaemonSet": daemonsets,
            "Namespace": kind("Namespace"),
            "NetworkPolicy": kind("NetworkPolicy"),
        },
        targets,
    )


@pytest.fixture(scope="module")
def plan_json(uae_plan):
    return uae_plan.to_json()


@pytest.fixture
def cluster(plan_json) -> ManifestCluster:
    return healthy_cluster(plan_json)


def _failing(plan_json, cluster) -> dict[str, list[str]]:
    return failing(cluster_checks(promises_from_plan(plan_json), cluster))


def test_the_planned_cluster_passes_every_check(plan_json, cluster):
    checks = cluster_checks(promises_from_plan(plan_json), cluster)
    assert failing(checks) == {}, "the plan's own manifests, healthy, must pass every cluster check"
    names = {c.name for c in checks}
    for pool in ("uae-central-serving", "uae-central-platform", "uae-central-train-h200", "uae-central-train-l4"):
        assert f"cluster-pool-labels-taints[{pool}]" in names, f"pool {pool} is not checked"
    assert "cluster-gpu-device-plugin[uae-central-train-h200]" in names, "the GPU pools are checked for the device plugin"
    assert "cluster-gpu-device-plugin[uae-central-serving]" not in names, "a CPU pool has no device plugin to check"
    for ns in ("sahab-serving", "sahab-platform", "sahab-monitoring", "sahab-team-risk"):
        assert f"cluster-default-deny[{ns}]" in names and f"cluster-containers-non-root[{ns}]" in names, f"namespace {ns} is not checked"
    assert "cluster-prometheus-targets-up[sahab-monitoring]" in names


def _find(objs, name, namespace=None):
    return next(o for o in objs if o["metadata"]["name"] == name and (namespace is None or o["metadata"].get("namespace") == namespace))


def _node_label(c):
    del _find(c.objects["Node"], "uae-central-serving-1")["metadata"]["labels"]["sahab.ae/workload"]
    return "cluster-pool-labels-taints[uae-central-serving]", "node uae-central-serving-1"


def _gpu_taint(c):
    _find(c.objects["Node"], "uae-central-train-l4-0")["spec"]["taints"] = []
    return "cluster-pool-labels-taints[uae-central-train-l4]", "node uae-central-train-l4-0"


def _node_not_ready(c):
    _find(c.objects["Node"], "uae-central-serving-2")["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    return "cluster-pool-ready-nodes[uae-central-serving]", "uae-central-serving"


def _no_gpus(c):
    _find(c.objects["Node"], "uae-central-train-h200-0")["status"]["allocatable"].pop("nvidia.com/gpu")
    return "cluster-gpu-device-plugin[uae-central-train-h200]", "node uae-central-train-h200-0"


def _plugin_pod_gone(c):
    c.objects["Pod"] = [p for p in c.objects["Pod"] if p["metadata"]["name"] != "nvidia-device-plugin-uae-central-train-l4-0"]
    return "cluster-gpu-device-plugin[uae-central-train-l4]", "node uae-central-train-l4-0"


def _deployment_unavailable(c):
    d = _find(c.objects["Deployment"], "mlflow", "sahab-platform")
    d["status"] = {
        "replicas": d["spec"].get("replicas", 1),
        "availableReplicas": 0,
        "conditions": [
            {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."}
        ],
    }
    return "cluster-namespace-workloads-ready[sahab-platform]", "sahab-platform/mlflow"


def _serving_deployment(c):
    return next(d for d in c.objects["Deployment"] if d["metadata"]["namespace"] == "sahab-serving")


def _deployment_missing(c):
    gone = _serving_deployment(c)["metadata"]["name"]
    c.objects["Deployment"] = [d for d in c.objects["Deployment"] if d["metadata"]["name"] != gone]
    c.objects["Pod"] = [p for p in c.objects["Pod"] if not p["metadata"]["name"].startswith(f"{gone}-")]
    return f"cluster-planned-deployment-exists[sahab-serving/{gone}]", f"sahab-serving/{gone}"


def _daemonset_unscheduled(c):
    c.objects["DaemonSet"][0]["status"].update(currentNumberScheduled=1, numberReady=1)
    return "cluster-namespace-workloads-ready[sahab-gpu]", "sahab-gpu/nvidia-device-plugin"


def _default_deny_deleted(c):
    c.objects["NetworkPolicy"] = [
        p for p in c.objects["NetworkPolicy"] if not (p["metadata"]["name"] == "default-deny" and p["metadata"]["namespace"] == "sahab-serving")
    ]
    return "cluster-default-deny[sahab-serving]", "sahab-serving"


def _default_deny_opened(c):
    _find(c.objects["NetworkPolicy"], "default-deny", "sahab-team-risk")["spec"]["ingress"] = [{}]
    return "cluster-default-deny[sahab-team-risk]", "sahab-team-risk"


def _new_namespace(c):
    c.objects["Namespace"].append({"metadata": {"name": "sahab-team-new", "labels": {"app.kubernetes.io/part-of": "sahab"}}})
    return "cluster-namespaces-default-deny[every sahab namespace]", "sahab-team-new"


def _root_container(c):
    name = _serving_deployment(c)["metadata"]["name"]
    pod = _find(c.objects["Pod"], f"{name}-0", "sahab-serving")
    container = pod["spec"]["containers"][0]
    container["securityContext"]["runAsUser"] = 0
    return "cluster-containers-non-root[sahab-serving]", f"sahab-serving/{name}-0/{container['name']}"


def _writable_root(c):
    pod = _find(c.objects["Pod"], "mlflow-0", "sahab-platform")
    pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    return "cluster-containers-read-only-root[sahab-platform]", "sahab-platform/mlflow-0/"


def _target_down(c):
    c.targets["data"]["activeTargets"][0].update(health="down", lastError="connection refused")
    return "cluster-prometheus-targets-up[sahab-monitoring]", "http://10.40.32.10:3000/metrics"


BREAKS: dict[str, Callable[[ManifestCluster], tuple[str, str]]] = {
    "node lost a label": _node_label,
    "GPU node lost its taint": _gpu_taint,
    "serving node not ready": _node_not_ready,
    "GPU node advertises no GPU": _no_gpus,
    "device plugin pod gone": _plugin_pod_gone,
    "mlflow unavailable": _deployment_unavailable,
    "planned deployment missing": _deployment_missing,
    "daemonset not scheduled everywhere": _daemonset_unscheduled,
    "default-deny deleted": _default_deny_deleted,
    "default-deny opened": _default_deny_opened,
    "new sahab namespace without default-deny": _new_namespace,
    "container as root": _root_container,
    "writable root filesystem": _writable_root,
    "prometheus target down": _target_down,
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_one_broken_property_fails_exactly_its_check(plan_json, cluster, case):
    expected, named = BREAKS[case](cluster)
    found = _failing(plan_json, cluster)
    assert list(found) == [expected], f"{case}: expected exactly {expected} to fail, got {json.dumps(found, indent=1)}"
    message = "\n".join(found[expected])
    assert named in message and "Fix:" in message, f"{case}: the message must name {named} and say how to fix it: {message}"


def test_an_exempted_namespace_is_not_held_to_non_root(plan_json, cluster):
    """sahab-gpu records why it runs privileged pods (the device plugin's hostPath sockets)."""
    pod = next(p for p in cluster.objects["Pod"] if p["metadata"]["namespace"] == "sahab-gpu")
    pod["spec"]["containers"][0]["securityContext"] = {"runAsUser": 0}
    assert _failing(plan_json, cluster) == {}, "the exemption annotation on sahab-gpu must be honoured"
    ns = _find(cluster.objects["Namespace"], "sahab-gpu")
    del ns["metadata"]["annotations"]["sahab.ae/pod-security-reason"]
    assert set(_failing(plan_json, cluster)) == {"cluster-containers-non-root[sahab-gpu]", "cluster-containers-read-only-root[sahab-gpu]"}
