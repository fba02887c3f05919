"""`cloud: azure`: AKS in the UAE. What only Azure takes lives here with its own defaults: the
`azure:` block (Entra ID groups, restricted-region access, the system pool's size), one VM size per
AKS pool (`vm_size`), PostgreSQL flexible server and Azure Managed Redis SKUs, storage redundancy,
and AKS's own cluster autoscaler; the rules check region capabilities (stacks/azure_offerings.py:
zones in uaenorth, none in uaecentral, uaecentral restricted) and keep GRS copies in the UAE."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from stacks.azure_offerings import AZURE_REGIONS
from stacks.spec._base import Model, check_name
from stacks.spec.cloud import CacheSpec, CloudGpuPoolSpec, DatabaseSpec, InferenceTierSpec, StorageSpec, ZonedNetworkSpec
from stacks.spec.common import CloudPlatformSpecBase, DatabasesSpec
from stacks.spec.kubernetes import KubernetesSpec

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
VM_SIZE = re.compile(r"^Standard_[A-Z][A-Za-z0-9_]+$")
GPU_VM_SIZE = re.compile(r"^Standard_N[CDV][A-Za-z0-9_]+$")
AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
VNET_ID = re.compile(r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+$")
MANAGED_REDIS_SKU = re.compile(r"^(Balanced|MemoryOptimized|ComputeOptimized|FlashOptimized)_[A-Z]\d+$")
# Where a size is offered is `sahab preflight`'s question (az vm list-skus -l <region>), not the spec's.
_OFFERED = "offered sizes are checked by `sahab preflight` (az vm list-skus -l <region>)"


def _aks_pool_name(name: str) -> str:
    if not AKS_POOL_NAME.match(name):
        raise ValueError(f"{name!r} must be 1-12 lower-case letters or digits on AKS (no '-')")
    return name


AksPoolName = Annotated[str, AfterValidator(check_name), AfterValidator(_aks_pool_name)]


def _vm_size(size: str) -> str:
    if not VM_SIZE.match(size):
        raise ValueError(f"{size!r} is not an Azure VM size (Standard_D4ds_v5, ...)")
    return size


def _gpu_vm_size(size: str) -> str:
    if not GPU_VM_SIZE.match(size):
        raise ValueError(f"{size!r} is not a GPU (Standard_NC*/ND*/NV*) Azure VM size; {_OFFERED}")
    return size


def _cpu_vm_size(size: str) -> str:
    if not VM_SIZE.match(size) or GPU_VM_SIZE.match(size):
        raise ValueError(f"{size!r} is not a CPU (Standard_D*/E*/F*) Azure VM size; {_OFFERED}")
    return size


class AzureDeployerSpec(Model):
    """Where `pulumi up` (and the image builds that push to the registry) run: a VNet of their own. The
    API server and the registry have private endpoints only, so that network is peered with the
    platform's VNet, admitted on 443 to the API server and the registry's endpoints, and linked to the
    private DNS zones that resolve them."""

    vnet_id: str = Field(
        description="ARM id of the deployer's VNet (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<name>)."
    )
    cidrs: tuple[str, ...] = Field(min_length=1, description="Private CIDRs in that VNet the runners use (admitted on 443).")
    peer: bool = Field(
        default=True,
        description="Peer the two VNets, both directions (the deployer needs Network Contributor on its VNet); false where they are connected already (a hub).",
    )

    @field_validator("vnet_id")
    @classmethod
    def _vnet_id(cls, vnet_id: str) -> str:
        if not VNET_ID.match(vnet_id):
            raise ValueError(
                f"{vnet_id!r} is not a VNet's ARM id (/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<name>)"
            )
        return vnet_id

    @model_validator(mode="after")
    def _private_cidrs(self) -> AzureDeployerSpec:
        for cidr in self.cidrs:
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError as e:
                raise ValueError(f"cidrs: {cidr!r} is not a CIDR block ({e})") from None
            if not net.is_private:
                raise ValueError(f"cidrs: {cidr} is not private; the deployer reaches the private endpoints from a peered network")
        return self


class AzureSpec(Model):
    """Settings only an Azure environment takes."""

    admin_group_object_ids: tuple[str, ...] = Field(min_length=1, description="Entra ID groups given cluster-admin (local accounts are off).")
    restricted_region_access: bool = Field(
        default=False, description="The subscription has been granted access to a restricted region (uaecentral); required to deploy there."
    )
    access_groups: dict[Literal["platform-admin", "ml-engineer", "auditor"], str] = Field(
        default_factory=dict, description="Entra ID group (object id) bound to each platform role's RBAC in the cluster (AKS: Kubernetes RBAC with Entra ID)."
    )
    system_vm_size: Annotated[str, AfterValidator(_vm_size)] = Field(
        default="Standard_D4ds_v5", description="VM size of the AKS system pool (3 nodes over the zones)."
    )
    log_retention_days: int = Field(default=365, ge=30, le=730, description="Log Analytics interactive retention.")
    deployer: AzureDeployerSpec | None = Field(default=None, description="The network `pulumi up` and image builds run from (needed: the cluster is private).")
    kubeconfig_login: Literal["azurecli", "workloadidentity", "msi"] = Field(
        default="azurecli",
        description="How the kubeconfig `pulumi up` uses logs in (kubelogin): the deployer's `az login`, a CI workload identity, or the runner's managed identity.",
    )
    rbac_propagation_seconds: int = Field(
        default=600,
        ge=0,
        le=1800,
        description="Wait after a role grant before what needs it is created (Azure: up to 10 minutes); first `up` only.",
    )

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


class AzureNetworkSpec(ZonedNetworkSpec):
    """The VNet. `az_count` counts where the region has zones (uaecentral has none)."""


class AksGpuPoolSpec(CloudGpuPoolSpec):
    """An AKS user pool of one GPU VM size (spot by default), scaled from 0 by AKS's autoscaler."""

    name: AksPoolName = Field(description="AKS pool name: 1-12 lower-case letters or digits.")
    vm_size: Annotated[str, AfterValidator(_gpu_vm_size)] = Field(description="The pool's GPU VM size (an AKS pool has one), e.g. Standard_NC40ads_H100_v5.")

    @property
    def machine_types(self) -> tuple[str, ...]:
        return (self.vm_size,)


class AksTierSpec(InferenceTierSpec):
    """An AKS user pool of one CPU VM size, on-demand over the zones."""

    name: AksPoolName = Field(description="AKS pool name: 1-12 lower-case letters or digits.")
    vm_size: Annotated[str, AfterValidator(_cpu_vm_size)] = Field(description="The pool's CPU VM size (an AKS pool has one), e.g. Standard_D4ds_v5.")

    @property
    def machine_types(self) -> tuple[str, ...]:
        return (self.vm_size,)


class AzureStorageSpec(StorageSpec):
    replication: Literal["LRS", "ZRS", "GRS", "GZRS"] | None = Field(
        default=None,
        description="Storage redundancy; default ZRS where the region has zones, else LRS. GRS/GZRS only from uaenorth (to uaecentral), never for health data.",
    )
    lock_audit_immutability: bool = Field(
        default=False,
        description=(
            "Lock the audit account's immutability policy. IRREVERSIBLE: the retention can then only grow and the account cannot be "
            "deleted while it holds records. Azure creates the policy Unlocked only: set this on an `up` after the first."
        ),
    )


def _postgres_sku(sku: str) -> str:
    if not VM_SIZE.match(sku):
        raise ValueError(f"{sku!r} is not a PostgreSQL flexible server size (Standard_D4ds_v5, Standard_E4ds_v5, ...)")
    return sku


def _redis_sku(sku: str) -> str:
    if not MANAGED_REDIS_SKU.match(sku):
        raise ValueError(f"{sku!r} is not an Azure Managed Redis SKU (Balanced_B5, MemoryOptimized_M10, ...)")
    return sku


class PostgresSpec(DatabaseSpec):
    sku: Annotated[str, AfterValidator(_postgres_sku)] = Field(default="Standard_D4ds_v5", description="PostgreSQL flexible server compute size.")


class ManagedRedisSpec(CacheSpec):
    sku: Annotated[str, AfterValidator(_redis_sku)] = Field(default="Balanced_B5", description="Azure Managed Redis SKU.")


class AzureDatabasesSpec(DatabasesSpec):
    registry: PostgresSpec = Field(default_factory=PostgresSpec, description="PostgreSQL flexible server for MLflow tracking and registry.")
    online_store: ManagedRedisSpec = Field(default_factory=ManagedRedisSpec, description="Azure Managed Redis for the Feast online store.")


class AksKubernetesSpec(KubernetesSpec):
    autoscaler: Literal["cluster-autoscaler"] = Field(default="cluster-autoscaler", description="AKS's own cluster autoscaler scales the pools.")

    @field_validator("autoscaler", mode="before")
    @classmethod
    def _aks_autoscaler(cls, value: Any) -> Any:
        if value == "karpenter":
            raise ValueError("Karpenter runs on EKS here; AKS runs the cluster autoscaler on its pools (set cluster-autoscaler or leave it unset)")
        return value


_IAM = "IAM roles do not exist on Azure"


class AzurePlatformSpec(CloudPlatformSpecBase):
    """`cloud: azure`: AKS and the Azure services around it."""

    unknown_key_hints: ClassVar[dict[str, str]] = {
        "cluster.admin_role_arns": f"{_IAM}; cluster admins are the Entra ID groups of azure.admin_group_object_ids",
        "kubernetes.access": f"{_IAM}; bind Entra ID groups to the platform's roles with azure.access_groups",
        "cluster.public_endpoint": "AKS here is a private cluster only (API server on a private endpoint); remove it",
        "cluster.deployer": "an EKS setting; on AKS name the deployer's VNet in azure.deployer (vnet_id, cidrs)",
        "gpu_pools[].instance_types": "an AKS pool has one VM size: set vm_size (make one pool per size)",
        "inference_tiers[].instance_types": "an AKS pool has one VM size: set vm_size (make one pool per size)",
        "databases.registry.instance_class": "set sku, a PostgreSQL flexible server size (Standard_D4ds_v5, Standard_E4ds_v5, ...)",
        "databases.online_store.node_type": "set sku, an Azure Managed Redis SKU (Balanced_B5, MemoryOptimized_M10, ...)",
    }
    missing_key_hints: ClassVar[dict[str, str]] = {
        "azure": "cloud: azure needs `azure:` with admin_group_object_ids (Entra ID groups; local accounts are off), see environments/uae-north",
    }

    region_cloud: ClassVar[str] = "azure"
    cloud: Literal["azure"]
    network: AzureNetworkSpec = Field(default_factory=AzureNetworkSpec)
    gpu_pools: tuple[AksGpuPoolSpec, ...] = ()
    inference_tiers: tuple[AksTierSpec, ...] = Field(
        default=(), validate_default=True, description="CPU pools; at least one (serving and platform pods run there)."
    )
    storage: AzureStorageSpec = Field(default_factory=AzureStorageSpec)
    databases: AzureDatabasesSpec = Field(default_factory=AzureDatabasesSpec)
    kubernetes: AksKubernetesSpec = Field(default_factory=AksKubernetesSpec)
    azure: AzureSpec = Field(description="What only cloud: azure takes (Entra ID admin groups, restricted-region access).")

    @property
    def availability_zones(self) -> tuple[str, ...]:
        return AZURE_REGIONS[self.region].zones[: self.network.az_count]

    def problems(self) -> Iterator[str]:
        yield from super().problems()
        region = AZURE_REGIONS[self.region]
        if region.restricted and not self.azure.restricted_region_access:
            yield (
                f"region: {self.region} is a restricted region (access is granted per subscription on request); "
                "set azure.restricted_region_access: true once Microsoft has enabled it, or deploy to uaenorth"
            )
        if "az_count" in self.network.model_fields_set and self.network.az_count > len(region.zones):
            yield f"network.az_count: {self.region} has {len(region.zones)} availability zones, asked for {self.network.az_count}"
        db = self.databases.registry
        if db.multi_az and not region.zones and "multi_az" in db.model_fields_set:
            yield f"databases.registry.multi_az: {self.region} has no availability zones, so no zone-redundant standby; set it to false"
        replication = self.storage.replication
        if replication in ("GRS", "GZRS"):
            if self.region != "uaenorth":
                yield f"storage.replication: {replication} from {self.region} copies every blob to {region.pair}'s pair; only uaenorth -> uaecentral stays in the UAE"
            elif self.residency.allowed_regions and region.pair not in self.residency.allowed_regions:
                yield f"storage.replication: {replication} copies every blob to {region.pair}, which residency.allowed_regions does not list"
            if self.tags.data_classification == "health":
                yield f"storage.replication: {replication} keeps a second copy in another region; health data (ICT Health Law Art. 13) is kept in one region: use LRS or ZRS"
        deployer = self.azure.deployer
        if deployer is not None:
            vnet = ipaddress.ip_network(self.network.cidr, strict=False)
            for cidr in deployer.cidrs:
                if ipaddress.ip_network(cidr, strict=False).overlaps(vnet):
                    yield f"azure.deployer.cidrs: {cidr} overlaps network.cidr {self.network.cidr}; peered VNets need disjoint address spaces"
        if replication in ("ZRS", "GZRS") and not region.zones:
            yield f"storage.replication: {replication} needs availability zones, which {self.region} has none of; use LRS (or GRS from uaenorth)"
