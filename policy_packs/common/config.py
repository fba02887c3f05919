"""Config schemas shared by the packs, and reading a policy's effective config.

The Pulumi CLI (and `sahab check`, which reconciles config the same way) fills schema defaults
before `Configure`; `settings()` applies them again so a validator called directly (tests,
older CLIs) sees the same values.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
import os
from functools import lru_cache
from typing import Any

from policy_packs.common.values import plain

UAE_REGIONS = ["me-central-1", "uaenorth", "uaecentral"]

ALLOWED_REGIONS: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "minLength": 1},
    "minItems": 1,
    "default": UAE_REGIONS,
    "description": "Regions/locations data may live in (AWS regions and Azure locations).",
}

EXCEPTIONS: dict[str, Any] = {
    "type": "array",
    "default": [],
    "description": "Allow-listed resources: each needs a recorded justification (PDPL Art. 22-23).",
    "items": {
        "type": "object",
        "required": ["resource", "justification"],
        "additionalProperties": False,
        "properties": {
            "resource": {"type": "string", "minLength": 1, "description": "URN, logical name, or a glob over either"},
            "justification": {"type": "string", "minLength": 20, "description": "Why the exception is acceptable (recorded)"},
            "approvedBy": {"type": "string"},
            "expires": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$", "description": "YYYY-MM-DD; the exception lapses after it"},
        },
    },
}

DATA_CLASSIFICATION: dict[str, Any] = {
    "type": "string",
    "enum": ["", "public", "internal", "confidential", "restricted", "health"],
    "default": "",
    "description": "Data class of the stack; empty: read the `data-classification` tag or `sahab:platform`.",
}


def schema(**properties: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Config properties of a policy (every configurable policy also takes `exceptions`)."""
    return {**properties, "exceptions": EXCEPTIONS}


def settings(args: Any, properties: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The policy's config: schema defaults overlaid with what the engine configured."""
    out = {k: v["default"] for k, v in (properties or {}).items() if "default" in v}
    given = args.get_config() if hasattr(args, "get_config") else None
    if given:
        out.update(plain(given))
    return out


def excepted(config: dict[str, Any], urn: str, name: str, today: _dt.date | None = None) -> dict[str, Any] | None:
    """The allow-list entry that covers this resource (URN, name, or a glob over either), if any."""
    today = today or _dt.date.today()
    for entry in config.get("exceptions") or []:
        pattern = str(entry.get("resource", ""))
        if not pattern or len(str(entry.get("justification", "")).strip()) < 20:
            continue  # an exception without a recorded reason is no exception
        expires = entry.get("expires")
        if expires:
            try:
                if _dt.date.fromisoformat(str(expires)) < today:
                    continue
            except ValueError:
                continue
        if pattern in (urn, name) or fnmatch.fnmatchcase(urn, pattern) or fnmatch.fnmatchcase(name, pattern):
            return entry
    return None


@lru_cache(maxsize=8)
def _parse_config(raw: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def stack_config() -> dict[str, Any]:
    """Stack config as the engine hands it to a pack (`PULUMI_CONFIG`: key -> string value)."""
    return _parse_config(os.environ.get("PULUMI_CONFIG", ""))


def stack_value(key: str) -> Any:
    """A stack config value, JSON-decoded when it holds an object (`sahab:platform`)."""
    raw = stack_config().get(key)
    if isinstance(raw, str) and raw[:1] in "{[":
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw
