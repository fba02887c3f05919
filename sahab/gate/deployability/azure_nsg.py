"""Network security groups as Azure evaluates them, for the flows the checks ask about.

Semantics (checked: learn.microsoft.com "Network security groups: how network security groups
filter network traffic" and "Security rules: default security rules", MicrosoftDocs/azure-docs
articles/virtual-network/network-security-groups-overview.md): rules of one direction are judged by
priority, lowest number first, and the first rule matching the flow decides; after the user's rules
come the defaults (inbound: AllowVnetInBound 65000, AllowAzureLoadBalancerInBound 65001,
DenyAllInBound 65500; outbound: AllowVnetOutBound 65000, AllowInternetOutBound 65001,
DenyAllOutBound 65500). The `VirtualNetwork` tag covers the VNet's address space and the address
spaces of peered VNets. A private endpoint is filtered by its subnet's NSG only where the subnet's
`privateEndpointNetworkPolicies` is Enabled or NetworkSecurityGroupEnabled.

A flow names its source and destination by CIDR or by service tag (`Storage`, `AzureLoadBalancer`);
a rule that covers only part of a CIDR flow cannot allow it, and a Deny that covers any part of it
blocks it (the check must hold for every address of the range).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sahab.gate.deployability.azure_arm import resolve
from sahab.gate.deployability.context import Context

DEFAULT_RULES = {
    "Inbound": [
        {
            "name": "AllowVnetInBound",
            "priority": 65000,
            "access": "Allow",
            "sourceAddressPrefix": "VirtualNetwork",
            "destinationAddressPrefix": "VirtualNetwork",
        },
        {
            "name": "AllowAzureLoadBalancerInBound",
            "priority": 65001,
            "access": "Allow",
            "sourceAddressPrefix": "AzureLoadBalancer",
            "destinationAddressPrefix": "*",
        },
        {"name": "DenyAllInBound", "priority": 65500, "access": "Deny", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*"},
    ],
    "Outbound": [
        {
            "name": "AllowVnetOutBound",
            "priority": 65000,
            "access": "Allow",
            "sourceAddressPrefix": "VirtualNetwork",
            "destinationAddressPrefix": "VirtualNetwork",
        },
        {"name": "AllowInternetOutBound", "priority": 65001, "access": "Allow", "sourceAddressPrefix": "*", "destinationAddressPrefix": "Internet"},
        {"name": "DenyAllOutBound", "priority": 65500, "access": "Deny", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*"},
    ],
}
# Service tags that are public Azure addresses, so within `Internet` (the tag covers every address
# outside the VNet and the peered ones, Azure's public ranges included).
PUBLIC_TAGS = ("Storage", "AzureActiveDirectory", "AzureMonitor", "AzureKeyVault", "AzureContainerRegistry")


@dataclass(frozen=True)
class Flow:
    """TCP from `source` to `destination` on `port`: each a CIDR or a service tag."""

    source: str
    destination: str
    port: int
    protocol: str = "Tcp"

    def __str__(self) -> str:
        return f"{self.protocol.upper()} {self.port} from {self.source} to {self.destination}"


def _net(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _match(prefix: str, side: str, vnet: list[str]) -> str:
    """'all', 'part' or 'none': how much of the flow side `side` the rule prefix covers."""
    p = prefix.strip()
    if p in ("*", "0.0.0.0/0", "Any"):
        return "all"
    flow_net, rule_net = _net(side), _net(p)
    if flow_net is None:  # the flow names a service tag
        tag = side.split(".")[0].lower()
        if p.split(".")[0].lower() == tag:
            return "all"
        return "all" if p == "Internet" and side.split(".")[0] in PUBLIC_TAGS else "none"
    if p == "VirtualNetwork":
        nets = [n for n in (_net(v) for v in vnet) if n is not None and n.version == flow_net.version]
        if any(flow_net.subnet_of(n) for n in nets):  # type: ignore[arg-type]  # same IP version, checked above
            return "all"
        return "part" if any(flow_net.overlaps(n) for n in nets) else "none"
    if p == "Internet":
        return "none" if flow_net.is_private else "all"
    if rule_net is None or rule_net.version != flow_net.version:
        return "none"
    if flow_net.subnet_of(rule_net):  # type: ignore[arg-type]  # same IP version, checked above
        return "all"
    return "part" if flow_net.overlaps(rule_net) else "none"


def _prefixes(rule: dict[str, Any], side: str) -> list[str]:
    many = rule.get(f"{side}AddressPrefixes") or []
    one = rule.get(f"{side}AddressPrefix")
    return [str(p) for p in ([one] if one else []) + list(many)] or ["*"]


def _ports(rule: dict[str, Any]) -> list[str]:
    many = rule.get("destinationPortRanges") or []
    one = rule.get("destinationPortRange")
    return [str(p) for p in ([one] if one else []) + list(many)] or ["*"]


def _port_in(port: int, ranges: list[str]) -> bool:
    for r in ranges:
        if r == "*":
            return True
        lo, _, hi = r.partition("-")
        if lo.isdigit() and int(lo) <= port <= int(hi or lo):
            return True
    return False


def _cover(values: list[str], side: str, vnet: list[str]) -> str:
    found = {_match(p, side, vnet) for p in values}
    return "all" if "all" in found else ("part" if "part" in found else "none")


def rules(ctx: Context, nsg: Any) -> list[dict[str, Any]]:
    """The NSG's own rules: inline `securityRules` and separate SecurityRule resources."""
    own = list(nsg.inputs.get("securityRules") or [])
    name = nsg.inputs.get("networkSecurityGroupName")
    own += [r.inputs for r in ctx.resources("azure-native:network:SecurityRule") if r.inputs.get("networkSecurityGroupName") == name]
    return own


def decide(rule_list: list[dict[str, Any]], direction: str, flow: Flow, vnet: list[str]) -> tuple[bool, str]:
    """(allowed, the deciding rule's name) for `flow` through one NSG in `direction`."""
    ordered = sorted((r for r in rule_list if str(r.get("direction", "")).lower() == direction.lower()), key=lambda r: int(r.get("priority", 65000)))
    for r in [*ordered, *DEFAULT_RULES[direction]]:
        proto = str(r.get("protocol", "*"))
        if proto not in ("*", "Any") and proto.lower() != flow.protocol.lower():
            continue
        if not _port_in(flow.port, _ports(r)):
            continue
        src, dst = _cover(_prefixes(r, "source"), flow.source, vnet), _cover(_prefixes(r, "destination"), flow.destination, vnet)
        if src == "none" or dst == "none":
            continue
        allow = str(r.get("access", "")).lower() == "allow"
        if src == "all" and dst == "all":
            return allow, str(r.get("name", "?"))
        if not allow:  # a Deny on part of the range blocks those addresses
            return False, str(r.get("name", "?"))
    return False, "DenyAll"


def subnet_nsg(ctx: Context, subnet: Any) -> Any:
    """The NSG resource a Subnet resource names (None: no NSG, everything passes)."""
    ref = (subnet.inputs.get("networkSecurityGroup") or {}).get("id") if subnet is not None else None
    return resolve(ctx, ref)


def vnet_prefixes(ctx: Context, subnet: Any, extra: tuple[str, ...] = ()) -> list[str]:
    """The `VirtualNetwork` tag of the subnet's VNet: its address space, plus `extra` (peered VNets)."""
    vnet = next(
        (v for v in ctx.resources("azure-native:network:VirtualNetwork") if v.inputs.get("virtualNetworkName") == subnet.inputs.get("virtualNetworkName")),
        None,
    )
    space = list(((vnet.inputs.get("addressSpace") or {}).get("addressPrefixes") or []) if vnet is not None else [])
    return space + [str(subnet.inputs.get("addressPrefix") or "")] + list(extra)


def through(ctx: Context, subnet: Any, direction: str, flow: Flow, extra_vnet: tuple[str, ...] = ()) -> tuple[bool, str]:
    """(allowed, why) for `flow` through `subnet`'s NSG in `direction`; allowed when it has none."""
    nsg = subnet_nsg(ctx, subnet)
    if nsg is None:
        return True, "no NSG"
    ok, rule = decide(rules(ctx, nsg), direction, flow, vnet_prefixes(ctx, subnet, extra_vnet))
    return ok, f"{nsg.inputs.get('networkSecurityGroupName')} rule {rule}"


def filters_private_endpoints(subnet: Any) -> bool:
    return str(subnet.inputs.get("privateEndpointNetworkPolicies", "Disabled")) in ("Enabled", "NetworkSecurityGroupEnabled")


def subnet_prefix(subnet: Any) -> str:
    return str(subnet.inputs.get("addressPrefix") or (subnet.inputs.get("addressPrefixes") or [""])[0])
