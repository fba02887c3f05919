"""The API server and the kubelets as flow endpoints of the connectivity check, per cluster kind and CNI
(sahab/gate/deployability/cluster_flows.py): the shipped k3s, AKS and EKS plans admit every flow, and a
catalogue of broken policies fails naming the pod, the endpoint and the fix."""

from __future__ import annotations

import pytest
from gate_helpers import doc, policies

from sahab.gate.deployability import cluster_flows, connectivity
from sahab.gate.deployability.pods import PodTemplate

pytestmark = pytest.mark.slow  # runs network-config-analyzer


def _drop(ctx, predicate) -> list[str]:
    """Remove the manifests whose path matches; returns their paths."""
    gone = [rel for rel, _ in ctx.manifests if predicate(rel)]
    ctx.manifests[:] = [(rel, d) for rel, d in ctx.manifests if rel not in gone]
    assert gone, "the shipped plan renders the objects this variant breaks"
    return gone


def _cluster_findings(ctx) -> dict[str, list[str]]:
    found = policies(connectivity.check(ctx))
    return {k: v for k, v in found.items() if k in ("connectivity-api-server", "connectivity-kubelet-scrape", "connectivity-cilium-policy-valid")}


# --------------------------------------------------------------------------------------------
# k3s (smb-onprem): kube-router judges egress after the Service's DNAT
# --------------------------------------------------------------------------------------------


def test_onprem_endpoints_come_from_the_spec_and_every_api_client_is_admitted(onprem_ctx):
    where = cluster_flows.cluster(onprem_ctx)
    assert where is not None and (where.kind, where.api, where.api_port, where.kubelets) == ("k3s", ("10.10.0.10",), 6443, ("10.10.0.0/24",)), where
    clients = {p.name for p, _ in cluster_flows.api_clients(onprem_ctx, connectivity.all_pods(onprem_ctx))}
    assert {"prometheus-operator", "kube-state-metrics", "grafana", "prometheus", "workflow-controller", "hub", "transaction-risk-monitoring"} <= clients, (
        clients
    )
    assert "transaction-risk-pipeline/train" in clients, "each Argo step's wait container calls the API"
    assert not {"mlflow", "transaction-risk-serving", "alertmanager", "pushgateway", "proxy"} & clients, clients
    found = connectivity.check(onprem_ctx)
    assert found == [], "smb-onprem: " + "\n".join(f.message for f in found)


def test_onprem_with_only_https_allowed_fails_naming_the_pod_the_endpoint_and_the_fix(onprem_ctx):
    """Broken variant (today's defect): no policy names the API server's node IP:6443; the baseline's HTTPS
    to any address does not admit it, since kube-router judges the flow after the DNAT."""
    _drop(onprem_ctx, lambda rel: "networkpolicy-allow-api-server-" in rel)
    found = _cluster_findings(onprem_ctx)
    assert set(found) == {"connectivity-api-server"}, found
    messages = found["connectivity-api-server"]
    operator = next((m for m in messages if m.startswith("sahab-monitoring/prometheus-operator (Deployment, Helm release kube-prometheus-stack)")), "")
    assert "10.10.0.10 TCP 6443 is not allowed" in operator and "judged as 10.10.0.10:6443" in operator and "TCP 443 it may reach" in operator, operator
    assert "Fix: egress to ipBlock 10.10.0.10/32 TCP 6443" in operator and "onprem.api_server" in operator, operator
    drift = next((m for m in messages if "sahab-monitoring/transaction-risk-monitoring (CronJob)" in m), "")
    assert "service account transaction-risk-monitoring's token" in drift, drift
    assert any("sahab-team-risk/transaction-risk-pipeline/train" in m and "wait container" in m for m in messages), messages


def test_onprem_policy_for_the_service_clusterip_does_not_admit_the_api_server(onprem_ctx):
    """Broken variant: the API policy names the `kubernetes` Service's ClusterIP:443, as a cluster without
    the DNAT would see it; kube-router never sees that destination."""
    policy = doc(onprem_ctx, "sahab-monitoring/networkpolicy-allow-api-server-grafana.yaml")
    policy["spec"]["egress"] = [{"to": [{"ipBlock": {"cidr": "10.43.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 443}]}]
    found = _cluster_findings(onprem_ctx)
    assert list(found) == ["connectivity-api-server"], found
    assert [m for m in found["connectivity-api-server"] if "sahab-monitoring/grafana (Deployment" in m and "10.10.0.10 TCP 6443" in m], found


def test_onprem_kubelet_scrape_of_the_pod_network_fails(onprem_ctx):
    """Broken variant (today's defect): the kubelet rule names the pod CIDR, not the nodes."""
    policy = doc(onprem_ctx, "sahab-monitoring/networkpolicy-allow-kubelet-scrape.yaml")
    policy["spec"]["egress"][0]["to"] = [{"ipBlock": {"cidr": "10.42.0.0/16"}}]
    found = _cluster_findings(onprem_ctx)
    assert list(found) == ["connectivity-kubelet-scrape"], found
    message = found["connectivity-kubelet-scrape"][0]
    assert message.startswith("sahab-monitoring/prometheus (StatefulSet") and "10.10.0.0/24 TCP 10250" in message, message
    assert "onprem.node_cidrs" in message and "Fix:" in message, message


# --------------------------------------------------------------------------------------------
# AKS (uae-north): Cilium matches the API server and the nodes by entity, never by ipBlock
# --------------------------------------------------------------------------------------------


def test_aks_endpoints_and_cilium_policies_admit_every_flow(north_ctx):
    where = cluster_flows.cluster(north_ctx)
    assert where is not None and where.kind == "aks" and where.cilium and where.api == ("10.50.160.0/28",), where
    found = _cluster_findings(north_ctx)
    assert found == {}, found


def test_aks_kubelet_scrape_by_ipblock_fails_naming_cilium(north_ctx):
    """Broken variant (today's defect on AKS): Prometheus's kubelet egress is an ipBlock of the node subnet."""
    _drop(north_ctx, lambda rel: rel.endswith("ciliumnetworkpolicy-allow-kubelet-scrape.yaml"))
    north_ctx.manifests.append(
        (
            "sahab-monitoring/networkpolicy-allow-kubelet-scrape.yaml",
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "allow-kubelet-scrape", "namespace": "sahab-monitoring"},
                "spec": {
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": "10.50.0.0/17"}}], "ports": [{"protocol": "TCP", "port": 10250}]}],
                },
            },
        )
    )
    found = _cluster_findings(north_ctx)
    assert list(found) == ["connectivity-kubelet-scrape"], found
    message = found["connectivity-kubelet-scrape"][0]
    assert "sahab-monitoring/prometheus (StatefulSet" in message and "host, remote-node" in message, message
    assert "only an ipBlock admits 10.50.0.0/17" in message and "Cilium" in message, message
    assert "Fix: a CiliumNetworkPolicy for Prometheus with egress toEntities: [host, remote-node] toPorts TCP 10250" in message, message


def test_aks_api_server_without_its_cilium_policy_fails(north_ctx):
    """Broken variant: the drift job keeps only the baseline's HTTPS ipBlock toward the API server."""
    _drop(north_ctx, lambda rel: rel.endswith("ciliumnetworkpolicy-allow-api-server-drift.yaml"))
    found = _cluster_findings(north_ctx)
    assert list(found) == ["connectivity-api-server"], found
    messages = found["connectivity-api-server"]
    assert {m.split(":")[0] for m in messages} == {
        "sahab-monitoring/delivery-time-monitoring (CronJob)",
        "sahab-monitoring/transaction-risk-monitoring (CronJob)",
    }, messages
    assert all("kube-apiserver on TCP 443" in m and "only an ipBlock admits 10.50.160.0/28" in m and "toEntities: [kube-apiserver]" in m for m in messages), (
        messages
    )


def test_aks_cilium_policy_with_an_unknown_entity_is_refused(north_ctx):
    policy = doc(north_ctx, "sahab-platform/ciliumnetworkpolicy-allow-api-server-workflow-controller.yaml")
    policy["spec"]["egress"][0]["toEntities"] = ["apiserver"]
    found = _cluster_findings(north_ctx)
    assert set(found) == {"connectivity-cilium-policy-valid", "connectivity-api-server"}, found
    assert "'apiserver' is not one of" in found["connectivity-cilium-policy-valid"][0], found
    assert found["connectivity-api-server"][0].startswith("sahab-platform/workflow-controller (Deployment, Helm release argo-workflows)"), found


# --------------------------------------------------------------------------------------------
# EKS (uae-central): the API server's ENIs in the node subnets, TCP 443
# --------------------------------------------------------------------------------------------


def test_eks_api_server_needs_https_to_the_node_subnets(uae_ctx):
    where = cluster_flows.cluster(uae_ctx)
    assert where is not None and where.kind == "eks" and not where.cilium and where.api == ("10.40.0.0/19", "10.40.32.0/19", "10.40.64.0/19"), where
    baseline = doc(uae_ctx, "sahab-platform/networkpolicy-allow-baseline.yaml")
    baseline["spec"]["egress"] = [r for r in baseline["spec"]["egress"] if {"protocol": "TCP", "port": 443} not in (r.get("ports") or [])]
    found = policies(connectivity.check(uae_ctx))
    messages = found.get("connectivity-api-server", [])
    controller = next((m for m in messages if m.startswith("sahab-platform/workflow-controller (Deployment, Helm release argo-workflows)")), "")
    assert "10.40.0.0/19 TCP 443" in controller and "Argo's controller" in controller and "Fix:" in controller, messages


# --------------------------------------------------------------------------------------------
# Which pods call the API
# --------------------------------------------------------------------------------------------


def test_a_pod_calls_the_api_when_it_mounts_a_token(onprem_ctx):
    def pod(name: str, **spec) -> PodTemplate:
        return PodTemplate(namespace="sahab-platform", name=name, kind="Deployment", labels={"app.kubernetes.io/name": name}, spec=spec, replicas=1)

    pods = [
        pod("opted-out", automountServiceAccountToken=False),
        pod("default-account"),
        pod("opted-in", automountServiceAccountToken=True, serviceAccountName="mlflow"),
    ]
    pods.append(pod("mlflow-account", serviceAccountName="mlflow"))  # mlflow's account sets automount: false
    clients = {p.name: why for p, why in cluster_flows.api_clients(onprem_ctx, pods)}
    assert set(clients) == {"default-account", "opted-in"}, clients
    assert "service account default's token" in clients["default-account"], clients
