"""Pod and container building blocks shared by the platform layer: one secure default each.

Every container is restricted-PSA clean: non-root, read-only root file system, no privilege
escalation, no capabilities, RuntimeDefault seccomp, and both requests and limits.
"""

from __future__ import annotations

from typing import Any

from components.constants import GPU_RESOURCE, GPU_TOLERATION  # noqa: F401 (re-exported to the layer)

NONROOT_UID = 65532  # distroless `nonroot`; the workload images use the same uid (IMAGES.md)
# Karpenter and the managed node groups label GPU nodes the same way (components/aws/node_pools.py).
GPU_NODE_LABEL = {"sahab.ae/accelerator": "nvidia"}


def container_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security(uid: int = NONROOT_UID) -> dict[str, Any]:
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid, "seccompProfile": {"type": "RuntimeDefault"}}


def resources(cpu: str, memory: str, *, cpu_limit: str | None = None, memory_limit: str | None = None, gpus: int = 0) -> dict[str, Any]:
    """Requests and limits; memory limit = request by default (no overcommit of memory)."""
    requests: dict[str, Any] = {"cpu": cpu, "memory": memory}
    limits: dict[str, Any] = {"cpu": cpu_limit or cpu, "memory": memory_limit or memory}
    if gpus:
        # Extended resources: request must equal limit.
        requests[GPU_RESOURCE] = str(gpus)
        limits[GPU_RESOURCE] = str(gpus)
    return {"requests": requests, "limits": limits}


def labels(app: str, component: str, **extra: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/component": component, "app.kubernetes.io/part-of": "sahab", **extra}


def env(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Environment variables from a mapping (values may be Outputs, or `{"valueFrom": ...}` for a
    Secret/ConfigMap key); sorted for stable manifests."""
    return [{"name": k, **(v if isinstance(v, dict) and set(v) == {"valueFrom"} else {"value": v})} for k, v in sorted(values.items())]


def tmp_volume(name: str = "tmp", size: str = "1Gi") -> dict[str, Any]:
    """A writable scratch volume: the root file system is read-only."""
    return {"name": name, "emptyDir": {"sizeLimit": size}}


SCRIPTS_DIR = "/opt/sahab"


def script_volume(config_map: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(volume, mount) for the scripts ConfigMap, read-only at /opt/sahab."""
    return {"name": "sahab-scripts", "configMap": {"name": config_map, "defaultMode": 0o444}}, {
        "name": "sahab-scripts",
        "mountPath": SCRIPTS_DIR,
        "readOnly": True,
    }
