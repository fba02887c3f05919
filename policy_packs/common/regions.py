"""Where a resource lives: effective AWS region, Azure location, regions inside ARNs and ids."""

from __future__ import annotations

import re
from typing import Any

from policy_packs.common.config import stack_value
from policy_packs.common.values import plain

# Azure pairs (UAE.md): GRS-family copies go to the pair. Only uaenorth's pair is used for GRS.
AZURE_PAIRS = {"uaenorth": "uaecentral", "uaecentral": "uaenorth"}
_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:[^:]*:([^:]*):")
# Bedrock cross-region inference profile ids: `us.anthropic...`, `global.amazon...` (UAE.md).
GEO_PROFILE = re.compile(r"(?:^|[/:])(global|us|eu|apac|us-gov|ca|jp|au|ap)\.[a-z0-9-]+\.[A-Za-z0-9.:_-]+")


def provider_props(provider: Any) -> dict[str, Any]:
    return plain(provider.props) if provider is not None and getattr(provider, "props", None) is not None else {}


def aws_region(props: dict[str, Any], provider: Any) -> tuple[str | None, str]:
    """(region, where it came from): the resource's own `region`, else its provider's, else `aws:region`."""
    if props.get("region"):
        return str(props["region"]), "its own `region` input"
    region = provider_props(provider).get("region")
    if region:
        return str(region), f"its provider `{getattr(provider, 'name', '?')}`"
    region = stack_value("aws:region")
    if region:
        return str(region), "the stack config `aws:region`"
    return None, "nowhere (no `region` on the resource, its provider or the stack config)"


def azure_location(props: dict[str, Any], provider: Any) -> tuple[str | None, str]:
    """(normalised location, source): the resource's `location`, else its provider's, else stack config."""
    if props.get("location"):
        return norm_location(props["location"]), "its own `location` input"
    loc = provider_props(provider).get("location")
    if loc:
        return norm_location(loc), f"its provider `{getattr(provider, 'name', '?')}`"
    loc = stack_value("azure-native:location") or stack_value("azure:location")
    if loc:
        return norm_location(loc), "the stack config location"
    return None, "nowhere"


def norm_location(value: Any) -> str:
    """`UAE North` -> `uaenorth` (Azure accepts display names and names)."""
    return re.sub(r"[\s_-]", "", str(value)).lower()


def arn_region(arn: Any) -> str | None:
    """The region field of an ARN ('' for global services such as S3/IAM), None if not an ARN."""
    m = _ARN.match(str(arn or ""))
    return m.group(1) if m else None


def allowed(region: str | None, regions: list[str]) -> bool:
    if not region:
        return False
    allowed_norm = {norm_location(r) for r in regions}
    return norm_location(region) in allowed_norm


def fmt_regions(regions: list[str]) -> str:
    return ", ".join(regions)
