"""Documented feature combinations (sahab/gate/deployability/combinations.py): private-vault KMS with
API Server VNet Integration and its roles; highly available PostgreSQL with 5432/6432 inside its
subnet and a way to Storage; the cluster identity's access to the disk encryption set."""

from __future__ import annotations

import pytest
from deploy_helpers import cut, messages, one, remove

from sahab.gate.deployability import azure_arm, combinations

CLUSTER = "azure-native:containerservice:ManagedCluster"
SUBNET = "azure-native:network:Subnet"
NSG = "azure-native:network:NetworkSecurityGroup"
DES = "azure-native:compute:DiskEncryptionSet"
RA = "azure-native:authorization:RoleAssignment"
KMS, HA, DISKS = "combinations-private-vault-kms", "combinations-ha-postgres", "combinations-encrypted-disk-class"


def _subnet(ctx, ref):
    return one(ctx, SUBNET, lambda r: azure_arm.arm_id(ctx, r).lower() == str(ref).lower())


def _api_subnet(ctx):
    return _subnet(ctx, one(ctx, CLUSTER).inputs["apiServerAccessProfile"]["subnetId"])


def _data_subnet(ctx):
    return _subnet(ctx, one(ctx, "azure-native:dbforpostgresql:Server").inputs["network"]["delegatedSubnetResourceId"])


def _nsg(ctx, subnet):
    return one(ctx, NSG, lambda r: azure_arm.arm_id(ctx, r).lower() == subnet.inputs["networkSecurityGroup"]["id"].lower())


def _cluster_grant(ctx, role, target):
    cluster = one(ctx, CLUSTER)
    found = azure_arm.grants(ctx, azure_arm.identity_of(ctx, cluster), (role,), target)
    assert found, f"{cluster.name}: the shipped plan grants {role} on {target}"
    return found[0].assignment


@pytest.mark.parametrize("ctx_name", ["uae_ctx", "smb_ctx", "onprem_ctx"])
def test_aws_and_onprem_have_nothing_to_combine(ctx_name, request):
    assert combinations.check(request.getfixturevalue(ctx_name)) == [], f"{ctx_name}: these combinations are Azure's"


def test_shipped_uae_north_passes(north_ctx):
    found = [f.message for f in combinations.check(north_ctx)]
    assert found == [], "uae-north: " + "\n".join(found)


def test_private_vault_kms_without_vnet_integration_fails(north_ctx):
    one(north_ctx, CLUSTER).inputs["apiServerAccessProfile"]["enableVnetIntegration"] = False
    found = messages(combinations.private_vault_kms(north_ctx), KMS)
    assert len(found) == 1 and "without API Server VNet Integration" in found[0] and "Fix: set apiServerAccessProfile.enableVnetIntegration=true" in found[0], (
        found
    )


def test_api_server_subnet_not_delegated_or_too_small_fails(north_ctx):
    api = _api_subnet(north_ctx)
    api.inputs["delegations"] = []
    api.inputs["addressPrefix"] = api.inputs["addressPrefix"].replace("/28", "/29")
    found = messages(combinations.private_vault_kms(north_ctx), KMS)
    assert any("not delegated to Microsoft.ContainerService/managedClusters" in m for m in found), found
    assert any("smaller than the /28 AKS requires" in m for m in found), found


@pytest.mark.parametrize("role", ["Key Vault Contributor", "Network Contributor"])
def test_a_missing_cluster_role_fails(north_ctx, role):
    cluster = one(north_ctx, CLUSTER)
    target = (
        azure_arm.arm_id(north_ctx, _api_subnet(north_ctx))
        if role == "Network Contributor"
        else cluster.inputs["securityProfile"]["azureKeyVaultKms"]["keyVaultResourceId"]
    )
    remove(north_ctx, _cluster_grant(north_ctx, role, target))
    found = messages(combinations.private_vault_kms(north_ctx), KMS)
    assert any(f"has no {role}" in m and cluster.name in m for m in found), found


def test_cluster_created_in_parallel_with_its_subnet_role_fails(north_ctx):
    cluster = one(north_ctx, CLUSTER)
    grant = _cluster_grant(north_ctx, "Network Contributor", azure_arm.arm_id(north_ctx, _api_subnet(north_ctx)))
    cut(north_ctx, cluster, grant)
    found = messages(combinations.private_vault_kms(north_ctx), KMS)
    assert any(grant.name in m and "in parallel" in m and f"Fix: make {cluster.name} depend on {grant.name}" in m for m in found), found


def test_api_server_nsg_denying_the_nodes_fails(north_ctx):
    nsg = _nsg(north_ctx, _api_subnet(north_ctx))
    nsg.inputs["securityRules"].insert(
        0,
        {
            "name": "deny-4443",
            "priority": 90,
            "direction": "Inbound",
            "access": "Deny",
            "protocol": "Tcp",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": "4443",
            "sourcePortRange": "*",
        },
    )
    found = messages(combinations.private_vault_kms(north_ctx), KMS)
    assert any("TCP 4443" in m and "deny-4443" in m and "the nodes cannot reach the API server" in m for m in found), found


def test_ha_postgres_without_5432_inside_its_subnet_fails(north_ctx):
    subnet = _data_subnet(north_ctx)
    rules = _nsg(north_ctx, subnet).inputs["securityRules"]
    rules[:] = [r for r in rules if r.get("sourceAddressPrefix") != subnet.inputs["addressPrefix"]]
    found = messages(combinations.zone_redundant_postgres(north_ctx), HA)
    assert any("TCP 5432" in m and "deny-vnet-inbound" in m and "Fix: allow TCP 5432 and 6432" in m for m in found), found


def test_ha_postgres_without_a_way_to_storage_fails(north_ctx):
    subnet = _data_subnet(north_ctx)
    for way in ("serviceEndpoints", "natGateway", "routeTable"):
        subnet.inputs.pop(way, None)
    subnet.inputs["defaultOutboundAccess"] = False
    found = messages(combinations.zone_redundant_postgres(north_ctx), HA)
    assert len(found) == 1 and "has no way out" in found[0] and "Microsoft.Storage service endpoint" in found[0], found


def test_ha_postgres_with_storage_denied_outbound_fails(north_ctx):
    nsg = _nsg(north_ctx, _data_subnet(north_ctx))
    nsg.inputs["securityRules"].append(
        {
            "name": "deny-storage-out",
            "priority": 90,
            "direction": "Outbound",
            "access": "Deny",
            "protocol": "*",
            "sourceAddressPrefix": "*",
            "destinationAddressPrefix": "Storage",
            "destinationPortRange": "*",
        }
    )
    found = messages(combinations.zone_redundant_postgres(north_ctx), HA)
    assert len(found) == 1 and "to Storage" in found[0] and "deny-storage-out" in found[0], found


def test_storage_class_without_the_clusters_contributor_on_the_set_fails(north_ctx):
    des = one(north_ctx, DES)
    grant = _cluster_grant(north_ctx, "Contributor", azure_arm.arm_id(north_ctx, des))
    grant.inputs["roleDefinitionId"] = grant.inputs["roleDefinitionId"].rsplit("/", 1)[0] + "/" + azure_arm.ROLES["Reader"]
    found = messages(combinations.encrypted_disks(north_ctx), DISKS)
    assert len(found) == 1 and "StorageClass" in found[0] and des.name in found[0] and "has no Contributor" in found[0], found


def test_cluster_without_read_on_its_disk_encryption_set_fails(north_ctx):
    cluster, des = one(north_ctx, CLUSTER), one(north_ctx, DES)
    remove(north_ctx, _cluster_grant(north_ctx, "Contributor", azure_arm.arm_id(north_ctx, des)))
    found = messages(combinations.encrypted_disks(north_ctx), DISKS)
    assert any(cluster.name in m and "has no Reader" in m and des.name in m for m in found), found
    assert any("StorageClass" in m for m in found), found
