"""The Azure part of the spec: what only `cloud: azure` takes (`azure:`), the defaults that differ
from AWS's, and the cross-field rules of an Azure environment (region capabilities from
stacks/azure_offerings.py, VM size shapes, GRS only from uaenorth and never for health data)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from stacks.azure_offerings import AZURE_REGIONS
from stacks.spec._base import Model
from stacks.spec.kubernetes import iam_role_fields

if TYPE_CHECKING:
    from stacks.spec.platform import PlatformSpec

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
VM_SIZE = re.compile(r"^Standard_[A-Z][A-Za-z0-9_]+$")
GPU_VM_SIZE = re.compile(r"^Standard_N[CDV][A-Za-z0-9_]+$")
AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
MANAGED_REDIS_SKU = re.compile(r"^(Balanced|MemoryOptimized|ComputeOptimized|FlashOptimized)_[A-Z]\d+$")
# Defaults of an Azure environment where the AWS ones make no sense.
DEFAULTS = {
    ("databases", "registry", "instance_class"): "Standard_D4ds_v5",
    ("databases", "online_store", "node_type"): "Balanced_B5",
    ("kubernetes", "autoscaler"): "cluster-autoscaler",
}


class AzureSpec(Model):
    """Settings only an Azure environment takes."""

    admin_group_object_ids: tuple[str, ...] = Field(min_length=1, description="Entra ID groups given cluster-admin (local accounts are off).")
    restricted_region_access: bool = Field(
        default=False, description="The subscription has been granted access to a restricted region (uaecentral); required to deploy there."
    )
    access_groups: dict[Literal["platform-admin", "ml-engineer", "auditor"], str] = Field(
        default_factory=dict, description="Entra ID group (object id) bound to each platform role's RBAC in the cluster (AKS: Kubernetes RBAC with Entra ID)."
    )
    system_vm_size: str = Field(default="Standard_D4ds_v5", description="VM size of the AKS system pool (3 nodes over the zones).")
    log_retention_days: int = Field(default=365, ge=30, le=730, description="Log Analytics interactive retention.")

    @field_validator("admin_group_object_ids")
    @classmethod
    def _uuids(cls, ids: tuple[str, ...]) -> tuple[str, ...]:
        for i in ids:
            if not _UUID.match(i):
                raise ValueError(f"{i!r} is not an Entra ID object id (a GUID)")
        return ids

    @field_validator("access_groups")
    @classmethod
    def _group_ids(cls, groups: dict[str, str]) -> dict[str, str]:
        for role, i in groups.items():
            if not _UUID.match(i):
                raise ValueError(f"{role}: {i!r} is not an Entra ID group object id (a GUID)")
        return groups

    @field_validator("system_vm_size")
    @classmethod
    def _vm_size(cls, size: str) -> str:
        if not VM_SIZE.match(size):
            raise ValueError(f"{size!r} is not an Azure VM size (Standard_D4ds_v5, ...)")
        return size


def with_azure_defaults(raw: Any) -> Any:
    """The raw spec with Azure's defaults filled in where it leaves AWS-only defaults unset."""
    if not isinstance(raw, dict) or raw.get("cloud") != "azure":
        return raw
    out = dict(raw)
    for path, value in DEFAULTS.items():
        node = out
        for key in path[:-1]:
            child = node.get(key)
            if child is not None and not isinstance(child, dict):
                break  # the field validator names the bad value
            node[key] = child = dict(child or {})
            node = child
        else:
            node.setdefault(path[-1], value)
    return out


def azure_problems(spec: PlatformSpec) -> Iterator[str]:
    """Rules of `cloud: azure`, each line prefixed with the field's path."""
    region = AZURE_REGIONS[spec.region]
    if spec.azure is None:
        yield "azure: cloud: azure needs `azure:` with admin_group_object_ids (Entra ID groups; local accounts are off), see environments/uae-north"
    elif region.restricted and not spec.azure.restricted_region_access:
        yield (
            f"region: {spec.region} is a restricted region (access is granted per subscription on request); "
            "set azure.restricted_region_access: true once Microsoft has enabled it, or deploy to uaenorth"
        )
    if "az_count" in spec.network.model_fields_set and spec.network.az_count > len(region.zones):
        yield f"network.az_count: {spec.region} has {len(region.zones)} availability zones, asked for {spec.network.az_count}"
    for field, pools in (("gpu_pools", spec.gpu_pools), ("inference_tiers", spec.inference_tiers)):
        seen: set[str] = set()
        for i, pool in enumerate(pools):
            if not AKS_POOL_NAME.match(pool.name):
                yield f"{field}[{i}].name: {pool.name!r} must be 1-12 lower-case letters or digits on AKS (no '-')"
            if pool.name in seen:
                yield f"{field}[{i}].name: {pool.name!r} is used twice; pool names must be unique"
            seen.add(pool.name)
            if len(pool.instance_types) > 1:
                yield f"{field}[{i}].instance_types: an AKS pool has one VM size; got {len(pool.instance_types)} (make one pool per size)"
            size = pool.instance_types[0]
            shape = GPU_VM_SIZE if field == "gpu_pools" else VM_SIZE
            if not shape.match(size) or (field == "inference_tiers" and GPU_VM_SIZE.match(size)):
                kind = "a GPU (Standard_NC*/ND*/NV*)" if field == "gpu_pools" else "a CPU (Standard_D*/E*/F*)"
                yield f"{field}[{i}].instance_types[0]: {size!r} is not {kind} Azure VM size; offered sizes are checked by `sahab preflight` (az vm list-skus -l {spec.region})"
    db = spec.databases.registry
    if not VM_SIZE.match(db.instance_class):
        yield f"databases.registry.instance_class: {db.instance_class!r} is not a PostgreSQL flexible server size (Standard_D4ds_v5, Standard_E4ds_v5, ...)"
    if db.multi_az and not region.zones and "multi_az" in db.model_fields_set:
        yield f"databases.registry.multi_az: {spec.region} has no availability zones, so no zone-redundant standby; set it to false"
    cache = spec.databases.online_store
    if not MANAGED_REDIS_SKU.match(cache.node_type):
        yield f"databases.online_store.node_type: {cache.node_type!r} is not an Azure Managed Redis SKU (Balanced_B5, MemoryOptimized_M10, ...)"
    replication = spec.storage.replication
    if replication in ("GRS", "GZRS"):
        if spec.region != "uaenorth":
            yield f"storage.replication: {replication} from {spec.region} copies every blob to {region.pair}'s pair; only uaenorth -> uaecentral stays in the UAE"
        elif spec.residency.allowed_regions and region.pair not in spec.residency.allowed_regions:
            yield f"storage.replication: {replication} copies every blob to {region.pair}, which residency.allowed_regions does not list"
        if spec.tags.data_classification == "health":
            yield f"storage.replication: {replication} keeps a second copy in another region; health data (ICT Health Law Art. 13) is kept in one region: use LRS or ZRS"
    if replication in ("ZRS", "GZRS") and not region.zones:
        yield f"storage.replication: {replication} needs availability zones, which {spec.region} has none of; use LRS (or GRS from uaenorth)"
    if spec.kubernetes.autoscaler == "karpenter":
        yield "kubernetes.autoscaler: Karpenter runs on EKS here; AKS runs the cluster autoscaler on its pools (set cluster-autoscaler or leave it unset)"
    for path in iam_role_fields(spec):
        yield f"{path}: IAM roles do not exist on Azure; cluster admins are the Entra ID groups of azure.admin_group_object_ids"
    if spec.cluster.public_endpoint:
        yield "cluster.public_endpoint: AKS here is a private cluster only (API server on a private endpoint); remove it"
    if spec.cluster.deployer is not None:
        yield "cluster.deployer: an EKS setting; on AKS run `pulumi up` from inside the VNet (a runner in the nodes subnet or a peered network)"
