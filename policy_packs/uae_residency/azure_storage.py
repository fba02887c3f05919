"""Azure Storage: geo-redundant SKUs copy data to the region pair; only uaenorth's pair (uaecentral)
stays in the UAE (UAE.md)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import AZURE_PAIRS, allowed, azure_location, fmt_regions
from policy_packs.common.values import as_map

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
NATIVE = "azure-native:storage:StorageAccount"
CLASSIC = "azure:storage/account:Account"
GEO = ("GRS", "RAGRS", "GZRS", "RAGZRS")


def storage_redundancy(type_token: str, props: dict) -> str:
    """`Standard_RAGRS` -> `RAGRS`; classic accounts carry it in `accountReplicationType`."""
    if type_token == NATIVE:
        return str(as_map(props.get("sku")).get("name") or "").split("_")[-1].upper()
    return str(props.get("accountReplicationType") or "").upper()


def azure_storage_replication_in_region(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (NATIVE, CLASSIC):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    redundancy = storage_redundancy(s.type, s.props)
    if redundancy not in GEO:
        return
    location, _ = azure_location(s.props, s.provider)
    pair = AZURE_PAIRS.get(location or "")
    if location != "uaenorth" or not allowed(pair, regions):
        report_violation(
            say(
                s,
                f"{redundancy} copies every blob to the pair of {location or 'an unknown location'} ({pair or 'outside the UAE'}); only uaenorth -> uaecentral stays in the UAE and both must be in {fmt_regions(regions)}",
                "use LRS or ZRS, or GRS/GZRS only on an account in uaenorth with uaecentral allowed",
            ),
            None,
        )
