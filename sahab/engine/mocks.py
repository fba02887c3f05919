"""Pulumi mocks that answer the way the providers would, with no credentials and no network.

`new_resource` returns `{**inputs, computed...}` like a provider's Create: deterministic physical
names and ids, ARNs in the resource's effective region (its own `region`, else its provider's, else
the stack's `aws:region`), and the computed attributes downstream code reads (endpoints, URLs,
certificate data, latest versions). `call` answers the invokes the program uses.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from sahab.engine.internals import SIG_KEY, MockCallArgs, MockResourceArgs, Mocks

ACCOUNT_ID = "123456789012"


def _digest(*parts: str, n: int = 7) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:n]


def _pem(kind: str, name: str) -> str:
    return f"-----BEGIN {kind}-----\noffline-{_digest(name, kind, n=32)}\n-----END {kind}-----\n"


def _service_and_kind(type_token: str) -> tuple[str, str]:
    """`aws:s3/bucket:Bucket` -> (`s3`, `bucket`)."""
    module = type_token.split(":")[1]
    service, _, kind = module.partition("/")
    return service, kind or service


# Per type: computed state from (physical name, inputs, region, account). Only what code reads.
Computed = Callable[[str, dict[str, Any], str, str], dict[str, Any]]


def _eks_cluster(phys: str, inputs: dict, region: str, account: str) -> dict:
    host = _digest(phys, n=32).upper()
    return {
        "endpoint": f"https://{host}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm9mZmxpbmUKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{host}"}]}],
        "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_digest(phys, 'cluster', n=17)}", "vpcId": "vpc-offline"},
        "status": "ACTIVE",
        "platformVersion": "eks.1",
    }


COMPUTED: dict[str, Computed] = {
    "aws:s3/bucket:Bucket": lambda p, i, r, a: {
        "bucket": p,
        "arn": f"arn:aws:s3:::{p}",
        "bucketDomainName": f"{p}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{p}.s3.{r}.amazonaws.com",
        "region": i.get("region") or r,
    },
    "aws:kms/key:Key": lambda p, i, r, a: {"keyId": _uuid(p), "arn": f"arn:aws:kms:{r}:{a}:key/{_uuid(p)}"},
    "aws:kms/alias:Alias": lambda p, i, r, a: {
        "arn": f"arn:aws:kms:{r}:{a}:{i.get('name', p)}",
        "targetKeyArn": f"arn:aws:kms:{r}:{a}:key/{i.get('targetKeyId', '')}",
    },
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": lambda p, i, r, a: {"nodeGroupName": i.get("nodeGroupName") or p, "status": "ACTIVE"},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda p, i, r, a: {"latestVersion": 1, "defaultVersion": 1},
    "aws:ecr/repository:Repository": lambda p, i, r, a: {"repositoryUrl": f"{a}.dkr.ecr.{r}.amazonaws.com/{i.get('name', p)}", "registryId": a},
    "aws:rds/instance:Instance": lambda p, i, r, a: {
        "address": f"{p}.{_digest(p, n=12)}.{r}.rds.amazonaws.com",
        "endpoint": f"{p}.{_digest(p, n=12)}.{r}.rds.amazonaws.com:5432",
        "port": 5432,
        "masterUserSecrets": [
            {"secretArn": f"arn:aws:secretsmanager:{r}:{a}:secret:rds!db-{_uuid(p)}", "kmsKeyId": i.get("masterUserSecretKmsKeyId"), "secretStatus": "active"}
        ],
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda p, i, r, a: {
        "primaryEndpointAddress": f"master.{p}.{_digest(p, n=6)}.{r}.cache.amazonaws.com",
        "readerEndpointAddress": f"replica.{p}.{_digest(p, n=6)}.{r}.cache.amazonaws.com",
    },
    "aws:cloudwatch/logGroup:LogGroup": lambda p, i, r, a: {"arn": f"arn:aws:logs:{r}:{a}:log-group:{i.get('name', p)}"},
    "aws:iam/role:Role": lambda p, i, r, a: {
        "arn": f"arn:aws:iam::{a}:role/{i.get('name', p)}",
        "name": i.get("name", p),
        "uniqueId": f"AROA{_digest(p, n=16).upper()}",
    },
    # IAM names service-linked roles itself (AWSServiceRoleFor<Service>) under aws-service-role/<service>/.
    "aws:iam/serviceLinkedRole:ServiceLinkedRole": lambda p, i, r, a: {
        "name": (
            n := {"autoscaling.amazonaws.com": "AWSServiceRoleForAutoScaling", "spot.amazonaws.com": "AWSServiceRoleForEC2Spot"}.get(
                i.get("awsServiceName", ""), p
            )
        ),
        "arn": f"arn:aws:iam::{a}:role/aws-service-role/{i.get('awsServiceName', '')}/{n}",
        "path": f"/aws-service-role/{i.get('awsServiceName', '')}/",
    },
    "aws:cloudtrail/trail:Trail": lambda p, i, r, a: {"arn": f"arn:aws:cloudtrail:{r}:{a}:trail/{i.get('name', p)}"},
    "aws:secretsmanager/secret:Secret": lambda p, i, r, a: {"arn": f"arn:aws:secretsmanager:{r}:{a}:secret:{p}-{_digest(p, n=6)}"},
    "random:index/randomPassword:RandomPassword": lambda p, i, r, a: {"result": "offline-" + _digest(p, n=32), "bcryptHash": "offline"},
    # pulumi-tls (the in-cluster services' CA of cloud: kubernetes): PEM-shaped placeholders, never real keys.
    "tls:index/privateKey:PrivateKey": lambda p, i, r, a: {
        "privateKeyPem": _pem("PRIVATE KEY", p),
        "publicKeyPem": _pem("PUBLIC KEY", p),
        "privateKeyPemPkcs8": _pem("PRIVATE KEY", p),
    },
    "tls:index/selfSignedCert:SelfSignedCert": lambda p, i, r, a: {"certPem": _pem("CERTIFICATE", p), "readyForRenewal": False},
    "tls:index/certRequest:CertRequest": lambda p, i, r, a: {"certRequestPem": _pem("CERTIFICATE REQUEST", p)},
    "tls:index/locallySignedCert:LocallySignedCert": lambda p, i, r, a: {"certPem": _pem("CERTIFICATE", p), "readyForRenewal": False},
}

# The attribute that holds a resource's physical name, when the provider auto-names it.
NAME_ATTRIBUTE = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:iam/role:Role": "name",
    "aws:rds/instance:Instance": "identifier",
    "aws:rds/subnetGroup:SubnetGroup": "name",
    "aws:rds/parameterGroup:ParameterGroup": "name",
    "aws:elasticache/subnetGroup:SubnetGroup": "name",
    "aws:elasticache/replicationGroup:ReplicationGroup": "replicationGroupId",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:secretsmanager/secret:Secret": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    # An auto-named rule is still read back by name (EventTarget's `rule` takes it).
    "aws:cloudwatch/eventRule:EventRule": "name",
}
# pulumiverse-time's Sleep: the provider's id is the creation time, RFC 3339 UTC (as the Terraform
# time provider it bridges: time_sleep "id"); a fixed instant keeps plans deterministic.
SLEEP_ID = "2026-01-01T00:00:00Z"

# EC2 ids look like `vpc-0abc...`: keep that shape so code that parses them keeps working.
_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/flowLog:FlowLog": "fl",
}


def _uuid(seed: str) -> str:
    h = _digest(seed, n=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class ProviderMocks(Mocks):
    """Answers resource registrations and invokes like the AWS, Azure, Kubernetes and random providers."""

    def __init__(
        self,
        stack: str,
        default_region: str | None,
        account_id: str = ACCOUNT_ID,
        provider_region: Callable[[str | None], str | None] | None = None,
        default_location: str | None = None,
    ):
        self.stack = stack
        self.default_region = default_region or "me-central-1"
        self.default_location = default_location or "uaenorth"  # stack config `azure-native:location`
        self.account_id = account_id
        # Resolves a provider reference (`urn::id`) to that provider's region, if it set one.
        self.provider_region = provider_region or (lambda ref: None)

    def effective_region(self, args: MockResourceArgs) -> str:
        return args.inputs.get("region") or self.provider_region(args.provider) or self.default_region

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict]:
        typ, inputs = args.typ, dict(args.inputs)
        if typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", inputs
        if typ.startswith("kubernetes:"):
            return self._kubernetes(args.name, inputs)
        if typ.startswith("azure-native:"):
            location = inputs.get("location") or self.provider_region(args.provider) or self.default_location
            return azure_resource(self.stack, typ, args.name, inputs, location)
        if typ == "time:index/sleep:Sleep":
            return SLEEP_ID, inputs
        region = self.effective_region(args)
        name_attr = NAME_ATTRIBUTE.get(typ)
        phys = inputs.get(name_attr) if name_attr else None
        if not phys:
            # Pulumi auto-naming: logical name plus a random suffix (deterministic here).
            phys = f"{args.name}-{_digest(self.stack, args.name)}"
            if typ == "aws:s3/bucket:Bucket":
                phys = phys.lower()
        state = {**inputs}
        if name_attr:
            state[name_attr] = phys
        if typ.startswith("aws:"):
            service, kind = _service_and_kind(typ)
            state.setdefault("arn", f"arn:aws:{service}:{region}:{self.account_id}:{kind.lower()}/{phys}")
            state["tagsAll"] = dict(inputs.get("tags") or {})
        computed = COMPUTED.get(typ)
        if computed:
            state.update(computed(phys, inputs, region, self.account_id))
        prefix = _ID_PREFIX.get(typ)
        rid = f"{prefix}-{_digest(self.stack, args.name, n=17)}" if prefix else phys
        return rid, state

    def _kubernetes(self, name: str, inputs: dict) -> tuple[str, dict]:
        meta = dict(inputs.get("metadata") or {})
        if not meta.get("name") and "metadata" in inputs:
            meta["name"] = f"{name}-{_digest(self.stack, name, n=8)}"
        state = {**inputs, "metadata": meta} if "metadata" in inputs else {**inputs}
        ns = meta.get("namespace")
        rid = f"{ns}/{meta.get('name', name)}" if ns else meta.get("name", name)
        if inputs.get("kind") == "Service":
            state.setdefault("status", {"loadBalancer": {}})
        return rid, state

    def call(self, args: MockCallArgs) -> dict:  # type: ignore[override]  # MockMonitor also takes a bare dict (pulumi 3.272.0 runtime/mocks.py: `if isinstance(tup, dict)`)
        token = args.token
        if token.startswith("azure-native:"):
            return azure_call(token, dict(args.args))
        region = args.args.get("region") or self.provider_region(args.provider) or self.default_region
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": self.account_id, "arn": f"arn:aws:iam::{self.account_id}:user/offline", "userId": "AIDAOFFLINE", "id": self.account_id}
        if token == "aws:index/getRegion:getRegion":
            return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com", "description": region}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            names = [f"{region}{z}" for z in "abc"]
            return {"names": names, "zoneIds": [f"mec1-az{i + 1}" for i in range(3)], "id": region}
        return {}


# --- Azure (pulumi-azure-native v3) ---------------------------------------------------------------
# Ids are ARM resource ids in the offline subscription; names are the resources' own name inputs
# (or Pulumi's auto-name); computed attributes are what the program reads, shaped as ARM returns them.
SUBSCRIPTION_ID = "5a4a1d1e-0000-4000-8000-00000000ae01"
TENANT_ID = "5a4a1d1e-0000-4000-8000-00000000ae02"
_PROVIDERS = "/subscriptions/{sub}/resourceGroups/{resourceGroupName}/providers/"
# type token -> ARM id under the resource group ({input} placeholders; the last one is the name).
AZURE_IDS = {
    "azure-native:network:VirtualNetwork": "Microsoft.Network/virtualNetworks/{virtualNetworkName}",
    "azure-native:network:Subnet": "Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}",
    "azure-native:network:NetworkSecurityGroup": "Microsoft.Network/networkSecurityGroups/{networkSecurityGroupName}",
    "azure-native:network:NatGateway": "Microsoft.Network/natGateways/{natGatewayName}",
    "azure-native:network:PublicIPAddress": "Microsoft.Network/publicIPAddresses/{publicIpAddressName}",
    "azure-native:network:VirtualNetworkPeering": "Microsoft.Network/virtualNetworks/{virtualNetworkName}/virtualNetworkPeerings/{virtualNetworkPeeringName}",
    "azure-native:network:PrivateEndpoint": "Microsoft.Network/privateEndpoints/{privateEndpointName}",
    "azure-native:network:PrivateDnsZoneGroup": "Microsoft.Network/privateEndpoints/{privateEndpointName}/privateDnsZoneGroups/{privateDnsZoneGroupName}",
    "azure-native:privatedns:PrivateZone": "Microsoft.Network/privateDnsZones/{privateZoneName}",
    "azure-native:privatedns:VirtualNetworkLink": "Microsoft.Network/privateDnsZones/{privateZoneName}/virtualNetworkLinks/{virtualNetworkLinkName}",
    "azure-native:keyvault:Vault": "Microsoft.KeyVault/vaults/{vaultName}",
    "azure-native:keyvault:Key": "Microsoft.KeyVault/vaults/{vaultName}/keys/{keyName}",
    "azure-native:keyvault:Secret": "Microsoft.KeyVault/vaults/{vaultName}/secrets/{secretName}",
    "azure-native:managedidentity:UserAssignedIdentity": "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}",
    "azure-native:managedidentity:FederatedIdentityCredential": "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}/federatedIdentityCredentials/{federatedIdentityCredentialResourceName}",
    "azure-native:compute:DiskEncryptionSet": "Microsoft.Compute/diskEncryptionSets/{diskEncryptionSetName}",
    "azure-native:storage:StorageAccount": "Microsoft.Storage/storageAccounts/{accountName}",
    "azure-native:storage:BlobServiceProperties": "Microsoft.Storage/storageAccounts/{accountName}/blobServices/{blobServicesName}",
    "azure-native:storage:BlobContainer": "Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}",
    "azure-native:storage:ManagementPolicy": "Microsoft.Storage/storageAccounts/{accountName}/managementPolicies/{managementPolicyName}",
    "azure-native:operationalinsights:Workspace": "Microsoft.OperationalInsights/workspaces/{workspaceName}",
    "azure-native:monitor:DataCollectionRule": "Microsoft.Insights/dataCollectionRules/{dataCollectionRuleName}",
    "azure-native:containerservice:ManagedCluster": "Microsoft.ContainerService/managedClusters/{resourceName}",
    "azure-native:containerservice:AgentPool": "Microsoft.ContainerService/managedClusters/{resourceName}/agentPools/{agentPoolName}",
    "azure-native:containerregistry:Registry": "Microsoft.ContainerRegistry/registries/{registryName}",
    "azure-native:containerregistry:Replication": "Microsoft.ContainerRegistry/registries/{registryName}/replications/{replicationName}",
    "azure-native:dbforpostgresql:Server": "Microsoft.DBforPostgreSQL/flexibleServers/{serverName}",
    "azure-native:dbforpostgresql:Configuration": "Microsoft.DBforPostgreSQL/flexibleServers/{serverName}/configurations/{configurationName}",
    "azure-native:dbforpostgresql:Database": "Microsoft.DBforPostgreSQL/flexibleServers/{serverName}/databases/{databaseName}",
    "azure-native:redisenterprise:RedisEnterprise": "Microsoft.Cache/redisEnterprise/{clusterName}",
    "azure-native:redisenterprise:Database": "Microsoft.Cache/redisEnterprise/{clusterName}/databases/{databaseName}",
}
# Extension resources live under the resource they attach to.
AZURE_SCOPED = {
    "azure-native:authorization:RoleAssignment": ("scope", "Microsoft.Authorization/roleAssignments", "roleAssignmentName"),
    "azure-native:monitor:DiagnosticSetting": ("resourceUri", "Microsoft.Insights/diagnosticSettings", "name"),
    "azure-native:monitor:DataCollectionRuleAssociation": ("resourceUri", "Microsoft.Insights/dataCollectionRuleAssociations", "associationName"),
}


def _placeholders(template: str) -> list[str]:
    return [part[1:-1] for part in template.split("/") if part.startswith("{")]


def _kubeconfig(cluster: str, server: str) -> str:
    """What listManagedClusterUserCredentials(format=exec) returns for an Entra ID cluster: kubelogin
    with the device-code login, which waits for a person at a browser (as recorded from AKS: `get-token
    --environment AzurePublicCloud --server-id <AKS server app> --client-id <Azure CLI's app> --tenant-id
    <tenant> --login devicecode`, env null, an install hint; checked against AKS kubeconfigs quoted in
    public repositories and Azure/kubelogin's converter, which reads these very arguments). The
    program, not the mock, has to turn it into a non-interactive login."""
    return (
        f"apiVersion: v1\nkind: Config\nclusters:\n- name: {cluster}\n  cluster:\n    server: https://{server}:443\n"
        f"    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm9mZmxpbmUKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=\n"
        f"contexts:\n- name: {cluster}\n  context: {{cluster: {cluster}, user: clusterUser_{cluster}}}\ncurrent-context: {cluster}\n"
        f"users:\n- name: clusterUser_{cluster}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: kubelogin\n"
        f"      args: [get-token, --environment, AzurePublicCloud, --server-id, 6dae42f8-4368-4678-94ff-3960e28e3630,"
        f" --client-id, 80faf920-1908-4b52-b5ef-a8e7bedfc67a, --tenant-id, {TENANT_ID}, --login, devicecode]\n"
        f"      env: null\n      installHint: kubelogin is not installed which is required to connect to AAD enabled cluster.\n"
        f"      provideClusterInfo: false\n"
    )


def _with(value: Any, extra: dict) -> Any:
    """`value` (an object input, maybe secret as a whole) with computed attributes added; a secret stays one."""
    if isinstance(value, dict) and SIG_KEY in value:  # Pulumi's wire marker of a special value: here a secret wrapping the object
        return {**value, "value": {**(value.get("value") or {}), **extra}}
    return {**(value or {}), **extra}


def _azure_computed(typ: str, name: str, inputs: dict, location: str) -> dict:
    if typ == "azure-native:keyvault:Vault":
        return {"properties": _with(inputs.get("properties"), {"vaultUri": f"https://{name}.vault.azure.net/"})}
    if typ == "azure-native:keyvault:Key":
        uri = f"https://{inputs.get('vaultName')}.vault.azure.net/keys/{name}"
        return {"keyUri": uri, "keyUriWithVersion": f"{uri}/{_digest(uri, n=32)}"}
    if typ == "azure-native:keyvault:Secret":
        uri = f"https://{inputs.get('vaultName')}.vault.azure.net/secrets/{name}"
        return {"properties": _with(inputs.get("properties"), {"secretUri": uri, "secretUriWithVersion": f"{uri}/{_digest(uri, n=32)}"})}
    if typ == "azure-native:managedidentity:UserAssignedIdentity":
        return {"principalId": _uuid(name + "/principal"), "clientId": _uuid(name + "/client"), "tenantId": TENANT_ID}
    if typ == "azure-native:compute:DiskEncryptionSet":
        return {"identity": _with(inputs.get("identity"), {"principalId": _uuid(name + "/principal"), "tenantId": TENANT_ID})}
    if typ == "azure-native:storage:StorageAccount":
        return {
            "primaryEndpoints": {s: f"https://{name}.{s}.core.windows.net/" for s in ("blob", "dfs", "queue", "table", "file")},
            "primaryLocation": location,
        }
    if typ == "azure-native:containerservice:ManagedCluster":
        return {
            "oidcIssuerProfile": _with(inputs.get("oidcIssuerProfile"), {"issuerURL": f"https://{location}.oic.prod-aks.azure.com/{TENANT_ID}/{_uuid(name)}/"}),
            "identityProfile": {
                "kubeletidentity": {"clientId": _uuid(name + "/kubelet-client"), "objectId": _uuid(name + "/kubelet"), "resourceId": f"{name}-agentpool"}
            },
            "privateFQDN": f"{name}-{_digest(name, n=8)}.{_uuid(name)}.privatelink.{location}.azmk8s.io",
            "provisioningState": "Succeeded",
        }
    if typ == "azure-native:containerregistry:Registry":
        return {"loginServer": f"{name.lower()}.azurecr.io"}
    if typ == "azure-native:dbforpostgresql:Server":
        return {"fullyQualifiedDomainName": f"{name}.postgres.database.azure.com", "state": "Ready"}
    if typ == "azure-native:redisenterprise:RedisEnterprise":
        return {"hostName": f"{name}.{location}.redis.azure.net"}
    if typ == "azure-native:operationalinsights:Workspace":
        return {"customerId": _uuid(name)}
    return {}


def azure_resource(stack: str, typ: str, logical: str, inputs: dict, location: str) -> tuple[str, dict]:
    """(ARM resource id, state) for an azure-native resource, as the provider's Create returns them."""
    state = {**inputs}
    if typ == "azure-native:resources:ResourceGroup":
        name = inputs.get("resourceGroupName") or f"{logical}{_digest(stack, logical)}"
        rid = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{name}"
    elif typ in AZURE_SCOPED:
        scope_key, path, name_key = AZURE_SCOPED[typ]
        name = inputs.get(name_key) or _uuid(stack + logical)
        rid = f"{inputs.get(scope_key)}/providers/{path}/{name}"
    else:
        template = AZURE_IDS.get(typ)
        if template is None:  # a type the platform does not create: a plausible id all the same
            namespace = "Microsoft." + typ.split(":")[1].capitalize()
            template = f"{namespace}/{typ.split(':')[2][0].lower() + typ.split(':')[2][1:]}s/{{name}}"
        keys = _placeholders(template)
        name = inputs.get(keys[-1]) or f"{logical}{_digest(stack, logical)}"
        values = {k: inputs.get(k, "") for k in keys[:-1]}
        rid = (_PROVIDERS + template).format(sub=SUBSCRIPTION_ID, resourceGroupName=inputs.get("resourceGroupName", ""), **values, **{keys[-1]: name})
    state.update({"name": name, "azureApiVersion": "offline"})
    identity = state.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
        # Inputs list the identities' ids; ARM answers with a map of id -> principal and client ids.
        state["identity"] = {
            **identity,
            "userAssignedIdentities": {
                i: {"principalId": _uuid(f"{i}/principal"), "clientId": _uuid(f"{i}/client")} for i in identity["userAssignedIdentities"]
            },
        }
    if "location" in inputs or typ not in AZURE_SCOPED:
        state.setdefault("location", location)
    state.update(_azure_computed(typ, name, inputs, location))
    return rid, state


def azure_call(token: str, args: dict) -> dict:
    if token == "azure-native:authorization:getClientConfig":
        return {"clientId": _uuid("offline-client"), "objectId": _uuid("offline-object"), "subscriptionId": SUBSCRIPTION_ID, "tenantId": TENANT_ID}
    if token == "azure-native:containerservice:listManagedClusterUserCredentials":
        cluster = str(args.get("resourceName"))
        value = base64.b64encode(_kubeconfig(cluster, f"{cluster}.privatelink.offline.azmk8s.io").encode()).decode()
        return {"kubeconfigs": [{"name": "clusterUser", "value": value}]}
    if token == "azure-native:redisenterprise:listDatabaseKeys":
        seed = f"{args.get('clusterName')}/{args.get('databaseName')}"
        return {"primaryKey": "offline-" + _digest(seed, "1", n=32), "secondaryKey": "offline-" + _digest(seed, "2", n=32)}
    return {}
