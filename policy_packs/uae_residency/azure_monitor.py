"""Log Analytics workspaces, Application Insights and Data Collection Rules: telemetry holds
customer data; their location must be allowed (and known)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, azure_location, fmt_regions

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
# pulumi-azure-native v3 moved DCRs and DCEs to `monitor` (checked against the 3.29.0 SDK); the
# Azure Monitor workspace (managed Prometheus) stores metrics too. v2 tokens stay for older programs.
MONITORING = (
    "azure-native:operationalinsights:Workspace",
    "azure-native:monitor:DataCollectionRule",
    "azure-native:monitor:DataCollectionEndpoint",
    "azure-native:monitor:AzureMonitorWorkspace",
    "azure-native:insights:Component",
    "azure-native:applicationinsights:Component",
    "azure-native:insights:DataCollectionRule",
    "azure-native:insights:DataCollectionEndpoint",
    "azure:operationalinsights/analyticsWorkspace:AnalyticsWorkspace",
    "azure:appinsights/insights:Insights",
    "azure:monitoring/dataCollectionRule:DataCollectionRule",
)


def azure_monitor_location_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in MONITORING:
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    location, source = azure_location(s.props, s.provider)
    if not allowed(location, regions):
        report_violation(
            say(
                s,
                f"telemetry (logs, traces, request data) would be stored in {location or 'an unknown location'} (from {source}), outside {fmt_regions(regions)}",
                "set `location` to uaenorth",
            ),
            None,
        )
