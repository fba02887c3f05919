"""Tenancy: namespaces with Pod Security Admission, default-deny network policies (model projects
sharing a namespace kept apart: the namespace's own pods reach only its pods of no project, each
project's pods admit only what their component allows and Prometheus's scrapes), limit ranges,
team quotas (GPUs included), the RBAC roles `platform-admin`, `ml-engineer` and `auditor` bound to
the Kubernetes groups EKS access entries map the cloud identities to, and the encrypted storage
class every persistent volume uses."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes._pod import GPU_RESOURCE
from components.kubernetes.api_access import ApiClient, api_server_policies, kubelet_scrape_policy
from components.kubernetes.cloud import ClusterCloud
from components.kubernetes.project import NOTEBOOK_LABEL, PROJECT_LABEL

PSA_LEVELS = ("restricted", "baseline", "privileged")
# Kubernetes groups the cloud identities are mapped to (components/aws/cluster_access.py).
GROUPS = {"platform-admin": "sahab:platform-admins", "ml-engineer": "sahab:ml-engineers", "auditor": "sahab:auditors"}
STORAGE_CLASS = "sahab-encrypted"
# The EKS Pod Identity agent's link-local addresses (IPv4, IPv6) and port: pods get their AWS
# credentials there (checked: docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html,
# "169.254.170.23 for IPv4 and [fd00:ec2::23] for IPv6", AWS_CONTAINER_CREDENTIALS_FULL_URI on :80).
POD_IDENTITY_AGENT = ("169.254.170.23/32", "fd00:ec2::23/128")
POD_IDENTITY_PORT = 80
# Instance metadata (IPv4, IPv6): carved out of "HTTPS anywhere" so no pod reaches the node's role.
ANYWHERE_BUT_IMDS = (("0.0.0.0/0", "169.254.169.254/32"), ("::/0", "fd00:ec2::254/128"))
_READ = ["get", "list", "watch"]


@dataclass(frozen=True)
class NamespaceSpec:
    name: str
    """Namespace name."""
    pod_security: str = "restricted"
    """Pod Security Admission level enforced; anything but `restricted` needs `reason`."""
    reason: str = ""
    """Why a namespace needs more than `restricted` (written onto the namespace)."""
    ml_engineers: bool = False
    """Bind the `ml-engineer` role here (training and team namespaces)."""
    gpu_quota: int | None = None
    """GPUs the namespace may request at once; None: no ResourceQuota."""
    cpu_quota: int = 32
    """CPU cores the namespace may request at once (with a quota)."""
    memory_quota_gib: int = 128
    """Memory the namespace may request at once (with a quota)."""
    api_clients: tuple[ApiClient, ...] = ()
    """Its pods that call the Kubernetes API (api_access.API_CLIENTS): each gets egress to the API server
    as the cluster's policy engine judges it (k3s: node IP:6443; AKS: Cilium's kube-apiserver entity)."""


@dataclass(frozen=True, kw_only=True)
class TenancyArgs:
    namespaces: tuple[NamespaceSpec, ...]
    """Every namespace of the platform, teams included."""
    vpc_cidr: str
    """The VPC's CIDR: nodes, load balancers, data services and the API server's ENIs live there."""
    volume_key: pulumi.Input[str] | None
    """Key of the encrypted storage class: a KMS key ARN (EBS), a disk encryption set id (Azure Disk); None where
    the storage class takes none (`ClusterCloud.storage_key_parameter`: an existing cluster's disks encrypt themselves)."""
    monitoring_namespace: str
    """Namespace whose pods may scrape every namespace."""
    groups: dict[str, str] = field(default_factory=lambda: dict(GROUPS))
    """RBAC role -> Kubernetes group the cloud identities are mapped to."""
    cloud: ClusterCloud
    """CSI driver and parameters of the encrypted default storage class; from the stack's adapter."""


class Tenancy(pulumi.ComponentResource):
    namespaces: pulumi.Output[list[str]]
    storage_class: pulumi.Output[str]

    def __init__(self, name: str, args: TenancyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:Tenancy", name, None, opts)
        _validate(args)
        child = pulumi.ResourceOptions(parent=self)
        ns_objects = {}
        for spec in args.namespaces:
            ns_objects[spec.name] = self._namespace(name, spec, args, child)

        self._rbac(name, args, ns_objects, child)
        sc = k8s.storage.v1.StorageClass(
            f"{name}-encrypted-gp3",
            metadata={"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            provisioner=args.cloud.storage_provisioner,
            parameters=args.cloud.storage_class_parameters(args.volume_key),
            reclaim_policy="Retain",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=child,
        )
        self.namespaces = pulumi.Output.all(*[ns.metadata["name"] for ns in ns_objects.values()])
        self.storage_class = sc.metadata["name"]
        self.register_outputs({"namespaces": self.namespaces, "storage_class": self.storage_class})

    def _namespace(self, name: str, spec: NamespaceSpec, args: TenancyArgs, child: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
        level = spec.pod_security
        annotations = {"sahab.ae/pod-security-reason": spec.reason} if spec.reason else {}
        ns = k8s.core.v1.Namespace(
            f"{name}-{spec.name}",
            metadata={
                "name": spec.name,
                "annotations": annotations,
                "labels": {
                    "pod-security.kubernetes.io/enforce": level,
                    "pod-security.kubernetes.io/enforce-version": "latest",
                    # Audit and warn at `restricted` even where more is enforced, so exceptions stay visible.
                    "pod-security.kubernetes.io/audit": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                    "app.kubernetes.io/part-of": "sahab",
                },
            },
            opts=child,
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        meta = {"namespace": spec.name}
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{spec.name}-default-deny",
            metadata={**meta, "name": "default-deny"},
            spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
            opts=in_ns,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{spec.name}-baseline",
            metadata={**meta, "name": "allow-baseline"},
            spec=_baseline_policy(args.monitoring_namespace),
            opts=in_ns,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{spec.name}-shared",
            metadata={**meta, "name": "allow-same-namespace"},
            spec=_shared_policy(args.monitoring_namespace),
            opts=in_ns,
        )
        # The API server and the kubelets, as the cluster's policy engine sees them (api_access.py).
        cluster_policies = api_server_policies(spec.name, spec.api_clients, args.cloud)
        if spec.name == args.monitoring_namespace:
            cluster_policies.append(kubelet_scrape_policy(args.vpc_cidr, args.cloud))
        for kind_path, policy_name, policy in cluster_policies:
            api_version, _, kind = kind_path.rpartition("/")
            if kind == "NetworkPolicy":
                k8s.networking.v1.NetworkPolicy(f"{name}-{spec.name}-{policy_name}", metadata={**meta, "name": policy_name}, spec=policy, opts=in_ns)
            else:
                k8s.apiextensions.CustomResource(
                    f"{name}-{spec.name}-{policy_name}", api_version=api_version, kind=kind, metadata={**meta, "name": policy_name}, spec=policy, opts=in_ns
                )
        k8s.core.v1.LimitRange(
            f"{name}-{spec.name}-limits",
            metadata={**meta, "name": "container-defaults"},
            spec={
                "limits": [
                    {
                        "type": "Container",
                        # Only for containers that forget: every Sahab container sets its own.
                        "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                        "default": {"cpu": "500m", "memory": "512Mi"},
                        "max": {"memory": "2048Gi"},
                    }
                ]
            },
            opts=in_ns,
        )
        if spec.gpu_quota is not None:
            k8s.core.v1.ResourceQuota(
                f"{name}-{spec.name}-quota",
                metadata={**meta, "name": "team-quota"},
                spec={
                    "hard": {
                        "requests.cpu": str(spec.cpu_quota),
                        "limits.cpu": str(spec.cpu_quota),
                        "requests.memory": f"{spec.memory_quota_gib}Gi",
                        "limits.memory": f"{spec.memory_quota_gib}Gi",
                        f"requests.{GPU_RESOURCE}": str(spec.gpu_quota),
                        "persistentvolumeclaims": "20",
                        "services.loadbalancers": "0",
                    }
                },
                opts=in_ns,
            )
        return ns

    def _rbac(self, name: str, args: TenancyArgs, namespaces: dict, child: pulumi.ResourceOptions) -> None:
        # platform-admin: what the built-in `admin` role aggregates, within the platform's namespaces.
        admin = k8s.rbac.v1.ClusterRole(
            f"{name}-platform-admin",
            metadata={"name": "sahab:platform-admin"},
            aggregation_rule={
                "clusterRoleSelectors": [
                    {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
                    {"matchLabels": {"sahab.ae/aggregate-to-platform-admin": "true"}},
                ]
            },
            opts=child,
        )
        k8s.rbac.v1.ClusterRole(
            f"{name}-platform-admin-extras",
            metadata={"name": "sahab:platform-admin-extras", "labels": {"sahab.ae/aggregate-to-platform-admin": "true"}},
            rules=[
                {
                    "apiGroups": ["monitoring.coreos.com"],
                    "resources": ["servicemonitors", "podmonitors", "prometheusrules"],
                    "verbs": [*_READ, "create", "update", "patch", "delete"],
                },
            ],
            opts=child,
        )
        engineer = k8s.rbac.v1.ClusterRole(
            f"{name}-ml-engineer",
            metadata={"name": "sahab:ml-engineer"},
            rules=[
                {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": [*_READ, "create", "delete", "patch"]},
                {"apiGroups": [""], "resources": ["pods", "pods/log", "events", "configmaps", "services", "persistentvolumeclaims"], "verbs": _READ},
                {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": _READ},
            ],
            opts=child,
        )
        auditor = k8s.rbac.v1.ClusterRole(
            f"{name}-auditor",
            metadata={"name": "sahab:auditor"},
            # Read-only and never secrets: an auditor sees configuration, not credentials.
            rules=[
                {
                    "apiGroups": [""],
                    "resources": [
                        "pods",
                        "services",
                        "endpoints",
                        "configmaps",
                        "namespaces",
                        "nodes",
                        "events",
                        "serviceaccounts",
                        "resourcequotas",
                        "limitranges",
                        "persistentvolumes",
                        "persistentvolumeclaims",
                    ],
                    "verbs": _READ,
                },
                {"apiGroups": ["apps"], "resources": ["deployments", "daemonsets", "statefulsets", "replicasets"], "verbs": _READ},
                {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _READ},
                {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _READ},
                {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _READ},
                {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies", "ingresses"], "verbs": _READ},
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings", "clusterroles", "clusterrolebindings"], "verbs": _READ},
                {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses"], "verbs": _READ},
                {"apiGroups": ["monitoring.coreos.com"], "resources": ["servicemonitors", "podmonitors", "prometheusrules"], "verbs": _READ},
                {"apiGroups": ["karpenter.sh", "karpenter.k8s.aws"], "resources": ["nodepools", "nodeclaims", "ec2nodeclasses"], "verbs": _READ},
            ],
            opts=child,
        )
        groups = args.groups
        for role, group in (("auditor", groups["auditor"]), ("platform-admin", groups["platform-admin"])):
            # Platform admins read the whole cluster too (nodes, node pools); they administer only the platform's namespaces.
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-{role}-read",
                metadata={"name": f"sahab:{role}-read"},
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "sahab:auditor"},
                subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[auditor]),
            )
        for spec in args.namespaces:
            bindings = [("platform-admin", admin)] + ([("ml-engineer", engineer)] if spec.ml_engineers else [])
            for role, cluster_role in bindings:
                k8s.rbac.v1.RoleBinding(
                    f"{name}-{spec.name}-{role}",
                    metadata={"name": f"sahab:{role}", "namespace": spec.name},
                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"sahab:{role}"},
                    subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": groups[role]}],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[namespaces[spec.name], cluster_role]),
                )


def _baseline_policy(monitoring: str) -> dict:
    """What every namespace needs on top of default-deny. Components add their own ingress rules.

    Egress: DNS; the EKS Pod Identity agent (every workload's AWS credentials); HTTPS anywhere but
    the instance metadata service (the API server, AWS interface endpoints and the S3 gateway,
    whose prefix list cannot be written as a CIDR); any pod in the cluster (each pod's own
    ingress policy decides). IMDS is never allowed: pods use Pod Identity, not the node's role. The API
    server where HTTPS does not reach it (k3s's node IP:6443, AKS's Cilium entity) and Prometheus's scrape
    of the kubelets are policies of their own, for the pods that need them (api_access.py).
    Ingress: from Prometheus (the monitoring namespace's scrapes); the rest is `_shared_policy`'s and
    each component's own.
    """
    dns = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    egress = [
        {"to": [dns], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"to": [{"ipBlock": {"cidr": c}} for c in POD_IDENTITY_AGENT], "ports": [{"protocol": "TCP", "port": POD_IDENTITY_PORT}]},
        {"to": [{"ipBlock": {"cidr": cidr, "except": [imds]}} for cidr, imds in ANYWHERE_BUT_IMDS], "ports": [{"protocol": "TCP", "port": 443}]},
        {"to": [{"namespaceSelector": {}}]},
    ]
    # Prometheus pods as the operator labels them: app.kubernetes.io/name=prometheus (operator.ApplicationNameLabelKey;
    # checked: prometheus-operator pkg/prometheus/server/statefulset_test.go, the pods' spread selector), the label
    # the gate's charts.py gives the Prometheus workload.
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    ingress = [{"from": [prometheus]}]
    # Notebook servers are left to their own, narrower egress policy (components/kubernetes/notebooks.py).
    not_notebooks = {"matchExpressions": [{"key": NOTEBOOK_LABEL, "operator": "DoesNotExist"}]}
    return {"podSelector": not_notebooks, "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress}


def _shared_policy(monitoring: str) -> dict:
    """Ingress of the namespace's pods that belong to no model project (MLflow, the data services, the
    Pushgateway, a team's own pods): from the namespace itself and from the monitoring namespace. Pods of
    a project (label `sahab.ae/project`) are not selected: in a namespace several projects share, one
    project's pods must not reach another's, so each admits only what its component's policies name."""
    return {
        "podSelector": {"matchExpressions": [{"key": PROJECT_LABEL, "operator": "DoesNotExist"}, {"key": NOTEBOOK_LABEL, "operator": "DoesNotExist"}]},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"podSelector": {}}]},
            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring}}}]},
        ],
    }


def _validate(args: TenancyArgs) -> None:
    names = [n.name for n in args.namespaces]
    if len(set(names)) != len(names):
        raise ValueError(f"namespaces: names must be unique, got {names}")
    if args.monitoring_namespace not in names:
        raise ValueError(f"monitoring_namespace: {args.monitoring_namespace!r} is not one of namespaces {names}")
    missing = sorted(set(GROUPS) - set(args.groups))
    if missing:
        raise ValueError(f"groups: no Kubernetes group for roles {missing}")
    for n in args.namespaces:
        if n.pod_security not in PSA_LEVELS:
            raise ValueError(f"namespaces[{n.name}].pod_security: {n.pod_security!r} must be one of {PSA_LEVELS}")
        if n.pod_security != "restricted" and not n.reason.strip():
            raise ValueError(f"namespaces[{n.name}].reason: pod_security {n.pod_security!r} is weaker than restricted; write why")
        if n.gpu_quota is not None and n.gpu_quota < 0:
            raise ValueError(f"namespaces[{n.name}].gpu_quota: must be >= 0, got {n.gpu_quota}")
