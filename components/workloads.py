"""Who runs on the platform: each workload's namespace, service account and the data it may touch.

One table, read by the cloud layer (IAM roles bound through EKS Pod Identity, Azure workload
identities, on-prem object-store clients) and the Kubernetes layer (namespaces and service
accounts), so the two can never disagree.

The platform's shared workloads (`WORKLOADS`: MLflow) serve every project. Each deployed model
project gets its own rows (`project_workloads`): serving, training, monitoring and features, each
with its own service account and identity, scoped to the project's own object prefixes
(`ProjectPrefixes`), so one project's identity can neither read another's prediction log nor write
another's labels, training sets, checkpoints or models. `platform_workloads(projects)` is the whole
table of an environment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

NAMESPACES = {
    "platform": "sahab-platform",
    "training": "sahab-training",
    "serving": "sahab-serving",
    "monitoring": "sahab-monitoring",
    # Platform-layer namespaces without cloud workload roles of their own (components/kubernetes).
    "gpu": "sahab-gpu",
    "autoscaling": "sahab-autoscaling",
}
TEAM_NAMESPACE_PREFIX = "sahab-team-"

# Object prefixes the ML loop hands from one workload to the next (`<bucket purpose>/<prefix>/`).
# The stack builds the workloads' URIs from these, and the roles below grant exactly them.
MLFLOW_ARTIFACTS = "experiment-artifacts/mlflow/"
"""MLflow's artifact root: each project's experiment keeps its runs and model versions under
`mlflow/<project>/` (the experiment's artifact location, set by the project's training pods)."""
SERVING_LOG = "offline-features/serving-log/"
"""The prediction logs: `serving-log/<project>/`, written by the project's serving, read by its monitoring and training."""
DRIFT_STATE = "offline-features/drift-state/"
"""The monitoring jobs' state: `drift-state/<project>/`."""
FEAST = "offline-features/feast/"
"""The Feast roots: `feast/<project>/` (registry, offline sources, labels, frozen training sets)."""
CHECKPOINTS = "experiment-artifacts/checkpoints/"
"""Training checkpoints: `checkpoints/<project>/<run key>/`."""
DATA_LAKE = "data-lake/"
"""Where a project's declared batch sources live: `data-lake/<project>/`."""
PRIVACY = "offline-features/privacy/"
"""The environment's tokenisation key (workloads/privacy/keys.py), one object for every project: a
prefix no project name can take (projects live one level down, under `feast/`, `serving-log/`, ...)."""
PRIVACY_KEY = f"{PRIVACY}tokenisation-key.json"
"""The wrapped key object itself (`SAHAB_PRIVACY_KEY_URI`, components/kubernetes/cloud.py privacy_env)."""
LABELS_DIR = "offline/labels/"
"""The label store under a project's Feast root (a copy of workloads/features/tables.py LABELS_DIR,
which imports pandas and pyarrow; tests/kubernetes/test_projects_layer.py proves they agree)."""

PROJECT_ROLES = ("serving", "training", "monitoring", "features", "pipeline")
"""The workloads every project runs, each with its own identity (`pipeline`: its Argo workflow's steps,
in its team's namespace, when the project is bound to a team)."""
TEAM_ROLES = ("notebooks",)
"""The workloads of a team: its notebook servers (components/kubernetes/notebooks.py)."""


def team_namespace(team: str) -> str:
    """The namespace of a team from the spec's `kubernetes.teams`."""
    return f"{TEAM_NAMESPACE_PREFIX}{team}"


@dataclass(frozen=True)
class ProjectPrefixes:
    """A project's own object prefixes, each `<bucket purpose>/<prefix>/` (the form of `Workload` grants)."""

    project: str

    @property
    def mlflow(self) -> str:
        return f"{MLFLOW_ARTIFACTS}{self.project}/"

    @property
    def serving_log(self) -> str:
        return f"{SERVING_LOG}{self.project}/"

    @property
    def drift_state(self) -> str:
        return f"{DRIFT_STATE}{self.project}/"

    @property
    def feast(self) -> str:
        return f"{FEAST}{self.project}/"

    @property
    def labels(self) -> str:
        return f"{self.feast}{LABELS_DIR}"

    @property
    def checkpoints(self) -> str:
        return f"{CHECKPOINTS}{self.project}/"

    @property
    def data_lake(self) -> str:
        return f"{DATA_LAKE}{self.project}/"

    def all(self) -> tuple[str, ...]:
        """Every prefix of the project (what no other project's identity may touch)."""
        return (self.mlflow, self.serving_log, self.drift_state, self.feast, self.checkpoints, self.data_lake)


@dataclass(frozen=True)
class Workload:
    name: str
    """Short name: `mlflow`, or `<project>-<role>` (`delivery-time-serving`)."""
    namespace: str
    """Kubernetes namespace the pods run in."""
    service_account: str
    """Kubernetes service account bound to the cloud identity."""
    read_buckets: tuple[str, ...] = ()
    """What it may read: bucket purposes (see components.aws.storage.BUCKETS), whole, or
    `<purpose>/<prefix>/` for the objects under one prefix."""
    write_buckets: tuple[str, ...] = ()
    """What it may read and write, in the same form."""
    secrets: tuple[str, ...] = ()
    """Secrets it may read: `registry-db` (MLflow's database), `online-store` (Redis AUTH)."""
    project: str | None = None
    """The model project it runs for; None: a shared platform workload."""
    role: str = ""
    """One of PROJECT_ROLES for a project's row, of TEAM_ROLES for a team's."""
    team: str | None = None
    """The team a team's row (and a project's `pipeline` row) runs for."""
    keys: tuple[str, ...] = ()
    """Keys it wraps and unwraps with: `tokenisation` (the environment's tokenisation key, PRIVACY). AWS:
    the data key the role already uses; Azure: a Key Vault Crypto User assignment on that one key."""


WORKLOADS: tuple[Workload, ...] = (
    # MLflow serves every project's runs and registry; with --serve-artifacts it also proxies artifacts.
    Workload("mlflow", NAMESPACES["platform"], "mlflow", write_buckets=("model-artifacts", "experiment-artifacts"), secrets=("registry-db",)),
)
"""The shared platform workloads."""


def project_workloads(project: str, team: str | None = None) -> tuple[Workload, ...]:
    """The rows of one model project: four identities (five with its team), each holding only what its pods do.

    serving     loads the project's model versions (mlflow/<p>/), appends to its prediction log and
                (control plane: /feedback with a label, /labels) to its label store; the A/B state
                is in the online store's Redis
    training    the retrain Job (ingest, frozen training sets, training, export, registration): its
                Feast root, checkpoints and MLflow artifacts; reads its prediction log (ingest) and
                batch sources; asks the A/B store whether an experiment runs
    monitoring  drift and performance: reads the prediction log, the labels and the champion's
                reference (mlflow/<p>/), keeps its state; asks the A/B store whether an experiment runs
    features    the feature server and materialization: the Feast root (registry), the online store
    pipeline    (bound to `team`) the steps of its Argo pipeline in the team's namespace, under the
                team's quota (components/kubernetes/workflows.py): what training holds
    """
    p = ProjectPrefixes(project)
    ns = NAMESPACES
    # (role, namespace, what it reads, what it writes)
    rows: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
        ("serving", ns["serving"], (p.mlflow,), (p.serving_log, p.labels)),
        ("training", ns["training"], (p.serving_log, p.data_lake), (p.feast, p.checkpoints, p.mlflow)),
        ("monitoring", ns["monitoring"], (p.serving_log, p.labels, p.mlflow), (p.drift_state,)),
        ("features", ns["platform"], (), (p.feast,)),
    )
    if team is not None:
        rows += (("pipeline", team_namespace(team), (p.serving_log, p.data_lake), (p.feast, p.checkpoints, p.mlflow)),)
    return tuple(
        Workload(
            f"{project}-{role}",
            namespace,
            f"{project}-{role}",
            read_buckets=read,
            # Every role may create the environment's tokenisation key (create-only, the first pod
            # that needs it) and read it back: tokens of one environment join across its projects.
            write_buckets=(*write, PRIVACY),
            secrets=("online-store",),
            keys=("tokenisation",),
            project=project,
            role=role,
            team=team if role == "pipeline" else None,
        )
        for role, namespace, read, write in rows
    )


def team_workloads(team: str, projects: Iterable[str]) -> tuple[Workload, ...]:
    """The rows of a team with projects: its notebooks read what its projects' data holds (their Feast
    roots, model artifacts and batch sources) and write nothing (results go through MLflow's server)."""
    names = sorted(projects)
    if not names:
        return ()
    read = tuple(g for name in names for g in (ProjectPrefixes(name).feast, ProjectPrefixes(name).mlflow, ProjectPrefixes(name).data_lake))
    return (Workload(f"{team}-notebooks", team_namespace(team), f"{team}-notebooks", read_buckets=read, role="notebooks", team=team),)


def platform_workloads(projects: Iterable[str | tuple[str, str]] = ()) -> tuple[Workload, ...]:
    """The whole table of an environment: the shared workloads, then each project's rows, then each
    team's. A project given as `(name, team)` gets its pipeline row and counts for its team's notebooks."""
    out = list(WORKLOADS)
    teams: dict[str, list[str]] = {}
    for item in projects:
        name, team = (item, None) if isinstance(item, str) else item
        out.extend(project_workloads(name, team))
        if team is not None:
            teams.setdefault(team, []).append(name)
    for team, names in sorted(teams.items()):
        out.extend(team_workloads(team, names))
    return tuple(out)


def project_workload(project: str, role: str, team: str | None = None) -> Workload:
    """The row of `project` for `role` (one of PROJECT_ROLES; `pipeline` needs the team)."""
    for w in project_workloads(project, team):
        if w.role == role:
            return w
    raise KeyError(f"no project role {role!r}; known: {list(PROJECT_ROLES)}")


def split_grant(grant: str) -> tuple[str, str]:
    """`purpose` -> (purpose, ""); `purpose/prefix/` -> (purpose, "prefix/")."""
    purpose, _, prefix = grant.partition("/")
    return purpose, prefix


def workload(name: str, projects: Iterable[str] = ()) -> Workload:
    """The row called `name` among the shared workloads and those of `projects` (KeyError naming the known ones otherwise)."""
    table = platform_workloads(projects)
    for w in table:
        if w.name == name:
            return w
    raise KeyError(f"no workload {name!r}; known: {[w.name for w in table]}")
