"""`cloud: aws` (the default when `cloud` is absent): EKS in me-central-1. What only AWS takes lives
here with its defaults: EC2 instance types on the pools, RDS and ElastiCache sizes, the EKS
endpoint, deployer and IAM-role access, Karpenter; the rules check them against what the region
offers (stacks/offerings.py)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from components.constants import IAM_ROLE_ARN
from stacks.offerings import OFFERINGS, family_of
from stacks.spec._base import Model
from stacks.spec.cloud import (
    CacheSpec,
    CloudGpuPoolSpec,
    ClusterSpec,
    DatabaseSpec,
    EncryptionSpec,
    InferenceTierSpec,
    StorageSpec,
    ZonedNetworkSpec,
)
from stacks.spec.common import CloudPlatformSpecBase, DatabasesSpec
from stacks.spec.kubernetes import KubernetesSpec

ACCESS_ROLE_FIELDS = ("platform_admin_role_arns", "ml_engineer_role_arns", "auditor_role_arns")


def check_role_arns(arns: tuple[str, ...]) -> tuple[str, ...]:
    for arn in arns:
        if not IAM_ROLE_ARN.fullmatch(arn):
            raise ValueError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
    return arns


class AwsNetworkSpec(ZonedNetworkSpec):
    nat: Literal["per-az", "single"] = Field(default="per-az", description="One NAT gateway per AZ, or one shared.")


class DeployerSpec(Model):
    """Where `pulumi up` runs and as whom. The API endpoint is private, so the cluster's security
    group admits the deployer on 443, and its role gets an access entry with cluster admin (the
    cluster creator gets none); the Kubernetes provider waits for both."""

    role_arn: str = Field(description="IAM role `pulumi up` runs as (a CI runner's or a bastion's role).")
    cidrs: tuple[str, ...] = Field(default=(), description="Private CIDRs it runs from (inside the VPC, or reaching it through peering/VPN).")
    security_group_id: str | None = Field(default=None, pattern=r"^sg-[0-9a-f]{8,17}$", description="Or: the security group of the runner inside the VPC.")

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, arn: str) -> str:
        return check_role_arns((arn,))[0]

    @model_validator(mode="after")
    def _one_source(self) -> DeployerSpec:
        if bool(self.cidrs) == bool(self.security_group_id):
            raise ValueError("set exactly one of cidrs (where the deployer runs) or security_group_id (its runner's security group)")
        for cidr in self.cidrs:
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError as e:
                raise ValueError(f"cidrs: {cidr!r} is not a CIDR block ({e})") from None
            if not net.is_private:
                raise ValueError(f"cidrs: {cidr} is not private; the API endpoint is reached from inside the VPC (or a peered network)")
        return self


class EksClusterSpec(ClusterSpec):
    private_endpoint: bool = Field(default=True, description="API server reachable from inside the VPC.")
    public_endpoint: bool = Field(default=False, description="API server reachable from the internet (insecure: ask explicitly).")
    public_access_cidrs: tuple[str, ...] = Field(default=(), description="Who may reach a public endpoint; required with it.")
    admin_role_arns: tuple[str, ...] = Field(default=(), description="IAM roles given cluster-admin through EKS access entries.")
    log_retention_days: int = Field(default=365, ge=1, description="Control-plane log retention.")
    deployer: DeployerSpec | None = Field(default=None, description="Where `pulumi up` runs and its role (needed to deploy a private-only cluster).")
    create_service_linked_roles: bool = Field(
        default=True, description="Create the Auto Scaling and EC2 Spot service-linked roles (a fresh account has neither); false where they exist already."
    )

    @field_validator("admin_role_arns")
    @classmethod
    def _role_arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        return check_role_arns(arns)

    @model_validator(mode="after")
    def _endpoints(self) -> EksClusterSpec:
        if not (self.private_endpoint or self.public_endpoint):
            raise ValueError("private_endpoint and public_endpoint are both false: the API server would be unreachable")
        if self.public_endpoint:
            if not self.public_access_cidrs:
                raise ValueError("public_endpoint: true needs public_access_cidrs listing who may reach it")
            for cidr in self.public_access_cidrs:
                if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
                    raise ValueError(f"public_access_cidrs: {cidr} opens the API server to the whole internet")
        return self


class EksGpuPoolSpec(CloudGpuPoolSpec):
    """A managed node group of GPU instances (Karpenter NodePool in Karpenter mode)."""

    instance_types: tuple[str, ...] = Field(min_length=1, description="EC2 instance types, first preferred.")

    @property
    def machine_types(self) -> tuple[str, ...]:
        return self.instance_types


class EksTierSpec(InferenceTierSpec):
    instance_types: tuple[str, ...] = Field(min_length=1, description="EC2 instance types, first preferred.")

    @property
    def machine_types(self) -> tuple[str, ...]:
        return self.instance_types


class AwsStorageSpec(StorageSpec):
    force_destroy: bool = Field(default=False, description="Allow deleting non-empty buckets (never for production).")


class AwsEncryptionSpec(EncryptionSpec):
    deletion_window_days: int = Field(default=30, ge=7, le=30, description="KMS waiting period before a scheduled key deletion.")


class RdsSpec(DatabaseSpec):
    instance_class: str = Field(default="db.r6g.large", description="RDS instance class.")


class ElastiCacheSpec(CacheSpec):
    node_type: str = Field(default="cache.r6g.large", description="ElastiCache node type.")
    engine_version: str = Field(default="7.1")


class AwsDatabasesSpec(DatabasesSpec):
    registry: RdsSpec = Field(default_factory=RdsSpec, description="RDS PostgreSQL for MLflow tracking and registry.")
    online_store: ElastiCacheSpec = Field(default_factory=ElastiCacheSpec, description="ElastiCache Redis for the Feast online store.")


class AccessSpec(Model):
    """IAM roles mapped to the platform's Kubernetes groups through EKS access entries."""

    platform_admin_role_arns: tuple[str, ...] = Field(default=(), description="Roles bound to `platform-admin` (all platform namespaces).")
    ml_engineer_role_arns: tuple[str, ...] = Field(default=(), description="Roles bound to `ml-engineer` (training and team namespaces).")
    auditor_role_arns: tuple[str, ...] = Field(default=(), description="Roles bound to `auditor` (read-only, no secrets).")

    @field_validator(*ACCESS_ROLE_FIELDS)
    @classmethod
    def _role_arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        return check_role_arns(arns)

    @model_validator(mode="after")
    def _one_role_each(self) -> AccessSpec:
        seen: dict[str, str] = {}
        for field in ACCESS_ROLE_FIELDS:
            for arn in getattr(self, field):
                if arn in seen:
                    raise ValueError(f"{field}: {arn} is already listed in {seen[arn]}; an IAM role maps to one group")
                seen[arn] = field
        return self

    def role_groups(self) -> dict[str, str]:
        """IAM role ARN -> the platform role it is bound to (`platform-admin`, `ml-engineer`, `auditor`)."""
        roles = {"platform_admin_role_arns": "platform-admin", "ml_engineer_role_arns": "ml-engineer", "auditor_role_arns": "auditor"}
        return {arn: roles[field] for field in ACCESS_ROLE_FIELDS for arn in getattr(self, field)}


class EksKubernetesSpec(KubernetesSpec):
    autoscaler: Literal["karpenter", "cluster-autoscaler"] = Field(default="karpenter", description="Node autoscaler.")
    access: AccessSpec = Field(default_factory=AccessSpec)


class AwsPlatformSpec(CloudPlatformSpecBase):
    """`cloud: aws`: EKS and the AWS services around it."""

    unknown_key_hints: ClassVar[dict[str, str]] = {
        "storage.replication": "an Azure setting (S3 keeps every object in 3 AZs of the region already); remove it",
    }

    region_cloud: ClassVar[str] = "aws"
    cloud: Literal["aws"] = "aws"
    network: AwsNetworkSpec = Field(default_factory=AwsNetworkSpec)
    cluster: EksClusterSpec = Field(default_factory=EksClusterSpec)
    gpu_pools: tuple[EksGpuPoolSpec, ...] = ()
    inference_tiers: tuple[EksTierSpec, ...] = Field(
        default=(), validate_default=True, description="CPU node groups; at least one (serving and platform pods run there)."
    )
    storage: AwsStorageSpec = Field(default_factory=AwsStorageSpec)
    encryption: AwsEncryptionSpec = Field(default_factory=AwsEncryptionSpec)
    databases: AwsDatabasesSpec = Field(default_factory=AwsDatabasesSpec)
    kubernetes: EksKubernetesSpec = Field(default_factory=EksKubernetesSpec)

    @property
    def availability_zones(self) -> tuple[str, ...]:
        offer = OFFERINGS.get(self.region)
        return offer.availability_zones[: self.network.az_count] if offer else ()

    def problems(self) -> Iterator[str]:
        yield from super().problems()
        region, offer = self.region, OFFERINGS.get(self.region)
        if offer is None:
            yield f"region: {region!r} is not supported by this release for cloud: aws (supported: {sorted(OFFERINGS)})"
            return
        if self.network.az_count > len(offer.availability_zones):
            yield f"network.az_count: {region} has {len(offer.availability_zones)} zones, asked for {self.network.az_count}"
        groups: tuple[tuple[str, tuple[EksGpuPoolSpec | EksTierSpec, ...]], ...] = (("gpu_pools", self.gpu_pools), ("inference_tiers", self.inference_tiers))
        for field, pools in groups:
            for i, pool in enumerate(pools):
                for j, itype in enumerate(pool.instance_types):
                    path = f"{field}[{i}].instance_types[{j}]"
                    if field == "gpu_pools" and itype not in offer.gpu_instance_types:
                        yield f"{path}: {itype!r} is not a GPU type offered in {region}; offered: g5.*, g6.*, p5en.48xlarge (see stacks/offerings.py)"
                    if field == "inference_tiers" and family_of(itype) not in offer.cpu_instance_families:
                        yield f"{path}: {itype!r} is not a CPU family offered in {region}; offered: {sorted(offer.cpu_instance_families)}"
        db = self.databases.registry.instance_class
        if family_of(db) not in offer.db_instance_families:
            yield f"databases.registry.instance_class: {db!r} not offered in {region}; families: {sorted(offer.db_instance_families)}"
        node = self.databases.online_store.node_type
        if family_of(node) not in offer.cache_node_families:
            yield f"databases.online_store.node_type: {node!r} not offered in {region}; families: {sorted(offer.cache_node_families)}"
        for field in ACCESS_ROLE_FIELDS:
            for arn in getattr(self.kubernetes.access, field):
                if arn in self.cluster.admin_role_arns:
                    yield f"kubernetes.access.{field}: {arn} is already a cluster admin (cluster.admin_role_arns); list it once"
