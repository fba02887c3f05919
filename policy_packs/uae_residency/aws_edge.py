"""Global edge services (CloudFront, Global Accelerator) cache or route customer data outside
the UAE: denied unless allow-listed with a justification."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import schema
from policy_packs.common.policy import say, subject

CONFIG = schema()
EDGE = {
    "aws:cloudfront/distribution:Distribution": "CloudFront caches responses at edge locations worldwide",
    "aws:cloudfront/multitenantDistribution:MultitenantDistribution": "CloudFront caches responses at edge locations worldwide",
    "aws:globalaccelerator/accelerator:Accelerator": "Global Accelerator terminates and routes traffic at edge locations worldwide",
    "aws:globalaccelerator/customRoutingAccelerator:CustomRoutingAccelerator": "Global Accelerator terminates and routes traffic at edge locations worldwide",
}


def aws_edge_services_denied(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in EDGE:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    report_violation(
        say(
            s,
            f"{EDGE[s.type]}, so customer data leaves the UAE",
            "serve through an in-region load balancer (ALB/NLB in me-central-1), or allow-list this resource under `exceptions` in policy.yaml with a recorded justification",
        ),
        None,
    )
