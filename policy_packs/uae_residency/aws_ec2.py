"""EBS snapshot and AMI copies: source and destination both in allowed regions."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, aws_region, fmt_regions

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
COPIES = {"aws:ebs/snapshotCopy:SnapshotCopy": "sourceRegion", "aws:ec2/amiCopy:AmiCopy": "sourceAmiRegion"}


def aws_ec2_copies_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in COPIES:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    source = s.props.get(COPIES[s.type])
    region, where = aws_region(s.props, s.provider)
    if not allowed(source, regions) or not allowed(region, regions):
        report_violation(
            say(
                s,
                f"copies a {'snapshot' if 'snapshot' in s.type else 'machine image'} from {source or 'an unspecified region'} to {region} (from {where}); both ends must be in {fmt_regions(regions)}",
                f"copy only within {regions[0]}",
            ),
            None,
        )
