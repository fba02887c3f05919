"""Required tags: every taggable resource carries the platform's tag set (owner, cost centre, data
class), from its own tags or, on AWS, the provider's default tags."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import schema
from policy_packs.common.policy import say, subject
from policy_packs.common.tags import effective_tags

REQUIRED_TAGS = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "default": ["owner", "cost-center", "data-classification"],
    "description": "Tag keys every taggable resource must carry.",
}
CONFIG = schema(requiredTags=REQUIRED_TAGS)
# AWS resource types that take `tags` (what the platform builds, and common data stores).
AWS_TAGGABLE_MODULES = {
    "s3/bucket",
    "s3/bucketV2",
    "kms/key",
    "ec2/vpc",
    "ec2/subnet",
    "ec2/securityGroup",
    "ec2/internetGateway",
    "ec2/natGateway",
    "ec2/eip",
    "ec2/routeTable",
    "ec2/vpcEndpoint",
    "ec2/launchTemplate",
    "ec2/instance",
    "ec2/flowLog",
    "ebs/volume",
    "eks/cluster",
    "eks/nodeGroup",
    "eks/addon",
    "eks/accessEntry",
    "eks/podIdentityAssociation",
    "ecr/repository",
    "rds/instance",
    "rds/cluster",
    "rds/subnetGroup",
    "rds/parameterGroup",
    "elasticache/replicationGroup",
    "elasticache/subnetGroup",
    "secretsmanager/secret",
    "cloudwatch/logGroup",
    "cloudtrail/trail",
    "iam/role",
    "dynamodb/table",
    "lb/loadBalancer",
    "sagemaker/domain",
    "efs/fileSystem",
    "backup/vault",
    "backup/plan",
}


def _taggable(type_token: str, props: dict) -> bool:
    if "tags" in props:
        return True
    if type_token.startswith("aws:"):
        module = type_token.split(":")[1]
        return module in AWS_TAGGABLE_MODULES
    # Azure tracked resources (the ones with a location) take tags.
    return type_token.startswith(("azure-native:", "azure:")) and "location" in props


def aws_required_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.resource_type.startswith("aws:"):
        return
    _check(args, report_violation)


def azure_required_tags(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.resource_type.startswith(("azure-native:", "azure:")):
        return
    _check(args, report_violation)


def _check(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    s = subject(args, CONFIG)
    if s is None or not _taggable(s.type, s.props):
        return
    tags = effective_tags(s.props, s.provider)
    missing = [t for t in s.config["requiredTags"] if not tags.get(t)]
    if missing:
        report_violation(
            say(
                s,
                f"missing required tags {', '.join(missing)} (ownership, cost and data class must be visible on every resource)",
                "set them in the provider's `default_tags` (AWS) or the resource's `tags`",
            ),
            None,
        )
