"""CloudTrail: multi-region management events and S3 data events on the platform's buckets,
log-file validation (tamper evidence), KMS, delivered to the Object-Locked audit bucket."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws._policy import allow, document, service_trust


@dataclass(frozen=True)
class AuditTrailArgs:
    trail_name: str
    """Physical trail name (the audit bucket policy admits exactly this trail)."""
    bucket_name: pulumi.Input[str]
    """The Object-Locked audit bucket."""
    key_arn: pulumi.Input[str]
    """KMS key for the log files and the CloudWatch copy."""
    data_bucket_arns: pulumi.Input[list[str]]
    """Buckets whose object-level reads and writes are recorded."""
    log_retention_days: int = 365
    """Retention of the searchable CloudWatch copy (the S3 copy follows Object Lock)."""
    bucket_policy: pulumi.Resource | None = None
    """The audit bucket's policy: CloudTrail checks it on creation, so the trail waits for it."""


class AuditTrail(pulumi.ComponentResource):
    trail_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:aws:AuditTrail", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/sahab/{args.trail_name}/cloudtrail", retention_in_days=args.log_retention_days, kms_key_id=args.key_arn, opts=child
        )
        role = aws.iam.Role(f"{name}-delivery-role", assume_role_policy=service_trust("cloudtrail.amazonaws.com"), opts=child)
        aws.iam.RolePolicy(
            f"{name}-delivery",
            role=role.id,
            policy=document(allow("DeliverToLogGroup", ["logs:CreateLogStream", "logs:PutLogEvents"], pulumi.Output.concat(group.arn, ":*"))),
            opts=child,
        )
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=args.trail_name,
            s3_bucket_name=args.bucket_name,
            s3_key_prefix="cloudtrail",
            kms_key_id=args.key_arn,
            enable_log_file_validation=True,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_logging=True,
            cloud_watch_logs_group_arn=pulumi.Output.concat(group.arn, ":*"),
            cloud_watch_logs_role_arn=role.arn,
            event_selectors=[
                {
                    "read_write_type": "All",
                    "include_management_events": True,
                    "data_resources": [
                        {"type": "AWS::S3::Object", "values": pulumi.Output.from_input(args.data_bucket_arns).apply(lambda arns: [f"{a}/" for a in arns])}
                    ],
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.bucket_policy] if args.bucket_policy else []),
        )
        self.trail_arn = trail.arn
        self.register_outputs({"trail_arn": self.trail_arn})
