"""The Pulumi state backend and secrets provider, when known, are in-region: state describes the
whole platform and holds its (encrypted) secrets."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlparse

from pulumi_policy import ReportViolation, StackValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, settings
from policy_packs.common.regions import allowed, fmt_regions

CONFIG = {
    "allowedRegions": ALLOWED_REGIONS,
    "backendUrl": {"type": "string", "default": "", "description": "State backend URL; empty: $PULUMI_BACKEND_URL."},
    "secretsProvider": {"type": "string", "default": "", "description": "Secrets provider URL of the stack; empty: unknown."},
    "inRegionKeyVaults": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Azure Key Vault names known to be in uaenorth/uaecentral.",
    },
    "inRegionStorageAccounts": {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "description": "Azure storage accounts (azblob backends) known to be in-region.",
    },
}


def backend_problem(url: str, regions: list[str], storage_accounts: list[str]) -> str | None:
    u = urlparse(url)
    if u.scheme in ("", "file"):
        return None  # local state: stays wherever the operator keeps it
    if u.scheme == "s3":
        region = (parse_qs(u.query).get("region") or [""])[0]
        if not allowed(region, regions):
            return f"state backend {url} does not pin `region=` to {fmt_regions(regions)} (found {region or 'none'})"
        return None
    if u.scheme == "azblob":
        account = (parse_qs(u.query).get("storage_account") or [os.environ.get("AZURE_STORAGE_ACCOUNT", "")])[0]
        if account not in storage_accounts:
            return f"state backend {url} uses storage account {account or '(from the environment)'}, not listed in `inRegionStorageAccounts`, so its location cannot be proven"
        return None
    return f"state backend {url} is not an in-region bucket (Pulumi Cloud and other SaaS backends keep state outside the UAE)"


def secrets_problem(url: str, regions: list[str], vaults: list[str]) -> str | None:
    u = urlparse(url)
    if not url or url == "passphrase":
        return None
    if u.scheme == "awskms":
        region = (parse_qs(u.query).get("region") or [""])[0]
        key_region = u.netloc.split(":")[3] if u.netloc.startswith("arn:") and u.netloc.count(":") >= 5 else ""
        if not allowed(region or key_region, regions):
            return f"secrets provider {url} does not pin its KMS key to {fmt_regions(regions)}"
        return None
    if u.scheme == "azurekeyvault":
        vault = u.netloc.split(".")[0]
        return None if vault in vaults else f"secrets provider {url} uses Key Vault {vault}, not listed in `inRegionKeyVaults`"
    return f"secrets provider {url} is not an in-region KMS (the Pulumi Cloud `default` provider and gcpkms keep keys outside the UAE)"


def uae_state_backend_in_region(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = settings(args, CONFIG)
    regions = config["allowedRegions"]
    backend = config["backendUrl"] or os.environ.get("PULUMI_BACKEND_URL", "")
    problems = []
    if backend:
        problems.append(backend_problem(backend, regions, config["inRegionStorageAccounts"]))
    if config["secretsProvider"]:
        problems.append(secrets_problem(config["secretsProvider"], regions, config["inRegionKeyVaults"]))
    for problem in filter(None, problems):
        report_violation(
            f"stack: {problem}. Fix: keep state in an s3:// bucket with `?region=me-central-1` (or azblob in uaenorth) and secrets in awskms://...?region=me-central-1 (`sahab bootstrap` creates both).",
            None,
        )
