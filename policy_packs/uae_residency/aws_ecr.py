"""ECR: registry replication destinations must be allowed regions."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, fmt_regions
from policy_packs.common.values import as_list, as_map

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
REPLICATION = "aws:ecr/replicationConfiguration:ReplicationConfiguration"


def aws_ecr_replication_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != REPLICATION:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    rules = as_list(as_map(s.props.get("replicationConfiguration")).get("rules"))
    for i, rule in enumerate(rules):
        for dest in as_list(as_map(rule).get("destinations")):
            region = as_map(dest).get("region")
            if not allowed(region, regions):
                report_violation(
                    say(
                        s,
                        f"rule {i} replicates every pushed image to {region or 'an unspecified region'} (registry {as_map(dest).get('registryId')}), outside {fmt_regions(regions)}",
                        f"remove the destination or use {regions[0]}",
                    ),
                    None,
                )
