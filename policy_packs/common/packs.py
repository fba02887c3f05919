"""Building a pack's policy list: one line per policy, same metadata everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy, Severity, StackValidationPolicy


def _policy(
    kind: type,
    name: str,
    description: str,
    validate: Callable[..., Any],
    config: dict[str, Any] | None = None,
    severity: Severity = Severity.HIGH,
    enforcement: EnforcementLevel | None = None,
    remediation: str | None = None,
) -> Any:
    return kind(
        name=name,
        description=description,
        validate=validate,
        config_schema=PolicyConfigSchema(properties=config) if config else None,
        severity=severity,
        enforcement_level=enforcement,
        remediation_steps=remediation,
    )


def resource(
    name: str,
    description: str,
    validate: Callable[..., Any],
    config: dict[str, Any] | None = None,
    severity: Severity = Severity.HIGH,
    enforcement: EnforcementLevel | None = None,
    remediation: str | None = None,
) -> ResourceValidationPolicy:
    """A per-resource policy."""
    return _policy(ResourceValidationPolicy, name, description, validate, config, severity, enforcement, remediation)


def stack(
    name: str,
    description: str,
    validate: Callable[..., Any],
    config: dict[str, Any] | None = None,
    severity: Severity = Severity.HIGH,
    enforcement: EnforcementLevel | None = None,
    remediation: str | None = None,
) -> StackValidationPolicy:
    """A whole-stack policy."""
    return _policy(StackValidationPolicy, name, description, validate, config, severity, enforcement, remediation)
