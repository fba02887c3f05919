"""Node autoscaling so GPU pools scale from 0 and back to 0.

Karpenter (default): one NodePool + EC2NodeClass per GPU pool of the spec, with the pool's
instance types, capacity type, labels and GPU taint; empty nodes are removed after
`consolidate_after`, so idle GPU capacity returns to 0. It runs with `isolatedVPC` (no calls to the
pricing API in us-east-1) and listens to the spot-interruption queue.
Cluster Autoscaler (alternative): scales the foundation's managed node groups (which already
scale from 0; it reads their labels and taints from the EKS API).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.constants import GPU_TAINT
from components.kubernetes import images, pins
from components.kubernetes._helm import release
from components.kubernetes._pod import GPU_RESOURCE, resources

KARPENTER_CHART = pins.chart("karpenter")  # where each pin was checked: components/kubernetes/pins.py
CLUSTER_AUTOSCALER_CHART = pins.chart("cluster-autoscaler")
SERVICE_ACCOUNT = {"karpenter": "karpenter", "cluster-autoscaler": "cluster-autoscaler"}
# AL2023 AMIs pinned by release (Karpenter picks the NVIDIA variant for GPU instance types).
DEFAULT_AMI_ALIAS = "al2023@v20250915"


def gpus_of(instance_type: str) -> int:
    """GPUs of the GPU instance types offered in me-central-1 (stacks/offerings.py)."""
    if instance_type == "p5en.48xlarge":
        return 8
    family, _, size = instance_type.partition(".")
    if family in ("g5", "g6"):
        return {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}.get(size, 1)
    raise ValueError(f"instance_types: {instance_type!r} is not a known GPU instance type")


@dataclass(frozen=True)
class GpuPoolSpec:
    name: str
    """Pool name (node label `sahab.ae/pool`)."""
    instance_types: tuple[str, ...]
    """Allowed instance types."""
    capacity: str
    """`spot` or `on-demand`."""
    max_nodes: int
    """Most nodes at once (becomes the pool's GPU limit)."""
    disk_gib: int = 100
    """Root volume size."""
    labels: dict[str, str] = field(default_factory=dict)
    """Extra node labels."""


@dataclass(frozen=True)
class CpuPoolSpec:
    name: str
    """Pool name: the inference tier's (node label `sahab.ae/pool`, same as its managed node group)."""
    instance_types: tuple[str, ...]
    """Allowed instance types (the tier's)."""
    max_cpu: int
    """vCPUs Karpenter may add on top of the tier's managed nodes (the NodePool's cpu limit)."""
    disk_gib: int = 100
    """Root volume size."""
    labels: dict[str, str] = field(default_factory=dict)
    """The tier's node labels (what its pods select)."""


@dataclass(frozen=True)
class AutoscalingArgs:
    kind: str
    """`karpenter` or `cluster-autoscaler`."""
    namespace: str
    """Namespace the controller runs in."""
    cluster_name: pulumi.Input[str]
    """EKS cluster name."""
    region: str
    """AWS region."""
    registry_host: pulumi.Input[str]
    """In-region registry host (mirrors)."""
    gpu_pools: tuple[GpuPoolSpec, ...] = ()
    """GPU pools Karpenter provisions (ignored by the Cluster Autoscaler: node groups own them)."""
    cpu_pools: tuple[CpuPoolSpec, ...] = ()
    """Karpenter: on-demand CPU capacity for the inference tiers beyond their managed nodes, so the
    HPAs' maximum schedules (the Cluster Autoscaler scales the tiers' node groups instead)."""
    zones: tuple[str, ...] = ()
    """Availability zones nodes may start in."""
    node_role_name: pulumi.Input[str] | None = None
    """Karpenter: IAM role of the nodes it launches."""
    interruption_queue: pulumi.Input[str] | None = None
    """Karpenter: SQS queue of spot-interruption events."""
    volume_key_arn: pulumi.Input[str] | None = None
    """Karpenter: KMS key for node root volumes."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of the instances and volumes Karpenter launches."""
    ami_alias: str = DEFAULT_AMI_ALIAS
    """Karpenter: pinned AMI alias (`al2023@vYYYYMMDD`), never `@latest`."""
    consolidate_after: str = "5m"
    """Empty GPU nodes are removed after this long (back to 0)."""
    monitoring_enabled: bool = True
    """Create ServiceMonitors (needs the Prometheus operator's CRDs)."""


class NodeAutoscaling(pulumi.ComponentResource):
    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:NodeAutoscaling", name, None, opts)
        _validate(args)
        child = pulumi.ResourceOptions(parent=self)
        if args.kind == "karpenter":
            self._karpenter(name, args, child)
        else:
            self._cluster_autoscaler(name, args, child)
        self.register_outputs({})

    def _karpenter(self, name: str, args: AutoscalingArgs, child: pulumi.ResourceOptions) -> None:
        controller = release(
            f"{name}-karpenter",
            release_name="karpenter",
            chart=KARPENTER_CHART.name,
            version=KARPENTER_CHART.version,
            repo=KARPENTER_CHART.repo,
            namespace=args.namespace,
            values={
                "settings": {
                    "clusterName": args.cluster_name,
                    "interruptionQueue": args.interruption_queue,
                    # me-central-1: no pricing API calls to us-east-1 (see UAE.md).
                    "isolatedVPC": True,
                },
                "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT["karpenter"]},
                "replicas": 2,
                "controller": {
                    "image": images.helm_image(args.registry_host, "karpenter", digest=""),
                    "resources": resources("500m", "1Gi", cpu_limit="1", memory_limit="1Gi"),
                },
                "podSecurityContext": {"fsGroup": 65532, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "priorityClassName": "system-cluster-critical",
                "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                "serviceMonitor": {"enabled": args.monitoring_enabled},
                "logLevel": "info",
            },
            opts=child,
        )
        after = pulumi.ResourceOptions(parent=self, depends_on=[controller])
        # One autoscaler for everything: Karpenter adds CPU nodes for the inference tiers too (their
        # managed node groups keep the floor and run Karpenter itself), rather than a second
        # controller (the Cluster Autoscaler) racing it over the same pending pods.
        pools: list[tuple[GpuPoolSpec | CpuPoolSpec, dict[str, Any]]] = [(p, _node_pool(args, p)) for p in args.gpu_pools]
        pools += [(p, _cpu_node_pool(args, p)) for p in args.cpu_pools]
        for pool, pool_spec in pools:
            k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-nodeclass",
                api_version="karpenter.k8s.aws/v1",
                kind="EC2NodeClass",
                metadata={"name": pool.name},
                spec=_node_class(args, pool),
                opts=after,
            )
            k8s.apiextensions.CustomResource(
                f"{name}-{pool.name}-nodepool",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata={"name": pool.name},
                spec=pool_spec,
                opts=after,
            )

    def _cluster_autoscaler(self, name: str, args: AutoscalingArgs, child: pulumi.ResourceOptions) -> None:
        release(
            f"{name}-cluster-autoscaler",
            release_name="cluster-autoscaler",
            chart=CLUSTER_AUTOSCALER_CHART.name,
            version=CLUSTER_AUTOSCALER_CHART.version,
            repo=CLUSTER_AUTOSCALER_CHART.repo,
            namespace=args.namespace,
            values={
                "cloudProvider": "aws",
                "awsRegion": args.region,
                "autoDiscovery": {"clusterName": args.cluster_name},
                "image": images.helm_image(args.registry_host, "cluster-autoscaler"),
                "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT["cluster-autoscaler"]}},
                "extraArgs": {
                    "balance-similar-node-groups": True,
                    "expander": "least-waste",
                    # GPU node groups go back to 0 once their training pods are gone.
                    "scale-down-unneeded-time": args.consolidate_after,
                    "skip-nodes-with-local-storage": False,
                },
                "resources": resources("100m", "512Mi", cpu_limit="500m", memory_limit="512Mi"),
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 65532,
                    "runAsGroup": 65532,
                    "fsGroup": 65532,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containerSecurityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
                "priorityClassName": "system-cluster-critical",
                "serviceMonitor": {"enabled": args.monitoring_enabled, "namespace": args.namespace},
            },
            opts=child,
        )


def _node_class(args: AutoscalingArgs, pool: GpuPoolSpec | CpuPoolSpec) -> dict[str, Any]:
    return {
        "role": args.node_role_name,
        "amiSelectorTerms": [{"alias": args.ami_alias}],
        # The node subnets (private) and the cluster security group, found by the tags the cloud layer sets.
        "subnetSelectorTerms": [{"tags": {"sahab.ae/tier": "nodes", "kubernetes.io/role/internal-elb": "1"}}],
        "securityGroupSelectorTerms": [{"tags": {"aws:eks:cluster-name": args.cluster_name}}],
        "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1, "httpProtocolIPv6": "disabled"},
        "blockDeviceMappings": [
            {
                "deviceName": "/dev/xvda",
                "ebs": {
                    "volumeSize": f"{pool.disk_gib}Gi",
                    "volumeType": "gp3",
                    "encrypted": True,
                    "kmsKeyID": args.volume_key_arn,
                    "deleteOnTermination": True,
                },
            }
        ],
        "tags": {**args.tags, "sahab.ae/pool": pool.name},
    }


def _node_pool(args: AutoscalingArgs, pool: GpuPoolSpec) -> dict[str, Any]:
    """GPU nodes: tainted, the pool's capacity type, limited in GPUs. Only empty nodes are removed:
    a running training job is never consolidated away."""
    labels = {"sahab.ae/pool": pool.name, "sahab.ae/accelerator": "nvidia", "sahab.ae/capacity": pool.capacity, **pool.labels}
    return _pool_spec(
        args,
        pool.name,
        pool.instance_types,
        "spot" if pool.capacity == "spot" else "on-demand",
        labels,
        {GPU_RESOURCE: str(pool.max_nodes * max(gpus_of(t) for t in pool.instance_types))},
        taints=[dict(GPU_TAINT)],
    )


def _cpu_node_pool(args: AutoscalingArgs, pool: CpuPoolSpec) -> dict[str, Any]:
    """On-demand CPU nodes labelled like the tier's managed nodes (no taint: the tier's pods select
    it by label), at most `max_cpu` vCPUs. Live traffic: only empty nodes are removed (the serving
    PDBs guard the rest)."""
    labels = {"sahab.ae/pool": pool.name, "sahab.ae/capacity": "on-demand", **pool.labels}
    return _pool_spec(args, pool.name, pool.instance_types, "on-demand", labels, {"cpu": str(pool.max_cpu)})


def _pool_spec(
    args: AutoscalingArgs,
    name: str,
    instance_types: tuple[str, ...],
    capacity: str,
    labels: dict[str, str],
    limits: dict[str, str],
    *,
    taints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    requirements = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(instance_types)},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity]},
    ]
    if args.zones:
        requirements.append({"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(args.zones)})
    template: dict[str, Any] = {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name}}
    if taints:
        template["taints"] = taints
    return {
        "template": {"metadata": {"labels": labels}, "spec": {**template, "requirements": requirements, "expireAfter": "720h"}},
        "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": args.consolidate_after},
        "limits": limits,
    }


def _validate(args: AutoscalingArgs) -> None:
    if args.kind not in SERVICE_ACCOUNT:
        raise ValueError(f"kind: {args.kind!r} must be one of {sorted(SERVICE_ACCOUNT)}")
    if args.kind == "karpenter":
        for f in ("node_role_name", "interruption_queue", "volume_key_arn"):
            if getattr(args, f) is None:
                raise ValueError(f"{f}: required with kind 'karpenter'")
        if args.ami_alias.endswith("@latest") or "@" not in args.ami_alias:
            raise ValueError(f"ami_alias: {args.ami_alias!r} must pin an AMI release, e.g. {DEFAULT_AMI_ALIAS!r}")
    for pool in args.gpu_pools:
        if pool.capacity not in ("spot", "on-demand"):
            raise ValueError(f"gpu_pools[{pool.name}].capacity: {pool.capacity!r} must be 'spot' or 'on-demand'")
        if pool.max_nodes < 1:
            raise ValueError(f"gpu_pools[{pool.name}].max_nodes: must be >= 1")
        for t in pool.instance_types:
            gpus_of(t)
    for cpu in args.cpu_pools:
        if args.kind != "karpenter":
            raise ValueError(f"cpu_pools[{cpu.name}]: only with kind 'karpenter' (the Cluster Autoscaler scales the tiers' node groups)")
        if cpu.max_cpu < 0 or not cpu.instance_types:
            raise ValueError(f"cpu_pools[{cpu.name}]: needs instance types and max_cpu >= 0")
    names = [p.name for p in args.gpu_pools] + [p.name for p in args.cpu_pools]
    if len(set(names)) != len(names):
        raise ValueError(f"gpu_pools/cpu_pools: pool names must be unique, got {names}")
