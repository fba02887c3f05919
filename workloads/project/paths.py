"""Where a project keeps its state on one machine: the one place local URIs are derived.

    <home>/projects/<name>/
        feast/                   Feast: registry.db, online.db, offline/ (sources, labels), training-sets/
        serving-log/             the prediction log
        drift-state/             the monitoring job's state and reports
        checkpoints/<run key>/   training checkpoints
    <home>/mlflow.db, <home>/mlartifacts      shared by every project (one registered model each)

In the cloud the same relative layout sits under the URIs the stack renders (SAHAB_FEAST_URI,
SAHAB_SERVING_PREDICTION_LOG_URI, SAHAB_DRIFT_LOG_URI, SAHAB_TRAIN_CHECKPOINT_URI), each already
naming the project: a workload never appends the project's name to a URI it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workloads.project.project import Project
    from workloads.project.spec import ProjectSpec


@dataclass(frozen=True)
class ProjectPaths:
    """A project's local folders (absolute); nothing is created until a workload writes there."""

    name: str
    root: Path

    @property
    def feast(self) -> Path:
        """The project's Feast root (what SAHAB_FEAST_URI names in the cloud)."""
        return self.root / "feast"

    @property
    def serving_log(self) -> Path:
        return self.root / "serving-log"

    @property
    def drift_state(self) -> Path:
        return self.root / "drift-state"

    @property
    def checkpoints(self) -> Path:
        """The project's checkpoint root; one folder per run key under it."""
        return self.root / "checkpoints"

    def checkpoint(self, run_key: str) -> Path:
        return self.checkpoints / run_key


def project_name(project: Project | ProjectSpec | str) -> str:
    """The name of a Project, a ProjectSpec or a plain name."""
    if isinstance(project, str):
        return project
    spec = getattr(project, "spec", project)
    return str(spec.name)


def local_paths(home: str | Path, project: Project | ProjectSpec | str) -> ProjectPaths:
    """The local layout of `project` under `home` (SAHAB_HOME, default `.sahab/local`)."""
    name = project_name(project)
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"project name {name!r} cannot name a folder. Fix: use the project's `name` from project.yaml")
    return ProjectPaths(name, Path(home).expanduser().resolve() / "projects" / name)
