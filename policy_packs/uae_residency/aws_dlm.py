"""Data Lifecycle Manager: no cross-region snapshot/AMI copies outside the allowed regions."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, fmt_regions
from policy_packs.common.values import as_list, as_map

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
POLICY = "aws:dlm/lifecyclePolicy:LifecyclePolicy"


def copy_targets(props: dict) -> list[str]:
    details = as_map(props.get("policyDetails"))
    targets = []
    for schedule in as_list(details.get("schedules")):
        for rule in as_list(as_map(schedule).get("crossRegionCopyRules")):
            targets.append(str(as_map(rule).get("target") or as_map(rule).get("targetRegion") or ""))
    for action in as_list(details.get("actions")):
        for copy in as_list(as_map(action).get("crossRegionCopies")):
            targets.append(str(as_map(copy).get("target") or ""))
    return targets


def aws_dlm_copies_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != POLICY:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    for target in copy_targets(s.props):
        if not allowed(target, regions):
            report_violation(
                say(
                    s,
                    f"a cross-region copy rule sends snapshots/AMIs to {target or 'an unspecified region'}, outside {fmt_regions(regions)}",
                    "remove the cross-region copy rule (keep snapshots in-region)",
                ),
                None,
            )
