"""Price a plan: every billable resource becomes priced lines or an unpriced entry, never a silent 0."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sahab.cost.projects import ProjectCost, allocate
from sahab.cost.rules import COVERED, RULES, Charge, Context, NotPriced, Resource, is_free
from sahab.cost.snapshot import AED_PER_USD, PriceSnapshot


@dataclass(frozen=True)
class Line:
    component: str
    urn: str
    type: str
    name: str
    item: str
    price_key: str
    unit: str
    unit_price_usd: float
    count_min: float
    count_max: float
    monthly_min: float
    monthly_max: float
    confirmed: bool
    assumption: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "item": self.item,
            "price_key": self.price_key,
            "unit": self.unit,
            "unit_price_usd": self.unit_price_usd,
            "count": {"min": self.count_min, "max": self.count_max},
            "monthly": {"min": round(self.monthly_min, 2), "max": round(self.monthly_max, 2)},
            "monthly_aed": {"min": round(self.monthly_min * AED_PER_USD, 2), "max": round(self.monthly_max * AED_PER_USD, 2)},
            "confirmed": self.confirmed,
            "assumption": self.assumption,
        }


@dataclass(frozen=True)
class Unpriced:
    component: str
    urn: str
    type: str
    name: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "urn": self.urn, "type": self.type, "name": self.name, "reason": self.reason}


@dataclass
class Estimate:
    environment: str
    cloud: str
    region: str
    snapshot: PriceSnapshot | None
    snapshot_path: str | None
    lines: list[Line] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    note: str | None = None
    budget_usd: float | None = None
    projects: list[ProjectCost] = field(default_factory=list)
    """Each model project's share of the lines (sahab/cost/projects.py): allocations inside the total, not additions."""

    @property
    def monthly_min(self) -> float:
        return sum(line.monthly_min for line in self.lines)

    @property
    def monthly_max(self) -> float:
        return sum(line.monthly_max for line in self.lines)

    def rollup(self, by: str) -> dict[str, tuple[float, float]]:
        """{component or type: (min, max)} in USD, dearest maximum first."""
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for line in self.lines:
            key = getattr(line, by)
            sums[key][0] += line.monthly_min
            sums[key][1] += line.monthly_max
        return {k: (v[0], v[1]) for k, v in sorted(sums.items(), key=lambda kv: (-kv[1][1], kv[0]))}

    def to_json(self) -> dict[str, Any]:
        snap = self.snapshot
        return {
            "environment": self.environment,
            "cloud": self.cloud,
            "region": self.region,
            "currency": "USD",
            "aed_per_usd": AED_PER_USD,
            "price_snapshot": None
            if snap is None
            else {
                "region": snap.region,
                "date": snap.date,
                "source": snap.source,
                "path": self.snapshot_path,
                "hours_per_month": snap.hours_per_month,
                "assumptions": {k: {"value": a.value, "why": a.why} for k, a in snap.assumptions.items()},
            },
            "monthly": {"min": round(self.monthly_min, 2), "max": round(self.monthly_max, 2)},
            "monthly_aed": {"min": round(self.monthly_min * AED_PER_USD, 2), "max": round(self.monthly_max * AED_PER_USD, 2)},
            "budget": None if self.budget_usd is None else {"monthly_usd_max": self.budget_usd, "within": self.monthly_max <= self.budget_usd},
            "by_component": {k: {"min": round(lo, 2), "max": round(hi, 2)} for k, (lo, hi) in self.rollup("component").items()},
            "by_type": {k: {"min": round(lo, 2), "max": round(hi, 2)} for k, (lo, hi) in self.rollup("type").items()},
            "unconfirmed_lines": sum(1 for line in self.lines if not line.confirmed),
            "lines": [line.to_json() for line in self.lines],
            "unpriced": [u.to_json() for u in self.unpriced],
            "projects": [p.to_json() for p in self.projects],
            "note": self.note,
        }


def _resources(plan: Any) -> list[Resource]:
    """Resources of a `Plan` (sahab.engine.offline) or of a plan.json document."""
    items = plan.resources if hasattr(plan, "resources") else plan["resources"]
    out = []
    for r in items:
        get = (lambda k, r=r: getattr(r, k)) if not isinstance(r, dict) else (lambda k, r=r: r.get(k))
        out.append(
            Resource(
                urn=get("urn"),
                type=get("type"),
                name=get("name"),
                parent=get("parent") or "",
                inputs=get("inputs") or {},
                custom=bool(get("custom") if get("custom") is not None else True),
            )
        )
    return out


def _component_of(resources: list[Resource]) -> dict[str, str]:
    """urn -> `Type name` of its top-level component (the ancestor right under the stack)."""
    by_urn = {r.urn: r for r in resources}
    out: dict[str, str] = {}
    for r in resources:
        node, top = r, None
        while node.parent and node.parent in by_urn and by_urn[node.parent].type != "pulumi:pulumi:Stack":
            node = by_urn[node.parent]
            top = node
        out[r.urn] = f"{top.type} {top.name}" if top is not None else "(stack)"
    return out


def estimate(plan: Any, *, environment: str, cloud: str, region: str, snapshot: PriceSnapshot | None, snapshot_path: str | None = None) -> Estimate:
    """Price every resource of `plan` from `snapshot` (None: nothing can be priced, all listed)."""
    resources = _resources(plan)
    children: dict[str, list[Resource]] = defaultdict(list)
    for r in resources:
        children[r.parent].append(r)
    ctx = Context(cloud=cloud, snapshot=snapshot, children=children)
    component = _component_of(resources)
    result = Estimate(environment=environment, cloud=cloud, region=region, snapshot=snapshot, snapshot_path=snapshot_path)
    if cloud == "kubernetes":
        result.note = "cloud: kubernetes runs on the customer's own cluster: the plan buys nothing from a cloud; hardware, power and storage are the customer's"
    elif snapshot is None:
        result.note = f"no price snapshot for {cloud} {region} (sahab/cost/prices/{region}.json): every billable resource is listed as unpriced"
    for r in resources:
        if not r.custom or r.type == "pulumi:pulumi:Stack":
            continue
        rule = RULES.get(r.type)
        if rule is None:
            if not is_free(r.type):
                result.unpriced.append(Unpriced(component[r.urn], r.urn, r.type, r.name, "no pricing rule for this resource type in sahab/cost/rules.py"))
            continue
        outcome = rule(r, ctx)
        if outcome is None or outcome == COVERED:
            continue
        if isinstance(outcome, NotPriced):
            result.unpriced.append(Unpriced(component[r.urn], r.urn, r.type, r.name, outcome.reason))
            continue
        for charge in outcome:
            _price(charge, r, component[r.urn], ctx, result)
    result.projects = allocate(resources, snapshot, cloud, result.lines)
    return result


def _price(charge: Charge, r: Resource, component: str, ctx: Context, result: Estimate) -> None:
    snap = ctx.snapshot
    keys = (charge.key,) if isinstance(charge.key, str) else charge.key
    found = [(k, snap.prices[k]) for k in keys if snap is not None and k in snap.prices]
    if snap is None or not found:
        why = f"no price for {' / '.join(keys)} in the {snap.region} snapshot ({snap.date})" if snap is not None else "no price snapshot for this region"
        result.unpriced.append(Unpriced(component, r.urn, r.type, r.name, f"{charge.item}: {why}"))
        return
    hours = snap.hours_per_month

    def monthly(entry) -> float:
        return entry.usd * (hours if entry.unit == "hour" else 1.0) * charge.factor

    cheap = min(found, key=lambda kv: monthly(kv[1]))
    dear = max(found, key=lambda kv: monthly(kv[1]))
    missing = [k for k in keys if k not in dict(found)]
    assumption = charge.assumption
    if missing:
        assumption = "; ".join(filter(None, [assumption, f"no price for {', '.join(missing)}: range from the priced alternatives"]))
    key = cheap[0] if cheap[0] == dear[0] else f"{cheap[0]}..{dear[0]}"
    result.lines.append(
        Line(
            component=component,
            urn=r.urn,
            type=r.type,
            name=r.name,
            item=charge.item,
            price_key=key,
            unit=dear[1].unit,
            unit_price_usd=dear[1].usd,
            count_min=charge.count_min,
            count_max=charge.count_max,
            monthly_min=charge.count_min * monthly(cheap[1]),
            monthly_max=charge.count_max * monthly(dear[1]),
            confirmed=all(e.confirmed for _, e in (cheap, dear)),
            assumption=assumption,
        )
    )


@dataclass(frozen=True)
class PoolCost:
    """One node pool's share of the estimate (its nodes and their volumes), min..max."""

    name: str
    urn: str
    component: str
    nodes_min: float
    nodes_max: float
    monthly_min: float
    monthly_max: float


POOL_TYPES = frozenset({"aws:eks/nodeGroup:NodeGroup", "azure-native:containerservice:AgentPool"})


def node_pools(est: Estimate) -> list[PoolCost]:
    """The pools that scale (min < max), dearest maximum first: what to shrink to meet a budget."""
    grouped: dict[str, list[Line]] = defaultdict(list)
    for line in est.lines:
        if line.type in POOL_TYPES:
            grouped[line.urn].append(line)
    pools = []
    for urn, lines in grouped.items():
        nodes = lines[0]  # the rules put the nodes first, then their volumes
        pools.append(
            PoolCost(
                nodes.name, urn, nodes.component, nodes.count_min, nodes.count_max, sum(li.monthly_min for li in lines), sum(li.monthly_max for li in lines)
            )
        )
    return sorted((p for p in pools if p.nodes_max > p.nodes_min), key=lambda p: -p.monthly_max)
