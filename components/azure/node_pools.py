"""AKS user pools: GPU training pools (scale from 0, spot optional, GPU-tainted and labelled, AKS
installs the NVIDIA driver and the platform layer the device plugin) and CPU serving pools
(on-demand, over the zones, never below 2). AKS's cluster autoscaler scales both."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypedDict

import pulumi
from pulumi_azure_native import containerservice as cs

from components.constants import GPU_TAINT

# Azure GPU VM sizes are the N family (NC, ND, NV). Which ones uaenorth offers is checked at
# preflight (`az vm list-skus -l uaenorth`): no authoritative public per-SKU list exists (UAE.md).
GPU_SIZE = re.compile(r"^Standard_N[CDV]\w+$")


class NodeHardening(TypedDict):
    """The keywords both an `AgentPool` and a `ManagedClusterAgentPoolProfileArgs` take for it."""

    os_type: str
    os_disk_type: str
    enable_encryption_at_host: bool


# Every AKS node, system or user pool: Linux, managed OS disk (encrypted with the cluster's disk
# encryption set), host encryption of temp disks and caches (the EncryptionAtHost feature).
NODE_HARDENING = NodeHardening(os_type="Linux", os_disk_type="Managed", enable_encryption_at_host=True)
POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")


@dataclass(frozen=True, kw_only=True)
class AksNodePoolArgs:
    cluster_name: pulumi.Input[str]
    """Cluster the pool joins."""
    resource_group: pulumi.Input[str]
    """Cluster's resource group."""
    pool_name: str
    """AKS pool name: lower-case letters and digits, at most 12."""
    vm_size: str
    """VM size (Standard_...)."""
    min_count: int
    max_count: int
    zones: tuple[str, ...]
    """Zones to spread over (none in uaecentral)."""
    node_subnet_id: pulumi.Input[str]
    """Subnet of the nodes."""
    disk_gib: int = 128
    """OS disk size (encrypted with the cluster's disk encryption set)."""
    spot: bool = False
    """Spot VMs (evicted with 30 s notice; training checkpoints)."""
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[dict[str, str], ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


def _taint(t: dict[str, str]) -> str:
    return f"{t['key']}={t.get('value', '')}:{t.get('effect', 'NoSchedule')}"


class _AksPool(pulumi.ComponentResource):
    pool_name: pulumi.Output[str]
    kind = "pool"

    def __init__(self, token: str, name: str, args: AksNodePoolArgs, opts: pulumi.ResourceOptions | None, *, gpu: bool):
        super().__init__(token, name, None, opts)
        if not POOL_NAME.match(args.pool_name):
            raise ValueError(f"pool_name: {args.pool_name!r} must be 1-12 lower-case letters or digits, starting with a letter (AKS)")
        if args.min_count > args.max_count:
            raise ValueError(f"min_count: {args.min_count} is greater than max_count {args.max_count}")
        pool = cs.AgentPool(
            f"{name}-pool",
            agent_pool_name=args.pool_name,
            resource_name_=args.cluster_name,
            resource_group_name=args.resource_group,
            mode="User",
            vm_size=args.vm_size,
            **NODE_HARDENING,
            os_sku="AzureLinux" if not gpu else "Ubuntu",  # the GPU driver AKS installs is built for Ubuntu images
            os_disk_size_gb=args.disk_gib,
            enable_auto_scaling=True,
            count=args.min_count,
            min_count=args.min_count,
            max_count=args.max_count,
            availability_zones=list(args.zones) or None,
            vnet_subnet_id=args.node_subnet_id,
            node_labels=args.labels,
            node_taints=[_taint(t) for t in args.taints] or None,
            scale_set_priority="Spot" if args.spot else "Regular",
            scale_set_eviction_policy="Delete" if args.spot else None,
            spot_max_price=-1 if args.spot else None,  # pay up to the on-demand price, never be evicted on price
            gpu_profile=cs.GPUProfileArgs(driver="Install") if gpu else None,
            upgrade_settings=None if args.spot else cs.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["count"]),  # the autoscaler owns the count
        )
        self.pool_name = pool.name
        self.register_outputs({"pool_name": self.pool_name})


class AksGpuNodePool(_AksPool):
    """Training capacity: N-family VMs from 0, tainted `nvidia.com/gpu=present:NoSchedule`."""

    def __init__(self, name: str, args: AksNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        if not GPU_SIZE.match(args.vm_size):
            raise ValueError(f"vm_size: {args.vm_size!r} is not an Azure GPU size (Standard_NC*, ND*, NV*)")
        if args.min_count != 0:
            raise ValueError(f"min_count: GPU pools scale from 0 (got {args.min_count})")
        if not any(t["key"] == GPU_TAINT["key"] and t.get("effect") == "NoSchedule" for t in args.taints):
            raise ValueError(f"taints: a GPU pool must carry {GPU_TAINT['key']} (NoSchedule) so CPU pods never take GPU nodes")
        super().__init__("sahab:azure:AksGpuNodePool", name, args, opts, gpu=True)


class AksCpuNodePool(_AksPool):
    """Serving capacity: on-demand, over the zones, at least 2 nodes."""

    def __init__(self, name: str, args: AksNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        if args.min_count < 2:
            raise ValueError(f"min_count: a serving pool keeps at least 2 nodes (got {args.min_count})")
        if args.spot:
            raise ValueError("spot: serving pools are on-demand")
        super().__init__("sahab:azure:AksCpuNodePool", name, args, opts, gpu=False)
