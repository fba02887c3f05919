"""The main workloads of the Helm charts the platform installs, as the deployability checks need them:
the labels their pods carry (connectivity), their metrics port, and where their values put the
pod's resources, node selector, tolerations and affinity (scheduling).

Offline the gate never renders a chart, so this table stands in for the chart's templates; a
release of a chart missing here gets an advisory finding, never a silent pass. Its keys are the
charts pinned in components/kubernetes/pins.py (tests/kubernetes/test_pins.py proves they agree);
what it records was read at those pinned versions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# checked (2026-12): karpenter charts/karpenter/templates/_helpers.tpl (selectorLabels: name +
# instance), values.yaml (controller.metrics.port 8080, affinity karpenter.sh/nodepool DoesNotExist);
# prometheus-community/helm-charts charts/prometheus-pushgateway (name prometheus-pushgateway,
# port 9091), charts/kube-prometheus-stack values.yaml (prometheus.prometheusSpec.*, grafana.*,
# kube-state-metrics port 8080); the Prometheus Operator labels each Prometheus pod
# app.kubernetes.io/name=prometheus; NVIDIA dcgm-exporter chart (name dcgm-exporter, metrics 9400);
# kubernetes/autoscaler charts/cluster-autoscaler (name aws-cluster-autoscaler, port 8085).


@dataclass(frozen=True)
class ChartWorkload:
    """One workload a chart runs. Paths are dotted keys into the release's values."""

    name: str
    kind: str  # Deployment | StatefulSet | DaemonSet
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # name -> container port
    metrics_port: str = ""  # which of `ports` Prometheus scrapes ("" = not scraped)
    resources: str = "resources"
    node_selector: str = "nodeSelector"
    tolerations: str = "tolerations"
    affinity: str = "affinity"
    replicas: str = ""
    default_replicas: int = 1
    default_affinity: dict[str, Any] = field(default_factory=dict)
    default_tolerations: tuple[dict[str, Any], ...] = ()
    scraped_when: str = ""  # values key that must be true for the metrics port to be scraped


_NOT_ON_KARPENTER_NODES = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "karpenter.sh/nodepool", "operator": "DoesNotExist"}]}]
        }
    }
}

CHARTS: dict[str, list[ChartWorkload]] = {
    "karpenter": [
        ChartWorkload(
            "karpenter",
            "Deployment",
            {"app.kubernetes.io/name": "karpenter"},
            {"http-metrics": 8080},
            "http-metrics",
            resources="controller.resources",
            replicas="replicas",
            default_replicas=2,
            default_affinity=_NOT_ON_KARPENTER_NODES,
            scraped_when="serviceMonitor.enabled",
        )
    ],
    "cluster-autoscaler": [
        ChartWorkload(
            "cluster-autoscaler",
            "Deployment",
            {"app.kubernetes.io/name": "aws-cluster-autoscaler"},
            {"http": 8085},
            "http",
            replicas="replicaCount",
            scraped_when="serviceMonitor.enabled",
        )
    ],
    "kube-prometheus-stack": [
        ChartWorkload(
            "prometheus",
            "StatefulSet",
            {"app.kubernetes.io/name": "prometheus"},
            {"http-web": 9090},
            "http-web",
            resources="prometheus.prometheusSpec.resources",
            node_selector="prometheus.prometheusSpec.nodeSelector",
            tolerations="prometheus.prometheusSpec.tolerations",
            affinity="prometheus.prometheusSpec.affinity",
            replicas="prometheus.prometheusSpec.replicas",
        ),
        ChartWorkload(
            "alertmanager",
            "StatefulSet",
            {"app.kubernetes.io/name": "alertmanager"},
            {"http-web": 9093},
            "http-web",
            resources="alertmanager.alertmanagerSpec.resources",
            node_selector="alertmanager.alertmanagerSpec.nodeSelector",
            tolerations="alertmanager.alertmanagerSpec.tolerations",
            affinity="alertmanager.alertmanagerSpec.affinity",
            replicas="alertmanager.alertmanagerSpec.replicas",
        ),
        ChartWorkload(
            "grafana",
            "Deployment",
            {"app.kubernetes.io/name": "grafana"},
            {"grafana": 3000},
            "",
            resources="grafana.resources",
            node_selector="grafana.nodeSelector",
            tolerations="grafana.tolerations",
            affinity="grafana.affinity",
        ),
        ChartWorkload(
            "kube-state-metrics",
            "Deployment",
            {"app.kubernetes.io/name": "kube-state-metrics"},
            {"http": 8080},
            "http",
            resources="kube-state-metrics.resources",
            node_selector="kube-state-metrics.nodeSelector",
            tolerations="kube-state-metrics.tolerations",
            affinity="kube-state-metrics.affinity",
        ),
        # hostNetwork: Prometheus scrapes it on the node's address, which NetworkPolicies do not govern.
        ChartWorkload(
            "node-exporter",
            "DaemonSet",
            {"app.kubernetes.io/name": "prometheus-node-exporter"},
            {},
            resources="prometheus-node-exporter.resources",
            node_selector="prometheus-node-exporter.nodeSelector",
            tolerations="prometheus-node-exporter.tolerations",
            affinity="prometheus-node-exporter.affinity",
            default_tolerations=({"effect": "NoSchedule", "operator": "Exists"},),
        ),
        ChartWorkload(
            "prometheus-operator",
            "Deployment",
            {"app": "kube-prometheus-stack-operator"},
            {"https": 10250},
            "https",
            resources="prometheusOperator.resources",
            node_selector="prometheusOperator.nodeSelector",
            tolerations="prometheusOperator.tolerations",
            affinity="prometheusOperator.affinity",
        ),
    ],
    "prometheus-pushgateway": [
        ChartWorkload("pushgateway", "Deployment", {"app.kubernetes.io/name": "prometheus-pushgateway"}, {"http": 9091}, "", replicas="replicaCount")
    ],
    "dcgm-exporter": [
        ChartWorkload(
            "dcgm-exporter", "DaemonSet", {"app.kubernetes.io/name": "dcgm-exporter"}, {"metrics": 9400}, "metrics", scraped_when="serviceMonitor.enabled"
        )
    ],
    "nvidia-device-plugin": [ChartWorkload("nvidia-device-plugin", "DaemonSet", {"app.kubernetes.io/name": "nvidia-device-plugin"})],
    # checked: argoproj/argo-helm argo-workflows-1.0.18 templates/_helpers.tpl (selectorLabels: name
    # `argo-workflows-<component>`, instance), controller deployment (metrics port from
    # controller.metricsConfig, 9090 `metrics`), server deployment (port 2746 `web`), values.yaml paths.
    "argo-workflows": [
        ChartWorkload(
            "workflow-controller",
            "Deployment",
            {"app.kubernetes.io/name": "argo-workflows-workflow-controller"},
            {"metrics": 9090},
            "metrics",
            resources="controller.resources",
            node_selector="controller.nodeSelector",
            tolerations="controller.tolerations",
            affinity="controller.affinity",
            replicas="controller.replicas",
            scraped_when="controller.serviceMonitor.enabled",
        ),
        ChartWorkload(
            "argo-server",
            "Deployment",
            {"app.kubernetes.io/name": "argo-workflows-server"},
            {"web": 2746},
            resources="server.resources",
            node_selector="server.nodeSelector",
            tolerations="server.tolerations",
            affinity="server.affinity",
            replicas="server.replicas",
        ),
    ],
    # checked: jupyterhub/zero-to-jupyterhub-k8s 4.4.0 templates/_helpers.tpl (legacy labels app:
    # jupyterhub, component: hub | proxy), hub deployment (port 8081 `http`), proxy deployment (8000
    # `http`, 8001 `api`), values.yaml paths. The users' servers are KubeSpawner's pods (profiles).
    "jupyterhub": [
        ChartWorkload(
            "hub",
            "Deployment",
            {"app": "jupyterhub", "component": "hub"},
            {"http": 8081},
            resources="hub.resources",
            node_selector="hub.nodeSelector",
            tolerations="hub.tolerations",
        ),
        ChartWorkload(
            "proxy",
            "Deployment",
            {"app": "jupyterhub", "component": "proxy"},
            {"http": 8000, "api": 8001},
            resources="proxy.chp.resources",
            node_selector="proxy.chp.nodeSelector",
            tolerations="proxy.chp.tolerations",
        ),
    ],
}


def chart_name(chart: str) -> str:
    """`oci://public.ecr.aws/karpenter/karpenter` -> `karpenter`; `repo/name` -> `name`."""
    return str(chart or "").rstrip("/").rsplit("/", 1)[-1]


def value(values: dict[str, Any], path: str, default: Any = None) -> Any:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def workloads(release: dict[str, Any]) -> list[ChartWorkload]:
    return CHARTS.get(chart_name(release.get("chart", "")), [])
