"""Helpers for the catalogues of issue 21's deploy-failure classes: find a resource of a plan by what
it does (not only by name), and cut the dependencies that order it after another."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sahab.gate.deployability.plan_graph import PlanGraph


def one(ctx: Any, type_: str, where: Callable[[Any], bool] = lambda r: True) -> Any:
    """The single resource of `type_` for which `where` holds (AssertionError naming the candidates otherwise)."""
    found = [r for r in ctx.plan.resources if r.type == type_ and where(r)]
    assert len(found) == 1, f"expected one {type_} matching, found {[r.name for r in found]}"
    return found[0]


def named(ctx: Any, type_: str, part: str) -> Any:
    return one(ctx, type_, lambda r: part in r.name)


def cut(ctx: Any, consumer: Any, target: Any) -> None:
    """Drop every direct dependency of `consumer` that is, or leads to, `target` (so it no longer waits for it)."""
    graph = PlanGraph(ctx.plan.resources)
    deps = consumer.options.get("dependsOn") or []
    consumer.options["dependsOn"] = [d for d in deps if d != target.urn and not graph.waits(d, target.urn) and not _component_leads(graph, d, target.urn)]
    assert not PlanGraph(ctx.plan.resources).waits(consumer.urn, target.urn), f"{consumer.name} still waits for {target.name}"


def _component_leads(graph: PlanGraph, urn: str, target: str) -> bool:
    return any(u == target or graph.waits(u, target) for u in graph.expand(urn))


def remove(ctx: Any, r: Any) -> None:
    ctx.plan.resources.remove(r)


def messages(findings: list[Any], policy: str) -> list[str]:
    return [f.message for f in findings if f.policy == policy]
