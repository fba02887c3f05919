"""In-region S3 buckets: SSE-KMS with the data key, versioned, private, TLS-only, owner-enforced,
with lifecycle rules; the audit bucket is Object-Locked in compliance mode."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws._policy import allow, document

# Purpose -> one-line description. Names are stable: they are stack outputs workloads read.
BUCKETS = {
    "data-lake": "raw and curated data",
    "offline-features": "Feast offline store (Parquet)",
    "model-artifacts": "exported models served by BentoML",
    "experiment-artifacts": "MLflow run artifacts and checkpoints",
    "audit": "CloudTrail and audit records (Object Lock, compliance mode)",
}


@dataclass(frozen=True)
class StorageArgs:
    account_id: pulumi.Input[str]
    """Account that owns the buckets (bucket policies pin CloudTrail to it)."""
    region: str
    """Region of the buckets."""
    data_key_arn: pulumi.Input[str]
    """KMS key for SSE-KMS on the data buckets."""
    logs_key_arn: pulumi.Input[str]
    """KMS key for the audit bucket (shared with CloudTrail)."""
    trail_name: str
    """Name of the CloudTrail trail allowed to write to the audit bucket."""
    audit_retention_days: int = 2555
    """Object Lock retention of audit objects, compliance mode: not even root can shorten it."""
    noncurrent_version_days: int = 90
    """How long superseded object versions are kept."""
    infrequent_access_days: int = 30
    """Move data-lake objects to STANDARD_IA after this many days."""
    force_destroy: bool = False
    """Allow deleting non-empty buckets (never in production)."""


class Storage(pulumi.ComponentResource):
    bucket_names: pulumi.Output[dict[str, str]]
    bucket_arns: pulumi.Output[dict[str, str]]
    audit_bucket_name: pulumi.Output[str]
    audit_bucket_policy: aws.s3.BucketPolicy

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:Storage", name, None, opts)
        if args.audit_retention_days < 1:
            raise ValueError("audit_retention_days must be at least 1")
        child = pulumi.ResourceOptions(parent=self)
        buckets: dict[str, aws.s3.Bucket] = {}
        policies: dict[str, aws.s3.BucketPolicy] = {}
        for purpose in BUCKETS:
            audit = purpose == "audit"
            key = args.logs_key_arn if audit else args.data_key_arn
            bucket = aws.s3.Bucket(
                f"{name}-{purpose}",
                object_lock_enabled=audit,
                force_destroy=args.force_destroy and not audit,
                tags={"sahab.ae/purpose": purpose},
                opts=child,
            )
            bopts = pulumi.ResourceOptions(parent=self)
            aws.s3.BucketOwnershipControls(f"{name}-{purpose}-ownership", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=bopts)
            aws.s3.BucketPublicAccessBlock(
                f"{name}-{purpose}-public-access",
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=bopts,
            )
            aws.s3.BucketVersioning(f"{name}-{purpose}-versioning", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=bopts)
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-{purpose}-sse",
                bucket=bucket.id,
                rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key}, "bucket_key_enabled": True}],
                opts=bopts,
            )
            aws.s3.BucketLifecycleConfiguration(f"{name}-{purpose}-lifecycle", bucket=bucket.id, rules=_lifecycle_rules(purpose, args), opts=bopts)
            if audit:
                aws.s3.BucketObjectLockConfiguration(
                    f"{name}-audit-object-lock",
                    bucket=bucket.id,
                    object_lock_enabled="Enabled",
                    rule={"default_retention": {"mode": "COMPLIANCE", "days": args.audit_retention_days}},
                    opts=bopts,
                )
            policies[purpose] = aws.s3.BucketPolicy(
                f"{name}-{purpose}-policy",
                bucket=bucket.id,
                policy=_bucket_policy(bucket.arn, audit, args),
                opts=bopts,
            )
            buckets[purpose] = bucket

        self.audit_bucket_policy = policies["audit"]
        self.audit_bucket_name = buckets["audit"].bucket
        self.bucket_names = pulumi.Output.all(**{p: b.bucket for p, b in buckets.items()})
        self.bucket_arns = pulumi.Output.all(**{p: b.arn for p, b in buckets.items()})
        self.register_outputs({"bucket_names": self.bucket_names, "bucket_arns": self.bucket_arns})


def _lifecycle_rules(purpose: str, args: StorageArgs) -> list[aws.s3.BucketLifecycleConfigurationRuleArgsDict]:
    rules: list[aws.s3.BucketLifecycleConfigurationRuleArgsDict] = [
        {"id": "abort-incomplete-uploads", "status": "Enabled", "filter": {}, "abort_incomplete_multipart_upload": {"days_after_initiation": 7}},
    ]
    if purpose != "audit":
        # Audit versions are governed by Object Lock; expiring them early would fail anyway.
        rules.append(
            {
                "id": "expire-noncurrent-versions",
                "status": "Enabled",
                "filter": {},
                "noncurrent_version_expiration": {"noncurrent_days": args.noncurrent_version_days},
            }
        )
    if purpose == "data-lake":
        rules.append(
            {
                "id": "infrequent-access",
                "status": "Enabled",
                "filter": {},
                "transitions": [{"days": args.infrequent_access_days, "storage_class": "STANDARD_IA"}],
            }
        )
    if purpose == "audit":
        rules.append({"id": "archive-audit", "status": "Enabled", "filter": {}, "transitions": [{"days": 90, "storage_class": "GLACIER_IR"}]})
    return rules


def _bucket_policy(bucket_arn: pulumi.Output[str], audit: bool, args: StorageArgs) -> pulumi.Output[str]:
    """Deny any request not over TLS (1.2+); the audit bucket also admits this account's trail."""
    objects = pulumi.Output.concat(bucket_arn, "/*")
    statements = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyOutdatedTLS",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, objects],
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    ]
    if audit:
        trail_arn = pulumi.Output.format("arn:aws:cloudtrail:{0}:{1}:trail/{2}", args.region, args.account_id, args.trail_name)
        statements += [
            allow(
                "CloudTrailAclCheck",
                ["s3:GetBucketAcl"],
                bucket_arn,
                Principal={"Service": "cloudtrail.amazonaws.com"},
                Condition={"StringEquals": {"aws:SourceArn": trail_arn}},
            ),
            allow(
                "CloudTrailWrite",
                ["s3:PutObject"],
                pulumi.Output.format("{0}/cloudtrail/AWSLogs/{1}/*", bucket_arn, args.account_id),
                Principal={"Service": "cloudtrail.amazonaws.com"},
                Condition={"StringEquals": {"aws:SourceArn": trail_arn}},
            ),
        ]
    return document(*statements)
