"""The VNet: subnets for nodes, private endpoints, data services and the API server, an NSG on each
(no inbound from the internet; the data subnet admits only the nodes and itself on PostgreSQL's port
and reaches out only to what PostgreSQL documents, through a NAT gateway; the API server subnet is
delegated to AKS and admits the nodes and Azure's load balancer), the private DNS zones every private
endpoint registers in, linked to the VNet, and, where the spec names one, the deployer's network:
peered, admitted on 443 to the registry's endpoints and the API server, and linked to the zones it
resolves (the registry's here, the API server's in components/azure/cluster.py)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import network, privatedns

from components.azure._common import DNS_ZONES

# Pod and service ranges of Azure CNI overlay: outside the VNet, never routed on it.
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.0.0.0/16"
DNS_SERVICE_IP = "10.0.0.10"
POSTGRES_PORT = 5432
# What PostgreSQL's high availability uses inside its subnet: 5432, and 6432 (PgBouncer) in the
# current text of the networking page (the gate quotes it: sahab/gate/deployability/combinations.py).
POSTGRES_HA_PORTS = (str(POSTGRES_PORT), "6432")
# NSG rule priorities, unique per direction in each NSG (ARM refuses two rules with the same priority
# and direction: SecurityRuleConflict). Allows are 100..; the denies come after them.
DENY_VNET_PRIORITY = 4000
DENY_INTERNET_PRIORITY = 4010
# API Server VNet Integration: the API server's internal load balancer and pods in a subnet delegated
# to AKS, at least a /28; nodes reach it on 443 and 4443, Azure's load balancer probes it on 9988
# (checked: MicrosoftDocs/azure-aks-docs articles/aks/api-server-vnet-integration.md, "bring-your-own
# VNet" and "NSG security rules", fetched 2026-12).
APISERVER_DELEGATION = "Microsoft.ContainerService/managedClusters"
APISERVER_PREFIX = 28
APISERVER_NODE_PORTS = ("443", "4443")
APISERVER_PROBE_PORT = "9988"
# PostgreSQL flexible server (private access): HA and the rest need 5432/6432 within its subnet, Azure
# Storage (443) for log archival, and Microsoft Entra ID for Entra logins (checked:
# MicrosoftDocs/azure-databases-docs articles/postgresql/flexible-server/concepts-networking-private.md,
# "Network security group", fetched 2026-12). Regional Storage tag: the archive stays in the region.
STORAGE_TAGS = {"uaenorth": "Storage.UAENorth", "uaecentral": "Storage.UAECentral"}
ENTRA_TAG = "AzureActiveDirectory"
_VNET_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Network/virtualNetworks/(?P<name>[^/]+)$", re.IGNORECASE)


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
    deployer_vnet_id: str | None = None
    """ARM id of the VNet `pulumi up` and image builds run from: linked to the private DNS zones it resolves."""
    deployer_cidrs: tuple[str, ...] = ()
    """Where in that network the deployer runs: admitted on 443 to the endpoints and the API server."""
    peer_deployer: bool = True
    """Peer the deployer's VNet with this one (both directions); false where it is connected already (a hub)."""


def plan_subnets(cidr: str) -> dict[str, str]:
    """nodes: half the space; private endpoints and data: a sixteenth each; the API server: a /28 after them."""
    net = ipaddress.ip_network(cidr)
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"cidr: {cidr} is not an IPv4 range; the VNet's subnets are IPv4 (e.g. 10.40.0.0/16)")
    for other in (POD_CIDR, SERVICE_CIDR):
        if net.overlaps(ipaddress.ip_network(other)):
            raise ValueError(f"cidr: {cidr} overlaps the cluster's overlay range {other}; pick another private range (e.g. 10.40.0.0/16)")
    half = list(net.subnets(new_prefix=net.prefixlen + 1))
    small = list(half[1].subnets(new_prefix=net.prefixlen + 4))
    apiserver = next(small[2].subnets(new_prefix=APISERVER_PREFIX))
    return {"nodes": str(half[0]), "endpoints": str(small[0]), "data": str(small[1]), "apiserver": str(apiserver)}


def vnet_parts(vnet_id: str) -> tuple[str, str]:
    """(resource group, name) of a VNet's ARM id."""
    found = _VNET_ID.match(vnet_id)
    if not found:
        raise ValueError(
            f"deployer_vnet_id: {vnet_id!r} is not a VNet's ARM id "
            "(/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Network/virtualNetworks/<name>)"
        )
    return found["rg"], found["name"]


def _rule(
    name: str, priority: int, access: str, source: str, destination: str, port: str | tuple[str, ...], direction: str = "Inbound"
) -> network.SecurityRuleArgs:
    ports = {"destination_port_range": port} if isinstance(port, str) else {"destination_port_ranges": list(port)}
    return network.SecurityRuleArgs(
        name=name,
        priority=priority,
        access=access,
        direction=direction,
        protocol="*" if port == "*" else "Tcp",
        source_address_prefix=source,
        source_port_range="*",
        destination_address_prefix=destination,
        **ports,
    )


def security_rules(cidrs: dict[str, str], location: str, deployer_cidrs: tuple[str, ...] = ()) -> dict[str, list[network.SecurityRuleArgs]]:
    """The rules of each subnet's NSG."""
    deny_internet = _rule("deny-internet-inbound", DENY_INTERNET_PRIORITY, "Deny", "Internet", "*", "*")
    deny_vnet = _rule("deny-vnet-inbound", DENY_VNET_PRIORITY, "Deny", "VirtualNetwork", "*", "*")
    data, api, endpoints = cidrs["data"], cidrs["apiserver"], cidrs["endpoints"]
    # The deployer pushes images (registry and data endpoints, 443) and reaches the API server.
    deployer_to = {
        role: [_rule(f"allow-deployer-{i}", 200 + i, "Allow", c, cidrs[role], "443") for i, c in enumerate(deployer_cidrs)]
        for role in ("endpoints", "apiserver")
    }
    return {
        "nodes": [deny_internet],
        "endpoints": [
            _rule("allow-nodes", 100, "Allow", cidrs["nodes"], endpoints, "443"),
            _rule("allow-nodes-redis", 110, "Allow", cidrs["nodes"], endpoints, "10000"),
            *deployer_to["endpoints"],
            deny_vnet,
            deny_internet,
        ],
        "data": [
            _rule("allow-nodes-postgres", 100, "Allow", cidrs["nodes"], data, str(POSTGRES_PORT)),
            _rule("allow-data-postgres", 110, "Allow", data, data, POSTGRES_HA_PORTS),  # HA standby and primary
            deny_vnet,
            deny_internet,
            _rule("allow-data-postgres-out", 100, "Allow", data, data, POSTGRES_HA_PORTS, "Outbound"),
            _rule("allow-storage-out", 110, "Allow", data, STORAGE_TAGS.get(location, "Storage"), "443", "Outbound"),
            _rule("allow-entra-out", 120, "Allow", data, ENTRA_TAG, "443", "Outbound"),
            _rule("deny-internet-outbound", DENY_INTERNET_PRIORITY, "Deny", data, "Internet", "*", "Outbound"),
        ],
        "apiserver": [
            _rule("allow-nodes-apiserver", 100, "Allow", cidrs["nodes"], api, APISERVER_NODE_PORTS),
            _rule("allow-lb-apiserver", 110, "Allow", "AzureLoadBalancer", api, APISERVER_PROBE_PORT),
            *deployer_to["apiserver"],
            deny_vnet,
            deny_internet,
        ],
    }


class Network(pulumi.ComponentResource):
    vnet_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[dict[str, str]]
    dns_zone_ids: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:Network", name, None, opts)
        cidrs = plan_subnets(args.cidr)
        if args.deployer_cidrs and not args.deployer_vnet_id:
            raise ValueError("deployer_vnet_id: deployer_cidrs name where the deployer runs; give its VNet too (its DNS resolves the private zones)")
        if args.deployer_vnet_id:
            vnet_parts(args.deployer_vnet_id)  # a malformed id fails here, before any resource
        for c in args.deployer_cidrs:
            if ipaddress.ip_network(c, strict=False).overlaps(ipaddress.ip_network(args.cidr)):
                raise ValueError(f"deployer_cidrs: {c} overlaps the VNet {args.cidr}; peered networks need disjoint address spaces")
        child = pulumi.ResourceOptions(parent=self)
        rg, loc = args.resource_group, args.location
        rules = security_rules(cidrs, loc, args.deployer_cidrs)
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
        # The data subnet is private (no default outbound access): PostgreSQL reaches Entra ID through a
        # NAT gateway and Storage over a service endpoint; the NSG above allows only those.
        egress_ip = network.PublicIPAddress(
            f"{name}-data-egress-ip",
            public_ip_address_name=f"{name}-data-egress-ip",
            resource_group_name=rg,
            location=loc,
            sku=network.PublicIPAddressSkuArgs(name="Standard", tier="Regional"),
            public_ip_allocation_method="Static",
            public_ip_address_version="IPv4",
            tags=args.tags,
            opts=child,
        )
        nat = network.NatGateway(
            f"{name}-data-nat",
            nat_gateway_name=f"{name}-data-nat",
            resource_group_name=rg,
            location=loc,
            sku=network.NatGatewaySkuArgs(name="Standard"),
            public_ip_addresses=[network.SubResourceArgs(id=egress_ip.id)],
            tags=args.tags,
            opts=child,
        )
        delegations = {
            "data": [network.DelegationArgs(name="postgres", service_name="Microsoft.DBforPostgreSQL/flexibleServers")],
            "apiserver": [network.DelegationArgs(name="aks-apiserver", service_name=APISERVER_DELEGATION)],
        }
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            virtual_network_name=f"{name}-vnet",
            resource_group_name=rg,
            location=loc,
            address_space=network.AddressSpaceArgs(address_prefixes=[args.cidr]),
            tags=args.tags,
            opts=child,
        )
        subnets: dict[str, network.Subnet] = {}
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
                nat_gateway=network.SubResourceArgs(id=nat.id) if role == "data" else None,
                service_endpoints=[network.ServiceEndpointPropertiesFormatArgs(service="Microsoft.Storage", locations=[loc])] if role == "data" else None,
                default_outbound_access=False,
                # Subnets of one VNet are updated one at a time by ARM: chain them.
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(subnets.values())),
            )
        peerings = self._peer(name, vnet, args.deployer_vnet_id, args) if args.deployer_vnet_id and args.peer_deployer else []
        zones = {**DNS_ZONES, "postgres": f"sahab-{args.environment}.private.postgres.database.azure.com"}
        zone_ids = {}
        for key, zone_name in zones.items():
            zone = privatedns.PrivateZone(
                f"{name}-zone-{key}", private_zone_name=zone_name, resource_group_name=rg, location="global", tags=args.tags, opts=child
            )
            linked: dict[str, pulumi.Input[str]] = {"vnet": vnet.id}
            if args.deployer_vnet_id and key == "registry":
                linked["deployer"] = args.deployer_vnet_id
            for which, vnet_id in linked.items():
                privatedns.VirtualNetworkLink(
                    f"{name}-zone-{key}-link" if which == "vnet" else f"{name}-zone-{key}-deployer-link",
                    virtual_network_link_name=f"{name}-{which}",
                    private_zone_name=zone.name,
                    resource_group_name=rg,
                    location="global",
                    registration_enabled=False,
                    virtual_network=privatedns.SubResourceArgs(id=vnet_id),
                    tags=args.tags,
                    opts=child,
                )
            zone_ids[key] = zone.id
        self.vnet_id = vnet.id
        self.subnet_ids = pulumi.Output.all(**{r: s.id for r, s in subnets.items()})
        self.dns_zone_ids = pulumi.Output.all(**zone_ids)
        self.subnet_cidrs = cidrs
        # What the deployer needs before it talks to the private endpoints (the kubeconfig waits for it).
        self.deployer_ready = pulumi.Output.all(*[p.id for p in peerings]).apply(lambda ids: ",".join(ids))
        self.register_outputs({"vnet_id": self.vnet_id, "subnet_ids": self.subnet_ids, "dns_zone_ids": self.dns_zone_ids})

    def _peer(self, name: str, vnet: network.VirtualNetwork, deployer_vnet_id: str, args: NetworkArgs) -> list[network.VirtualNetworkPeering]:
        """Both halves of the peering (a peering connects only once each side has one)."""
        remote_rg, remote_name = vnet_parts(deployer_vnet_id)
        child = pulumi.ResourceOptions(parent=self)

        def half(
            resource_name: str, peering_name: pulumi.Input[str], rg: pulumi.Input[str], vnet_name: pulumi.Input[str], remote_id: pulumi.Input[str]
        ) -> network.VirtualNetworkPeering:
            # Both halves alike: traffic between the two VNets only, nothing forwarded, no gateway transit.
            return network.VirtualNetworkPeering(
                resource_name,
                virtual_network_peering_name=peering_name,
                resource_group_name=rg,
                virtual_network_name=vnet_name,
                remote_virtual_network=network.SubResourceArgs(id=remote_id),
                allow_virtual_network_access=True,
                allow_forwarded_traffic=False,
                allow_gateway_transit=False,
                use_remote_gateways=False,
                opts=child,
            )

        return [
            half(f"{name}-to-deployer", f"to-{remote_name}", args.resource_group, vnet.name, deployer_vnet_id),
            half(f"{name}-from-deployer", pulumi.Output.concat("to-", vnet.name), remote_rg, remote_name, vnet.id),
        ]
