"""The rule table of `create_time`: values a provider accepts only at creation, refuses at creation, or
accepts only after something else exists. Data only; `create_time.py` evaluates it.

Each record quotes what the provider says (`says`) and where (`source`: the SDK file and class of
the pinned version, or the service's documentation); `fix` is the sentence a finding ends with.
Kinds:
- `refused-at-create`: `path` must not be one of `values` when the resource is created;
- `requires`: when every `when` path has one of its values (`"*"`: any value at all), `path` must be
  present (`present: True`), absent (`present: False`) or one of `values`;
- `must-match`: when `path` is set (and `when` holds) its value matches `pattern`;
- `after`: when `when` holds, the resource must wait for a resource of `after_type` that names the
  same thing (`same`: its input -> the other's input or output) and has `after_values`, unless a
  resource of `unless_type` naming the same thing has `unless_values`;
- `create-only`: set only at creation (a later change is refused or replaces the resource): no
  finding, listed in report.md so a reviewer sees what the first `up` fixes for good.
`later_up`: a spec path that asks for the value on a later `up` (the resource exists by then): the
finding is advisory when the spec sets it, since the gate's plan is always a first `up`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AZ = "pulumi-azure-native 3.29.0 (sdk/python/pulumi_azure_native"
AWS = "pulumi-aws 7.51.1 (sdk/python/pulumi_aws"


@dataclass(frozen=True, kw_only=True)
class Rule:
    id: str
    type: str
    kind: str
    path: str = ""
    says: str
    source: str
    fix: str = ""
    values: tuple[Any, ...] = ()
    when: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    present: bool | None = None
    pattern: str = ""
    after_type: str = ""
    after_values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    same: dict[str, str] = field(default_factory=dict)
    unless_type: str = ""
    unless_values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    later_up: str = ""


RULES: tuple[Rule, ...] = (
    # --- refused, required or ordered at creation -------------------------------------------------
    Rule(
        id="azure-storage-immutability-created-locked",
        type="azure-native:storage:StorageAccount",
        kind="refused-at-create",
        path="immutableStorageWithVersioning.immutabilityPolicy.state",
        values=("Locked",),
        says="A policy can only be created in a Disabled or Unlocked state and can be toggled between the two states. "
        "Only a policy in an Unlocked state can transition to a Locked state which cannot be reverted.",
        source=f"{AZ}/storage/_inputs.py AccountImmutabilityPolicyPropertiesArgsDict.state)",
        fix="create the policy Unlocked and lock it on a later `up` (storage.lock_audit_immutability: irreversible)",
        later_up="storage.lock_audit_immutability",
    ),
    Rule(
        id="azure-redis-enterprise-cmk-key-versioned",
        type="azure-native:redisenterprise:RedisEnterprise",
        kind="must-match",
        path="encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl",
        pattern=r"^https://[^/]+/keys/[^/]+/[0-9A-Za-z]{32}$",
        says="Key encryption key Url, versioned only. Ex: https://contosovault.vault.azure.net/keys/contosokek/562a4bb76b524a1493a6afe8e536ee78",
        source=f"{AZ}/redisenterprise/_inputs.py ClusterPropertiesCustomerManagedKeyEncryptionArgsDict.key_encryption_key_url)",
        fix="pass the key's versioned id (the Key's `key_uri_with_version` output), and move it on with each rotation",
    ),
    Rule(
        id="azure-aks-kms-private-vault-needs-vault-id",
        type="azure-native:containerservice:ManagedCluster",
        kind="requires",
        when={"securityProfile.azureKeyVaultKms.enabled": (True,), "securityProfile.azureKeyVaultKms.keyVaultNetworkAccess": ("Private",)},
        path="securityProfile.azureKeyVaultKms.keyVaultResourceId",
        present=True,
        says="Resource ID of key vault. When keyVaultNetworkAccess is `Private`, this field is required and must be a valid resource ID.",
        source=f"{AZ}/containerservice/_inputs.py AzureKeyVaultKmsArgsDict.key_vault_resource_id)",
        fix="set azureKeyVaultKms.keyVaultResourceId to the vault's ARM id",
    ),
    Rule(
        id="azure-aks-kms-public-vault-without-vault-id",
        type="azure-native:containerservice:ManagedCluster",
        kind="requires",
        when={"securityProfile.azureKeyVaultKms.enabled": (True,), "securityProfile.azureKeyVaultKms.keyVaultNetworkAccess": ("Public",)},
        path="securityProfile.azureKeyVaultKms.keyVaultResourceId",
        present=False,
        says="When keyVaultNetworkAccess is `Public`, leave the field empty.",
        source=f"{AZ}/containerservice/_inputs.py AzureKeyVaultKmsArgsDict.key_vault_resource_id)",
        fix="drop keyVaultResourceId, or make the vault private (keyVaultNetworkAccess: Private)",
    ),
    Rule(
        id="azure-aks-kms-user-assigned-identity",
        type="azure-native:containerservice:ManagedCluster",
        kind="requires",
        when={"securityProfile.azureKeyVaultKms.enabled": (True,)},
        path="identity.type",
        values=("UserAssigned",),
        says="KMS etcd encryption doesn't work with system-assigned managed identity. The key vault access policy must be set before the feature "
        "is turned on. System-assigned managed identity isn't available until after the cluster is created.",
        source="MicrosoftDocs/azure-aks-docs articles/aks/use-kms-etcd-encryption.md, Limitations",
        fix="give the cluster a user-assigned control-plane identity and grant it on the vault before the cluster is created",
    ),
    Rule(
        id="aws-elasticache-kms-needs-at-rest-encryption",
        type="aws:elasticache/replicationGroup:ReplicationGroup",
        kind="requires",
        when={"kmsKeyId": ("*",)},
        path="atRestEncryptionEnabled",
        values=(True, "true"),
        says="The ARN of the key that you wish to use if encrypting at rest. [...] Can be specified only if `at_rest_encryption_enabled = true`.",
        source=f"{AWS}/elasticache/replication_group.py ReplicationGroup.kms_key_id)",
        fix="set at_rest_encryption_enabled=True with the key",
    ),
    Rule(
        id="aws-s3-object-lock-after-versioning",
        type="aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        kind="after",
        after_type="aws:s3/bucketVersioning:BucketVersioning",
        after_values={"versioningConfiguration.status": ("Enabled",)},
        same={"bucket": "bucket"},
        unless_type="aws:s3/bucket:Bucket",
        unless_values={"objectLockEnabled": (True, "true")},
        says="To enable Object Lock for an existing bucket, you must first enable versioning on the bucket and then enable Object Lock.",
        source=f"{AWS}/s3/bucket_object_lock_configuration.py BucketObjectLockConfiguration.token)",
        fix="create the bucket with object_lock_enabled=True, or make the lock configuration depend on the bucket's versioning (status Enabled)",
    ),
    # --- fixed at creation (report only) ----------------------------------------------------------
    Rule(
        id="azure-storage-account-version-immutability",
        type="azure-native:storage:StorageAccount",
        kind="create-only",
        path="immutableStorageWithVersioning.enabled",
        says="The property is immutable and can only be set to true at the account creation time.",
        source=f"{AZ}/storage/storage_account.py StorageAccount.immutable_storage_with_versioning)",
    ),
    Rule(
        id="azure-blob-container-version-immutability",
        type="azure-native:storage:BlobContainer",
        kind="create-only",
        path="immutableStorageWithVersioning.enabled",
        says="The property is immutable and can only be set to true at the container creation time. Existing containers must undergo a migration process.",
        source=f"{AZ}/storage/blob_container.py BlobContainer.immutable_storage_with_versioning)",
    ),
    Rule(
        id="azure-subnet-default-outbound-access",
        type="azure-native:network:Subnet",
        kind="create-only",
        path="defaultOutboundAccess",
        says="This property can only be set at the time of subnet creation and cannot be updated for an existing subnet.",
        source=f"{AZ}/network/_inputs.py SubnetArgsDict.default_outbound_access)",
    ),
    Rule(
        id="azure-aks-outbound-type",
        type="azure-native:containerservice:ManagedCluster",
        kind="create-only",
        path="networkProfile.outboundType",
        says="This can only be set at cluster creation time and cannot be changed later.",
        source=f"{AZ}/containerservice/_inputs.py ContainerServiceNetworkProfileArgsDict.outbound_type)",
    ),
    Rule(
        id="azure-aks-dns-prefix",
        type="azure-native:containerservice:ManagedCluster",
        kind="create-only",
        path="dnsPrefix",
        says="This cannot be updated once the Managed Cluster has been created.",
        source=f"{AZ}/containerservice/managed_cluster.py ManagedCluster.dns_prefix)",
    ),
    Rule(
        id="azure-aks-pool-os-disk-type",
        type="azure-native:containerservice:AgentPool",
        kind="create-only",
        path="osDiskType",
        says="May not be changed after creation.",
        source=f"{AZ}/containerservice/agent_pool.py AgentPool.os_disk_type)",
    ),
    Rule(
        id="azure-postgres-administrator-login",
        type="azure-native:dbforpostgresql:Server",
        kind="create-only",
        path="administratorLogin",
        says="Once set to a given value, it cannot be changed for the rest of the life of a server.",
        source=f"{AZ}/dbforpostgresql/server.py Server.administrator_login)",
    ),
    Rule(
        id="azure-key-vault-soft-delete",
        type="azure-native:keyvault:Vault",
        kind="create-only",
        path="properties.enableSoftDelete",
        says="Once set to true, it cannot be reverted to false.",
        source=f"{AZ}/keyvault/_inputs.py VaultPropertiesArgsDict.enable_soft_delete)",
    ),
    Rule(
        id="azure-redis-enterprise-clustering-policy",
        type="azure-native:redisenterprise:Database",
        kind="create-only",
        path="clusteringPolicy",
        says="If the value is OSSCluster or EnterpriseCluster, it cannot be updated without deleting the database.",
        source=f"{AZ}/redisenterprise/database.py Database.clustering_policy)",
    ),
)
