"""Create-time constraints: values a provider refuses when a resource is created, requires with
another setting, or accepts only after another resource exists (the table is create_time_rules.py).

The gate's plan is a first `pulumi up` (the offline engine has no state), so every resource of it is
being created: a rule of the table is judged against its inputs, and an `after` rule against the
order the plan creates resources in (plan_graph.py). `create-only` settings raise no finding; they
are listed in report.md ("Settings fixed at creation") with the provider's own words.
"""

from __future__ import annotations

import re
from typing import Any

from sahab.gate.deployability.azure_arm import get
from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.create_time_rules import RULES, Rule
from sahab.gate.deployability.plan_graph import label, plan_graph
from sahab.gate.model import ADVISORY, MANDATORY, Finding, GateResult

POLICY = "create-time-constraints"  # one policy; the message names the rule of create_time_rules.py
DESCRIPTION = "The plan sets no value its provider refuses at creation, and creates what a value needs before it."


def _value(r: Any, path: str) -> Any:
    """`path` in the resource's inputs, else its outputs (a name the provider generated)."""
    found = get(r.inputs, path)
    return found if found is not None else get(r.outputs or {}, path)


def _holds(r: Any, conditions: dict[str, tuple[Any, ...]]) -> bool:
    for path, values in conditions.items():
        v = _value(r, path)
        if "*" in values:
            if v in (None, "", [], {}):
                return False
        elif v not in values:
            return False
    return True


def _spec_flag(spec: dict[str, Any], path: str) -> bool:
    return bool(path) and bool(get(spec, path))


def _same(r: Any, other: Any, same: dict[str, str]) -> bool:
    return all(_value(r, mine) is not None and _value(r, mine) == _value(other, theirs) for mine, theirs in same.items())


def _violation(ctx: Context, rule: Rule, r: Any) -> str:
    """What is wrong with `r` under `rule` ('' when nothing)."""
    if rule.when and not _holds(r, rule.when):
        return ""
    v = get(r.inputs, rule.path) if rule.path else None
    if rule.kind == "refused-at-create":
        return f"{rule.path} is {v!r} at creation, which the provider refuses" if v in rule.values else ""
    if rule.kind == "must-match":
        return f"{rule.path} is {v!r}, which the provider does not accept" if v is not None and not re.match(rule.pattern, str(v)) else ""
    if rule.kind == "requires":
        when = " and ".join(f"{p} {vals[0]!r}" for p, vals in rule.when.items()) or "always"
        if rule.present is True and v in (None, ""):
            return f"{rule.path} is missing, which the provider requires with {when}"
        if rule.present is False and v not in (None, ""):
            return f"{rule.path} is {v!r}, which the provider refuses with {when}"
        if rule.values and v not in rule.values:
            return f"{rule.path} is {v!r} with {when}; the provider requires {' or '.join(repr(x) for x in rule.values[:1])}"
        return ""
    if rule.kind == "after":
        if any(_same(r, o, rule.same) and _holds(o, rule.unless_values) for o in ctx.resources(rule.unless_type)):
            return ""
        graph = plan_graph(ctx)
        candidates = [o for o in ctx.resources(rule.after_type) if _same(r, o, rule.same) and _holds(o, rule.after_values)]
        if any(graph.waits(r.urn, o.urn) for o in candidates):
            return ""
        wanted = " and ".join(f"{p} {vals[0]!r}" for p, vals in rule.after_values.items())
        if candidates:
            return f"is created in parallel with {', '.join(label(o) for o in candidates)} ({wanted}), which the provider needs first"
        return f"needs a {rule.after_type} with {wanted} created before it, and the plan has none"
    return ""


def check(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    fixed: list[tuple[str, str, str, Any, Rule]] = []
    for rule in RULES:
        for r in ctx.resources(rule.type):
            if rule.kind == "create-only":
                v = get(r.inputs, rule.path)
                if v is not None:
                    fixed.append((r.name, r.type, rule.path, v, rule))
                continue
            wrong = _violation(ctx, rule, r)
            if not wrong:
                continue
            later = _spec_flag(ctx.spec, rule.later_up)
            note = f" The spec sets {rule.later_up}: valid only on a stack where the resource already exists, never on its first `up`." if later else ""
            out.append(
                finding(
                    POLICY,
                    f"{label(r)}: {wrong} (rule {rule.id}: “{rule.says}” {rule.source}).{note} Fix: {rule.fix}.",
                    urn=r.urn,
                    resource=label(r),
                    enforcement=ADVISORY if later else MANDATORY,
                    description=DESCRIPTION,
                )
            )
    ctx.extras["create_only"] = fixed
    return out


def create_only_section(result: GateResult) -> list[str]:
    """report.md: the settings this plan fixes for the life of each resource."""
    fixed = result.extras.get("create_only") or []
    if not fixed:
        return []
    lines = [
        "<details><summary>Settings fixed at creation (a later change is refused or replaces the resource)</summary>",
        "",
        "| resource | setting | value | the provider says |",
        "|---|---|---|---|",
    ]
    lines += [f"| {name} ({type_}) | `{path}` | `{value}` | {rule.says} ({rule.source}) |" for name, type_, path, value, rule in fixed]
    return [*lines, "", "</details>", ""]
