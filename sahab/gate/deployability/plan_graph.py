"""The order `pulumi up` creates a plan's resources in: which resource waits for which.

A resource waits for (checked: pulumi/pulumi sdk/python/lib/pulumi/runtime/resource.py 3.272.0,
`prepare_resource`; the plan's `options.dependsOn` is the request's `dependencies`):
- every URN of its `options.dependsOn`: the explicit `depends_on` and every resource an input was
  computed from (property dependencies), a component expanded to its custom children;
- its provider, when the provider is a resource of the plan (a Kubernetes provider built from the
  cluster's kubeconfig waits for the cluster, so everything it creates does too);
- a custom parent: the child's registration awaits the parent's URN, which the engine answers only
  once the parent's step is done.
A dependency on a component counts as one on each of its custom descendants.

Several checks ask "does A wait for B"; the graph is built once per Context (`ctx.cache`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sahab.gate.deployability.context import Context

_CACHE_KEY = "plan-graph"


class PlanGraph:
    """Direct and transitive dependencies of every resource of a plan, by URN."""

    def __init__(self, resources: Iterable[Any]):
        self.resources = {r.urn: r for r in resources}
        children: dict[str, list[str]] = {}
        for r in self.resources.values():
            if r.parent:
                children.setdefault(r.parent, []).append(r.urn)
        self._children = children
        self.direct: dict[str, set[str]] = {}
        for urn, r in self.resources.items():
            deps: set[str] = set()
            for d in (r.options or {}).get("dependsOn") or []:
                deps |= self.expand(d)
            if r.provider in self.resources:
                deps.add(r.provider)
            parent = self.resources.get(r.parent)
            if parent is not None and parent.custom:
                deps.add(parent.urn)
            deps.discard(urn)
            self.direct[urn] = deps
        self._ancestors: dict[str, frozenset[str]] = {}

    def expand(self, urn: str) -> set[str]:
        """`urn` itself when it is a custom resource (or not in the plan), else its custom descendants."""
        r = self.resources.get(urn)
        if r is None or r.custom:
            return {urn}
        out: set[str] = set()
        stack = list(self._children.get(urn, ()))
        while stack:
            u = stack.pop()
            c = self.resources.get(u)
            if c is None:
                continue
            if c.custom:
                out.add(u)
            stack.extend(self._children.get(u, ()))
        return out

    def waits_for(self, urn: str) -> frozenset[str]:
        """Every URN `urn` transitively waits for (not itself)."""
        done = self._ancestors.get(urn)
        if done is not None:
            return done
        seen: set[str] = set()
        stack = list(self.direct.get(urn, ()))
        while stack:
            u = stack.pop()
            if u in seen:
                continue
            seen.add(u)
            known = self._ancestors.get(u)
            if known is not None:
                seen |= known
                continue
            stack.extend(self.direct.get(u, ()))
        seen.discard(urn)
        result = frozenset(seen)
        self._ancestors[urn] = result
        return result

    def waits(self, urn: str, other: str) -> bool:
        """Whether `urn` is created only after `other` (a dependency path from `urn` to `other`)."""
        return other in self.waits_for(urn)

    def between(self, urn: str, other: str, type_: str) -> list[Any]:
        """Resources of `type_` on a path from `urn` to `other` (`urn` waits for them, they wait for `other`)."""
        return [self.resources[u] for u in self.waits_for(urn) if self.resources[u].type == type_ and self.waits(u, other)]


def plan_graph(ctx: Context) -> PlanGraph:
    """The Context's graph, built on first use."""
    g = ctx.cache.get(_CACHE_KEY)
    if g is None:
        g = PlanGraph(ctx.plan.resources)
        ctx.cache[_CACHE_KEY] = g
    return g


def label(r: Any) -> str:
    return f"{r.name} ({r.type})"
