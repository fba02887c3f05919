"""Storage accounts: one ADLS Gen2 account for the platform's data (lake, offline features, model
and experiment artifacts, one container each) and one for audit records, whose account-level
immutability policy is time-based: created Unlocked, since Azure creates a policy only as Disabled or
Unlocked, and Locked by a later `up` with `lock_audit_immutability` (irreversible: a locked policy's
retention can only grow, and the account cannot be deleted while it holds records). Both: customer-managed key from Key Vault through a
user-assigned identity, TLS 1.2+, HTTPS only, no public blob access, no shared keys (Entra ID
only), reachable through private endpoints. Replication is LRS/ZRS, or GRS/GZRS from uaenorth
(its pair uaecentral stays in the UAE); the spec refuses GRS for `health` data."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import storage

from components.azure._common import compact_name, private_endpoint

CONTAINERS = {
    "data-lake": "raw and curated data",
    "offline-features": "Feast offline store (Parquet)",
    "model-artifacts": "exported models served by BentoML",
    "experiment-artifacts": "MLflow run artifacts and checkpoints",
}
AUDIT_CONTAINER = "audit"
REPLICATIONS = ("LRS", "ZRS", "GRS", "GZRS")
GEO = ("GRS", "GZRS")
MAX_IMMUTABILITY_DAYS = 146000


@dataclass(frozen=True, kw_only=True)
class StorageArgs:
    environment: str
    """Environment name (account names derive from it)."""
    resource_group: pulumi.Input[str]
    """Data resource group."""
    location: str
    """UAE location."""
    replication: str
    """LRS, ZRS, GRS or GZRS (geo only from uaenorth)."""
    vault_uri: pulumi.Input[str]
    """Key Vault holding the key."""
    key_name: pulumi.Input[str]
    """Customer-managed key (versionless: the account follows rotations)."""
    cmk_identity_id: pulumi.Input[str]
    """User-assigned identity allowed to unwrap with the key."""
    endpoint_subnet_id: pulumi.Input[str]
    """Private-endpoint subnet."""
    blob_zone_id: pulumi.Input[str]
    """`privatelink.blob.core.windows.net` zone."""
    dfs_zone_id: pulumi.Input[str]
    """`privatelink.dfs.core.windows.net` zone."""
    audit_retention_days: int = 2555
    """Time-based retention of audit records."""
    lock_audit_immutability: bool = False
    """Lock the audit policy (irreversible). Only on an `up` after the one that created the account."""
    noncurrent_version_days: int = 90
    """Old versions kept this long."""
    infrequent_access_days: int = 30
    """Data moves to the Cool tier after this many days without change."""
    tags: dict[str, str]
    """Tags of every taggable child."""


class Storage(pulumi.ComponentResource):
    account_ids: pulumi.Output[dict[str, str]]
    container_names: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:Storage", name, None, opts)
        if args.replication not in REPLICATIONS:
            raise ValueError(f"replication: {args.replication!r} is not one of {REPLICATIONS}")
        if args.replication in GEO and args.location != "uaenorth":
            raise ValueError(
                f"replication: {args.replication} from {args.location} copies data to a pair outside the UAE; only uaenorth -> uaecentral stays in"
            )
        if not 1 <= args.audit_retention_days <= MAX_IMMUTABILITY_DAYS:
            raise ValueError(f"audit_retention_days: {args.audit_retention_days} is outside 1-{MAX_IMMUTABILITY_DAYS}")
        child = pulumi.ResourceOptions(parent=self)
        data = self._account(name, "data", args, child, hns=True)
        audit = self._account(name, "audit", args, child, hns=False, immutable_days=args.audit_retention_days)
        rg = args.resource_group
        self._blob_service(name, "data", data, args, child)
        self._blob_service(name, "audit", audit, args, child)
        storage.ManagementPolicy(
            f"{name}-data-lifecycle",
            account_name=data.name,
            resource_group_name=rg,
            management_policy_name="default",
            policy=storage.ManagementPolicySchemaArgs(
                rules=[
                    storage.ManagementPolicyRuleArgs(
                        name="cool-then-expire-versions",
                        type="Lifecycle",
                        enabled=True,
                        definition=storage.ManagementPolicyDefinitionArgs(
                            filters=storage.ManagementPolicyFilterArgs(blob_types=["blockBlob"]),
                            actions=storage.ManagementPolicyActionArgs(
                                base_blob=storage.ManagementPolicyBaseBlobArgs(
                                    tier_to_cool=storage.DateAfterModificationArgs(days_after_modification_greater_than=args.infrequent_access_days)
                                ),
                                version=storage.ManagementPolicyVersionArgs(
                                    delete=storage.DateAfterCreationArgs(days_after_creation_greater_than=args.noncurrent_version_days)
                                ),
                            ),
                        ),
                    )
                ]
            ),
            opts=child,
        )
        containers = {
            purpose: storage.BlobContainer(
                f"{name}-{purpose}", container_name=purpose, account_name=data.name, resource_group_name=rg, public_access=storage.PublicAccess.NONE, opts=child
            )
            for purpose in CONTAINERS
        }
        containers[AUDIT_CONTAINER] = storage.BlobContainer(
            f"{name}-{AUDIT_CONTAINER}",
            container_name=AUDIT_CONTAINER,
            account_name=audit.name,
            resource_group_name=rg,
            public_access=storage.PublicAccess.NONE,
            immutable_storage_with_versioning=storage.ImmutableStorageWithVersioningArgs(enabled=True),
            opts=child,
        )
        for account, group, zone in ((data, "blob", args.blob_zone_id), (data, "dfs", args.dfs_zone_id), (audit, "blob", args.blob_zone_id)):
            role = "data" if account is data else "audit"
            private_endpoint(
                f"{name}-{role}-{group}-pe",
                resource_group=rg,
                location=args.location,
                subnet_id=args.endpoint_subnet_id,
                target_id=account.id,
                group=group,
                zone_id=zone,
                tags=args.tags,
                opts=child,
            )
        self.data_account_name = data.name
        self.data_account_id = data.id
        self.audit_account_id = audit.id
        self.account_ids = pulumi.Output.all(data=data.id, audit=audit.id)
        self.container_names = pulumi.Output.all(**{p: c.name for p, c in containers.items()})
        self.container_ids = {p: c.id for p, c in containers.items()}
        self.register_outputs({"account_ids": self.account_ids, "container_names": self.container_names})

    @staticmethod
    def _account(
        name: str, role: str, args: StorageArgs, child: pulumi.ResourceOptions, *, hns: bool, immutable_days: int | None = None
    ) -> storage.StorageAccount:
        immutability = None
        if immutable_days is not None:
            # "A policy can only be created in a Disabled or Unlocked state [...] Only a policy in an
            # Unlocked state can transition to a Locked state which cannot be reverted" (checked:
            # pulumi-azure-native 3.29.0 sdk/python storage/_inputs.py AccountImmutabilityPolicyPropertiesArgs.state).
            immutability = storage.ImmutableStorageAccountArgs(
                enabled=True,
                immutability_policy=storage.AccountImmutabilityPolicyPropertiesArgs(
                    immutability_period_since_creation_in_days=immutable_days,
                    state="Locked" if args.lock_audit_immutability else "Unlocked",
                    allow_protected_append_writes=True,
                ),
            )
        return storage.StorageAccount(
            f"{name}-{role}",
            account_name=compact_name("sahab", args.environment, role),
            resource_group_name=args.resource_group,
            location=args.location,
            kind="StorageV2",
            sku=storage.SkuArgs(name=f"Standard_{args.replication}"),
            is_hns_enabled=hns,
            access_tier=storage.AccessTier.HOT,
            identity=storage.IdentityArgs(type="UserAssigned", user_assigned_identities=[args.cmk_identity_id]),
            encryption=storage.EncryptionArgs(
                key_source="Microsoft.Keyvault",
                key_vault_properties=storage.KeyVaultPropertiesArgs(key_name=args.key_name, key_vault_uri=args.vault_uri),
                encryption_identity=storage.EncryptionIdentityArgs(encryption_user_assigned_identity=args.cmk_identity_id),
                require_infrastructure_encryption=True,
            ),
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            # Audit: diagnostic settings deliver through the trusted-services exception, which
            # needs "selected networks" (no IP rules) rather than public access disabled.
            public_network_access="Enabled" if immutable_days is not None else "Disabled",
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action=storage.DefaultAction.DENY, bypass="AzureServices" if immutable_days is not None else "None"
            ),
            immutable_storage_with_versioning=immutability,
            tags=args.tags,
            opts=child,
        )

    @staticmethod
    def _blob_service(name: str, role: str, account: storage.StorageAccount, args: StorageArgs, child: pulumi.ResourceOptions) -> None:
        storage.BlobServiceProperties(
            f"{name}-{role}-blob",
            account_name=account.name,
            resource_group_name=args.resource_group,
            blob_services_name="default",
            # Hierarchical namespace accounts do not take blob versioning; the audit account needs it
            # for version-level immutability.
            is_versioning_enabled=None if role == "data" else True,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=30),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=30),
            opts=child,
        )
