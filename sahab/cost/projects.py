"""What each model project costs: its share of the environment's bill, for showback per project and team.

The cluster is bought as node pools (priced per node in `estimate`); a project uses part of them.
Each project's pods (label `sahab.ae/project`) are allocated the share of a node they reserve, by the
dominant resource of their requests (CPU, memory or GPUs against the node type's capacity, the way
Kubecost and OpenCost allocate idle-free node cost), times the node's price, times the pods:

    Deployments   from the HPA's minimum to its maximum replicas (or `replicas`)
    CronJobs      0 to 1 pod (one run at a time: concurrencyPolicy Forbid); the maximum prices a run
                  that lasts the whole month, the minimum none. A suspended template (retraining,
                  export) the same: its GPU hours are the project's to spend

and the priced lines of its own resources (its serving load balancer). These are allocations inside
the total `estimate` prints, not additions to it. A pod lands on the first pool whose node labels hold
its nodeSelector and whose taints it tolerates; the cheapest type of that pool prices the minimum,
the dearest the maximum (spot pools at the snapshot's discount). On an existing cluster nothing is
bought: the shares are listed without a price.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sahab.cost.rules import Resource
from sahab.cost.snapshot import PriceSnapshot

PROJECT_LABEL = "sahab.ae/project"  # components/kubernetes/project.py
TEAM_LABEL = "sahab.ae/team"
GPU = "nvidia.com/gpu"
_WORKLOADS = ("Deployment", "StatefulSet", "CronJob", "Job")


@dataclass(frozen=True)
class ProjectShare:
    """One workload of a project and what it reserves of its pool."""

    project: str
    team: str
    workload: str  # `Kind namespace/name`
    item: str
    pool: str
    pods_min: float
    pods_max: float
    node_share: float  # of one node, by the dominant resource
    monthly_min: float
    monthly_max: float
    basis: str

    def to_json(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "item": self.item,
            "pool": self.pool,
            "pods": {"min": self.pods_min, "max": self.pods_max},
            "node_share": round(self.node_share, 4),
            "monthly": {"min": round(self.monthly_min, 2), "max": round(self.monthly_max, 2)},
            "basis": self.basis,
        }


@dataclass
class ProjectCost:
    project: str
    team: str
    shares: list[ProjectShare] = field(default_factory=list)
    direct: list[tuple[str, str, float, float]] = field(default_factory=list)
    """(resource name, item, monthly min, monthly max) of the priced lines of its own resources."""

    @property
    def monthly_min(self) -> float:
        return sum(s.monthly_min for s in self.shares) + sum(d[2] for d in self.direct)

    @property
    def monthly_max(self) -> float:
        return sum(s.monthly_max for s in self.shares) + sum(d[3] for d in self.direct)

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "team": self.team,
            "monthly": {"min": round(self.monthly_min, 2), "max": round(self.monthly_max, 2)},
            "workloads": [s.to_json() for s in self.shares],
            "resources": [{"name": n, "item": i, "monthly": {"min": round(lo, 2), "max": round(hi, 2)}} for n, i, lo, hi in self.direct],
        }


@dataclass(frozen=True)
class _Pool:
    name: str
    labels: dict[str, str]
    taints: tuple[tuple[str, str], ...]  # (key, effect) of NoSchedule / NoExecute taints
    types: tuple[str, ...]
    spot: bool
    cloud: str


def _quantity(value: Any, unit: str) -> float:
    """CPU in cores, memory in GiB, from a Kubernetes quantity."""
    if value in (None, ""):
        return 0.0
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value).strip())
    if not m:
        return 0.0
    number, suffix = float(m.group(1)), m.group(2)
    if unit == "cpu":
        return number / 1000 if suffix == "m" else number
    factor = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}.get(suffix, 1)
    return number * factor / 1024**3


def _pools(resources: list[Resource], cloud: str) -> list[_Pool]:
    out = []
    for r in resources:
        i = r.inputs
        if r.type == "aws:eks/nodeGroup:NodeGroup":
            taints = tuple((str(t.get("key")), "NoSchedule") for t in i.get("taints") or () if str(t.get("effect")) in ("NO_SCHEDULE", "NO_EXECUTE"))
            spot = str(i.get("capacityType", "ON_DEMAND")).upper() == "SPOT"
            out.append(_Pool(str(i.get("nodeGroupName") or r.name), dict(i.get("labels") or {}), taints, tuple(i.get("instanceTypes") or ()), spot, "aws"))
        elif r.type == "azure-native:containerservice:AgentPool":
            taints = tuple(
                (str(t).split("=", 1)[0].split(":", 1)[0], "NoSchedule") for t in i.get("nodeTaints") or () if str(t).endswith(("NoSchedule", "NoExecute"))
            )
            out.append(
                _Pool(
                    str(i.get("agentPoolName") or r.name),
                    dict(i.get("nodeLabels") or {}),
                    taints,
                    (str(i.get("vmSize")),),
                    i.get("scaleSetPriority") == "Spot",
                    "azure",
                )
            )
    return out


def _capacity(pool: _Pool, itype: str) -> tuple[float, float, float] | None:
    """(vCPUs, memory GiB, GPUs) of one node of `itype`."""
    if pool.cloud == "aws":
        from stacks.offerings import CAPACITY

        c = CAPACITY.get(itype)
        return (c.vcpus, c.memory_gib, c.gpus) if c else None
    from stacks.azure_offerings import VM_CAPACITY

    v = VM_CAPACITY.get(itype)
    return (v.vcpus, v.memory_gib, v.gpus) if v else None


def _template(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    return spec.get("template") or {}


def _request(pod: dict[str, Any]) -> tuple[float, float, float]:
    cpu = mem = gpus = 0.0
    for c in pod.get("containers") or []:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        cpu += _quantity(req.get("cpu", lim.get("cpu")), "cpu")
        mem += _quantity(req.get("memory", lim.get("memory")), "memory")
        gpus += float(lim.get(GPU, req.get(GPU, 0)) or 0)
    return cpu, mem, gpus


def _admits(pool: _Pool, pod: dict[str, Any]) -> bool:
    tolerated = {str(t.get("key")) for t in pod.get("tolerations") or () if t.get("key")}
    if any(key not in tolerated for key, _ in pool.taints):
        return False
    wanted = {k: str(v) for k, v in (pod.get("nodeSelector") or {}).items() if k not in ("kubernetes.io/os", "kubernetes.io/arch")}
    return all(pool.labels.get(k) == v for k, v in wanted.items())


def allocate(resources: list[Resource], snapshot: PriceSnapshot | None, cloud: str, priced: list[Any]) -> list[ProjectCost]:
    """Every project's shares of the pools and its own priced lines (`priced`: the estimate's lines)."""
    docs = [r for r in resources if r.type.startswith("kubernetes:") and r.inputs.get("kind") in (*_WORKLOADS, "HorizontalPodAutoscaler", "Service")]
    hpas = {}
    for r in docs:
        if r.inputs.get("kind") == "HorizontalPodAutoscaler":
            spec, meta = r.inputs.get("spec") or {}, r.inputs.get("metadata") or {}
            target = (spec.get("scaleTargetRef") or {}).get("name")
            hpas[(meta.get("namespace"), target)] = (float(spec.get("minReplicas") or 1), float(spec.get("maxReplicas") or 1))
    pools = _pools(resources, cloud)
    hours = snapshot.hours_per_month if snapshot else 0.0
    projects: dict[str, ProjectCost] = {}
    for r in docs:
        doc = r.inputs
        kind, meta = doc.get("kind"), doc.get("metadata") or {}
        template = _template(doc)
        labels = {**(meta.get("labels") or {}), **((template.get("metadata") or {}).get("labels") or {})}
        name = labels.get(PROJECT_LABEL)
        if not name:
            continue
        cost = projects.setdefault(name, ProjectCost(name, labels.get(TEAM_LABEL, "")))
        if kind not in _WORKLOADS:
            continue  # a Service's priced lines are picked up below, by resource; an HPA is read above
        pod = template.get("spec") or {}
        cpu, mem, gpus = _request(pod)
        ns, obj = meta.get("namespace", ""), meta.get("name", r.name)
        if kind in ("Deployment", "StatefulSet"):
            lo, hi = hpas.get((ns, obj), (float((doc.get("spec") or {}).get("replicas") or 1),) * 2)
            basis = "HPA minimum..maximum replicas" if (ns, obj) in hpas else "replicas"
        else:
            lo, hi = 0.0, 1.0
            basis = "one run at a time, from none to a run lasting the whole month"
        pool = next((p for p in pools if _admits(p, pod)), None)
        what = f"{cpu:g} CPU, {mem:.3g} GiB" + (f", {gpus:g} GPU" if gpus else "")
        item = f"{kind.lower()} pods ({what})"
        if pool is None:
            cost.shares.append(
                ProjectShare(name, cost.team, f"{kind} {ns}/{obj}", item, "", lo, hi, 0.0, 0.0, 0.0, f"{basis}; no priced node pool (the customer's nodes)")
            )
            continue
        shares, prices = [], []
        for itype in pool.types:
            cap = _capacity(pool, itype)
            key = f"ec2:{itype}" if pool.cloud == "aws" else f"vm:{itype}"
            entry = snapshot.prices.get(key) if snapshot else None
            if cap is None or entry is None:
                continue
            share = max(cpu / cap[0] if cap[0] else 0, mem / cap[1] if cap[1] else 0, gpus / cap[2] if cap[2] else (1.0 if gpus else 0))
            factor = (1 - snapshot.assumption("spot_discount")) if (pool.spot and snapshot) else 1.0
            shares.append(min(share, 1.0))
            prices.append(min(share, 1.0) * entry.usd * (hours if entry.unit == "hour" else 1.0) * factor)
        if not prices:
            cost.shares.append(
                ProjectShare(name, cost.team, f"{kind} {ns}/{obj}", item, pool.name, lo, hi, 0.0, 0.0, 0.0, f"{basis}; {pool.name} has no priced type")
            )
            continue
        cost.shares.append(
            ProjectShare(
                name,
                cost.team,
                f"{kind} {ns}/{obj}",
                item,
                pool.name,
                lo,
                hi,
                max(shares),
                lo * min(prices),
                hi * max(prices),
                f"{basis}; each pod {min(shares):.1%}..{max(shares):.1%} of a {'spot ' if pool.spot else ''}node of {pool.name} (dominant resource of its requests)",
            )
        )
    by_urn = {r.urn: r for r in docs}
    for line in priced:
        owner = by_urn.get(line.urn)
        if owner is None:
            continue
        owned = (owner.inputs.get("metadata") or {}).get("labels") or {}
        name = owned.get(PROJECT_LABEL)
        if name:
            projects.setdefault(name, ProjectCost(name, owned.get(TEAM_LABEL, ""))).direct.append((line.name, line.item, line.monthly_min, line.monthly_max))
    return [projects[k] for k in sorted(projects)]


def by_team(projects: list[ProjectCost]) -> dict[str, tuple[float, float]]:
    """{team: (min, max)} over its projects."""
    out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for p in projects:
        out[p.team][0] += p.monthly_min
        out[p.team][1] += p.monthly_max
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}
