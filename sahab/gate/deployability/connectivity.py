"""Connectivity: the flows the platform needs, and the flows that must stay denied, evaluated over the
rendered NetworkPolicies by IBM's network-config-analyzer (NCA, its own venv .venv-nca).

The gate hands NCA the namespaces, the NetworkPolicies and one workload per pod template (the
Helm releases' workloads synthesised from charts.py, one probe Deployment in every namespace that
runs none, so a team namespace is still judged); NCA adds kube-dns itself. Its pod-level
connectivity report (`--connectivity -o txt_no_fw_rules`) is parsed into allowed
(source, destination, protocol, port) sets, and every flow of the matrix is looked up there:

    required  every pod -> kube-dns UDP+TCP 53; every pod -> the EKS Pod Identity agent
              169.254.170.23 TCP 80; serving -> MLflow and its own project's feature server;
              training (the retrain Job, each step of the Argo pipeline) -> MLflow; Feast -> Redis (the
              data subnets); serving, its evaluator, training and monitoring -> Redis (the A/B state); MLflow -> PostgreSQL (the data subnets);
              Prometheus -> every scraped port (ServiceMonitors, charts' monitors); drift -> pushgateway
    denied    every pod -> IMDS 169.254.169.254; one team namespace -> another; serving -> PostgreSQL;
              the internet -> MLflow and the feature servers; one project's serving and training ->
              another project's feature server, and its serving -> another's control plane
Every model project renders its own pods (label `sahab.ae/project`), so each flow is checked per
project: `connectivity-project-isolation` names both projects when one reaches the other.

The cluster's own endpoints are flow endpoints too (cluster_flows.py): every pod that mounts a token or
runs a chart's controller -> the API server, Prometheus -> the kubelets (TCP 10250), per cluster kind
(EKS 443, AKS's API subnet 443, k3s node IP 6443) with its CNI's semantics (Cilium: entities, never an
ipBlock; kube-router: judged after the Service's DNAT).
"""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sahab.gate.deployability import cluster_flows
from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.pods import PodTemplate, all_pods, selector_matches
from sahab.gate.model import REPO

NCA = REPO / ".venv-nca" / "bin" / "nca"
POD_IDENTITY_AGENT = "169.254.170.23"  # EKS Pod Identity agent (docs.aws.amazon.com/eks/latest/userguide/pod-id-how-it-works.html)
IMDS = "169.254.169.254"
INTERNET_SOURCE = "203.0.113.10"  # TEST-NET-3: stands for any address outside the VPC
DNS = "kube-system/kube-dns-livesim"  # the kube-dns pod NCA adds when the input has none
PROBE = "sahab-probe"  # the Deployment synthesised in namespaces that run no workload
TEAM_PREFIX = "sahab-team-"
PROJECT_LABEL = "sahab.ae/project"  # components/kubernetes/project.py
CONTROL_PORT = 3001  # components/kubernetes/serving.py: the A/B control plane


@dataclass(frozen=True)
class Flow:
    """One flow of the matrix. `dst` is a pod (`ns/name`) or a CIDR; `ports` as (protocol, port);
    an empty `ports` on a denied flow means any connection at all."""

    policy: str
    src: PodTemplate
    dst: str
    ports: tuple[tuple[str, int], ...]
    required: bool
    why: str
    fix: str
    dst_label: str = ""


# --------------------------------------------------------------------------------------------
# NCA: input, run, output
# --------------------------------------------------------------------------------------------


def _key(p: PodTemplate) -> str:
    return f"{p.namespace}/{p.name}"


def nca_input(ctx: Context, pods: list[PodTemplate], probes: list[PodTemplate]) -> list[dict[str, Any]]:
    """What NCA reads: namespaces, NetworkPolicies, one workload per pod template."""
    namespaces = {d["metadata"]["name"] for _, d in ctx.objects("Namespace")} | {p.namespace for p in pods + probes}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}} for ns in sorted(namespaces)
    ]
    docs += [d for _, d in ctx.objects("NetworkPolicy")]
    for p in pods + probes:
        # Every template as a Deployment: NCA groups pods per workload either way, and the
        # names it reports are then uniform (`ns/name[Deployment]`).
        containers = [{"name": c.get("name", "c"), "image": "probe", "ports": c.get("ports") or []} for c in p.spec.get("containers") or [{"name": "c"}]]
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": p.name, "namespace": p.namespace},
                "spec": {"selector": {"matchLabels": p.labels}, "template": {"metadata": {"labels": p.labels}, "spec": {"containers": containers}}},
            }
        )
    return docs


def run_nca(docs: list[dict[str, Any]], nca: Path = NCA, timeout: float = 120) -> str:
    """NCA's pod-level connectivity report for `docs`; raises RuntimeError with its stderr on failure."""
    with tempfile.TemporaryDirectory(prefix="sahab-nca-") as tmp:
        path = Path(tmp) / "resources.yaml"
        path.write_text("\n---\n".join(json.dumps(d) for d in docs))  # JSON is YAML, and 10x faster to write
        proc = subprocess.run(
            [str(nca), "--connectivity", str(path), "-r", str(path), "-o", "txt_no_fw_rules"], capture_output=True, text=True, timeout=timeout
        )
    if proc.returncode not in (0, 1) or "=>" not in proc.stdout:
        raise RuntimeError(f"nca exited {proc.returncode}: {(proc.stderr or proc.stdout)[-1500:]}")
    return proc.stdout


_LINE = re.compile(r"^(?P<src>\S+) => (?P<dst>\S+) : (?P<conn>.+)$")
_ENDPOINT = re.compile(r"^(?P<key>[^\[\s]+/[^\[\s]+)\[[A-Za-z]+\]$")
ANY = "any"


def _conn(text: str) -> set[tuple[str, int]] | str:
    """`All connections` -> ANY; `{protocols:TCP,dst_ports:80,443},{protocols:UDP,dst_ports:53}` ->
    {("TCP", 80), ("TCP", 443), ("UDP", 53)} (port ranges expanded)."""
    text = text.strip()
    if text.startswith("All connections"):
        return ANY
    out: set[tuple[str, int]] = set()
    for group in re.findall(r"\{([^}]*)\}", text):
        protocols = re.search(r"protocols:([A-Z,]+?)(?:,[a-z_]+:|$)", group)
        ports = re.search(r"dst_ports:([0-9,\-]+)", group)
        for proto in protocols.group(1).split(",") if protocols else ["TCP", "UDP", "SCTP"]:
            if not ports:
                out.update((proto, n) for n in range(1, 65536))
                continue
            for part in ports.group(1).split(","):
                lo, _, hi = part.partition("-")
                out.update((proto, n) for n in range(int(lo), int(hi or lo) + 1))
    return out


def _ip_range(token: str) -> tuple[int, int, int] | None:
    lo, _, hi = token.partition("-")
    try:
        a, b = ipaddress.ip_address(lo), ipaddress.ip_address(hi or lo)
    except ValueError:
        return None
    return a.version, int(a), int(b)


@dataclass
class Connectivity:
    """NCA's report: allowed connections between pods, and between pods and address ranges."""

    pods: dict[tuple[str, str], set[tuple[str, int]] | str]
    ips: list[tuple[str, str, tuple[int, int, int], set[tuple[str, int]] | str]]  # (src, dst, range, conn); "ip" marks the address side

    @classmethod
    def parse(cls, text: str) -> Connectivity:
        pods: dict[tuple[str, str], Any] = {}
        ips: list[Any] = []
        for line in text.splitlines():
            m = _LINE.match(line.strip())
            if not m:
                continue
            conn = _conn(m["conn"])
            src, dst = _ENDPOINT.match(m["src"]), _ENDPOINT.match(m["dst"])
            if src and dst:
                pods[(src["key"], dst["key"])] = conn
            elif src and (r := _ip_range(m["dst"])):
                ips.append((src["key"], "ip", r, conn))
            elif dst and (r := _ip_range(m["src"])):
                ips.append(("ip", dst["key"], r, conn))
        return cls(pods, ips)

    def to_pod(self, src: str, dst: str) -> set[tuple[str, int]] | str:
        return self.pods.get((src, dst), set())

    def allows(self, src: str, dst: str, port: tuple[str, int] | None) -> bool:
        """`dst` a pod key, an address or a CIDR (every address of it must be allowed); `src` a pod
        key or an address. `port` None: any connection at all."""

        def ok(conn: Any) -> bool:
            return conn == ANY or (bool(conn) and (port is None or port in conn))

        if "/" in dst and not _is_cidr(dst):
            if _is_ip(src):
                return any(ok(c) for s, d, r, c in self.ips if s == "ip" and d == dst and _covers([r], src))
            return ok(self.to_pod(src, dst))
        net = ipaddress.ip_network(dst, strict=False) if _is_cidr(dst) else ipaddress.ip_network(f"{dst}/{32 if ':' not in dst else 128}")
        ranges = [r for s, d, r, c in self.ips if s == src and d == "ip" and ok(c)]
        if port is None:  # denied flows: any overlap at all is a leak
            return any(v == net.version and a <= int(net[-1]) and b >= int(net[0]) for v, a, b in ranges)
        return _covers(ranges, str(net))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
        return "/" in text
    except ValueError:
        return False


def _covers(ranges: list[tuple[int, int, int]], target: str) -> bool:
    """Whether the union of `ranges` contains every address of `target` (an address or a CIDR)."""
    net = ipaddress.ip_network(target if "/" in target else f"{target}/{32 if ':' not in target else 128}", strict=False)
    lo, hi = int(net[0]), int(net[-1])
    for _v, a, b in sorted(r for r in ranges if r[0] == net.version):
        if a <= lo <= b:
            lo = b + 1
            if lo > hi:
                return True
    return False


# --------------------------------------------------------------------------------------------
# The matrix
# --------------------------------------------------------------------------------------------


def _named(pods: list[PodTemplate], name: str) -> list[PodTemplate]:
    return [p for p in pods if p.labels.get("app.kubernetes.io/name") == name]


def _project(p: PodTemplate) -> str:
    """The model project a pod belongs to ('' for the platform's shared pods)."""
    return p.labels.get(PROJECT_LABEL, "")


def _redis_targets(ctx: Context, pods: list[PodTemplate]) -> list[tuple[str, int, str]]:
    """(destination, port, label) of the online store's Redis: the data subnets (cloud), or the in-cluster pod."""
    port = next((int(r.inputs.get("port") or 6379) for r in ctx.resources("aws:elasticache/replicationGroup:ReplicationGroup")), 6379)
    out = [(cidr, port, f"Redis in {cidr}") for cidr in _data_cidrs(ctx)]
    out += [(_key(d), _port(d, "6379", 6379), "the in-cluster Redis") for d in _named(pods, "online-store")]
    return out


def _data_cidrs(ctx: Context) -> list[str]:
    return sorted(
        str(r.inputs.get("cidrBlock"))
        for r in ctx.resources("aws:ec2/subnet:Subnet")
        if (r.inputs.get("tags") or {}).get("sahab.ae/tier") == "data" and r.inputs.get("cidrBlock")
    )


def _port(p: PodTemplate, name: str, default: int) -> int:
    return p.ports.get(name) or default


def _scrape_targets(ctx: Context, pods: list[PodTemplate]) -> list[tuple[PodTemplate, int, str]]:
    """(pod, port, why) for every ServiceMonitor endpoint and every chart monitor."""
    services = [d for _, d in ctx.objects("Service")]
    out = []
    for _, sm in ctx.objects("ServiceMonitor"):
        spec = sm.get("spec") or {}
        ns_sel = spec.get("namespaceSelector") or {}
        namespaces = ns_sel.get("matchNames") or [sm["metadata"].get("namespace")]
        for p in pods:
            if p.namespace not in namespaces and not ns_sel.get("any"):
                continue
            for ep in spec.get("endpoints") or []:
                port = _service_port(services, spec.get("selector"), p, ep.get("port"), ep.get("targetPort"))
                if port:
                    out.append((p, port, f"ServiceMonitor {sm['metadata']['name']} scrapes it"))
    out += [(p, p.scraped_port, f"the {p.release} release's ServiceMonitor scrapes it") for p in pods if p.scraped_port]
    return out


def _service_port(services: list[dict[str, Any]], selector: Any, pod: PodTemplate, port_name: Any, target_port: Any) -> int:
    """The container port a ServiceMonitor endpoint reaches on `pod`, through the Services it selects
    (or, for chart workloads without a Service in the plan, the pod's own labels and port names)."""
    matched = [
        s
        for s in services
        if (s.get("metadata") or {}).get("namespace") == pod.namespace
        and selector_matches(selector, (s.get("metadata") or {}).get("labels") or {})
        and selector_matches({"matchLabels": (s.get("spec") or {}).get("selector") or {}}, pod.labels)
        and (s.get("spec") or {}).get("selector")
    ]
    if isinstance(target_port, int):
        return target_port if matched or selector_matches(selector, pod.labels) else 0
    for s in matched:
        for sp in (s.get("spec") or {}).get("ports") or []:
            if sp.get("name") == port_name:
                target = sp.get("targetPort", sp.get("port"))
                return target if isinstance(target, int) else pod.ports.get(str(target), 0)
    if not matched and pod.release and selector_matches(selector, pod.labels):
        return pod.ports.get(str(port_name), 0) or (next(iter(pod.ports.values())) if len(pod.ports) == 1 else 0)
    return 0


def matrix(ctx: Context, pods: list[PodTemplate]) -> list[Flow]:
    flows: list[Flow] = []
    fix_baseline = "allow it in the namespace's baseline NetworkPolicy (components/kubernetes/tenancy.py)"
    for p in pods:
        flows.append(Flow("connectivity-dns", p, DNS, (("UDP", 53), ("TCP", 53)), True, "every pod resolves names through kube-dns", fix_baseline, "kube-dns"))
        flows.append(
            Flow(
                "connectivity-pod-identity",
                p,
                POD_IDENTITY_AGENT,
                (("TCP", 80),),
                True,
                "EKS Pod Identity hands out AWS credentials there; without it the pod gets none",
                f"{fix_baseline}: egress to {POD_IDENTITY_AGENT}/32 TCP 80",
                "the EKS Pod Identity agent",
            )
        )
        flows.append(
            Flow(
                "connectivity-imds-denied",
                p,
                IMDS,
                (),
                False,
                "pods must not take the node's instance credentials from IMDS",
                f"keep {IMDS}/32 out of every egress ipBlock (an `except` entry) in components/kubernetes/tenancy.py",
                "IMDS",
            )
        )
    mlflow, features = _named(pods, "mlflow"), _named(pods, "feature-server")
    data = _data_cidrs(ctx)
    redis_port = next((int(r.inputs.get("port") or 6379) for r in ctx.resources("aws:elasticache/replicationGroup:ReplicationGroup")), 6379)
    pg_port = next((int(r.inputs.get("port") or 5432) for r in ctx.resources("aws:rds/instance:Instance")), 5432)
    for src in _named(pods, "serving"):
        for dst in mlflow:
            flows.append(
                Flow(
                    "connectivity-serving-mlflow",
                    src,
                    _key(dst),
                    (("TCP", _port(dst, "http", 5000)),),
                    True,
                    "serving loads the registered model from MLflow",
                    "allow it in the MLflow NetworkPolicy's ingress (components/kubernetes/mlflow.py) and the serving egress",
                    "MLflow",
                )
            )
        for dst in features:
            if _project(dst) != _project(src):
                continue  # another project's: denied below (connectivity-project-isolation)
            flows.append(
                Flow(
                    "connectivity-serving-features",
                    src,
                    _key(dst),
                    (("TCP", _port(dst, "http", 6566)),),
                    True,
                    "serving reads online features from its project's feature server",
                    "allow it in the feature server's NetworkPolicy (components/kubernetes/feast.py)",
                    "the feature server",
                )
            )
        for cidr in data:
            flows.append(
                Flow(
                    "connectivity-serving-database-denied",
                    src,
                    cidr,
                    (("TCP", pg_port),),
                    False,
                    "serving has no business with the registry database",
                    "narrow serving's egress so the data subnets' PostgreSQL port is not open to it",
                    f"PostgreSQL in {cidr}",
                )
            )
    for src in _named(pods, "trainer") + _named(pods, "pipeline"):  # the retrain Job, and each step of the project's Argo pipeline
        for dst in mlflow:
            flows.append(
                Flow(
                    "connectivity-training-mlflow",
                    src,
                    _key(dst),
                    (("TCP", _port(dst, "http", 5000)),),
                    True,
                    "training logs runs and registers models in MLflow",
                    "allow it in the MLflow NetworkPolicy's ingress (components/kubernetes/mlflow.py)",
                    "MLflow",
                )
            )
    for src in _named(pods, "feature-server") + _named(pods, "feast-materialize"):
        for cidr in data:
            flows.append(
                Flow(
                    "connectivity-feast-redis",
                    src,
                    cidr,
                    (("TCP", redis_port),),
                    True,
                    "Feast reads and writes the online store (Redis) in the data subnets",
                    f"allow egress to {cidr} TCP {redis_port} in the Feast NetworkPolicies (components/kubernetes/feast.py)",
                    f"Redis in {cidr}",
                )
            )
    # `cloud: kubernetes`: the data services run in the cluster (components/kubernetes/data_services.py).
    for src in _named(pods, "feature-server") + _named(pods, "feast-materialize"):
        for dst in _named(pods, "online-store"):
            flows.append(
                Flow(
                    "connectivity-feast-redis",
                    src,
                    _key(dst),
                    (("TCP", _port(dst, "6379", 6379)),),
                    True,
                    "Feast reads and writes the online store (Redis)",
                    "allow it in the online store's and Feast's NetworkPolicies",
                    "the in-cluster Redis",
                )
            )
    for src in mlflow:
        for dst in _named(pods, "registry-db"):
            flows.append(
                Flow(
                    "connectivity-mlflow-postgres",
                    src,
                    _key(dst),
                    (("TCP", _port(dst, "5432", 5432)),),
                    True,
                    "MLflow keeps runs and the registry in PostgreSQL",
                    "allow it in the registry database's and MLflow's NetworkPolicies",
                    "the in-cluster PostgreSQL",
                )
            )
    for src in mlflow:
        for cidr in data:
            flows.append(
                Flow(
                    "connectivity-mlflow-postgres",
                    src,
                    cidr,
                    (("TCP", pg_port),),
                    True,
                    "MLflow keeps runs and the registry in PostgreSQL in the data subnets",
                    f"allow egress to {cidr} TCP {pg_port} in the MLflow NetworkPolicy (components/kubernetes/mlflow.py)",
                    f"PostgreSQL in {cidr}",
                )
            )
    for src in _named(pods, "prometheus"):
        for dst, port, why in _scrape_targets(ctx, pods):
            flows.append(
                Flow(
                    "connectivity-prometheus-scrape",
                    src,
                    _key(dst),
                    (("TCP", port),),
                    True,
                    f"{why} on port {port}",
                    f"allow ingress from the monitoring namespace on TCP {port} in {dst.namespace}'s NetworkPolicies",
                    f"{_key(dst)} metrics",
                )
            )
    for src in _named(pods, "drift"):
        for dst in _named(pods, "prometheus-pushgateway"):
            flows.append(
                Flow(
                    "connectivity-drift-pushgateway",
                    src,
                    _key(dst),
                    (("TCP", _port(dst, "http", 9091)),),
                    True,
                    "the drift job pushes its metrics to the pushgateway",
                    "allow it in the monitoring namespace's NetworkPolicies (components/kubernetes/monitoring.py)",
                    "the pushgateway",
                )
            )
    # The A/B state in the online store's Redis: serving's control plane and evaluator keep it; the
    # retrain pipeline and the monitoring job ask it whether an experiment runs.
    for app, who in (
        ("serving", "serving's A/B control plane"),
        ("serving-evaluator", "the A/B evaluator"),
        ("trainer", "the retrain pipeline"),
        ("pipeline", "the pipeline's Argo steps"),
        ("drift", "the monitoring job"),
    ):
        for src in _named(pods, app):
            if not _project(src):
                continue
            for target, port, label in _redis_targets(ctx, pods):
                flows.append(
                    Flow(
                        "connectivity-project-redis",
                        src,
                        target,
                        (("TCP", port),),
                        True,
                        f"{who} of project {_project(src)} reads the A/B state in the online store's Redis",
                        f"allow egress to {target} TCP {port} in the project's NetworkPolicies (components/kubernetes/serving.py, training.py, workflows.py, drift.py)",
                        label,
                    )
                )
    flows += _project_isolation(pods)
    teams = sorted({p.namespace for p in pods if p.namespace.startswith(TEAM_PREFIX)})
    for a in teams:
        for b in teams:
            if a != b:
                for src in [p for p in pods if p.namespace == a]:
                    for dst in [p for p in pods if p.namespace == b]:
                        flows.append(
                            Flow(
                                "connectivity-team-isolation",
                                src,
                                _key(dst),
                                (),
                                False,
                                "one team's namespace must not reach another's",
                                f"allow ingress only from the namespace itself in {b}'s baseline NetworkPolicy (components/kubernetes/tenancy.py)",
                                b,
                            )
                        )
    for dst in mlflow + features:
        flows.append(
            Flow(
                "connectivity-internet-denied",
                _internet(),
                _key(dst),
                (),
                False,
                "nothing outside the VPC may reach the platform's services",
                "allow ingress only from the VPC CIDR or named namespaces",
                dst.name,
            )
        )
    return flows


def _project_isolation(pods: list[PodTemplate]) -> list[Flow]:
    """One project's pods never reach another project's feature server or control plane."""
    flows = []
    targets = [(d, _port(d, "http", 6566), "feature server", "components/kubernetes/feast.py") for d in _named(pods, "feature-server")]
    targets += [(d, _port(d, "control", CONTROL_PORT), "A/B control plane", "components/kubernetes/serving.py") for d in _named(pods, "serving")]
    sources = [p for p in pods if _project(p) and p.labels.get("app.kubernetes.io/name") in ("serving", "serving-evaluator", "trainer", "pipeline", "drift")]
    for dst, port, what, where in targets:
        for src in sources:
            if not _project(dst) or _project(dst) == _project(src):
                continue
            flows.append(
                Flow(
                    "connectivity-project-isolation",
                    src,
                    _key(dst),
                    (("TCP", port),),
                    False,
                    f"project {_project(src)}'s pods must not reach project {_project(dst)}'s {what}",
                    f"admit only project {_project(dst)}'s pods (podSelector {PROJECT_LABEL}: {_project(dst)}) in the {what}'s NetworkPolicy ({where})",
                    f"project {_project(dst)}'s {what}",
                )
            )
    return flows


def _internet() -> PodTemplate:
    return PodTemplate(namespace="", name=INTERNET_SOURCE, kind="address", labels={}, spec={}, replicas=0)


def _probes(ctx: Context, pods: list[PodTemplate]) -> list[PodTemplate]:
    busy = {p.namespace for p in pods}
    return [
        PodTemplate(namespace=ns, name=PROBE, kind="Deployment", labels={"app.kubernetes.io/name": PROBE}, spec={"containers": [{"name": "probe"}]}, replicas=1)
        for ns in sorted({d["metadata"]["name"] for _, d in ctx.objects("Namespace")} - busy)
        if ns.startswith("sahab-")
    ]


def check(ctx: Context) -> list:
    """The connectivity matrix over NCA's verdict; one finding per broken flow."""
    if not ctx.objects("NetworkPolicy"):
        return []
    pods = all_pods(ctx)
    probes = _probes(ctx, pods)
    everyone = pods + probes
    if not Path(NCA).exists():
        return [
            finding(
                "connectivity-analyzer-available",
                f"network-config-analyzer is not installed at {NCA}, so the NetworkPolicies were not evaluated. Fix: run scripts/setup.sh (it creates .venv-nca from scripts/nca-requirements.txt).",
            )
        ]
    try:
        report = Connectivity.parse(run_nca(nca_input(ctx, pods, probes)))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        return [
            finding(
                "connectivity-analyzer-available",
                f"network-config-analyzer failed on the rendered NetworkPolicies: {e}. Fix: run {NCA} --connectivity on manifests/ by hand to see why.",
            )
        ]
    ctx.cache["connectivity"] = report
    out = []
    for flow in matrix(ctx, everyone):
        src = flow.src.name if flow.src.kind == "address" else _key(flow.src)
        if src == flow.dst:
            continue  # a workload's replicas among themselves: NCA reports workloads, not replicas
        if flow.required:
            missing = [f"{proto} {port}" for proto, port in flow.ports if not report.allows(src, flow.dst, (proto, port))]
            if not missing:
                continue
            what = f"cannot reach {flow.dst_label or flow.dst} ({flow.dst}) on {', '.join(missing)}"
        else:
            if not any(report.allows(src, flow.dst, p) for p in (flow.ports or (None,))):
                continue
            what = f"can reach {flow.dst_label or flow.dst} ({flow.dst}), which must stay denied"
        source = flow.src.label if flow.src.kind != "address" else f"{flow.src.name} (an address outside the VPC)"
        out.append(
            finding(
                flow.policy,
                f"{source}: {what}; {flow.why}. Fix: {flow.fix}.",
                urn=ctx.urns.get(flow.src.file, ""),
                resource=f"{flow.src.namespace}/{flow.src.name}" if flow.src.namespace else flow.src.name,
                file=flow.src.file,
            )
        )
    # The API server and the kubelets, as the cluster's CNI judges a flow to them (cluster_flows.py).
    return out + cluster_flows.findings(ctx, report, pods)
