"""Create-time constraints (sahab/gate/deployability/create_time.py and its rule table): a catalogue of
broken variants of the shipped plans, each refused with the resource, the rule and the fix."""

from __future__ import annotations

import pytest
from deploy_helpers import cut, named, one

from sahab.gate.deployability import create_time
from sahab.gate.deployability.create_time_rules import RULES
from sahab.gate.model import ADVISORY, MANDATORY

ACCOUNT = "azure-native:storage:StorageAccount"
CLUSTER = "azure-native:containerservice:ManagedCluster"
REDIS = "azure-native:redisenterprise:RedisEnterprise"
SOURCES = ("pulumi-azure-native 3.29.0", "pulumi-aws 7.51.1", "MicrosoftDocs/")


def _rule(findings, rule_id):
    """Messages of the create-time policy that name `rule_id`."""
    return [f.message for f in findings if f.policy == create_time.POLICY and f"(rule {rule_id}:" in f.message]


def _audit(ctx):
    return one(ctx, ACCOUNT, lambda r: "immutableStorageWithVersioning" in r.inputs)


@pytest.mark.parametrize("ctx_name", ["uae_ctx", "smb_ctx", "onprem_ctx", "north_ctx"])
def test_shipped_environments_pass(ctx_name, request):
    ctx = request.getfixturevalue(ctx_name)
    found = [f.message for f in create_time.check(ctx) if f.enforcement == MANDATORY]
    assert found == [], f"{ctx_name}: " + "\n".join(found)


def test_every_rule_quotes_its_source():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids)), f"create_time_rules.RULES: duplicate ids {ids}"
    for r in RULES:
        assert r.says and r.source.startswith(SOURCES), f"create_time_rules.RULES[{r.id}]: quote the provider and name its source"
        assert r.kind in ("refused-at-create", "requires", "must-match", "after", "create-only"), f"create_time_rules.RULES[{r.id}].kind {r.kind!r}"
        assert r.kind == "create-only" or r.fix, f"create_time_rules.RULES[{r.id}]: a finding needs its fix"


def test_audit_account_created_locked_is_refused(north_ctx):
    _audit(north_ctx).inputs["immutableStorageWithVersioning"]["immutabilityPolicy"]["state"] = "Locked"
    found = [f for f in create_time.check(north_ctx) if f.policy == create_time.POLICY and "(rule azure-storage-immutability-created-locked:" in f.message]
    assert len(found) == 1 and found[0].enforcement == MANDATORY, [f.message for f in found]
    message = found[0].message
    assert _audit(north_ctx).name in message and "'Locked' at creation" in message, message
    assert "can only be created in a Disabled or Unlocked state" in message and "AccountImmutabilityPolicyPropertiesArgsDict.state" in message, message
    assert "Fix: create the policy Unlocked" in message and "storage.lock_audit_immutability" in message, message


def test_locked_with_the_later_up_flag_is_advisory(north_ctx):
    _audit(north_ctx).inputs["immutableStorageWithVersioning"]["immutabilityPolicy"]["state"] = "Locked"
    north_ctx.spec.setdefault("storage", {})["lock_audit_immutability"] = True
    found = [f for f in create_time.check(north_ctx) if f.policy == create_time.POLICY and "(rule azure-storage-immutability-created-locked:" in f.message]
    assert [f.enforcement for f in found] == [ADVISORY], [f.message for f in found]
    assert "never on its first `up`" in found[0].message, found[0].message


def test_unlocked_audit_account_passes(north_ctx):
    _audit(north_ctx).inputs["immutableStorageWithVersioning"]["immutabilityPolicy"]["state"] = "Unlocked"
    assert _rule(create_time.check(north_ctx), "azure-storage-immutability-created-locked") == [], "Unlocked is what Azure creates"


def test_managed_redis_key_must_be_versioned(north_ctx):
    cmk = one(north_ctx, REDIS).inputs["encryption"]["customerManagedKeyEncryption"]
    vault = cmk["keyEncryptionKeyUrl"].split("/keys/")[0]
    cmk["keyEncryptionKeyUrl"] = f"{vault}/keys/sahab-cache"
    found = _rule(create_time.check(north_ctx), "azure-redis-enterprise-cmk-key-versioned")
    assert len(found) == 1 and "versioned only" in found[0] and "keyEncryptionKeyUrl" in found[0] and "Fix: pass the key's versioned id" in found[0], found
    cmk["keyEncryptionKeyUrl"] = f"{vault}/keys/sahab-cache/562a4bb76b524a1493a6afe8e536ee78"
    assert _rule(create_time.check(north_ctx), "azure-redis-enterprise-cmk-key-versioned") == [], "a versioned key URL is accepted"


def test_private_vault_kms_without_the_vault_id_is_refused(north_ctx):
    kms = one(north_ctx, CLUSTER).inputs["securityProfile"]["azureKeyVaultKms"]
    assert kms["keyVaultNetworkAccess"] == "Private", "uae-north's KMS vault is private"
    kms.pop("keyVaultResourceId")
    found = _rule(create_time.check(north_ctx), "azure-aks-kms-private-vault-needs-vault-id")
    assert len(found) == 1 and "keyVaultResourceId is missing" in found[0] and "Fix: set azureKeyVaultKms.keyVaultResourceId" in found[0], found


def test_public_vault_kms_with_a_vault_id_is_refused(north_ctx):
    one(north_ctx, CLUSTER).inputs["securityProfile"]["azureKeyVaultKms"]["keyVaultNetworkAccess"] = "Public"
    found = _rule(create_time.check(north_ctx), "azure-aks-kms-public-vault-without-vault-id")
    assert len(found) == 1 and "leave the field empty" in found[0], found


def test_kms_with_a_system_assigned_identity_is_refused(north_ctx):
    one(north_ctx, CLUSTER).inputs["identity"] = {"type": "SystemAssigned"}
    found = _rule(create_time.check(north_ctx), "azure-aks-kms-user-assigned-identity")
    assert (
        len(found) == 1 and "'SystemAssigned'" in found[0] and "use-kms-etcd-encryption.md" in found[0] and "user-assigned control-plane identity" in found[0]
    ), found


def test_elasticache_key_without_at_rest_encryption_is_refused(uae_ctx):
    group = one(uae_ctx, "aws:elasticache/replicationGroup:ReplicationGroup")
    group.inputs["atRestEncryptionEnabled"] = False
    found = _rule(create_time.check(uae_ctx), "aws-elasticache-kms-needs-at-rest-encryption")
    assert len(found) == 1 and group.name in found[0] and "at_rest_encryption_enabled" in found[0], found


def test_object_lock_on_a_bucket_without_it_waits_for_versioning(uae_ctx):
    bucket = one(uae_ctx, "aws:s3/bucket:Bucket", lambda r: r.inputs.get("objectLockEnabled"))
    lock = one(uae_ctx, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    versioning = one(uae_ctx, "aws:s3/bucketVersioning:BucketVersioning", lambda r: r.inputs.get("bucket") == lock.inputs.get("bucket"))
    assert _rule(create_time.check(uae_ctx), "aws-s3-object-lock-after-versioning") == [], "a bucket created with Object Lock needs no order"
    bucket.inputs["objectLockEnabled"] = False
    cut(uae_ctx, lock, versioning)
    found = _rule(create_time.check(uae_ctx), "aws-s3-object-lock-after-versioning")
    assert len(found) == 1 and lock.name in found[0] and versioning.name in found[0] and "in parallel" in found[0], found
    assert "you must first enable versioning" in found[0] and "Fix: create the bucket with object_lock_enabled=True" in found[0], found
    lock.options.setdefault("dependsOn", []).append(versioning.urn)
    uae_ctx.cache.clear()
    assert _rule(create_time.check(uae_ctx), "aws-s3-object-lock-after-versioning") == [], "waiting for versioning is the documented order"


def test_create_only_settings_reach_the_report(north_ctx):
    from sahab.gate.model import GateResult

    create_time.check(north_ctx)
    fixed = north_ctx.extras["create_only"]
    assert any(rule.id == "azure-aks-outbound-type" and value == "loadBalancer" for _, _, _, value, rule in fixed), fixed
    result = GateResult(project="sahab", stack="uae-north", environment="uae-north", extras=north_ctx.extras)
    lines = "\n".join(create_time.create_only_section(result))
    assert "Settings fixed at creation" in lines and "`networkProfile.outboundType`" in lines and "cannot be changed later" in lines, lines
    assert named(north_ctx, CLUSTER, "cluster").name in lines, lines
