"""network-config-analyzer and the parser of its report on small cases shaped like the
kubernetes-network-policy-recipes (ahmetb): deny all to an app, limit to labelled clients, allow a
namespace, deny egress but DNS, allow an ipBlock with an `except`. Written for this test, not copied."""

from __future__ import annotations

import pytest

from sahab.gate.deployability.connectivity import NCA, Connectivity, run_nca

pytestmark = pytest.mark.slow  # runs network-config-analyzer


def _ns(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}}}


def _app(ns, name, labels):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "i"}]}}},
    }


def _policy(ns, name, selector, **spec):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"podSelector": {"matchLabels": selector}, **spec},
    }


WORLD = [
    _ns("default"),
    _ns("other"),
    _app("default", "web", {"app": "web"}),
    _app("default", "api", {"app": "api", "role": "backend"}),
    _app("default", "client", {"app": "client"}),
    _app("other", "far", {"app": "far"}),
]


def report(*policies):
    assert NCA.exists(), f"network-config-analyzer missing at {NCA} (scripts/setup.sh creates .venv-nca)"
    return Connectivity.parse(run_nca(WORLD + list(policies)))


def test_without_policies_everything_is_allowed():
    r = report()
    assert r.allows("default/client", "default/web", ("TCP", 80)) and r.allows("other/far", "default/api", ("UDP", 53))


def test_deny_all_to_an_application():
    r = report(_policy("default", "web-deny-all", {"app": "web"}, policyTypes=["Ingress"], ingress=[]))
    assert not r.allows("default/client", "default/web", None) and r.allows("default/client", "default/api", ("TCP", 8080))


def test_limit_an_application_to_labelled_clients_on_one_port():
    r = report(
        _policy(
            "default",
            "api-allow",
            {"app": "api"},
            ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], "ports": [{"protocol": "TCP", "port": 8080}]}],
        )
    )
    assert r.allows("default/client", "default/api", ("TCP", 8080))
    assert not r.allows("default/client", "default/api", ("TCP", 8081)) and not r.allows("default/web", "default/api", None)
    assert not r.allows("other/far", "default/api", None)


def test_allow_traffic_from_a_namespace_only():
    r = report(
        _policy("default", "from-other", {"app": "web"}, ingress=[{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}}}]}])
    )
    assert r.allows("other/far", "default/web", ("TCP", 443)) and not r.allows("default/client", "default/web", None)


def test_deny_egress_except_dns_and_an_ip_block_with_except():
    egress = [
        {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}], "ports": [{"protocol": "UDP", "port": 53}]},
        {"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.5.0/24"]}}], "ports": [{"protocol": "TCP", "port": 6379}]},
    ]
    r = report(_policy("default", "client-egress", {"app": "client"}, policyTypes=["Egress"], egress=egress))
    assert r.allows("default/client", "kube-system/kube-dns-livesim", ("UDP", 53)) and not r.allows(
        "default/client", "kube-system/kube-dns-livesim", ("TCP", 53)
    )
    assert r.allows("default/client", "10.0.4.0/24", ("TCP", 6379)) and not r.allows("default/client", "10.0.5.7", ("TCP", 6379))
    assert not r.allows("default/client", "10.0.0.0/16", ("TCP", 6379)), "the except carves a hole, so the whole /16 is not open"
    assert not r.allows("default/client", "default/web", None)
