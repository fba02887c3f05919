"""What every deployability check shares: the `Context` it reads, `finding` to report, the `Check`
signature. Its own module (re-exported by the package) so that the checks import it without importing
the package `__init__`, which imports every check to list them in `CHECKS`: no import circle.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sahab.gate.model import MANDATORY, Finding

PACK = "deployability"


@dataclass(frozen=True, kw_only=True)
class Context:
    """What every deployability check reads. `manifests`: (path under manifests/, document) for
    every Kubernetes object; `releases`: the same for each Helm release (chart, version, values)."""

    plan: Any
    manifests: list[tuple[str, dict[str, Any]]]
    releases: list[tuple[str, dict[str, Any]]]
    spec: dict[str, Any]
    environment_dir: Path | None = None
    urns: dict[str, str] = field(default_factory=dict)  # manifest path -> URN of its resource
    extras: dict[str, Any] = field(default_factory=dict)  # handed to report sections (GateResult.extras)
    cache: dict[str, Any] = field(default_factory=dict)  # what several checks derive once (pods, ...)

    @classmethod
    def of(cls, plan: Any, environment_dir: Path | None = None) -> Context:
        from sahab.engine.render import manifests

        docs, urns = [], {}
        for r in plan.resources:
            for rel, doc in manifests([r]):
                docs.append((rel, doc))
                urns[rel] = r.urn
        return cls(
            plan=plan,
            manifests=[(rel, d) for rel, d in docs if not rel.startswith("helm/")],
            releases=[(rel, d) for rel, d in docs if rel.startswith("helm/")],
            spec=platform_spec(plan),
            environment_dir=environment_dir,
            urns=urns,
        )

    def label(self, r: Any) -> str:
        """`name (type)`, as policy findings name a resource."""
        return f"{r.name} ({r.type})"

    def resources(self, type_: str) -> list[Any]:
        return [r for r in self.plan.resources if r.type == type_]

    def objects(self, *kinds: str) -> list[tuple[str, dict[str, Any]]]:
        return [(rel, d) for rel, d in self.manifests if d.get("kind") in kinds]


def platform_spec(plan: Any) -> dict[str, Any]:
    """The `sahab:platform` stack config (the environment's spec) as a dict; {} when absent."""
    value = (plan.config or {}).get("sahab:platform")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                value = None
    return value if isinstance(value, dict) else {}


def finding(policy: str, message: str, *, urn: str = "", resource: str = "", file: str = "", enforcement: str = MANDATORY, description: str = "") -> Finding:
    """A deployability finding, shaped like a policy finding."""
    return Finding("deployability", PACK, policy, enforcement, message, urn=urn, resource=resource, description=description, file=file)


Check = Callable[[Context], list[Finding]]
