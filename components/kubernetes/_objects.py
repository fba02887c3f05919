"""Small object builders shared by the workload components (service accounts, script ConfigMaps,
per-app network policies). Each takes the calling component's options so it stays the parent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

SCRIPTS = Path(__file__).parent / "scripts"


def service_account(
    name: str,
    namespace: str,
    account: str,
    opts: pulumi.ResourceOptions,
    *,
    automount: bool = False,
    reason: str = "",
    annotations: dict[str, pulumi.Input[str]] | None = None,
) -> k8s.core.v1.ServiceAccount:
    """A service account; the API token is mounted only when the pod calls the API (`reason`).
    `annotations` bind it to a cloud identity where the cloud needs that (Azure workload identity)."""
    if automount and not reason:
        raise ValueError(f"service_account[{account}]: automount needs a written reason")
    return k8s.core.v1.ServiceAccount(
        name,
        metadata={"name": account, "namespace": namespace, "annotations": {**({"sahab.ae/token-reason": reason} if reason else {}), **(annotations or {})}},
        automount_service_account_token=automount,
        opts=opts,
    )


def scripts_config_map(name: str, namespace: str, config_map: str, files: tuple[str, ...], opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
    """The helper scripts of components/kubernetes/scripts/ a pod runs with its image's Python."""
    return k8s.core.v1.ConfigMap(
        name,
        metadata={"name": config_map, "namespace": namespace},
        data={f: (SCRIPTS / f).read_text() for f in files},
        opts=opts,
    )


def network_policy(
    name: str,
    namespace: str,
    policy: str,
    pod_labels: dict[str, str],
    opts: pulumi.ResourceOptions,
    *,
    ingress: list[dict[str, Any]] | None = None,
    egress: list[dict[str, Any]] | None = None,
) -> k8s.networking.v1.NetworkPolicy:
    """An allow rule for one app, on top of its namespace's default-deny."""
    types = (["Ingress"] if ingress is not None else []) + (["Egress"] if egress is not None else [])
    spec: dict[str, Any] = {"podSelector": {"matchLabels": pod_labels}, "policyTypes": types}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return k8s.networking.v1.NetworkPolicy(name, metadata={"name": policy, "namespace": namespace}, spec=spec, opts=opts)


def from_namespaces(*namespaces: str) -> list[dict[str, Any]]:
    return [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}} for ns in namespaces]
