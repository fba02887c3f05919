"""Data services of the registry and the feature store, private and CMK-encrypted:

* PostgreSQL flexible server for MLflow: in the delegated data subnet with its private DNS zone,
  no public access, data encrypted with the Key Vault key, Entra ID and password auth (MLflow's
  URI takes a password, kept in Key Vault), zone-redundant HA where the region has zones, backups
  kept in the region (no geo-redundant backup);
* Azure Managed Redis (`redisenterprise`, since Azure Cache for Redis takes no new instances) for
  the Feast online store: TLS 1.2, encrypted client protocol, private endpoint only, CMK; its
  access key is kept in Key Vault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_random as random
import pulumiverse_time as time
from pulumi_azure_native import dbforpostgresql as pg
from pulumi_azure_native import keyvault, redisenterprise

from components.azure._common import private_endpoint

REDIS_PORT = 10000  # Azure Managed Redis listens on 10000 (TLS)
# A flexible server takes one change at a time, and refuses one right after it is created ("ServerIsBusy:
# Cannot complete operation while server ... is busy processing another operation"; a short wait after
# the server fixes it, "verified with Azure technical support": checked Azure/azure-postgresql issue 134,
# and Azure/bicep-registry-modules issue 4451 for the same error on a configuration). So: the server, a
# settling wait, the configuration, then the database, never two at once.
SETTLE_SECONDS = 60
ADMIN_LOGIN = "sahab"


@dataclass(frozen=True, kw_only=True)
class _Common:
    environment: str
    """Environment name."""
    resource_group: pulumi.Input[str]
    """Data resource group."""
    location: str
    """UAE location."""
    vault_name: pulumi.Input[str]
    """Key Vault that keeps the credentials."""
    key_id: pulumi.Input[str]
    """Customer-managed key (versionless)."""
    cmk_identity_id: pulumi.Input[str]
    """User-assigned identity allowed to unwrap with the key."""
    tags: dict[str, str]
    """Tags of every taggable child."""


def _secret(name: str, secret_name: str, value: pulumi.Input[str], args: _Common, opts: pulumi.ResourceOptions) -> keyvault.Secret:
    return keyvault.Secret(
        name,
        secret_name=secret_name,
        vault_name=args.vault_name,
        resource_group_name=args.resource_group,
        properties=keyvault.SecretPropertiesArgs(value=pulumi.Output.secret(value), content_type="application/json"),
        tags=args.tags,
        opts=opts,
    )


def _secret_uri(secret: keyvault.Secret) -> pulumi.Output[str]:
    # `properties` carries the (secret) value; its URI is not secret and goes into pod specs.
    return pulumi.Output.unsecret(secret.properties.apply(lambda p: p.secret_uri))


@dataclass(frozen=True, kw_only=True)
class PostgresServerArgs(_Common):
    subnet_id: pulumi.Input[str]
    """Delegated data subnet (Microsoft.DBforPostgreSQL/flexibleServers)."""
    dns_zone_id: pulumi.Input[str]
    """`<name>.private.postgres.database.azure.com` zone linked to the VNet."""
    tenant_id: pulumi.Input[str]
    """Entra ID tenant (Entra authentication)."""
    sku_name: str = "Standard_D4ds_v5"
    """Compute size (General Purpose tier)."""
    storage_gib: int = 128
    version: str = "16"
    zone_redundant: bool = True
    """Standby in another zone (only where the region has zones)."""
    backup_retention_days: int = 14


class PostgresServer(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    secret_id: pulumi.Output[str]

    def __init__(self, name: str, args: PostgresServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:PostgresServer", name, None, opts)
        if not 7 <= args.backup_retention_days <= 35:
            raise ValueError(f"backup_retention_days: {args.backup_retention_days} is outside 7-35 (flexible server)")
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child)
        # RandomPassword marks `result` secret (additionalSecretOutputs); this keeps it one even
        # where that option is not honoured. (Annotated: mypy cannot solve `secret`'s Input[T] from an Output alone.)
        admin_password: pulumi.Output[str] = pulumi.Output.secret(password.result)
        server = pg.Server(
            f"{name}-server",
            server_name=f"sahab-{args.environment}-mlflow",
            resource_group_name=args.resource_group,
            location=args.location,
            version=args.version.split(".")[0],
            sku=pg.SkuArgs(name=args.sku_name, tier="GeneralPurpose"),
            storage=pg.StorageArgs(storage_size_gb=args.storage_gib, auto_grow="Enabled"),
            backup=pg.BackupArgs(backup_retention_days=args.backup_retention_days, geo_redundant_backup="Disabled"),
            high_availability=pg.HighAvailabilityArgs(mode="ZoneRedundant" if args.zone_redundant else "Disabled"),
            network=pg.NetworkArgs(
                delegated_subnet_resource_id=args.subnet_id, private_dns_zone_arm_resource_id=args.dns_zone_id, public_network_access="Disabled"
            ),
            identity=pg.UserAssignedIdentityArgs(
                type="UserAssigned",
                # ARM's {"<identity id>": {}}: the identity's client and principal ids are ARM's to fill in.
                user_assigned_identities=pulumi.Output.from_input(args.cmk_identity_id).apply(lambda i: {i: pg.UserIdentityArgs()}),
            ),
            data_encryption=pg.DataEncryptionArgs(type="AzureKeyVault", primary_key_uri=args.key_id, primary_user_assigned_identity_id=args.cmk_identity_id),
            auth_config=pg.AuthConfigArgs(active_directory_auth="Enabled", password_auth="Enabled", tenant_id=args.tenant_id),
            administrator_login=ADMIN_LOGIN,
            administrator_login_password=admin_password,
            tags=args.tags,
            opts=child,
        )
        settled = time.Sleep(
            f"{name}-settle",
            create_duration=f"{SETTLE_SECONDS}s",
            triggers={"server": server.id},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[server]),
        )
        tls = pg.Configuration(
            f"{name}-tls",
            configuration_name="ssl_min_protocol_version",
            server_name=server.name,
            resource_group_name=args.resource_group,
            value="TLSv1.2",
            source="user-override",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[settled]),
        )
        pg.Database(
            f"{name}-mlflow",
            database_name="mlflow",
            server_name=server.name,
            resource_group_name=args.resource_group,
            charset="UTF8",
            collation="en_US.utf8",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[tls]),
        )
        secret = _secret(f"{name}-secret", "registry-db", password.result.apply(lambda p: json.dumps({"username": ADMIN_LOGIN, "password": p})), args, child)
        self.server_id = server.id
        self.endpoint = pulumi.Output.format("{0}:5432", server.fully_qualified_domain_name)
        self.secret_id = _secret_uri(secret)
        self.register_outputs({"endpoint": self.endpoint, "secret_id": self.secret_id})


@dataclass(frozen=True, kw_only=True)
class ManagedRedisArgs(_Common):
    """`key_id` here is the key's versioned URL: Azure Managed Redis takes no other ("Key encryption key
    Url, versioned only": pulumi-azure-native 3.29.0 redisenterprise ClusterPropertiesCustomerManagedKeyEncryptionArgs)."""

    endpoint_subnet_id: pulumi.Input[str]
    """Private-endpoint subnet."""
    dns_zone_id: pulumi.Input[str]
    """`privatelink.redis.azure.net` zone."""
    sku_name: str = "Balanced_B5"
    """Azure Managed Redis SKU (Balanced_*, MemoryOptimized_*, ComputeOptimized_*)."""
    high_availability: bool = True
    """Replicated (the SLA tier); off only for development."""


class ManagedRedis(pulumi.ComponentResource):
    endpoint: pulumi.Output[str]
    secret_id: pulumi.Output[str]

    def __init__(self, name: str, args: ManagedRedisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:ManagedRedis", name, None, opts)
        if not args.sku_name.startswith(("Balanced_", "MemoryOptimized_", "ComputeOptimized_", "FlashOptimized_")):
            raise ValueError(f"sku_name: {args.sku_name!r} is not an Azure Managed Redis SKU (Balanced_B5, MemoryOptimized_M10, ...)")
        child = pulumi.ResourceOptions(parent=self)
        cluster = redisenterprise.RedisEnterprise(
            f"{name}-redis",
            cluster_name=f"sahab-{args.environment}-features",
            resource_group_name=args.resource_group,
            location=args.location,
            sku=redisenterprise.SkuArgs(name=args.sku_name),
            minimum_tls_version="1.2",
            public_network_access="Disabled",
            high_availability="Enabled" if args.high_availability else "Disabled",
            identity=redisenterprise.ManagedServiceIdentityArgs(type="UserAssigned", user_assigned_identities=[args.cmk_identity_id]),
            encryption=redisenterprise.ClusterPropertiesEncryptionArgs(
                customer_managed_key_encryption=redisenterprise.ClusterPropertiesCustomerManagedKeyEncryptionArgs(
                    key_encryption_key_url=args.key_id,
                    key_encryption_key_identity=redisenterprise.ClusterPropertiesKeyEncryptionKeyIdentityArgs(
                        identity_type="userAssignedIdentity", user_assigned_identity_resource_id=args.cmk_identity_id
                    ),
                )
            ),
            tags=args.tags,
            opts=child,
        )
        db = redisenterprise.Database(
            f"{name}-db",
            database_name="default",
            cluster_name=cluster.name,
            resource_group_name=args.resource_group,
            client_protocol="Encrypted",
            port=REDIS_PORT,
            clustering_policy="EnterpriseCluster",  # one endpoint: Feast's client needs no cluster mode
            eviction_policy="NoEviction",
            access_keys_authentication="Enabled",
            opts=child,
        )
        private_endpoint(
            f"{name}-pe",
            resource_group=args.resource_group,
            location=args.location,
            subnet_id=args.endpoint_subnet_id,
            target_id=cluster.id,
            group="redisEnterprise",
            zone_id=args.dns_zone_id,
            tags=args.tags,
            opts=child,
        )
        keys = redisenterprise.list_database_keys_output(
            cluster_name=cluster.name, database_name=db.name, resource_group_name=args.resource_group, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        secret = _secret(f"{name}-secret", "online-store", keys.primary_key.apply(lambda k: json.dumps({"password": k})), args, child)
        self.endpoint = cluster.host_name
        self.secret_id = _secret_uri(secret)
        self.register_outputs({"endpoint": self.endpoint, "secret_id": self.secret_id})
