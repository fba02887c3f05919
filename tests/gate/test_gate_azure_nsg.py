"""The NSG evaluator the Azure checks share (sahab/gate/deployability/azure_nsg.py) against the
documented semantics: priority order, first match decides, the default rules, service tags."""

from __future__ import annotations

from sahab.gate.deployability.azure_nsg import Flow, decide

VNET = ["10.50.0.0/16"]


def _rule(name, priority, access, src="*", dst="*", port="*", direction="Inbound", protocol="Tcp"):
    return {
        "name": name,
        "priority": priority,
        "access": access,
        "direction": direction,
        "protocol": protocol,
        "sourceAddressPrefix": src,
        "destinationAddressPrefix": dst,
        "destinationPortRange": port,
    }


def test_lowest_priority_number_decides():
    rules = [_rule("deny", 200, "Deny", port="443"), _rule("allow", 100, "Allow", src="10.60.0.0/24", port="443")]
    assert decide(rules, "Inbound", Flow("10.60.0.0/24", "10.50.1.0/24", 443), VNET) == (True, "allow"), "priority 100 is judged before 200"
    assert decide(rules, "Inbound", Flow("10.61.0.0/24", "10.50.1.0/24", 443), VNET) == (False, "deny"), "the allow does not match this source"


def test_defaults_allow_the_vnet_and_deny_the_rest():
    assert decide([], "Inbound", Flow("10.50.3.0/24", "10.50.1.0/24", 5432), VNET) == (True, "AllowVnetInBound"), "AllowVnetInBound"
    assert decide([], "Inbound", Flow("10.60.0.0/24", "10.50.1.0/24", 443), VNET) == (False, "DenyAllInBound"), "outside the VNet tag"
    assert decide([], "Inbound", Flow("10.60.0.0/24", "10.50.1.0/24", 443), [*VNET, "10.60.0.0/24"])[0], "a peered VNet is in the VirtualNetwork tag"
    assert decide([], "Outbound", Flow("10.50.1.0/24", "Storage", 443), VNET) == (True, "AllowInternetOutBound"), "Storage is within Internet"


def test_a_deny_on_part_of_a_range_blocks_it_and_a_partial_allow_does_not_open_it():
    flow = Flow("10.50.0.0/16", "10.50.1.0/24", 443)
    assert decide([_rule("deny-half", 100, "Deny", src="10.50.0.0/17")], "Inbound", flow, VNET) == (False, "deny-half")
    only_half = [_rule("allow-half", 100, "Allow", src="10.50.0.0/17", port="443"), _rule("deny-vnet", 4000, "Deny", src="VirtualNetwork")]
    assert decide(only_half, "Inbound", flow, VNET) == (False, "deny-vnet"), "half the range allowed is not the range allowed"


def test_ports_protocols_and_tags():
    rules = [_rule("lb", 100, "Allow", src="AzureLoadBalancer", port="9988"), _rule("range", 110, "Allow", src="10.50.0.0/16", port="4000-4500")]
    assert decide(rules, "Inbound", Flow("AzureLoadBalancer", "10.50.1.0/28", 9988), VNET)[1] == "lb"
    assert decide(rules, "Inbound", Flow("10.50.2.0/24", "10.50.1.0/28", 4443), VNET)[1] == "range"
    udp_only = [_rule("udp", 100, "Deny", protocol="Udp")]
    assert decide(udp_only, "Inbound", Flow("10.50.2.0/24", "10.50.1.0/28", 443), VNET) == (True, "AllowVnetInBound"), "a UDP rule does not judge TCP"
    storage = [_rule("deny-storage", 100, "Deny", dst="Storage.UAENorth", direction="Outbound")]
    assert decide(storage, "Outbound", Flow("10.50.1.0/24", "Storage", 443), VNET) == (False, "deny-storage"), "a regional tag matches its service"
