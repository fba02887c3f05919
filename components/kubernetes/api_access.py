"""The cluster's own endpoints as the network policies must name them: the Kubernetes API server, for
the pods that talk to it, and the kubelets, for Prometheus. What admits each flow depends on the
cluster's network-policy engine (`ClusterCloud`):

- k3s (kube-router): egress is judged after kube-proxy's DNAT, so a pod that dials the `kubernetes`
  Service (ClusterIP:443) is judged at a server node's IP:6443: a NetworkPolicy per API client with an
  ipBlock of that address and port (`ClusterCloud.api_server_cidrs`, from `onprem.api_server`).
  checked: k3s-io/k3s#10342 (a policy allowing the Service's port does not admit the API server) and
  sympozium-ai/sympozium#26 (kube-router "evaluates egress rules after DNAT": the port seen is the
  endpoint's); the kubelets on the nodes' addresses: `onprem.node_cidrs`.
- AKS (Azure CNI powered by Cilium): "CIDR-based selectors do not match in-cluster entities (pods or
  nodes) ... you must ordinarily use the kube-apiserver entity as part of a CiliumNetworkPolicy", and
  `toEntities: kube-apiserver` is "expected to work" for egress on AKS (checked: cilium/cilium
  Documentation/security/policy/language.rst at 012a3bf, "Entities based" and "Selecting nodes with
  CIDR / ipBlock"; Microsoft's "Configure Azure CNI Powered by Cilium", Limitations: "Network policies
  cannot use ipBlock to allow access to node or pod IPs"): a CiliumNetworkPolicy per API client with
  `toEntities: [kube-apiserver]`, and one for Prometheus with `toEntities: [host, remote-node]` on
  10250. Layer-4 ports are matched "after service port mapping" (same file, "Layer 4 Examples"): the
  API server's own port, 443 with API Server VNet Integration.
- EKS: the control plane's ENIs sit in the VPC and answer on 443, which the baseline's HTTPS egress
  already admits (tenancy.py) for every pod, Karpenter and the cluster autoscaler included; the
  kubelets are in the VPC's CIDR.

The API clients, per namespace role (components/workloads.py NAMESPACES), by the labels their pods
carry: the charts' controllers (labels as sahab/gate/deployability/charts.py records them from the
pinned charts) and the platform's own pods that mount a service-account token to call the API (the
drift job's retrain trigger; each Argo step's `wait` container, with the executor's token).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.kubernetes.cloud import ClusterCloud

KUBELET_PORT = 10250
CILIUM_API_VERSION = "cilium.io/v2"
# checked: cilium/cilium pkg/k8s/apis/cilium.io/client/crds/v2/ciliumnetworkpolicies.yaml at 02904c9 (toEntities enum).
KUBE_APISERVER_ENTITY = "kube-apiserver"
NODE_ENTITIES = ("host", "remote-node")
PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}  # the operator's label on Prometheus pods (tenancy.py)


@dataclass(frozen=True)
class ApiClient:
    """Pods of one namespace that call the Kubernetes API."""

    name: str
    """Suffix of the policy's name (`allow-api-server-<name>`)."""
    labels: tuple[tuple[str, str], ...]
    """Labels every such pod carries (a matchLabels selector)."""
    why: str
    """What it asks the API for (written on the policy)."""

    @property
    def selector(self) -> dict[str, Any]:
        return {"matchLabels": dict(self.labels)}


_NAME = "app.kubernetes.io/name"
API_CLIENTS: dict[str, tuple[ApiClient, ...]] = {
    "monitoring": (
        ApiClient("prometheus-operator", (("app", "kube-prometheus-stack-operator"),), "the Prometheus operator reconciles its custom resources"),
        ApiClient("prometheus", ((_NAME, "prometheus"),), "Prometheus discovers its scrape targets (Kubernetes service discovery)"),
        ApiClient("kube-state-metrics", ((_NAME, "kube-state-metrics"),), "kube-state-metrics lists and watches every object"),
        ApiClient("grafana", ((_NAME, "grafana"),), "Grafana's sidecar watches the dashboard ConfigMaps"),
        ApiClient("drift", ((_NAME, "drift"),), "the drift job's retrain trigger creates the project's Workflow"),
    ),
    "platform": (
        ApiClient("workflow-controller", ((_NAME, "argo-workflows-workflow-controller"),), "Argo's controller runs the Workflows"),
        ApiClient("argo-server", ((_NAME, "argo-workflows-server"),), "Argo's server reads and submits Workflows"),
        ApiClient("jupyterhub", (("app", "jupyterhub"), ("component", "hub")), "JupyterHub's KubeSpawner starts the notebook pods"),
    ),
    # Every team namespace: each step of a project's Argo pipeline (its `wait` container reports results).
    "team": (ApiClient("pipeline", ((_NAME, "pipeline"),), "each Argo step's wait container reports its results (workflowtaskresults)"),),
}


def api_server_policies(namespace: str, clients: tuple[ApiClient, ...], cloud: ClusterCloud) -> list[tuple[str, str, dict[str, Any]]]:
    """(apiVersion/kind, name, spec) of the objects that let `clients` reach the API server on `cloud`;
    none where the baseline's HTTPS egress already does (EKS)."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for client in clients:
        name = f"allow-api-server-{client.name}"
        if cloud.cilium:
            out.append(
                (f"{CILIUM_API_VERSION}/CiliumNetworkPolicy", name, _cilium_egress(client.selector, [KUBE_APISERVER_ENTITY], cloud.api_server_port, client.why))
            )
        elif cloud.api_server_cidrs:
            spec = {
                "podSelector": client.selector,
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": c}} for c in cloud.api_server_cidrs], "ports": [{"protocol": "TCP", "port": cloud.api_server_port}]}],
            }
            out.append(("networking.k8s.io/v1/NetworkPolicy", name, spec))
    return out


def kubelet_scrape_policy(vpc_cidr: str, cloud: ClusterCloud) -> tuple[str, str, dict[str, Any]]:
    """(apiVersion/kind, name, spec) of Prometheus's egress to the kubelets (cAdvisor, :10250)."""
    name = "allow-kubelet-scrape"
    if cloud.cilium:
        return (
            f"{CILIUM_API_VERSION}/CiliumNetworkPolicy",
            name,
            _cilium_egress(PROMETHEUS, list(NODE_ENTITIES), KUBELET_PORT, "Prometheus scrapes the kubelets"),
        )
    cidrs = cloud.node_cidrs or (vpc_cidr,)
    return (
        "networking.k8s.io/v1/NetworkPolicy",
        name,
        {
            "podSelector": {"matchLabels": dict(PROMETHEUS)},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": c}} for c in cidrs], "ports": [{"protocol": "TCP", "port": KUBELET_PORT}]}],
        },
    )


def _cilium_egress(labels: dict[str, Any], entities: list[str], port: int, why: str) -> dict[str, Any]:
    selector = labels if "matchLabels" in labels else {"matchLabels": dict(labels)}
    return {
        "description": why,
        "endpointSelector": selector,
        "egress": [{"toEntities": entities, "toPorts": [{"ports": [{"port": str(port), "protocol": "TCP"}]}]}],
    }
