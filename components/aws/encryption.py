"""Customer-managed KMS keys, one per purpose, single-region, rotating."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws._policy import allow, document

PURPOSES = ("data", "logs", "cluster")
_CRYPTO = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]


@dataclass(frozen=True)
class EncryptionArgs:
    account_id: pulumi.Input[str]
    """The AWS account the keys live in (key policies name its root)."""
    region: str
    """The region the keys live in; keys are never multi-region."""
    rotation_days: int = 365
    """Automatic rotation period (90-2560 days)."""
    deletion_window_days: int = 30
    """Waiting period before a scheduled deletion takes effect."""
    autoscaling_role_arn: pulumi.Input[str] | None = None
    """The Auto Scaling service-linked role the data key admits (the one the stack creates, so the key
    waits for it); None: the account's existing `AWSServiceRoleForAutoScaling`."""


class Encryption(pulumi.ComponentResource):
    """Three keys: `data` (S3, EBS, RDS, ElastiCache, ECR, secrets), `logs` (CloudWatch, CloudTrail),
    `cluster` (EKS secrets envelope encryption). Each is single-region with rotation on."""

    key_arns: pulumi.Output[dict[str, str]]
    data_key_arn: pulumi.Output[str]
    logs_key_arn: pulumi.Output[str]
    cluster_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EncryptionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:Encryption", name, None, opts)
        if not 90 <= args.rotation_days <= 2560:
            raise ValueError(f"rotation_days: {args.rotation_days} is outside AWS's 90-2560 days")
        if not 7 <= args.deletion_window_days <= 30:
            raise ValueError(f"deletion_window_days: {args.deletion_window_days} is outside 7-30 days")
        child = pulumi.ResourceOptions(parent=self)
        keys: dict[str, aws.kms.Key] = {}
        for purpose in PURPOSES:
            keys[purpose] = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"Sahab {name} {purpose} key (customer-managed, single-region)",
                enable_key_rotation=True,
                rotation_period_in_days=args.rotation_days,
                deletion_window_in_days=args.deletion_window_days,
                multi_region=False,
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                policy=_key_policy(purpose, args.account_id, args.region, args.autoscaling_role_arn),
                opts=child,
            )
            aws.kms.Alias(f"{name}-{purpose}-alias", name=f"alias/sahab/{name}/{purpose}", target_key_id=keys[purpose].key_id, opts=child)
        self.data_key_arn = keys["data"].arn
        self.logs_key_arn = keys["logs"].arn
        self.cluster_key_arn = keys["cluster"].arn
        self.key_arns = pulumi.Output.all(**{p: k.arn for p, k in keys.items()})
        self.register_outputs({"key_arns": self.key_arns})


def _key_policy(purpose: str, account_id: pulumi.Input[str], region: str, autoscaling_role_arn: pulumi.Input[str] | None = None) -> pulumi.Output[str]:
    """Least privilege: the account root may administer (so IAM policies can grant use and the key
    can never become unmanageable); services get only the crypto actions they need, pinned to this
    account's resources by encryption context or source account."""
    root = pulumi.Output.format("arn:aws:iam::{0}:root", account_id)
    statements = [
        {"Sid": "AccountAdministersKey", "Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*", "Resource": "*"},
    ]
    if purpose == "logs":
        statements.append(
            allow(
                "CloudWatchLogsInThisAccount",
                _CRYPTO,
                "*",
                Principal={"Service": f"logs.{region}.amazonaws.com"},
                Condition={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": pulumi.Output.format("arn:aws:logs:{0}:{1}:log-group:*", region, account_id)}},
            )
        )
        # checked: docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html
        # (fetched 2026-12): encrypt under the trail's encryption context; DescribeKey carries no
        # encryption context, so it must not sit under that condition; with an S3 Bucket Key on the
        # audit bucket, creating or updating an SSE-KMS trail also needs kms:Decrypt.
        trails = {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": pulumi.Output.format("arn:aws:cloudtrail:{0}:{1}:trail/*", region, account_id)},
        }
        cloudtrail = {"Service": "cloudtrail.amazonaws.com"}
        statements.append(
            allow(
                "CloudTrailEncryptsLogs",
                ["kms:GenerateDataKey*"],
                "*",
                Principal=cloudtrail,
                Condition={
                    **trails,
                    "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": pulumi.Output.format("arn:aws:cloudtrail:*:{0}:trail/*", account_id)},
                },
            )
        )
        statements.append(allow("CloudTrailDescribesKey", ["kms:DescribeKey"], "*", Principal=cloudtrail, Condition=trails))
        statements.append(allow("CloudTrailDecryptsForBucketKey", ["kms:Decrypt"], "*", Principal=cloudtrail, Condition=trails))
    if purpose == "data":
        # Managed node groups launch encrypted volumes through the Auto Scaling service-linked role.
        asg = autoscaling_role_arn or pulumi.Output.format(
            "arn:aws:iam::{0}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", account_id
        )
        statements.append(allow("AutoScalingUsesKeyForVolumes", _CRYPTO, "*", Principal={"AWS": asg}))
        statements.append(
            allow(
                "AutoScalingCreatesGrantsForVolumes",
                ["kms:CreateGrant"],
                "*",
                Principal={"AWS": asg},
                Condition={"Bool": {"kms:GrantIsForAWSResource": "true"}},
            )
        )
    return document(*statements)
