"""Grants before their consumers (sahab/gate/deployability/grants.py): every user of a customer-managed
key, a disk encryption set or a KMS key waits for the grant that lets its identity use the key.
Broken variants of the shipped plans, each named with the consumer, the grant and the fix."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from deploy_helpers import cut, messages, one, remove

from sahab.gate.deployability import azure_arm, grants
from sahab.gate.deployability.plan_graph import PlanGraph
from sahab.gate.model import ADVISORY, MANDATORY

RA = "azure-native:authorization:RoleAssignment"
ACCOUNT = "azure-native:storage:StorageAccount"
CLUSTER = "azure-native:containerservice:ManagedCluster"
DES = "azure-native:compute:DiskEncryptionSet"
SLEEP = "time:index/sleep:Sleep"
POLICY = "grants-before-consumers"


def _data_account(ctx):
    return one(ctx, ACCOUNT, lambda r: "immutableStorageWithVersioning" not in r.inputs)


def _key_grant(ctx, consumer):
    """The role assignment that lets `consumer`'s key identity use its key."""
    use = next(u for u in grants.azure_uses(ctx) if u.consumer is consumer)
    found = azure_arm.grants(ctx, use.identity, azure_arm.KEY_USERS, use.key.key_id)
    assert len(found) == 1, f"{consumer.name}: expected one key grant, found {[g.assignment.name for g in found]}"
    return found[0].assignment


@pytest.mark.parametrize("ctx_name", ["uae_ctx", "smb_ctx", "onprem_ctx", "north_ctx"])
def test_shipped_environments_pass(ctx_name, request):
    ctx = request.getfixturevalue(ctx_name)
    found = [f.message for f in grants.check(ctx) if f.enforcement == MANDATORY]
    assert found == [], f"{ctx_name}: " + "\n".join(found)


def test_every_azure_key_user_is_found(north_ctx):
    kinds = {(u.consumer.type, u.via.type if u.via is not None else None) for u in grants.azure_uses(north_ctx)}
    assert {
        (ACCOUNT, None),
        ("azure-native:containerregistry:Registry", None),
        ("azure-native:dbforpostgresql:Server", None),
        ("azure-native:redisenterprise:RedisEnterprise", None),
        (CLUSTER, None),
        (CLUSTER, DES),
    } <= kinds, kinds


def test_roles_agree_with_the_components():
    """The gate cannot import components/; its role GUIDs are a copy that must agree."""
    source = (Path(__file__).resolve().parents[2] / "components" / "azure" / "_common.py").read_text()
    tree = ast.parse(source)
    roles = next(ast.literal_eval(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "ROLES" for t in n.targets))
    for name, guid in azure_arm.ROLES.items():
        if name in roles:
            assert roles[name] == guid, f"components/azure/_common.py ROLES[{name!r}] is {roles[name]}, the gate's azure_arm.ROLES says {guid}"


def test_storage_account_created_in_parallel_with_its_key_grant_fails(north_ctx):
    account = _data_account(north_ctx)
    grant = _key_grant(north_ctx, account)
    cut(north_ctx, account, grant)
    found = messages(grants.check(north_ctx), POLICY)
    assert len(found) == 1, found
    assert account.name in found[0] and grant.name in found[0] and "in parallel" in found[0] and "Azure refuses the key" in found[0], found[0]
    assert f"Fix: make {account.name} depend on {grant.name}" in found[0], found[0]


def test_a_consumer_without_any_key_grant_fails(north_ctx):
    registry = one(north_ctx, "azure-native:containerregistry:Registry")
    grant = _key_grant(north_ctx, registry)
    remove(north_ctx, grant)
    found = messages(grants.check(north_ctx), POLICY)
    assert any(registry.name in m and "no role assignment lets its identity" in m and "Key Vault Crypto Service Encryption User" in m for m in found), found


def test_a_grant_of_a_role_without_key_data_actions_does_not_count(north_ctx):
    server = one(north_ctx, "azure-native:dbforpostgresql:Server")
    grant = _key_grant(north_ctx, server)
    grant.inputs["roleDefinitionId"] = grant.inputs["roleDefinitionId"].rsplit("/", 1)[0] + "/" + azure_arm.ROLES["Contributor"]
    found = messages(grants.check(north_ctx), POLICY)
    assert any(server.name in m and "wrap/unwrap" in m for m in found), "Contributor carries no Key Vault data action: " + repr(found)


def test_a_grant_on_another_vault_does_not_count(north_ctx):
    redis = one(north_ctx, "azure-native:redisenterprise:RedisEnterprise")
    grant = _key_grant(north_ctx, redis)
    grant.inputs["scope"] = grant.inputs["scope"].rsplit("/", 1)[0] + "/someothervault"
    found = messages(grants.check(north_ctx), POLICY)
    assert any(redis.name in m and "no role assignment" in m for m in found), found


def test_cluster_not_waiting_for_the_disk_encryption_sets_grant_fails(north_ctx):
    cluster = one(north_ctx, CLUSTER)
    des = one(north_ctx, DES)
    use = next(u for u in grants.azure_uses(north_ctx) if u.via is des)
    grant = azure_arm.grants(north_ctx, des, azure_arm.KEY_USERS, use.key.key_id)[0].assignment
    cut(north_ctx, cluster, grant)
    found = messages(grants.check(north_ctx), POLICY)
    assert any(cluster.name in m and f"through {des.name}" in m and grant.name in m for m in found), found


def test_a_system_assigned_key_identity_fails(north_ctx):
    account = _data_account(north_ctx)
    account.inputs["encryption"].pop("encryptionIdentity")
    account.inputs["identity"] = {"type": "SystemAssigned"}
    found = messages(grants.check(north_ctx), POLICY)
    assert any(account.name in m and "system-assigned" in m and "cannot be granted the key before the resource exists" in m for m in found), found


def test_a_consumer_that_skips_the_rbac_wait_is_told(north_ctx):
    account = _data_account(north_ctx)
    grant = _key_grant(north_ctx, account)
    graph = PlanGraph(north_ctx.plan.resources)
    sleeps = graph.between(account.urn, grant.urn, SLEEP)
    assert sleeps, f"{account.name}: the shipped plan waits for RBAC after {grant.name}"
    for s in sleeps:
        cut(north_ctx, account, s)
    account.options["dependsOn"].append(grant.urn)
    found = [f for f in grants.check(north_ctx) if f.policy == "grants-rbac-propagation"]
    assert [f.enforcement for f in found] == [ADVISORY], [f.message for f in found]
    assert account.name in found[0].message and "pulumiverse-time Sleep" in found[0].message, found[0].message


def test_aws_key_written_before_the_role_its_policy_names_fails(uae_ctx):
    key = one(uae_ctx, "aws:kms/key:Key", lambda r: "AWSServiceRoleForAutoScaling" in r.inputs["policy"])
    slr = one(uae_ctx, "aws:iam/serviceLinkedRole:ServiceLinkedRole", lambda r: r.inputs.get("awsServiceName") == "autoscaling.amazonaws.com")
    cut(uae_ctx, key, slr)
    found = messages(grants.check(uae_ctx), "grants-key-policy-principals")
    assert len(found) == 1 and key.name in found[0] and "AWSServiceRoleForAutoScaling" in found[0] and "MalformedPolicyDocumentException" in found[0], found
    assert f"Fix: make {key.name} depend on {slr.name}" in found[0], found[0]


def test_aws_consumer_in_parallel_with_its_roles_key_policy_fails(uae_ctx):
    trail = one(uae_ctx, "aws:cloudtrail/trail:Trail")
    key = one(uae_ctx, "aws:kms/key:Key", lambda r: r.outputs.get("arn") == trail.inputs["kmsKeyId"])
    policy = one(uae_ctx, "aws:iam/rolePolicy:RolePolicy", lambda r: "audit-delivery" in r.name)
    doc = json.loads(policy.inputs["policy"])
    doc["Statement"].append({"Sid": "UseLogsKey", "Effect": "Allow", "Action": ["kms:GenerateDataKey*"], "Resource": key.outputs["arn"]})
    policy.inputs["policy"] = json.dumps(doc)
    cut(uae_ctx, trail, policy)
    found = messages(grants.check(uae_ctx), POLICY)
    assert any(trail.name in m and policy.name in m and key.name in m for m in found), found


def test_aws_consumer_in_parallel_with_a_separate_key_policy_fails(uae_ctx):
    queue = one(uae_ctx, "aws:sqs/queue:Queue")
    key = one(uae_ctx, "aws:kms/key:Key", lambda r: r.outputs.get("arn") == queue.inputs["kmsMasterKeyId"])
    separate = type(key)(
        urn=key.urn.replace("aws:kms/key:Key", "aws:kms/keyPolicy:KeyPolicy") + "-policy",
        type="aws:kms/keyPolicy:KeyPolicy",
        name=key.name + "-policy",
        parent=key.parent,
        provider=key.provider,
        provider_inputs={},
        inputs={"keyId": key.outputs["keyId"], "policy": key.inputs["policy"]},
        options={"dependsOn": [key.urn]},
        custom=True,
    )
    uae_ctx.plan.resources.append(separate)
    found = messages(grants.check(uae_ctx), POLICY)
    assert any(queue.name in m and separate.name in m for m in found), found
