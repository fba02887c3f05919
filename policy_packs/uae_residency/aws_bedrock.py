"""Bedrock: no cross-region inference profiles (`global.*`, `us.*`, `eu.*`, `apac.*` model ids)
and no models or profiles in ARNs of other regions."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import GEO_PROFILE, allowed, arn_region, fmt_regions
from policy_packs.common.values import strings

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)


def aws_bedrock_in_region_inference(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.resource_type.startswith(("aws:bedrock/", "aws:bedrockmodel/", "aws:bedrockagent")):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    for path, value in strings(s.props):
        m = GEO_PROFILE.search(value)
        if m:
            report_violation(
                say(
                    s,
                    f"`{path}` = {value} is a {m.group(1)}.* cross-region inference profile: Bedrock may process prompts in other regions",
                    "use the in-region model id (no geography prefix) or an application inference profile that copies from an in-region foundation model",
                ),
                None,
            )
            continue
        region = arn_region(value)
        if region and not allowed(region, regions):
            report_violation(
                say(s, f"`{path}` = {value} names a Bedrock resource in {region}, outside {fmt_regions(regions)}", f"use the model or profile in {regions[0]}"),
                None,
            )
