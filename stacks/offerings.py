"""What each UAE region offers, as the project knows it (see ../shared/UAE.md).

This table is what the spec validates against before anything is registered. It is a snapshot of
public documentation, so `sahab preflight` style checks against the cloud's own API
(`aws ec2 describe-instance-type-offerings`, `az vm list-skus`) remain the final word at deploy
time; when AWS adds a family to me-central-1, add it here in the same change that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

# The UAE region list lives in components/constants.py (one home); re-exported for the tooling.
from components.constants import NOT_UAE, UAE_REGIONS  # noqa: F401 (re-exported for the tooling)
from stacks.capacity import Allocatable


@dataclass(frozen=True)
class RegionOfferings:
    """Instance families and availability zones of one region."""

    availability_zones: tuple[str, ...]
    gpu_instance_types: frozenset[str]
    cpu_instance_families: frozenset[str]
    db_instance_families: frozenset[str]
    cache_node_families: frozenset[str]


def _sizes(family: str, sizes: tuple[str, ...]) -> set[str]:
    return {f"{family}.{size}" for size in sizes}


_G_SIZES = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")

OFFERINGS: dict[str, RegionOfferings] = {
    "me-central-1": RegionOfferings(
        availability_zones=("me-central-1a", "me-central-1b", "me-central-1c"),
        # g5 (A10G), g6 (L4) and p5en.48xlarge (8x H200). No p4d/p5/g4dn/inf2/trn here.
        gpu_instance_types=frozenset(_sizes("g5", _G_SIZES) | _sizes("g6", _G_SIZES) | {"p5en.48xlarge"}),
        cpu_instance_families=frozenset({"c5", "c6i", "c6g", "c7i", "m5", "m6i", "m6g", "m7i", "r5", "r6i", "r6g", "t3", "t4g"}),
        db_instance_families=frozenset({"db.m5", "db.m6g", "db.m6i", "db.r5", "db.r6g", "db.r6i", "db.t3", "db.t4g"}),
        cache_node_families=frozenset({"cache.m5", "cache.m6g", "cache.r5", "cache.r6g", "cache.t3", "cache.t4g"}),
    ),
}


def family_of(instance_type: str) -> str:
    """`c6i.2xlarge` -> `c6i`; `db.r6g.large` -> `db.r6g`."""
    parts = instance_type.split(".")
    return ".".join(parts[:-1]) if len(parts) > 1 else instance_type


# --------------------------------------------------------------------------------------------
# Instance capacity: what a node of each type brings, and what the kubelet leaves for pods
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceCapacity:
    """One EC2 instance type as a Kubernetes node. `max_pods`: the EKS default without prefix
    delegation, ENIs x (IPv4 per ENI - 1) + 2."""

    vcpus: int
    memory_gib: float
    gpus: int
    max_pods: int
    gpu_model: str = ""


# vCPU / memory / GPUs: the EC2 instance type pages (docs.aws.amazon.com/ec2/latest/instancetypes:
# gp.html, co.html, ac.html), g5/g6 also cross-checked against the AWS Batch GPU jobs table;
# max_pods: awslabs/amazon-eks-ami templates/shared/runtime/eni-max-pods.txt
# (checked 2026-12, commit 0254c5b). Every type the shipped specs use, and every size the spec's
# GPU list (OFFERINGS[...].gpu_instance_types) allows.
_GPU = {  # size -> (vCPU, GiB, GPUs); g5 and g6 share the shape
    "xlarge": (4, 16, 1),
    "2xlarge": (8, 32, 1),
    "4xlarge": (16, 64, 1),
    "8xlarge": (32, 128, 1),
    "12xlarge": (48, 192, 4),
    "16xlarge": (64, 256, 1),
    "24xlarge": (96, 384, 4),
    "48xlarge": (192, 768, 8),
}
_MAX_PODS = {
    "g5": {"xlarge": 58, "2xlarge": 58, "4xlarge": 234, "8xlarge": 234, "12xlarge": 737, "16xlarge": 234, "24xlarge": 737, "48xlarge": 345},
    "g6": {"xlarge": 58, "2xlarge": 58, "4xlarge": 234, "8xlarge": 234, "12xlarge": 234, "16xlarge": 737, "24xlarge": 737, "48xlarge": 737},
}
_CPU_SHAPES = {  # family class -> size -> (vCPU, GiB)
    "c": {"large": (2, 4), "xlarge": (4, 8), "2xlarge": (8, 16), "4xlarge": (16, 32)},
    "m": {"large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32), "4xlarge": (16, 64)},
    "r": {"large": (2, 16), "xlarge": (4, 32), "2xlarge": (8, 64), "4xlarge": (16, 128)},
    "t": {"medium": (2, 4), "large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32)},
}
# eni-max-pods.txt: every c/m/r 5th-7th generation family listed here has large 29, xlarge 58,
# 2xlarge 58, 4xlarge 234; t3/t4g: medium 17, large 35, xlarge 58, 2xlarge 58.
_CPU_MAX_PODS = {"medium": 17, "large": 29, "xlarge": 58, "2xlarge": 58, "4xlarge": 234}
_T_MAX_PODS = {"medium": 17, "large": 35, "xlarge": 58, "2xlarge": 58}

CAPACITY: dict[str, InstanceCapacity] = {
    **{
        f"{fam}.{size}": InstanceCapacity(v, m, g, _MAX_PODS[fam][size], {"g5": "A10G", "g6": "L4"}[fam])
        for fam in ("g5", "g6")
        for size, (v, m, g) in _GPU.items()
    },
    "p5en.48xlarge": InstanceCapacity(192, 2048, 8, 198, "H200"),
    **{
        f"{fam}.{size}": InstanceCapacity(v, m, 0, (_T_MAX_PODS if fam[0] == "t" else _CPU_MAX_PODS)[size])
        for fam in ("c5", "c6i", "c7i", "m5", "m6i", "m7i", "r5", "r6i", "t3", "t4g", "c6g", "m6g", "r6g")
        for size, (v, m) in _CPU_SHAPES[fam[0]].items()
    },
}

# The memory the kubelet sees is less than the type's nominal size (firmware, kernel); Karpenter
# assumes 7.5 % (its VM_MEMORY_OVERHEAD_PERCENT default, karpenter.sh docs "Settings").
VM_MEMORY_OVERHEAD = 0.075
EVICTION_HARD_MEMORY_MIB = 100  # nodeadm's kubelet default evictionHard memory.available


def kube_reserved_cpu_millicores(vcpus: int) -> int:
    """EKS AMIs (nodeadm getCPUMillicoresToReserve, as GKE): 6 % of the first core, 1 % of the
    second, 0.5 % of the third and fourth, 0.25 % of every core above four."""
    total = vcpus * 1000
    reserved = 0.0
    for start, end, fraction in ((0, 1000, 0.06), (1000, 2000, 0.01), (2000, 4000, 0.005), (4000, max(total, 4000), 0.0025)):
        if total > start:
            reserved += (min(total, end) - start) * fraction
    return int(reserved)


def kube_reserved_memory_mib(max_pods: int) -> int:
    """EKS AMIs (nodeadm getMemoryMebibytesToReserve): 11 MiB per pod the node may run, plus 255."""
    return 11 * max_pods + 255


def allocatable(instance_type: str) -> Allocatable:
    """What pods may request on a node of `instance_type` (KeyError when the type is not in CAPACITY):
    capacity - kube-reserved - eviction threshold, per the EKS AMI's kubelet configuration."""
    cap = CAPACITY[instance_type]
    memory = int(cap.memory_gib * 1024 * (1 - VM_MEMORY_OVERHEAD)) - kube_reserved_memory_mib(cap.max_pods) - EVICTION_HARD_MEMORY_MIB
    return Allocatable(cap.vcpus * 1000 - kube_reserved_cpu_millicores(cap.vcpus), memory, cap.gpus, cap.max_pods)
