"""ServiceLinkedRoles on its own: the Auto Scaling and EC2 Spot service-linked roles, kept when the
stack is deleted (other users of the account rely on them); unknown services refused."""

from __future__ import annotations

import pytest

from components.aws.service_roles import SERVICE_LINKED_ROLES, ServiceLinkedRoles, ServiceLinkedRolesArgs
from tests.components.component_helpers import ACCOUNT_ID, Built, build, expect, refused


@pytest.fixture(scope="module")
def roles() -> Built:
    return build(lambda: ServiceLinkedRoles("s", ServiceLinkedRolesArgs()))


def test_one_retained_role_per_service(roles: Built):
    found = roles.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert sorted(r.inputs["awsServiceName"] for r in found) == sorted(SERVICE_LINKED_ROLES), f"{roles.urn}: roles for {[r.inputs for r in found]}"
    assert {r.name for r in found} == {"s-autoscaling", "s-spot"}, f"{roles.urn}: role names {[r.name for r in found]}"
    for role in found:
        assert role.options.get("retainOnDelete") is True, f"{role.urn}: options.retainOnDelete must be set (the role outlives the stack)"
        assert not role.options.get("protect"), f"{role.urn}: options.protect would block `pulumi destroy`"
    assert roles.types() == {"aws:iam/serviceLinkedRole:ServiceLinkedRole": 2}, f"{roles.urn}: children {roles.types()}"


def test_role_arns_are_iams_own_names(roles: Built):
    arns = roles.output("role_arns").value
    for service, name in SERVICE_LINKED_ROLES.items():
        assert arns[service] == f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/{service}/{name}", f"{roles.urn}: role_arns[{service}] = {arns[service]}"


def test_a_subset_creates_only_those():
    only = build(lambda: ServiceLinkedRoles("o", ServiceLinkedRolesArgs(services=("spot.amazonaws.com",))))
    found = only.of_type("aws:iam/serviceLinkedRole:ServiceLinkedRole")
    assert len(found) == 1, f"{only.urn}: roles {[r.name for r in found]}"
    expect(found[0], "awsServiceName", "spot.amazonaws.com")


def test_unknown_service_is_refused_before_any_role():
    refusal = refused(lambda: ServiceLinkedRoles("s", ServiceLinkedRolesArgs(services=("autoscaling.amazonaws.com", "elasticache.amazonaws.com"))))
    assert refusal.message.startswith("services:") and "elasticache.amazonaws.com" in refusal.message, f"ServiceLinkedRoles: message {refusal.message!r}"
    assert not refusal.children, f"ServiceLinkedRoles registered {[r.urn for r in refusal.children]} before refusing services"
