"""Pod security and scheduling: no privileged or root containers, read-only root filesystems,
requests and limits, GPU pods that request GPUs and tolerate the GPU taint."""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import schema
from policy_packs.common.kube import GPU, containers, kind_of, pod_spec
from policy_packs.common.policy import Subject, say, subject
from policy_packs.common.values import as_list, as_map, number

CONFIG = schema()
GPU_TAINT = {"type": "string", "default": "nvidia.com/gpu", "description": "Taint key GPU nodes carry (NoSchedule)."}
GPU_LABELS = {
    "type": "array",
    "items": {"type": "string"},
    "default": ["sahab.ae/accelerator", "nvidia.com/gpu.present", "karpenter.k8s.aws/instance-gpu-count"],
    "description": "Node labels that select GPU nodes.",
}
GPU_CONFIG = schema(gpuTaintKey=GPU_TAINT, gpuNodeLabels=GPU_LABELS)


def _pod(args: ResourceValidationArgs, config: dict) -> tuple[Subject, str, dict[str, Any]] | None:
    kind = kind_of(args.resource_type)
    if kind is None:
        return None
    s = subject(args, config)
    if s is None:
        return None
    return s, kind, pod_spec(kind, s.props)


def _where(fieldname: str, c: dict) -> str:
    return f"{'init container' if fieldname == 'initContainers' else 'container'} `{c.get('name')}`"


def kubernetes_pods_no_privileged_or_root(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if kind_of(args.resource_type) is None:
        return
    found = _pod(args, CONFIG)
    if found is None:
        return
    s, _, spec = found
    pod_sc = as_map(spec.get("securityContext"))
    for field, c in containers(spec):
        sc = as_map(c.get("securityContext"))
        if sc.get("privileged") is True:
            report_violation(
                say(
                    s,
                    f"{_where(field, c)} is privileged: it has every capability and the host's devices",
                    "remove `privileged: true` (GPU access comes from the device plugin's `nvidia.com/gpu` resource)",
                ),
                None,
            )
        if sc.get("allowPrivilegeEscalation") is not False and field != "ephemeralContainers":
            report_violation(
                say(
                    s,
                    f"{_where(field, c)} does not set `allowPrivilegeEscalation: false`, so setuid binaries can gain root",
                    "set `securityContext.allowPrivilegeEscalation: false`",
                ),
                None,
            )
        run_as_non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        run_as_user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if run_as_user is not None and (number(run_as_user, -1) == 0):
            report_violation(say(s, f"{_where(field, c)} runs as UID 0 (root)", "run as a non-zero UID (`runAsUser: 10001`) with `runAsNonRoot: true`"), None)
        elif run_as_non_root is not True and run_as_user is None:
            report_violation(
                say(
                    s,
                    f"{_where(field, c)} may run as root: neither `runAsNonRoot: true` nor a non-zero `runAsUser` is set (pod or container)",
                    "set `securityContext.runAsNonRoot: true` (and a `runAsUser`) on the pod or container",
                ),
                None,
            )
        added = [str(x) for x in as_list(as_map(sc.get("capabilities")).get("add"))]
        risky = [x for x in added if x.upper() in ("ALL", "SYS_ADMIN", "NET_ADMIN", "SYS_PTRACE", "SYS_MODULE")]
        if risky:
            report_violation(say(s, f"{_where(field, c)} adds capabilities {', '.join(risky)}", "drop them (`capabilities: {drop: [ALL]}`)"), None)
    for flag in ("hostPID", "hostIPC", "hostNetwork"):
        if spec.get(flag) is True:
            report_violation(say(s, f"the pod shares the node's namespaces (`{flag}: true`)", f"remove `{flag}`"), None)


def kubernetes_pods_read_only_root_fs(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if kind_of(args.resource_type) is None:
        return
    found = _pod(args, CONFIG)
    if found is None:
        return
    s, _, spec = found
    for field, c in containers(spec):
        if field != "ephemeralContainers" and as_map(c.get("securityContext")).get("readOnlyRootFilesystem") is not True:
            report_violation(
                say(
                    s,
                    f"{_where(field, c)} has a writable root filesystem, so a compromise can persist tools in the image layer",
                    "set `securityContext.readOnlyRootFilesystem: true` and mount an emptyDir at the paths it writes (/tmp, caches); allow-list it in policy.yaml if it truly cannot",
                ),
                None,
            )


def kubernetes_pods_resources_set(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if kind_of(args.resource_type) is None:
        return
    found = _pod(args, CONFIG)
    if found is None:
        return
    s, _, spec = found
    for field, c in containers(spec):
        if field == "ephemeralContainers":
            continue
        res = as_map(c.get("resources"))
        requests, limits = as_map(res.get("requests")), as_map(res.get("limits"))
        missing = [f"requests.{k}" for k in ("cpu", "memory") if k not in requests] + [f"limits.{k}" for k in ("memory",) if k not in limits]
        if missing:
            report_violation(
                say(
                    s,
                    f"{_where(field, c)} does not set {', '.join(missing)}: the scheduler cannot place it safely and it can starve its neighbours",
                    "set `resources.requests` (cpu, memory) and `resources.limits.memory` (a CPU limit is optional)",
                ),
                None,
            )


def _requests_gpu(c: dict) -> bool:
    res = as_map(c.get("resources"))
    return GPU in as_map(res.get("limits")) or GPU in as_map(res.get("requests"))


def _tolerates(spec: dict, key: str) -> bool:
    for t in as_list(spec.get("tolerations")):
        t = as_map(t)
        if t.get("operator") == "Exists" and not t.get("key"):
            return True
        if t.get("key") == key and t.get("effect") in (None, "", "NoSchedule"):
            return True
    return False


def _targets_gpu_nodes(spec: dict, labels: list[str], key: str) -> bool:
    selector = as_map(spec.get("nodeSelector"))
    if any(label in selector for label in labels):
        return True
    terms = as_list(
        as_map(as_map(as_map(spec.get("affinity")).get("nodeAffinity")).get("requiredDuringSchedulingIgnoredDuringExecution")).get("nodeSelectorTerms")
    )
    for term in terms:
        for expr in as_list(as_map(term).get("matchExpressions")):
            if as_map(expr).get("key") in labels and as_map(expr).get("operator") in ("In", "Exists"):
                return True
    return any(as_map(t).get("key") == key for t in as_list(spec.get("tolerations")))


def kubernetes_gpu_pods_scheduling(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if kind_of(args.resource_type) is None:
        return
    found = _pod(args, GPU_CONFIG)
    if found is None:
        return
    s, kind, spec = found
    key, labels = s.config["gpuTaintKey"], s.config["gpuNodeLabels"]
    gpu_containers = [(f, c) for f, c in containers(spec) if _requests_gpu(c)]
    for field, c in gpu_containers:
        if GPU not in as_map(as_map(c.get("resources")).get("limits")):
            report_violation(
                say(
                    s,
                    f"{_where(field, c)} requests {GPU} without a limit; extended resources are allocated by their limit",
                    f"set `resources.limits[{GPU}]` (requests, if set, must equal it)",
                ),
                None,
            )
    if gpu_containers and not _tolerates(spec, key):
        report_violation(
            say(
                s,
                f"requests GPUs but does not tolerate the `{key}` NoSchedule taint of GPU nodes, so it can never be scheduled",
                f"add the toleration `{{key: {key}, operator: Exists, effect: NoSchedule}}`",
            ),
            None,
        )
    if not gpu_containers and kind != "DaemonSet" and _targets_gpu_nodes(spec, labels, key):
        report_violation(
            say(
                s,
                f"targets GPU nodes (node selector/affinity or the `{key}` toleration) without requesting `{GPU}`, so it holds an expensive node without using its GPUs",
                f"request `{GPU}` in the container limits, or remove the GPU node selector and toleration",
            ),
            None,
        )
