"""The VNet: subnets for nodes, private endpoints and data services, an NSG on each (no inbound
from the internet; the data subnet admits only the nodes, on PostgreSQL's port), and the private
DNS zones every private endpoint registers in, linked to the VNet."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns

from components.azure._common import DNS_ZONES

# Pod and service ranges of Azure CNI overlay: outside the VNet, never routed on it.
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.0.0.0/16"
DNS_SERVICE_IP = "10.0.0.10"
POSTGRES_PORT = 5432


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    environment: str
    """Environment name (the PostgreSQL private DNS zone is named after it)."""
    resource_group: pulumi.Input[str]
    """Platform resource group."""
    location: str
    """UAE location."""
    cidr: str
    """VNet address space, /16 to /20, private."""
    tags: dict[str, str]
    """Tags of every taggable child."""


def plan_subnets(cidr: str) -> dict[str, str]:
    """nodes: half the space; private endpoints and data: a sixteenth each."""
    net = ipaddress.ip_network(cidr)
    for other in (POD_CIDR, SERVICE_CIDR):
        if net.overlaps(ipaddress.ip_network(other)):
            raise ValueError(f"cidr: {cidr} overlaps the cluster's overlay range {other}; pick another private range (e.g. 10.40.0.0/16)")
    half = list(net.subnets(new_prefix=net.prefixlen + 1))
    small = list(half[1].subnets(new_prefix=net.prefixlen + 4))
    return {"nodes": str(half[0]), "endpoints": str(small[0]), "data": str(small[1])}


def _rule(name: str, priority: int, access: str, source: str, destination: str, port: str, direction: str = "Inbound") -> network.SecurityRuleArgs:
    return network.SecurityRuleArgs(
        name=name,
        priority=priority,
        access=access,
        direction=direction,
        protocol="*" if port == "*" else "Tcp",
        source_address_prefix=source,
        source_port_range="*",
        destination_address_prefix=destination,
        destination_port_range=port,
    )


class Network(pulumi.ComponentResource):
    vnet_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[dict[str, str]]
    dns_zone_ids: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:Network", name, None, opts)
        cidrs = plan_subnets(args.cidr)
        child = pulumi.ResourceOptions(parent=self)
        rg, loc = args.resource_group, args.location
        deny_internet = _rule("deny-internet-inbound", 4000, "Deny", "Internet", "*", "*")
        rules = {
            "nodes": [deny_internet],
            "endpoints": [
                _rule("allow-nodes", 100, "Allow", cidrs["nodes"], cidrs["endpoints"], "443"),
                _rule("allow-nodes-redis", 110, "Allow", cidrs["nodes"], cidrs["endpoints"], "10000"),
                _rule("deny-vnet-inbound", 4000, "Deny", "VirtualNetwork", "*", "*"),
                deny_internet,
            ],
            "data": [
                _rule("allow-nodes-postgres", 100, "Allow", cidrs["nodes"], cidrs["data"], str(POSTGRES_PORT)),
                _rule("deny-vnet-inbound", 4000, "Deny", "VirtualNetwork", "*", "*"),
                deny_internet,
            ],
        }
        nsgs = {
            role: network.NetworkSecurityGroup(
                f"{name}-{role}-nsg",
                network_security_group_name=f"{name}-{role}-nsg",
                resource_group_name=rg,
                location=loc,
                security_rules=rules[role],
                tags=args.tags,
                opts=child,
            )
            for role in cidrs
        }
        delegations = {"data": [network.DelegationArgs(name="postgres", service_name="Microsoft.DBforPostgreSQL/flexibleServers")]}
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            virtual_network_name=f"{name}-vnet",
            resource_group_name=rg,
            location=loc,
            address_space=network.AddressSpaceArgs(address_prefixes=[args.cidr]),
            tags=args.tags,
            opts=child,
        )
        subnets = {}
        for role, cidr in cidrs.items():
            subnets[role] = network.Subnet(
                f"{name}-{role}",
                subnet_name=role,
                resource_group_name=rg,
                virtual_network_name=vnet.name,
                address_prefix=cidr,
                network_security_group=network.NetworkSecurityGroupArgs(id=nsgs[role].id),
                delegations=delegations.get(role),
                private_endpoint_network_policies="Enabled" if role == "endpoints" else None,
                default_outbound_access=False,
                # Subnets of one VNet are updated one at a time by ARM: chain them.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(subnets.values())),
            )
        zones = {**DNS_ZONES, "postgres": f"sahab-{args.environment}.private.postgres.database.azure.com"}
        zone_ids = {}
        for key, zone_name in zones.items():
            zone = privatedns.PrivateZone(
                f"{name}-zone-{key}", private_zone_name=zone_name, resource_group_name=rg, location="global", tags=args.tags, opts=child
            )
            privatedns.VirtualNetworkLink(
                f"{name}-zone-{key}-link",
                virtual_network_link_name=f"{name}-vnet",
                private_zone_name=zone.name,
                resource_group_name=rg,
                location="global",
                registration_enabled=False,
                virtual_network=privatedns.SubResourceArgs(id=vnet.id),
                tags=args.tags,
                opts=child,
            )
            zone_ids[key] = zone.id
        self.vnet_id = vnet.id
        self.subnet_ids = pulumi.Output.all(**{r: s.id for r, s in subnets.items()})
        self.dns_zone_ids = pulumi.Output.all(**zone_ids)
        self.subnet_cidrs = cidrs
        self.register_outputs({"vnet_id": self.vnet_id, "subnet_ids": self.subnet_ids, "dns_zone_ids": self.dns_zone_ids})
