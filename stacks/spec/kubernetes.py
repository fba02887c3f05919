"""The Kubernetes half of the spec: the platform layer (components/kubernetes, wired by stacks/kubernetes.py)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from stacks.spec._base import Model, Name
from stacks.spec.cloud import check_role_arns

if TYPE_CHECKING:
    from stacks.spec.platform import PlatformSpec

ACCESS_ROLE_FIELDS = ("platform_admin_role_arns", "ml_engineer_role_arns", "auditor_role_arns")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_CRON = re.compile(r"^(\S+\s+){4}\S+$")


def _check_cron(value: str) -> str:
    if not _CRON.match(value.strip()):
        raise ValueError("use a 5-field cron expression, e.g. '0 * * * *'")
    return value


Cron = Annotated[str, AfterValidator(_check_cron)]


class TeamSpec(Model):
    """A team: its own namespace `sahab-team-<name>` with quotas; ML engineers may run jobs there."""

    name: Name = Field(description="Team name, 3-32 lower-case characters (names the namespace).")
    gpu_quota: int = Field(default=0, ge=0, le=1024, description="GPUs (nvidia.com/gpu) the team may request at once.")
    cpu_quota: int = Field(default=32, ge=1, le=4096, description="CPU cores the team may request at once.")
    memory_quota_gib: int = Field(default=128, ge=1, le=65536, description="Memory (GiB) the team may request at once.")


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


class ServingSpec(Model):
    """The BentoML serving tier: one Deployment per variant, traffic split by `challenger_weight`."""

    replicas: int = Field(default=3, ge=2, le=100, description="Pods of both variants together at rest (HPA minimum).")
    max_replicas: int = Field(default=12, ge=2, le=500, description="Pods of both variants together at peak (HPA maximum).")
    challenger_weight: float = Field(default=0.1, ge=0.0, le=0.5, description="Share of traffic to the challenger (0-0.5).")
    load_balancer: Literal["internal", "internet-facing"] = Field(default="internal", description="Load balancer scheme; internal unless asked.")
    allow_public: bool = Field(default=False, description="Must be true for an internet-facing load balancer (explicit opt-in).")
    public_source_cidrs: tuple[str, ...] = Field(default=(), description="Who may reach a public load balancer; required with it.")

    @model_validator(mode="after")
    def _exposure(self) -> ServingSpec:
        if self.max_replicas < self.replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) is below replicas ({self.replicas})")
        if self.load_balancer == "internet-facing":
            if not self.allow_public:
                raise ValueError("load_balancer: 'internet-facing' exposes the models to the internet; set allow_public: true to ask for it explicitly")
            if not self.public_source_cidrs:
                raise ValueError("public_source_cidrs: an internet-facing load balancer needs the CIDRs allowed to reach it")
            for cidr in self.public_source_cidrs:
                try:
                    net = ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise ValueError(f"public_source_cidrs: {cidr!r} is not a CIDR block") from None
                if net.prefixlen == 0:
                    raise ValueError(f"public_source_cidrs: {cidr} opens serving to the whole internet")
        elif self.allow_public or self.public_source_cidrs:
            raise ValueError("allow_public/public_source_cidrs: only meaningful with load_balancer: internet-facing")
        return self


class TrainingSpec(Model):
    gpu_pool: str | None = Field(default=None, description="GPU pool (gpu_pools[].name) training runs on; default: the first.")
    gpus: int = Field(default=1, ge=1, le=8, description="GPUs per training Job (one node; DeepSpeed launcher when > 1).")
    checkpoint_grace_seconds: int = Field(default=110, ge=30, le=115, description="Time to checkpoint after SIGTERM; under the 2-minute spot notice.")


class MonitoringSpec(Model):
    retention_days: int = Field(default=15, ge=1, le=365, description="Prometheus retention.")
    prometheus_storage_gib: int = Field(default=100, ge=10, le=16384, description="Encrypted volume per Prometheus replica.")
    alertmanager_storage_gib: int = Field(default=10, ge=1, le=1024)
    grafana_storage_gib: int = Field(default=10, ge=1, le=1024)
    drift_schedule: Cron = Field(default="0 * * * *", description="Cron schedule of the drift job.")
    materialize_schedule: Cron = Field(default="*/30 * * * *", description="Cron schedule of Feast materialization.")


class KubernetesSpec(Model):
    """The platform layer on the cluster: tenancy, GPUs, autoscaling, monitoring, MLflow, Feast, jobs, serving."""

    release: str = Field(default="0.1.0", description="Immutable tag of the workload images (sahab/<workload>:<release>); never `latest`.")
    autoscaler: Literal["karpenter", "cluster-autoscaler"] = Field(default="karpenter", description="Node autoscaler.")
    teams: tuple[TeamSpec, ...] = Field(default=(), description="Teams, each with a namespace and quotas.")
    access: AccessSpec = Field(default_factory=AccessSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)

    @field_validator("release")
    @classmethod
    def _pinned(cls, tag: str) -> str:
        if not _IMAGE_TAG.match(tag) or tag == "latest":
            raise ValueError("use an immutable image tag such as '0.1.0' (ECR repositories are IMMUTABLE; 'latest' is refused)")
        return tag

    @field_validator("teams")
    @classmethod
    def _unique_teams(cls, teams: tuple[TeamSpec, ...]) -> tuple[TeamSpec, ...]:
        names = [t.name for t in teams]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"team names must be unique; repeated: {dup}")
        return teams


def iam_role_fields(spec: PlatformSpec) -> Iterator[str]:
    """Paths of the IAM-role fields the spec sets (only EKS maps IAM roles to the cluster)."""
    for field in ACCESS_ROLE_FIELDS:
        if getattr(spec.kubernetes.access, field):
            yield f"kubernetes.access.{field}"
    if spec.cluster.admin_role_arns:
        yield "cluster.admin_role_arns"


def kubernetes_problems(spec: PlatformSpec) -> Iterator[str]:
    """Rules of the Kubernetes layer that depend on the rest of the spec."""
    k8s, pools = spec.kubernetes, [p.name for p in spec.gpu_pools]
    if k8s.training.gpu_pool is not None and k8s.training.gpu_pool not in pools:
        yield f"kubernetes.training.gpu_pool: {k8s.training.gpu_pool!r} is not one of gpu_pools {pools}"
    for i, team in enumerate(k8s.teams):
        if team.gpu_quota and not pools:
            yield f"kubernetes.teams[{i}].gpu_quota: {team.gpu_quota} GPUs asked for but the spec has no gpu_pools"
    for field in ACCESS_ROLE_FIELDS:
        for arn in getattr(k8s.access, field):
            if arn in spec.cluster.admin_role_arns:
                yield f"kubernetes.access.{field}: {arn} is already a cluster admin (cluster.admin_role_arns); list it once"
