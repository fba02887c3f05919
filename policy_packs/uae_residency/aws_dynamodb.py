"""DynamoDB: global-table replicas only in allowed regions."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, arn_region, aws_region, fmt_regions
from policy_packs.common.values import as_list, as_map

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
TABLE = "aws:dynamodb/table:Table"
TABLE_REPLICA = "aws:dynamodb/tableReplica:TableReplica"
GLOBAL_TABLE = "aws:dynamodb/globalTable:GlobalTable"


def aws_dynamodb_replicas_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (TABLE, TABLE_REPLICA, GLOBAL_TABLE):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    if s.type in (TABLE, GLOBAL_TABLE):
        for replica in as_list(s.props.get("replicas")):
            region = as_map(replica).get("regionName")
            if not allowed(region, regions):
                report_violation(
                    say(
                        s,
                        f"a global-table replica in {region or 'an unspecified region'} copies every item outside {fmt_regions(regions)}",
                        "remove the replica; keep the table single-region (it is already replicated across AZs)",
                    ),
                    None,
                )
    else:
        region, source = aws_region(s.props, s.provider)
        source_region = arn_region(s.props.get("globalTableArn"))
        if not allowed(region, regions) or not allowed(source_region, regions):
            report_violation(
                say(
                    s,
                    f"the replica in {region} (from {source}) of table {s.props.get('globalTableArn')} ({source_region or 'region unknown'}) moves items between regions not both in {fmt_regions(regions)}",
                    "remove the table replica",
                ),
                None,
            )
