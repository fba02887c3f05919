"""Monitoring: kube-prometheus-stack (Prometheus, Alertmanager, Grafana) on encrypted volumes, a
Pushgateway for the short-lived drift job, ServiceMonitors for serving and drift, the alerting
rules (serving latency and error SLOs, drift, GPU idle, spot interruptions) and the Grafana
dashboards kept as JSON in components/kubernetes/dashboards/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kubernetes import images, pins
from components.kubernetes._helm import release
from components.kubernetes._pod import container_security, pod_security, resources
from workloads.monitoring import alerts

STACK_CHART = pins.chart("kube-prometheus-stack")  # where each pin was checked: components/kubernetes/pins.py
PUSHGATEWAY_CHART = pins.chart("prometheus-pushgateway")
DASHBOARDS = Path(__file__).parent / "dashboards"
PUSHGATEWAY_SERVICE = "pushgateway"
PUSHGATEWAY_PORT = 9091


@dataclass(frozen=True)
class SloTargets:
    latency_p99_seconds: float = 0.25
    """Serving p99 latency objective (alert when above for 10 minutes)."""
    availability: float = 0.999
    """Share of non-5xx answers (multi-window burn-rate alert on the error budget)."""


@dataclass(frozen=True)
class MonitoringArgs:
    namespace: str
    """Namespace of the stack (restricted PSA)."""
    registry_host: pulumi.Input[str]
    """In-region registry host (mirrors)."""
    storage_class: pulumi.Input[str]
    """Encrypted storage class for every volume."""
    serving_namespace: str
    """Namespace of the serving Deployments (scraped on their `http` port, `/metrics`)."""
    retention_days: int = 15
    """Prometheus retention."""
    prometheus_storage_gib: int = 100
    """Volume per Prometheus replica."""
    alertmanager_storage_gib: int = 10
    """Volume per Alertmanager replica."""
    grafana_storage_gib: int = 10
    """Grafana's volume."""
    slo: SloTargets = SloTargets()
    """Serving objectives the rules alert on."""
    gpu_idle_minutes: int = 60
    """A GPU below 5% utilisation this long raises the idle alert."""
    drift_max_age_hours: int = 3
    """The drift job not reporting for this long raises an alert."""
    gpu_alerts: bool = True
    """The GPU idle alert: only where dcgm-exporter runs (the plan has GPU pools), else it could never fire."""
    spot_alerts: bool = True
    """The spot interruption alert: only where Karpenter handles interruptions (it exports the metric)."""


class Monitoring(pulumi.ComponentResource):
    pushgateway_url: pulumi.Output[str]
    stack: k8s.helm.v3.Release

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:Monitoring", name, None, opts)
        _validate(args)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace

        # The chart's default Grafana password is public knowledge: generate one, keep it secret.
        password = random.RandomPassword(f"{name}-grafana-password", length=32, special=False, opts=child)
        admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": "grafana-admin", "namespace": ns},
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": password.result},
            opts=child,
        )
        self.stack = release(
            f"{name}-stack",
            release_name="kube-prometheus-stack",
            chart=STACK_CHART.name,
            version=STACK_CHART.version,
            repo=STACK_CHART.repo,
            namespace=ns,
            values=_stack_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[admin]),
        )
        release(
            f"{name}-pushgateway",
            release_name=PUSHGATEWAY_SERVICE,
            chart=PUSHGATEWAY_CHART.name,
            version=PUSHGATEWAY_CHART.version,
            repo=PUSHGATEWAY_CHART.repo,
            namespace=ns,
            values={
                "fullnameOverride": PUSHGATEWAY_SERVICE,
                "image": images.helm_image(args.registry_host, "pushgateway"),
                "securityContext": pod_security(),
                "containerSecurityContext": container_security(),
                "resources": resources("50m", "64Mi", cpu_limit="200m", memory_limit="128Mi"),
                # The drift ServiceMonitor below scrapes it (honorLabels keeps the job's own labels).
                "serviceMonitor": {"enabled": False},
                "persistentVolume": {"enabled": False},
                "automountServiceAccountToken": False,
            },
            opts=child,
        )
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[self.stack])
        self._service_monitors(name, args, after_crds)
        k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": "sahab-platform", "namespace": ns, "labels": {"app.kubernetes.io/part-of": "sahab"}},
            spec={"groups": alert_groups(args)},
            opts=after_crds,
        )
        for path in sorted(DASHBOARDS.glob("*.json")):
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{path.stem}",
                metadata={"name": f"dashboard-{path.stem}", "namespace": ns, "labels": {"grafana_dashboard": "1"}},
                data={path.name: path.read_text()},
                opts=child,
            )
        self.pushgateway_url = pulumi.Output.from_input(f"http://{PUSHGATEWAY_SERVICE}.{ns}.svc:{PUSHGATEWAY_PORT}")
        self.register_outputs({"pushgateway_url": self.pushgateway_url})

    def _service_monitors(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions) -> None:
        monitors = {
            "serving": {
                "namespaceSelector": {"matchNames": [args.serving_namespace]},
                "selector": {"matchLabels": {"app.kubernetes.io/name": "serving"}},
                "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
            },
            "drift": {
                "namespaceSelector": {"matchNames": [args.namespace]},
                "selector": {"matchLabels": {"app.kubernetes.io/name": "prometheus-pushgateway"}},
                # Metrics pushed by the drift job keep their own `job`/`instance` labels.
                "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s", "honorLabels": True}],
            },
        }
        for what, spec in monitors.items():
            k8s.apiextensions.CustomResource(
                f"{name}-{what}-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata={"name": f"sahab-{what}", "namespace": args.namespace, "labels": {"app.kubernetes.io/part-of": "sahab"}},
                spec=spec,
                opts=opts,
            )


def _image(registry_host: pulumi.Input[str], key: str) -> dict[str, Any]:
    return images.mirror(registry_host, key)


def _volume(storage_class: pulumi.Input[str], gib: int) -> dict[str, Any]:
    return {
        "volumeClaimTemplate": {
            "spec": {"storageClassName": storage_class, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{gib}Gi"}}}
        }
    }


def _stack_values(args: MonitoringArgs) -> dict[str, Any]:
    host, sc = args.registry_host, args.storage_class
    secure = {"securityContext": pod_security(), "containerSecurityContext": container_security()}
    return {
        "crds": {"enabled": True},
        "defaultRules": {"create": True, "rules": {"etcd": False, "kubeControllerManager": False, "kubeScheduler": False, "kubeProxy": False}},
        # EKS hides the control plane; node-exporter needs host namespaces (not allowed under restricted PSA).
        "kubeEtcd": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "nodeExporter": {"enabled": False},
        "prometheusOperator": {
            "image": _image(host, "prometheus-operator"),
            "prometheusConfigReloader": {
                "image": _image(host, "config-reloader"),
                "resources": resources("50m", "64Mi", cpu_limit="100m", memory_limit="128Mi"),
            },
            # The admission webhook needs a cert-generation Job with another image; rules are checked in CI instead.
            "admissionWebhooks": {"enabled": False},
            "tls": {"enabled": False},
            "resources": resources("100m", "256Mi", cpu_limit="500m", memory_limit="512Mi"),
            **secure,
        },
        "prometheus": {
            "prometheusSpec": {
                "image": _image(host, "prometheus"),
                "replicas": 2,
                "retention": f"{args.retention_days}d",
                "storageSpec": _volume(sc, args.prometheus_storage_gib),
                # Pick up every ServiceMonitor / PrometheusRule, not only the chart's own.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "resources": resources("500m", "4Gi", cpu_limit="2", memory_limit="4Gi"),
                "securityContext": pod_security(),
            }
        },
        "alertmanager": {
            "alertmanagerSpec": {
                "image": _image(host, "alertmanager"),
                "replicas": 2,
                "storage": _volume(sc, args.alertmanager_storage_gib),
                "resources": resources("50m", "128Mi", cpu_limit="200m", memory_limit="256Mi"),
                "securityContext": pod_security(),
            }
        },
        "grafana": {
            "image": _image(host, "grafana"),
            "admin": {"existingSecret": "grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"},
            "persistence": {"enabled": True, "type": "pvc", "storageClassName": sc, "size": f"{args.grafana_storage_gib}Gi"},
            # initChownData runs as root; the volume's fsGroup makes it unnecessary.
            "initChownData": {"enabled": False},
            "testFramework": {"enabled": False},
            "sidecar": {
                "image": _image(host, "grafana-sidecar"),
                "dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": args.namespace},
                "datasources": {"enabled": True},
                "resources": resources("50m", "64Mi", cpu_limit="100m", memory_limit="128Mi"),
                "securityContext": container_security(),
            },
            "securityContext": {**pod_security(472), "runAsGroup": 472, "fsGroup": 472},
            "containerSecurityContext": container_security(),
            "resources": resources("100m", "256Mi", cpu_limit="500m", memory_limit="512Mi"),
            "service": {"type": "ClusterIP"},
            "ingress": {"enabled": False},
            "grafana.ini": {"analytics": {"reporting_enabled": False, "check_for_updates": False, "check_for_plugin_updates": False}},
        },
        "kube-state-metrics": {
            "image": _image(host, "kube-state-metrics"),
            "resources": resources("50m", "128Mi", cpu_limit="200m", memory_limit="256Mi"),
            "securityContext": {**pod_security(), "enabled": True},
            "containerSecurityContext": container_security(),
        },
    }


def alert_groups(args: MonitoringArgs) -> list[dict[str, Any]]:
    """The platform's alerting rules (workloads/monitoring/alerts.py) for this stack's settings."""
    return alerts.alert_groups(
        alerts.AlertSettings(
            serving_namespace=args.serving_namespace,
            latency_p99_seconds=args.slo.latency_p99_seconds,
            availability=args.slo.availability,
            gpu_idle_minutes=args.gpu_idle_minutes,
            drift_max_age_hours=args.drift_max_age_hours,
            gpu_alerts=args.gpu_alerts,
            spot_alerts=args.spot_alerts,
        )
    )


def _validate(args: MonitoringArgs) -> None:
    if not 1 <= args.retention_days <= 365:
        raise ValueError(f"retention_days: {args.retention_days} is outside 1-365")
    for f in ("prometheus_storage_gib", "alertmanager_storage_gib", "grafana_storage_gib"):
        if getattr(args, f) < 1:
            raise ValueError(f"{f}: must be at least 1 GiB")
    if not 0.9 <= args.slo.availability < 1:
        raise ValueError(f"slo.availability: {args.slo.availability} must be in [0.9, 1)")
    if args.slo.latency_p99_seconds <= 0:
        raise ValueError("slo.latency_p99_seconds: must be positive")
