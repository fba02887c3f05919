"""What each Azure region in the UAE offers, as the project knows it (see ../shared/UAE.md).

The AWS table is stacks/offerings.py. Azure publishes no authoritative per-SKU list for the UAE
regions, so VM sizes (GPU ones above all) are configuration, checked by `sahab preflight` against
`az vm list-skus --location <region>`; what is fixed is below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AzureRegion:
    zones: tuple[str, ...]
    """Availability zones ("1", "2", "3"); none: zone-redundant options are unavailable."""
    pair: str
    """The region pair GRS/GZRS and Key Vault replicate to (stays in the UAE)."""
    restricted: bool
    """Access is granted per subscription on request (Microsoft's "restricted" regions)."""


AZURE_REGIONS: dict[str, AzureRegion] = {
    # UAE North (Dubai): three zones; paired with UAE Central.
    "uaenorth": AzureRegion(zones=("1", "2", "3"), pair="uaecentral", restricted=False),
    # UAE Central (Abu Dhabi): no zones; restricted, for in-country disaster recovery.
    "uaecentral": AzureRegion(zones=(), pair="uaenorth", restricted=True),
}


@dataclass(frozen=True)
class VmCapacity:
    vcpus: int
    memory_gib: float
    gpus: int = 0
    gpu: str = ""


# VM sizes the shipped environments and the docs use (checked: learn.microsoft.com VM size pages
# Dv5/Ddv5, Edv5, Fsv2, NCadsH100v5, NVadsA10v5, NCA100v4, NCasT4_v3, NDH100v5, fetched 2026-12).
# Whether uaenorth offers a size is `sahab preflight`'s question, not this table's.
VM_CAPACITY: dict[str, VmCapacity] = {
    **{f"Standard_D{n}ds_v5": VmCapacity(n, 4 * n) for n in (2, 4, 8, 16, 32)},
    **{f"Standard_D{n}s_v5": VmCapacity(n, 4 * n) for n in (2, 4, 8, 16, 32)},
    **{f"Standard_E{n}ds_v5": VmCapacity(n, 8 * n) for n in (2, 4, 8, 16, 32)},
    **{f"Standard_F{n}s_v2": VmCapacity(n, 2 * n) for n in (2, 4, 8, 16, 32)},
    "Standard_NC40ads_H100_v5": VmCapacity(40, 320, 1, "H100 NVL"),
    "Standard_NC80adis_H100_v5": VmCapacity(80, 640, 2, "H100 NVL"),
    "Standard_ND96isr_H100_v5": VmCapacity(96, 1900, 8, "H100"),
    "Standard_NC24ads_A100_v4": VmCapacity(24, 220, 1, "A100"),
    "Standard_NC48ads_A100_v4": VmCapacity(48, 440, 2, "A100"),
    "Standard_NC96ads_A100_v4": VmCapacity(96, 880, 4, "A100"),
    "Standard_NV36ads_A10_v5": VmCapacity(36, 440, 1, "A10"),
    "Standard_NC4as_T4_v3": VmCapacity(4, 28, 1, "T4"),
    "Standard_NC16as_T4_v3": VmCapacity(16, 110, 1, "T4"),
    "Standard_NC64as_T4_v3": VmCapacity(64, 440, 4, "T4"),
}
# Azure CNI overlay's default pods per node (checked: learn.microsoft.com "Azure CNI Overlay
# networking", max pods 250 by default, fetched 2026-12).
AKS_MAX_PODS = 250
# AKS node resource reservations, Kubernetes 1.29+ (checked: learn.microsoft.com "Node resource
# reservations" in the AKS core concepts, fetched 2026-12): CPU by core count; memory
# 20 MiB per max pod + 50 MiB (at most 25% of the node), and a 100 MiB hard eviction threshold.
_AKS_CPU_RESERVED = ((1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420), (64, 740))
AKS_EVICTION_MIB = 100


def aks_allocatable(vm_size: str, max_pods: int = AKS_MAX_PODS) -> tuple[int, int, int, int]:
    """(millicores, MiB, GPUs, pods) pods may request on an AKS node of `vm_size` (KeyError when unknown)."""
    cap = VM_CAPACITY[vm_size]
    cpu_reserved = next((m for cores, m in _AKS_CPU_RESERVED if cap.vcpus <= cores), _AKS_CPU_RESERVED[-1][1])
    memory = int(cap.memory_gib * 1024)
    memory_reserved = min(20 * max_pods + 50, memory // 4)
    return cap.vcpus * 1000 - cpu_reserved, memory - memory_reserved - AKS_EVICTION_MIB, cap.gpus, max_pods
