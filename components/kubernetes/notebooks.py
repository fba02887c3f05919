"""Notebooks for the teams: JupyterHub from the pinned Zero to JupyterHub chart (components/kubernetes/
pins.py, images from the in-region mirror), the hub and its proxy in the platform namespace, every
user's server in its team's namespace, so the team's ResourceQuota holds it (the chart leaves
namespace quotas out of its scope: jupyterhub/zero-to-jupyterhub-k8s#1251).

One profile list, generated from the environment: per team a CPU profile, and one per GPU pool where
the team has GPU quota (never a GPU profile for a team without one), each no larger than the team's
quota and described on the spawn page with that quota and its hourly cost (the node's price from the
price snapshot, times the profile's share of the node). A user sees the profiles of the teams whose
JupyterHub group (`team-<name>`, from the authenticator) they are in. The server runs as the team's
notebook service account (its cloud identity: what the team's projects' data lets it read), with
the platform's settings in its environment (MLflow, each project's Feast root and folder).

Idle culling: the hub's culler stops any server idle for `cpu_idle_minutes`; GPU servers stop
themselves after `gpu_idle_minutes` without activity (jupyter_server's own shutdown and kernel
culling: a GPU left idle costs most: kubeflow/notebooks#545). Egress: notebook pods leave their
namespace's baseline policy (tenancy.py) for their own: DNS, the workload identity endpoint, the
platform's namespaces, and HTTPS to the in-region endpoints (`endpoint_cidrs`).

checked: jupyterhub/zero-to-jupyterhub-k8s 4.4.0 jupyterhub/values.yaml (hub.image name/tag, proxy.chp.image,
singleuser.profileList, cull.*, scheduling.userScheduler, prePuller, singleuser.cloudMetadata, hub.extraConfig,
custom), images/hub/requirements.txt (jupyterhub 5.5.0, kubespawner 7.0.0: kubespawner_override may set the
pod's `namespace`, its reflectors start after the profile is applied: jupyterhub/kubespawner 7.0.0 spawner.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import _objects as obj
from components.kubernetes import pins
from components.kubernetes._helm import release
from components.kubernetes._pod import GPU_NODE_LABEL, GPU_RESOURCE, GPU_TOLERATION, resources
from components.kubernetes.cloud import ClusterCloud
from components.kubernetes.images import mirror_repository
from components.kubernetes.project import NOTEBOOK_LABEL, TEAM_LABEL
from components.kubernetes.tenancy import ANYWHERE_BUT_IMDS, POD_IDENTITY_AGENT, POD_IDENTITY_PORT

CHART = pins.chart("jupyterhub")
RELEASE = "jupyterhub"
HUB_SERVICE_ACCOUNT = "hub"  # the chart's (templates/hub/serviceaccount.yaml: jupyterhub.hub-serviceaccount.fullname)
NOTEBOOK_UID = 1000  # the chart's singleuser.uid; the notebook image runs as it
CPU_PROFILE = (4.0, 16.0)  # cores, GiB: cut to the team's quota
GPU_PROFILE = (8.0, 32.0)  # cores, GiB per GPU profile (one GPU): cut to the node and the quota
PROFILE_HOOK = """
# Sahab (components/kubernetes/notebooks.py): each user sees the profiles of their teams' groups.
from z2jh import get_config

_PROFILES = get_config("custom.sahab.profiles", [])


def _sahab_profiles(spawner):
    groups = {g.name for g in spawner.user.groups}
    return [p["profile"] for p in _PROFILES if "team-" + p["team"] in groups]


c.KubeSpawner.profile_list = _sahab_profiles
"""


@dataclass(frozen=True)
class TeamNotebooks:
    team: str
    """The team's name (kubernetes.teams[].name)."""
    namespace: str
    """Its namespace, where its servers run."""
    service_account: str
    """Its notebook service account, bound to its cloud identity (components/workloads.py `<team>-notebooks`)."""
    cpu_quota: int
    memory_quota_gib: int
    gpu_quota: int
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """The platform's settings in the servers' environment (MLflow, the team's projects' Feast roots)."""


@dataclass(frozen=True)
class NodeOffer:
    """Nodes a profile may run on: their labels and taints, one node's allocatable room and hourly price."""

    name: str
    """`cpu`, or the GPU pool's name."""
    node_selector: Mapping[str, str]
    tolerations: tuple[Mapping[str, str], ...] = ()
    machine_type: str | None = None
    cpu: float | None = None
    """Allocatable cores of one node (None: unknown, an existing cluster)."""
    memory_gib: float | None = None
    gpus: int = 0
    hourly_usd: float | None = None
    """The node's on-demand price (None: not priced, e.g. the customer's own hardware)."""


@dataclass(frozen=True)
class Profile:
    """One entry of the spawn page, for one team."""

    team: str
    slug: str
    display_name: str
    cpu: float
    memory_gib: float
    gpus: int
    offer: NodeOffer
    idle_minutes: int

    @property
    def hourly_usd(self) -> float | None:
        """The node's price times this profile's share of it (the largest of its CPU, memory and GPU shares)."""
        o = self.offer
        if o.hourly_usd is None or not o.cpu or not o.memory_gib:
            return None
        shares = [self.cpu / o.cpu, self.memory_gib / o.memory_gib, *([self.gpus / o.gpus] if self.gpus and o.gpus else [])]
        return round(o.hourly_usd * min(1.0, max(shares)), 4)


@dataclass(frozen=True, kw_only=True)
class NotebooksArgs:
    namespace: str
    """The platform namespace: hub and proxy."""
    registry_host: pulumi.Input[str]
    """In-region registry holding the mirrored hub and proxy images."""
    notebook_image: pulumi.Input[str]
    """The users' server image (`sahab/notebook`: JupyterLab, jupyterhub-singleuser and the workloads' stack)."""
    teams: tuple[TeamNotebooks, ...]
    cpu_nodes: NodeOffer
    """Where CPU profiles (and the hub) run."""
    gpu_pools: tuple[NodeOffer, ...] = ()
    storage_class: pulumi.Input[str]
    """Encrypted storage class of the hub's database and the users' home volumes."""
    vpc_cidr: str
    """The VPC/VNet: interface and private endpoints (in region), the API server."""
    platform_namespaces: tuple[str, ...]
    """Namespaces of the platform's services a notebook may call (MLflow, feature servers, Argo's server)."""
    endpoint_cidrs: tuple[Mapping[str, Any], ...] = ()
    """More HTTPS egress (`ipBlock`s) to in-region endpoints outside the VPC."""
    price_snapshot: str = ""
    """Which price snapshot priced the profiles (`me-central-1 2026-12-01`), shown on the spawn page."""
    cpu_idle_minutes: int = 120
    gpu_idle_minutes: int = 30
    home_gib: int = 10
    authenticator: Mapping[str, Any] = field(default_factory=lambda: {"JupyterHub": {"authenticator_class": "null"}})
    """hub.config for the identity provider (OAuthenticator with `manage_groups`: each user's `team-<name>`
    groups). Default: nobody can log in until the environment names one (secure by default)."""
    cloud: ClusterCloud


def profiles(args: NotebooksArgs) -> list[Profile]:
    """The spawn page's profiles, team by team: CPU, then one per GPU pool where the team has GPU quota."""
    out = []
    for team in args.teams:
        cpu = min(CPU_PROFILE[0], team.cpu_quota, *([args.cpu_nodes.cpu] if args.cpu_nodes.cpu else []))
        mem = min(CPU_PROFILE[1], team.memory_quota_gib, *([args.cpu_nodes.memory_gib] if args.cpu_nodes.memory_gib else []))
        out.append(
            Profile(team.team, f"{team.team}-cpu", f"{team.team}: CPU, {_num(cpu)} cores, {_num(mem)} GiB", cpu, mem, 0, args.cpu_nodes, args.cpu_idle_minutes)
        )
        if team.gpu_quota < 1:
            continue
        for pool in args.gpu_pools:
            gcpu = min(GPU_PROFILE[0], team.cpu_quota, *([pool.cpu] if pool.cpu else []))
            gmem = min(GPU_PROFILE[1], team.memory_quota_gib, *([pool.memory_gib] if pool.memory_gib else []))
            name = f"{team.team}: 1 GPU on {pool.name}, {_num(gcpu)} cores, {_num(gmem)} GiB"
            out.append(Profile(team.team, f"{team.team}-gpu-{pool.name}", name, gcpu, gmem, 1, pool, args.gpu_idle_minutes))
    return out


def _num(value: float) -> str:
    return f"{value:g}"


def _description(p: Profile, team: TeamNotebooks, snapshot: str) -> str:
    quota = f"team {team.team} quota: {team.cpu_quota} cores, {team.memory_quota_gib} GiB, {team.gpu_quota} GPUs (all its servers and jobs together)"
    cost = p.hourly_usd
    machine = f" of a {p.offer.machine_type}" if p.offer.machine_type else ""
    price = (
        f"about ${cost:.2f}/hour ({'its share' + machine if p.offer.hourly_usd else ''}, price snapshot {snapshot})"
        if cost is not None
        else "not priced (your own nodes)"
    )
    return f"{quota}; {price}; stops after {p.idle_minutes} minutes idle"


def profile_entry(p: Profile, team: TeamNotebooks, snapshot: str) -> dict[str, Any]:
    """One KubeSpawner profile (checked: jupyterhub/kubespawner 7.0.0 spawner.py profile_list and its kubespawner_override traits)."""
    idle = p.idle_minutes * 60
    override: dict[str, Any] = {
        "namespace": team.namespace,
        "service_account": team.service_account,
        "cpu_guarantee": p.cpu,
        "cpu_limit": p.cpu,
        "mem_guarantee": f"{_num(p.memory_gib)}G",
        "mem_limit": f"{_num(p.memory_gib)}G",
        "node_selector": dict(p.offer.node_selector),
        "tolerations": [dict(t) for t in p.offer.tolerations],
        "extra_labels": {TEAM_LABEL: team.team, NOTEBOOK_LABEL: p.slug},
        "environment": dict(team.env),
        # Restricted Pod Security, as every pod of a team namespace.
        "pod_security_context": {"runAsNonRoot": True, "runAsUser": NOTEBOOK_UID, "fsGroup": 100, "seccompProfile": {"type": "RuntimeDefault"}},
        "container_security_context": {
            "runAsNonRoot": True,
            "runAsUser": NOTEBOOK_UID,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # jupyter_server stops itself (and its idle kernels) after this long without activity.
        "args": [
            f"--ServerApp.shutdown_no_activity_timeout={idle}",
            f"--MappingKernelManager.cull_idle_timeout={idle}",
            "--MappingKernelManager.cull_interval=60",
        ],
    }
    if p.gpus:
        override["extra_resource_guarantees"] = {GPU_RESOURCE: str(p.gpus)}
        override["extra_resource_limits"] = {GPU_RESOURCE: str(p.gpus)}
    return {"display_name": p.display_name, "slug": p.slug, "description": _description(p, team, snapshot), "kubespawner_override": override}


def hub_values(args: NotebooksArgs) -> dict[str, Any]:
    """The jupyterhub chart's values."""
    host = args.registry_host
    image = lambda key: {"name": _join(host, f"sahab/{mirror_repository(key)}"), "tag": pins.image(key).version}  # noqa: E731 (the chart's {name, tag} image block)
    by_team = {t.team: t for t in args.teams}
    entries = [{"team": p.team, "profile": profile_entry(p, by_team[p.team], args.price_snapshot)} for p in profiles(args)]
    teams = {t.team: {"namespace": t.namespace, "cpu": t.cpu_quota, "memory_gib": t.memory_quota_gib, "gpus": t.gpu_quota} for t in args.teams}
    placement = {"nodeSelector": dict(args.cpu_nodes.node_selector)}
    return {
        "custom": {"sahab": {"profiles": entries, "teams": teams, "price_snapshot": args.price_snapshot}},
        "hub": {
            "image": image("jupyterhub-hub"),
            "config": dict(args.authenticator),
            "extraConfig": {"sahab-profiles": PROFILE_HOOK},
            "db": {"type": "sqlite-pvc", "pvc": {"storageClassName": args.storage_class, "storage": "1Gi"}},
            "resources": resources("200m", "512Mi", cpu_limit="1", memory_limit="1Gi"),
            "networkPolicy": {"enabled": True},
            **placement,
        },
        "proxy": {
            "service": {"type": "ClusterIP"},
            "chp": {
                "image": image("jupyterhub-proxy"),
                "resources": resources("100m", "128Mi", cpu_limit="500m", memory_limit="256Mi"),
                "networkPolicy": {"enabled": True},
                **placement,
            },
            "https": {"enabled": False},
        },
        "singleuser": {
            "image": _split_image(args.notebook_image),
            "defaultUrl": "/lab",
            "uid": NOTEBOOK_UID,
            "fsGid": 100,
            "storage": {"type": "dynamic", "capacity": f"{args.home_gib}Gi", "dynamic": {"storageClass": args.storage_class}},
            # The metadata endpoint is refused by the notebooks' own egress policy, not by a privileged
            # iptables init container (restricted Pod Security); the chart's policy would sit in the hub's namespace.
            "cloudMetadata": {"blockWithIptables": False},
            "networkPolicy": {"enabled": False},
            "profileList": [],
        },
        "cull": {"enabled": True, "timeout": args.cpu_idle_minutes * 60, "every": 300, "users": False},
        # No extra images: scheduling and pre-pulling stay with the cluster's own scheduler and registry.
        "scheduling": {"userScheduler": {"enabled": False}, "userPlaceholder": {"enabled": False}, "podPriority": {"enabled": False}},
        "prePuller": {"hook": {"enabled": False}, "continuous": {"enabled": False}},
    }


def _join(host: pulumi.Input[str], path: str) -> pulumi.Input[str]:
    return f"{host}/{path}" if isinstance(host, str) else pulumi.Output.format("{0}/{1}", host, path)


def _split(ref: str) -> dict[str, str]:
    name, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "")
    return {"name": name, "tag": tag}


def _split_image(ref: pulumi.Input[str]) -> dict[str, Any]:
    """`host/repo:tag` -> the chart's {name, tag}."""
    if isinstance(ref, str):
        return _split(ref)
    out: pulumi.Output[str] = pulumi.Output.from_input(ref)
    return {"name": out.apply(lambda r: r.rsplit(":", 1)[0]), "tag": out.apply(lambda r: r.rsplit(":", 1)[1] if ":" in r.rsplit("/", 1)[-1] else "latest")}


class Notebooks(pulumi.ComponentResource):
    def __init__(self, name: str, args: NotebooksArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:Notebooks", name, None, opts)
        _validate(args)
        child = pulumi.ResourceOptions(parent=self)
        hub = release(
            f"{name}-release",
            release_name=RELEASE,
            chart=CHART.name,
            version=CHART.version,
            repo=CHART.repo,
            namespace=args.namespace,
            values=hub_values(args),
            opts=child,
        )
        after = pulumi.ResourceOptions(parent=self, depends_on=[hub])
        for team in args.teams:
            ns = team.namespace
            obj.service_account(f"{name}-{team.team}-sa", ns, team.service_account, child, annotations=args.cloud.account_annotations(team.service_account))
            # The hub starts and watches its users' servers in the team namespaces (KubeSpawner: pods,
            # their home volumes, events), nothing else there.
            role = k8s.rbac.v1.Role(
                f"{name}-{team.team}-spawner",
                metadata={"name": "sahab:notebook-spawner", "namespace": ns},
                rules=[
                    {"apiGroups": [""], "resources": ["pods", "persistentvolumeclaims"], "verbs": ["get", "list", "watch", "create", "delete"]},
                    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "list", "watch"]},
                ],
                opts=after,
            )
            k8s.rbac.v1.RoleBinding(
                f"{name}-{team.team}-spawner-binding",
                metadata={"name": "sahab:notebook-spawner", "namespace": ns},
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sahab:notebook-spawner"},
                subjects=[{"kind": "ServiceAccount", "name": HUB_SERVICE_ACCOUNT, "namespace": args.namespace}],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
            )
            selector = {"matchExpressions": [{"key": NOTEBOOK_LABEL, "operator": "Exists"}]}
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{team.team}-netpol",
                metadata={"name": "sahab-notebooks", "namespace": ns},
                spec={
                    "podSelector": selector,
                    "policyTypes": ["Ingress", "Egress"],
                    # Only the proxy (and the hub's activity checks) reach a server.
                    "ingress": [{"from": obj.from_namespaces(args.namespace), "ports": [{"protocol": "TCP", "port": 8888}]}],
                    "egress": notebook_egress(args),
                },
                opts=child,
            )
        self.register_outputs({})


def notebook_egress(args: NotebooksArgs) -> list[dict[str, Any]]:
    """DNS, the identity endpoint, the platform's namespaces, HTTPS to the VPC's endpoints and `endpoint_cidrs`:
    nothing else. Where the cloud's object store or identity provider has no address in the VPC (S3's
    gateway endpoint, Entra ID: `cloud.https_outside_vpc`), HTTPS to any address but the metadata
    service, as the namespace baseline allows (a CIDR cannot name them; an FQDN-aware policy could)."""
    dns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    https = [{"ipBlock": {"cidr": args.vpc_cidr}}, *[dict(c) for c in args.endpoint_cidrs]]
    if args.cloud.https_outside_vpc:
        https += [{"ipBlock": {"cidr": cidr, "except": [imds]}} for cidr, imds in ANYWHERE_BUT_IMDS]
    identity = (
        [{"to": [{"ipBlock": {"cidr": c}} for c in POD_IDENTITY_AGENT], "ports": [{"protocol": "TCP", "port": POD_IDENTITY_PORT}]}]
        if args.cloud.pod_identity_agent
        else []
    )
    return [
        {"to": [dns], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        *identity,
        {"to": obj.from_namespaces(*args.platform_namespaces)},
        {"to": https, "ports": [{"protocol": "TCP", "port": 443}]},
    ]


def _validate(args: NotebooksArgs) -> None:
    if not args.teams:
        raise ValueError("teams: at least one team (notebooks run in the teams' namespaces)")
    names = [t.team for t in args.teams]
    if len(set(names)) != len(names):
        raise ValueError(f"teams: names must be unique, got {names}")
    for t in args.teams:
        if t.gpu_quota and not args.gpu_pools:
            raise ValueError(f"teams[{t.team}].gpu_quota: {t.gpu_quota} GPUs but no gpu_pools to run GPU notebooks on")
    if not 5 <= args.gpu_idle_minutes <= args.cpu_idle_minutes:
        raise ValueError(f"gpu_idle_minutes: {args.gpu_idle_minutes} must be 5..cpu_idle_minutes ({args.cpu_idle_minutes}): idle GPUs cost most")
    for pool in args.gpu_pools:
        if GPU_NODE_LABEL.items() - dict(pool.node_selector).items():
            raise ValueError(f"gpu_pools[{pool.name}].node_selector: must select GPU nodes ({GPU_NODE_LABEL})")
        if GPU_TOLERATION not in [dict(t) for t in pool.tolerations]:
            raise ValueError(f"gpu_pools[{pool.name}].tolerations: must tolerate the GPU taint {GPU_TOLERATION}")
