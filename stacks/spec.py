"""The environment spec: the `sahab:platform` stack-config object, validated before anything runs.

`load_spec(raw)` turns the raw config object into a frozen `PlatformSpec` or raises `SpecError`
with one line per bad field: its path (as written in the YAML), the value given, and what is
allowed. Nothing is registered before this passes.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from stacks.offerings import NOT_UAE, OFFERINGS, UAE_REGIONS, family_of

DataClass = Literal["public", "internal", "confidential", "restricted", "health"]
Cloud = Literal["aws", "azure"]

# ICT Health Law (Federal Law 2/2019) Art. 20: health records are kept 25 years.
HEALTH_RETENTION_DAYS = 25 * 365
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")


def _check_name(value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValueError("use 3-32 lower-case letters, digits or '-', starting with a letter (it goes into resource names)")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
_LABEL_KEY = re.compile(r"^([a-z0-9.-]+/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Residency(_Model):
    allowed_regions: tuple[str, ...] = Field(default=(), description="Regions data may live in; default: the stack's region.")
    transfer_basis: str | None = Field(
        default=None,
        description="For DIFC/ADGM entities: the recorded basis for transfers to onshore UAE (DIFC DP Law Art. 26-27).",
    )

    @field_validator("allowed_regions")
    @classmethod
    def _only_uae(cls, regions: tuple[str, ...]) -> tuple[str, ...]:
        uae = {r for rs in UAE_REGIONS.values() for r in rs}
        for region in regions:
            if region not in uae:
                why = NOT_UAE.get(region, f"{region!r} is not a UAE region")
                raise ValueError(f"{why}; UAE regions are {sorted(uae)}")
        return regions


class Tags(_Model):
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


class Network(_Model):
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


class Cluster(_Model):
    kubernetes_version: str = Field(default="1.33", pattern=r"^1\.(2[89]|3[0-9])$", description="EKS version, 1.28-1.39.")
    private_endpoint: bool = Field(default=True, description="API server reachable from inside the VPC.")
    public_endpoint: bool = Field(default=False, description="API server reachable from the internet (insecure: ask explicitly).")
    public_access_cidrs: tuple[str, ...] = Field(default=(), description="Who may reach a public endpoint; required with it.")
    admin_role_arns: tuple[str, ...] = Field(default=(), description="IAM roles given cluster-admin through EKS access entries.")
    log_retention_days: int = Field(default=365, ge=1, description="Control-plane log retention.")

    @field_validator("admin_role_arns")
    @classmethod
    def _role_arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        for arn in arns:
            if not re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+", arn):
                raise ValueError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
        return arns

    @model_validator(mode="after")
    def _endpoints(self) -> Cluster:
        if not (self.private_endpoint or self.public_endpoint):
            raise ValueError("private_endpoint and public_endpoint are both false: the API server would be unreachable")
        if self.public_endpoint:
            if not self.public_access_cidrs:
                raise ValueError("public_endpoint: true needs public_access_cidrs listing who may reach it")
            for cidr in self.public_access_cidrs:
                if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
                    raise ValueError(f"public_access_cidrs: {cidr} opens the API server to the whole internet")
        return self


class Taint(_Model):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = "NoSchedule"


GPU_TAINT = Taint(key="nvidia.com/gpu", value="present", effect="NoSchedule")


class _Pool(_Model):
    name: Name = Field(description="Lower-case name, 3-32 characters.")
    instance_types: tuple[str, ...] = Field(min_length=1, description="EC2 instance types, first preferred.")
    min_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    disk_gib: int = Field(default=100, ge=20, le=16384, description="Root volume size (encrypted with the data key).")
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if not _LABEL_KEY.match(key):
                raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
        return labels

    @model_validator(mode="after")
    def _sizes(self) -> _Pool:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is greater than max_size ({self.max_size})")
        return self


class GpuPool(_Pool):
    """A training pool: scales from 0, GPU-tainted so only GPU pods land there."""

    capacity: Literal["spot", "on-demand"] = Field(default="spot", description="Spot for training (checkpointed), or on-demand.")
    min_size: int = Field(default=0, ge=0)
    taints: tuple[Taint, ...] = (GPU_TAINT,)

    @model_validator(mode="after")
    def _gpu_taint(self) -> GpuPool:
        if not any(t.key == GPU_TAINT.key and t.effect == "NoSchedule" for t in self.taints):
            raise ValueError("taints must include nvidia.com/gpu (NoSchedule) so CPU pods never take GPU nodes")
        return self


class InferenceTier(_Pool):
    """A CPU serving tier: on-demand, spread over AZs, never below 2 nodes."""

    min_size: int = Field(default=2, ge=2, description="At least 2 so one AZ or node loss keeps serving up.")


class Storage(_Model):
    audit_retention_days: int = Field(default=2555, ge=365, le=36500, description="Object Lock (compliance) retention of audit logs.")
    noncurrent_version_days: int = Field(default=90, ge=1, description="Old object versions kept this long.")
    infrequent_access_days: int = Field(default=30, ge=30, description="Move data-lake objects to STANDARD_IA after.")
    force_destroy: bool = Field(default=False, description="Allow deleting non-empty buckets (never for production).")


class Encryption(_Model):
    rotation_days: int = Field(default=365, ge=90, le=2560, description="KMS automatic rotation period.")
    deletion_window_days: int = Field(default=30, ge=7, le=30)


class Database(_Model):
    instance_class: str = Field(default="db.r6g.large")
    allocated_storage_gib: int = Field(default=100, ge=20, le=65536)
    engine_version: str = Field(default="16", pattern=r"^1[4-7](\.\d+)?$", description="PostgreSQL major(.minor), 14-17.")
    multi_az: bool = Field(default=True, description="Standby in another AZ (in-region DR).")
    backup_retention_days: int = Field(default=14, ge=1, le=35)


class Cache(_Model):
    node_type: str = Field(default="cache.r6g.large")
    replicas: int = Field(default=1, ge=0, le=5, description="Read replicas; >=1 enables Multi-AZ failover.")
    engine_version: str = Field(default="7.1")


class Databases(_Model):
    registry: Database = Field(default_factory=Database, description="PostgreSQL for MLflow tracking and registry.")
    online_store: Cache = Field(default_factory=Cache, description="Redis for the Feast online store.")


# --- Kubernetes platform layer (components/kubernetes, wired by stacks/kubernetes.py) -------------
_ROLE_ARN = re.compile(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_CRON = re.compile(r"^(\S+\s+){4}\S+$")


def _check_cron(value: str) -> str:
    if not _CRON.match(value.strip()):
        raise ValueError("use a 5-field cron expression, e.g. '0 * * * *'")
    return value


Cron = Annotated[str, AfterValidator(_check_cron)]


class Team(_Model):
    """A team: its own namespace `sahab-team-<name>` with quotas; ML engineers may run jobs there."""

    name: Name = Field(description="Team name, 3-32 lower-case characters (names the namespace).")
    gpu_quota: int = Field(default=0, ge=0, le=1024, description="GPUs (nvidia.com/gpu) the team may request at once.")
    cpu_quota: int = Field(default=32, ge=1, le=4096, description="CPU cores the team may request at once.")
    memory_quota_gib: int = Field(default=128, ge=1, le=65536, description="Memory (GiB) the team may request at once.")


class Access(_Model):
    """IAM roles mapped to the platform's Kubernetes groups through EKS access entries."""

    platform_admin_role_arns: tuple[str, ...] = Field(default=(), description="Roles bound to `platform-admin` (all platform namespaces).")
    ml_engineer_role_arns: tuple[str, ...] = Field(default=(), description="Roles bound to `ml-engineer` (training and team namespaces).")
    auditor_role_arns: tuple[str, ...] = Field(default=(), description="Roles bound to `auditor` (read-only, no secrets).")

    @field_validator("platform_admin_role_arns", "ml_engineer_role_arns", "auditor_role_arns")
    @classmethod
    def _role_arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        for arn in arns:
            if not _ROLE_ARN.fullmatch(arn):
                raise ValueError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)")
        return arns

    @model_validator(mode="after")
    def _one_role_each(self) -> Access:
        seen: dict[str, str] = {}
        for field in ("platform_admin_role_arns", "ml_engineer_role_arns", "auditor_role_arns"):
            for arn in getattr(self, field):
                if arn in seen:
                    raise ValueError(f"{field}: {arn} is already listed in {seen[arn]}; an IAM role maps to one group")
                seen[arn] = field
        return self


class Serving(_Model):
    """The BentoML serving tier: one Deployment per variant, traffic split by `challenger_weight`."""

    replicas: int = Field(default=3, ge=2, le=100, description="Pods of both variants together at rest (HPA minimum).")
    max_replicas: int = Field(default=12, ge=2, le=500, description="Pods of both variants together at peak (HPA maximum).")
    challenger_weight: float = Field(default=0.1, ge=0.0, le=0.5, description="Share of traffic to the challenger (0-0.5).")
    load_balancer: Literal["internal", "internet-facing"] = Field(default="internal", description="Load balancer scheme; internal unless asked.")
    allow_public: bool = Field(default=False, description="Must be true for an internet-facing load balancer (explicit opt-in).")
    public_source_cidrs: tuple[str, ...] = Field(default=(), description="Who may reach a public load balancer; required with it.")

    @model_validator(mode="after")
    def _exposure(self) -> Serving:
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


class Training(_Model):
    gpu_pool: str | None = Field(default=None, description="GPU pool (gpu_pools[].name) training runs on; default: the first.")
    gpus: int = Field(default=1, ge=1, le=8, description="GPUs per training Job (one node; DeepSpeed launcher when > 1).")
    checkpoint_grace_seconds: int = Field(
        default=110, ge=30, le=115, description="Time to checkpoint after SIGTERM; under the 2-minute spot notice."
    )


class Monitoring(_Model):
    retention_days: int = Field(default=15, ge=1, le=365, description="Prometheus retention.")
    prometheus_storage_gib: int = Field(default=100, ge=10, le=16384, description="Encrypted volume per Prometheus replica.")
    alertmanager_storage_gib: int = Field(default=10, ge=1, le=1024)
    grafana_storage_gib: int = Field(default=10, ge=1, le=1024)
    drift_schedule: Cron = Field(default="0 * * * *", description="Cron schedule of the drift job.")
    materialize_schedule: Cron = Field(default="*/30 * * * *", description="Cron schedule of Feast materialization.")


class KubernetesLayer(_Model):
    """The platform layer on the cluster: tenancy, GPUs, autoscaling, monitoring, MLflow, Feast, jobs, serving."""

    release: str = Field(default="0.1.0", description="Immutable tag of the workload images (sahab/<workload>:<release>); never `latest`.")
    autoscaler: Literal["karpenter", "cluster-autoscaler"] = Field(default="karpenter", description="Node autoscaler.")
    teams: tuple[Team, ...] = Field(default=(), description="Teams, each with a namespace and quotas.")
    access: Access = Field(default_factory=Access)
    serving: Serving = Field(default_factory=Serving)
    training: Training = Field(default_factory=Training)
    monitoring: Monitoring = Field(default_factory=Monitoring)

    @field_validator("release")
    @classmethod
    def _pinned(cls, tag: str) -> str:
        if not _IMAGE_TAG.match(tag) or tag == "latest":
            raise ValueError("use an immutable image tag such as '0.1.0' (ECR repositories are IMMUTABLE; 'latest' is refused)")
        return tag

    @field_validator("teams")
    @classmethod
    def _unique_teams(cls, teams: tuple[Team, ...]) -> tuple[Team, ...]:
        names = [t.name for t in teams]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"team names must be unique; repeated: {dup}")
        return teams


def _kubernetes_problems(spec: PlatformSpec):
    """Rules of the Kubernetes layer that depend on the rest of the spec."""
    k8s, pools = spec.kubernetes, [p.name for p in spec.gpu_pools]
    if k8s.training.gpu_pool is not None and k8s.training.gpu_pool not in pools:
        yield f"kubernetes.training.gpu_pool: {k8s.training.gpu_pool!r} is not one of gpu_pools {pools}"
    for i, team in enumerate(k8s.teams):
        if team.gpu_quota and not pools:
            yield f"kubernetes.teams[{i}].gpu_quota: {team.gpu_quota} GPUs asked for but the spec has no gpu_pools"
    for field in ("platform_admin_role_arns", "ml_engineer_role_arns", "auditor_role_arns"):
        for arn in getattr(k8s.access, field):
            if arn in spec.cluster.admin_role_arns:
                yield f"kubernetes.access.{field}: {arn} is already a cluster admin (cluster.admin_role_arns); list it once"
# --- end of the Kubernetes platform layer ----------------------------------------------------------


class PlatformSpec(_Model):
    """One environment of the platform, as written under `sahab:platform`."""

    name: Name = Field(description="Environment name, used in every resource name.")
    cloud: Cloud = "aws"
    region: str
    residency: Residency = Field(default_factory=Residency)
    tags: Tags
    network: Network = Field(default_factory=Network)
    cluster: Cluster = Field(default_factory=Cluster)
    gpu_pools: tuple[GpuPool, ...] = ()
    inference_tiers: tuple[InferenceTier, ...] = Field(description="CPU node groups; at least one (serving).")
    storage: Storage = Field(default_factory=Storage)
    encryption: Encryption = Field(default_factory=Encryption)
    databases: Databases = Field(default_factory=Databases)
    kubernetes: KubernetesLayer = Field(default_factory=KubernetesLayer)

    @field_validator("region")
    @classmethod
    def _uae_region(cls, region: str, info: ValidationInfo) -> str:
        cloud = info.data.get("cloud", "aws")
        allowed = UAE_REGIONS.get(cloud, ())
        if region not in allowed:
            why = NOT_UAE.get(region, f"{region!r} is not a UAE region of {cloud}")
            raise ValueError(f"{why}; allowed for {cloud}: {list(allowed)}")
        return region

    @field_validator("inference_tiers")
    @classmethod
    def _at_least_one_tier(cls, tiers: tuple[InferenceTier, ...]) -> tuple[InferenceTier, ...]:
        if not tiers:
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
        return OFFERINGS[self.region].availability_zones[: self.network.az_count]


def _cross_field_problems(spec: PlatformSpec):
    region = spec.region
    if spec.residency.allowed_regions and region not in spec.residency.allowed_regions:
        yield f"region: {region!r} is outside residency.allowed_regions {list(spec.residency.allowed_regions)}"
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
                    yield (
                        f"{path}: {itype!r} is not a GPU type offered in {region}; "
                        f"offered: g5.*, g6.*, p5en.48xlarge (see stacks/offerings.py)"
                    )
                if field == "inference_tiers" and family_of(itype) not in offer.cpu_instance_families:
                    yield f"{path}: {itype!r} is not a CPU family offered in {region}; offered: {sorted(offer.cpu_instance_families)}"
    db = spec.databases.registry.instance_class
    if family_of(db) not in offer.db_instance_families:
        yield f"databases.registry.instance_class: {db!r} not offered in {region}; families: {sorted(offer.db_instance_families)}"
    node = spec.databases.online_store.node_type
    if family_of(node) not in offer.cache_node_families:
        yield f"databases.online_store.node_type: {node!r} not offered in {region}; families: {sorted(offer.cache_node_families)}"
    if spec.tags.data_classification == "health" and spec.storage.audit_retention_days < HEALTH_RETENTION_DAYS:
        yield (
            f"storage.audit_retention_days: {spec.storage.audit_retention_days} is below the {HEALTH_RETENTION_DAYS} days "
            "(25 years) the ICT Health Law requires for data_classification 'health'"
        )
    yield from _kubernetes_problems(spec)


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
        elif str(part).startswith("function-") or part in ("tagged-union",):
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
                problems.append(f"{path}: unknown key; check the spelling (allowed keys are in stacks/spec.py)")
                continue
            shown = err.get("input")
            value = "" if isinstance(shown, dict) or err["type"] == "missing" else f" (got {shown!r})"
            problems.append(f"{path or '<root>'}: {msg}{value}")
        raise SpecError(problems, source) from None
