"""Deployability: does the plan deploy and work, not only comply.

Each check is a function `check(ctx: Context) -> list[Finding]`, listed once in `CHECKS` below; the
gate runs them all over the same `Context` (the plan, its rendered manifests, the platform spec, the
environment folder) after the packs, and their findings go into report.json/md/sarif like any policy
finding (pack `deployability`, mandatory unless the environment's policy.yaml
`packs.deployability.<policy>` says otherwise). To add a check, write the function in its own module
of this package (importing `Context` and `finding` from `.context`) and append it to `CHECKS`; to add a section to report.md, append a function to
`sahab.gate.reports.SECTIONS` (data a check wants to show goes in `ctx.extras`, which becomes
`GateResult.extras`).
"""

from __future__ import annotations

from typing import Any

from sahab.gate.deployability.context import PACK, Check, Context, finding, platform_spec
from sahab.gate.model import Finding, GateError

__all__ = ["CHECKS", "PACK", "Check", "Context", "finding", "platform_spec", "policy_levels", "run_checks"]


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


# The one registry of deployability checks, in run order.
from sahab.gate.deployability import (  # noqa: E402 (kept beside CHECKS, the list it feeds)
    budget,
    combinations,
    connectivity,
    create_time,
    deployer,
    grants,
    iam,
    pins,
    project,
    rules,
    scheduling,
    single_writer,
    workload_env,
)

CHECKS: list[Check] = [connectivity.check, iam.check, scheduling.check, pins.check, rules.check, budget.check_budget, workload_env.check]
# Issue 21's deploy-failure classes: plain functions over the plan (no analyzer, a few ms each).
CHECKS += [create_time.check, grants.check, combinations.check, single_writer.check, deployer.check]
CHECKS += [project.check]  # issue 22: personal data marked and tokenisable, reason codes (from the project files)

# report.md sections of these checks (sahab.gate.reports.SECTIONS, the hook for extra sections).
from sahab.gate import reports as _reports  # noqa: E402 (reports imports this module)

for _section in (budget.cost_section, workload_env.workload_env_section, create_time.create_only_section):
    if _section not in _reports.SECTIONS:
        _reports.SECTIONS.append(_section)
