"""The small frame every validator uses: plain props, config, allow-list, and message wording.

A validator stays a plain typed function `(args, report_violation) -> None` whose first line
guards on the type token; after the guard it calls `subject(args, CONFIG)` to get a `Subject`
(or None when the resource is allow-listed) and reports with `say(subject, what, fix)` so every
message reads: `<name> (<type>): <what is wrong and why>. Fix: <how>.`

Calls read `report_violation(message, None)`: pulumi_policy types the callback as
`Callable[[str, Optional[str]], None]` (checked: pulumi_policy 1.21.0 policy.py `ReportViolation`), so
the urn (ignored for a resource validation) is passed explicitly for mypy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from policy_packs.common.config import excepted, settings
from policy_packs.common.values import plain


@dataclass
class Subject:
    type: str
    name: str
    urn: str
    props: dict[str, Any]
    provider: Any
    config: dict[str, Any]
    dependencies: list[str] = field(default_factory=list)
    parent: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.type})"


def subject(args: ResourceValidationArgs, properties: dict[str, dict[str, Any]] | None = None) -> Subject | None:
    """The resource under validation as plain values, or None when the config allow-lists it."""
    config = settings(args, properties)
    if excepted(config, args.urn, args.name):
        return None
    return Subject(args.resource_type, args.name, args.urn, plain(args.props), args.provider, config)


def stack_subjects(args: StackValidationArgs, types: Iterable[str] | None = None, prefix: str | None = None) -> list[Subject]:
    """Stack resources of the given types (or type prefix) as plain Subjects (config not applied)."""
    wanted = set(types or ())
    out = []
    for r in args.resources:
        if (wanted and r.resource_type in wanted) or (prefix and r.resource_type.startswith(prefix)) or (not wanted and not prefix):
            out.append(
                Subject(
                    r.resource_type,
                    r.name,
                    r.urn,
                    plain(r.props),
                    r.provider,
                    {},
                    [d.urn for d in (r.dependencies or [])],
                    r.parent.urn if r.parent is not None else "",
                )
            )
    return out


def say(s: Subject, what: str, fix: str) -> str:
    """One violation message: resource, what is wrong (and why), and how to fix it."""
    what = what.rstrip(".")
    fix = fix.rstrip(".")
    return f"{s.label}: {what}. Fix: {fix}."


def report(report_violation: Any, s: Subject, what: str, fix: str, config: dict[str, Any] | None = None) -> None:
    """Report against `s` (stack policies pass the URN) unless the config allow-lists it."""
    if config is not None and excepted(config, s.urn, s.name):
        return
    report_violation(say(s, what, fix), s.urn)


def physical_name_matches(value: Any, s: Subject, name_key: str) -> bool:
    """Does `value` (a name/ARN another resource points at) name the resource `s`?

    The engine knows the physical name once the provider has auto-named the resource (preview);
    offline, Pulumi's auto-name is the logical name plus a 7-character suffix.
    """
    text = str(value or "")
    if not text:
        return False
    tail = text.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    own = s.props.get(name_key)
    if own:
        return tail == str(own)
    return tail == s.name or (tail.startswith(s.name + "-") and len(tail) - len(s.name) - 1 == 7)
