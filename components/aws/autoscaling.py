"""Node autoscaling IAM on AWS: Karpenter (controller role through Pod Identity, node role with its
access entry, the KMS-encrypted spot-interruption queue fed by EventBridge) or the Cluster
Autoscaler's role. The Kubernetes half lives in components/kubernetes/autoscaling.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.aws._pod_identity import pod_identity_role
from components.aws._policy import allow, document, managed_policy, service_trust

# EventBridge events Karpenter acts on (its documented interruption set).
INTERRUPTION_EVENTS = {
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
}


@dataclass(frozen=True)
class KarpenterIdentityArgs:
    cluster_name: pulumi.Input[str]
    """EKS cluster Karpenter manages."""
    region: str
    """Region of the cluster (scopes every EC2 permission)."""
    account_id: pulumi.Input[str]
    """Account of the cluster."""
    namespace: str
    """Namespace of Karpenter's service account."""
    service_account: str
    """Karpenter's service account (bound to the controller role by Pod Identity)."""
    volume_key_arn: pulumi.Input[str]
    """KMS key node volumes are encrypted with (Karpenter launches them)."""
    queue_retention_seconds: int = 300
    """Interruption messages older than the 2-minute notice are useless."""
    key_rotation_days: int = 365
    """Rotation period of the queue's KMS key (same as the platform's keys)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of every taggable resource (the cloud layer's provider default tags do not reach here)."""


class KarpenterIdentity(pulumi.ComponentResource):
    controller_role_arn: pulumi.Output[str]
    node_role_name: pulumi.Output[str]
    queue_name: pulumi.Output[str]

    def __init__(self, name: str, args: KarpenterIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:KarpenterIdentity", name, None, opts)
        if not 60 <= args.queue_retention_seconds <= 1209600:
            raise ValueError(f"queue_retention_seconds: {args.queue_retention_seconds} is outside SQS's 60-1209600")
        if not args.namespace or not args.service_account:
            raise ValueError("namespace/service_account: Karpenter's service account must be named")
        child = pulumi.ResourceOptions(parent=self)

        # A key of its own: EventBridge must be allowed to encrypt into the queue, which the shared
        # data key's policy (rightly) does not grant.
        key = aws.kms.Key(
            f"{name}-queue-key",
            description=f"Sahab {name} interruption queue (customer-managed, single-region)",
            enable_key_rotation=True,
            rotation_period_in_days=args.key_rotation_days,
            multi_region=False,
            deletion_window_in_days=30,
            tags=args.tags,
            policy=document(
                {
                    "Sid": "AccountAdministersKey",
                    "Effect": "Allow",
                    "Principal": {"AWS": pulumi.Output.format("arn:aws:iam::{0}:root", args.account_id)},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                allow(
                    "EventBridgeSendsEncrypted",
                    ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "*",
                    Principal={"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                    Condition={"StringEquals": {"aws:SourceAccount": args.account_id}},
                ),
            ),
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-interruptions",
            name=args.cluster_name,
            message_retention_seconds=args.queue_retention_seconds,
            kms_master_key_id=key.arn,
            kms_data_key_reuse_period_seconds=300,
            tags=args.tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-interruptions-policy",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn).apply(lambda a: _queue_policy(a[0])),
            opts=child,
        )
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{event}", description=f"Karpenter interruption: {event}", event_pattern=json.dumps(pattern), tags=args.tags, opts=child
            )
            aws.cloudwatch.EventTarget(f"{name}-{event}-target", rule=rule.name, arn=queue.arn, target_id="karpenter-interruption-queue", opts=child)

        node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=service_trust("ec2.amazonaws.com"), tags=args.tags, opts=child)
        for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore"):
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=node_role.name, policy_arn=managed_policy(policy), opts=child)
        # Nodes Karpenter launches join the cluster through this access entry (API authentication mode).
        aws.eks.AccessEntry(f"{name}-node-access", cluster_name=args.cluster_name, principal_arn=node_role.arn, type="EC2_LINUX", tags=args.tags, opts=child)

        controller = pod_identity_role(
            f"{name}-controller",
            parent=self,
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=args.service_account,
            policy=pulumi.Output.all(args.cluster_name, args.account_id, queue.arn, node_role.arn, args.volume_key_arn, key.arn).apply(
                lambda a: _controller_policy(args.region, *a)
            ),
            description="Karpenter controller",
            tags=args.tags,
        )
        self.controller_role_arn = controller.arn
        self.node_role_name = node_role.name
        self.queue_name = queue.name
        self.register_outputs({"controller_role_arn": self.controller_role_arn, "node_role_name": self.node_role_name, "queue_name": self.queue_name})


@dataclass(frozen=True)
class ClusterAutoscalerIdentityArgs:
    cluster_name: pulumi.Input[str]
    """EKS cluster whose managed node groups it scales."""
    namespace: str
    """Namespace of the autoscaler's service account."""
    service_account: str
    """The autoscaler's service account (bound by Pod Identity)."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of every taggable resource."""


class ClusterAutoscalerIdentity(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterAutoscalerIdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:ClusterAutoscalerIdentity", name, None, opts)
        if not args.namespace or not args.service_account:
            raise ValueError("namespace/service_account: the autoscaler's service account must be named")
        role = pod_identity_role(
            name,
            parent=self,
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=args.service_account,
            policy=pulumi.Output.from_input(args.cluster_name).apply(_autoscaler_policy),
            description="Cluster Autoscaler",
            tags=args.tags,
        )
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})


def _queue_policy(queue_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                allow("EventBridgeSends", ["sqs:SendMessage"], queue_arn, Principal={"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}),
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def _controller_policy(region: str, cluster: str, account: str, queue_arn: str, node_role_arn: str, key_arn: str, queue_key_arn: str) -> str:
    """Karpenter v1.6's controller policy, statement for statement, scoped to this cluster's tags
    and region; no pricing API (Karpenter runs with isolatedVPC, so it never calls us-east-1).
    checked: aws/karpenter-provider-aws v1.6.3 website/content/en/docs/getting-started/
    getting-started-with-karpenter/cloudformation.yaml (fetched 2026-12): instance profiles are
    created and tagged under aws:RequestTag conditions (a profile that does not exist yet carries
    no aws:ResourceTag), the rest under aws:ResourceTag."""
    ec2 = f"arn:aws:ec2:{region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned", "aws:RequestTag/eks:eks-cluster-name": cluster}
    tagged = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    in_region = {"StringEquals": {"aws:RequestedRegion": region}}
    launched = ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")
    profiles = f"arn:aws:iam::{account}:instance-profile/*"
    profile_request = {**owned, "aws:RequestTag/topology.kubernetes.io/region": region}
    profile_resource = {**tagged, "aws:ResourceTag/topology.kubernetes.io/region": region}
    statements = [
        allow(
            "ScopedInstanceAccess",
            ["ec2:RunInstances", "ec2:CreateFleet"],
            [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*", f"{ec2}:*:capacity-reservation/*"],
        ),
        allow(
            "ScopedLaunchTemplateAccess",
            ["ec2:RunInstances", "ec2:CreateFleet"],
            f"{ec2}:*:launch-template/*",
            Condition={"StringEquals": tagged, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        ),
        allow(
            "ScopedInstanceCreation",
            ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
            [f"{ec2}:*:{kind}/*" for kind in (*launched, "capacity-reservation")],
            Condition={"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        ),
        allow(
            "ScopedCreationTagging",
            ["ec2:CreateTags"],
            [f"{ec2}:*:{kind}/*" for kind in launched],
            Condition={
                "StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"},
            },
        ),
        allow(
            "ScopedInstanceTagging",
            ["ec2:CreateTags"],
            f"{ec2}:*:instance/*",
            Condition={
                "StringEquals": tagged,
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]},
            },
        ),
        allow(
            "ScopedDeletion",
            ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            Condition={"StringEquals": tagged, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        ),
        allow(
            "RegionalReads",
            [
                "ec2:DescribeCapacityReservations",
                "ec2:DescribeImages",
                "ec2:DescribeInstances",
                "ec2:DescribeInstanceTypeOfferings",
                "ec2:DescribeInstanceTypes",
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSpotPriceHistory",
                "ec2:DescribeSubnets",
            ],
            "*",
            Condition=in_region,
        ),
        allow("AmiParameters", ["ssm:GetParameter"], f"arn:aws:ssm:{region}::parameter/aws/service/*"),
        allow("InterruptionQueue", ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"], queue_arn),
        # The queue is encrypted with its own CMK (customer-managed keys in-region, UAE.md), where
        # upstream uses SSE-SQS: receiving its messages needs kms:Decrypt, only through SQS.
        allow("InterruptionQueueKey", ["kms:Decrypt"], queue_key_arn, Condition={"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}}),
        allow("PassNodeRole", ["iam:PassRole"], node_role_arn, Condition={"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com"]}}),
        allow(
            "ScopedInstanceProfileCreation",
            ["iam:CreateInstanceProfile"],
            profiles,
            Condition={"StringEquals": profile_request, "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}},
        ),
        allow(
            "ScopedInstanceProfileTagging",
            ["iam:TagInstanceProfile"],
            profiles,
            Condition={
                "StringEquals": {**profile_resource, **profile_request},
                "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*", "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"},
            },
        ),
        allow(
            "ScopedInstanceProfileActions",
            ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
            profiles,
            Condition={"StringEquals": profile_resource, "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}},
        ),
        allow("ReadInstanceProfiles", ["iam:GetInstanceProfile"], profiles),
        allow("ClusterEndpoint", ["eks:DescribeCluster"], f"arn:aws:eks:{region}:{account}:cluster/{cluster}"),
        # Volumes of launched nodes are encrypted with the data key; EC2 uses it on Karpenter's behalf.
        allow(
            "EncryptNodeVolumes",
            ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncrypt*"],
            key_arn,
            Condition={"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
        ),
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _autoscaler_policy(cluster: str) -> str:
    """Cluster Autoscaler: read everywhere, scale only the ASGs of this cluster's node groups."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                allow(
                    "Read",
                    [
                        "autoscaling:DescribeAutoScalingGroups",
                        "autoscaling:DescribeAutoScalingInstances",
                        "autoscaling:DescribeLaunchConfigurations",
                        "autoscaling:DescribeScalingActivities",
                        "autoscaling:DescribeTags",
                        "ec2:DescribeImages",
                        "ec2:DescribeInstanceTypes",
                        "ec2:DescribeLaunchTemplateVersions",
                        "ec2:GetInstanceTypesFromInstanceRequirements",
                    ],
                    "*",
                ),
                # Node groups' labels and taints (scale from 0): only this cluster's.
                allow("ReadOwnNodegroups", ["eks:DescribeNodegroup"], f"arn:aws:eks:*:*:nodegroup/{cluster}/*/*"),
                allow(
                    "ScaleOwnGroups",
                    ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                    "*",
                    Condition={"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster}": "owned"}},
                ),
            ],
        }
    )
