"""EKS: private API endpoint, secrets envelope-encrypted with the cluster key, every control-plane
log type to a KMS-encrypted group, API-mode access entries, and EKS Pod Identity for workloads."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws._policy import managed_policy, service_trust

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
# Pod Identity instead of IRSA: no OIDC provider to manage, and trust policies name one service.
# metrics-server feeds the HorizontalPodAutoscalers of the serving tier.
ADDONS = ("vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver", "metrics-server")
# Without this the VPC CNI ignores NetworkPolicy objects: every default-deny would be decorative.
ADDON_CONFIGURATION = {"vpc-cni": {"enableNetworkPolicy": "true"}}


@dataclass(frozen=True)
class ClusterArgs:
    cluster_name: str
    """Physical EKS cluster name (also names its log group)."""
    kubernetes_version: str
    """EKS Kubernetes version."""
    region: str
    """Region, written into the kubeconfig's token command."""
    subnet_ids: pulumi.Input[list[str]]
    """Private node subnets the control plane attaches to."""
    cluster_key_arn: pulumi.Input[str]
    """KMS key for secrets envelope encryption."""
    logs_key_arn: pulumi.Input[str]
    """KMS key for the control-plane log group."""
    data_key_arn: pulumi.Input[str]
    """KMS key the EBS CSI driver encrypts volumes with."""
    private_endpoint: bool = True
    """API server reachable from inside the VPC."""
    public_endpoint: bool = False
    """API server reachable from the internet; needs public_access_cidrs."""
    public_access_cidrs: tuple[str, ...] = ()
    """Who may reach a public endpoint."""
    admin_role_arns: tuple[str, ...] = ()
    """IAM roles given cluster-admin through access entries."""
    log_retention_days: int = 365
    """Control-plane log retention."""
    deployer_role_arn: str | None = None
    """IAM role `pulumi up` runs as: access entry + cluster admin, and the kubeconfig waits for both."""
    deployer_cidrs: tuple[str, ...] = ()
    """Where the deployer runs: CIDRs the cluster security group admits on 443."""
    deployer_security_group_id: str | None = None
    """Or: the deployer runner's security group, admitted on 443."""


class Cluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:Cluster", name, None, opts)
        if not (args.private_endpoint or args.public_endpoint):
            raise ValueError("private_endpoint/public_endpoint: at least one endpoint must be on")
        if args.public_endpoint and (not args.public_access_cidrs or "0.0.0.0/0" in args.public_access_cidrs):
            raise ValueError("public_access_cidrs: a public endpoint needs an explicit, non-global CIDR list")
        if args.deployer_cidrs and args.deployer_security_group_id:
            raise ValueError("deployer_cidrs/deployer_security_group_id: give one source for the deployer, not both")
        if (args.deployer_cidrs or args.deployer_security_group_id) and not args.deployer_role_arn:
            raise ValueError("deployer_role_arn: a deployer source needs the role it runs as (it gets cluster admin)")
        child = pulumi.ResourceOptions(parent=self)

        role = aws.iam.Role(
            f"{name}-control-plane-role", assume_role_policy=service_trust("eks.amazonaws.com", actions=("sts:AssumeRole", "sts:TagSession")), opts=child
        )
        aws.iam.RolePolicyAttachment(f"{name}-control-plane-policy", role=role.name, policy_arn=managed_policy("AmazonEKSClusterPolicy"), opts=child)
        # EKS writes to this exact name; creating it first lets us set KMS and retention.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=role.arn,
            vpc_config={
                "subnet_ids": args.subnet_ids,
                "endpoint_private_access": args.private_endpoint,
                "endpoint_public_access": args.public_endpoint,
                "public_access_cidrs": list(args.public_access_cidrs) if args.public_endpoint else None,
            },
            encryption_config={"provider": {"key_arn": args.cluster_key_arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=LOG_TYPES,
            # Nobody is admin by accident (not even the deployer): admins are listed in the spec.
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            deletion_protection=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )
        admins = {}
        for i, arn in enumerate(args.admin_role_arns):
            admins[arn] = _cluster_admin(f"{name}-admin-{i}", cluster, arn, self)
        # The deployer: the kubeconfig (and so the Kubernetes provider built from it) waits until
        # its role is cluster admin and the private endpoint admits where it runs.
        deployer_ready: list[pulumi.Output[str]] = []
        if args.deployer_role_arn:
            association = admins.get(args.deployer_role_arn) or _cluster_admin(f"{name}-deployer", cluster, args.deployer_role_arn, self)
            deployer_ready.append(association.id)
            cluster_sg = cluster.vpc_config.apply(lambda v: v["cluster_security_group_id"] if isinstance(v, dict) else v.cluster_security_group_id)
            # One rule per source: (CIDR, None) per deployer CIDR, or (None, the deployer's security group).
            sources: list[tuple[str | None, str | None]] = [(c, None) for c in args.deployer_cidrs]
            if args.deployer_security_group_id:
                sources.append((None, args.deployer_security_group_id))
            for i, (cidr, group) in enumerate(sources):
                rule = aws.vpc.SecurityGroupIngressRule(
                    f"{name}-deployer-api-{i}",
                    security_group_id=cluster_sg,
                    ip_protocol="tcp",
                    from_port=443,
                    to_port=443,
                    description="pulumi up (the deployer) to the private API endpoint",
                    cidr_ipv4=cidr,  # None: not sent (the SDK drops None inputs)
                    referenced_security_group_id=group,
                    opts=child,
                )
                deployer_ready.append(rule.id)

        node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=service_trust("ec2.amazonaws.com"), opts=child)
        for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryPullOnly", "AmazonSSMManagedInstanceCore"):
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=node_role.name, policy_arn=managed_policy(policy), opts=child)

        ebs_role = aws.iam.Role(
            f"{name}-ebs-csi-role",
            assume_role_policy=service_trust("pods.eks.amazonaws.com", actions=("sts:AssumeRole", "sts:TagSession")),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi-policy", role=ebs_role.name, policy_arn=managed_policy("service-role/AmazonEBSCSIDriverPolicy"), opts=child
        )
        aws.iam.RolePolicy(
            f"{name}-ebs-csi-kms",
            role=ebs_role.id,
            policy=pulumi.Output.json_dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "EncryptVolumesWithDataKey",
                            "Effect": "Allow",
                            "Action": ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
                            "Resource": args.data_key_arn,
                        }
                    ],
                }
            ),
            opts=child,
        )
        for addon in ADDONS:
            # None: not sent (the SDK drops None inputs), as for the addons without either.
            pod_identity: list[aws.eks.AddonPodIdentityAssociationArgsDict] | None = None
            if addon == "aws-ebs-csi-driver":
                pod_identity = [{"role_arn": ebs_role.arn, "service_account": "ebs-csi-controller-sa"}]
            configuration = json.dumps(ADDON_CONFIGURATION[addon]) if addon in ADDON_CONFIGURATION else None
            # vpc-cni, coredns and kube-proxy come pre-installed (self-managed): OVERWRITE on create
            # takes them over instead of failing on their conflicting fields.
            aws.eks.Addon(
                f"{name}-{addon}",
                cluster_name=cluster.name,
                addon_name=addon,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                pod_identity_associations=pod_identity,
                configuration_values=configuration,
                opts=child,
            )

        self.name = cluster.name
        self.endpoint = cluster.endpoint
        self.certificate_authority = cluster.certificate_authority.apply(lambda ca: ca["data"] if isinstance(ca, dict) else ca.data)
        self.node_role_arn = node_role.arn
        self.cluster_security_group_id = cluster.vpc_config.apply(
            lambda v: v["cluster_security_group_id"] if isinstance(v, dict) else v.cluster_security_group_id
        )
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, self.certificate_authority, *deployer_ready).apply(
                lambda a: _kubeconfig(a[0], a[1], a[2], args.region)
            )
        )
        self.register_outputs({"name": self.name, "endpoint": self.endpoint, "kubeconfig": self.kubeconfig, "node_role_arn": self.node_role_arn})


def _cluster_admin(name: str, cluster: aws.eks.Cluster, arn: str, parent: pulumi.Resource) -> aws.eks.AccessPolicyAssociation:
    """An access entry for `arn` and the cluster-admin access policy on it."""
    entry = aws.eks.AccessEntry(name, cluster_name=cluster.name, principal_arn=arn, type="STANDARD", opts=pulumi.ResourceOptions(parent=parent))
    return aws.eks.AccessPolicyAssociation(
        f"{name}-policy",
        cluster_name=cluster.name,
        principal_arn=arn,
        policy_arn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        access_scope={"type": "cluster"},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[entry]),
    )


def _kubeconfig(name: str, endpoint: str, ca: str, region: str) -> str:
    """A kubeconfig that gets short-lived tokens from `aws eks get-token` (no static credentials)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
            "users": [
                {
                    "name": name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", name, "--region", region, "--output", "json"],
                        }
                    },
                }
            ],
        }
    )
