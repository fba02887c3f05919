"""Storage on its own (named for its accounts: tests/workloads/test_azure_storage.py holds the
workloads' storage client). Both accounts: the customer-managed key through the user-assigned
identity with infrastructure encryption, TLS 1.2, HTTPS only, no public blob access, no shared keys,
no cross-tenant replication, the spec's replication, no public network path (data: public access off;
audit: default Deny with only the trusted-services bypass), private endpoints. Data: hierarchical
namespace, one private container per purpose, a lifecycle to Cool. Audit: a time-based immutability
policy for the retention, created Unlocked (Azure creates none Locked) and Locked only when asked on
a later `up`, a versioned immutable container. Geo replication outside uaenorth refused."""

from __future__ import annotations

import pytest

from components.azure.storage import AUDIT_CONTAINER, CONTAINERS, Storage, StorageArgs
from tests.components.component_helpers import LOCATION, Built, build, expect, expect_all, prop, refused

CMK = "/identities/keys-cmk"
ACCOUNT = "azure-native:storage:StorageAccount"


def _args(**over) -> StorageArgs:
    base = dict(
        environment="unit",
        resource_group="sahab-unit-data",
        location=LOCATION,
        replication="GZRS",
        vault_uri="https://sahabunitkv.vault.azure.net/",
        key_name="sahab-storage",
        cmk_identity_id=CMK,
        endpoint_subnet_id="/sn/endpoints",
        blob_zone_id="/zones/blob",
        dfs_zone_id="/zones/dfs",
        audit_retention_days=3650,
        tags={"sahab.ae/env": "unit"},
    )
    return StorageArgs(**{**base, **over})


@pytest.fixture(scope="module")
def storage() -> Built:
    return build(lambda: Storage("st", _args()))


@pytest.mark.parametrize("role", ["data", "audit"])
def test_accounts_use_the_cmk_tls12_and_no_shared_keys(storage: Built, role: str):
    account = storage.child(f"st-{role}", ACCOUNT)
    expect_all(
        account,
        {
            "location": LOCATION,
            "sku.name": "Standard_GZRS",
            "minimumTlsVersion": "TLS1_2",
            "enableHttpsTrafficOnly": True,
            "allowBlobPublicAccess": False,
            "allowSharedKeyAccess": False,
            "allowCrossTenantReplication": False,
            "defaultToOAuthAuthentication": True,
            "encryption.keySource": "Microsoft.Keyvault",
            "encryption.keyVaultProperties": {"keyName": "sahab-storage", "keyVaultUri": "https://sahabunitkv.vault.azure.net/"},
            "encryption.encryptionIdentity.encryptionUserAssignedIdentity": CMK,
            "encryption.requireInfrastructureEncryption": True,
            "identity": {"type": "UserAssigned", "userAssignedIdentities": [CMK]},
            "networkRuleSet.defaultAction": "Deny",
        },
    )
    assert not prop(account, "networkRuleSet.ipRules", None) and not prop(account, "networkRuleSet.virtualNetworkRules", None), (
        f"{account.urn}: networkRuleSet opens IP or VNet rules"
    )
    # The audit account takes diagnostic settings through the trusted-services exception only.
    expected = ("Disabled", "None") if role == "data" else ("Enabled", "AzureServices")
    got = (prop(account, "publicNetworkAccess"), prop(account, "networkRuleSet.bypass"))
    assert got == expected, f"{account.urn}: publicNetworkAccess/networkRuleSet.bypass {got}, expected {expected}"


def test_data_account_holds_one_private_container_per_purpose(storage: Built):
    data = storage.child("st-data", ACCOUNT)
    expect(data, "isHnsEnabled", True)
    for purpose in CONTAINERS:
        container = storage.child(f"st-{purpose}", "azure-native:storage:BlobContainer")
        expect(container, "accountName", data.outputs["name"])
        expect(container, "publicAccess", "None")
    rule = prop(storage.child("st-data-lifecycle", "azure-native:storage:ManagementPolicy"), "policy.rules.0.definition.actions")
    assert rule == {"baseBlob": {"tierToCool": {"daysAfterModificationGreaterThan": 30}}, "version": {"delete": {"daysAfterCreationGreaterThan": 90}}}, (
        f"st-data-lifecycle: policy.rules[0].definition.actions {rule}"
    )


def test_audit_records_are_immutable_for_the_retention_created_unlocked(storage: Built):
    audit = storage.child("st-audit", ACCOUNT)
    expect(audit, "isHnsEnabled", False)
    expect(audit, "immutableStorageWithVersioning.enabled", True)
    # "A policy can only be created in a Disabled or Unlocked state" (pulumi-azure-native 3.29.0,
    # AccountImmutabilityPolicyProperties.state): a Locked one fails the first `pulumi up` (issue 21).
    expect(audit, "immutableStorageWithVersioning.immutabilityPolicy.state", "Unlocked")
    expect(audit, "immutableStorageWithVersioning.immutabilityPolicy.immutabilityPeriodSinceCreationInDays", 3650)
    container = storage.child(f"st-{AUDIT_CONTAINER}", "azure-native:storage:BlobContainer")
    expect(container, "accountName", audit.outputs["name"])
    expect(container, "immutableStorageWithVersioning.enabled", True)
    expect(container, "publicAccess", "None")
    expect(storage.child("st-audit-blob", "azure-native:storage:BlobServiceProperties"), "isVersioningEnabled", True)
    assert prop(storage.child("st-data", ACCOUNT), "immutableStorageWithVersioning", None) is None, (
        "st-data: immutableStorageWithVersioning set on the data account"
    )


def test_every_account_is_reached_through_private_endpoints(storage: Built):
    expected = {
        ("st-data-blob-pe", "data", "blob", "/zones/blob"),
        ("st-data-dfs-pe", "data", "dfs", "/zones/dfs"),
        ("st-audit-blob-pe", "audit", "blob", "/zones/blob"),
    }
    endpoints = storage.of_type("azure-native:network:PrivateEndpoint")
    assert sorted(e.name for e in endpoints) == sorted(e[0] for e in expected), f"{storage.urn}: private endpoints {[e.name for e in endpoints]}"
    for name, role, group, zone in expected:
        endpoint = storage.child(name)
        (connection,) = prop(endpoint, "privateLinkServiceConnections")
        target = storage.id_of(storage.child(f"st-{role}", ACCOUNT))
        assert connection["privateLinkServiceId"] == target and connection["groupIds"] == [group], f"{endpoint.urn}: privateLinkServiceConnections {connection}"
        expect(endpoint, "subnet.id", "/sn/endpoints")
        expect(storage.child(f"{name}-dns"), "privateDnsZoneConfigs", [{"name": group, "privateDnsZoneId": zone}])


def test_geo_replication_outside_uaenorth_is_refused_before_any_account():
    refusal = refused(lambda: Storage("st", _args(location="uaecentral", replication="GZRS")))
    assert refusal.message.startswith("replication:") and "outside the UAE" in refusal.message, f"Storage: message {refusal.message!r}"
    assert not refusal.children, f"Storage registered {[r.urn for r in refusal.children]} before refusing replication"


def test_audit_policy_is_locked_only_when_asked():
    """The explicit, irreversible step: a later `up` with storage.lock_audit_immutability."""
    locked = build(lambda: Storage("lk", _args(lock_audit_immutability=True)))
    audit = locked.child("lk-audit", ACCOUNT)
    expect(audit, "immutableStorageWithVersioning.immutabilityPolicy.state", "Locked")
    expect(audit, "immutableStorageWithVersioning.immutabilityPolicy.immutabilityPeriodSinceCreationInDays", 3650)
