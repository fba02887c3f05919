"""AWS Backup: copy actions only to vaults in allowed regions (the region is in the vault ARN)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, arn_region, fmt_regions
from policy_packs.common.values import as_list, as_map

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
PLAN = "aws:backup/plan:Plan"


def aws_backup_copies_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != PLAN:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    for rule in as_list(s.props.get("rules")):
        for action in as_list(as_map(rule).get("copyActions")):
            vault = as_map(action).get("destinationVaultArn")
            region = arn_region(vault)
            if not allowed(region, regions):
                report_violation(
                    say(
                        s,
                        f"rule `{as_map(rule).get('ruleName')}` copies recovery points to vault {vault}, in {region or 'a region that cannot be read from the ARN'}, outside {fmt_regions(regions)}",
                        f"copy only to a vault in {regions[0]} (another account's vault there is fine) or drop the copy action",
                    ),
                    None,
                )
