"""Azure Container Registry: geo-replications only to allowed locations."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, azure_location, fmt_regions, norm_location
from policy_packs.common.values import as_list, as_map

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
REPLICATION = "azure-native:containerregistry:Replication"
CLASSIC = "azure:containerservice/registry:Registry"


def azure_acr_replication_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (REPLICATION, CLASSIC):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    if s.type == REPLICATION:
        targets = [azure_location(s.props, s.provider)[0]]
    else:
        targets = [norm_location(as_map(g).get("location")) for g in as_list(s.props.get("georeplications"))]
    for target in targets:
        if not allowed(target, regions):
            report_violation(
                say(
                    s,
                    f"geo-replicates the registry's images to {target or 'an unknown location'}, outside {fmt_regions(regions)}",
                    "remove the replication or replicate to uaecentral/uaenorth only",
                ),
                None,
            )
