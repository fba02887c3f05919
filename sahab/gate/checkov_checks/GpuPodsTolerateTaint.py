"""CKV_SAHAB_2: pods that request nvidia.com/gpu set it as a limit and tolerate the GPU taint."""

from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.kubernetes.checks.resource.base_spec_check import BaseK8Check

GPU = "nvidia.com/gpu"
PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def _pod_spec(conf: dict[str, Any]) -> dict[str, Any]:
    spec: Any = conf
    for step in PATHS.get(str(conf.get("kind")), ()):
        spec = spec.get(step) if isinstance(spec, dict) else None
    return spec if isinstance(spec, dict) else {}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for key in ("initContainers", "containers") for c in (spec.get(key) or []) if isinstance(c, dict)]


class GpuPodsTolerateTaint(BaseK8Check):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure GPU pods limit nvidia.com/gpu and tolerate the GPU taint",
            id="CKV_SAHAB_2",
            categories=[CheckCategories.KUBERNETES],
            supported_entities=tuple(PATHS),
        )

    def scan_spec_conf(self, conf: dict[str, Any]) -> CheckResult:
        spec = _pod_spec(conf)
        gpu = [
            c for c in _containers(spec) if GPU in ((c.get("resources") or {}).get("limits") or {}) or GPU in ((c.get("resources") or {}).get("requests") or {})
        ]
        if not gpu:
            return CheckResult.PASSED
        if any(GPU not in ((c.get("resources") or {}).get("limits") or {}) for c in gpu):
            return CheckResult.FAILED
        for t in spec.get("tolerations") or []:
            if isinstance(t, dict) and (
                (t.get("operator") == "Exists" and not t.get("key")) or (t.get("key") == GPU and t.get("effect") in (None, "", "NoSchedule"))
            ):
                return CheckResult.PASSED
        return CheckResult.FAILED


check = GpuPodsTolerateTaint()
