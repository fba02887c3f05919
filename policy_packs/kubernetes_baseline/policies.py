"""The kubernetes-baseline policies, in the order reports list them."""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, Severity

from policy_packs.common.packs import resource, stack
from policy_packs.kubernetes_baseline import kubernetes_images, kubernetes_network
from policy_packs.kubernetes_baseline import kubernetes_pods as pods

POLICIES = [
    resource(
        "kubernetes-pods-no-privileged-or-root",
        "Containers are not privileged, cannot escalate, and do not run as root.",
        pods.kubernetes_pods_no_privileged_or_root,
        pods.CONFIG,
        Severity.HIGH,
    ),
    # "Where possible": some images must write to their root filesystem, so this one advises by default.
    resource(
        "kubernetes-pods-read-only-root-fs",
        "Containers have read-only root filesystems where possible.",
        pods.kubernetes_pods_read_only_root_fs,
        pods.CONFIG,
        Severity.MEDIUM,
        EnforcementLevel.ADVISORY,
    ),
    resource(
        "kubernetes-pods-resources-set",
        "Containers set CPU/memory requests and a memory limit.",
        pods.kubernetes_pods_resources_set,
        pods.CONFIG,
        Severity.MEDIUM,
    ),
    resource(
        "kubernetes-gpu-pods-scheduling",
        "GPU pods request nvidia.com/gpu and tolerate the GPU taint; others stay off GPU nodes.",
        pods.kubernetes_gpu_pods_scheduling,
        pods.GPU_CONFIG,
        Severity.MEDIUM,
    ),
    stack(
        "kubernetes-namespace-default-deny",
        "Every workload namespace has default-deny ingress and egress NetworkPolicies.",
        kubernetes_network.kubernetes_namespace_default_deny,
        kubernetes_network.CONFIG,
        Severity.HIGH,
    ),
    stack(
        "kubernetes-images-pinned",
        "Images are pinned by digest or an immutable in-region tag.",
        kubernetes_images.kubernetes_images_pinned,
        kubernetes_images.CONFIG,
        Severity.HIGH,
    ),
]
