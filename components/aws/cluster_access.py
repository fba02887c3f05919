"""Cloud identities -> Kubernetes groups: EKS access entries (API authentication mode) that map
IAM roles to the groups the platform layer's RBAC binds (`platform-admin`, `ml-engineer`, `auditor`).
No access policy is associated: what a group may do is Kubernetes RBAC, reviewable in manifests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.constants import IAM_ROLE_ARN as _ROLE_ARN

_RESERVED = ("system:", "eks:", "amazon:", "aws:", "iam:", "kubernetes-")


@dataclass(frozen=True)
class ClusterAccessArgs:
    cluster_name: pulumi.Input[str]
    """EKS cluster the entries belong to."""
    role_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """IAM role ARN -> Kubernetes groups it is mapped to."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of the access entries."""


class ClusterAccess(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:ClusterAccess", name, None, opts)
        for arn, groups in args.role_groups.items():
            if not _ROLE_ARN.fullmatch(arn):
                raise ValueError(f"role_groups: {arn!r} is not an IAM role ARN")
            if not groups:
                raise ValueError(f"role_groups[{arn}]: map the role to at least one group")
            for g in groups:
                if g.startswith(_RESERVED):
                    raise ValueError(f"role_groups[{arn}]: group {g!r} uses a prefix EKS reserves ({', '.join(_RESERVED)})")
        for arn, groups in sorted(args.role_groups.items()):
            account, role = arn.split(":")[4], arn.rsplit("/", 1)[-1].lower()
            slug = f"{account[-4:]}-{role}"
            aws.eks.AccessEntry(
                f"{name}-{slug}",
                cluster_name=args.cluster_name,
                principal_arn=arn,
                type="STANDARD",
                kubernetes_groups=list(groups),
                tags=args.tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({})
