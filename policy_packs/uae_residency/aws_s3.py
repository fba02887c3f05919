"""S3: replication destinations must be provably in-region; Multi-Region Access Points route
across regions by design."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema, settings
from policy_packs.common.policy import Subject, physical_name_matches, report, say, stack_subjects, subject
from policy_packs.common.regions import allowed, aws_region, fmt_regions
from policy_packs.common.values import as_list, as_map

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_V2 = "aws:s3/bucketV2:BucketV2"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
MRAP = "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint"


def replication_destinations(s: Subject) -> list[tuple[str, str]]:
    """(rule id, destination bucket ARN) of a replication config or a bucket's inline replication."""
    out: list[tuple[str, str]] = []
    if s.type == REPLICATION:
        for i, rule in enumerate(as_list(s.props.get("rules"))):
            dest = as_map(as_map(rule).get("destination")).get("bucket")
            out.append((str(as_map(rule).get("id") or i), str(dest or "")))
    elif s.type in (BUCKET, BUCKET_V2):
        for cfg in as_list(s.props.get("replicationConfiguration")) + as_list(s.props.get("replicationConfigurations")):
            for i, rule in enumerate(as_list(as_map(cfg).get("rules"))):
                for dest in as_list(as_map(rule).get("destinations")) + as_list(as_map(rule).get("destination")):
                    out.append((str(as_map(rule).get("id") or i), str(as_map(dest).get("bucket") or "")))
    return out


def aws_s3_replication_in_region(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Each destination bucket must be a bucket of this stack whose effective region is allowed:
    S3 ARNs carry no region, so a bucket outside the stack cannot be proven in the UAE."""
    config = settings(args, CONFIG)
    regions = config["allowedRegions"]
    buckets = [b for b in stack_subjects(args, (BUCKET, BUCKET_V2))]
    for s in stack_subjects(args, (REPLICATION, BUCKET, BUCKET_V2)):
        for rule, dest in replication_destinations(s):
            target = next((b for b in buckets if physical_name_matches(dest, b, "bucket")), None)
            if target is None:
                report(
                    report_violation,
                    s,
                    f"replication rule `{rule}` copies objects to {dest or 'an unnamed bucket'}, which is not a bucket of this stack, so its region cannot be proven to be in {fmt_regions(regions)}",
                    "replicate only to a bucket declared in this stack with an in-region provider, or remove the rule (in-region durability comes from S3's multi-AZ storage)",
                    config,
                )
                continue
            region, source = aws_region(target.props, target.provider)
            if not allowed(region, regions):
                report(
                    report_violation,
                    s,
                    f"replication rule `{rule}` copies objects to bucket {target.name} in {region} (from {source}), outside {fmt_regions(regions)}: data would leave the UAE",
                    f"point the destination at a bucket in {regions[0]} or remove the rule",
                    config,
                )


def aws_s3_multi_region_access_point_denied(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != MRAP:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    buckets = [as_map(r).get("bucket") for r in as_list(as_map(s.props.get("details")).get("regions"))]
    report_violation(
        say(
            s,
            f"a Multi-Region Access Point routes requests and replicates across regions by design (buckets {buckets}); AWS has one UAE region, so it cannot stay in the UAE",
            "use the bucket's regional endpoint (or an S3 Access Point) in me-central-1 instead",
        ),
        None,
    )
