"""AksCluster on its own: a private cluster (private API endpoint, no public FQDN, no run command)
whose API server is projected into its delegated subnet (VNet Integration, which KMS with a private
vault requires), Entra ID with Kubernetes RBAC and local accounts off, workload identity with the
OIDC issuer, etcd secrets encrypted with the Key Vault key over the vault's private network, node disks
with the disk encryption set and encryption at host, Azure CNI overlay with Cilium policy, a system
pool tainted `CriticalAddonsOnly` over the zones, a control-plane identity holding exactly the grants
the docs list (Network Contributor on both subnets, Crypto User and Contributor on the vault,
Contributor on the disk encryption set), assigned and propagated before the cluster, Container
Insights through a data collection rule, the deployer's VNet linked to the API server's private zone,
and a kubeconfig that is a secret logging in through kubelogin without a device code. No admin group,
and an interactive login, are refused."""

from __future__ import annotations

import pytest
import yaml

from components.azure._common import ROLES
from components.azure.cluster import AKS_SERVER_ID, INSIGHTS_STREAMS, SYSTEM_TAINT, AksCluster, AksClusterArgs
from components.azure.network import POD_CIDR, SERVICE_CIDR
from sahab.engine.mocks import SUBSCRIPTION_ID
from tests.components.component_helpers import LOCATION, Built, build, expect, expect_all, prop, refused

RG = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/sahab-unit-platform/providers/"
SUBNET = RG + "Microsoft.Network/virtualNetworks/net-vnet/subnets/nodes"
APISERVER_SUBNET = RG + "Microsoft.Network/virtualNetworks/net-vnet/subnets/apiserver"
DEPLOYER_VNET = "/subscriptions/00000000-0000-4000-8000-0000000000aa/resourceGroups/runners-rg/providers/Microsoft.Network/virtualNetworks/runners"
VAULT = RG + "Microsoft.KeyVault/vaults/sahabunitkv"
DES = RG + "Microsoft.Compute/diskEncryptionSets/keys-des"
WORKSPACE = RG + "Microsoft.OperationalInsights/workspaces/logs-workspace"
KMS_KEY = "https://sahabunitkv.vault.azure.net/keys/sahab-cluster/0123456789abcdef"
MC = "azure-native:containerservice:ManagedCluster"


def _args(**over) -> AksClusterArgs:
    base = dict(
        cluster_name="sahab-unit",
        resource_group="sahab-unit-platform",
        node_resource_group="sahab-unit-nodes",
        location=LOCATION,
        zones=("1", "2", "3"),
        kubernetes_version="1.33",
        tenant_id="tenant",
        subscription_id=SUBSCRIPTION_ID,
        admin_group_object_ids=("admins-group",),
        node_subnet_id=SUBNET,
        apiserver_subnet_id=APISERVER_SUBNET,
        vault_id=VAULT,
        kms_key_id=KMS_KEY,
        disk_encryption_set_id=DES,
        log_analytics_id=WORKSPACE,
        rbac_propagation_seconds=600,
        tags={"sahab.ae/env": "unit"},
    )
    return AksClusterArgs(**{**base, **over})


@pytest.fixture(scope="module")
def aks() -> Built:
    return build(lambda: AksCluster("k", _args()))


def test_api_server_is_private(aks: Built):
    mc = aks.child("k-aks", MC)
    expect(mc, "apiServerAccessProfile.enablePrivateCluster", True)
    expect(mc, "apiServerAccessProfile.enablePrivateClusterPublicFQDN", False)
    expect(mc, "apiServerAccessProfile.disableRunCommand", True)
    expect(mc, "location", LOCATION)


def test_private_vault_kms_runs_through_api_server_vnet_integration(aks: Built):
    """KMS with a private key vault is supported only through API Server VNet Integration (issue 21)."""
    mc = aks.child("k-aks", MC)
    expect(mc, "securityProfile.azureKeyVaultKms.keyVaultNetworkAccess", "Private")
    expect(mc, "apiServerAccessProfile.enableVnetIntegration", True)
    expect(mc, "apiServerAccessProfile.subnetId", APISERVER_SUBNET)


def test_entra_id_with_kubernetes_rbac_and_no_local_accounts(aks: Built):
    mc = aks.child("k-aks", MC)
    expect(mc, "disableLocalAccounts", True)
    expect(mc, "enableRBAC", True)
    expect(mc, "aadProfile", {"managed": True, "enableAzureRBAC": False, "adminGroupObjectIDs": ["admins-group"], "tenantID": "tenant"})
    expect(mc, "oidcIssuerProfile.enabled", True)
    expect(mc, "securityProfile.workloadIdentity.enabled", True)


def test_etcd_secrets_use_the_vault_key_over_the_private_network(aks: Built):
    mc = aks.child("k-aks", MC)
    expect(mc, "securityProfile.azureKeyVaultKms", {"enabled": True, "keyId": KMS_KEY, "keyVaultNetworkAccess": "Private", "keyVaultResourceId": VAULT})


def test_node_disks_are_cmk_encrypted_and_pools_hardened(aks: Built):
    mc = aks.child("k-aks", MC)
    expect(mc, "diskEncryptionSetID", DES)
    (system,) = mc.inputs["agentPoolProfiles"]
    pool = f"{mc.urn} agentPoolProfiles[system]"
    assert system["mode"] == "System" and system["nodeTaints"] == [SYSTEM_TAINT], f"{pool}: mode/nodeTaints {system['mode']} {system['nodeTaints']}"
    assert system["availabilityZones"] == ["1", "2", "3"], f"{pool}: availabilityZones {system['availabilityZones']}"
    assert (system["enableEncryptionAtHost"], system["osDiskType"], system["osType"]) == (True, "Managed", "Linux"), f"{pool}: hardening {system}"
    assert system["vnetSubnetID"] == SUBNET and system["minCount"] >= 3, f"{pool}: vnetSubnetID/minCount {system}"


def test_network_is_overlay_with_cilium_policy(aks: Built):
    mc = aks.child("k-aks", MC)
    expect_all(
        mc,
        {
            "networkProfile.networkPlugin": "azure",
            "networkProfile.networkPluginMode": "overlay",
            "networkProfile.networkPolicy": "cilium",
            "networkProfile.networkDataplane": "cilium",
            "networkProfile.podCidr": POD_CIDR,
            "networkProfile.serviceCidr": SERVICE_CIDR,
        },
    )


# The control plane's grants, as AKS's docs list them (components/azure/cluster.py cites each).
GRANTS = {
    "k-subnet": ("Network Contributor", SUBNET),
    "k-apiserver-subnet": ("Network Contributor", APISERVER_SUBNET),
    "k-kms": ("Key Vault Crypto User", VAULT),
    "k-kms-private-link": ("Key Vault Contributor", VAULT),
    "k-disk-encryption-set": ("Contributor", DES),
}


def test_control_plane_identity_holds_the_documented_grants_propagated_first(aks: Built):
    identity = aks.child("k-identity", "azure-native:managedidentity:UserAssignedIdentity")
    expect(identity, "location", LOCATION)
    mc = aks.child("k-aks", MC)
    expect(mc, "identity", {"type": "UserAssigned", "userAssignedIdentities": [aks.id_of(identity)]})
    assignments = {a.name: a for a in aks.of_type("azure-native:authorization:RoleAssignment")}
    assert sorted(assignments) == sorted(GRANTS), f"{aks.urn}: role assignments {sorted(assignments)}, expected {sorted(GRANTS)}"
    wait = aks.child("k-rbac-propagation", "time:index/sleep:Sleep")
    expect(wait, "createDuration", "600s")
    for name, (role, scope) in GRANTS.items():
        a = assignments[name]
        expect(a, "roleDefinitionId", f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Authorization/roleDefinitions/{ROLES[role]}")
        expect(a, "scope", scope)
        expect(a, "principalId", identity.outputs["principalId"])
        expect(a, "principalType", "ServicePrincipal")
        assert a.urn in wait.options.get("dependsOn", []), f"{wait.urn}: dependsOn lacks {a.urn} (the wait starts after every grant)"
        assert a.urn in mc.options.get("dependsOn", []), f"{mc.urn}: dependsOn lacks {a.urn} (the cluster needs its roles at creation)"
    assert wait.urn in mc.options.get("dependsOn", []), f"{mc.urn}: dependsOn lacks {wait.urn} (the grants must have propagated)"


def test_container_insights_has_a_data_collection_rule_and_association(aks: Built):
    """With the workspace's local auth off, the addon's managed-identity auth sends nothing without a
    data collection rule associated with the cluster (issue 21)."""
    mc = aks.child("k-aks", MC)
    expect(mc, "addonProfiles.omsagent.config.useAADAuth", "true")
    dcr = aks.child("k-insights", "azure-native:monitor:DataCollectionRule")
    expect(dcr, "location", LOCATION)
    expect(dcr, "destinations.logAnalytics", [{"name": "ciworkspace", "workspaceResourceId": WORKSPACE}])
    expect(dcr, "dataSources.extensions.0.extensionName", "ContainerInsights")
    expect(dcr, "dataSources.extensions.0.streams", list(INSIGHTS_STREAMS))
    expect(dcr, "dataFlows", [{"streams": list(INSIGHTS_STREAMS), "destinations": ["ciworkspace"]}])
    association = aks.child("k-insights-association", "azure-native:monitor:DataCollectionRuleAssociation")
    expect(association, "resourceUri", aks.id_of(mc))
    expect(association, "dataCollectionRuleId", aks.id_of(dcr))
    expect(association, "associationName", "ContainerInsightsExtension")


def test_addons_keep_secrets_in_key_vault_and_logs_in_the_workspace(aks: Built):
    mc = aks.child("k-aks", MC)
    expect(mc, "addonProfiles.azureKeyvaultSecretsProvider.enabled", True)
    expect(mc, "addonProfiles.omsagent.config.logAnalyticsWorkspaceResourceID", WORKSPACE)
    expect(mc, "addonProfiles.azurepolicy.enabled", True)


def _exec(kubeconfig: str) -> dict:
    (user,) = yaml.safe_load(kubeconfig)["users"]
    return user["user"]["exec"]


def test_kubeconfig_is_a_secret_that_logs_in_with_kubelogin_without_a_device_code(aks: Built):
    kubeconfig = aks.output("kubeconfig")
    assert kubeconfig.secret, f"{aks.urn}: kubeconfig is not a secret Output"
    exec_ = _exec(kubeconfig.value)
    assert exec_["command"] == "kubelogin" and "token:" not in kubeconfig.value, f"{aks.urn}: kubeconfig does not log in through kubelogin"
    # AKS answers `--login devicecode` (the mock does as AKS does): `pulumi up` would wait for a browser.
    assert exec_["args"] == ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_ID], f"{aks.urn}: kubeconfig exec args {exec_['args']}"
    assert aks.output("oidc_issuer_url").value.startswith(f"https://{LOCATION}.oic.prod-aks.azure.com/"), f"{aks.urn}: oidc_issuer_url"


@pytest.mark.parametrize("login", ["workloadidentity", "msi"])
def test_kubeconfig_takes_the_login_the_spec_names(login: str):
    built = build(lambda: AksCluster("w", _args(kubeconfig_login=login)))
    args = _exec(built.output("kubeconfig").value)["args"]
    assert args == ["get-token", "--login", login, "--server-id", AKS_SERVER_ID], f"{built.urn}: kubeconfig exec args {args}"


def test_interactive_login_is_refused_before_any_resource():
    refusal = refused(lambda: AksCluster("k", _args(kubeconfig_login="devicecode")))
    assert refusal.message.startswith("kubeconfig_login:"), f"AksCluster: message {refusal.message!r} does not name kubeconfig_login"
    assert not refusal.children, f"AksCluster registered {[r.urn for r in refusal.children]} before refusing kubeconfig_login"


def test_deployer_vnet_is_linked_to_the_api_servers_private_zone():
    built = build(lambda: AksCluster("d", _args(deployer_vnet_id=DEPLOYER_VNET)))
    mc = built.child("d-aks", MC)
    link = built.child("d-deployer-dns", "azure-native:privatedns:VirtualNetworkLink")
    fqdn = mc.outputs["privateFQDN"]
    # The zone AKS creates is `<guid>.privatelink.<region>.azmk8s.io`: the private FQDN less its first label.
    assert prop(link, "privateZoneName") == fqdn.split(".", 1)[1] and ".privatelink." in prop(link, "privateZoneName"), f"{link.urn}: zone of {fqdn}"
    expect(link, "resourceGroupName", "sahab-unit-nodes")
    expect(link, "virtualNetwork.id", DEPLOYER_VNET)
    expect(link, "registrationEnabled", False)


def test_without_zones_the_system_pool_sets_none():
    central = build(lambda: AksCluster("c", _args(location="uaecentral", zones=())))
    (system,) = central.child("c-aks", MC).inputs["agentPoolProfiles"]
    assert "availabilityZones" not in system, f"{central.urn}: agentPoolProfiles[system].availabilityZones {system.get('availabilityZones')} in uaecentral"


def test_no_admin_group_is_refused_before_any_resource():
    refusal = refused(lambda: AksCluster("k", _args(admin_group_object_ids=())))
    assert refusal.message.startswith("admin_group_object_ids:"), f"AksCluster: message {refusal.message!r} does not name admin_group_object_ids"
    assert not refusal.children, f"AksCluster registered {[r.urn for r in refusal.children]} before refusing admin_group_object_ids"
