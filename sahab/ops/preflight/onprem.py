"""Preflight of an existing cluster (`cloud: kubernetes`): does it offer what `onprem.minimum` says
the platform needs, before a long install starts?

    facts = gather(kubeconfig, context)     the cluster's version, nodes and storage classes (live)
    results = judge(spec, facts)            pure: one Result per check (pass / warn / fail)

Checks: Kubernetes version (at least the spec's `onprem.kubernetes_version`, the version the gate
validated the manifests against), schedulable Ready nodes, allocatable CPU, memory and ephemeral
storage over those nodes, GPUs when the spec asks for them, and a StorageClass of the spec's
provisioner (proof the provisioner is installed). It needs the cluster: without the kubeconfig or
a route to the API server it stops and says so (there is nothing to check offline). `Result` and
`PreflightError` are sahab/ops/preflight/'s, whose PROVIDERS registry runs this for `cloud: kubernetes`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from sahab.ops.preflight.base import PreflightError, Result
from stacks.spec import KubernetesPlatformSpec, PlatformSpec

GPU = "nvidia.com/gpu"
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


@dataclass(frozen=True)
class Node:
    name: str
    ready: bool
    schedulable: bool
    cpu_millicores: int
    memory_mib: int
    ephemeral_gib: float
    gpus: int
    taints: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterFacts:
    server: str
    version: tuple[int, int]
    git_version: str
    nodes: tuple[Node, ...]
    provisioners: frozenset[str]


def quantity(value: Any) -> float:
    """A Kubernetes quantity ('3900m', '16Gi', '1k', '2') as a plain number (cores, bytes, count)."""
    text = str(value).strip()
    for suffix, factor in _BINARY.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    if text and text[-1] in _DECIMAL and not text[-1].isdigit():
        return float(text[:-1]) * _DECIMAL[text[-1]]
    return float(text)


def node_from_api(doc: dict[str, Any]) -> Node:
    """A Node from the API's JSON (`/api/v1/nodes` items)."""
    status, spec = doc.get("status") or {}, doc.get("spec") or {}
    alloc = status.get("allocatable") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    hard = tuple(
        f"{t.get('key')}={t.get('value', '')}:{t.get('effect')}"
        for t in spec.get("taints") or []
        if t.get("effect") in ("NoSchedule", "NoExecute") and t.get("key") != GPU
    )
    return Node(
        name=str((doc.get("metadata") or {}).get("name")),
        ready=ready,
        schedulable=not spec.get("unschedulable") and not hard,
        cpu_millicores=int(quantity(alloc.get("cpu", 0)) * 1000),
        memory_mib=int(quantity(alloc.get("memory", 0)) / 2**20),
        ephemeral_gib=quantity(alloc.get("ephemeral-storage", 0)) / 2**30,
        gpus=int(quantity(alloc.get(GPU, 0))),
        taints=hard,
    )


def judge(spec: PlatformSpec, facts: ClusterFacts) -> list[Result]:
    """Every check of `spec.onprem` against what the cluster offers."""
    if not isinstance(spec, KubernetesPlatformSpec):
        raise ValueError(f"{spec.name}: preflight of an existing cluster needs cloud: kubernetes with onprem:")
    want, env = spec.onprem.minimum, spec.name
    where = f"environments/{env}/Pulumi.{env}.yaml"
    out: list[Result] = []
    major, minor = (int(p) for p in spec.onprem.kubernetes_version.split("."))
    if facts.version < (major, minor):
        out.append(
            Result(
                "kubernetes-version",
                "fail",
                f"the cluster runs {facts.git_version}, older than onprem.kubernetes_version {spec.onprem.kubernetes_version} that the manifests were validated against. Fix: upgrade the cluster (k3s: install a v{major}.{minor} release), or lower kubernetes_version in {where} and re-run sahab check.",
            )
        )
    elif facts.version > (major, minor):
        out.append(
            Result(
                "kubernetes-version",
                "warn",
                f"the cluster runs {facts.git_version}, newer than onprem.kubernetes_version {spec.onprem.kubernetes_version}. Fix: set kubernetes_version to {facts.version[0]}.{facts.version[1]} in {where} so sahab check validates against the cluster's own schemas.",
            )
        )
    else:
        out.append(Result("kubernetes-version", "pass", f"the cluster runs {facts.git_version}"))
    usable = [n for n in facts.nodes if n.ready and n.schedulable]
    left_out = [
        f"{n.name} ({'not Ready' if not n.ready else 'tainted ' + ', '.join(n.taints) if n.taints else 'cordoned'})" for n in facts.nodes if n not in usable
    ]
    note = f"; not counted: {', '.join(left_out)}" if left_out else ""
    out.append(_at_least("nodes", len(usable), want.nodes, "schedulable Ready node(s)", note, f"join more nodes or lower onprem.minimum.nodes in {where}"))
    out.append(
        _at_least(
            "cpu",
            sum(n.cpu_millicores for n in usable) / 1000,
            want.cpu_cores,
            "allocatable CPU cores",
            note,
            "add cores (or nodes); the platform's pods request this much together",
        )
    )
    out.append(_at_least("memory", sum(n.memory_mib for n in usable) / 1024, want.memory_gib, "GiB allocatable memory", note, "add memory (or nodes)"))
    out.append(
        _at_least(
            "disk",
            sum(n.ephemeral_gib for n in usable),
            want.disk_gib,
            "GiB allocatable ephemeral storage",
            note,
            "grow the nodes' disks (k3s keeps images and local-path volumes under /var/lib/rancher)",
        )
    )
    if want.gpus:
        out.append(
            _at_least(
                "gpus",
                sum(n.gpus for n in usable),
                want.gpus,
                f"{GPU} advertised",
                note,
                "install the NVIDIA driver and container toolkit on the GPU node (the platform's device plugin then advertises it), or set onprem.minimum.gpus: 0",
            )
        )
    provisioner = spec.onprem.storage_provisioner
    if provisioner in facts.provisioners:
        out.append(Result("storage", "pass", f"provisioner {provisioner} is installed (StorageClass of it present)"))
    else:
        seen = ", ".join(sorted(facts.provisioners)) or "none"
        out.append(
            Result(
                "storage",
                "fail",
                f"no StorageClass uses provisioner {provisioner} (the cluster has: {seen}), so the platform's volumes would stay Pending. Fix: install it (k3s ships rancher.io/local-path) or set onprem.storage_provisioner in {where} to one of the cluster's.",
            )
        )
    return out


def _at_least(check: str, have: float, need: float, what: str, note: str, fix: str) -> Result:
    if have >= need:
        return Result(check, "pass", f"{have:g} {what} (minimum {need:g}){note}")
    return Result(check, "fail", f"{have:g} {what}, the platform needs at least {need:g}{note}. Fix: {fix}.")


def gather(kubeconfig: str, context: str | None = None, timeout: float = 10.0) -> ClusterFacts:
    """Ask the cluster of `kubeconfig` (its `context`) for its version, nodes and storage classes."""
    path = os.path.expanduser(kubeconfig)
    if not os.path.exists(path):
        raise PreflightError(
            f"onprem.kubeconfig: {kubeconfig} does not exist. Fix: copy the cluster's kubeconfig there (k3s: /etc/rancher/k3s/k3s.yaml, with `server:` set to the server's address); preflight checks a live cluster and cannot run offline."
        )
    try:
        from kubernetes import client, config
    except ImportError:
        raise PreflightError("the Kubernetes client is missing. Fix: pip install -c constraints.txt '.[verify]'") from None
    try:
        api = config.new_client_from_config(config_file=path, context=context)
    except Exception as e:  # noqa: BLE001 the client's own words name the bad field
        raise PreflightError(
            f"onprem.kubeconfig: {kubeconfig} is not a usable kubeconfig{f' (context {context})' if context else ''}: {e}. Fix: check the file and onprem.context."
        ) from None
    server = api.configuration.host
    try:
        version = client.VersionApi(api).get_code(_request_timeout=timeout)
        nodes = client.CoreV1Api(api).list_node(_request_timeout=timeout)
        classes = client.StorageV1Api(api).list_storage_class(_request_timeout=timeout)
    except Exception as e:  # noqa: BLE001 unreachable, TLS, 401/403: all stop the same way
        reason = getattr(e, "reason", None) or str(e).splitlines()[0]
        raise PreflightError(
            f"cannot ask the cluster at {server}: {reason}. Fix: run preflight where the API server is reachable with this kubeconfig (it needs list on nodes and storageclasses); offline there is nothing to check."
        ) from None
    minor = int("".join(ch for ch in str(version.minor) if ch.isdigit()) or 0)
    return ClusterFacts(
        server=server,
        version=(int(version.major), minor),
        git_version=str(version.git_version),
        nodes=tuple(node_from_api(api.sanitize_for_serialization(n)) for n in nodes.items),
        provisioners=frozenset(str(c.provisioner) for c in classes.items),
    )


def preflight(spec: PlatformSpec) -> list[Result]:
    """gather + judge for an environment's spec (raises PreflightError when the cluster cannot be asked)."""
    if not isinstance(spec, KubernetesPlatformSpec):
        raise PreflightError(f"{spec.name}: cloud is {spec.cloud}; this preflight is for cloud: kubernetes")
    return judge(spec, gather(spec.onprem.kubeconfig, spec.onprem.context))
