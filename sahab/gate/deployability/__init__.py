"""Deployability: does the plan deploy and work, not only comply.

Each check is a function `check(ctx: Context) -> list[Finding]`, listed once in `CHECKS` below; the
gate runs them all over the same `Context` (the plan, its rendered manifests, the platform spec, the
environment folder) after the packs, and their findings go into report.json/md/sarif like any policy
finding (pack `deployability`, mandatory unless the environment's policy.yaml
`packs.deployability.<policy>` says otherwise). To add a check, write the function in its own module
of this package and append it to `CHECKS`; to add a section to report.md, append a function to
`sahab.gate.reports.SECTIONS` (data a check wants to show goes in `ctx.extras`, which becomes
`GateResult.extras`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sahab.gate.model import MANDATORY, Finding, GateError

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


def run_checks(ctx: Context, levels: dict[str, str] | None = None, checks: list[Check] | None = None) -> list[Finding]:
    """Every check over `ctx`; `levels` (policy -> enforcement, from policy.yaml) overrides the
    default mandatory level (`all` for every policy; `disabled` drops the finding)."""
    from concurrent.futures import ThreadPoolExecutor

    levels = levels or {}
    out: list[Finding] = []
    # In threads: connectivity and rules mostly wait on their analyzers (NCA, promtool).
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda check: check(ctx), CHECKS if checks is None else checks))
    for found in results:
        for f in found:
            level = levels.get(f.policy) or levels.get("all")
            if level == "disabled":
                continue
            if level:
                f.enforcement = level
            out.append(f)
    return out


def policy_levels(doc: Any) -> dict[str, str]:
    """policy.yaml `packs.deployability`: policy -> level or {enforcementLevel}."""
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise GateError("policy.yaml packs.deployability: must be a mapping of policy name to an enforcement level")
    out = {}
    for name, value in doc.items():
        level = value.get("enforcementLevel") if isinstance(value, dict) else value
        if level not in ("advisory", "mandatory", "disabled", "remediate"):
            raise GateError(f"policy.yaml packs.deployability.{name}: {level!r} is not one of advisory, mandatory, disabled")
        out[str(name)] = str(level)
    return out


# The one registry of deployability checks, in run order. (Imported here, at the end: each check
# module imports Context and finding from above.)
from sahab.gate.deployability import budget, connectivity, iam, pins, rules, scheduling, workload_env  # noqa: E402 (they import Context and finding from above)

CHECKS: list[Check] = [connectivity.check, iam.check, scheduling.check, pins.check, rules.check, budget.check_budget, workload_env.check]

# report.md sections of these checks (sahab.gate.reports.SECTIONS, the hook for extra sections).
from sahab.gate import reports as _reports  # noqa: E402 (reports imports this module)

for _section in (budget.cost_section, workload_env.workload_env_section):
    if _section not in _reports.SECTIONS:
        _reports.SECTIONS.append(_section)
