"""The cloud half of the spec: network, cluster, node pools, storage, keys, databases."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.constants import GPU_TAINT as _GPU_TAINT
from components.constants import IAM_ROLE_ARN
from stacks.spec._base import LABEL_KEY, Model, Name


class NetworkSpec(Model):
    cidr: str = Field(default="10.40.0.0/16", description="VPC CIDR: private (RFC 1918), /16 to /20.")
    az_count: int = Field(default=3, ge=2, le=3, description="Availability zones to spread over (2-3).")
    nat: Literal["per-az", "single"] = Field(default="per-az", description="One NAT gateway per AZ, or one shared.")

    @field_validator("cidr")
    @classmethod
    def _private_cidr(cls, cidr: str) -> str:
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError as e:
            raise ValueError(f"not a CIDR block ({e}); e.g. 10.40.0.0/16") from None
        if not net.is_private or net.version != 4:
            raise ValueError("must be a private IPv4 range (10/8, 172.16/12, 192.168/16)")
        if not 16 <= net.prefixlen <= 20:
            raise ValueError("prefix must be /16 to /20 to fit 3 AZs x (public, nodes, data) subnets")
        return cidr


def check_role_arns(arns: tuple[str, ...]) -> tuple[str, ...]:
    for arn in arns:
        if not IAM_ROLE_ARN.fullmatch(arn):
            raise ValueError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
    return arns


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


class ClusterSpec(Model):
    kubernetes_version: str = Field(default="1.33", pattern=r"^1\.(2[89]|3[0-9])$", description="EKS version, 1.28-1.39.")
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
    def _endpoints(self) -> ClusterSpec:
        if not (self.private_endpoint or self.public_endpoint):
            raise ValueError("private_endpoint and public_endpoint are both false: the API server would be unreachable")
        if self.public_endpoint:
            if not self.public_access_cidrs:
                raise ValueError("public_endpoint: true needs public_access_cidrs listing who may reach it")
            for cidr in self.public_access_cidrs:
                if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
                    raise ValueError(f"public_access_cidrs: {cidr} opens the API server to the whole internet")
        return self


class TaintSpec(Model):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


GPU_TAINT = TaintSpec(**_GPU_TAINT)


class NodePoolSpec(Model):
    name: Name = Field(description="Lower-case name, 3-32 characters.")
    instance_types: tuple[str, ...] = Field(min_length=1, description="EC2 instance types, first preferred.")
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    disk_gib: int = Field(default=100, ge=20, le=16384, description="Root volume size (encrypted with the data key).")
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[TaintSpec, ...] = ()

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not LABEL_KEY.match(key):
                raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
        return labels

    @model_validator(mode="after")
    def _sizes(self) -> NodePoolSpec:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is greater than max_size ({self.max_size})")
        return self


class GpuNodePoolSpec(NodePoolSpec):
    """A training pool: scales from 0, GPU-tainted so only GPU pods land there."""

    capacity: Literal["spot", "on-demand"] = Field(default="spot", description="Spot for training (checkpointed), or on-demand.")
    min_size: int = Field(default=0, ge=0)
    taints: tuple[TaintSpec, ...] = (GPU_TAINT,)

    @model_validator(mode="after")
    def _gpu_taint(self) -> GpuNodePoolSpec:
        if not any(t.key == GPU_TAINT.key and t.effect == "NoSchedule" for t in self.taints):
            raise ValueError(f"taints must include {GPU_TAINT.key} (NoSchedule) so CPU pods never take GPU nodes")
        return self


class InferenceTierSpec(NodePoolSpec):
    """A CPU serving tier: on-demand, spread over AZs, never below 2 nodes."""

    min_size: int = Field(default=2, ge=2, description="At least 2 so one AZ or node loss keeps serving up.")


class StorageSpec(Model):
    audit_retention_days: int = Field(default=2555, ge=365, le=36500, description="Object Lock (compliance) retention of audit logs.")
    noncurrent_version_days: int = Field(default=90, ge=1, description="Old object versions kept this long.")
    infrequent_access_days: int = Field(default=30, ge=30, description="Move data-lake objects to STANDARD_IA after.")
    force_destroy: bool = Field(default=False, description="Allow deleting non-empty buckets (never for production).")
    replication: Literal["LRS", "ZRS", "GRS", "GZRS"] | None = Field(
        default=None,
        description="Azure storage redundancy; default ZRS where the region has zones, else LRS. GRS/GZRS only from uaenorth (to uaecentral), never for health data.",
    )


class EncryptionSpec(Model):
    rotation_days: int = Field(default=365, ge=90, le=2560, description="KMS automatic rotation period.")
    deletion_window_days: int = Field(default=30, ge=7, le=30)


class DatabaseSpec(Model):
    instance_class: str = Field(default="db.r6g.large")
    allocated_storage_gib: int = Field(default=100, ge=20, le=65536)
    engine_version: str = Field(default="16", pattern=r"^1[4-7](\.\d+)?$", description="PostgreSQL major(.minor), 14-17.")
    multi_az: bool = Field(default=True, description="Standby in another AZ (in-region DR).")
    backup_retention_days: int = Field(default=14, ge=1, le=35)


class CacheSpec(Model):
    node_type: str = Field(default="cache.r6g.large")
    replicas: int = Field(default=1, ge=0, le=5, description="Read replicas; >=1 enables Multi-AZ failover.")
    engine_version: str = Field(default="7.1")


class DatabasesSpec(Model):
    registry: DatabaseSpec = Field(default_factory=DatabaseSpec, description="PostgreSQL for MLflow tracking and registry.")
    online_store: CacheSpec = Field(default_factory=CacheSpec, description="Redis for the Feast online store.")
