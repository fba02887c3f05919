"""Effective tags (resource tags over the provider's default tags) and the stack's data class."""

from __future__ import annotations

import json
from typing import Any

from policy_packs.common.config import stack_value
from policy_packs.common.regions import provider_props


def default_tags(provider: Any) -> dict[str, str]:
    """The AWS provider's `defaultTags.tags`; the engine sends nested provider config JSON-encoded."""
    raw = provider_props(provider).get("defaultTags")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return {}
    tags = raw.get("tags") if isinstance(raw, dict) else None
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


def effective_tags(props: dict[str, Any], provider: Any) -> dict[str, str]:
    own = props.get("tags")
    return {**default_tags(provider), **({str(k): str(v) for k, v in own.items()} if isinstance(own, dict) else {})}


def data_class(config: dict[str, Any], props: dict[str, Any] | None = None, provider: Any = None) -> str:
    """Config `dataClassification`, else the `data-classification` tag, else `sahab:platform` tags."""
    if config.get("dataClassification"):
        return str(config["dataClassification"])
    tag = effective_tags(props or {}, provider).get("data-classification")
    if tag:
        return tag
    platform = stack_value("sahab:platform")
    if isinstance(platform, dict):
        return str((platform.get("tags") or {}).get("data_classification") or "")
    return ""
