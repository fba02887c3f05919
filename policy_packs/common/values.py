"""Plain Python values from the analyzer's property proxies.

pulumi_policy hands validators read-only `Mapping`/`Sequence` proxies and numbers as floats (the
wire carries doubles). Validators convert what they read once, after their type guard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def plain(value: Any) -> Any:
    """Proxies -> dicts and lists, recursively; floats that are whole numbers -> int."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, Sequence):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def as_map(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def truthy(value: Any) -> bool:
    """Booleans as providers accept them: True, "true" (launch templates take strings)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def number(value: Any, default: float | None = None) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def dig(value: Any, *path: str | int) -> Any:
    """value[p0][p1]... or None when any step is missing."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return None
            value = value[step]
        else:
            if not isinstance(value, dict):
                return None
            value = value.get(step)
    return value


def strings(value: Any, path: str = "") -> list[tuple[str, str]]:
    """Every string leaf with its dotted path (for scanning free-form inputs such as Helm values)."""
    out: list[tuple[str, str]] = []
    if isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            out.extend(strings(v, f"{path}.{k}" if path else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(strings(v, f"{path}[{i}]"))
    return out
