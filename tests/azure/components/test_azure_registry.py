"""AcrRegistry on its own: Premium ACR with the admin user, anonymous pull, exports and ARM-token
auth off, no public network access and no bypass, zone-redundant where asked, images encrypted with
the customer-managed key through the user-assigned identity, a private endpoint in the registry zone,
AcrPull for the kubelet identity only, and no geo-replication. AcrRegistryArgs has no constructor
validation (nothing to refuse)."""

from __future__ import annotations

import pytest

from components.azure._common import ROLES
from components.azure.registry import AcrRegistry, AcrRegistryArgs
from tests.components.component_helpers import LOCATION, Built, build, expect, expect_all, prop

CMK = "/identities/keys-cmk"
KEY = "https://sahabunitkv.vault.azure.net/keys/sahab-registry"


def _args(**over) -> AcrRegistryArgs:
    base = dict(
        environment="unit",
        resource_group="sahab-unit-platform",
        location=LOCATION,
        zone_redundant=True,
        subscription_id="sub",
        key_id=KEY,
        cmk_identity_id=CMK,
        cmk_identity_client_id="cmk-client",
        kubelet_object_id="kubelet-object",
        endpoint_subnet_id="/sn/endpoints",
        dns_zone_id="/zones/acr",
        tags={"sahab.ae/env": "unit"},
    )
    return AcrRegistryArgs(**{**base, **over})


@pytest.fixture(scope="module")
def registry() -> Built:
    return build(lambda: AcrRegistry("reg", _args()))


def test_registry_is_private_and_keyless(registry: Built):
    acr = registry.child("reg-acr", "azure-native:containerregistry:Registry")
    expect_all(
        acr,
        {
            "location": LOCATION,
            "sku.name": "Premium",
            "adminUserEnabled": False,
            "anonymousPullEnabled": False,
            "publicNetworkAccess": "Disabled",
            "networkRuleBypassOptions": "None",
            "zoneRedundancy": "Enabled",
            "policies.exportPolicy.status": "disabled",
            "policies.azureADAuthenticationAsArmPolicy.status": "disabled",
        },
    )


def test_images_are_encrypted_with_the_customer_managed_key(registry: Built):
    acr = registry.child("reg-acr")
    expect(acr, "encryption", {"status": "enabled", "keyVaultProperties": {"keyIdentifier": KEY, "identity": "cmk-client"}})
    expect(acr, "identity", {"type": "UserAssigned", "userAssignedIdentities": {CMK: {}}})


def test_private_endpoint_and_pull_for_the_kubelet_only(registry: Built):
    acr_id = registry.id_of(registry.child("reg-acr"))
    endpoint = registry.child("reg-pe", "azure-native:network:PrivateEndpoint")
    (connection,) = prop(endpoint, "privateLinkServiceConnections")
    assert connection["privateLinkServiceId"] == acr_id and connection["groupIds"] == ["registry"], (
        f"{endpoint.urn}: privateLinkServiceConnections {connection}"
    )
    expect(registry.child("reg-pe-dns"), "privateDnsZoneConfigs", [{"name": "registry", "privateDnsZoneId": "/zones/acr"}])
    (pull,) = registry.of_type("azure-native:authorization:RoleAssignment")
    expect(pull, "roleDefinitionId", f"/subscriptions/sub/providers/Microsoft.Authorization/roleDefinitions/{ROLES['AcrPull']}")
    expect(pull, "principalId", "kubelet-object")
    expect(pull, "scope", acr_id)


def test_no_geo_replication(registry: Built):
    assert "azure-native:containerregistry:Replication" not in registry.types(), f"{registry.urn}: children {registry.types()} replicate images out"
    assert registry.output("login_server").value == registry.child("reg-acr").outputs["loginServer"], f"{registry.urn}: login_server"


def test_without_zones_the_registry_is_not_zone_redundant():
    central = build(lambda: AcrRegistry("reg", _args(location="uaecentral", zone_redundant=False)))
    expect(central.child("reg-acr"), "zoneRedundancy", "Disabled")
