"""GPUs: the NVIDIA device plugin (advertises `nvidia.com/gpu`) and the DCGM exporter (GPU
metrics for the idle alert and the utilisation dashboard), both only on GPU nodes, tolerating the
GPU taint, in their own `privileged` namespace.

Why the device plugin and not the GPU operator: EKS's AL2023 NVIDIA AMI already ships the driver
and the container toolkit, so the operator would only add privileged driver/toolkit daemons and
more images to mirror; the plugin is the one piece the AMI lacks.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.kubernetes import images, pins
from components.kubernetes._helm import release
from components.kubernetes._pod import GPU_NODE_LABEL, GPU_TOLERATION, resources
from components.kubernetes.cloud import ClusterCloud

DEVICE_PLUGIN_CHART = pins.chart("nvidia-device-plugin")  # where each pin was checked: components/kubernetes/pins.py
DCGM_CHART = pins.chart("dcgm-exporter")


@dataclass(frozen=True, kw_only=True)
class GpuSupportArgs:
    namespace: str
    """Namespace (privileged PSA, see Tenancy) both daemons run in."""
    registry_host: pulumi.Input[str]
    """In-region registry host; images come from its `sahab/mirror/...` repositories."""
    monitoring_enabled: bool = True
    """Create the DCGM exporter's ServiceMonitor (needs the Prometheus operator's CRDs)."""
    cloud: ClusterCloud
    """Extra tolerations GPU nodes need (AKS spot pools); from the stack's adapter."""


class GpuSupport(pulumi.ComponentResource):
    def __init__(self, name: str, args: GpuSupportArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:GpuSupport", name, None, opts)
        if not args.namespace:
            raise ValueError("namespace: required (a privileged namespace for the GPU daemons)")
        child = pulumi.ResourceOptions(parent=self)
        placement = {
            "nodeSelector": dict(GPU_NODE_LABEL),
            "tolerations": [GPU_TOLERATION, *args.cloud.gpu_node_tolerations, {"key": "CriticalAddonsOnly", "operator": "Exists"}],
            "priorityClassName": "system-node-critical",
        }
        self.device_plugin = release(
            f"{name}-device-plugin",
            release_name="nvidia-device-plugin",
            chart=DEVICE_PLUGIN_CHART.name,
            version=DEVICE_PLUGIN_CHART.version,
            repo=DEVICE_PLUGIN_CHART.repo,
            namespace=args.namespace,
            values={
                "image": images.helm_image(args.registry_host, "device-plugin", pullPolicy="IfNotPresent"),
                **placement,
                "affinity": {},  # the chart's default wants NFD labels; our nodeSelector is authoritative
                "gfd": {"enabled": False},
                "nfd": {"enabled": False},
                "migStrategy": "none",
                "failOnInitError": True,
                # The plugin writes its socket under the kubelet's hostPath: root, but nothing else.
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True},
                "resources": resources("50m", "64Mi", cpu_limit="200m", memory_limit="128Mi"),
            },
            opts=child,
        )
        self.dcgm_exporter = release(
            f"{name}-dcgm-exporter",
            release_name="dcgm-exporter",
            chart=DCGM_CHART.name,
            version=DCGM_CHART.version,
            repo=DCGM_CHART.repo,
            namespace=args.namespace,
            values={
                "image": images.helm_image(args.registry_host, "dcgm-exporter", pullPolicy="IfNotPresent"),
                **placement,
                "serviceMonitor": {"enabled": args.monitoring_enabled, "interval": "15s", "honorLabels": False},
                # No SYS_ADMIN: the utilisation/memory metrics we alert on are not profiling metrics.
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True},
                "resources": resources("100m", "256Mi", cpu_limit="500m", memory_limit="512Mi"),
            },
            opts=child,
        )
        self.register_outputs({})
