"""The cloud part of `sahab verify` against a moto server standing in for AWS.

The uae-central plan is deployed into moto (tests/verify/moto_platform.py): every cloud check
passes. Then one property is broken at a time, the way it happens after a deploy (a console
click, a script, a drifted setting), and exactly that check fails, naming the resource.

The server is this module's own moto (started with the shared launcher `workloads.local.servers`),
reset before each case: the cases need a pristine account each, S3 bucket names are global
across moto's accounts, and resetting the session-wide `s3_server` would wipe other tests' data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.request import Request, urlopen

import pytest
from moto_platform import Moto, deploy

from sahab.ops.verify.base import failing
from sahab.ops.verify.cloud import Aws, cloud_checks
from sahab.ops.verify.context import parse_outputs, promises_from_plan
from workloads.local import servers

pytestmark = pytest.mark.slow
REGION = "me-central-1"
# The regions the cases touch; a scan of every region moto knows costs ~10 s per case on 2 cores
# (moto builds each service's backend per region). The runner test scans them all.
SCAN = ("me-central-1", "eu-west-1", "us-east-1")


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    with servers.start_s3(tmp_path_factory.mktemp("verify-moto")) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ENDPOINT_URL", server.url)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.delenv("AWS_PROFILE", raising=False)
        yield server.url


@pytest.fixture(scope="module")
def clients():
    """boto3 clients shared by the cases (making one costs more than a check)."""
    import boto3

    return boto3.session.Session(), {}


@dataclass
class Deployed:
    moto: Moto
    outputs: dict[str, Any]
    plan_json: dict[str, Any]
    clients: tuple[Any, dict]

    def failing(self) -> dict[str, list[str]]:
        session, cache = self.clients
        aws = Aws(region=REGION, scan_regions=SCAN, session=session, _clients=cache)
        return failing(cloud_checks(promises_from_plan(self.plan_json), parse_outputs(self.outputs, "moto outputs"), aws))

    def bucket(self, purpose: str) -> str:
        return self.outputs["bucket_names"][purpose]

    def key(self, purpose: str) -> str:
        return self.outputs["keys"][purpose]


@pytest.fixture(scope="module")
def plan_json(uae_plan):
    return uae_plan.to_json()


@pytest.fixture
def deployed(moto_url, uae_plan, plan_json, clients) -> Deployed:
    urlopen(Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=60).read()
    moto = Moto(moto_url, REGION)
    return Deployed(moto, deploy(uae_plan, moto), plan_json, clients)


def test_the_deployed_plan_passes_every_cloud_check(deployed):
    session, cache = deployed.clients
    checks = cloud_checks(
        promises_from_plan(deployed.plan_json), parse_outputs(deployed.outputs, "moto"), Aws(region=REGION, scan_regions=SCAN, session=session, _clients=cache)
    )
    assert failing(checks) == {}, "the plan as deployed must pass every cloud check"
    ids = {c.id for c in checks}
    for bucket in deployed.outputs["bucket_names"].values():
        for check in (
            "cloud-s3-encrypted-with-stack-key",
            "cloud-s3-public-access-blocked",
            "cloud-s3-versioning",
            "cloud-s3-replication-in-region",
            "cloud-s3-bucket-in-region",
        ):
            assert f"{check}[{bucket}]" in {c.name for c in checks}, f"{check} is not run on bucket {bucket}"
    assert f"cloud-s3-object-lock[{deployed.bucket('audit')}]" in {c.name for c in checks}, "Object Lock is promised on the audit bucket"
    assert {
        "cloud-tagged-resources-in-region",
        "cloud-cloudtrail-logging",
        "cloud-cloudtrail-log-file-validation",
        "cloud-kms-key-enabled",
        "cloud-ecr-replication-in-region",
    } <= ids
    assert sum(c.id == "cloud-ecr-immutable-tags" for c in checks) == len(deployed.outputs["registry_urls"]), "every planned repository is checked"
    assert {
        "cloud-elasticache-encrypted-with-stack-key",
        "cloud-logs-encrypted-with-stack-key",
        "cloud-eks-secrets-encrypted-with-stack-key",
        "cloud-eks-endpoint-private",
        "cloud-rds-encrypted-with-stack-key",
    } <= ids
    assert sum(c.id == "cloud-secret-encrypted-with-stack-key" for c in checks) == 2, "the database's and the online store's secrets are checked"


# --- one broken property per case -----------------------------------------------------------------

TRAIL = "sahab-uae-central-audit"


def _public(d: Deployed) -> str:
    d.moto.client("s3").delete_public_access_block(Bucket=d.bucket("data-lake"))
    return f"cloud-s3-public-access-blocked[{d.bucket('data-lake')}]"


def _half_public(d: Deployed) -> str:
    d.moto.client("s3").put_public_access_block(
        Bucket=d.bucket("model-artifacts"),
        PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": False, "RestrictPublicBuckets": False},
    )
    return f"cloud-s3-public-access-blocked[{d.bucket('model-artifacts')}]"


def _key_deletion(d: Deployed) -> str:
    d.moto.client("kms").schedule_key_deletion(KeyId=d.key("data").split("/")[-1], PendingWindowInDays=7)  # moto wants the id here
    return f"cloud-kms-key-enabled[{d.key('data')}]"


def _replica(d: Deployed) -> str:
    eu = d.moto.client("s3", "eu-west-1")
    eu.create_bucket(Bucket="uae-central-data-lake-replica", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    eu.put_bucket_versioning(Bucket="uae-central-data-lake-replica", VersioningConfiguration={"Status": "Enabled"})
    d.moto.client("s3").put_bucket_replication(
        Bucket=d.bucket("data-lake"),
        ReplicationConfiguration={
            "Role": "arn:aws:iam::123456789012:role/replication",
            "Rules": [
                {
                    "ID": "dr-copy",
                    "Status": "Enabled",
                    "Priority": 1,
                    "Filter": {},
                    "DeleteMarkerReplication": {"Status": "Disabled"},
                    "Destination": {"Bucket": "arn:aws:s3:::uae-central-data-lake-replica"},
                }
            ],
        },
    )
    return f"cloud-s3-replication-in-region[{d.bucket('data-lake')}]"


def _versioning(d: Deployed) -> str:
    d.moto.client("s3").put_bucket_versioning(Bucket=d.bucket("model-artifacts"), VersioningConfiguration={"Status": "Suspended"})
    return f"cloud-s3-versioning[{d.bucket('model-artifacts')}]"


def _aes256(d: Deployed) -> str:
    d.moto.client("s3").put_bucket_encryption(
        Bucket=d.bucket("offline-features"), ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    )
    return f"cloud-s3-encrypted-with-stack-key[{d.bucket('offline-features')}]"


def _wrong_key(d: Deployed) -> str:
    # The logs key is the stack's too, but the plan encrypts the data lake with the data key.
    d.moto.client("s3").put_bucket_encryption(
        Bucket=d.bucket("data-lake"),
        ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": d.key("logs")}}]},
    )
    return f"cloud-s3-encrypted-with-stack-key[{d.bucket('data-lake')}]"


def _lock_weakened(d: Deployed) -> str:
    d.moto.client("s3").put_object_lock_configuration(
        Bucket=d.bucket("audit"), ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
    )
    return f"cloud-s3-object-lock[{d.bucket('audit')}]"


def _trail_stopped(d: Deployed) -> str:
    d.moto.client("cloudtrail").stop_logging(Name=TRAIL)
    return f"cloud-cloudtrail-logging[{TRAIL}]"


def _trail_unvalidated(d: Deployed) -> str:
    d.moto.client("cloudtrail").update_trail(Name=TRAIL, EnableLogFileValidation=False)
    return f"cloud-cloudtrail-log-file-validation[{TRAIL}]"


def _trail_elsewhere(d: Deployed) -> str:
    d.moto.client("cloudtrail").update_trail(Name=TRAIL, S3BucketName=d.bucket("data-lake"))
    return f"cloud-cloudtrail-delivers-to-audit-bucket[{TRAIL}]"


def _trail_key(d: Deployed) -> str:
    d.moto.client("cloudtrail").update_trail(Name=TRAIL, KmsKeyId=d.key("data"))
    return f"cloud-cloudtrail-encrypted-with-stack-key[{TRAIL}]"


def _rotation_off(d: Deployed) -> str:
    d.moto.client("kms").disable_key_rotation(KeyId=d.key("logs").split("/")[-1])
    return f"cloud-kms-key-rotation[{d.key('logs')}]"


def _multi_region_key(d: Deployed) -> str:
    # A key cannot become multi-Region in place: the cluster (whose secrets encryption cannot be
    # changed either) was recreated on a multi-Region key, which the outputs now name.
    kms, eks = d.moto.client("kms"), d.moto.client("eks")
    arn = kms.create_key(Description="cluster key", MultiRegion=True)["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=arn.split("/")[-1])
    old = eks.describe_cluster(name=d.outputs["cluster_name"])["cluster"]
    eks.delete_cluster(name=old["name"])
    vpc = old["resourcesVpcConfig"]
    eks.create_cluster(
        name=old["name"],
        roleArn=old["roleArn"],
        encryptionConfig=[{"resources": ["secrets"], "provider": {"keyArn": arn}}],
        resourcesVpcConfig={
            "subnetIds": vpc["subnetIds"],
            "endpointPublicAccess": vpc["endpointPublicAccess"],
            "endpointPrivateAccess": vpc["endpointPrivateAccess"],
        },
    )
    d.outputs["keys"]["cluster"] = arn
    return f"cloud-kms-key-single-region[{arn}]"


def _tagged_copy_abroad(d: Deployed) -> str:
    tags = [{"TagKey": k, "TagValue": v} for k, v in promises_from_plan(d.plan_json).tags.items()]
    arn = d.moto.client("kms", "eu-west-1").create_key(Description="copy of the data key", Tags=tags)["KeyMetadata"]["Arn"]
    return "cloud-tagged-resources-in-region[" + ",".join(f"{t['TagKey']}={t['TagValue']}" for t in sorted(tags, key=lambda t: t["TagKey"])) + "]", arn


def _mutable_tags(d: Deployed) -> str:
    d.moto.client("ecr").put_image_tag_mutability(repositoryName="sahab/serving", imageTagMutability="MUTABLE")
    return "cloud-ecr-immutable-tags[sahab/serving]"


def _scan_off(d: Deployed) -> str:
    d.moto.client("ecr").put_image_scanning_configuration(repositoryName="sahab/training", imageScanningConfiguration={"scanOnPush": False})
    return "cloud-ecr-scan-on-push[sahab/training]"


def _registry_replication(d: Deployed) -> str:
    d.moto.client("ecr").put_replication_configuration(
        replicationConfiguration={"rules": [{"destinations": [{"region": "eu-west-1", "registryId": "123456789012"}]}]}
    )
    return f"cloud-ecr-replication-in-region[registry {REGION}]", "eu-west-1"


def _secret_key(d: Deployed) -> str:
    other = d.moto.client("kms").create_key(Description="someone's key")["KeyMetadata"]["Arn"]
    arn = d.outputs["online_store_secret"]
    d.moto.client("secretsmanager").update_secret(SecretId=arn, KmsKeyId=other)
    return f"cloud-secret-encrypted-with-stack-key[{arn}]"


def _log_group_key(d: Deployed) -> str:
    # EKS recreates its control-plane log group unencrypted when it was deleted.
    logs = d.moto.client("logs")
    logs.delete_log_group(logGroupName="/aws/eks/sahab-uae-central/cluster")
    logs.create_log_group(logGroupName="/aws/eks/sahab-uae-central/cluster")
    return "cloud-logs-encrypted-with-stack-key[/aws/eks/sahab-uae-central/cluster]"


def _public_endpoint(d: Deployed) -> str:
    d.moto.client("eks").update_cluster_config(
        name=d.outputs["cluster_name"], resourcesVpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}
    )
    return f"cloud-eks-endpoint-private[{d.outputs['cluster_name']}]"


def _public_database(d: Deployed) -> str:
    identifier = d.outputs["registry_database_endpoint"].split(".", 1)[0]
    d.moto.client("rds").modify_db_instance(DBInstanceIdentifier=identifier, PubliclyAccessible=True, ApplyImmediately=True)
    return f"cloud-rds-private-multi-az[{identifier}]"


def _cache_unencrypted(d: Deployed) -> str:
    # At-rest encryption cannot be turned off in place: the online store was replaced by a group
    # without it, which the outputs now name.
    made = d.moto.client("elasticache").create_replication_group(
        ReplicationGroupId="uae-central-online-store-v2",
        ReplicationGroupDescription="replacement",
        Engine="redis",
        CacheNodeType="cache.r6g.large",
        NumCacheClusters=3,
        AtRestEncryptionEnabled=False,
        TransitEncryptionEnabled=True,
        AuthToken="offline-auth-token-0123456789",
    )["ReplicationGroup"]
    d.outputs["online_store_endpoint"] = made["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
    return "cloud-elasticache-encrypted-with-stack-key[uae-central-online-store-v2]"


BREAKS: dict[str, Callable[[Deployed], Any]] = {
    "online store recreated unencrypted": _cache_unencrypted,
    "log group without its key": _log_group_key,
    "cluster endpoint made public": _public_endpoint,
    "database made public": _public_database,
    "bucket made public": _public,
    "bucket half public": _half_public,
    "key scheduled for deletion": _key_deletion,
    "replica in eu-west-1": _replica,
    "versioning suspended": _versioning,
    "bucket on AES256": _aes256,
    "bucket on the wrong stack key": _wrong_key,
    "object lock weakened": _lock_weakened,
    "trail stopped": _trail_stopped,
    "trail without validation": _trail_unvalidated,
    "trail delivering elsewhere": _trail_elsewhere,
    "trail on the wrong key": _trail_key,
    "key rotation off": _rotation_off,
    "multi-region key": _multi_region_key,
    "tagged copy in eu-west-1": _tagged_copy_abroad,
    "mutable image tags": _mutable_tags,
    "scan on push off": _scan_off,
    "registry replicating to eu-west-1": _registry_replication,
    "secret on a foreign key": _secret_key,
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_one_broken_property_fails_exactly_its_check(deployed, case):
    expected = BREAKS[case](deployed)
    expected, named = expected if isinstance(expected, tuple) else (expected, expected.split("[", 1)[1].rstrip("]"))
    found = deployed.failing()
    assert list(found) == [expected], f"{case}: expected exactly {expected} to fail, got {json.dumps(found, indent=1)}"
    message = "\n".join(found[expected])
    assert named in message, f"{case}: the message must name {named}: {message}"
    assert "Fix:" in message, f"{case}: the message must say how to fix it: {message}"
