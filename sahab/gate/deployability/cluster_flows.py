"""The cluster's own endpoints as flow endpoints of the connectivity check: the Kubernetes API server,
which every pod that mounts a service-account token or runs a chart's controller must reach, and the
kubelets, which Prometheus scrapes (TCP 10250). Where they are, and what admits a flow to them, depends
on the cluster kind and its CNI:

    EKS   the API server's ENIs in the cluster's (node) subnets, TCP 443; the kubelets in the node
          subnets. NetworkPolicy ipBlocks match them: NCA's verdict stands.
    AKS   the API server in its VNet-integrated subnet, TCP 443; Cilium enforces the policies and an
          ipBlock (NetworkPolicy or toCIDR) never matches the API server or a node: "CIDR-based
          selectors do not match in-cluster entities (pods or nodes)", the API server is the
          `kube-apiserver` entity, the nodes `host` / `remote-node` (checked: cilium/cilium
          Documentation/security/policy/language.rst at 012a3bf, "Entities based", "Selecting nodes
          with CIDR / ipBlock"; Microsoft, "Configure Azure CNI Powered by Cilium", Limitations). A
          flow is admitted only by a CiliumNetworkPolicy selecting the pod with that entity (or `all`;
          `cluster` for the nodes) on the port, ports matched after the Service's mapping.
    k3s   kube-router judges egress after kube-proxy's DNAT: a pod dialling the `kubernetes` Service
          (ClusterIP:443) is judged at the endpoint, a server node's IP:6443 (`onprem.api_server`);
          the kubelets on `onprem.node_cidrs` (checked: k3s-io/k3s#10342; sympozium-ai/sympozium#26).
          NCA's verdict at that address and port stands; a rule for 443 does not admit it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from sahab.gate.deployability import charts
from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.pods import ARGO_KINDS, PodTemplate, selector_matches

API_PORT = 443
KUBELET_PORT = 10250
# Chart workloads (charts.CHARTS: chart, workload) that call the Kubernetes API: controllers and what
# lists or watches objects (read from the pinned charts' RBAC: each binds its service account to a role
# over the API). The pushgateway, alertmanager, node-exporter, dcgm-exporter, the device plugin and
# JupyterHub's proxy do not.
CHART_API_CLIENTS = {
    ("kube-prometheus-stack", "prometheus-operator"): "the Prometheus operator reconciles its custom resources",
    ("kube-prometheus-stack", "prometheus"): "Prometheus discovers its targets through the API (Kubernetes service discovery)",
    ("kube-prometheus-stack", "kube-state-metrics"): "kube-state-metrics lists and watches every object",
    ("kube-prometheus-stack", "grafana"): "Grafana's sidecar watches the dashboard ConfigMaps",
    ("argo-workflows", "workflow-controller"): "Argo's controller runs the Workflows",
    ("argo-workflows", "argo-server"): "Argo's server reads and submits Workflows",
    ("jupyterhub", "hub"): "JupyterHub's KubeSpawner starts the notebook pods",
    ("karpenter", "karpenter"): "Karpenter watches pending pods and its node pools",
    ("cluster-autoscaler", "cluster-autoscaler"): "the cluster autoscaler watches pending pods and nodes",
}
# checked: cilium/cilium pkg/k8s/apis/cilium.io/client/crds/v2/ciliumnetworkpolicies.yaml at 02904c9
# (EgressRule.toEntities enum; PortProtocol.port pattern and protocol enum).
CILIUM_ENTITIES = ("all", "world", "cluster", "host", "init", "ingress", "unmanaged", "remote-node", "health", "none", "kube-apiserver")
CILIUM_PROTOCOLS = ("TCP", "UDP", "SCTP", "VRRP", "IGMP", "ANY")
_CILIUM_PORT = re.compile(r"^(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})$|^([a-zA-Z0-9]-?)*[a-zA-Z](-?[a-zA-Z0-9])*$")
TENANCY = "components/kubernetes/tenancy.py and api_access.py"


@dataclass(frozen=True)
class Cluster:
    """Where the API server and the kubelets are, as the cluster's policy engine judges a flow to them."""

    kind: str  # eks | aks | k3s
    api: tuple[str, ...]  # addresses / CIDRs of the API server's endpoint (after the Service's DNAT)
    api_port: int
    kubelets: tuple[str, ...]  # CIDRs of the nodes
    cilium: bool = False
    api_where: str = ""  # where the endpoint comes from, for messages
    notes: dict[str, str] = field(default_factory=dict)


def cluster(ctx: Context) -> Cluster | None:
    """The plan's cluster kind and endpoints; None when the plan has no cluster the gate knows."""
    if ctx.resources("aws:eks/cluster:Cluster"):
        # The control plane's ENIs go into the subnets the cluster names: the node subnets (components/aws/cluster.py).
        nodes = _subnets(ctx, "aws:ec2/subnet:Subnet", lambda r: (r.inputs.get("tags") or {}).get("sahab.ae/tier") == "nodes", "cidrBlock")
        return Cluster("eks", nodes, API_PORT, nodes, api_where="the EKS control plane's ENIs in the node subnets")
    aks = ctx.resources("azure-native:containerservice:ManagedCluster")
    if aks:
        inputs = aks[0].inputs
        subnet_id = str((inputs.get("apiServerAccessProfile") or {}).get("subnetId") or "")
        api = _subnets(
            ctx, "azure-native:network:Subnet", lambda r: bool(subnet_id) and subnet_id.endswith(f"/subnets/{r.inputs.get('subnetName')}"), "addressPrefix"
        )
        nodes = _subnets(ctx, "azure-native:network:Subnet", lambda r: r.inputs.get("subnetName") == "nodes", "addressPrefix")
        dataplane = (inputs.get("networkProfile") or {}).get("networkDataplane") or (inputs.get("networkProfile") or {}).get("networkPolicy")
        return Cluster("aks", api, API_PORT, nodes, cilium=dataplane == "cilium", api_where="the AKS API server's VNet-integrated subnet")
    if ctx.spec.get("cloud") == "kubernetes":
        onprem = ctx.spec.get("onprem") or {}
        server = onprem.get("api_server") or {}
        if not server.get("address"):
            return None
        return Cluster(
            "k3s",
            (str(server["address"]),),
            int(server.get("port") or 6443),
            tuple(str(c) for c in onprem.get("node_cidrs") or ()),
            api_where="onprem.api_server, from `kubectl get endpoints kubernetes -n default`",
        )
    return None


def _subnets(ctx: Context, type_: str, keep: Any, key: str) -> tuple[str, ...]:
    return tuple(sorted(str(r.inputs.get(key)) for r in ctx.resources(type_) if keep(r) and r.inputs.get(key)))


def api_clients(ctx: Context, pods: list[PodTemplate]) -> list[tuple[PodTemplate, str]]:
    """(pod, why) of every pod that calls the API: it mounts a service-account token (its own setting,
    else its service account's, which defaults to mounting), runs an Argo step (the executor's `wait`
    container reports results with the executor's token), or is a chart's API client (CHART_API_CLIENTS)."""
    automount = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d.get("automountServiceAccountToken") for _, d in ctx.objects("ServiceAccount")}
    chart_of = {rel: charts.chart_name(str(r.get("chart") or "")) for rel, r in ctx.releases}
    out = []
    for p in pods:
        if p.release:
            why = CHART_API_CLIENTS.get((chart_of.get(p.file, ""), p.name))
            if why:
                out.append((p, why))
        elif p.kind in ARGO_KINDS:
            out.append((p, "its Argo wait container reports the step's results through the API (workflowtaskresults)"))
        elif p.spec.get("hostNetwork"):
            continue  # the node's network: no policy governs it
        else:
            own = p.spec.get("automountServiceAccountToken")
            mounts = own if own is not None else automount.get((p.namespace, p.service_account)) is not False
            if mounts:
                out.append((p, f"it mounts service account {p.service_account}'s token to call the API"))
    return out


# --------------------------------------------------------------------------------------------
# Cilium: what its own policies admit toward entities
# --------------------------------------------------------------------------------------------


def _cilium_labels(selector: Any) -> dict[str, Any]:
    """A Cilium endpoint selector with its label sources (`k8s:`, `any:`) dropped, as a LabelSelector."""
    selector = dict(selector or {})

    def bare(key: str) -> str:
        return key.split(":", 1)[1] if key.split(":", 1)[0] in ("k8s", "any") and ":" in key else key

    return {
        "matchLabels": {bare(k): v for k, v in (selector.get("matchLabels") or {}).items()},
        "matchExpressions": [{**e, "key": bare(str(e.get("key")))} for e in selector.get("matchExpressions") or []],
    }


def _ports_allow(to_ports: list[dict[str, Any]] | None, port: int) -> bool:
    if not to_ports:
        return True
    for rule in to_ports:
        for p in rule.get("ports") or []:
            proto = str(p.get("protocol") or "ANY").upper()
            if proto not in ("TCP", "ANY"):
                continue
            try:
                lo = int(str(p.get("port") or "0"))
            except ValueError:
                continue  # a named port: not a node's or the API server's
            hi = int(p.get("endPort") or lo)
            if lo == 0 or lo <= port <= hi:
                return True
    return False


def cilium_admits(ctx: Context, pod: PodTemplate, entities: tuple[str, ...], port: int) -> list[str]:
    """Names of the CiliumNetworkPolicies that let `pod` reach any of `entities` on TCP `port`."""
    found = []
    for _, d in ctx.objects("CiliumNetworkPolicy"):
        if (d.get("metadata") or {}).get("namespace") != pod.namespace:
            continue
        spec = d.get("spec") or {}
        if not selector_matches(_cilium_labels(spec.get("endpointSelector")), pod.labels):
            continue
        for rule in spec.get("egress") or []:
            if set(rule.get("toEntities") or ()) & set(entities) and _ports_allow(rule.get("toPorts"), port):
                found.append(str(d["metadata"]["name"]))
    return found


def cilium_problems(ctx: Context) -> list:
    """The fields of the CiliumNetworkPolicies this check reads, against the CRD (no Cilium schema is vendored: AKS ships the CRD)."""
    out = []
    for rel, d in ctx.objects("CiliumNetworkPolicy"):
        spec = d.get("spec") or {}
        name = f"{(d.get('metadata') or {}).get('namespace')}/{(d.get('metadata') or {}).get('name')}"
        bad = []
        if str(d.get("apiVersion")) != "cilium.io/v2":
            bad.append(f"apiVersion {d.get('apiVersion')!r} is not cilium.io/v2")
        if ("endpointSelector" in spec) == ("nodeSelector" in spec):
            bad.append("set exactly one of endpointSelector and nodeSelector")
        for i, rule in enumerate(spec.get("egress") or []):
            bad += [f"egress[{i}].toEntities: {e!r} is not one of {list(CILIUM_ENTITIES)}" for e in rule.get("toEntities") or () if e not in CILIUM_ENTITIES]
            for j, pr in enumerate(rule.get("toPorts") or []):
                for k, p in enumerate(pr.get("ports") or []):
                    if not isinstance(p.get("port"), str) or not _CILIUM_PORT.match(p["port"]):
                        bad.append(f"egress[{i}].toPorts[{j}].ports[{k}].port: {p.get('port')!r} must be a string port number or name")
                    if p.get("protocol") is not None and p["protocol"] not in CILIUM_PROTOCOLS:
                        bad.append(f"egress[{i}].toPorts[{j}].ports[{k}].protocol: {p['protocol']!r} is not one of {list(CILIUM_PROTOCOLS)}")
        for b in bad:
            out.append(
                finding(
                    "connectivity-cilium-policy-valid",
                    f"CiliumNetworkPolicy {name} in {rel}: {b} (cilium.io/v2 CRD, ciliumnetworkpolicies.yaml); Cilium would reject it. Fix: correct it in {TENANCY}.",
                    urn=ctx.urns.get(rel, ""),
                    resource=name,
                    file=rel,
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# The flows and their verdicts
# --------------------------------------------------------------------------------------------


def _host(target: str) -> str:
    net = ipaddress.ip_network(target, strict=False)
    return str(net.network_address) if net.num_addresses == 1 else str(net)


def findings(ctx: Context, report: Any, pods: list[PodTemplate]) -> list:
    """One mandatory finding per pod that cannot reach the API server, and per Prometheus that cannot
    reach the kubelets, as the cluster's CNI judges it. `report`: NCA's verdict (connectivity.Connectivity)."""
    where = cluster(ctx)
    if where is None:
        return []
    out = cilium_problems(ctx) if where.cilium else []
    targets = [(c, where.api_port) for c in where.api]
    for pod, why in api_clients(ctx, pods):
        problem = _verdict(ctx, report, where, pod, targets, ("kube-apiserver",))
        if problem:
            out.append(_finding(ctx, "connectivity-api-server", pod, f"cannot reach the Kubernetes API server ({problem}); {why}", _api_fix(where, pod)))
    kubelets = [(c, KUBELET_PORT) for c in where.kubelets]
    for pod in [p for p in pods if p.labels.get("app.kubernetes.io/name") == "prometheus"]:
        problem = _verdict(ctx, report, where, pod, kubelets, ("host", "remote-node"))
        if problem:
            out.append(
                _finding(
                    ctx, "connectivity-kubelet-scrape", pod, f"cannot reach the kubelets ({problem}); Prometheus scrapes cAdvisor there", _kubelet_fix(where)
                )
            )
    return out


def _entity_admitted(ctx: Context, pod: PodTemplate, entity: str, port: int) -> bool:
    """`all` covers every entity; `cluster` the nodes (host, remote-node), not an API server outside the cluster (AKS)."""
    wider = ("all",) if entity == "kube-apiserver" else ("cluster", "all")
    return bool(cilium_admits(ctx, pod, (entity, *wider), port))


def _verdict(ctx: Context, report: Any, where: Cluster, pod: PodTemplate, targets: list[tuple[str, int]], entities: tuple[str, ...]) -> str:
    """'' when the flow is admitted; else what blocks it, in words. `entities`: Cilium's names of the
    destination, each needed (the kubelet on the pod's own node is `host`, on the others `remote-node`)."""
    key = f"{pod.namespace}/{pod.name}"
    if where.cilium:
        port = API_PORT if "kube-apiserver" in entities else KUBELET_PORT
        missing = [e for e in entities if not _entity_admitted(ctx, pod, e, port)]
        if not missing:
            return ""
        via_ip = [t for t, p in targets if report.allows(key, t, ("TCP", p))]
        ip_note = f"; only an ipBlock admits {', '.join(via_ip)}" if via_ip else ""
        return (
            f"no CiliumNetworkPolicy lets it reach the entit{'ies' if len(missing) > 1 else 'y'} {', '.join(missing)} on TCP {port}{ip_note}: "
            f"with Cilium ({where.kind.upper()}) an ipBlock never matches the API server or a node, only toEntities does"
        )
    if not targets:
        return f"the plan names no address for it ({where.api_where})"
    blocked = [f"{_host(t)} TCP {p}" for t, p in targets if not report.allows(key, t, ("TCP", p))]
    if not blocked:
        return ""
    text = f"{', '.join(blocked)} is not allowed"
    if where.kind == "k3s" and "kube-apiserver" in entities:
        text += f"; kube-router judges egress after the `kubernetes` Service's DNAT, so ClusterIP:443 is judged as {_host(targets[0][0])}:{targets[0][1]}"
        if where.api_port != API_PORT and any(report.allows(key, t, ("TCP", API_PORT)) for t, _ in targets):
            text += f" and the TCP {API_PORT} it may reach does not admit it"
    return text


def _finding(ctx: Context, policy: str, pod: PodTemplate, what: str, fix: str) -> Any:
    return finding(policy, f"{pod.label}: {what}. Fix: {fix}.", urn=ctx.urns.get(pod.file, ""), resource=f"{pod.namespace}/{pod.name}", file=pod.file)


def _api_fix(where: Cluster, pod: PodTemplate) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(pod.labels.items()) if k != "app.kubernetes.io/instance")
    if where.cilium:
        return (
            f"a CiliumNetworkPolicy in {pod.namespace} whose endpointSelector matches {labels} with egress "
            f"toEntities: [kube-apiserver] toPorts TCP {where.api_port}: add them to api_access.API_CLIENTS ({TENANCY})"
        )
    endpoint = ", ".join(f"{_host(t)}/{ipaddress.ip_network(t, strict=False).prefixlen}" for t in where.api)
    return f"egress to ipBlock {endpoint} TCP {where.api_port} ({where.api_where}) for pods {labels} in {pod.namespace}: add them to api_access.API_CLIENTS ({TENANCY})"


def _kubelet_fix(where: Cluster) -> str:
    if where.cilium:
        return f"a CiliumNetworkPolicy for Prometheus with egress toEntities: [host, remote-node] toPorts TCP {KUBELET_PORT} (kubelet_scrape_policy, {TENANCY})"
    source = "onprem.node_cidrs" if where.kind == "k3s" else "the node subnets"
    return f"egress from Prometheus to ipBlock {', '.join(where.kubelets)} ({source}) TCP {KUBELET_PORT} (kubelet_scrape_policy, {TENANCY})"
