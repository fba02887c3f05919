"""Front Door and Traffic Manager are global by design: denied unless allow-listed."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import schema
from policy_packs.common.policy import say, subject
from policy_packs.common.values import as_map

CONFIG = schema()
EDGE = {
    "azure-native:network:FrontDoor": "Front Door (classic) terminates and caches traffic at edge sites worldwide",
    "azure-native:frontdoor:FrontDoor": "Front Door (classic) terminates and caches traffic at edge sites worldwide",
    "azure-native:network:Profile": "Traffic Manager routes users through global DNS",
    "azure-native:trafficmanager:Profile": "Traffic Manager routes users through global DNS",
    "azure:frontdoor/frontdoor:Frontdoor": "Front Door (classic) terminates and caches traffic at edge sites worldwide",
    "azure:cdn/frontdoorProfile:FrontdoorProfile": "Front Door terminates and caches traffic at edge sites worldwide",
    "azure:network/trafficManagerProfile:TrafficManagerProfile": "Traffic Manager routes users through global DNS",
}
CDN_PROFILE = "azure-native:cdn:Profile"


def azure_edge_services_denied(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in EDGE and args.resource_type != CDN_PROFILE:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    why = EDGE.get(s.type)
    if s.type == CDN_PROFILE:
        sku = str(as_map(s.props.get("sku")).get("name") or "")
        why = f"CDN/Front Door profile ({sku or 'sku unset'}) caches content at edge sites worldwide"
    report_violation(
        say(
            s,
            f"{why}, so customer data leaves the UAE",
            "serve through an in-region Application Gateway/load balancer in uaenorth, or allow-list it under `exceptions` in policy.yaml with a justification",
        ),
        None,
    )
