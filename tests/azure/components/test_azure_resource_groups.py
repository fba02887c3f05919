"""ResourceGroups on its own: a platform and a data group named `sahab-<env>-<purpose>`, both in the
UAE location with the environment's tags. ResourceGroupsArgs has no constructor validation."""

from __future__ import annotations

import pytest

from components.azure.resource_groups import PURPOSES, ResourceGroups, ResourceGroupsArgs
from tests.components.component_helpers import LOCATION, Built, build, expect

TAGS = {"sahab.ae/env": "unit", "sahab.ae/data-classification": "confidential"}


@pytest.fixture(scope="module")
def groups() -> Built:
    return build(lambda: ResourceGroups("rg", ResourceGroupsArgs(environment="unit", location=LOCATION, tags=TAGS)))


def test_one_group_per_purpose_in_the_uae(groups: Built):
    found = groups.of_type("azure-native:resources:ResourceGroup")
    assert sorted(g.name for g in found) == sorted(f"rg-{p}" for p in PURPOSES), f"{groups.urn}: groups {[g.name for g in found]}"
    for purpose in PURPOSES:
        group = groups.child(f"rg-{purpose}")
        expect(group, "resourceGroupName", f"sahab-unit-{purpose}")
        expect(group, "location", LOCATION)
        expect(group, "tags", TAGS)
    assert groups.output("names").value == {p: f"sahab-unit-{p}" for p in PURPOSES}, f"{groups.urn}: names {groups.output('names').value}"
    assert groups.types() == {"azure-native:resources:ResourceGroup": len(PURPOSES)}, f"{groups.urn}: children {groups.types()}"
