"""Resource groups: one for the platform (network, cluster, registry, monitoring), one for data
(keys, storage, databases), so locks and role assignments can differ between them."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import resources

PURPOSES = ("platform", "data")


@dataclass(frozen=True, kw_only=True)
class ResourceGroupsArgs:
    environment: str
    """Environment name; groups are `sahab-<env>-<purpose>`."""
    location: str
    """UAE location every group (and its metadata) lives in."""
    tags: dict[str, str]
    """Tags every group carries."""


class ResourceGroups(pulumi.ComponentResource):
    names: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: ResourceGroupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:ResourceGroups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        groups = {
            p: resources.ResourceGroup(f"{name}-{p}", resource_group_name=f"sahab-{args.environment}-{p}", location=args.location, tags=args.tags, opts=child)
            for p in PURPOSES
        }
        self.platform = groups["platform"].name
        self.data = groups["data"].name
        self.names = pulumi.Output.all(**{p: g.name for p, g in groups.items()})
        self.register_outputs({"names": self.names})
