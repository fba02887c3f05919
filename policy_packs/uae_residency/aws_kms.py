"""KMS: no multi-region keys (key material can then be replicated anywhere), replica keys only
between allowed regions."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, arn_region, aws_region, fmt_regions
from policy_packs.common.values import truthy

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
KEY = "aws:kms/key:Key"
EXTERNAL_KEY = "aws:kms/externalKey:ExternalKey"
REPLICAS = ("aws:kms/replicaKey:ReplicaKey", "aws:kms/replicaExternalKey:ReplicaExternalKey")


def aws_kms_single_region_keys(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (KEY, EXTERNAL_KEY, *REPLICAS):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    if s.type in (KEY, EXTERNAL_KEY) and truthy(s.props.get("multiRegion")):
        report_violation(
            say(
                s,
                "`multiRegion: true` makes a key whose material anyone with kms:ReplicateKey can copy to any region, outside the UAE",
                "set `multiRegion: false` (the default); in-country resilience on AWS is multi-AZ, which single-region keys already have",
            ),
            None,
        )
    if s.type in REPLICAS:
        region, source = aws_region(s.props, s.provider)
        primary = s.props.get("primaryKeyArn")
        primary_region = arn_region(primary)
        if not allowed(region, regions) or not allowed(primary_region, regions):
            report_violation(
                say(
                    s,
                    f"a replica key copies key material between {primary_region or 'an unknown region'} (primary {primary}) and {region} (from {source}); both must be in {fmt_regions(regions)}",
                    "remove the replica key; AWS has one UAE region, so use single-region keys",
                ),
                None,
            )
