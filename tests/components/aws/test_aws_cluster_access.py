"""ClusterAccess on its own: one STANDARD access entry per IAM role mapping it to its Kubernetes
groups, no access policy associated (RBAC in manifests decides what a group may do), and refusals of
non-role ARNs, empty group lists and groups under prefixes EKS reserves."""

from __future__ import annotations

import pytest

from components.aws.cluster_access import ClusterAccess, ClusterAccessArgs
from tests.components.component_helpers import ACCOUNT_ID, Built, build, expect, refused

ENGINEERS = f"arn:aws:iam::{ACCOUNT_ID}:role/MLEngineers"
AUDITORS = f"arn:aws:iam::{ACCOUNT_ID}:role/path/Auditors"


@pytest.fixture(scope="module")
def access() -> Built:
    groups = {ENGINEERS: ("ml-engineer",), AUDITORS: ("auditor", "viewer")}
    return build(lambda: ClusterAccess("x", ClusterAccessArgs(cluster_name="sahab-eks", role_groups=groups, tags={"sahab.ae/env": "unit"})))


def test_one_entry_per_role_with_its_groups(access: Built):
    entries = access.of_type("aws:eks/accessEntry:AccessEntry")
    by_arn = {e.inputs["principalArn"]: e for e in entries}
    assert sorted(by_arn) == sorted([ENGINEERS, AUDITORS]), f"{access.urn}: access entries for {sorted(by_arn)}"
    for arn, groups in ((ENGINEERS, ["ml-engineer"]), (AUDITORS, ["auditor", "viewer"])):
        entry = by_arn[arn]
        expect(entry, "kubernetesGroups", groups)
        expect(entry, "type", "STANDARD")
        expect(entry, "clusterName", "sahab-eks")
        expect(entry, "tags", {"sahab.ae/env": "unit"})
    assert {e.name for e in entries} == {"x-9012-mlengineers", "x-9012-auditors"}, f"{access.urn}: entry names {[e.name for e in entries]}"


def test_no_access_policy_is_associated(access: Built):
    assert access.types() == {"aws:eks/accessEntry:AccessEntry": 2}, f"{access.urn}: children {access.types()} (RBAC, not access policies, grants rights)"


@pytest.mark.parametrize(
    ("role_groups", "field"),
    [
        ({f"arn:aws:iam::{ACCOUNT_ID}:user/alice": ("ml-engineer",)}, "role_groups"),
        ({ENGINEERS: ()}, f"role_groups[{ENGINEERS}]"),
        ({ENGINEERS: ("system:masters",)}, f"role_groups[{ENGINEERS}]"),
    ],
)
def test_bad_role_groups_are_refused_before_any_entry(role_groups: dict, field: str):
    refusal = refused(lambda: ClusterAccess("x", ClusterAccessArgs(cluster_name="sahab-eks", role_groups=role_groups)))
    assert refusal.message.startswith(f"{field}:"), f"ClusterAccess: message {refusal.message!r} does not name {field}"
    assert not refusal.children, f"ClusterAccess registered {[r.urn for r in refusal.children]} before refusing {field}"
