"""The environment spec: the `sahab:platform` stack-config object, validated before anything runs.

`load_spec(raw)` turns the raw config object into a frozen `PlatformSpec` or raises `SpecError`
with one line per bad field: its path (as written in the YAML), the value given, and what is
allowed. Nothing is registered before this passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from components.constants import ALL_UAE_REGIONS, NOT_UAE, UAE_REGIONS
from stacks.azure_offerings import AZURE_REGIONS
from stacks.offerings import OFFERINGS, family_of
from stacks.spec._base import Model, Name
from stacks.spec.azure import AzureSpec, azure_problems, with_azure_defaults
from stacks.spec.cloud import ClusterSpec, DatabasesSpec, EncryptionSpec, GpuNodePoolSpec, InferenceTierSpec, NetworkSpec, StorageSpec
from stacks.spec.kubernetes import ACCESS_ROLE_FIELDS, KubernetesSpec, kubernetes_problems
from stacks.spec.onprem import ON_PREMISES, BudgetSpec, OnPremSpec

DataClass = Literal["public", "internal", "confidential", "restricted", "health"]
Cloud = Literal["aws", "azure", "kubernetes"]  # kubernetes: an existing cluster (stacks/onprem.py)

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

    def as_aws(self) -> dict[str, str]:
        """The tag set every taggable resource carries."""
        return {
            "owner": self.owner,
            "cost-center": self.cost_center,
            "data-classification": self.data_classification,
            "managed-by": "sahab",
            **self.extra,
        }


class PlatformSpec(Model):
    """One environment of the platform, as written under `sahab:platform`."""

    name: Name = Field(description="Environment name, used in every resource name.")
    cloud: Cloud = "aws"
    region: str
    residency: ResidencySpec = Field(default_factory=ResidencySpec)
    tags: TagsSpec
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)
    gpu_pools: tuple[GpuNodePoolSpec, ...] = ()
    inference_tiers: tuple[InferenceTierSpec, ...] = Field(
        default=(), validate_default=True, description="CPU node groups; at least one (serving), none for cloud: kubernetes (its nodes exist)."
    )
    storage: StorageSpec = Field(default_factory=StorageSpec)
    encryption: EncryptionSpec = Field(default_factory=EncryptionSpec)
    databases: DatabasesSpec = Field(default_factory=DatabasesSpec)
    kubernetes: KubernetesSpec = Field(default_factory=KubernetesSpec)
    onprem: OnPremSpec | None = Field(default=None, description="The existing cluster of `cloud: kubernetes` (required with it, refused without).")
    budget: BudgetSpec | None = Field(default=None, description="Monthly budget; `sahab check` fails when the maximum estimate exceeds it.")
    azure: AzureSpec | None = Field(
        default=None, description="What only `cloud: azure` takes (Entra ID admin groups, restricted-region access); required with it."
    )

    @model_validator(mode="before")
    @classmethod
    def _cloud_defaults(cls, raw: Any) -> Any:
        return with_azure_defaults(raw)

    @field_validator("region")
    @classmethod
    def _uae_region(cls, region: str, info: ValidationInfo) -> str:
        cloud = info.data.get("cloud", "aws")
        allowed = (ON_PREMISES,) if cloud == "kubernetes" else UAE_REGIONS.get(cloud, ())
        if region not in allowed:
            why = NOT_UAE.get(region, f"{region!r} is not a UAE region of {cloud}")
            if cloud == "kubernetes":
                why = f"cloud: kubernetes runs on the customer's own cluster, not in a cloud region (got {region!r})"
            raise ValueError(f"{why}; allowed for {cloud}: {list(allowed)}")
        return region

    @field_validator("inference_tiers")
    @classmethod
    def _at_least_one_tier(cls, tiers: tuple[InferenceTierSpec, ...], info: ValidationInfo) -> tuple[InferenceTierSpec, ...]:
        if not tiers and info.data.get("cloud") != "kubernetes":  # an existing cluster brings its own nodes
            raise ValueError("at least one CPU inference tier is needed (serving and platform pods run there)")
        return tiers

    @model_validator(mode="after")
    def _cross_field(self) -> PlatformSpec:
        problems = list(_cross_field_problems(self))
        if problems:
            # One line per problem, each already prefixed with its path; load_spec splits them.
            raise ValueError("\n".join(problems))
        return self

    @property
    def allowed_regions(self) -> tuple[str, ...]:
        return self.residency.allowed_regions or (self.region,)

    @property
    def availability_zones(self) -> tuple[str, ...]:
        if self.cloud == "azure":
            return AZURE_REGIONS[self.region].zones[: self.network.az_count]
        offer = OFFERINGS.get(self.region)
        return offer.availability_zones[: self.network.az_count] if offer else ()


def _onprem_problems(spec: PlatformSpec) -> Iterator[str]:
    """Rules of `cloud: kubernetes`: the cluster is described, nothing cloud-only is asked for."""
    onprem = spec.onprem
    if onprem is None:
        yield "onprem: cloud: kubernetes needs `onprem:` (kubeconfig, storage_class, registry_host; see environments/smb-onprem)"
        return
    if spec.gpu_pools and onprem.minimum.gpus == 0:
        yield "onprem.minimum.gpus: gpu_pools lists GPU nodes but the minimum hardware has 0 GPUs; set the GPUs the node advertises"
    if spec.kubernetes.autoscaler == "karpenter" and "autoscaler" in spec.kubernetes.model_fields_set:
        yield "kubernetes.autoscaler: an existing cluster's nodes are the customer's; Karpenter needs AWS (leave autoscaler unset)"
    access = spec.kubernetes.access
    for field in ACCESS_ROLE_FIELDS:
        if getattr(access, field):
            yield f"kubernetes.access.{field}: IAM roles map to groups through EKS access entries; on your own cluster bind your users to the groups sahab:platform-admins / sahab:ml-engineers / sahab:auditors in its own authentication (client certificates, OIDC) instead"
    if spec.cluster.admin_role_arns:
        yield "cluster.admin_role_arns: IAM roles mean nothing to your own cluster; remove them (cluster admins are whoever holds the kubeconfig)"
    yield from kubernetes_problems(spec)


def _cross_field_problems(spec: PlatformSpec) -> Iterator[str]:
    if spec.cloud == "kubernetes":
        yield from _onprem_problems(spec)
        return
    if spec.onprem is not None:
        yield f"onprem: only meaningful with cloud: kubernetes (this environment is cloud: {spec.cloud}); remove it"
    region = spec.region
    if spec.residency.allowed_regions and region not in spec.residency.allowed_regions:
        yield f"region: {region!r} is outside residency.allowed_regions {list(spec.residency.allowed_regions)}"
    if spec.cloud == "azure":
        yield from azure_problems(spec)
        yield from _retention_problems(spec)
        yield from kubernetes_problems(spec)
        return
    if spec.azure is not None:
        yield f"azure: only meaningful with cloud: azure (this environment is cloud: {spec.cloud}); remove it"
    if spec.storage.replication is not None:
        yield f"storage.replication: an Azure setting (S3 keeps objects in 3 AZs of {region} already); remove it"
    offer = OFFERINGS.get(region)
    if offer is None:
        yield f"cloud: {spec.cloud} in {region!r} is not supported by this release (supported: {sorted(OFFERINGS)})"
        return
    if spec.network.az_count > len(offer.availability_zones):
        yield f"network.az_count: {region} has {len(offer.availability_zones)} zones, asked for {spec.network.az_count}"
    for field, pools in (("gpu_pools", spec.gpu_pools), ("inference_tiers", spec.inference_tiers)):
        seen: set[str] = set()
        for i, pool in enumerate(pools):
            if pool.name in seen:
                yield f"{field}[{i}].name: {pool.name!r} is used twice; pool names must be unique"
            seen.add(pool.name)
            for j, itype in enumerate(pool.instance_types):
                path = f"{field}[{i}].instance_types[{j}]"
                if field == "gpu_pools" and itype not in offer.gpu_instance_types:
                    yield (f"{path}: {itype!r} is not a GPU type offered in {region}; offered: g5.*, g6.*, p5en.48xlarge (see stacks/offerings.py)")
                if field == "inference_tiers" and family_of(itype) not in offer.cpu_instance_families:
                    yield f"{path}: {itype!r} is not a CPU family offered in {region}; offered: {sorted(offer.cpu_instance_families)}"
    db = spec.databases.registry.instance_class
    if family_of(db) not in offer.db_instance_families:
        yield f"databases.registry.instance_class: {db!r} not offered in {region}; families: {sorted(offer.db_instance_families)}"
    node = spec.databases.online_store.node_type
    if family_of(node) not in offer.cache_node_families:
        yield f"databases.online_store.node_type: {node!r} not offered in {region}; families: {sorted(offer.cache_node_families)}"
    yield from _retention_problems(spec)
    yield from kubernetes_problems(spec)


def _retention_problems(spec: PlatformSpec) -> Iterator[str]:
    if spec.tags.data_classification == "health" and spec.storage.audit_retention_days < HEALTH_RETENTION_DAYS:
        yield (
            f"storage.audit_retention_days: {spec.storage.audit_retention_days} is below the {HEALTH_RETENTION_DAYS} days "
            "(25 years) the ICT Health Law requires for data_classification 'health'"
        )


class SpecError(ValueError):
    """A spec that cannot be deployed: `problems` holds one 'path: value: what is allowed' line each."""

    def __init__(self, problems: list[str], source: str = "sahab:platform"):
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is invalid ({len(problems)} problem{'s' * (len(problems) != 1)}):\n{lines}")


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-") or part in ("tagged-union", "[key]"):  # "[key]": the mapping key itself is bad
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def load_spec(raw: Any, source: str = "sahab:platform") -> PlatformSpec:
    """Validate the raw config object; raise `SpecError` naming every bad field."""
    if not isinstance(raw, dict):
        raise SpecError([f"expected an object (mapping) of platform settings, got {type(raw).__name__}"], source)
    try:
        return PlatformSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _path(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "value_error" and not err["loc"]:
                problems.extend(msg.splitlines())  # cross-field lines carry their own paths
                continue
            if err["type"] == "extra_forbidden":
                problems.append(f"{path}: unknown key; check the spelling (allowed keys are in stacks/spec/)")
                continue
            shown = err.get("input")
            value = "" if isinstance(shown, dict) or err["type"] == "missing" else f" (got {shown!r})"
            problems.append(f"{path or '<root>'}: {msg}{value}")
        raise SpecError(problems, source) from None
