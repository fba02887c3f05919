"""Every regional AWS resource runs in an allowed region: its own `region`, else its provider's,
else the stack's `aws:region` (pulumi-aws v7 is region-aware per resource)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, aws_region, fmt_regions

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
# Control-plane services without a region (IAM is metadata and must be allowed, UAE.md); edge
# services are judged by aws-edge-services-denied instead.
GLOBAL_MODULES = {"iam", "organizations", "route53", "shield", "budgets", "account", "costexplorer", "cloudfront", "globalaccelerator", "waf"}


def _module(type_token: str) -> str:
    return type_token.split(":")[1].split("/")[0] if type_token.count(":") >= 2 else ""


def is_regional(type_token: str) -> bool:
    module = _module(type_token)
    if module == "route53" and "resolver" in type_token.lower():
        return True  # Route 53 Resolver endpoints and rules live in a VPC, in a region
    return module not in GLOBAL_MODULES


def aws_region_allowed(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.resource_type.startswith("aws:") or not is_regional(args.resource_type):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    region, source = aws_region(s.props, s.provider)
    if region is None:
        report_violation(
            say(
                s,
                f"its region cannot be determined ({source}), so it cannot be proven to stay in the UAE",
                f"set `region` on its provider (or `aws:region` in the stack config) to one of {fmt_regions(regions)}",
            ),
            None,
        )
    elif not allowed(region, regions):
        report_violation(
            say(
                s,
                f"it would be created in {region} (from {source}), outside the allowed regions {fmt_regions(regions)}: its data would leave the UAE",
                f"use a provider pinned to {regions[0]} (or drop the resource's own `region` override), or allow-list it in policy.yaml with a justification",
            ),
            None,
        )
