"""Who runs on the platform: each workload's namespace, service account and the data it may touch.

One table, read by the cloud layer (IAM roles bound through EKS Pod Identity) and the Kubernetes
layer (namespaces and service accounts), so the two can never disagree.
"""

from __future__ import annotations

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
"""Where MLflow (and training, through it) writes run artifacts and registered models."""
SERVING_LOG = "offline-features/serving-log/"
"""The prediction log: serving writes it (Parquet, hourly), drift reads it."""
DRIFT_STATE = "offline-features/drift-state/"
"""The drift job's watermark (which windows it has already judged)."""


def team_namespace(team: str) -> str:
    """The namespace of a team from the spec's `kubernetes.teams`."""
    return f"{TEAM_NAMESPACE_PREFIX}{team}"


@dataclass(frozen=True)
class Workload:
    name: str
    """Short name: `training`, `serving`, ..."""
    namespace: str
    """Kubernetes namespace the pods run in."""
    service_account: str
    """Kubernetes service account bound to the IAM role."""
    read_buckets: tuple[str, ...] = ()
    """What it may read: bucket purposes (see components.aws.storage.BUCKETS), whole, or
    `<purpose>/<prefix>/` for the objects under one prefix."""
    write_buckets: tuple[str, ...] = ()
    """What it may read and write, in the same form."""
    secrets: tuple[str, ...] = ()
    """Secrets it may read: `registry-db` (MLflow's database), `online-store` (Redis AUTH)."""


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        "training", NAMESPACES["training"], "trainer", read_buckets=("data-lake", "offline-features"), write_buckets=("model-artifacts", "experiment-artifacts")
    ),
    # Serving loads the model versions wherever MLflow wrote them, and writes only its prediction log;
    # its A/B control plane and evaluator keep the experiment state in the online store's Redis.
    Workload(
        "serving",
        NAMESPACES["serving"],
        "model-server",
        read_buckets=("model-artifacts", MLFLOW_ARTIFACTS),
        write_buckets=(SERVING_LOG,),
        secrets=("online-store",),
    ),
    Workload("features", NAMESPACES["platform"], "feature-store", read_buckets=("data-lake",), write_buckets=("offline-features",), secrets=("online-store",)),
    # Drift reads the prediction log and the champion's reference (registry artifacts), keeps its watermark.
    Workload(
        "drift",
        NAMESPACES["monitoring"],
        "drift-monitor",
        read_buckets=("offline-features", "model-artifacts", MLFLOW_ARTIFACTS),
        write_buckets=("experiment-artifacts", DRIFT_STATE),
    ),
    Workload("mlflow", NAMESPACES["platform"], "mlflow", write_buckets=("model-artifacts", "experiment-artifacts"), secrets=("registry-db",)),
)


def split_grant(grant: str) -> tuple[str, str]:
    """`purpose` -> (purpose, ""); `purpose/prefix/` -> (purpose, "prefix/")."""
    purpose, _, prefix = grant.partition("/")
    return purpose, prefix


def workload(name: str) -> Workload:
    """The row of WORKLOADS called `name` (KeyError naming the known ones otherwise)."""
    for w in WORKLOADS:
        if w.name == name:
            return w
    raise KeyError(f"no workload {name!r}; known: {[w.name for w in WORKLOADS]}")
