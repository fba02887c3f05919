"""One verification check: an id, the resource it is about, and a function returning the problems
found (empty when it passes). The pytest suite turns each into one test case; tests call `run()`
directly to see exactly which checks fail."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Check:
    id: str
    """What is checked, `<part>-<service>-<what>` (`cloud-s3-public-access-blocked`)."""
    subject: str
    """The resource it is about (bucket name, key ARN, namespace/name...)."""
    run: Callable[[], list[str]]
    """The problems found, each of the shape `<resource> (<type>): what is wrong. Fix: how.`"""

    @property
    def name(self) -> str:
        return f"{self.id}[{self.subject}]"


def problem(resource: str, kind: str, wrong: str, fix: str) -> str:
    """The house shape of a finding."""
    return f"{resource} ({kind}): {wrong}. Fix: {fix}."


def failing(checks: Iterable[Check]) -> dict[str, list[str]]:
    """Run every check; the problems of those that fail, by check name."""
    out = {}
    for check in checks:
        found = check.run()
        if found:
            out[check.name] = found
    return out
