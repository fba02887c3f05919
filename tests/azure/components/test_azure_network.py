"""Network on its own: a VNet with nodes, endpoints, data and API server subnets as planned, each with
its NSG (internet inbound denied everywhere, rule priorities unique per direction; the data subnet
admits only the nodes and itself on PostgreSQL's port and reaches out only to Storage and Entra ID
through a NAT gateway; the endpoint subnet admits only the nodes on 443 and Redis's port; the API
server subnet, a /28 delegated to AKS, the nodes on 443/4443 and Azure's load balancer on 9988), the
data subnet delegated to PostgreSQL flexible servers, no default outbound access, subnets updated one
at a time, and one private DNS zone per private-endpoint service (plus PostgreSQL's) linked to the VNet
without auto-registration. With a deployer network: peered both ways, admitted on 443 to the
endpoints and the API server, linked to the registry's zone. A CIDR overlapping the cluster overlay
is refused, and so is a deployer without its VNet."""

from __future__ import annotations

import ipaddress

import pytest

from components.azure._common import DNS_ZONES
from components.azure.network import APISERVER_DELEGATION, POSTGRES_PORT, Network, NetworkArgs, plan_subnets
from tests.components.component_helpers import LOCATION, Built, build, expect, prop, refused

CIDR = "10.50.0.0/16"
DEPLOYER_VNET = "/subscriptions/00000000-0000-4000-8000-0000000000aa/resourceGroups/runners-rg/providers/Microsoft.Network/virtualNetworks/runners"
DEPLOYER_CIDR = "10.60.0.0/24"
ROLES = ("nodes", "endpoints", "data", "apiserver")


@pytest.fixture(scope="module")
def net() -> Built:
    return build(
        lambda: Network(
            "net", NetworkArgs(environment="unit", resource_group="sahab-unit-platform", location=LOCATION, cidr=CIDR, tags={"sahab.ae/env": "unit"})
        )
    )


@pytest.fixture(scope="module")
def with_deployer() -> Built:
    return build(
        lambda: Network(
            "net",
            NetworkArgs(
                environment="unit",
                resource_group="sahab-unit-platform",
                location=LOCATION,
                cidr=CIDR,
                tags={"sahab.ae/env": "unit"},
                deployer_vnet_id=DEPLOYER_VNET,
                deployer_cidrs=(DEPLOYER_CIDR,),
            ),
        )
    )


def _rules(net: Built, role: str, direction: str | None = None) -> list[dict]:
    rules = prop(net.child(f"net-{role}-nsg", "azure-native:network:NetworkSecurityGroup"), "securityRules")
    return [r for r in rules if direction is None or r["direction"] == direction]


def _ports(rule: dict) -> set[str]:
    return {rule["destinationPortRange"]} if "destinationPortRange" in rule else set(rule["destinationPortRanges"])


def test_vnet_and_planned_subnets(net: Built):
    vnet = net.child("net-vnet", "azure-native:network:VirtualNetwork")
    expect(vnet, "addressSpace.addressPrefixes", [CIDR])
    expect(vnet, "location", LOCATION)
    for role, cidr in plan_subnets(CIDR).items():
        subnet = net.child(f"net-{role}", "azure-native:network:Subnet")
        expect(subnet, "addressPrefix", cidr)
        expect(subnet, "virtualNetworkName", vnet.outputs["name"])
        expect(subnet, "defaultOutboundAccess", False)
        expect(subnet, "networkSecurityGroup.id", net.id_of(net.child(f"net-{role}-nsg")))
    expect(net.child("net-data"), "delegations", [{"name": "postgres", "serviceName": "Microsoft.DBforPostgreSQL/flexibleServers"}])
    expect(net.child("net-endpoints"), "privateEndpointNetworkPolicies", "Enabled")


def test_subnets_are_updated_one_at_a_time(net: Built):
    order = [f"net-{role}" for role in ROLES]
    for i, name in enumerate(order):
        subnet = net.child(name)
        before = {net.child(n).urn for n in order[:i]}
        assert before <= set(subnet.options.get("dependsOn", [])), f"{subnet.urn}: dependsOn lacks {before - set(subnet.options.get('dependsOn', []))}"


@pytest.mark.parametrize("role", ROLES)
def test_internet_inbound_is_denied_on_every_subnet(net: Built, role: str):
    denied = [r for r in _rules(net, role) if r["sourceAddressPrefix"] == "Internet"]
    assert [(r["access"], r["direction"], r["destinationPortRange"]) for r in denied] == [("Deny", "Inbound", "*")], (
        f"net-{role}-nsg: securityRules for Internet {denied}"
    )
    allowed = [r for r in _rules(net, role) if r["access"] == "Allow"]
    assert all(r["sourceAddressPrefix"] not in ("*", "Internet", "0.0.0.0/0") for r in allowed), f"net-{role}-nsg: securityRules allow {allowed}"


# Inbound allows per subnet: (source role, ports); everything else from the VNet is denied after them.
ADMITTED = {
    "data": {("nodes", frozenset({str(POSTGRES_PORT)})), ("data", frozenset({str(POSTGRES_PORT), "6432"}))},
    "endpoints": {("nodes", frozenset({"443"})), ("nodes", frozenset({"10000"}))},
    "apiserver": {("nodes", frozenset({"443", "4443"})), ("AzureLoadBalancer", frozenset({"9988"}))},
}


@pytest.mark.parametrize("role", sorted(ADMITTED))
def test_data_endpoint_and_apiserver_subnets_admit_only_what_they_serve(net: Built, role: str):
    cidrs = {**plan_subnets(CIDR), "AzureLoadBalancer": "AzureLoadBalancer"}
    by_source = {v: k for k, v in cidrs.items()}
    rules = _rules(net, role, "Inbound")
    allowed = [r for r in rules if r["access"] == "Allow"]
    got = {(by_source.get(r["sourceAddressPrefix"], r["sourceAddressPrefix"]), frozenset(_ports(r))) for r in allowed}
    assert got == ADMITTED[role], f"net-{role}-nsg: inbound allows {sorted(got)}, expected {sorted(ADMITTED[role])}"
    assert all(r["destinationAddressPrefix"] == cidrs[role] for r in allowed), f"net-{role}-nsg: securityRules {allowed}"
    vnet_deny = [r for r in rules if r["sourceAddressPrefix"] == "VirtualNetwork" and r["access"] == "Deny"]
    assert vnet_deny and max(r["priority"] for r in allowed) < vnet_deny[0]["priority"], f"net-{role}-nsg: the rest of the VNet is not denied after the allows"


def test_postgres_subnet_reaches_only_storage_and_entra_through_a_nat_gateway(net: Built):
    """Zone-redundant HA needs 5432 inside the subnet, Storage for WAL archival and Entra ID for Entra
    logins; the subnet has no default outbound access, so it needs an explicit path (issue 21)."""
    data = plan_subnets(CIDR)["data"]
    out = _rules(net, "data", "Outbound")
    allowed = {(r["destinationAddressPrefix"], frozenset(_ports(r))) for r in out if r["access"] == "Allow"}
    assert allowed == {(data, frozenset({"5432", "6432"})), ("Storage.UAENorth", frozenset({"443"})), ("AzureActiveDirectory", frozenset({"443"}))}, (
        f"net-data-nsg: outbound allows {sorted(allowed)}"
    )
    denied = [r for r in out if r["access"] == "Deny"]
    assert [r["destinationAddressPrefix"] for r in denied] == ["Internet"], f"net-data-nsg: outbound denies {denied}"
    assert all(r["priority"] < denied[0]["priority"] for r in out if r["access"] == "Allow"), "net-data-nsg: the Internet deny comes before an allow"
    nat = net.child("net-data-nat", "azure-native:network:NatGateway")
    ip = net.child("net-data-egress-ip", "azure-native:network:PublicIPAddress")
    expect(nat, "publicIpAddresses", [{"id": net.id_of(ip)}])
    expect(ip, "sku.name", "Standard")
    subnet = net.child("net-data", "azure-native:network:Subnet")
    expect(subnet, "natGateway.id", net.id_of(nat))
    expect(subnet, "serviceEndpoints", [{"service": "Microsoft.Storage", "locations": [LOCATION]}])


def test_apiserver_subnet_is_a_delegated_28(net: Built):
    """KMS with a private key vault needs API Server VNet Integration: a /28 (at least) delegated to AKS."""
    cidr = plan_subnets(CIDR)["apiserver"]
    assert ipaddress.ip_network(cidr).prefixlen == 28, f"apiserver subnet {cidr} is not a /28"
    assert not any(ipaddress.ip_network(cidr).overlaps(ipaddress.ip_network(c)) for r, c in plan_subnets(CIDR).items() if r != "apiserver"), cidr
    subnet = net.child("net-apiserver", "azure-native:network:Subnet")
    expect(subnet, "addressPrefix", cidr)
    expect(subnet, "delegations", [{"name": "aks-apiserver", "serviceName": APISERVER_DELEGATION}])
    assert net.output("subnet_ids").value["apiserver"] == net.id_of(subnet), f"{net.urn}: subnet_ids lacks the apiserver subnet"


@pytest.mark.parametrize("which", ["net", "with_deployer"])
def test_rule_priorities_are_unique_per_direction(which: str, request):
    # ARM answers SecurityRuleConflict "Rules cannot have the same Priority and Direction" (checked:
    # hashicorp/terraform-provider-azurerm issue 11137 and Azure/aks-engine issue 2106 quote the error).
    net = request.getfixturevalue(which)
    clashes = {}
    for role in ROLES:
        seen: dict[tuple[str, int], str] = {}
        for rule in _rules(net, role):
            key = (rule["direction"], rule["priority"])
            if key in seen:
                clashes[f"net-{role}-nsg"] = (seen[key], rule["name"], *key)
            seen[key] = rule["name"]
    assert not clashes, f"securityRules share a priority and direction (Azure refuses the NSG): {clashes}"


def test_private_dns_zones_are_linked_without_registration(net: Built):
    expected = {**DNS_ZONES, "postgres": "sahab-unit.private.postgres.database.azure.com"}
    vnet_id = net.id_of(net.child("net-vnet"))
    for key, zone_name in expected.items():
        zone = net.child(f"net-zone-{key}", "azure-native:privatedns:PrivateZone")
        expect(zone, "privateZoneName", zone_name)
        expect(zone, "location", "global")
        link = net.child(f"net-zone-{key}-link", "azure-native:privatedns:VirtualNetworkLink")
        expect(link, "privateZoneName", zone_name)
        expect(link, "virtualNetwork.id", vnet_id)
        expect(link, "registrationEnabled", False)
    zones = net.output("dns_zone_ids").value
    assert sorted(zones) == sorted(expected), f"{net.urn}: dns_zone_ids {sorted(zones)}"


def test_deployer_network_is_peered_admitted_and_resolves_the_registry(with_deployer: Built):
    net = with_deployer
    vnet_id = net.id_of(net.child("net-vnet"))
    to = net.child("net-to-deployer", "azure-native:network:VirtualNetworkPeering")
    expect(to, "remoteVirtualNetwork.id", DEPLOYER_VNET)
    expect(to, "virtualNetworkName", "net-vnet")
    back = net.child("net-from-deployer", "azure-native:network:VirtualNetworkPeering")
    expect(back, "remoteVirtualNetwork.id", vnet_id)
    expect(back, "resourceGroupName", "runners-rg")
    expect(back, "virtualNetworkName", "runners")
    for role in ("endpoints", "apiserver"):
        mine = [r for r in _rules(net, role, "Inbound") if r["sourceAddressPrefix"] == DEPLOYER_CIDR]
        assert [(r["access"], _ports(r)) for r in mine] == [("Allow", {"443"})], f"net-{role}-nsg: deployer rules {mine}"
    for role in ("data", "nodes"):
        assert not [r for r in _rules(net, role) if r["sourceAddressPrefix"] == DEPLOYER_CIDR], f"net-{role}-nsg admits the deployer"
    link = net.child("net-zone-registry-deployer-link", "azure-native:privatedns:VirtualNetworkLink")
    expect(link, "virtualNetwork.id", DEPLOYER_VNET)
    expect(link, "privateZoneName", DNS_ZONES["registry"])
    expect(link, "registrationEnabled", False)


def test_deployer_cidrs_without_a_vnet_are_refused_before_any_resource():
    refusal = refused(
        lambda: Network("net", NetworkArgs(environment="unit", resource_group="rg", location=LOCATION, cidr=CIDR, tags={}, deployer_cidrs=(DEPLOYER_CIDR,)))
    )
    assert refusal.message.startswith("deployer_vnet_id:"), f"Network: message {refusal.message!r} does not name deployer_vnet_id"
    assert not refusal.children, f"Network registered {[r.urn for r in refusal.children]} before refusing deployer_cidrs"


def test_overlay_overlap_is_refused_before_any_resource():
    refusal = refused(lambda: Network("net", NetworkArgs(environment="unit", resource_group="rg", location=LOCATION, cidr="10.244.0.0/16", tags={})))
    assert refusal.message.startswith("cidr:"), f"Network: message {refusal.message!r} does not name cidr"
    assert not refusal.children, f"Network registered {[r.urn for r in refusal.children]} before refusing cidr"
