"""KeyVault on its own: a premium vault with RBAC authorization, purge protection and soft delete,
public network access off (default Deny) and a private endpoint in the vault zone; one HSM-backed
RSA key per purpose with a rotation policy (rotate after the period, expire at twice it, the cluster
key AKS KMS pins at three times it, notify before expiry); a user-assigned identity and a disk
encryption set (following the latest key version) that each hold only Crypto Service Encryption User
on the vault, and whose outputs (keys, identity, set) reach a consumer only after that grant and a
wait for RBAC to propagate. Rotation outside 90-2560 days refused."""

from __future__ import annotations

import pytest
from pulumi_azure_native import compute, storage

from components.azure._common import ROLES
from components.azure.encryption import PURPOSES, KeyVault, KeyVaultArgs
from tests.components.component_helpers import LOCATION, Built, build, expect, expect_all, prop, refused


def _args(**over) -> KeyVaultArgs:
    base = dict(
        environment="unit",
        resource_group="sahab-unit-data",
        location=LOCATION,
        tenant_id="tenant",
        subscription_id="sub",
        endpoint_subnet_id="/sn/endpoints",
        dns_zone_id="/zones/vault",
        rotation_days=180,
        tags={"sahab.ae/env": "unit"},
    )
    return KeyVaultArgs(**{**base, **over})


@pytest.fixture(scope="module")
def vault() -> Built:
    return build(lambda: KeyVault("keys", _args()))


def test_vault_is_rbac_purge_protected_and_private(vault: Built):
    v = vault.child("keys-vault", "azure-native:keyvault:Vault")
    expect(v, "location", LOCATION)
    expect_all(
        v,
        {
            "properties.enableRbacAuthorization": True,
            "properties.enablePurgeProtection": True,
            "properties.enableSoftDelete": True,
            "properties.softDeleteRetentionInDays": 90,
            "properties.publicNetworkAccess": "Disabled",
            "properties.networkAcls.defaultAction": "Deny",
            "properties.sku": {"family": "A", "name": "premium"},
            "properties.tenantId": "tenant",
        },
    )
    assert not prop(v, "properties.accessPolicies", None), f"{v.urn}: properties.accessPolicies set beside RBAC authorization"


def test_vault_is_reached_through_its_private_endpoint(vault: Built):
    endpoint = vault.child("keys-pe", "azure-native:network:PrivateEndpoint")
    expect(endpoint, "subnet.id", "/sn/endpoints")
    (connection,) = prop(endpoint, "privateLinkServiceConnections")
    target = vault.id_of(vault.child("keys-vault"))
    assert connection["privateLinkServiceId"] == target and connection["groupIds"] == ["vault"], f"{endpoint.urn}: privateLinkServiceConnections {connection}"
    expect(vault.child("keys-pe-dns"), "privateDnsZoneConfigs", [{"name": "vault", "privateDnsZoneId": "/zones/vault"}])


@pytest.mark.parametrize("purpose", PURPOSES)
def test_every_key_is_hsm_backed_and_rotates(vault: Built, purpose: str):
    key = vault.child(f"keys-{purpose}", "azure-native:keyvault:Key")
    expect(key, "keyName", f"sahab-{purpose}")
    expect(key, "vaultName", vault.child("keys-vault").outputs["name"])
    expect(key, "properties.kty", "RSA-HSM")
    expect(key, "properties.keySize", 2048 if purpose == "cluster" else 3072)
    # The cluster and cache keys' versions are pinned (AKS KMS, Azure Managed Redis) until `pulumi up`
    # hands them the next one, and the old version must stay valid until the rotation after
    # (use-kms-etcd-encryption.md): three periods.
    expect(key, "properties.rotationPolicy.attributes.expiryTime", "P540D" if purpose in ("cluster", "cache") else "P360D")
    actions = {a["action"]["type"]: a["trigger"] for a in prop(key, "properties.rotationPolicy.lifetimeActions")}
    assert actions == {"rotate": {"timeAfterCreate": "P180D"}, "notify": {"timeBeforeExpiry": "P30D"}}, (
        f"{key.urn}: properties.rotationPolicy.lifetimeActions {actions}"
    )


def test_disk_encryption_set_follows_the_disks_key(vault: Built):
    des = vault.child("keys-des", "azure-native:compute:DiskEncryptionSet")
    disks = vault.child("keys-disks", "azure-native:keyvault:Key")
    expect(des, "encryptionType", "EncryptionAtRestWithCustomerKey")
    expect(des, "rotationToLatestKeyVersionEnabled", True)
    expect(des, "activeKey.keyUrl", disks.outputs["keyUriWithVersion"])
    expect(des, "activeKey.sourceVault.id", vault.id_of(vault.child("keys-vault")))


def test_unwrapping_identities_hold_only_the_encryption_role_on_the_vault(vault: Built):
    role = f"/subscriptions/sub/providers/Microsoft.Authorization/roleDefinitions/{ROLES['Key Vault Crypto Service Encryption User']}"
    cmk = vault.child("keys-cmk", "azure-native:managedidentity:UserAssignedIdentity")
    des = vault.child("keys-des")
    principals = {"keys-cmk-crypto": cmk.outputs["principalId"], "keys-des-crypto": des.outputs["identity"]["principalId"]}
    assignments = vault.of_type("azure-native:authorization:RoleAssignment")
    assert sorted(a.name for a in assignments) == sorted(principals), f"{vault.urn}: role assignments {[a.name for a in assignments]}"
    for a in assignments:
        expect(a, "roleDefinitionId", role)
        expect(a, "scope", vault.id_of(vault.child("keys-vault")))
        expect(a, "principalId", principals[a.name])
    ids = vault.output("key_ids").value
    assert sorted(ids) == sorted(PURPOSES) and all("/keys/sahab-" in u and u.count("/") == 4 for u in ids.values()), f"{vault.urn}: key_ids {ids} (versionless)"


def test_rotation_below_90_days_is_refused_before_any_resource():
    refusal = refused(lambda: KeyVault("keys", _args(rotation_days=60)))
    assert refusal.message.startswith("rotation_days:"), f"KeyVault: message {refusal.message!r} does not name rotation_days"
    assert not refusal.children, f"KeyVault registered {[r.urn for r in refusal.children]} before refusing rotation_days"


@pytest.mark.parametrize("purpose", ["cluster", "cache"])
def test_pinned_key_versions_outlive_the_next_rotation(vault: Built, purpose: str):
    """AKS KMS and Azure Managed Redis take a versioned key id (they cannot follow rotations by
    themselves): the pinned version must stay valid past the next rotation, or the API server loses
    etcd (issue 21)."""
    key = vault.child(f"keys-{purpose}", "azure-native:keyvault:Key")
    days = int(prop(key, "properties.rotationPolicy.attributes.expiryTime")[1:-1])
    rotate = int(next(a["trigger"]["timeAfterCreate"] for a in prop(key, "properties.rotationPolicy.lifetimeActions") if a["action"]["type"] == "rotate")[1:-1])
    assert days > 2 * rotate, f"{key.urn}: expires after {days} days, not past the second rotation ({2 * rotate} days)"
    versioned = vault.output("versioned_key_ids").value[purpose]
    assert versioned == key.outputs["keyUriWithVersion"], f"{vault.urn}: versioned_key_ids[{purpose}] {versioned}"


@pytest.fixture(scope="module")
def consumers() -> Built:
    """The vault and two consumers built on its outputs, as stacks/azure.py does."""

    def make() -> KeyVault:
        keys = KeyVault("keys", _args(rbac_propagation_seconds=120))
        storage.StorageAccount(
            "consumer-account",
            resource_group_name="rg",
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_ZRS"),
            identity=storage.IdentityArgs(type="UserAssigned", user_assigned_identities=[keys.cmk_identity_id]),
            encryption=storage.EncryptionArgs(
                key_source="Microsoft.Keyvault",
                key_vault_properties=storage.KeyVaultPropertiesArgs(key_name=keys.key_names["storage"], key_vault_uri=keys.vault_uri),
            ),
        )
        compute.Disk(
            "consumer-disk",
            resource_group_name="rg",
            creation_data=compute.CreationDataArgs(create_option="Empty"),
            disk_size_gb=32,
            encryption=compute.EncryptionArgs(disk_encryption_set_id=keys.disk_encryption_set_id),
        )
        return keys

    return build(make)


def _consumer(built: Built, name: str):
    (found,) = [r for r in built.resources if r.name == name]
    return found


@pytest.mark.parametrize(
    ("consumer", "grant", "wait"),
    [("consumer-account", "keys-cmk-crypto", "keys-cmk-propagation"), ("consumer-disk", "keys-des-crypto", "keys-des-propagation")],
)
def test_a_key_consumer_waits_for_its_grant_to_propagate(consumers: Built, consumer: str, grant: str, wait: str):
    """Storage, registry, PostgreSQL and Redis unwrap with the CMK identity, node and data disks with the
    disk encryption set, while they are created: each depends on the grant and the wait (issue 21)."""
    user = _consumer(consumers, consumer)
    grant_r, wait_r = consumers.child(grant), consumers.child(wait, "time:index/sleep:Sleep")
    expect(wait_r, "createDuration", "120s")
    assert grant_r.urn in wait_r.options.get("dependsOn", []), f"{wait_r.urn}: dependsOn lacks {grant_r.urn}"
    assert wait_r.urn in user.options.get("dependsOn", []), f"{user.urn}: dependsOn lacks {wait_r.urn} (it would use the key before the grant propagates)"
