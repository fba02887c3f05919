"""Cosmos DB: every read/write location of an account is allowed."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, fmt_regions, norm_location
from policy_packs.common.values import as_list, as_map

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
NATIVE = "azure-native:cosmosdb:DatabaseAccount"
CLASSIC = "azure:cosmosdb/account:Account"


def cosmos_locations(type_token: str, props: dict) -> list[str]:
    if type_token == NATIVE:
        return [norm_location(as_map(loc).get("locationName")) for loc in as_list(props.get("locations"))]
    return [norm_location(as_map(loc).get("location")) for loc in as_list(props.get("geoLocations"))]


def azure_cosmosdb_locations_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (NATIVE, CLASSIC):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    for loc in cosmos_locations(s.type, s.props):
        if not allowed(loc, regions):
            report_violation(
                say(s, f"replicates the account to {loc}, outside {fmt_regions(regions)}", "list only uaenorth/uaecentral under `locations`"), None
            )
