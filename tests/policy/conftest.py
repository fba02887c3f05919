"""Helpers for policy tests: call a validator the way pulumi_policy's servicer does (props behind
the SDK's read-only proxy, provider props too), and collect what it reports.

Unit tests call validators in-process (fast). Tests that start pack processes or checkov are
`@pytest.mark.slow`; they share one process per pack through the `pack_sessions` fixture.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import PolicyCustomTimeouts, PolicyProviderResource, PolicyResource, PolicyResourceOptions, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
STACK = "urn:pulumi:dev::policy-test::"
UAE_TAGS = {"owner": "ml@example.ae", "cost-center": "ML-1", "data-classification": "confidential", "managed-by": "sahab"}


def urn(type_token: str, name: str) -> str:
    return f"{STACK}{type_token}::{name}"


def provider(region: str | None = "me-central-1", tags: dict[str, str] | None = None, package: str = "aws", **extra: Any) -> PolicyProviderResource:
    """A provider as the engine sends it (nested config such as defaultTags JSON-encoded)."""
    props: dict[str, Any] = dict(extra)
    if region and package == "aws":
        props["region"] = region
    if region and package.startswith("azure"):
        props["location"] = region
    if tags is not None:
        props["defaultTags"] = json.dumps({"tags": tags})
    return PolicyProviderResource(f"pulumi:providers:{package}", unknown_checking_proxy(props), f"{STACK}pulumi:providers:{package}::p", "p")


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def run(
    validate: Callable,
    type_token: str,
    props: dict[str, Any],
    prov: PolicyProviderResource | None = None,
    config: dict[str, Any] | None = None,
    name: str = "res",
) -> list[str]:
    """Messages a resource validator reports for one resource."""
    out: list[str] = []
    args = ResourceValidationArgs(
        type_token, unknown_checking_proxy(props), urn(type_token, name), name, _opts(), prov if prov is not None else provider(tags=UAE_TAGS), config
    )
    validate(args, lambda message, u=None: out.append(message))
    return out


@dataclass
class R:
    """A stack resource for stack validators: dependencies by name."""

    type: str
    name: str
    props: dict[str, Any] = field(default_factory=dict)
    deps: list[str] = field(default_factory=list)
    prov: PolicyProviderResource | None = None


def run_stack(validate: Callable, resources: list[R], config: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """(message, urn) pairs a stack validator reports."""
    built = {
        r.name: PolicyResource(
            r.type,
            unknown_checking_proxy(r.props),
            urn(r.type, r.name),
            r.name,
            _opts(),
            r.prov if r.prov is not None else provider(tags=UAE_TAGS),
            None,
            [],
            {},
        )
        for r in resources
    }
    for r in resources:
        built[r.name].dependencies = [built[d] for d in r.deps]
    out: list[tuple[str, str]] = []
    validate(StackValidationArgs(list(built.values()), config), lambda message, u=None: out.append((message, u or "")))
    return out


@pytest.fixture
def stack_config(monkeypatch):
    """Set PULUMI_CONFIG as the engine hands it to a pack."""

    def set_config(values: dict[str, Any]) -> None:
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps({k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}))

    set_config({})
    return set_config


@pytest.fixture(scope="session")
def pack_sessions():
    """One running process per pack (started as the CLI would), configured with defaults."""
    from sahab import gate

    sessions = {}
    for pack in gate.discover_packs():
        s = gate.PackSession(pack, project="policy-test", stack="dev", config={"aws:region": "me-central-1"})
        s.__enter__()
        info, _ = s.handshake_and_info()
        s.configure(gate.reconcile_config(info, {}, pack.name))
        sessions[pack.name] = (s, info)
    yield sessions
    for s, _ in sessions.values():
        s.__exit__(None, None, None)


def analyze(sessions: dict, plan: Any) -> list[Any]:
    """Findings of every pack for a plan, through the running pack processes."""
    from sahab import gate

    names = {r.urn: f"{r.name} ({r.type})" for r in plan.resources}
    findings = []
    for _name, (s, _) in sessions.items():
        findings += [gate._finding(d, s.pack_dir, names) for d in s.analyze(plan.resources)]
    return findings


os.environ.setdefault("PULUMI_TEST_MODE", "true")
