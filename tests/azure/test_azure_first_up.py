"""Issue 21: what would make the first `pulumi up` of uae-north fail, asserted on the whole plan where
the defect is an ordering between components (a component's own behaviour is asserted in
tests/azure/components/), and the spec fields that drive the fixes.

Each test names the defect it guards against; each fails on the code before the fix (the report of
issue 21 lists the old behaviour per test).
"""

from __future__ import annotations

import copy
import json
import re
from collections import deque

import pytest
from azure_helpers import of, one

from components.azure.network import DENY_INTERNET_PRIORITY, DENY_VNET_PRIORITY
from sahab.engine.offline import SECRET
from stacks.spec import load_spec
from stacks.spec.platform import SpecError

CMK_CONSUMERS = (
    "azure-native:storage:StorageAccount",
    "azure-native:containerregistry:Registry",
    "azure-native:dbforpostgresql:Server",
    "azure-native:redisenterprise:RedisEnterprise",
)
SLEEP = "time:index/sleep:Sleep"
ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def depends_on(plan, start: str, target: str) -> bool:
    """Whether `start` reaches `target` over `dependsOn` edges (what the engine orders creation by)."""
    by_urn = {r.urn: r for r in plan.resources}
    seen, queue = {start}, deque([start])
    while queue:
        urn = queue.popleft()
        for dep in (by_urn[urn].options or {}).get("dependsOn", []) if urn in by_urn else []:
            if dep == target:
                return True
            if dep not in seen:
                seen.add(dep)
                queue.append(dep)
    return False


def named(plan, type_token: str, suffix: str):
    (found,) = [r for r in of(plan, type_token) if r.name.endswith(suffix)]
    return found


@pytest.mark.parametrize("type_token", CMK_CONSUMERS)
def test_every_cmk_consumer_waits_for_its_key_grant(north_plan, type_token: str):
    """Storage, ACR, PostgreSQL and Managed Redis unwrap with the CMK identity while they are created:
    each must wait for that identity's grant and for RBAC to propagate (before: they depended on the
    keys only, and the first `up` failed with the key vault refusing the identity)."""
    grant = named(north_plan, ASSIGNMENT, "-keys-cmk-crypto")
    wait = named(north_plan, SLEEP, "-keys-cmk-propagation")
    assert wait.inputs["createDuration"] == "600s", f"{wait.urn}: createDuration {wait.inputs['createDuration']} (Azure RBAC: up to 10 minutes)"
    assert depends_on(north_plan, wait.urn, grant.urn), f"{wait.urn}: does not wait for {grant.urn}"
    for consumer in of(north_plan, type_token):
        assert depends_on(north_plan, consumer.urn, wait.urn), f"{consumer.urn}: no dependency path to {wait.urn} (it uses the key before the grant)"


def test_cluster_waits_for_the_disk_encryption_set_grant_and_its_own(north_plan):
    """The cluster encrypts node disks with the set (whose identity needs its key grant) and reads the set
    itself (before: neither grant was ordered before the cluster, and the cluster had no right on the set)."""
    cluster = one(north_plan, "azure-native:containerservice:ManagedCluster")
    for grant, wait in (("-keys-des-crypto", "-keys-des-propagation"), ("-cluster-disk-encryption-set", "-cluster-rbac-propagation")):
        g, w = named(north_plan, ASSIGNMENT, grant), named(north_plan, SLEEP, wait)
        assert depends_on(north_plan, w.urn, g.urn), f"{w.urn}: does not wait for {g.urn}"
        assert depends_on(north_plan, cluster.urn, w.urn), f"{cluster.urn}: no dependency path to {w.urn}"
    des = one(north_plan, "azure-native:compute:DiskEncryptionSet")
    reader = named(north_plan, ASSIGNMENT, "-cluster-disk-encryption-set")
    assert reader.inputs["scope"] == des.outputs.get("id") or reader.inputs["scope"].endswith(f"/diskEncryptionSets/{des.inputs['diskEncryptionSetName']}"), (
        f"{reader.urn}: scope {reader.inputs['scope']} is not the disk encryption set"
    )


def test_private_vault_kms_has_vnet_integration_in_the_plan(north_plan):
    cluster = one(north_plan, "azure-native:containerservice:ManagedCluster")
    access = cluster.inputs["apiServerAccessProfile"]
    assert access.get("enableVnetIntegration") is True and access.get("subnetId", "").endswith("/subnets/apiserver"), (
        f"{cluster.urn}: apiServerAccessProfile {access}"
    )
    subnet = named(north_plan, "azure-native:network:Subnet", "-net-apiserver")
    assert subnet.inputs["delegations"] == [{"name": "aks-apiserver", "serviceName": "Microsoft.ContainerService/managedClusters"}], subnet.urn


def test_secret_scoped_roles_come_after_their_secrets(north_plan):
    """A role assignment at a Key Vault secret's scope is an extension of that secret: ARM refuses it
    while the secret does not exist (before: the scope was a string, with no order to the secret)."""
    secrets = {r.inputs["secretName"]: r for r in of(north_plan, "azure-native:keyvault:Secret")}
    scoped = [a for a in of(north_plan, ASSIGNMENT) if "/secrets/" in a.inputs["scope"]]
    assert scoped, "the plan has no secret-scoped role assignment"
    for a in scoped:
        secret = secrets[a.inputs["scope"].rsplit("/secrets/", 1)[1]]
        assert depends_on(north_plan, a.urn, secret.urn), f"{a.urn}: no dependency path to {secret.urn}, whose scope it is"


def test_postgres_password_never_shows_in_the_plan(north_plan):
    """RandomPassword's `result` is secret (additionalSecretOutputs); the offline engine honours it, so
    the server's password and every output derived from it are masked (before: plain text in plan.json)."""
    server = one(north_plan, "azure-native:dbforpostgresql:Server")
    assert server.inputs["administratorLoginPassword"] == SECRET, f"{server.urn}: administratorLoginPassword is not masked"
    password = named(north_plan, "random:index/randomPassword:RandomPassword", "-registry-db-password")
    assert password.outputs["result"] == SECRET, f"{password.urn}: result is not masked"
    # The mock's password is `offline-<32 hex>` (sahab/engine/mocks.py): none may appear anywhere in the plan.
    leaked = [r.urn for r in north_plan.resources if re.search(r"offline-[0-9a-f]{32}", json.dumps(r.inputs))]
    assert not leaked, f"generated secrets in plain text in the inputs of {leaked}"


def test_nsg_priorities_are_unique_per_direction(north_plan):
    for nsg in of(north_plan, "azure-native:network:NetworkSecurityGroup"):
        keys = [(r["direction"], r["priority"]) for r in nsg.inputs["securityRules"]]
        assert len(keys) == len(set(keys)), f"{nsg.urn}: securityRules share a priority and direction {sorted(keys)} (SecurityRuleConflict)"
    assert DENY_VNET_PRIORITY != DENY_INTERNET_PRIORITY


def test_uae_north_deployer_reaches_the_api_server_and_the_registry(north_plan):
    """uae-north names its deployer network: peered, admitted on 443, linked to the registry's zone and the
    API server's (before: nothing let `pulumi up` or an image push reach the private endpoints)."""
    spec = load_spec(_north_config(north_plan))
    deployer = spec.azure.deployer
    assert deployer is not None, "environments/uae-north: azure.deployer is not set"
    peerings = of(north_plan, "azure-native:network:VirtualNetworkPeering")
    assert {p.inputs["remoteVirtualNetwork"]["id"] for p in peerings} >= {deployer.vnet_id}, f"no peering to {deployer.vnet_id}"
    links = [r for r in of(north_plan, "azure-native:privatedns:VirtualNetworkLink") if r.inputs["virtualNetwork"]["id"] == deployer.vnet_id]
    zones = {link.inputs["privateZoneName"] for link in links}
    assert "privatelink.azurecr.io" in zones and any(z.endswith(".privatelink.uaenorth.azmk8s.io") for z in zones), f"deployer VNet linked to {sorted(zones)}"
    for role in ("endpoints", "apiserver"):
        nsg = named(north_plan, "azure-native:network:NetworkSecurityGroup", f"-net-{role}-nsg")
        sources = {r["sourceAddressPrefix"] for r in nsg.inputs["securityRules"] if r["access"] == "Allow" and r.get("destinationPortRange") == "443"}
        assert set(deployer.cidrs) <= sources, f"{nsg.urn}: 443 is not open to the deployer {deployer.cidrs}"


def test_container_insights_is_associated_with_the_cluster(north_plan):
    cluster = one(north_plan, "azure-native:containerservice:ManagedCluster")
    dcr = one(north_plan, "azure-native:monitor:DataCollectionRule")
    association = one(north_plan, "azure-native:monitor:DataCollectionRuleAssociation")
    assert association.inputs["resourceUri"].endswith(f"/managedClusters/{cluster.inputs['resourceName']}"), association.urn
    assert association.inputs["dataCollectionRuleId"].endswith(f"/dataCollectionRules/{dcr.inputs['dataCollectionRuleName']}"), association.urn


def test_managed_redis_takes_a_versioned_key(north_plan):
    """Azure Managed Redis takes a versioned key URL only ("versioned only", pulumi-azure-native 3.29.0):
    a versionless one fails the create (found by the gate's create-time rules)."""
    redis = one(north_plan, "azure-native:redisenterprise:RedisEnterprise")
    key = named(north_plan, "azure-native:keyvault:Key", "-keys-cache")
    url = redis.inputs["encryption"]["customerManagedKeyEncryption"]["keyEncryptionKeyUrl"]
    assert url == key.outputs["keyUriWithVersion"], f"{redis.urn}: keyEncryptionKeyUrl {url} is not the cache key's versioned id"


def test_audit_account_is_created_unlocked_in_uae_north(north_plan):
    audit = named(north_plan, "azure-native:storage:StorageAccount", "-storage-audit")
    state = audit.inputs["immutableStorageWithVersioning"]["immutabilityPolicy"]["state"]
    assert state == "Unlocked", f"{audit.urn}: immutabilityPolicy.state {state} (Azure creates no Locked policy)"


# --- the spec ----------------------------------------------------------------------------------


def _north_config(north_plan) -> dict:
    return copy.deepcopy(north_plan.config["sahab:platform"])


def _with_azure(north_plan, **azure) -> dict:
    doc = _north_config(north_plan)
    doc["azure"] = {**doc["azure"], **azure}
    return doc


def test_spec_defaults_keep_the_first_up_safe(north_plan):
    doc = _north_config(north_plan)
    doc["azure"].pop("kubeconfig_login", None)
    doc["storage"].pop("lock_audit_immutability", None)
    spec = load_spec(doc)
    assert spec.azure.kubeconfig_login == "azurecli", "azure.kubeconfig_login defaults to an interactive login"
    assert spec.storage.lock_audit_immutability is False, "storage.lock_audit_immutability defaults to locking on the first up"
    assert spec.azure.rbac_propagation_seconds == 600, "azure.rbac_propagation_seconds is not Azure's documented 10 minutes"
    description = type(spec.storage).model_fields["lock_audit_immutability"].description or ""
    assert "IRREVERSIBLE" in description, f"storage.lock_audit_immutability: its description does not say locking cannot be undone: {description!r}"


VNET = "/subscriptions/00000000-0000-4000-8000-0000000000aa/resourceGroups/r/providers/Microsoft.Network/virtualNetworks/v"


@pytest.mark.parametrize(
    ("azure", "field", "says"),
    [
        ({"kubeconfig_login": "devicecode"}, "azure.kubeconfig_login", "azurecli"),
        ({"deployer": {"vnet_id": "runners", "cidrs": ["10.60.0.0/24"]}}, "azure.deployer.vnet_id", "ARM id"),
        ({"deployer": {"vnet_id": VNET, "cidrs": ["8.8.8.0/24"]}}, "azure.deployer", "not private"),
        ({"rbac_propagation_seconds": -1}, "azure.rbac_propagation_seconds", "greater than or equal to 0"),
    ],
)
def test_bad_azure_fields_are_refused_naming_the_field(north_plan, azure: dict, field: str, says: str):
    with pytest.raises(SpecError) as info:
        load_spec(_with_azure(north_plan, **azure))
    assert any(p.startswith(field) and says in p for p in info.value.problems), f"{field}: problems {info.value.problems} (expected one saying {says!r})"


def test_deployer_overlapping_the_vnet_is_refused(north_plan):
    with pytest.raises(SpecError) as info:
        load_spec(_with_azure(north_plan, deployer={"vnet_id": VNET, "cidrs": ["10.50.1.0/24"]}))
    assert any(p.startswith("azure.deployer.cidrs:") and "overlaps" in p for p in info.value.problems), f"problems {info.value.problems}"
