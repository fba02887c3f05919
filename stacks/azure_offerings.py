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
    """One Azure VM size as an AKS node."""

    vcpus: int
    memory_gib: float
    gpus: int = 0
    gpu: str = ""


def _family(pattern: str, shapes: dict[int, int]) -> dict[str, VmCapacity]:
    """`pattern` with `{n}` the vCPU count -> capacity, from {vCPUs: memory GiB}."""
    return {pattern.format(n=n): VmCapacity(n, gib) for n, gib in shapes.items()}


# The VM sizes of the families AKS pools here use (the shipped environments' sizes and the common
# ones of their families), vCPU / memory GiB / GPUs as Microsoft's VM size pages list them
# (checked: MicrosoftDocs/azure-docs articles/virtual-machines ddv5-ddsv5-series.md, edv5-edsv5-series.md,
# fsv2-series.md, nc-a100-v4-series.md, ncads-h100-v5.md, nva10v5-series.md, nct4-v3-series.md,
# nd-h100-v5-series.md; cross-checked with microsoft/aspire AksNodeVmSizes.cs at 5bd693ae, 2026-12).
# NVadsA10 v5 below 36 vCPUs get a partition of one A10 (1/6, 1/3, 1/2: GPU-P, a GRID vGPU), not a
# whole device the NVIDIA device plugin can hand a pod, so they are left out: the gate then says
# their capacity is unknown instead of promising a GPU. Whether a region offers a size is
# `sahab preflight`'s question (az vm list-skus), not this table's.
VM_CAPACITY: dict[str, VmCapacity] = {
    **_family("Standard_D{n}ds_v5", {n: 4 * n for n in (2, 4, 8, 16, 32, 48, 64, 96)}),
    **_family("Standard_D{n}s_v5", {n: 4 * n for n in (2, 4, 8, 16, 32, 48, 64, 96)}),
    **_family("Standard_E{n}ds_v5", {**{n: 8 * n for n in (2, 4, 8, 16, 20, 32, 48, 64)}, 96: 672}),
    **_family("Standard_F{n}s_v2", {n: 2 * n for n in (2, 4, 8, 16, 32, 48, 64, 72)}),
    "Standard_NC24ads_A100_v4": VmCapacity(24, 220, 1, "A100"),
    "Standard_NC48ads_A100_v4": VmCapacity(48, 440, 2, "A100"),
    "Standard_NC96ads_A100_v4": VmCapacity(96, 880, 4, "A100"),
    "Standard_NC40ads_H100_v5": VmCapacity(40, 320, 1, "H100 NVL"),
    "Standard_NC80adis_H100_v5": VmCapacity(80, 640, 2, "H100 NVL"),
    "Standard_ND96isr_H100_v5": VmCapacity(96, 1900, 8, "H100"),
    "Standard_NV36ads_A10_v5": VmCapacity(36, 440, 1, "A10"),
    "Standard_NV36adms_A10_v5": VmCapacity(36, 880, 1, "A10"),
    "Standard_NV72ads_A10_v5": VmCapacity(72, 880, 2, "A10"),
    "Standard_NC4as_T4_v3": VmCapacity(4, 28, 1, "T4"),
    "Standard_NC8as_T4_v3": VmCapacity(8, 56, 1, "T4"),
    "Standard_NC16as_T4_v3": VmCapacity(16, 110, 1, "T4"),
    "Standard_NC64as_T4_v3": VmCapacity(64, 440, 4, "T4"),
}
# Azure CNI overlay's default pods per node, what the clusters here run (components/azure/cluster.py
# network_plugin_mode overlay, no maxPods on the pools). checked: learn.microsoft.com (docs.azure.cn
# mirror) "Node autoprovisioning AKSNodeClass configuration": "Azure CNI with overlay networking: 250 pods".
AKS_MAX_PODS = 250
# AKS node resource reservations, Kubernetes 1.29 and later (checked: learn.microsoft.com
# azure/aks/node-resource-reservations, fetched 2026-12): kube-reserved CPU by the host's cores (the
# documented rows; a size between two rows takes the larger one's reservation, so no room is
# promised that may not be there); memory: the smaller of 20 MiB per max pod + 50 MiB and 25 % of
# the node's memory; hard eviction at memory.available < 100 Mi.
_AKS_CPU_RESERVED = ((1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420), (64, 740))
AKS_EVICTION_MIB = 100


def aks_allocatable(vm_size: str, max_pods: int = AKS_MAX_PODS) -> tuple[int, int, int, int]:
    """(millicores, MiB, GPUs, pods) pods may request on an AKS node of `vm_size` (KeyError when unknown)."""
    cap = VM_CAPACITY[vm_size]
    cpu_reserved = next((m for cores, m in _AKS_CPU_RESERVED if cap.vcpus <= cores), _AKS_CPU_RESERVED[-1][1])
    memory = int(cap.memory_gib * 1024)
    memory_reserved = min(20 * max_pods + 50, memory // 4)
    return cap.vcpus * 1000 - cpu_reserved, memory - memory_reserved - AKS_EVICTION_MIB, cap.gpus, max_pods
