"""Every pod the plan would run: the pod templates of its Deployments, StatefulSets, DaemonSets, Jobs
and CronJobs, one per step of its Argo WorkflowTemplates (the pods the controller creates from them),
and the main workloads of its Helm releases (from their values, see charts.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sahab.gate.deployability import charts

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")


@dataclass(frozen=True)
class PodTemplate:
    namespace: str
    name: str
    kind: str
    labels: dict[str, str]
    spec: dict[str, Any]
    replicas: int
    file: str = ""  # the manifest (or helm/ release file) it comes from
    release: str = ""  # the Helm release, for chart workloads
    scraped_port: int = 0  # chart workloads: the port Prometheus scrapes (0: none)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`ns/name (Kind)`, `ns/name (Kind, Helm release r)`: the resource and its type, for messages."""
        return f"{self.namespace}/{self.name} ({self.kind}" + (f", Helm release {self.release})" if self.release else ")")

    @property
    def service_account(self) -> str:
        return str(self.spec.get("serviceAccountName") or "default")


def template_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return {"metadata": doc.get("metadata") or {}, "spec": spec}
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    if kind in WORKLOAD_KINDS:
        return spec.get("template")
    return None


ARGO_KINDS = ("WorkflowTemplate", "Workflow", "ClusterWorkflowTemplate")
ARGO_WAIT = "wait"
"""The executor container Argo adds beside every step's main one (the emissary executor's `wait`)."""


def _argo_pods(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(`<object>/<template>`, pod template) of each container template of an Argo Workflow(Template): the
    pod Argo would create for that step (the workflow's pod-level settings, the template's node
    placement and labels, its main container and the executor's `wait` container with the requests and
    limits the controller gives it, components/kubernetes/workflows.py EXECUTOR_RESOURCES)."""
    from components.kubernetes.workflows import EXECUTOR_RESOURCES

    spec = doc.get("spec") or {}
    name = str((doc.get("metadata") or {}).get("name"))
    pod_labels = dict((spec.get("podMetadata") or {}).get("labels") or {})
    out = []
    for t in spec.get("templates") or []:
        container = t.get("container")
        if not isinstance(container, dict):
            continue
        labels = {**pod_labels, **((t.get("metadata") or {}).get("labels") or {})}
        main = {"name": "main", **container}
        wait = {"name": ARGO_WAIT, "resources": EXECUTOR_RESOURCES}
        pod = {
            "serviceAccountName": t.get("serviceAccountName") or spec.get("serviceAccountName") or "default",
            "automountServiceAccountToken": t.get("automountServiceAccountToken", spec.get("automountServiceAccountToken")),
            "securityContext": t.get("securityContext") or spec.get("securityContext") or {},
            "nodeSelector": t.get("nodeSelector") or spec.get("nodeSelector") or {},
            "tolerations": t.get("tolerations") or spec.get("tolerations") or [],
            "affinity": t.get("affinity") or spec.get("affinity") or {},
            "volumes": [*(spec.get("volumes") or []), *(t.get("volumes") or [])],
            "containers": [main, wait],
        }
        out.append(
            (f"{name}/{t.get('name')}", {"metadata": {"labels": labels, "annotations": (t.get("metadata") or {}).get("annotations") or {}}, "spec": pod})
        )
    return out


def templates_of(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, pod template) of every pod an object runs: its own for a workload, one per step of an Argo workflow."""
    if doc.get("kind") in ARGO_KINDS and str(doc.get("apiVersion") or "").startswith("argoproj.io/"):
        return _argo_pods(doc)
    template = template_of(doc)
    return [(str((doc.get("metadata") or {}).get("name")), template)] if isinstance(template, dict) else []


def _ports(spec: dict[str, Any]) -> dict[str, int]:
    out = {}
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            if isinstance(p.get("containerPort"), int):
                out[str(p.get("name") or p["containerPort"])] = p["containerPort"]
    return out


def manifest_pods(manifests: list[tuple[str, dict[str, Any]]]) -> list[PodTemplate]:
    out = []
    for rel, doc in manifests:
        meta = doc.get("metadata") or {}
        for name, template in templates_of(doc):
            spec = template.get("spec") or {}
            replicas = (doc.get("spec") or {}).get("replicas")
            out.append(
                PodTemplate(
                    namespace=str(meta.get("namespace") or "default"),
                    name=name,
                    kind=str(doc["kind"]),
                    labels=dict((template.get("metadata") or {}).get("labels") or {}),
                    spec=spec,
                    replicas=replicas if isinstance(replicas, int) else 1,
                    file=rel,
                    ports=_ports(spec),
                )
            )
    return out


def chart_pods(releases: list[tuple[str, dict[str, Any]]]) -> tuple[list[PodTemplate], list[tuple[str, dict[str, Any]]]]:
    """Pods of the releases whose charts charts.CHARTS knows, and the releases it does not know."""
    out, unknown = [], []
    for rel, release in releases:
        known = charts.workloads(release)
        if not known:
            unknown.append((rel, release))
        values = release.get("values") or {}
        for w in known:
            resources = charts.value(values, w.resources) or {}
            container = {"name": w.name, "resources": resources, "ports": [{"name": n, "containerPort": p} for n, p in w.ports.items()]}
            spec = {
                "containers": [container],
                "nodeSelector": charts.value(values, w.node_selector) or {},
                "tolerations": charts.value(values, w.tolerations) or list(w.default_tolerations),
                "affinity": charts.value(values, w.affinity) or w.default_affinity,
            }
            scraped = bool(w.metrics_port) and (not w.scraped_when or bool(charts.value(values, w.scraped_when)))
            replicas = charts.value(values, w.replicas) if w.replicas else None
            out.append(
                PodTemplate(
                    namespace=str(release.get("namespace") or "default"),
                    name=w.name,
                    kind=w.kind,
                    labels={**w.labels, "app.kubernetes.io/instance": str(release.get("release") or "")},
                    spec=spec,
                    replicas=replicas if isinstance(replicas, int) else w.default_replicas,
                    file=rel,
                    release=str(release.get("release") or ""),
                    scraped_port=w.ports.get(w.metrics_port, 0) if scraped else 0,
                    ports=dict(w.ports),
                )
            )
    return out, unknown


def all_pods(ctx: Any) -> list[PodTemplate]:
    if "pods" not in ctx.cache:
        ctx.cache["pods"] = manifest_pods(ctx.manifests) + chart_pods(ctx.releases)[0]
    return ctx.cache["pods"]


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against labels; an empty selector matches all."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
