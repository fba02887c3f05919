"""What every environment's spec shares, whatever the cloud: name, region and residency, tags, budget,
the network range, the Kubernetes platform layer and the GPU pools (`PlatformSpecBase`), and what the
two clouds share on top (`CloudPlatformSpecBase`: cluster, CPU tiers, storage, keys, databases).

Each cloud's model (stacks/spec/aws.py, azure.py, onprem.py) subclasses one of them, narrows the
field types to its own (its pools, its databases' sizes and their defaults) and adds its rules to
`problems()`. A field declared here is accepted on every cloud; one declared on a cloud's model only
there (`extra="forbid"` refuses it elsewhere, naming the cloud)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from components.constants import ALL_UAE_REGIONS, NOT_UAE, UAE_REGIONS
from stacks.spec._base import Model, Name
from stacks.spec.cloud import (
    CacheSpec,
    ClusterSpec,
    DatabaseSpec,
    EncryptionSpec,
    GpuNodePoolSpec,
    InferenceTierSpec,
    NetworkSpec,
    StorageSpec,
)
from stacks.spec.kubernetes import KubernetesSpec, project_problems

DataClass = Literal["public", "internal", "confidential", "restricted", "health"]

# ICT Health Law (Federal Law 2/2019) Art. 20: health records are kept 25 years.
HEALTH_RETENTION_DAYS = 25 * 365


class ResidencySpec(Model):
    allowed_regions: tuple[str, ...] = Field(default=(), description="Regions data may live in; default: the stack's region.")
    transfer_basis: str | None = Field(
        default=None,
        description="For DIFC/ADGM entities: the recorded basis for transfers to onshore UAE (DIFC DP Law Art. 26-27).",
    )

    @field_validator("allowed_regions")
    @classmethod
    def _only_uae(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        for region in regions:
            if region not in ALL_UAE_REGIONS:
                why = NOT_UAE.get(region, f"{region!r} is not a UAE region")
                raise ValueError(f"{why}; UAE regions are {sorted(ALL_UAE_REGIONS)}")
        return regions


class TagsSpec(Model):
    owner: str = Field(min_length=1, description="Team or mailbox accountable for the environment.")
    cost_center: str = Field(min_length=1, description="Billing code, tagged as `cost-center`.")
    data_classification: DataClass = Field(description="Highest class of data the platform holds.")
    extra: dict[str, str] = Field(default_factory=dict, description="More tags, applied everywhere.")

    def resource_tags(self) -> dict[str, str]:
        """The tag set every taggable resource carries, on every cloud."""
        return {
            "owner": self.owner,
            "cost-center": self.cost_center,
            "data-classification": self.data_classification,
            "managed-by": "sahab",
            **self.extra,
        }


class BudgetSpec(Model):
    """The most the environment may cost a month; `sahab check` fails when the maximum estimate exceeds it."""

    monthly_usd_max: float = Field(gt=0, le=10_000_000, description="Monthly budget in USD (the gate compares the maximum estimate).")


class DatabasesSpec(Model):
    registry: DatabaseSpec = Field(default_factory=DatabaseSpec, description="PostgreSQL for MLflow tracking and registry.")
    online_store: CacheSpec = Field(default_factory=CacheSpec, description="Redis for the Feast online store.")


def region_problem(cloud: str, region: str, allowed: tuple[str, ...]) -> str:
    """Why `region` is refused for `cloud` (the NOT_UAE reason where there is one), with what is allowed."""
    why = NOT_UAE.get(region, f"{region!r} is not a UAE region of {cloud}")
    return f"{why}; allowed for {cloud}: {list(allowed)}"


class PlatformSpecBase(Model):
    """One environment of the platform, as written under `sahab:platform`: the fields every cloud takes."""

    # What `load_spec` says about a key this cloud does not take, or a required block left out, by path
    # (indices written `[]`); keys without one get the generic "unknown key for cloud: ..." line.
    unknown_key_hints: ClassVar[dict[str, str]] = {}
    missing_key_hints: ClassVar[dict[str, str]] = {}

    name: Name = Field(description="Environment name, used in every resource name.")
    region: str
    residency: ResidencySpec = Field(default_factory=ResidencySpec)
    tags: TagsSpec
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    gpu_pools: tuple[GpuNodePoolSpec, ...] = ()
    kubernetes: KubernetesSpec = Field(default_factory=KubernetesSpec)
    budget: BudgetSpec | None = Field(default=None, description="Monthly budget; `sahab check` fails when the maximum estimate exceeds it.")

    @property
    def allowed_regions(self) -> tuple[str, ...]:
        return self.residency.allowed_regions or (self.region,)

    @model_validator(mode="after")
    def _cross_field(self) -> PlatformSpecBase:
        problems = list(self.problems())
        if problems:
            # One line per problem, each already prefixed with its path; load_spec splits them.
            raise ValueError("\n".join(problems))
        return self

    def problems(self) -> Iterator[str]:
        """Rules across fields, one 'path: what is wrong' line each; a cloud's model adds its own."""
        for field in ("gpu_pools", "inference_tiers"):
            seen: set[str] = set()
            for i, pool in enumerate(getattr(self, field, ())):
                if pool.name in seen:
                    yield f"{field}[{i}].name: {pool.name!r} is used twice; pool names must be unique"
                seen.add(pool.name)
        k8s, pools = self.kubernetes, [p.name for p in self.gpu_pools]
        if k8s.training.gpu_pool is not None and k8s.training.gpu_pool not in pools:
            yield f"kubernetes.training.gpu_pool: {k8s.training.gpu_pool!r} is not one of gpu_pools {pools}"
        for i, team in enumerate(k8s.teams):
            if team.gpu_quota and not pools:
                yield f"kubernetes.teams[{i}].gpu_quota: {team.gpu_quota} GPUs asked for but the spec has no gpu_pools"
        yield from project_problems(k8s, pools, self.name)


class CloudPlatformSpecBase(PlatformSpecBase):
    """What the clouds (AWS, Azure) share beyond the base: the cluster they create, its CPU tiers,
    storage, keys and managed databases, a region of theirs in the UAE, and data staying in the
    regions residency allows."""

    region_cloud: ClassVar[str]
    """The cloud's key in components.constants.UAE_REGIONS."""

    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    inference_tiers: tuple[InferenceTierSpec, ...] = Field(
        default=(), validate_default=True, description="CPU node pools; at least one (serving and platform pods run there)."
    )
    storage: StorageSpec = Field(default_factory=StorageSpec)
    encryption: EncryptionSpec = Field(default_factory=EncryptionSpec)
    databases: DatabasesSpec = Field(default_factory=DatabasesSpec)

    @field_validator("region")
    @classmethod
    def _uae_region(cls, region: str) -> str:
        allowed = UAE_REGIONS[cls.region_cloud]
        if region not in allowed:
            raise ValueError(region_problem(cls.region_cloud, region, allowed))
        return region

    @field_validator("inference_tiers")
    @classmethod
    def _at_least_one_tier(cls, tiers: tuple[InferenceTierSpec, ...]) -> tuple[InferenceTierSpec, ...]:
        if not tiers:
            raise ValueError("at least one CPU inference tier is needed (serving and platform pods run there)")
        return tiers

    def problems(self) -> Iterator[str]:
        if self.residency.allowed_regions and self.region not in self.residency.allowed_regions:
            yield f"region: {self.region!r} is outside residency.allowed_regions {list(self.residency.allowed_regions)}"
        yield from super().problems()
        if self.tags.data_classification == "health" and self.storage.audit_retention_days < HEALTH_RETENTION_DAYS:
            yield (
                f"storage.audit_retention_days: {self.storage.audit_retention_days} is below the {HEALTH_RETENTION_DAYS} days "
                "(25 years) the ICT Health Law requires for data_classification 'health'"
            )
