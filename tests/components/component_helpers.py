"""One component on its own under Sahab's mocks: build it from its Args and read what it registered.

The recorder is the offline engine's own (`sahab.engine.offline.RecordingMonitor`) over the shared
mocks (`sahab.engine.mocks.ProviderMocks`), so a component's unit test sees each child exactly as
`sahab plan` would: urn, type, name, parent, inputs in the engine's camelCase (secrets masked as
`[secret]`), resource options (`dependsOn`, `ignoreChanges`, `retainOnDelete`, ...) and the outputs
the mock provider answered with. The construction runs under `@pulumi.runtime.test`, as in
pulumi/examples testing-unit-py (checked: pulumi/examples testing-unit-py/test_ec2.py at 40c09b2;
`set_mocks(..., monitor=)` and `runtime.test` checked in the installed pulumi 3.272.0, pulumi/runtime/mocks.py),
so every registration and every Output has resolved when `build` returns.

    built = build(lambda: Encryption("k", EncryptionArgs(...)))
    key = built.child("k-data")
    expect(key, "multiRegion", False)

Every read names the resource's URN and the property path in its failure message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest

from sahab.engine.internals import ROOT, register_stack_transformation
from sahab.engine.mocks import ACCOUNT_ID, ProviderMocks
from sahab.engine.offline import SECRET, PlannedResource, RecordingMonitor, _without_api_version_aliases

REGION = "me-central-1"
LOCATION = "uaenorth"
STACK, PROJECT = "unit", "sahab"
CONFIG = {"aws:region": REGION, "azure-native:location": LOCATION}
_MISSING = object()

__all__ = [
    "ACCOUNT_ID",
    "LOCATION",
    "REGION",
    "SECRET",
    "Built",
    "Refusal",
    "Resolved",
    "build",
    "expect",
    "expect_all",
    "policy",
    "prop",
    "refused",
    "statements",
]


@dataclass(frozen=True)
class Resolved:
    value: Any
    """The Output's value (None where unknown)."""
    secret: bool
    """Whether the engine would keep it encrypted in state and mask it in logs."""


@dataclass(frozen=True)
class Built:
    """What one run registered: the component under test, its descendants, and anything else the
    test itself created (a stand-in resource passed in through the Args)."""

    component: pulumi.ComponentResource
    urn: str
    """The component's URN."""
    resources: tuple[PlannedResource, ...]
    """Every registration of the run, the root stack excepted, sorted by URN."""
    ids: dict[str, str]
    """URN -> the id the mock provider answered with (`vpc-...`, ARM ids)."""
    outputs: dict[str, Resolved]
    """The component's own Output attributes (`kubeconfig`, `key_arns`, ...), resolved."""

    @property
    def children(self) -> list[PlannedResource]:
        """Every resource under the component, at any depth (nested components included)."""
        below = {self.urn}
        found: list[PlannedResource] = []
        grew = True
        while grew:
            grew = False
            for r in self.resources:
                if r.parent in below and r.urn not in below:
                    below.add(r.urn)
                    found.append(r)
                    grew = True
        return sorted(found, key=lambda r: r.urn)

    def of_type(self, type_token: str) -> list[PlannedResource]:
        """The children of one type, sorted by name."""
        return sorted((r for r in self.children if r.type == type_token), key=lambda r: r.name)

    def child(self, name: str, type_token: str | None = None) -> PlannedResource:
        """The child with this logical name (and type); fails naming what is there instead."""
        found = [r for r in self.children if r.name == name and (type_token is None or r.type == type_token)]
        if len(found) != 1:
            there = sorted(f"{r.name} ({r.type})" for r in self.children)
            pytest.fail(f"{self.urn}: expected one child named {name!r}{f' of type {type_token}' if type_token else ''}, found {len(found)}; children: {there}")
        return found[0]

    def id_of(self, resource: PlannedResource) -> str:
        """The provider id of a child (what other children's inputs refer to it by)."""
        return self.ids[resource.urn]

    def output(self, attribute: str) -> Resolved:
        """One of the component's Output attributes, resolved with its secrecy."""
        if attribute not in self.outputs:
            pytest.fail(f"{self.urn}: no Output attribute {attribute!r}; there: {sorted(self.outputs)}")
        return self.outputs[attribute]

    def types(self) -> dict[str, int]:
        """Children per type token."""
        counts: dict[str, int] = {}
        for r in self.children:
            counts[r.type] = counts.get(r.type, 0) + 1
        return counts


def _start() -> RecordingMonitor:
    # A fresh loop and root stack per build: earlier tests (servers, plans, other builds) may have
    # left the main thread without a loop, or with a root stack whose loop is closed.
    asyncio.set_event_loop(asyncio.new_event_loop())
    ROOT.set(None)
    mocks = ProviderMocks(stack=STACK, default_region=REGION, default_location=LOCATION)
    monitor = RecordingMonitor(mocks, PROJECT, STACK, CONFIG)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=False, monitor=monitor)
    return monitor


def build(make: Callable[[], pulumi.ComponentResource]) -> Built:
    """Construct the component `make` returns under the mocks; wait for every registration."""
    monitor = _start()
    held: dict[str, Any] = {}

    @pulumi.runtime.test
    def construct() -> pulumi.Output[str]:
        # As the offline engine does (a plan has no old state to migrate): same options, less time.
        register_stack_transformation(_without_api_version_aliases)
        held["component"] = component = make()
        return component.urn.apply(lambda urn: held.setdefault("urn", urn))

    construct()
    component = held["component"]
    # Resolved on the run's own loop (the next build starts another): every future is done by now.
    loop = asyncio.get_event_loop()
    outputs = {
        k: Resolved(*loop.run_until_complete(asyncio.gather(v.future(), v.is_secret()))) for k, v in vars(component).items() if isinstance(v, pulumi.Output)
    }
    resources = tuple(sorted((r for r in monitor.records if r.type != "pulumi:pulumi:Stack"), key=lambda r: r.urn))
    ids = {urn: str(reg.id) for urn, reg in monitor.resources.items() if reg.id is not None}
    return Built(component=component, urn=held["urn"], resources=resources, ids=ids, outputs=outputs)


@dataclass(frozen=True)
class Refusal:
    message: str
    """The ValueError's message."""
    children: tuple[PlannedResource, ...]
    """Resources (not components) registered before the refusal: none, when validation comes first."""


def refused(make: Callable[[], pulumi.ComponentResource]) -> Refusal:
    """Construct a component that must refuse its Args with a ValueError; what was registered by then."""
    monitor = _start()

    @pulumi.runtime.test
    def construct() -> None:
        make()

    with pytest.raises(ValueError) as info:
        construct()
    leaked = tuple(r for r in monitor.records if r.custom)
    return Refusal(message=str(info.value), children=leaked)


def prop(resource: PlannedResource, path: str, default: Any = _MISSING) -> Any:
    """The input at a dotted camelCase path (`vpcConfig.endpointPrivateAccess`, `rules.0.id`)."""
    value: Any = resource.inputs
    for step in path.split("."):
        if isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        elif isinstance(value, dict) and step in value:
            value = value[step]
        elif default is not _MISSING:
            return default
        else:
            have = sorted(value) if isinstance(value, dict) else type(value).__name__
            pytest.fail(f"{resource.urn}: no input {path!r} (stopped at {step!r}; there: {have})")
    return value


def expect(resource: PlannedResource, path: str, expected: Any) -> None:
    """Assert one input's value, naming the URN and the property on failure."""
    got = prop(resource, path, None)
    assert got == expected, f"{resource.urn}: {path} is {got!r}, expected {expected!r}"


def expect_all(resource: PlannedResource, expected: dict[str, Any]) -> None:
    """Assert several inputs at once (path -> value); the failure lists every mismatch."""
    wrong = {path: (prop(resource, path, None), value) for path, value in expected.items() if prop(resource, path, None) != value}
    assert not wrong, f"{resource.urn}: " + "; ".join(f"{path} is {got!r}, expected {want!r}" for path, (got, want) in wrong.items())


def policy(resource: PlannedResource, path: str = "policy") -> dict[str, Any]:
    """A JSON policy document held in an input (IAM, KMS, S3, SQS)."""
    raw = prop(resource, path)
    assert isinstance(raw, str) and raw != SECRET, f"{resource.urn}: {path} is not a readable JSON document ({raw!r})"
    return json.loads(raw)


def statements(resource: PlannedResource, path: str = "policy") -> dict[str, dict[str, Any]]:
    """A policy document's statements by Sid (every statement must have one)."""
    found = policy(resource, path)["Statement"]
    sids = [s.get("Sid") for s in found]
    assert all(sids) and len(set(sids)) == len(sids), f"{resource.urn}: {path} statements need unique Sids, got {sids}"
    return {s["Sid"]: s for s in found}
