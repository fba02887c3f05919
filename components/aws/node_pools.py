"""EKS managed node groups: GPU training pools (NVIDIA AMI, spot, from 0, tainted) and CPU
inference tiers (on-demand, spread over zones, never below 2). Both run IMDSv2-only with
CMK-encrypted root volumes from a launch template."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.constants import GPU_TAINT

_EFFECT = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE", "NoExecute": "NO_EXECUTE"}


@dataclass(frozen=True)
class NodePoolArgs:
    cluster_name: pulumi.Input[str]
    """EKS cluster the pool joins."""
    node_role_arn: pulumi.Input[str]
    """IAM role of the nodes (from the Cluster component)."""
    subnet_ids: pulumi.Input[list[str]]
    """Private node subnets, one per zone."""
    instance_types: tuple[str, ...]
    """Instance types, first preferred."""
    min_size: int
    """Smallest size; 0 allowed for GPU pools."""
    max_size: int
    """Largest size the autoscaler may reach."""
    volume_key_arn: pulumi.Input[str]
    """KMS key encrypting the root volume."""
    disk_gib: int = 100
    """Root volume size."""
    capacity: str = "on-demand"
    """`spot` or `on-demand`."""
    labels: dict[str, str] = field(default_factory=dict)
    """Kubernetes node labels."""
    taints: tuple[dict[str, str], ...] = ()
    """Kubernetes taints: dicts of key, value, effect (NoSchedule, ...)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags for the instances and volumes the pool launches (provider default tags do not reach them)."""


class _NodePool(pulumi.ComponentResource):
    node_group_name: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]

    def _build(self, name: str, args: NodePoolArgs, ami_type: str, pool_labels: dict[str, str]) -> None:
        if args.min_size < 0 or args.min_size > args.max_size:
            raise ValueError(f"min_size/max_size: need 0 <= min_size <= max_size, got {args.min_size}/{args.max_size}")
        if args.capacity not in ("spot", "on-demand"):
            raise ValueError(f"capacity: {args.capacity!r} must be 'spot' or 'on-demand'")
        for taint in args.taints:
            if taint["effect"] not in _EFFECT:
                raise ValueError(f"taints: effect {taint['effect']!r} must be one of {sorted(_EFFECT)}")
        child = pulumi.ResourceOptions(parent=self)
        lt = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            # Hop limit 1: pods cannot reach the node's credentials; they use Pod Identity instead.
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1, "instance_metadata_tags": "disabled"},
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": args.disk_gib,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "kms_key_id": args.volume_key_arn,
                        "delete_on_termination": "true",
                    },
                }
            ],
            tag_specifications=[{"resource_type": kind, "tags": args.tags} for kind in ("instance", "volume")],
            update_default_version=True,
            opts=child,
        )
        group = aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=args.subnet_ids,
            ami_type=ami_type,
            capacity_type="SPOT" if args.capacity == "spot" else "ON_DEMAND",
            instance_types=list(args.instance_types),
            scaling_config={"min_size": args.min_size, "max_size": args.max_size, "desired_size": args.min_size},
            update_config={"max_unavailable": 1},
            labels={**pool_labels, **args.labels},
            taints=[{"key": t["key"], "value": t.get("value") or None, "effect": _EFFECT[t["effect"]]} for t in args.taints],
            launch_template={"id": lt.id, "version": lt.latest_version.apply(str)},
            # The autoscaler owns the desired size once the pool exists.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )
        self.node_group_name = group.node_group_name
        self.launch_template_id = lt.id
        self.register_outputs({"node_group_name": self.node_group_name, "launch_template_id": self.launch_template_id})


class GpuNodePool(_NodePool):
    """Training capacity: NVIDIA-enabled AMI, scales from 0, tainted `nvidia.com/gpu=present:NoSchedule`."""

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:GpuNodePool", name, None, opts)
        if not any(t["key"] == GPU_TAINT["key"] and t["effect"] == "NoSchedule" for t in args.taints):
            raise ValueError("taints: a GPU pool needs the nvidia.com/gpu NoSchedule taint so CPU pods never land on it")
        self._build(name, args, "AL2023_x86_64_NVIDIA", {"sahab.ae/pool": name, "sahab.ae/accelerator": "nvidia", "sahab.ae/capacity": args.capacity})


class InferenceNodePool(_NodePool):
    """CPU serving capacity: on-demand, at least 2 nodes over the zones of `subnet_ids`."""

    def __init__(self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:InferenceNodePool", name, None, opts)
        if args.min_size < 2:
            raise ValueError(f"min_size: an inference tier needs at least 2 nodes to survive a zone or node loss, got {args.min_size}")
        if args.capacity != "on-demand":
            raise ValueError("capacity: inference tiers run on-demand (spot reclaims would drop live traffic)")
        self._build(name, args, "AL2023_x86_64_STANDARD", {"sahab.ae/pool": name, "sahab.ae/capacity": "on-demand"})
