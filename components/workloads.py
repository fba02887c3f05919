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
    """Bucket purposes (see components.aws.storage.BUCKETS) it may read."""
    write_buckets: tuple[str, ...] = ()
    """Bucket purposes it may read and write."""
    secrets: tuple[str, ...] = ()
    """Secrets it may read: `registry-db` (MLflow's database), `online-store` (Redis AUTH)."""


WORKLOADS: tuple[Workload, ...] = (
    Workload("training", NAMESPACES["training"], "trainer", read_buckets=("data-lake", "offline-features"), write_buckets=("model-artifacts", "experiment-artifacts")),
    Workload("serving", NAMESPACES["serving"], "model-server", read_buckets=("model-artifacts",)),
    Workload("features", NAMESPACES["platform"], "feature-store", read_buckets=("data-lake",), write_buckets=("offline-features",), secrets=("online-store",)),
    Workload("drift", NAMESPACES["monitoring"], "drift-monitor", read_buckets=("offline-features", "model-artifacts"), write_buckets=("experiment-artifacts",)),
    Workload("mlflow", NAMESPACES["platform"], "mlflow", write_buckets=("model-artifacts", "experiment-artifacts"), secrets=("registry-db",)),
)


def workload(name: str) -> Workload:
    """The row of WORKLOADS called `name` (KeyError naming the known ones otherwise)."""
    for w in WORKLOADS:
        if w.name == name:
            return w
    raise KeyError(f"no workload {name!r}; known: {[w.name for w in WORKLOADS]}")
