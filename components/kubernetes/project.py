"""The model project a component renders for: the prefix of every object it creates, the labels that
say whose an object is, and the `SAHAB_PROJECT` (and the environment's SAHAB_PRIVACY_*) its pods read
(workloads.project.from_env, workloads.privacy.keys.PrivacySettings)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
PROJECT_LABEL = "sahab.ae/project"
TEAM_LABEL = "sahab.ae/team"
NOTEBOOK_LABEL = "sahab.ae/notebook"
"""On every user notebook server (its profile): the namespace baseline leaves them to their own egress policy (notebooks.py)."""


@dataclass(frozen=True, kw_only=True)
class ProjectRef:
    name: str
    """The project's name (project.yaml `name:`): prefixes every object name, `<name>-serving`, ..."""
    team: str
    """The team it is bound to in this environment (kubernetes.projects[].team)."""
    folder: str
    """`SAHAB_PROJECT` of its pods: the project folder relative to the image's working directory
    (every workload image ships the repository's `projects/`, components/kubernetes/IMAGES.md)."""
    privacy: Mapping[str, Any] = field(default_factory=dict)
    """SAHAB_PRIVACY_* of its pods (ClusterCloud.privacy_env): the environment's tokenisation key, so every
    container that reads the project tokenises with the same key. Empty: SAHAB_HOME's key (on-prem, tests)."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"project.name: {self.name!r} must be 3-32 lower-case letters, digits or '-' (it prefixes Kubernetes names)")
        if not _NAME.match(self.team):
            raise ValueError(f"project.team: {self.team!r} must be 3-32 lower-case letters, digits or '-'")
        if not self.folder or self.folder.startswith("/") or ".." in self.folder.split("/"):
            raise ValueError(f"project.folder: {self.folder!r} must be relative to the image's working directory (projects/<name>)")

    def named(self, what: str) -> str:
        """`<project>-<what>`: the name of one of its objects."""
        return f"{self.name}-{what}"

    @property
    def labels(self) -> dict[str, str]:
        """On every object and pod of the project: which project and team it belongs to (cost, audit, selectors)."""
        return {"app.kubernetes.io/instance": self.name, PROJECT_LABEL: self.name, TEAM_LABEL: self.team}

    def selector(self, app: str) -> dict[str, str]:
        """The pods of `app` (`serving`, `feature-server`, ...) of this project, and no other project's."""
        return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": self.name}

    @property
    def env(self) -> dict[str, Any]:
        """SAHAB_PROJECT and SAHAB_PRIVACY_* of every container that works on the project."""
        return {"SAHAB_PROJECT": self.folder, **self.privacy}
