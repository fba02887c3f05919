"""Offline monthly cost of an environment, before `pulumi up`: `sahab cost <env>`.

    estimate(plan, environment=, cloud=, region=, snapshot=)   price a plan (a Plan or plan.json)
    estimate_environment(repo, env)                            plan the environment, then price it

The plan's billable resources (node groups from their minimum to their maximum size, NAT gateways,
the control plane, databases, caches, volumes, buckets, keys, endpoints, load balancers, logs...)
are priced from the dated snapshot in `sahab/cost/prices/<region>.json` (`snapshot.py`), by the rules
in `rules.py`. The result is a range: every pool at its minimum (GPU pools from 0 cost nothing
idle) to every pool at its maximum; spot pools at the snapshot's stated discount; usage the plan
cannot know (GiB stored, GiB through NAT) at the snapshot's stated assumptions. What cannot be
priced is listed as unpriced, never counted as 0. USD, and AED at the fixed peg 3.6725.

JSON (`--format json`, a public contract):
`{"environment", "currency", "price_snapshot", "monthly": {"min", "max"}, "lines": [...], "unpriced": [...]}`
plus `monthly_aed`, `by_component`, `by_type`, `unconfirmed_lines`, and `projects` (each model project's
share of those lines, by its pods' requests: `projects.py`; allocations inside the total, not additions).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sahab.cost.estimate import Estimate, Line, PoolCost, Unpriced, estimate, node_pools
from sahab.cost.projects import ProjectCost, ProjectShare, allocate
from sahab.cost.snapshot import AED_PER_USD, PriceSnapshot, SnapshotError, load_snapshot, read_snapshot, snapshot_path

__all__ = [
    "AED_PER_USD",
    "Estimate",
    "Line",
    "PriceSnapshot",
    "SnapshotError",
    "Unpriced",
    "estimate",
    "estimate_environment",
    "estimate_plan",
    "load_snapshot",
    "node_pools",
    "PoolCost",
    "ProjectCost",
    "ProjectShare",
    "allocate",
    "read_snapshot",
    "snapshot_path",
]


def platform_of(config: dict[str, Any]) -> tuple[str, str, str, float | None]:
    """(environment name, cloud, region, budget in USD or None) from a plan's config (`sahab:platform`)."""
    raw = config.get("sahab:platform") or {}
    if isinstance(raw, str):
        raw = json.loads(raw)
    cloud = raw.get("cloud", "aws")
    region = raw.get("region") or config.get("aws:region") or ("on-premises" if cloud == "kubernetes" else "")
    budget = (raw.get("budget") or {}).get("monthly_usd_max")
    return str(raw.get("name", "")), str(cloud), str(region), None if budget is None else float(budget)


def estimate_plan(plan: Any, environment: str | None = None, prices_dir: Path | None = None) -> Estimate:
    """Price a `Plan` or a plan.json document with the snapshot of the platform's region."""
    config = plan.config if hasattr(plan, "config") else plan.get("config", {})
    name, cloud, region, budget = platform_of(config)
    snap = None if cloud == "kubernetes" else load_snapshot(region, prices_dir)
    path = snapshot_path(region, prices_dir)
    shown = f"sahab/cost/prices/{path.name}" if prices_dir is None else str(path)
    est = estimate(plan, environment=environment or name, cloud=cloud, region=region, snapshot=snap, snapshot_path=shown if snap else None)
    est.budget_usd = budget
    return est


def estimate_environment(repo: Path, env: str, stack: str | None = None, prices_dir: Path | None = None) -> Estimate:
    from sahab.engine.offline import plan_environment

    return estimate_plan(plan_environment(repo, env, stack), environment=env, prices_dir=prices_dir)
