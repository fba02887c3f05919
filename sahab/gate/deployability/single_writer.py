"""Single-writer resources: a PostgreSQL flexible server runs one operation at a time, so the child
resources `pulumi up` creates on one server (configurations, databases, firewall rules,
administrators, ...) must form a chain, each waiting for the one before it.

Azure answers a second concurrent write with `ServerIsBusy` ("Cannot complete operation while server
'…' is busy processing another operation"; checked: Azure/ResourceModules#3324 "PostgreSQL Flexible
server configuration concurrent deployment will fail", Altinn/dialogporten#3663, and
Azure/azure-postgresql#134, where Azure support confirmed it). Pulumi creates every resource whose
dependencies are met in parallel (plan_graph.py), so two children that do not wait for each other
are two concurrent writes.
"""

from __future__ import annotations

from typing import Any

from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.plan_graph import label, plan_graph
from sahab.gate.model import Finding

SERVERS = {
    # server type -> (the children's type prefix, the input naming the server)
    "azure-native:dbforpostgresql:Server": ("azure-native:dbforpostgresql:", "serverName"),
}


def children(ctx: Context, server: Any) -> list[Any]:
    prefix, key = SERVERS[server.type]
    name, group = server.inputs.get(key), server.inputs.get("resourceGroupName")
    return [
        r
        for r in ctx.plan.resources
        if r.type.startswith(prefix) and r.type != server.type and r.inputs.get(key) == name and r.inputs.get("resourceGroupName") == group
    ]


def check(ctx: Context) -> list[Finding]:
    graph = plan_graph(ctx)
    out = []
    for server_type in SERVERS:
        for server in ctx.resources(server_type):
            kids = children(ctx, server)
            # Order by how many of the others each waits for: a chain orders them 0, 1, 2, ...
            kids.sort(key=lambda r: sum(graph.waits(r.urn, o.urn) for o in kids))
            for first, second in zip(kids, kids[1:], strict=False):
                if graph.waits(second.urn, first.urn) or graph.waits(first.urn, second.urn):
                    continue
                out.append(
                    finding(
                        "single-writer-postgres",
                        f"{label(second)}: is created in parallel with {label(first)} on the same PostgreSQL flexible server "
                        f"{server.inputs.get('serverName')} ({server.name}), which runs one operation at a time and refuses the other with ServerIsBusy. "
                        f"Fix: chain the server's children: make {second.name} depend on {first.name}.",
                        urn=second.urn,
                        resource=label(second),
                        description="A PostgreSQL flexible server's child resources are created one after another.",
                    )
                )
    return out
