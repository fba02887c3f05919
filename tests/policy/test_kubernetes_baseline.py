"""kubernetes-baseline: every policy, violating and compliant."""

from __future__ import annotations

import copy

import pytest

from policy_packs.kubernetes_baseline import kubernetes_images, kubernetes_network
from policy_packs.kubernetes_baseline import kubernetes_pods as pods
from tests.policy.conftest import R, run, run_stack

ECR = "123456789012.dkr.ecr.me-central-1.amazonaws.com"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
GOOD_CONTAINER = {
    "name": "serving",
    "image": f"{ECR}/sahab/serving:0.1.0",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "capabilities": {"drop": ["ALL"]},
    },
    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
}


def deployment(**container_changes) -> dict:
    c = {**copy.deepcopy(GOOD_CONTAINER), **container_changes}
    return {"metadata": {"name": "serving", "namespace": "sahab-serving"}, "spec": {"template": {"spec": {"containers": [c]}}}}


def gpu_job(tolerations=True, limits=True, request_gpu=True) -> dict:
    c = copy.deepcopy(GOOD_CONTAINER)
    if request_gpu:
        c["resources"]["limits" if limits else "requests"]["nvidia.com/gpu"] = 1
    spec = {"containers": [c], "nodeSelector": {"sahab.ae/accelerator": "nvidia"}}
    if tolerations:
        spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {"metadata": {"namespace": "sahab-training"}, "spec": {"template": {"spec": spec}}}


VIOLATIONS = [
    (
        "privileged",
        pods.kubernetes_pods_no_privileged_or_root,
        deployment(securityContext={**GOOD_CONTAINER["securityContext"], "privileged": True}),
        "privileged",
    ),
    ("escalation", pods.kubernetes_pods_no_privileged_or_root, deployment(securityContext={"runAsNonRoot": True}), "allowPrivilegeEscalation"),
    ("root-uid", pods.kubernetes_pods_no_privileged_or_root, deployment(securityContext={"allowPrivilegeEscalation": False, "runAsUser": 0}), "UID 0"),
    ("maybe-root", pods.kubernetes_pods_no_privileged_or_root, deployment(securityContext={"allowPrivilegeEscalation": False}), "may run as root"),
    (
        "sys-admin",
        pods.kubernetes_pods_no_privileged_or_root,
        deployment(securityContext={**GOOD_CONTAINER["securityContext"], "capabilities": {"add": ["SYS_ADMIN"]}}),
        "SYS_ADMIN",
    ),
    ("writable-root", pods.kubernetes_pods_read_only_root_fs, deployment(securityContext={"runAsNonRoot": True}), "writable root"),
    ("no-resources", pods.kubernetes_pods_resources_set, deployment(resources={}), "requests.cpu"),
    (
        "no-memory-limit",
        pods.kubernetes_pods_resources_set,
        deployment(resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1"}}),
        "limits.memory",
    ),
]


@pytest.mark.parametrize("case,validate,props,fragment", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_pod_violation(case, validate, props, fragment):
    messages = run(validate, DEPLOYMENT, props)
    assert any(fragment in m for m in messages) and all("Fix:" in m for m in messages), f"{case}: {messages}"


@pytest.mark.parametrize(
    "validate",
    [
        pods.kubernetes_pods_no_privileged_or_root,
        pods.kubernetes_pods_read_only_root_fs,
        pods.kubernetes_pods_resources_set,
        pods.kubernetes_gpu_pods_scheduling,
    ],
)
def test_pod_compliant(validate):
    assert run(validate, DEPLOYMENT, deployment()) == []


def test_pod_root_allowed_by_pod_level_non_root():
    props = deployment(securityContext={"allowPrivilegeEscalation": False})
    props["spec"]["template"]["spec"]["securityContext"] = {"runAsNonRoot": True}
    assert run(pods.kubernetes_pods_no_privileged_or_root, DEPLOYMENT, props) == []


def test_gpu_pod_compliant():
    assert run(pods.kubernetes_gpu_pods_scheduling, JOB, gpu_job()) == []


@pytest.mark.parametrize(
    "props,fragment",
    [
        (gpu_job(tolerations=False), "does not tolerate"),
        (gpu_job(limits=False), "without a limit"),
        (gpu_job(request_gpu=False), "without requesting"),
    ],
    ids=["no-toleration", "request-without-limit", "gpu-node-without-gpu"],
)
def test_gpu_pod_violation(props, fragment):
    messages = run(pods.kubernetes_gpu_pods_scheduling, JOB, props)
    assert any(fragment in m for m in messages), messages


def ns(name: str) -> R:
    return R("kubernetes:core/v1:Namespace", f"ns-{name}", {"metadata": {"name": name}})


def deny(namespace: str, types: list[str], name: str = "default-deny") -> R:
    return R(
        kubernetes_network.NETWORK_POLICY,
        f"{namespace}-{name}",
        {"metadata": {"name": name, "namespace": namespace}, "spec": {"podSelector": {}, "policyTypes": types}},
    )


def test_default_deny_present():
    assert run_stack(kubernetes_network.kubernetes_namespace_default_deny, [ns("serving"), deny("serving", ["Ingress", "Egress"])]) == []
    assert run_stack(kubernetes_network.kubernetes_namespace_default_deny, [ns("kube-system")]) == [], "system namespaces are exempt"


def test_default_deny_missing():
    found = run_stack(kubernetes_network.kubernetes_namespace_default_deny, [ns("serving"), deny("serving", ["Ingress"])])
    assert found and "Egress" in found[0][0] and "serving" in found[0][0], found
    allow_all = R(
        kubernetes_network.NETWORK_POLICY,
        "allow",
        {"metadata": {"namespace": "sahab-training"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}], "egress": [{}]}},
    )
    found = run_stack(kubernetes_network.kubernetes_namespace_default_deny, [R(JOB, "job", gpu_job()), allow_all])
    assert found and "`sahab-training`" in found[0][0], "a namespace used by a workload needs one too; allow-all is not deny"


def repo(name: str, mutability: str) -> R:
    return R("aws:ecr/repository:Repository", name, {"name": name, "imageTagMutability": mutability})


@pytest.mark.parametrize(
    "image,repos,ok",
    [
        (f"{ECR}/sahab/serving:0.1.0", [repo("sahab/serving", "IMMUTABLE")], True),
        (f"{ECR}/sahab/serving@sha256:{'a' * 64}", [], True),
        (f"{ECR}/sahab/serving:0.1.0", [repo("sahab/serving", "MUTABLE")], False),
        (f"{ECR}/sahab/serving:latest", [repo("sahab/serving", "IMMUTABLE")], False),
        (f"{ECR}/sahab/serving", [repo("sahab/serving", "IMMUTABLE")], False),
        ("ghcr.io/org/tool:1.0", [], False),
    ],
    ids=["immutable-ecr-tag", "digest", "mutable-repo", "latest", "no-tag", "external-tag"],
)
def test_images_pinned(image, repos, ok):
    workload = R(DEPLOYMENT, "serving", deployment(image=image))
    found = run_stack(kubernetes_images.kubernetes_images_pinned, [*repos, workload])
    assert (found == []) is ok, found
    if not ok:
        assert "Fix:" in found[0][0] and found[0][1].endswith("::serving")
