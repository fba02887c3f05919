"""RegistryDatabase and OnlineStoreCache on their own. PostgreSQL: Multi-AZ, CMK-encrypted storage,
master secret and Performance Insights, private, TLS forced by parameter, RDS-managed password, IAM
auth, deletion protection and a final snapshot. Redis: CMK at rest, TLS in transit, a generated AUTH
token that only ever travels as a secret, kept in Secrets Manager under the data key, Multi-AZ
failover with a replica. Both: reachable on their one port from the node subnets only."""

from __future__ import annotations

import pytest

from components.aws.data_services import OnlineStoreCache, OnlineStoreCacheArgs, RegistryDatabase, RegistryDatabaseArgs
from tests.components.component_helpers import ACCOUNT_ID, REGION, SECRET, Built, build, expect, expect_all, prop, refused

DATA_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/data"
NODES = ["10.40.0.0/19", "10.40.32.0/19"]
DATA_SUBNETS = ["subnet-d1", "subnet-d2"]


@pytest.fixture(scope="module")
def database() -> Built:
    args = RegistryDatabaseArgs(vpc_id="vpc-1", subnet_ids=DATA_SUBNETS, client_cidrs=NODES, key_arn=DATA_KEY, engine_version="16.4")
    return build(lambda: RegistryDatabase("db", args))


@pytest.fixture(scope="module")
def cache() -> Built:
    return build(
        lambda: OnlineStoreCache("cache", OnlineStoreCacheArgs(vpc_id="vpc-1", subnet_ids=DATA_SUBNETS, client_cidrs=NODES, key_arn=DATA_KEY, replicas=2))
    )


def test_postgres_is_multi_az_private_and_cmk_encrypted(database: Built):
    db = database.child("db-postgres", "aws:rds/instance:Instance")
    expect_all(
        db,
        {
            "engine": "postgres",
            "engineVersion": "16.4",
            "multiAz": True,
            "storageEncrypted": True,
            "kmsKeyId": DATA_KEY,
            "publiclyAccessible": False,
            "manageMasterUserPassword": True,
            "masterUserSecretKmsKeyId": DATA_KEY,
            "iamDatabaseAuthenticationEnabled": True,
            "performanceInsightsEnabled": True,
            "performanceInsightsKmsKeyId": DATA_KEY,
            "deletionProtection": True,
            "skipFinalSnapshot": False,
            "backupRetentionPeriod": 14,
        },
    )
    assert prop(db, "password", None) is None, f"{db.urn}: password set in the program (RDS manages the master password)"
    expect(db, "dbSubnetGroupName", database.child("db-subnets").outputs["name"])
    expect(db, "vpcSecurityGroupIds", [database.id_of(database.child("db-sg"))])
    expect(database.child("db-subnets"), "subnetIds", DATA_SUBNETS)


def test_postgres_forces_tls_through_its_parameter_group(database: Built):
    params = database.child("db-params", "aws:rds/parameterGroup:ParameterGroup")
    expect(params, "family", "postgres16")
    values = {p["name"]: p["value"] for p in prop(params, "parameters")}
    assert values.get("rds.force_ssl") == "1", f"{params.urn}: parameters rds.force_ssl is {values.get('rds.force_ssl')!r}"
    expect(database.child("db-postgres"), "parameterGroupName", params.outputs["name"])
    assert database.output("master_secret_arn").value.startswith(f"arn:aws:secretsmanager:{REGION}:"), f"{database.urn}: master_secret_arn"


@pytest.mark.parametrize(("fixture", "port"), [("database", 5432), ("cache", 6379)])
def test_only_node_subnets_reach_the_one_port(fixture: str, port: int, request: pytest.FixtureRequest):
    built: Built = request.getfixturevalue(fixture)
    (sg,) = built.of_type("aws:ec2/securityGroup:SecurityGroup")
    expect(sg, "vpcId", "vpc-1")
    ingress = prop(sg, "ingress")
    assert [(r["protocol"], r["fromPort"], r["toPort"], r["cidrBlocks"]) for r in ingress] == [("tcp", port, port, NODES)], f"{sg.urn}: ingress {ingress}"
    expect(sg, "egress", [])


def test_redis_is_encrypted_at_rest_and_in_transit_with_auth(cache: Built):
    group = cache.child("cache-redis", "aws:elasticache/replicationGroup:ReplicationGroup")
    expect_all(
        group,
        {
            "atRestEncryptionEnabled": True,
            "kmsKeyId": DATA_KEY,
            "transitEncryptionEnabled": True,
            "authToken": SECRET,
            "numCacheClusters": 3,
            "automaticFailoverEnabled": True,
            "multiAzEnabled": True,
            "port": 6379,
        },
    )
    expect(group, "subnetGroupName", cache.child("cache-subnets").outputs["name"])
    token = cache.child("cache-auth-token", "random:index/randomPassword:RandomPassword")
    expect(token, "length", 64)
    assert token.urn in group.options.get("dependsOn", []), f"{group.urn}: authToken does not come from {token.urn}"


def test_redis_auth_token_is_kept_in_secrets_manager_under_the_data_key(cache: Built):
    secret = cache.child("cache-auth", "aws:secretsmanager/secret:Secret")
    expect(secret, "kmsKeyId", DATA_KEY)
    version = cache.child("cache-auth-value", "aws:secretsmanager/secretVersion:SecretVersion")
    expect(version, "secretString", SECRET)
    expect(version, "secretId", cache.id_of(secret))
    assert cache.output("auth_secret_arn").value == secret.outputs["arn"], f"{cache.urn}: auth_secret_arn is not {secret.urn}"


def test_redis_without_replicas_has_no_failover():
    single = build(
        lambda: OnlineStoreCache("one", OnlineStoreCacheArgs(vpc_id="vpc-1", subnet_ids=DATA_SUBNETS, client_cidrs=NODES, key_arn=DATA_KEY, replicas=0))
    )
    group = single.child("one-redis")
    expect(group, "numCacheClusters", 1)
    expect(group, "automaticFailoverEnabled", False)
    expect(group, "multiAzEnabled", False)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (
            lambda: RegistryDatabase("db", RegistryDatabaseArgs(vpc_id="v", subnet_ids=["s"], client_cidrs=NODES, key_arn=DATA_KEY, backup_retention_days=36)),
            "backup_retention_days",
        ),
        (lambda: OnlineStoreCache("c", OnlineStoreCacheArgs(vpc_id="v", subnet_ids=["s"], client_cidrs=NODES, key_arn=DATA_KEY, replicas=-1)), "replicas"),
    ],
)
def test_out_of_range_args_are_refused_before_any_resource(make, field: str):
    refusal = refused(make)
    assert refusal.message.startswith(f"{field}:"), f"data service: message {refusal.message!r} does not name {field}"
    assert not refusal.children, f"data service registered {[r.urn for r in refusal.children]} before refusing {field}"
