"""Cluster part of `sahab verify` (the Kubernetes API): the node pools with their labels and taints,
the device plugin on GPU nodes, every Deployment available and DaemonSet scheduled, default-deny
in every platform namespace, containers non-root on read-only root filesystems (read from the pod
specs, so distroless images are verified too) and every Prometheus target up.

The checks are plain functions over API objects as JSON (camelCase, exactly what the API server
returns and what the plan's manifests hold), so they are tested on manifests without a cluster.
`Cluster` reads them live through the Kubernetes client; the kubeconfig is the stack's output.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Protocol

from sahab.ops.verify.base import Check, problem
from sahab.ops.verify.context import PoolPromise, Promises

GPU_RESOURCE = "nvidia.com/gpu"
POOL_LABEL = "sahab.ae/pool"
EXEMPTION = "sahab.ae/pod-security-reason"  # a namespace's recorded reason to run privileged pods


class ClusterView(Protocol):
    """What the checks read; `Cluster` answers from the API, tests from manifests."""

    def list(self, kind: str) -> list[dict[str, Any]]: ...
    def prometheus_targets(self, namespace: str) -> dict[str, Any]: ...


class Cluster:
    """The live cluster through the Kubernetes client (objects as the API's JSON, cached per run)."""

    _PATHS = {
        "Node": "/api/v1/nodes",
        "Namespace": "/api/v1/namespaces",
        "Pod": "/api/v1/pods",
        "NetworkPolicy": "/apis/networking.k8s.io/v1/networkpolicies",
        "Deployment": "/apis/apps/v1/deployments",
        "DaemonSet": "/apis/apps/v1/daemonsets",
        "CronJob": "/apis/batch/v1/cronjobs",
        "Job": "/apis/batch/v1/jobs",
    }

    def __init__(self, kubeconfig: str, context: str | None = None):
        from kubernetes import client, config

        # The client resolves the kubeconfig (exec plugins such as `aws eks get-token`, client
        # certificates, CA); the calls themselves are plain HTTPS, independent of its API surface.
        self.config = client.Configuration()
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=self.config)

    def request(self, method: str, path: str, body: Any = None, query: list[tuple[str, str]] | None = None) -> tuple[int, str]:
        """`method path` on the API server; (status, body); status 0 when it does not answer."""
        import httpx

        cfg = self.config
        headers = {"Accept": "application/json"}
        # Newer clients (37 here) keep the token under "BearerToken", older ones under "authorization".
        auth = next((a for key in ("BearerToken", "authorization") if (a := cfg.get_api_key_with_prefix(key))), None)
        if auth:
            headers["Authorization"] = auth
        verify: Any = (cfg.ssl_ca_cert or True) if cfg.verify_ssl else False
        cert: str | tuple[str, str] | None = None
        if cfg.cert_file:
            cert = (cfg.cert_file, cfg.key_file) if cfg.key_file else cfg.cert_file
        try:
            with httpx.Client(base_url=cfg.host, verify=verify, cert=cert, timeout=30) as http:
                r = http.request(method, path, params=tuple(query) if query is not None else None, json=body, headers=headers)
        except httpx.HTTPError as e:
            return 0, f"{type(e).__name__}: {e}"
        return r.status_code, r.text

    @functools.cache  # noqa: B019 one Cluster per verification run
    def list(self, kind: str) -> list[dict[str, Any]]:
        status, body = self.request("GET", self._PATHS[kind])
        if status != 200:
            raise RuntimeError(f"listing {kind} failed ({status}): {body[:300]}")
        return json.loads(body).get("items", [])

    def prometheus_targets(self, namespace: str) -> dict[str, Any]:
        # prometheus-operated: the Service the operator creates for every Prometheus it runs.
        status, body = self.request(
            "GET", f"/api/v1/namespaces/{namespace}/services/prometheus-operated:9090/proxy/api/v1/targets", query=[("state", "active")]
        )
        if status != 200:
            raise RuntimeError(f"Prometheus in {namespace} did not answer /api/v1/targets ({status}): {body[:300]}")
        return json.loads(body)


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _ref(obj: dict[str, Any]) -> str:
    m = _meta(obj)
    return f"{m['namespace']}/{m['name']}" if m.get("namespace") else m.get("name", "?")


def _in(objs: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    return [o for o in objs if _meta(o).get("namespace") == namespace]


def cluster_checks(promises: Promises, view: ClusterView) -> list[Check]:
    """Every cluster check for the stack, built from the promises (the API is read when they run)."""
    namespaces = lambda: platform_namespaces(promises, view.list("Namespace"))  # noqa: E731 read when run

    # One closure per item (the API is read when a check runs, not when it is built).
    def pool_checks(pool: PoolPromise) -> list[Check]:
        checks = [
            Check(id="cluster-pool-ready-nodes", subject=pool.name, run=lambda: pool_ready_nodes(pool, view.list("Node"))),
            Check(id="cluster-pool-labels-taints", subject=pool.name, run=lambda: pool_labels_taints(pool, view.list("Node"))),
        ]
        if pool.gpu:
            checks.append(Check(id="cluster-gpu-device-plugin", subject=pool.name, run=lambda: gpu_device_plugin(pool, view.list("Node"), view.list("Pod"))))
        return checks

    def deployment_check(ref: str) -> Check:
        return Check(id="cluster-planned-deployment-exists", subject=ref, run=lambda: deployment_exists(ref, view.list("Deployment")))

    def namespace_checks(ns: str) -> list[Check]:
        return [
            Check(id="cluster-namespace-workloads-ready", subject=ns, run=lambda: workloads_ready(ns, view.list("Deployment"), view.list("DaemonSet"))),
            Check(id="cluster-default-deny", subject=ns, run=lambda: default_deny(ns, namespaces(), view.list("NetworkPolicy"))),
            Check(id="cluster-containers-non-root", subject=ns, run=lambda: containers_non_root(ns, namespaces(), view.list("Pod"))),
            Check(id="cluster-containers-read-only-root", subject=ns, run=lambda: containers_read_only_root(ns, namespaces(), view.list("Pod"))),
        ]

    checks: list[Check] = []
    for pool in promises.pools:
        checks += pool_checks(pool)
    for ref in promises.deployments:
        checks.append(deployment_check(ref))
    for ns in promises.namespaces:
        checks += namespace_checks(ns)
    checks.append(
        Check(
            id="cluster-namespaces-default-deny",
            subject="every sahab namespace",
            run=lambda: [p for ns in namespaces() if ns not in promises.namespaces for p in default_deny(ns, namespaces(), view.list("NetworkPolicy"))],
        )
    )
    monitoring = promises.monitoring_namespace
    if monitoring:
        checks.append(Check(id="cluster-prometheus-targets-up", subject=monitoring, run=lambda: prometheus_targets_up(view.prometheus_targets(monitoring))))
    return checks


def platform_namespaces(promises: Promises, live: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The planned namespaces and every live one labelled part-of sahab, by name (absent: {})."""
    found = {
        _meta(n)["name"]: n
        for n in live
        if _meta(n).get("name") in promises.namespaces or (_meta(n).get("labels") or {}).get("app.kubernetes.io/part-of") == "sahab"
    }
    return {name: found.get(name, {}) for name in sorted(set(promises.namespaces) | set(found))}


# --- nodes -----------------------------------------------------------------------------------------


def _pool_nodes(pool: PoolPromise, nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for n in nodes if (_meta(n).get("labels") or {}).get(POOL_LABEL) == pool.name]


def _ready(node: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (node.get("status") or {}).get("conditions") or [])


def pool_ready_nodes(pool: PoolPromise, nodes: list[dict[str, Any]]) -> list[str]:
    ready = [n for n in _pool_nodes(pool, nodes) if _ready(n)]
    if len(ready) < pool.min_size:
        return [
            problem(
                pool.name,
                "node pool",
                f"{len(ready)} ready node(s) carry {POOL_LABEL}={pool.name}, the plan promised at least {pool.min_size}",
                "check the node group's health and events (`kubectl get nodes -l sahab.ae/pool=...`)",
            )
        ]
    return []


def pool_labels_taints(pool: PoolPromise, nodes: list[dict[str, Any]]) -> list[str]:
    found = []
    for node in _pool_nodes(pool, nodes):
        name = _meta(node).get("name", "?")
        labels = _meta(node).get("labels") or {}
        wrong = {k: labels.get(k) for k, v in pool.labels.items() if labels.get(k) != v}
        if wrong:
            found.append(
                problem(
                    f"node {name}",
                    f"pool {pool.name}",
                    f"labels {wrong} differ from the plan's {dict((k, pool.labels[k]) for k in wrong)}",
                    "restore the node group's labels (workloads select nodes by them)",
                )
            )
        taints = {(t.get("key"), t.get("value") or "", t.get("effect")) for t in (node.get("spec") or {}).get("taints") or []}
        missing = [t for t in pool.taints if tuple(t) not in taints]
        if missing:
            found.append(
                problem(
                    f"node {name}",
                    f"pool {pool.name}",
                    f"taint(s) {['{}={}:{}'.format(*t) for t in missing]} are missing: other pods can land on it",
                    "restore the node group's taints",
                )
            )
    return found


def gpu_device_plugin(pool: PoolPromise, nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> list[str]:
    """Every GPU node of the pool advertises GPUs and runs a ready device plugin pod."""
    found = []
    for node in _pool_nodes(pool, nodes):
        name = _meta(node).get("name", "?")
        gpus = str(((node.get("status") or {}).get("allocatable") or {}).get(GPU_RESOURCE, "0"))
        if not gpus.isdigit() or int(gpus) < 1:
            found.append(
                problem(
                    f"node {name}",
                    f"GPU pool {pool.name}",
                    f"it advertises no {GPU_RESOURCE} (allocatable {gpus}): the device plugin is not serving it",
                    "check the nvidia-device-plugin DaemonSet's pod on this node",
                )
            )
        plugin = [p for p in pods if (p.get("spec") or {}).get("nodeName") == name and "device-plugin" in _meta(p).get("name", "") and _pod_ready(p)]
        if not plugin:
            found.append(
                problem(
                    f"node {name}",
                    f"GPU pool {pool.name}",
                    "no ready device plugin pod runs on it",
                    "check the nvidia-device-plugin DaemonSet (tolerations, node selector sahab.ae/accelerator=nvidia)",
                )
            )
    return found


def _pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


# --- workloads -------------------------------------------------------------------------------------


def deployment_exists(ref: str, deployments: list[dict[str, Any]]) -> list[str]:
    """The planned Deployment is there (its availability is `workloads_ready`'s)."""
    if not any(_ref(d) == ref for d in deployments):
        return [problem(ref, "Deployment", "the plan has it but the cluster does not", "deploy it with `sahab up`")]
    return []


def _deployment_problems(d: dict[str, Any]) -> list[str]:
    want = (d.get("spec") or {}).get("replicas", 1)
    status = d.get("status") or {}
    available = status.get("availableReplicas") or 0
    cond: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Available"), {})
    if available < want or cond.get("status") != "True":
        why = f" ({cond.get('reason')}: {cond.get('message')})" if cond.get("reason") else ""
        return [
            problem(
                _ref(d),
                "Deployment",
                f"{available}/{want} replicas available{why}",
                f"`kubectl -n {_meta(d).get('namespace')} describe deployment {_meta(d).get('name')}` and fix what keeps its pods unready",
            )
        ]
    return []


def _daemonset_problems(ds: dict[str, Any]) -> list[str]:
    s = ds.get("status") or {}
    desired, ready, scheduled = s.get("desiredNumberScheduled", 0), s.get("numberReady", 0), s.get("currentNumberScheduled", 0)
    if scheduled < desired or ready < desired or s.get("numberMisscheduled", 0):
        return [
            problem(
                _ref(ds),
                "DaemonSet",
                f"{scheduled}/{desired} scheduled, {ready} ready, {s.get('numberMisscheduled', 0)} misscheduled",
                "check its tolerations, node selector and pod events",
            )
        ]
    return []


def workloads_ready(namespace: str, deployments: list[dict[str, Any]], daemonsets: list[dict[str, Any]]) -> list[str]:
    """Every Deployment (charts' too) available and every DaemonSet scheduled in the namespace."""
    return [p for d in _in(deployments, namespace) for p in _deployment_problems(d)] + [p for ds in _in(daemonsets, namespace) for p in _daemonset_problems(ds)]


# --- isolation -------------------------------------------------------------------------------------


def _denies_all(policy: dict[str, Any]) -> bool:
    spec = policy.get("spec") or {}
    selector = spec.get("podSelector") or {}
    return (
        not selector.get("matchLabels")
        and not selector.get("matchExpressions")
        and {"Ingress", "Egress"} <= set(spec.get("policyTypes") or [])
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def default_deny(namespace: str, namespaces: dict[str, dict[str, Any]], policies: list[dict[str, Any]]) -> list[str]:
    if not namespaces.get(namespace):
        return [problem(namespace, "Namespace", "the plan has it but the cluster does not", "deploy it with `sahab up`")]
    if not any(_denies_all(p) for p in _in(policies, namespace)):
        return [
            problem(
                namespace,
                "Namespace",
                "no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules): every pod accepts and sends any traffic",
                "restore the namespace's default-deny policy",
            )
        ]
    return []


def _exemption(namespace: dict[str, Any]) -> str | None:
    return (_meta(namespace).get("annotations") or {}).get(EXEMPTION)


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def containers_non_root(namespace: str, namespaces: dict[str, dict[str, Any]], pods: list[dict[str, Any]]) -> list[str]:
    """Each container runs as non-root: runAsNonRoot or a non-zero runAsUser (its own, else the pod's)."""
    if _exemption(namespaces.get(namespace) or {}):
        return []  # a recorded reason (e.g. the device plugin's hostPath sockets); the gate reviewed it
    found = []
    for pod in _in(pods, namespace):
        pod_sc = (pod.get("spec") or {}).get("securityContext") or {}
        for c in _containers(pod):
            sc = {**pod_sc, **(c.get("securityContext") or {})}
            user = sc.get("runAsUser")
            if user == 0 or (not sc.get("runAsNonRoot") and not user):
                found.append(
                    problem(
                        f"{_ref(pod)}/{c.get('name')}",
                        "container",
                        f"it may run as root (runAsNonRoot={sc.get('runAsNonRoot')}, runAsUser={user})",
                        "set runAsNonRoot: true and a non-zero runAsUser",
                    )
                )
    return found


def containers_read_only_root(namespace: str, namespaces: dict[str, dict[str, Any]], pods: list[dict[str, Any]]) -> list[str]:
    if _exemption(namespaces.get(namespace) or {}):
        return []
    return [
        problem(
            f"{_ref(pod)}/{c.get('name')}",
            "container",
            "its root filesystem is writable",
            "set readOnlyRootFilesystem: true (mount an emptyDir where it must write)",
        )
        for pod in _in(pods, namespace)
        for c in _containers(pod)
        if not (c.get("securityContext") or {}).get("readOnlyRootFilesystem")
    ]


# --- monitoring ------------------------------------------------------------------------------------


def prometheus_targets_up(targets: dict[str, Any]) -> list[str]:
    """Every active target of Prometheus' /api/v1/targets answer is up (and there is at least one)."""
    active = ((targets or {}).get("data") or {}).get("activeTargets") or []
    if not active:
        return [problem("prometheus", "Prometheus", "it scrapes no target", "check the ServiceMonitors and the Prometheus selectors")]
    return [
        problem(
            t.get("scrapeUrl", "?"),
            f"scrape target {t.get('labels', {}).get('job', '?')}",
            f"it is {t.get('health')}: {t.get('lastError') or 'no error recorded'}",
            "make the target answer /metrics (or fix the ServiceMonitor)",
        )
        for t in active
        if t.get("health") != "up"
    ]
