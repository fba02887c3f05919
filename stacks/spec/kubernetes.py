"""The Kubernetes half of the spec: the platform layer (components/kubernetes, wired by stacks/kubernetes.py),
the same on every cloud."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from stacks.spec._base import Model, Name

if TYPE_CHECKING:
    from workloads.project import Project

REPOSITORY = Path(__file__).resolve().parents[2]
"""The repository root: a project's `path` is relative to it (as the workload images lay it out)."""
PROJECTS_DIR = "projects"
# The longest name derived from a project: its monitoring identity's IAM role `<env>-identity-<project>-monitoring`,
# to which Pulumi's autonaming adds `-` and 7 hex digits; IAM role names hold 64 characters.
_ROLE_NAME_ROOM = 64 - 8

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


class ServingSpec(Model):
    """How the serving tier is reached, for every project: each project's Deployment sits behind its own
    load balancer of this scheme (replicas and resources come from the project, see `ProjectBinding`)."""

    load_balancer: Literal["internal", "internet-facing"] = Field(default="internal", description="Load balancer scheme; internal unless asked.")
    allow_public: bool = Field(default=False, description="Must be true for an internet-facing load balancer (explicit opt-in).")
    public_source_cidrs: tuple[str, ...] = Field(default=(), description="Who may reach a public load balancer; required with it.")

    @model_validator(mode="after")
    def _exposure(self) -> ServingSpec:
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
    gpu_pool: str | None = Field(
        default=None, description="GPU pool (gpu_pools[].name) of the projects that train on GPUs without naming one; default: the first."
    )
    checkpoint_grace_seconds: int = Field(default=110, ge=30, le=115, description="Time to checkpoint after SIGTERM; under the 2-minute spot notice.")


class MonitoringSpec(Model):
    retention_days: int = Field(default=15, ge=1, le=365, description="Prometheus retention.")
    prometheus_storage_gib: int = Field(default=100, ge=10, le=16384, description="Encrypted volume per Prometheus replica.")
    alertmanager_storage_gib: int = Field(default=10, ge=1, le=1024)
    grafana_storage_gib: int = Field(default=10, ge=1, le=1024)
    materialize_schedule: Cron = Field(default="*/30 * * * *", description="Cron schedule of Feast materialization.")


class ProjectServingOverrides(Model):
    """What an environment changes of a project's `serving:` and `experiment:` (its capacity and its A/B share here)."""

    replicas: int | None = Field(default=None, ge=2, le=100, description="Pods at rest (HPA minimum); default: the project's serving.replicas.")
    max_replicas: int | None = Field(default=None, ge=2, le=500, description="Pods at peak (HPA maximum); default: the project's serving.max_replicas.")
    challenger_weight: float | None = Field(
        default=None,
        ge=0.0,
        le=0.5,
        description="Share of keys routed to the challenger here (0: A/B off); default: the project's experiment.challenger_weight.",
    )
    cpu: float | None = Field(default=None, ge=1, le=64, description="CPU cores per serving pod here; default: the project's serving.resources.cpu.")
    memory_gib: float | None = Field(
        default=None, ge=1, le=512, description="Memory (GiB) per serving pod here; default: the project's serving.resources.memory_gib."
    )


class ProjectTrainingOverrides(Model):
    """Where an environment trains a project: GPU pool names differ between environments, and a cluster without GPUs trains on CPUs."""

    node_pool: str | None = Field(
        default=None,
        description="GPU pool (gpu_pools[].name) of the retrain Job; default: the project's training.node_pool, else kubernetes.training.gpu_pool.",
    )
    gpus: int | None = Field(
        default=None,
        ge=0,
        le=8,
        description="GPUs per retrain Job (0: CPU nodes; > 1: the DeepSpeed launcher); default: the project's training.resources.gpus.",
    )


class ProjectBinding(Model):
    """A model project deployed in this environment (`projects/<name>/project.yaml`), bound to a team."""

    name: Name = Field(description="The project's name (its `name:` in project.yaml); prefixes its Kubernetes objects, identities and storage prefixes.")
    team: Name | None = Field(default=None, description="Owning team here (one of kubernetes.teams); default: the project's `team:`.")
    path: str | None = Field(
        default=None, description="The project folder, relative to the repository root (as the workload images ship it); default: projects/<name>."
    )
    serving: ProjectServingOverrides = Field(default_factory=ProjectServingOverrides)
    training: ProjectTrainingOverrides = Field(default_factory=ProjectTrainingOverrides)

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str | None) -> str | None:
        if path is None:
            return None
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts:
            raise ValueError("give the folder relative to the repository root, inside it (the images ship the repository's projects/ folder)")
        return str(pure)

    @property
    def folder(self) -> str:
        """The project folder as the workloads name it (SAHAB_PROJECT): relative to the repository root."""
        return self.path or f"{PROJECTS_DIR}/{self.name}"

    def load(self) -> Project:
        """The validated project (ProjectError naming the file and every bad field)."""
        return _load(str(REPOSITORY / self.folder))


@lru_cache(maxsize=64)
def _load(folder: str) -> Project:
    from workloads.project import load_project

    return load_project(folder)


@dataclass(frozen=True)
class DeployedProject:
    """A project as this environment deploys it: the project's own settings with the binding's overrides applied."""

    name: str
    team: str
    folder: str
    """SAHAB_PROJECT of its pods (relative to the image's working directory, which holds the repository layout)."""
    project: Project
    replicas: int
    max_replicas: int
    challenger_weight: float
    serving_cpu: float
    serving_memory_gib: float
    training_gpus: int
    training_pool: str | None
    """The GPU pool (gpu_pools[].name) of the retrain Job; None: CPU nodes."""
    training_cpu: float
    training_memory_gib: float


def deploy(binding: ProjectBinding, gpu_pools: Sequence[str], default_pool: str | None) -> DeployedProject:
    """`binding` resolved against its project and the environment's GPU pools (validated: `project_problems` passed)."""
    project = binding.load()
    spec = project.spec
    gpus = binding.training.gpus if binding.training.gpus is not None else spec.training.resources.gpus
    pool = (binding.training.node_pool or spec.training.node_pool or default_pool or (gpu_pools[0] if gpu_pools else None)) if gpus else None
    return DeployedProject(
        name=spec.name,
        team=binding.team or spec.team,
        folder=binding.folder,
        project=project,
        replicas=binding.serving.replicas or spec.serving.replicas,
        max_replicas=binding.serving.max_replicas or spec.serving.max_replicas,
        challenger_weight=spec.experiment.challenger_weight if binding.serving.challenger_weight is None else binding.serving.challenger_weight,
        serving_cpu=binding.serving.cpu or spec.serving.resources.cpu,
        serving_memory_gib=binding.serving.memory_gib or spec.serving.resources.memory_gib,
        training_gpus=gpus,
        training_pool=pool,
        training_cpu=spec.training.resources.cpu,
        training_memory_gib=spec.training.resources.memory_gib,
    )


def project_problems(k8s: KubernetesSpec, gpu_pools: Sequence[str], environment: str) -> Iterator[str]:
    """Rules of `kubernetes.projects` across the spec, one 'path: what is wrong' line each: the folder holds a
    valid project of that name, the team exists, the GPU pool it trains on exists, the serving pods survive a
    node loss, and the names derived from it fit the clouds' limits."""
    from workloads.project import ProjectError

    teams = [t.name for t in k8s.teams]
    for i, b in enumerate(k8s.projects):
        at = f"kubernetes.projects[{i}]"
        where = f"{b.folder}/project.yaml"
        if not (REPOSITORY / b.folder / "project.yaml").is_file():
            yield f"{at}: no {where} in the repository; create the project (`sahab project new {b.name}`) or set {at}.path to its folder"
            continue
        try:
            spec = b.load().spec
        except ProjectError as exc:
            yield from (f"{at} ({where}): {p}" for p in exc.problems)
            continue
        if spec.name != b.name:
            yield f"{at}.name: {b.name!r} but {where} is project {spec.name!r}; name the binding after the project"
        team = b.team or spec.team
        if team not in teams:
            whose = "" if b.team else f" (the team of {where})"
            yield f"{at}.team: {team!r}{whose} is not one of kubernetes.teams {teams}; add the team (its namespace and quotas) or bind the project to one of them"
        gpus = b.training.gpus if b.training.gpus is not None else spec.training.resources.gpus
        if gpus and spec.training.framework != "torch":
            yield f"{at}.training.gpus: {gpus} GPUs for a {spec.training.framework} project ({where}); only torch trains on GPUs here, remove it"
        if gpus:
            named = (f"{at}.training.node_pool", b.training.node_pool) if b.training.node_pool else (f"{where} training.node_pool", spec.training.node_pool)
            if not gpu_pools:
                yield f"{at}: {where} trains on {gpus} GPU(s) but the environment has no gpu_pools; add a GPU pool, or set {at}.training.gpus: 0 to train on CPUs"
            elif named[1] is not None and named[1] not in gpu_pools:
                yield f"{named[0]}: {named[1]!r} is not one of gpu_pools {list(gpu_pools)}; set {at}.training.node_pool to one of them"
        elif b.training.node_pool is not None:
            yield f"{at}.training.node_pool: {b.training.node_pool!r} is a GPU pool but the project trains on 0 GPUs here; set {at}.training.gpus, or remove node_pool"
        replicas = b.serving.replicas or spec.serving.replicas
        maximum = b.serving.max_replicas or spec.serving.max_replicas
        if replicas < 2:
            yield f"{at}.serving.replicas: {where} serves with {replicas} replica; set {at}.serving.replicas: 2 or more (a node or zone loss must not stop it)"
        if maximum < replicas:
            yield f"{at}.serving.max_replicas: {maximum} is below replicas {replicas}; raise max_replicas or lower replicas"
        longest = f"{environment}-identity-{b.name}-monitoring"
        if len(longest) > _ROLE_NAME_ROOM:
            yield f"{at}.name: {b.name!r} with environment {environment!r} makes names like {longest!r} ({len(longest)} characters); IAM role names leave room for {_ROLE_NAME_ROOM}: shorten one"
    names = [b.name for b in k8s.projects]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        yield f"kubernetes.projects: {dup!r} is listed twice; deploy a project once"


class KubernetesSpec(Model):
    """The platform layer on the cluster: tenancy, GPUs, monitoring, MLflow, Feast, jobs, serving. A cloud
    adds what only it has (EKS: the node autoscaler and IAM role access; AKS: its autoscaler)."""

    release: str = Field(default="0.1.0", description="Immutable tag of the workload images (sahab/<workload>:<release>); never `latest`.")
    teams: tuple[TeamSpec, ...] = Field(default=(), description="Teams, each with a namespace and quotas.")
    serving: ServingSpec = Field(default_factory=ServingSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    projects: tuple[ProjectBinding, ...] = Field(default=(), description="Model projects deployed here, each bound to a team (see projects/README.md).")

    @field_validator("release")
    @classmethod
    def _pinned(cls, tag: str) -> str:
        if not _IMAGE_TAG.match(tag) or tag == "latest":
            raise ValueError("use an immutable image tag such as '0.1.0' (the registries keep tags immutable; 'latest' is refused)")
        return tag

    @field_validator("teams")
    @classmethod
    def _unique_teams(cls, teams: tuple[TeamSpec, ...]) -> tuple[TeamSpec, ...]:
        names = [t.name for t in teams]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"team names must be unique; repeated: {dup}")
        return teams
