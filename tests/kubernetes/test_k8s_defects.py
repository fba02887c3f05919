"""Regression tests for the platform-layer defects of issue 9 (section 1): each would have broken a
real `pulumi up` or left a platform that does not work, and each test failed on the code before
its fix. Plan-level: they read the shipped uae-central and smb plans (the offline engine)."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from k8s_helpers import HELM, k8s_objects

POD_IDENTITY = (("169.254.170.23", 80), ("fd00:ec2::23", 80))
IMDS = (("169.254.169.254", 80), ("169.254.169.254", 443), ("fd00:ec2::254", 80))


def _peer_admits_ip(peer: dict[str, Any], ip: str) -> bool:
    """An egress peer admits an address outside the cluster only through an ipBlock."""
    block = peer.get("ipBlock")
    if not block:
        return False
    addr = ipaddress.ip_address(ip)
    net = ipaddress.ip_network(block["cidr"])
    if addr.version != net.version or addr not in net:
        return False
    return not any(addr in ipaddress.ip_network(e) for e in block.get("except") or [] if ipaddress.ip_network(e).version == addr.version)


def _rule_admits(rule: dict[str, Any], ip: str, port: int, protocol: str = "TCP") -> bool:
    """NetworkPolicy egress semantics: no `to` = every destination, no `ports` = every port."""
    ports = rule.get("ports")
    if ports and not any(p.get("protocol", "TCP") == protocol and p.get("port") in (None, port) for p in ports):
        return False
    peers = rule.get("to")
    return not peers or any(_peer_admits_ip(p, ip) for p in peers)


def _egress_policies(plan, namespace: str) -> list[tuple[str, dict[str, Any]]]:
    return [(r.urn, r.inputs["spec"]) for r in k8s_objects(plan, "NetworkPolicy")
            if r.inputs["metadata"]["namespace"] == namespace and "Egress" in r.inputs["spec"].get("policyTypes", [])]


def _namespaces(plan) -> list[str]:
    return [r.inputs["metadata"]["name"] for r in k8s_objects(plan, "Namespace")]


@pytest.mark.parametrize("env", ["uae_plan", "smb_plan"])
def test_every_pod_reaches_the_pod_identity_agent_and_never_imds(env, request):
    """Defect: the baseline egress allowed DNS, 443 and pods, not the Pod Identity agent at
    169.254.170.23:80, so no pod got AWS credentials. IMDS must stay denied from every pod."""
    plan = request.getfixturevalue(env)
    for ns in _namespaces(plan):
        policies = _egress_policies(plan, ns)
        # Policies selecting every pod of the namespace decide what every pod may reach.
        everyone = [(urn, spec) for urn, spec in policies if spec.get("podSelector") in ({}, None)]
        for ip, port in POD_IDENTITY:
            assert any(_rule_admits(rule, ip, port) for _, spec in everyone for rule in spec.get("egress") or []), (
                f"namespace {ns}: no egress rule selecting every pod allows the Pod Identity agent {ip}:{port}/TCP "
                f"(policies: {[u for u, _ in everyone]})"
            )
        # Any policy of the namespace, whatever it selects: none may open IMDS.
        for urn, spec in policies:
            for ip, port in IMDS:
                assert not any(_rule_admits(rule, ip, port) for rule in spec.get("egress") or []), f"{urn}: egress admits IMDS {ip}:{port}"
