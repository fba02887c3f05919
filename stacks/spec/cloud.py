"""The parts every cloud layer shares, in neutral words: network range, node pools, storage, keys,
the cluster's version and the databases' common settings. Each cloud's own fields and defaults
(instance types or VM sizes, database sizes, endpoints) are declared on its subclasses in
stacks/spec/aws.py and stacks/spec/azure.py."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from components.constants import GPU_TAINT as _GPU_TAINT
from stacks.spec._base import LABEL_KEY, Model, Name


class NetworkSpec(Model):
    """The private range the platform lives in (VPC, VNet; on your own cluster: its pod network)."""

    cidr: str = Field(default="10.40.0.0/16", description="Private IPv4 range (RFC 1918), /16 to /20.")

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


class ZonedNetworkSpec(NetworkSpec):
    """A cloud network spread over the region's availability zones."""

    az_count: int = Field(default=3, ge=2, le=3, description="Availability zones to spread over (2-3).")


class ClusterSpec(Model):
    """The managed cluster, as every cloud takes it."""

    kubernetes_version: str = Field(default="1.33", pattern=r"^1\.(2[89]|3[0-9])$", description="Kubernetes minor version, 1.28-1.39.")


class TaintSpec(Model):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


GPU_TAINT = TaintSpec(**_GPU_TAINT)


class NodePoolSpec(Model):
    """A group of like nodes. Clouds add the machine they run on (`machine_types`)."""

    name: Name = Field(description="Lower-case name, 3-32 characters.")
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[TaintSpec, ...] = ()

    @property
    def machine_types(self) -> tuple[str, ...]:
        """The machine types (EC2 instance types, Azure VM sizes) a node of the pool may be, first
        preferred; none where the nodes are not the platform's (an existing cluster)."""
        return ()

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

    min_size: int = Field(default=0, ge=0)
    taints: tuple[TaintSpec, ...] = (GPU_TAINT,)

    @model_validator(mode="after")
    def _gpu_taint(self) -> GpuNodePoolSpec:
        if not any(t.key == GPU_TAINT.key and t.effect == "NoSchedule" for t in self.taints):
            raise ValueError(f"taints must include {GPU_TAINT.key} (NoSchedule) so CPU pods never take GPU nodes")
        return self


class CloudGpuPoolSpec(GpuNodePoolSpec):
    """A GPU pool the cloud layer creates."""

    capacity: Literal["spot", "on-demand"] = Field(default="spot", description="Spot for training (checkpointed), or on-demand.")
    disk_gib: int = Field(default=100, ge=20, le=16384, description="OS disk size (encrypted with the data key).")


class InferenceTierSpec(NodePoolSpec):
    """A CPU serving tier: on-demand, spread over the zones, never below 2 nodes."""

    min_size: int = Field(default=2, ge=2, description="At least 2 so one zone or node loss keeps serving up.")
    disk_gib: int = Field(default=100, ge=20, le=16384, description="OS disk size (encrypted with the data key).")


class StorageSpec(Model):
    audit_retention_days: int = Field(
        default=2555, ge=365, le=36500, description="Retention of the audit logs under a locked policy (S3 Object Lock compliance, Blob immutability)."
    )
    noncurrent_version_days: int = Field(default=90, ge=1, description="Old object versions kept this long.")
    infrequent_access_days: int = Field(
        default=30, ge=30, description="Move data-lake objects to the infrequent-access tier (S3 Standard-IA, Blob Cool) after."
    )


class EncryptionSpec(Model):
    rotation_days: int = Field(default=365, ge=90, le=2560, description="Automatic rotation period of the customer-managed keys.")


class DatabaseSpec(Model):
    """PostgreSQL for MLflow tracking and registry; each cloud adds its size."""

    allocated_storage_gib: int = Field(default=100, ge=20, le=65536)
    engine_version: str = Field(default="16", pattern=r"^1[4-7](\.\d+)?$", description="PostgreSQL major(.minor), 14-17.")
    multi_az: bool = Field(default=True, description="Standby in another zone (in-region DR).")
    backup_retention_days: int = Field(default=14, ge=1, le=35)


class CacheSpec(Model):
    """Redis for the Feast online store; each cloud adds its size."""

    replicas: int = Field(default=1, ge=0, le=5, description="Read replicas; >= 1 makes it highly available (failover to another zone).")
