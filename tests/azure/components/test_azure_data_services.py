"""PostgresServer and ManagedRedis on their own. PostgreSQL: zone-redundant HA, in the delegated data
subnet with its private DNS zone and public access off, data encrypted with the Key Vault key through
the user-assigned identity, backups kept in the region, TLS >= 1.2 forced, Entra ID auth, the
generated password kept only in Key Vault as a secret. Managed Redis: TLS 1.2, encrypted client
protocol, public access off, CMK, a private endpoint in the redisEnterprise zone, its key kept in Key
Vault. Bad backup retention and non-Managed-Redis SKUs refused."""

from __future__ import annotations

import pytest

from components.azure.data_services import REDIS_PORT, ManagedRedis, ManagedRedisArgs, PostgresServer, PostgresServerArgs
from tests.components.component_helpers import LOCATION, SECRET, Built, build, expect, prop, refused

CMK = "/subscriptions/s/resourceGroups/sahab-unit-data/providers/Microsoft.ManagedIdentity/userAssignedIdentities/keys-cmk"
COMMON = dict(
    environment="unit", resource_group="sahab-unit-data", location=LOCATION, vault_name="sahabunitkv", cmk_identity_id=CMK, tags={"sahab.ae/env": "unit"}
)


def _postgres(**over) -> PostgresServerArgs:
    base = dict(
        COMMON, key_id="https://sahabunitkv.vault.azure.net/keys/sahab-database", subnet_id="/sn/data", dns_zone_id="/zones/postgres", tenant_id="tenant"
    )
    return PostgresServerArgs(**{**base, **over})


def _redis(**over) -> ManagedRedisArgs:
    base = dict(COMMON, key_id="https://sahabunitkv.vault.azure.net/keys/sahab-cache", endpoint_subnet_id="/sn/endpoints", dns_zone_id="/zones/redis")
    return ManagedRedisArgs(**{**base, **over})


@pytest.fixture(scope="module")
def postgres() -> Built:
    return build(lambda: PostgresServer("db", _postgres()))


@pytest.fixture(scope="module")
def redis() -> Built:
    return build(lambda: ManagedRedis("cache", _redis()))


def test_postgres_is_zone_redundant_private_and_cmk_encrypted(postgres: Built):
    server = postgres.child("db-server", "azure-native:dbforpostgresql:Server")
    expect(server, "serverName", "sahab-unit-mlflow")
    expect(server, "location", LOCATION)
    expect(server, "highAvailability.mode", "ZoneRedundant")
    expect(server, "network.publicNetworkAccess", "Disabled")
    expect(server, "network.delegatedSubnetResourceId", "/sn/data")
    expect(server, "network.privateDnsZoneArmResourceId", "/zones/postgres")
    expect(
        server,
        "dataEncryption",
        {"type": "AzureKeyVault", "primaryKeyURI": "https://sahabunitkv.vault.azure.net/keys/sahab-database", "primaryUserAssignedIdentityId": CMK},
    )
    expect(server, "identity", {"type": "UserAssigned", "userAssignedIdentities": {CMK: {}}})
    expect(server, "backup", {"backupRetentionDays": 14, "geoRedundantBackup": "Disabled"})
    expect(server, "authConfig", {"activeDirectoryAuth": "Enabled", "passwordAuth": "Enabled", "tenantId": "tenant"})


def test_postgres_forces_tls_12_and_creates_the_mlflow_database(postgres: Built):
    tls = postgres.child("db-tls", "azure-native:dbforpostgresql:Configuration")
    expect(tls, "configurationName", "ssl_min_protocol_version")
    expect(tls, "value", "TLSv1.2")
    expect(tls, "serverName", "sahab-unit-mlflow")
    expect(postgres.child("db-mlflow", "azure-native:dbforpostgresql:Database"), "databaseName", "mlflow")


def test_postgres_changes_are_one_at_a_time(postgres: Built):
    """A flexible server refuses a second concurrent change, and one right after it is created
    (ServerIsBusy, issue 21): server -> settling wait -> configuration -> database."""
    server = postgres.child("db-server", "azure-native:dbforpostgresql:Server")
    settle = postgres.child("db-settle", "time:index/sleep:Sleep")
    tls = postgres.child("db-tls", "azure-native:dbforpostgresql:Configuration")
    database = postgres.child("db-mlflow", "azure-native:dbforpostgresql:Database")
    for later, earlier in ((settle, server), (tls, settle), (database, tls)):
        assert earlier.urn in later.options.get("dependsOn", []), f"{later.urn}: dependsOn lacks {earlier.urn} (two changes at once on one server)"
    assert tls.urn not in settle.options.get("dependsOn", []) and database.urn not in tls.options.get("dependsOn", []), "the chain runs backwards"


def test_postgres_password_is_generated_and_kept_as_a_key_vault_secret(postgres: Built):
    password = postgres.child("db-password", "random:index/randomPassword:RandomPassword")
    expect(password, "length", 32)
    server = postgres.child("db-server")
    assert password.urn in server.options.get("dependsOn", []), f"{server.urn}: administratorLoginPassword does not come from {password.urn}"
    # The plan masks secrets: a plain password would be written to plan.json and the state (issue 21).
    expect(server, "administratorLoginPassword", SECRET)
    assert password.outputs["result"] == SECRET, f"{password.urn}: result {password.outputs['result']!r} is not kept secret (additionalSecretOutputs)"
    secret = postgres.child("db-secret", "azure-native:keyvault:Secret")
    expect(secret, "secretName", "registry-db")
    expect(secret, "vaultName", "sahabunitkv")
    expect(secret, "properties", SECRET)
    uri = postgres.output("secret_id")
    assert not uri.secret and uri.value == "https://sahabunitkv.vault.azure.net/secrets/registry-db", f"{postgres.urn}: secret_id {uri}"


def test_postgres_without_zones_turns_ha_off():
    central = build(lambda: PostgresServer("db", _postgres(location="uaecentral", zone_redundant=False)))
    expect(central.child("db-server"), "highAvailability.mode", "Disabled")


def test_redis_is_tls_only_private_and_cmk_encrypted(redis: Built):
    cluster = redis.child("cache-redis", "azure-native:redisenterprise:RedisEnterprise")
    expect(cluster, "location", LOCATION)
    expect(cluster, "minimumTlsVersion", "1.2")
    expect(cluster, "publicNetworkAccess", "Disabled")
    expect(cluster, "highAvailability", "Enabled")
    expect(cluster, "encryption.customerManagedKeyEncryption.keyEncryptionKeyUrl", "https://sahabunitkv.vault.azure.net/keys/sahab-cache")
    expect(
        cluster,
        "encryption.customerManagedKeyEncryption.keyEncryptionKeyIdentity",
        {"identityType": "userAssignedIdentity", "userAssignedIdentityResourceId": CMK},
    )
    expect(cluster, "identity", {"type": "UserAssigned", "userAssignedIdentities": [CMK]})
    db = redis.child("cache-db", "azure-native:redisenterprise:Database")
    expect(db, "clientProtocol", "Encrypted")
    expect(db, "port", REDIS_PORT)


def test_redis_is_reached_through_its_private_endpoint(redis: Built):
    cluster = redis.child("cache-redis")
    endpoint = redis.child("cache-pe", "azure-native:network:PrivateEndpoint")
    expect(endpoint, "subnet.id", "/sn/endpoints")
    (connection,) = prop(endpoint, "privateLinkServiceConnections")
    assert connection["privateLinkServiceId"] == redis.id_of(cluster) and connection["groupIds"] == ["redisEnterprise"], (
        f"{endpoint.urn}: privateLinkServiceConnections {connection}"
    )
    dns = redis.child("cache-pe-dns", "azure-native:network:PrivateDnsZoneGroup")
    expect(dns, "privateDnsZoneConfigs", [{"name": "redisEnterprise", "privateDnsZoneId": "/zones/redis"}])


def test_redis_key_is_kept_as_a_key_vault_secret(redis: Built):
    secret = redis.child("cache-secret", "azure-native:keyvault:Secret")
    expect(secret, "secretName", "online-store")
    expect(secret, "properties", SECRET)
    assert redis.output("endpoint").value == redis.child("cache-redis").outputs["hostName"], f"{redis.urn}: endpoint is not the cluster's host name"


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: PostgresServer("db", _postgres(backup_retention_days=3)), "backup_retention_days"),
        (lambda: ManagedRedis("cache", _redis(sku_name="Premium_P1")), "sku_name"),
    ],
)
def test_bad_args_are_refused_before_any_resource(make, field: str):
    refusal = refused(make)
    assert refusal.message.startswith(f"{field}:"), f"data service: message {refusal.message!r} does not name {field}"
    assert not refusal.children, f"data service registered {[r.urn for r in refusal.children]} before refusing {field}"
