"""Small readers over an Azure plan: resources by type, by URN suffix."""

from __future__ import annotations


def of(plan, type_token: str) -> list:
    found = [r for r in plan.resources if r.type == type_token]
    assert found, f"the plan has no {type_token}"
    return found


def one(plan, type_token: str):
    found = of(plan, type_token)
    assert len(found) == 1, f"expected one {type_token}, got {[r.urn for r in found]}"
    return found[0]
