"""Key Vault with per-purpose customer-managed keys, each with a rotation policy: RBAC
authorization, purge protection and soft delete, no public network access (a private endpoint
only), and the identities that unwrap with the keys: one user-assigned identity for the services
that take one (storage, registry, PostgreSQL, Redis), and a disk encryption set for node disks and
persistent volumes.

Every grant a service uses while it is created is followed by a wait for Azure RBAC to propagate,
and the outputs that name the keys, the CMK identity and the disk encryption set resolve only after
it: whatever takes one as an input (storage accounts, the registry, PostgreSQL, Redis, the cluster)
depends on its grant, so the first `pulumi up` succeeds.

The cluster (etcd) and cache keys are the exceptions to "versionless": Azure Managed Redis takes only a
versioned key URL (checked: pulumi-azure-native 3.29.0 sdk/python redisenterprise/_inputs.py
ClusterPropertiesCustomerManagedKeyEncryptionArgs.key_encryption_key_url, "versioned only"), and AKS KMS takes a key id with its version and
is moved to a new version by updating that id (checked: MicrosoftDocs/azure-aks-docs
articles/aks/use-kms-etcd-encryption.md, "Rotate existing keys in a private key vault", fetched
2026-12). Their versions therefore expire after three rotation periods, not two: AKS and Redis keep
using the old version until `pulumi refresh` then `pulumi up` hand them the new one, and AKS needs the
old one valid until the next rotation (README, "Azure: rotating the etcd key")."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import compute, keyvault, managedidentity

from components.azure._common import RBAC_PROPAGATION_SECONDS, after, assign, compact_name, private_endpoint, propagated

# What each key encrypts. AKS KMS (etcd secrets) takes its own key so it can rotate on its own.
# `tokenisation` wraps the environment's tokenisation key (workloads/privacy/keys.py VaultWrapper, RSA-OAEP-256)
# for the project pods' own identities: apart from the services' keys, so those identities can unwrap nothing else.
PURPOSES = ("storage", "disks", "cluster", "database", "cache", "registry", "tokenisation")
# Operations a key allows: the services' keys wrap, and some encrypt; the tokenisation key only wraps.
KEY_OPS = {"tokenisation": ["wrapKey", "unwrapKey"]}
DEFAULT_KEY_OPS = ["wrapKey", "unwrapKey", "encrypt", "decrypt"]
ROTATE_MIN_DAYS, ROTATE_MAX_DAYS = 90, 2560
# A key version expires this many rotation periods after it is created: two for keys the services
# follow by their versionless id, three for the keys AKS KMS and Redis pin (see the module docstring).
EXPIRY_PERIODS = {"cluster": 3, "cache": 3}
DEFAULT_EXPIRY_PERIODS = 2


@dataclass(frozen=True, kw_only=True)
class KeyVaultArgs:
    environment: str
    """Environment name (the vault name is derived from it: globally unique, 24 characters)."""
    resource_group: pulumi.Input[str]
    """Data resource group."""
    location: str
    """UAE location."""
    tenant_id: pulumi.Input[str]
    """Entra ID tenant of the vault."""
    subscription_id: pulumi.Input[str]
    """Subscription (role definition ids)."""
    endpoint_subnet_id: pulumi.Input[str]
    """Private-endpoint subnet."""
    dns_zone_id: pulumi.Input[str]
    """`privatelink.vaultcore.azure.net` zone."""
    rotation_days: int = 365
    """Keys rotate this long after creation (90-2560)."""
    rbac_propagation_seconds: int = RBAC_PROPAGATION_SECONDS
    """Wait after a grant before anything that needs it is created."""
    tags: dict[str, str]
    """Tags of every taggable child."""


class KeyVault(pulumi.ComponentResource):
    vault_id: pulumi.Output[str]
    vault_uri: pulumi.Output[str]
    key_ids: pulumi.Output[dict[str, str]]
    """Versionless key URIs per purpose (services follow rotations)."""
    cmk_identity_id: pulumi.Output[str]
    disk_encryption_set_id: pulumi.Output[str]

    def __init__(self, name: str, args: KeyVaultArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:KeyVault", name, None, opts)
        if not ROTATE_MIN_DAYS <= args.rotation_days <= ROTATE_MAX_DAYS:
            raise ValueError(f"rotation_days: {args.rotation_days} is outside {ROTATE_MIN_DAYS}-{ROTATE_MAX_DAYS}")
        child = pulumi.ResourceOptions(parent=self)
        rg, loc = args.resource_group, args.location
        vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=compact_name("sahab", args.environment, "kv"),
            resource_group_name=rg,
            location=loc,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=args.tenant_id,
                sku=keyvault.SkuArgs(family="A", name=keyvault.SkuName.PREMIUM),  # HSM-backed keys
                enable_rbac_authorization=True,
                enable_purge_protection=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90,
                public_network_access="Disabled",
                network_acls=keyvault.NetworkRuleSetArgs(default_action="Deny", bypass="AzureServices"),
            ),
            tags=args.tags,
            opts=child,
        )
        private_endpoint(
            f"{name}-pe",
            resource_group=rg,
            location=loc,
            subnet_id=args.endpoint_subnet_id,
            target_id=vault.id,
            group="vault",
            zone_id=args.dns_zone_id,
            tags=args.tags,
            opts=child,
        )
        keys = {p: self._key(name, p, vault, rg, args, child) for p in PURPOSES}
        cmk = managedidentity.UserAssignedIdentity(
            f"{name}-cmk", resource_name_=f"{name}-cmk", resource_group_name=rg, location=loc, tags=args.tags, opts=child
        )
        cmk_grant = assign(
            f"{name}-cmk-crypto",
            subscription_id=args.subscription_id,
            role="Key Vault Crypto Service Encryption User",
            principal_id=cmk.principal_id,
            scope=vault.id,
            opts=child,
        )
        cmk_ready = propagated(f"{name}-cmk-propagation", [cmk_grant], args.rbac_propagation_seconds, child)
        des = compute.DiskEncryptionSet(
            f"{name}-des",
            disk_encryption_set_name=f"{name}-des",
            resource_group_name=rg,
            location=loc,
            encryption_type="EncryptionAtRestWithCustomerKey",
            active_key=compute.KeyForDiskEncryptionSetArgs(key_url=keys["disks"].key_uri_with_version, source_vault=compute.SourceVaultArgs(id=vault.id)),
            rotation_to_latest_key_version_enabled=True,
            identity=compute.EncryptionSetIdentityArgs(type="SystemAssigned"),
            tags=args.tags,
            opts=child,
        )
        des_grant = assign(
            f"{name}-des-crypto",
            subscription_id=args.subscription_id,
            role="Key Vault Crypto Service Encryption User",
            principal_id=des.identity.apply(lambda i: i.principal_id if i else ""),
            scope=vault.id,
            opts=child,
        )
        des_ready = propagated(f"{name}-des-propagation", [des_grant], args.rbac_propagation_seconds, child)
        self.vault_id = vault.id
        self.vault_name = vault.name
        self.vault_uri = vault.properties.apply(lambda p: p.vault_uri)
        # Keys and the identity that unwraps them reach their consumers only once the grant has propagated.
        self.key_ids = pulumi.Output.all(**{p: after(k.key_uri, cmk_ready) for p, k in keys.items()})
        self.key_names = {p: after(k.name, cmk_ready) for p, k in keys.items()}
        self.cluster_key_versioned_id = keys["cluster"].key_uri_with_version
        # Key ids with their version, for the services that take no other (Azure Managed Redis).
        self.versioned_key_ids = pulumi.Output.all(**{p: after(k.key_uri_with_version, cmk_ready) for p, k in keys.items()})
        # ARM ids of the keys (`<vault id>/keys/<name>`): the scope of a role assignment on one key.
        self.key_resource_ids = {p: k.id for p, k in keys.items()}
        self.cmk_identity_id = after(cmk.id, cmk_ready)
        self.cmk_identity_client_id = after(cmk.client_id, cmk_ready)
        self.disk_encryption_set_id = after(des.id, des_ready)
        self.register_outputs(
            {
                "vault_id": self.vault_id,
                "vault_uri": self.vault_uri,
                "key_ids": self.key_ids,
                "cmk_identity_id": self.cmk_identity_id,
                "disk_encryption_set_id": self.disk_encryption_set_id,
            }
        )

    @staticmethod
    def _key(name: str, purpose: str, vault: keyvault.Vault, rg, args: KeyVaultArgs, child: pulumi.ResourceOptions) -> keyvault.Key:
        days = args.rotation_days
        expiry_days = EXPIRY_PERIODS.get(purpose, DEFAULT_EXPIRY_PERIODS) * days
        return keyvault.Key(
            f"{name}-{purpose}",
            key_name=f"sahab-{purpose}",
            vault_name=vault.name,
            resource_group_name=rg,
            properties=keyvault.KeyPropertiesArgs(
                kty="RSA-HSM",
                key_size=3072 if purpose != "cluster" else 2048,  # AKS KMS documents RSA 2048 keys
                # checked: pulumi-azure-native 3.29.0 keyvault/_inputs.py KeyPropertiesArgs (kty, key_size, key_ops,
                # rotation_policy) and keyvault/key.py (key_uri, key_uri_with_version; `id` is the ARM id, an RBAC scope)
                key_ops=KEY_OPS.get(purpose, DEFAULT_KEY_OPS),
                rotation_policy=keyvault.RotationPolicyArgs(
                    # Expiry outlives the next rotation: a missed rotation is noticed (notify, 30 days
                    # before) before data is locked out.
                    attributes=keyvault.KeyRotationPolicyAttributesArgs(expiry_time=f"P{expiry_days}D"),
                    lifetime_actions=[
                        keyvault.LifetimeActionArgs(
                            action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.ROTATE),
                            trigger=keyvault.TriggerArgs(time_after_create=f"P{days}D"),
                        ),
                        keyvault.LifetimeActionArgs(
                            action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.NOTIFY),
                            trigger=keyvault.TriggerArgs(time_before_expiry="P30D"),
                        ),
                    ],
                ),
            ),
            tags=args.tags,
            opts=child,
        )
