"""The Azure cloud layer, asserted on the uae-north plan: each property of issue 12, on every
resource it applies to, failures naming the URN."""

from __future__ import annotations

import pytest
from azure_helpers import of, one

from components.azure._common import ROLES
from components.constants import GPU_TAINT
from components.workloads import platform_workloads

# environments/uae-north kubernetes.projects, with their teams (each project's pipeline and each team's notebooks)
TABLE = platform_workloads((("transaction-risk", "risk"), ("delivery-time", "logistics")))

LOCATIONS = {"uaenorth", "uaecentral"}
GLOBAL = {"azure-native:privatedns:PrivateZone", "azure-native:privatedns:VirtualNetworkLink"}
SUB = "/subscriptions/"


def test_every_concern_is_planned(north_plan):
    expected = {
        "sahab:azure:ResourceGroups",
        "sahab:azure:Network",
        "sahab:azure:KeyVault",
        "sahab:azure:Storage",
        "sahab:azure:LogAnalytics",
        "sahab:azure:AksCluster",
        "sahab:azure:AksGpuNodePool",
        "sahab:azure:AksCpuNodePool",
        "sahab:azure:AcrRegistry",
        "sahab:azure:PostgresServer",
        "sahab:azure:ManagedRedis",
        "sahab:azure:WorkloadIdentity",
        "sahab:azure:AuditDiagnostics",
    }
    missing = expected - {r.type for r in north_plan.resources}
    assert not missing, f"components not planned: {sorted(missing)}"
    assert not [r.urn for r in north_plan.resources if r.type.startswith("aws:")], "an Azure environment registers no AWS resource"


def test_every_resource_is_in_the_uae(north_plan):
    provider = one(north_plan, "pulumi:providers:azure-native")
    assert provider.inputs.get("location") == "uaenorth", f"{provider.urn}: provider location {provider.inputs.get('location')}"
    for r in north_plan.resources:
        if not r.type.startswith("azure-native:") or "location" not in r.inputs:
            continue
        where = r.inputs["location"]
        assert where in LOCATIONS or (where == "global" and r.type in GLOBAL), f"{r.urn}: location {where}"


def test_ids_are_arm_ids_in_the_subscription(north_plan):
    """The mocks answer as azure-native does: ids are ARM resource ids in one subscription."""
    cluster = one(north_plan, "azure-native:containerservice:ManagedCluster")
    subnet = cluster.inputs["agentPoolProfiles"][0]["vnetSubnetID"]
    assert subnet.startswith(SUB) and "/providers/Microsoft.Network/virtualNetworks/" in subnet and subnet.endswith("/subnets/nodes"), subnet
    for ra in of(north_plan, "azure-native:authorization:RoleAssignment"):
        assert ra.inputs["scope"].startswith(SUB), f"{ra.urn}: scope {ra.inputs['scope']}"
        assert ra.inputs["roleDefinitionId"].rsplit("/", 1)[-1] in ROLES.values(), f"{ra.urn}: unknown role {ra.inputs['roleDefinitionId']}"


def test_key_vault_is_private_rbac_purge_protected(north_plan):
    vault = one(north_plan, "azure-native:keyvault:Vault")
    p = vault.inputs["properties"]
    assert p["enableRbacAuthorization"] and p["enablePurgeProtection"] and p["enableSoftDelete"], f"{vault.urn}: {p}"
    assert p["softDeleteRetentionInDays"] == 90, vault.urn
    assert p["publicNetworkAccess"] == "Disabled" and p["networkAcls"]["defaultAction"] == "Deny", f"{vault.urn}: network {p.get('networkAcls')}"
    endpoints = [e for e in of(north_plan, "azure-native:network:PrivateEndpoint") if e.inputs["privateLinkServiceConnections"][0]["groupIds"] == ["vault"]]
    assert endpoints, "the vault has no private endpoint"


def test_keys_per_purpose_rotate(north_plan):
    keys = {k.inputs["keyName"]: k for k in of(north_plan, "azure-native:keyvault:Key")}
    assert {"sahab-storage", "sahab-disks", "sahab-cluster", "sahab-database", "sahab-cache", "sahab-registry"} <= set(keys), sorted(keys)
    for k in keys.values():
        actions = k.inputs["properties"]["rotationPolicy"]["lifetimeActions"]
        rotate = [a for a in actions if a["action"]["type"] == "rotate"]
        assert rotate and rotate[0]["trigger"]["timeAfterCreate"] == "P365D", f"{k.urn}: rotation {actions}"
        assert k.inputs["properties"]["kty"] == "RSA-HSM", k.urn


def test_storage_accounts_cmk_private_tls_no_shared_keys(north_plan):
    for acct in of(north_plan, "azure-native:storage:StorageAccount"):
        i = acct.inputs
        assert i["encryption"]["keySource"] == "Microsoft.Keyvault" and i["encryption"]["keyVaultProperties"]["keyName"] == "sahab-storage", (
            f"{acct.urn}: {i['encryption']}"
        )
        assert i["encryption"]["requireInfrastructureEncryption"], acct.urn
        assert i["encryption"]["encryptionIdentity"]["encryptionUserAssignedIdentity"].startswith(SUB), acct.urn
        assert i["minimumTlsVersion"] == "TLS1_2" and i["enableHttpsTrafficOnly"], acct.urn
        assert i["allowBlobPublicAccess"] is False and i["allowSharedKeyAccess"] is False, f"{acct.urn}: public blobs or shared keys allowed"
        assert i["networkRuleSet"]["defaultAction"] == "Deny", acct.urn
        assert i["sku"]["name"] == "Standard_GRS", f"{acct.urn}: uae-north asks for GRS (uaenorth -> uaecentral)"
    groups = sorted(e.inputs["privateLinkServiceConnections"][0]["groupIds"][0] for e in of(north_plan, "azure-native:network:PrivateEndpoint"))
    assert groups.count("blob") == 2 and groups.count("dfs") == 1, groups


def test_audit_account_is_immutable_created_unlocked(north_plan):
    # Azure creates an account immutability policy only Disabled or Unlocked; it is locked by a later
    # `up` with storage.lock_audit_immutability (issue 21; tests/azure/test_azure_first_up.py).
    audit = next(a for a in of(north_plan, "azure-native:storage:StorageAccount") if a.name.endswith("-audit"))
    policy = audit.inputs["immutableStorageWithVersioning"]
    assert policy["enabled"] and policy["immutabilityPolicy"]["state"] == "Unlocked", f"{audit.urn}: {policy}"
    assert policy["immutabilityPolicy"]["immutabilityPeriodSinceCreationInDays"] == 2555, audit.urn
    container = next(c for c in of(north_plan, "azure-native:storage:BlobContainer") if c.inputs["containerName"] == "audit")
    assert container.inputs["immutableStorageWithVersioning"]["enabled"], container.urn
    for c in of(north_plan, "azure-native:storage:BlobContainer"):
        assert c.inputs["publicAccess"] == "None", c.urn


def test_aks_private_entra_workload_identity_kms_cilium(north_plan):
    aks = one(north_plan, "azure-native:containerservice:ManagedCluster")
    i = aks.inputs
    assert i["apiServerAccessProfile"]["enablePrivateCluster"] and not i["apiServerAccessProfile"]["enablePrivateClusterPublicFQDN"], aks.urn
    assert i["disableLocalAccounts"] is True and i["aadProfile"]["managed"] and i["aadProfile"]["adminGroupObjectIDs"], f"{aks.urn}: {i['aadProfile']}"
    assert i["oidcIssuerProfile"]["enabled"] and i["securityProfile"]["workloadIdentity"]["enabled"], aks.urn
    kms = i["securityProfile"]["azureKeyVaultKms"]
    assert kms["enabled"] and kms["keyVaultNetworkAccess"] == "Private" and "/keys/sahab-cluster/" in kms["keyId"], f"{aks.urn}: KMS {kms}"
    net = i["networkProfile"]
    assert net["networkPlugin"] == "azure" and net["networkPolicy"] == "cilium", f"{aks.urn}: network {net}"
    assert "/diskEncryptionSets/" in i["diskEncryptionSetID"], aks.urn
    system = i["agentPoolProfiles"][0]
    assert system["mode"] == "System" and system["nodeTaints"] == ["CriticalAddonsOnly=true:NoSchedule"], f"{aks.urn}: system pool {system}"
    assert system["availabilityZones"] == ["1", "2", "3"] and system["enableEncryptionAtHost"], aks.urn


def test_gpu_pools_from_zero_tainted_labelled_spot(north_plan):
    gpu = [p for p in of(north_plan, "azure-native:containerservice:AgentPool") if p.inputs.get("gpuProfile")]
    assert len(gpu) == 2, [p.urn for p in gpu]
    taint = f"{GPU_TAINT['key']}={GPU_TAINT['value']}:{GPU_TAINT['effect']}"
    for p in gpu:
        i = p.inputs
        assert i["minCount"] == 0 and i["count"] == 0 and i["enableAutoScaling"], f"{p.urn}: scales {i['minCount']}..{i['maxCount']}"
        assert taint in i["nodeTaints"], f"{p.urn}: taints {i['nodeTaints']}"
        assert i["nodeLabels"]["sahab.ae/accelerator"] == "nvidia" and i["nodeLabels"]["sahab.ae/pool"].startswith("uae-north-"), p.urn
        assert i["vmSize"].startswith("Standard_N"), p.urn
        assert i["gpuProfile"]["driver"] == "Install", f"{p.urn}: AKS installs the NVIDIA driver; the device plugin is the platform layer's"
        assert i["scaleSetPriority"] == "Spot" and "kubernetes.azure.com/scalesetpriority=spot:NoSchedule" in i["nodeTaints"], p.urn


def test_cpu_pools_on_demand_over_zones(north_plan):
    cpu = [p for p in of(north_plan, "azure-native:containerservice:AgentPool") if not p.inputs.get("gpuProfile")]
    for p in cpu:
        assert p.inputs["scaleSetPriority"] == "Regular" and p.inputs["minCount"] >= 2, p.urn
        assert p.inputs["availabilityZones"] == ["1", "2", "3"], p.urn


def test_acr_premium_private_no_admin_no_geo_replication(north_plan):
    acr = one(north_plan, "azure-native:containerregistry:Registry")
    i = acr.inputs
    assert i["sku"]["name"] == "Premium" and i["adminUserEnabled"] is False and i["publicNetworkAccess"] == "Disabled", f"{acr.urn}: {i}"
    assert i["encryption"]["status"] == "enabled" and "/keys/sahab-registry" in i["encryption"]["keyVaultProperties"]["keyIdentifier"], acr.urn
    assert not [r.urn for r in north_plan.resources if r.type == "azure-native:containerregistry:Replication"], "no geo-replication"
    pulls = [ra for ra in of(north_plan, "azure-native:authorization:RoleAssignment") if ra.inputs["roleDefinitionId"].endswith(ROLES["AcrPull"])]
    assert len(pulls) == 1, "only the kubelet identity pulls"


def test_postgres_private_cmk_zone_redundant(north_plan):
    pg = one(north_plan, "azure-native:dbforpostgresql:Server")
    i = pg.inputs
    assert i["network"]["publicNetworkAccess"] == "Disabled" and i["network"]["delegatedSubnetResourceId"].endswith("/subnets/data"), pg.urn
    assert i["dataEncryption"]["type"] == "AzureKeyVault" and "/keys/sahab-database" in i["dataEncryption"]["primaryKeyURI"], f"{pg.urn}: {i['dataEncryption']}"
    assert i["highAvailability"]["mode"] == "ZoneRedundant", pg.urn
    assert i["backup"]["geoRedundantBackup"] == "Disabled", pg.urn


def test_managed_redis_private_tls_cmk(north_plan):
    redis = one(north_plan, "azure-native:redisenterprise:RedisEnterprise")
    i = redis.inputs
    assert i["sku"]["name"] == "Balanced_B5" and i["minimumTlsVersion"] == "1.2" and i["publicNetworkAccess"] == "Disabled", redis.urn
    assert "/keys/sahab-cache" in i["encryption"]["customerManagedKeyEncryption"]["keyEncryptionKeyUrl"], redis.urn
    db = one(north_plan, "azure-native:redisenterprise:Database")
    assert db.inputs["clientProtocol"] == "Encrypted", db.urn


def test_log_analytics_and_audit_diagnostics(north_plan):
    ws = one(north_plan, "azure-native:operationalinsights:Workspace")
    assert ws.inputs["location"] == "uaenorth" and ws.inputs["features"]["disableLocalAuth"], ws.urn
    settings = of(north_plan, "azure-native:monitor:DiagnosticSetting")
    targets = {s.inputs["resourceUri"].split("/providers/")[-1].split("/")[0] for s in settings}
    assert {"Microsoft.KeyVault", "Microsoft.ContainerService", "Microsoft.ContainerRegistry", "Microsoft.DBforPostgreSQL", "Microsoft.Storage"} <= targets, (
        targets
    )
    for s in settings:
        assert s.inputs["logs"] == [{"categoryGroup": "audit", "enabled": True}], s.urn
        assert s.inputs["storageAccountId"].endswith(
            next(a.outputs["name"] for a in of(north_plan, "azure-native:storage:StorageAccount") if a.name.endswith("-audit"))
        ), s.urn


@pytest.mark.parametrize("w", TABLE, ids=lambda w: w.name)
def test_workload_identity_federated_and_scoped(north_plan, w):
    creds = [
        c
        for c in of(north_plan, "azure-native:managedidentity:FederatedIdentityCredential")
        if c.inputs["subject"] == f"system:serviceaccount:{w.namespace}:{w.service_account}"
    ]
    assert len(creds) == 1, f"{w.name}: federated credentials {[c.urn for c in creds]}"
    cred = creds[0]
    assert cred.inputs["audiences"] == ["api://AzureADTokenExchange"] and cred.inputs["issuer"].startswith("https://uaenorth.oic.prod-aks.azure.com/"), cred.urn
    grants = [ra for ra in of(north_plan, "azure-native:authorization:RoleAssignment") if f"-identity-{w.name}-" in ra.name]
    scopes = {ra.inputs["scope"].rsplit("/", 1)[-1] for ra in grants}
    wanted = {g.split("/")[0] for g in (*w.read_buckets, *w.write_buckets)} | set(w.secrets) | {f"sahab-{k}" for k in w.keys}
    assert scopes == wanted, f"{w.name}: roles scoped to {sorted(scopes)}, expected exactly {sorted(wanted)}"
    for ra in grants:
        prefixed = any("/" in g.rstrip("/") for g in (*w.read_buckets, *w.write_buckets) if ra.name.endswith(g.rstrip("/").replace("/", "-")))
        assert bool(ra.inputs.get("condition")) == prefixed, f"{ra.urn}: a prefix grant carries an ABAC path condition, a whole-container one none"


def test_service_accounts_carry_the_client_ids(north_plan):
    sas = {r.inputs["metadata"]["name"]: r for r in north_plan.resources if r.type == "kubernetes:core/v1:ServiceAccount"}
    clients = {i.outputs["clientId"] for i in of(north_plan, "azure-native:managedidentity:UserAssignedIdentity")}
    for w in TABLE:
        if w.service_account not in sas:
            continue  # e.g. training only with GPU pools
        annotations = sas[w.service_account].inputs["metadata"].get("annotations") or {}
        assert annotations.get("azure.workload.identity/client-id") in clients, f"{sas[w.service_account].urn}: annotations {annotations}"


def test_kubernetes_layer_uses_the_aks_adapter(north_plan):
    sc = one(north_plan, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["provisioner"] == "disk.csi.azure.com" and "/diskEncryptionSets/" in sc.inputs["parameters"]["diskEncryptionSetID"], sc.urn
    svc = next(r for r in north_plan.resources if r.type == "kubernetes:core/v1:Service" and r.inputs["metadata"]["name"] == "transaction-risk-serving")
    assert svc.inputs["metadata"]["annotations"] == {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}, svc.urn
    deployments = [
        r
        for r in north_plan.resources
        if r.type == "kubernetes:apps/v1:Deployment" and r.inputs["metadata"]["namespace"] in ("sahab-serving", "sahab-platform")
    ]
    for d in deployments:
        pod = d.inputs["spec"]["template"]
        if pod["spec"].get("serviceAccountName") in {w.service_account for w in TABLE}:
            assert pod["metadata"]["labels"].get("azure.workload.identity/use") == "true", f"{d.urn}: no workload-identity label"
            names = {e["name"] for c in pod["spec"]["containers"] for e in c.get("env") or []}
            assert "AZURE_LOCATION" in names and "AWS_REGION" not in names, f"{d.urn}: region variables {sorted(names)}"
    assert not [r.urn for r in north_plan.resources if "karpenter" in r.urn.lower()], "AKS scales its own pools: no Karpenter"


def test_object_store_uris_are_abfss(north_plan):
    account = next(a.outputs["name"] for a in of(north_plan, "azure-native:storage:StorageAccount") if a.name.endswith("-data"))
    deployments = {r.inputs["metadata"]["name"]: r for r in north_plan.resources if r.type == "kubernetes:apps/v1:Deployment"}
    feast, mlflow = deployments["delivery-time-feature-server"], deployments["mlflow"]
    assert f"abfss://offline-features@{account}.dfs.core.windows.net/feast/delivery-time" in str(feast.inputs), (
        f"{feast.urn}: offline store is not the data account"
    )
    # MLflow's own spelling of the same store (stacks/cloud.py contract 1: its Blob artifact repository).
    text = str(mlflow.inputs)
    assert f"wasbs://experiment-artifacts@{account}.blob.core.windows.net/mlflow" in text, f"{mlflow.urn}: artifact root is not the data account"
    assert "s3://" not in text and "s3://" not in str(feast.inputs), mlflow.urn


def test_stack_outputs_name_azure_resources(north_plan):
    out = north_plan.outputs
    assert out["kubeconfig"] == "[secret]", "the kubeconfig is a secret output"
    assert out["region"] == "uaenorth", out["region"]
    assert out["registry_database_secret"].startswith("https://") and "/secrets/registry-db" in out["registry_database_secret"], out["registry_database_secret"]
    assert out["online_store_endpoint"].endswith(".uaenorth.redis.azure.net"), out["online_store_endpoint"]
    assert {w.name for w in TABLE} <= set(out["workload_identities"]), "workload_identities: a client id per workload (and per project role)"
    assert "data" in out["keys"] and "/diskEncryptionSets/" in out["keys"]["data"], f"keys.data: {out['keys']}"


def test_platform_roles_bind_entra_groups(north_plan):
    """AKS authenticates with Entra ID: the RoleBindings of ml-engineer/auditor name the groups' object ids."""
    subjects = {
        s["name"]
        for r in north_plan.resources
        if r.type in ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
        for s in r.inputs.get("subjects") or []
        if s.get("kind") == "Group"
    }
    assert {"00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"} <= subjects, sorted(subjects)
    assert "sahab:ml-engineers" not in subjects, "the group name EKS access entries use means nothing to Entra ID"
