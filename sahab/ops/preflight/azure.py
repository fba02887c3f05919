"""`sahab preflight` for `cloud: azure`: what only Azure itself can say, asked through the Azure CLI.

VM sizes are configuration (no authoritative per-SKU list exists for the UAE regions, UAE.md), so
before a long deploy every AKS pool's size (the system pool and the user pools of the plan) is
looked up in `az vm list-skus --location <region>`: offered there, in each zone the pool spreads
over, and not restricted for this subscription (`NotAvailableForSubscription`: ask Microsoft for
access or quota). Then the Helm charts, as on AWS. `Result` and `PreflightError` are
sahab/ops/preflight/'s, whose PROVIDERS registry runs this for `cloud: azure`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from sahab.ops.preflight.base import PreflightContext, PreflightError, Result, check_charts

CLUSTER, POOL = "azure-native:containerservice:ManagedCluster", "azure-native:containerservice:AgentPool"


def az_list_skus(location: str, az: str | None = None, timeout: float = 300) -> list[dict[str, Any]]:
    """`az vm list-skus` for virtual machines in `location` (checked: learn.microsoft.com `az vm
    list-skus`, output fields name, locationInfo[].zones, restrictions[], fetched 2026-12)."""
    az = az or shutil.which("az")
    if az is None:
        raise PreflightError(
            "preflight on Azure asks the Azure CLI. Fix: install it (https://aka.ms/azure-cli) and `az login`; offline, `sahab check` is the gate."
        )
    proc = subprocess.run(
        [az, "vm", "list-skus", "--location", location, "--resource-type", "virtualMachines", "--all", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise PreflightError(
            f"az vm list-skus failed: {(proc.stderr or proc.stdout).strip()[-400:]}. Fix: `az login` and `az account set --subscription <id>` as the deployer."
        )
    return json.loads(proc.stdout or "[]")


def pools(ctx: PreflightContext) -> dict[str, tuple[str, tuple[str, ...]]]:
    """'<pool> (<type>)' -> (VM size, zones) for every AKS pool of the plan."""
    out = {}
    for r in ctx.resources(CLUSTER):
        for p in r.inputs.get("agentPoolProfiles") or []:
            out[f"{p.get('name')} ({CLUSTER} {r.name})"] = (str(p.get("vmSize")), tuple(p.get("availabilityZones") or ()))
    for r in ctx.resources(POOL):
        out[f"{r.inputs.get('agentPoolName')} ({POOL} {r.name})"] = (str(r.inputs.get("vmSize")), tuple(r.inputs.get("availabilityZones") or ()))
    return out


def check_vm_sizes(ctx: PreflightContext, skus: list[dict[str, Any]]) -> list[Result]:
    by_name = {s.get("name"): s for s in skus}
    fix = f"Fix: choose another size in environments/{ctx.env}/Pulumi.{ctx.env}.yaml (az vm list-skus -l {ctx.region} lists them)"
    out = []
    for pool, (size, zones) in sorted(pools(ctx).items()):
        sku = by_name.get(size)
        if sku is None:
            out.append(Result("vm-sizes", "fail", f"{pool}: {size} is not offered in {ctx.region}. {fix}."))
            continue
        restrictions = sku.get("restrictions") or []
        if any(x.get("type") == "Location" for x in restrictions):
            reason = next(x.get("reasonCode") for x in restrictions if x.get("type") == "Location")
            out.append(
                Result(
                    "vm-sizes",
                    "fail",
                    f"{pool}: {size} is restricted for this subscription in {ctx.region} ({reason}). Fix: request access or quota for it (Azure support), or {fix[5:]}.",
                )
            )
            continue
        offered = {z for info in sku.get("locationInfo") or [] for z in info.get("zones") or []}
        offered -= {z for x in restrictions if x.get("type") == "Zone" for z in (x.get("restrictionInfo") or {}).get("zones") or []}
        missing = [z for z in zones if z not in offered]
        if missing:
            out.append(
                Result(
                    "vm-sizes",
                    "fail",
                    f"{pool}: {size} is not available in zone(s) {', '.join(missing)} of {ctx.region} (available: {', '.join(sorted(offered)) or 'none'}); AKS refuses the pool. {fix}, or spread it over the zones that offer it.",
                )
            )
        else:
            out.append(Result("vm-sizes", "pass", f"{pool}: {size} offered in {ctx.region}" + (f" zones {', '.join(zones)}" if zones else "")))
    return out


def preflight(ctx: PreflightContext, list_skus: Callable[[str], list[dict[str, Any]]] = az_list_skus) -> list[Result]:
    return check_vm_sizes(ctx, list_skus(ctx.region)) + check_charts(ctx)
