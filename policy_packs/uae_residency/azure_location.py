"""Every Azure resource with a location (its own, else its provider's) is in an allowed location.
Types with their own residency policy (monitoring, replications, edge) are judged there."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, azure_location, fmt_regions

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
# `global` is legitimate for metadata-only resources (DNS zones, alert action groups).
# pulumi-azure-native v3 tokens (checked against pulumi-azure-native 3.29.0's SDK): dns:Zone,
# privatedns:PrivateZone/VirtualNetworkLink (DNS records and their VNet links: location `global`).
GLOBAL_METADATA = (
    "azure-native:network:DnsZone",
    "azure-native:dns:Zone",
    "azure-native:network:PrivateZone",
    "azure-native:privatedns:PrivateZone",
    "azure-native:privatedns:VirtualNetworkLink",
    "azure-native:insights:ActionGroup",
    "azure-native:monitor:ActionGroup",
    "azure:dns/zone:Zone",
    "azure:privatedns/zone:Zone",
    "azure:privatedns/zoneVirtualNetworkLink:ZoneVirtualNetworkLink",
    "azure:monitoring/actionGroup:ActionGroup",
)
JUDGED_ELSEWHERE_PREFIXES = (
    "azure-native:operationalinsights:",
    "azure-native:insights:Component",
    "azure-native:insights:DataCollection",
    "azure-native:monitor:DataCollection",
    "azure-native:monitor:AzureMonitorWorkspace",
    "azure-native:applicationinsights:",
    "azure-native:containerregistry:Replication",
    "azure-native:cdn:",
    "azure-native:network:FrontDoor",
    "azure-native:network:Profile",
    "azure-native:frontdoor:",
    "azure-native:trafficmanager:",
    "azure:frontdoor",
    "azure:cdn/frontdoor",
    "azure:network/trafficManager",
    "azure:loganalytics/",
    "azure:appinsights/",
)


def is_azure(type_token: str) -> bool:
    return type_token.startswith(("azure-native:", "azure:")) and not type_token.startswith("azure-native:index:")


def azure_location_allowed(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not is_azure(args.resource_type) or args.resource_type.startswith(JUDGED_ELSEWHERE_PREFIXES):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    location, source = azure_location(s.props, s.provider)
    if location is None:
        return  # child resources (containers, secrets) have no location: their parent is judged
    if location == "global" and s.type in GLOBAL_METADATA:
        return
    if not allowed(location, regions):
        report_violation(
            say(
                s,
                f"location {location} (from {source}) is outside the allowed locations {fmt_regions(regions)}: its data would leave the UAE",
                "set `location` to uaenorth (or uaecentral), or allow-list it in policy.yaml with a justification",
            ),
            None,
        )
