"""The Azure cloud part of `sahab verify` against a fake Azure Resource Manager (tests/verify/fake_arm.py).

The uae-north plan is served as deployed: every check passes. Then one property is broken at a
time, the way drift happens after a deploy (a portal click, a script), and exactly that check
fails, naming the resource. The client is the real one (azure-mgmt-resource over HTTPS with a
bearer token); only the token is static here (test_verify_azure_cli.py drives DefaultAzureCredential).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fake_arm import FakeArm, serve

from sahab.ops.verify.base import failing
from sahab.ops.verify.cloud_azure import Arm, AzurePromises, azure_cloud_checks, azure_promises

REGION = "uaenorth"


class StaticToken:
    """A bearer token the fake accepts (the credential is not what these cases test)."""

    def get_token(self, *scopes: str, **kwargs: Any):
        from azure.core.credentials import AccessToken

        return AccessToken("fake-arm-token", int(time.time()) + 3600)


@pytest.fixture(scope="module")
def north_plan(repo):
    from sahab.engine.offline import plan_environment

    return plan_environment(repo, "uae-north")


@pytest.fixture(scope="module")
def promises(north_plan) -> AzurePromises:
    return azure_promises(north_plan.to_json())


@pytest.fixture(scope="module")
def served(north_plan, tmp_path_factory):
    with serve(north_plan, tmp_path_factory.mktemp("fake-arm")) as fake:
        yield fake


@pytest.fixture
def arm(served) -> FakeArm:
    served.reset()
    return served


def run(fake: FakeArm, promises: AzurePromises) -> dict[str, list[str]]:
    client = Arm(subscription=fake.subscription, credential=StaticToken(), endpoint=fake.url, client_options={"connection_verify": str(fake.cert)})
    return failing(azure_cloud_checks(promises, client))


def test_every_check_passes_on_the_plan_as_deployed(arm, promises):
    checks = azure_cloud_checks(promises, Arm(subscription=arm.subscription, credential=StaticToken(), endpoint=arm.url))
    ids = {c.id for c in checks}
    assert {
        "cloud-azure-resources-in-region",
        "cloud-azure-tagged-resources-in-region",
        "cloud-azure-storage-cmk",
        "cloud-azure-storage-audit-immutable",
        "cloud-azure-keyvault-purge-protection",
        "cloud-azure-keyvault-key-rotation",
        "cloud-azure-aks-local-accounts-disabled",
        "cloud-azure-acr-replications-in-region",
        "cloud-azure-postgres-private",
        "cloud-azure-redis-tls",
        "cloud-azure-log-analytics-in-region",
        "cloud-azure-diagnostics-to-audit",
    } <= ids
    from components.azure.encryption import PURPOSES

    assert len([c for c in checks if c.id == "cloud-azure-keyvault-key-rotation"]) == len(PURPOSES) == 7, "one rotation check per planned key"
    assert run(arm, promises) == {}, "every Azure check passes on the plan as deployed"
    assert any("/resources?" in r and "$skiptoken" in r for r in arm.requests), "the data group's listing spans pages (nextLink followed)"


def _props(fake: FakeArm, arm_type: str, name: str | None = None) -> dict[str, Any]:
    return fake.find(arm_type, name)["properties"]


STORAGE = "Microsoft.Storage/storageAccounts"


def _data(fake: FakeArm) -> dict[str, Any]:
    return next(d for d in fake.docs.values() if d["type"] == STORAGE and "data" in d["name"])


def _audit(fake: FakeArm) -> dict[str, Any]:
    return next(d for d in fake.docs.values() if d["type"] == STORAGE and "audit" in d["name"])


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for p in parents:
        doc = doc.setdefault(p, {})
    doc[last] = value


def _stray(fake: FakeArm, group: str, location: str, tags: dict[str, str]) -> str:
    rid = f"/subscriptions/{fake.subscription}/resourceGroups/{group}/providers/Microsoft.Storage/storageAccounts/sahabcopyweu"
    fake.put(
        {
            "id": rid,
            "name": "sahabcopyweu",
            "type": STORAGE,
            "location": location,
            "tags": tags,
            "sku": {"name": "Standard_LRS"},
            "kind": "StorageV2",
            "properties": {},
        }
    )
    return rid


def _replica(fake: FakeArm, location: str) -> str:
    registry = fake.find("Microsoft.ContainerRegistry/registries")
    rid = f"{registry['id']}/replications/{location}"
    fake.put(
        {
            "id": rid,
            "name": location,
            "type": "Microsoft.ContainerRegistry/registries/replications",
            "location": location,
            "properties": {"provisioningState": "Succeeded"},
        }
    )
    return rid


# (case, break it, the one failing check, what its message says)
Break = tuple[str, Callable[[FakeArm], Any], str, str]
BREAKS: list[Break] = [
    (
        "public storage account",
        lambda f: (_set(_data(f), "properties.publicNetworkAccess", "Enabled"), _set(_data(f), "properties.networkAcls.defaultAction", "Allow")),
        "cloud-azure-storage-public-access[sahabuaenorthdata7ad72e]",
        "reachable from any network",
    ),
    (
        "anonymous blob access",
        lambda f: _set(_audit(f), "properties.allowBlobPublicAccess", True),
        "cloud-azure-storage-public-access[sahabuaenorthauditdb1d0f]",
        "anonymous blob access",
    ),
    (
        "shared keys on",
        lambda f: _set(_data(f), "properties.allowSharedKeyAccess", True),
        "cloud-azure-storage-shared-key-disabled[sahabuaenorthdata7ad72e]",
        "Shared Key",
    ),
    (
        "microsoft-managed keys",
        lambda f: _set(_data(f), "properties.encryption.keySource", "Microsoft.Storage"),
        "cloud-azure-storage-cmk[sahabuaenorthdata7ad72e]",
        "Microsoft.Storage keys",
    ),
    (
        "another vault's key",
        lambda f: _set(_data(f), "properties.encryption.keyvaultproperties.keyvaulturi", "https://elsewhere.vault.azure.net/"),
        "cloud-azure-storage-cmk[sahabuaenorthdata7ad72e]",
        "elsewhere.vault.azure.net",
    ),
    ("TLS 1.0", lambda f: _set(_data(f), "properties.minimumTlsVersion", "TLS1_0"), "cloud-azure-storage-tls[sahabuaenorthdata7ad72e]", "TLS below 1.2"),
    (
        # uae-north plans the policy Unlocked (Azure creates none Locked): a weaker one fails.
        "disabled audit policy",
        lambda f: _set(_audit(f), "properties.immutableStorageWithVersioning.immutabilityPolicy.state", "Disabled"),
        "cloud-azure-storage-audit-immutable[sahabuaenorthauditdb1d0f]",
        "Disabled state",
    ),
    (
        "shorter audit retention",
        lambda f: _set(_audit(f), "properties.immutableStorageWithVersioning.immutabilityPolicy.immutabilityPeriodSinceCreationInDays", 30),
        "cloud-azure-storage-audit-immutable[sahabuaenorthauditdb1d0f]",
        "30 days",
    ),
    (
        "audit container without WORM",
        lambda f: _set(
            f.find("Microsoft.Storage/storageAccounts/blobServices/containers", "audit"), "properties.immutableStorageWithVersioning.enabled", False
        ),
        "cloud-azure-storage-container-worm[sahabuaenorthauditdb1d0f/audit]",
        "version-level immutability is off",
    ),
    (
        "vault without purge protection",
        lambda f: _set(f.find("Microsoft.KeyVault/vaults"), "properties.enablePurgeProtection", False),
        "cloud-azure-keyvault-purge-protection[sahabuaenorthkve84fcb]",
        "purge protection is off",
    ),
    (
        "vault with access policies",
        lambda f: _set(f.find("Microsoft.KeyVault/vaults"), "properties.enableRbacAuthorization", False),
        "cloud-azure-keyvault-rbac[sahabuaenorthkve84fcb]",
        "access policies",
    ),
    (
        "public vault",
        lambda f: _set(f.find("Microsoft.KeyVault/vaults"), "properties.publicNetworkAccess", "Enabled"),
        "cloud-azure-keyvault-private[sahabuaenorthkve84fcb]",
        "public network access is Enabled",
    ),
    (
        "key without rotation",
        lambda f: f.find("Microsoft.KeyVault/vaults/keys", "sahab-storage")["properties"].pop("rotationPolicy"),
        "cloud-azure-keyvault-key-rotation[sahabuaenorthkve84fcb/sahab-storage]",
        "no rotation policy",
    ),
    (
        "AKS local accounts",
        lambda f: _set(f.find("Microsoft.ContainerService/managedClusters"), "properties.disableLocalAccounts", False),
        "cloud-azure-aks-local-accounts-disabled[sahab-uae-north]",
        "local accounts are enabled",
    ),
    (
        "public AKS API",
        lambda f: _set(f.find("Microsoft.ContainerService/managedClusters"), "properties.apiServerAccessProfile.enablePrivateCluster", False),
        "cloud-azure-aks-private[sahab-uae-north]",
        "API server is public",
    ),
    (
        "AKS without workload identity",
        lambda f: _set(f.find("Microsoft.ContainerService/managedClusters"), "properties.securityProfile.workloadIdentity.enabled", False),
        "cloud-azure-aks-workload-identity[sahab-uae-north]",
        "workload identity is off",
    ),
    (
        "AKS without network policy",
        lambda f: _set(f.find("Microsoft.ContainerService/managedClusters"), "properties.networkProfile.networkPolicy", "none"),
        "cloud-azure-aks-network-policy[sahab-uae-north]",
        "no network policy",
    ),
    (
        "AKS without KMS",
        lambda f: _set(f.find("Microsoft.ContainerService/managedClusters"), "properties.securityProfile.azureKeyVaultKms.enabled", False),
        "cloud-azure-aks-kms[sahab-uae-north]",
        "azureKeyVaultKms off",
    ),
    (
        "AKS without Entra ID",
        lambda f: _set(f.find("Microsoft.ContainerService/managedClusters"), "properties.aadProfile.managed", False),
        "cloud-azure-aks-entra-rbac[sahab-uae-north]",
        "Entra ID",
    ),
    (
        "AKS disks with platform keys",
        lambda f: f.find("Microsoft.ContainerService/managedClusters")["properties"].pop("diskEncryptionSetID"),
        "cloud-azure-aks-disk-encryption-set[sahab-uae-north]",
        "disk encryption set",
    ),
    (
        "a resource in westeurope",
        lambda f: _stray(f, "sahab-uae-north-platform", "westeurope", {}),
        "cloud-azure-resources-in-region[sahab-uae-north-platform]",
        "sahabcopyweu (Microsoft.Storage/storageAccounts): it lives in westeurope",
    ),
    (
        "the stack's tags in another group, in westeurope",
        lambda f: (
            f.put(
                {
                    "id": f"/subscriptions/{f.subscription}/resourceGroups/copies",
                    "name": "copies",
                    "type": "Microsoft.Resources/resourceGroups",
                    "location": "westeurope",
                    "properties": {},
                }
            )
            or _stray(f, "copies", "westeurope", dict(f.find("Microsoft.Resources/resourceGroups", "sahab-uae-north-data")["tags"]))
        ),
        "cloud-azure-tagged-resources-in-region[cost-center=ML-PLATFORM-002,data-classification=confidential,managed-by=sahab,owner=ml-platform@example.ae]",
        "copies/providers/Microsoft.Storage/storageAccounts/sahabcopyweu",
    ),
    (
        "an ACR replica outside the UAE",
        lambda f: _replica(f, "westeurope"),
        "cloud-azure-acr-replications-in-region[sahabuaenorthacr1a3781]",
        "replications/westeurope",
    ),
    (
        "ACR admin user",
        lambda f: _set(f.find("Microsoft.ContainerRegistry/registries"), "properties.adminUserEnabled", True),
        "cloud-azure-acr-admin-disabled[sahabuaenorthacr1a3781]",
        "admin user is enabled",
    ),
    (
        "public ACR",
        lambda f: _set(f.find("Microsoft.ContainerRegistry/registries"), "properties.publicNetworkAccess", "Enabled"),
        "cloud-azure-acr-private[sahabuaenorthacr1a3781]",
        "public network access is Enabled",
    ),
    (
        "public PostgreSQL",
        lambda f: _set(f.find("Microsoft.DBforPostgreSQL/flexibleServers"), "properties.network.publicNetworkAccess", "Enabled"),
        "cloud-azure-postgres-private[sahab-uae-north-mlflow]",
        "public network access is Enabled",
    ),
    (
        "PostgreSQL with service keys",
        lambda f: _set(f.find("Microsoft.DBforPostgreSQL/flexibleServers"), "properties.dataEncryption", {"type": "SystemManaged"}),
        "cloud-azure-postgres-cmk[sahab-uae-north-mlflow]",
        "SystemManaged",
    ),
    (
        "Redis TLS 1.0",
        lambda f: _set(f.find("Microsoft.Cache/redisEnterprise"), "properties.minimumTlsVersion", "1.0"),
        "cloud-azure-redis-tls[sahab-uae-north-features]",
        "TLS below 1.2",
    ),
    (
        "Redis plain text",
        lambda f: _set(f.find("Microsoft.Cache/redisEnterprise/databases"), "properties.clientProtocol", "Plaintext"),
        "cloud-azure-redis-tls[sahab-uae-north-features]",
        "databases/default (managed redis database): clients may connect in plain text",
    ),
    (
        "public Redis",
        lambda f: _set(f.find("Microsoft.Cache/redisEnterprise"), "properties.publicNetworkAccess", "Enabled"),
        "cloud-azure-redis-private[sahab-uae-north-features]",
        "public network access is Enabled",
    ),
    (
        "workspace in westeurope",
        lambda f: _set(f.find("Microsoft.OperationalInsights/workspaces"), "location", "westeurope"),
        "cloud-azure-log-analytics-in-region[uae-north-logs-workspace]",
        "it lives in westeurope",
    ),
    (
        "vault audit logs deleted",
        lambda f: f.docs.pop(next(k for k in f.docs if k.endswith("vaults/sahabuaenorthkve84fcb/providers/microsoft.insights/diagnosticsettings/sahab-audit"))),
        "cloud-azure-diagnostics-to-audit[vaults/sahabuaenorthkve84fcb]",
        "404 ResourceNotFound",
    ),
    (
        "AKS audit logs to another account",
        lambda f: _set(
            next(d for k, d in f.docs.items() if k.endswith("managedclusters/sahab-uae-north/providers/microsoft.insights/diagnosticsettings/sahab-audit")),
            "properties.storageAccountId",
            f"/subscriptions/{f.subscription}/resourceGroups/x/providers/Microsoft.Storage/storageAccounts/elsewhere",
        ),
        "cloud-azure-diagnostics-to-audit[managedClusters/sahab-uae-north]",
        "not the audit account sahabuaenorthauditdb1d0f",
    ),
]


@pytest.mark.parametrize(("case", "breaks", "check", "said"), BREAKS, ids=[b[0] for b in BREAKS])
def test_a_single_break_fails_exactly_its_check(arm, promises, case, breaks, check, said):
    breaks(arm)
    found = run(arm, promises)
    assert list(found) == [check], f"{case}: exactly {check} must fail, got {found}"
    text = "\n".join(found[check])
    assert said in text and "Fix:" in text and "/subscriptions/" in text, f"{case}: the finding names the resource id and the fix: {text}"


def test_geo_replication_is_refused_when_the_pair_is_not_allowed_or_the_data_is_health(arm, promises):
    only_north = run(arm, promises.model_copy(update={"allowed_regions": ("uaenorth",)}))
    assert set(only_north) == {"cloud-azure-storage-replication[sahabuaenorthauditdb1d0f]", "cloud-azure-storage-replication[sahabuaenorthdata7ad72e]"}, (
        only_north
    )
    assert "uaecentral, outside the allowed regions ['uaenorth']" in only_north["cloud-azure-storage-replication[sahabuaenorthdata7ad72e]"][0]
    health = run(arm, promises.model_copy(update={"data_class": "health"}))
    assert set(health) == set(only_north) and "health data may not be replicated" in health["cloud-azure-storage-replication[sahabuaenorthdata7ad72e]"][0], (
        health
    )
    _set(_data(arm), "sku.name", "Standard_ZRS")
    assert "cloud-azure-storage-replication[sahabuaenorthdata7ad72e]" not in run(arm, promises.model_copy(update={"data_class": "health"})), (
        "ZRS stays in the region"
    )


def test_a_deleted_cluster_is_reported_missing_by_each_of_its_checks(arm, promises):
    arm.docs.pop(arm.find("Microsoft.ContainerService/managedClusters")["id"].lower())
    found = run(arm, promises)
    aks = {k for k in found if k.startswith("cloud-azure-aks-")}
    assert len(aks) == 7 and all("cannot be read (404 ResourceNotFound)" in found[k][0] and "managedClusters/sahab-uae-north" in found[k][0] for k in aks), (
        found
    )
    assert all(k.startswith("cloud-azure-aks-") or k.startswith("cloud-azure-diagnostics-to-audit[managedClusters/") for k in found), found


def test_a_verifier_without_reader_on_a_group_is_told_which_resources_it_cannot_read(arm, promises):
    arm.denied.add(f"/subscriptions/{arm.subscription}/resourcegroups/sahab-uae-north-data")
    found = run(arm, promises)
    assert "cloud-azure-resources-in-region[sahab-uae-north-data]" in found and "cloud-azure-keyvault-purge-protection[sahabuaenorthkve84fcb]" in found
    assert not any(k.startswith(("cloud-azure-aks-", "cloud-azure-acr-")) for k in found), "the platform group stays readable"
    text = found["cloud-azure-postgres-private[sahab-uae-north-mlflow]"][0]
    assert "flexibleServers/sahab-uae-north-mlflow (postgresql flexible server): it cannot be read (403 AuthorizationFailed)" in text and "Reader" in text, text
