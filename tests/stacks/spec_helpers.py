"""Reading SpecError problems in tests: the lines of a refused spec, and whether one names a field."""

from __future__ import annotations

import pytest

from stacks.spec import SpecError, load_spec


def problems(raw: dict) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(raw)
    return info.value.problems


def has(found: list[str], path: str, *words: str) -> bool:
    """A problem line for `path` that says every one of `words`."""
    return any(p.startswith(f"{path}:") and all(w in p for w in words) for p in found)
