"""An IAM role for one Kubernetes service account, through EKS Pod Identity."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws._policy import service_trust

POD_TRUST_ACTIONS = ("sts:AssumeRole", "sts:TagSession")


def pod_identity_role(
    name: str,
    *,
    parent: pulumi.Resource,
    cluster_name: pulumi.Input[str],
    namespace: str,
    service_account: str,
    policy: pulumi.Input[str],
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> aws.iam.Role:
    """Role `name` trusted by the Pod Identity agent, its inline policy `name-access`, and the
    binding `name-binding` to `namespace/service_account`. Sessions last at most an hour."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        name,
        description=description or f"{namespace}/{service_account} (EKS Pod Identity)",
        assume_role_policy=service_trust("pods.eks.amazonaws.com", actions=POD_TRUST_ACTIONS),
        max_session_duration=3600,
        tags=tags,
        opts=child,
    )
    aws.iam.RolePolicy(f"{name}-access", role=role.id, policy=policy, opts=child)
    aws.eks.PodIdentityAssociation(
        f"{name}-binding", cluster_name=cluster_name, namespace=namespace, service_account=service_account, role_arn=role.arn, tags=tags, opts=child
    )
    return role
