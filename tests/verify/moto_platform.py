"""The uae-central plan, deployed into a moto server standing in for AWS.

`deploy(plan, clients)` creates what the plan describes (KMS keys, the five buckets with their
encryption, public access blocks, versioning, Object Lock, ownership and policies, the trail, the
ECR repositories, the online store's secret) with the plan's names and properties, the stack's
default tags on each, and returns the stack outputs `stacks/platform.py` would export for them.
Every property comes from the plan's inputs; only identifiers the cloud assigns (key ids, ARNs)
are moto's, translated wherever the plan refers to them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sahab.engine.offline import Plan

ACCOUNT = "123456789012"  # moto's default account


@dataclass
class Moto:
    url: str
    region: str

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3

        return boto3.client(service, region_name=region or self.region, endpoint_url=self.url, aws_access_key_id="testing", aws_secret_access_key="testing")


def _tags(plan: Plan) -> dict[str, str]:
    provider = next(r for r in plan.resources if r.type == "pulumi:providers:aws")
    default = provider.inputs.get("defaultTags")
    default = json.loads(default) if isinstance(default, str) else default or {}
    return dict(default.get("tags") or {})


def deploy(plan: Plan, moto: Moto) -> dict[str, Any]:
    """Create the plan's storage, keys, trail, registry and secret in moto; return the stack outputs."""
    tags = _tags(plan)
    kms, s3, ecr = moto.client("kms"), moto.client("s3"), moto.client("ecr")
    key_map: dict[str, str] = {}  # plan key ARN / id -> moto key ARN
    for r in plan.by_type("aws:kms/key:Key"):
        i = r.inputs
        meta = kms.create_key(
            Description=i.get("description", r.name),
            KeyUsage=i.get("keyUsage", "ENCRYPT_DECRYPT"),
            KeySpec=i.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"),
            MultiRegion=bool(i.get("multiRegion")),
            **({"Policy": i["policy"]} if i.get("policy") else {}),
            Tags=[{"TagKey": k, "TagValue": v} for k, v in {**tags, **(i.get("tags") or {})}.items()],
        )["KeyMetadata"]
        if i.get("enableKeyRotation"):
            kms.enable_key_rotation(KeyId=meta["KeyId"])
        key_map[r.outputs["arn"]] = meta["Arn"]
        key_map[r.outputs["keyId"]] = meta["Arn"]

    def key(ref: str) -> str:
        return key_map[ref]

    for r in plan.by_type("aws:s3/bucket:Bucket"):
        name = r.outputs["bucket"]
        s3.create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": moto.region}, ObjectLockEnabledForBucket=bool(r.inputs.get("objectLockEnabled"))
        )
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in {**tags, **(r.inputs.get("tags") or {})}.items()]})
    for r in plan.by_type("aws:s3/bucketVersioning:BucketVersioning"):
        s3.put_bucket_versioning(Bucket=r.inputs["bucket"], VersioningConfiguration={"Status": r.inputs["versioningConfiguration"]["status"]})
    for r in plan.by_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
        rule = r.inputs["rules"][0]
        default = rule["applyServerSideEncryptionByDefault"]
        s3.put_bucket_encryption(
            Bucket=r.inputs["bucket"],
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": default["sseAlgorithm"], "KMSMasterKeyID": key(default["kmsMasterKeyId"])},
                        "BucketKeyEnabled": bool(rule.get("bucketKeyEnabled")),
                    }
                ]
            },
        )
    for r in plan.by_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        i = r.inputs
        s3.put_public_access_block(
            Bucket=i["bucket"],
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": i["blockPublicAcls"],
                "IgnorePublicAcls": i["ignorePublicAcls"],
                "BlockPublicPolicy": i["blockPublicPolicy"],
                "RestrictPublicBuckets": i["restrictPublicBuckets"],
            },
        )
    for r in plan.by_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls"):
        s3.put_bucket_ownership_controls(Bucket=r.inputs["bucket"], OwnershipControls={"Rules": [{"ObjectOwnership": r.inputs["rule"]["objectOwnership"]}]})
    for r in plan.by_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"):
        retention = r.inputs["rule"]["defaultRetention"]
        s3.put_object_lock_configuration(
            Bucket=r.inputs["bucket"],
            ObjectLockConfiguration={
                "ObjectLockEnabled": r.inputs["objectLockEnabled"],
                "Rule": {"DefaultRetention": {"Mode": retention["mode"], "Days": retention["days"]}},
            },
        )
    for r in plan.by_type("aws:s3/bucketPolicy:BucketPolicy"):
        policy = _without_conditional_denies(r.inputs["policy"])
        if policy:
            s3.put_bucket_policy(Bucket=r.inputs["bucket"], Policy=policy)

    trail_client = moto.client("cloudtrail")
    for r in plan.by_type("aws:cloudtrail/trail:Trail"):
        i = r.inputs
        trail_client.create_trail(
            Name=i["name"],
            S3BucketName=i["s3BucketName"],
            S3KeyPrefix=i.get("s3KeyPrefix", ""),
            IncludeGlobalServiceEvents=i["includeGlobalServiceEvents"],
            IsMultiRegionTrail=i["isMultiRegionTrail"],
            EnableLogFileValidation=i["enableLogFileValidation"],
            KmsKeyId=key(i["kmsKeyId"]),
            TagsList=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        if i.get("enableLogging", True):
            trail_client.start_logging(Name=i["name"])

    registry_urls = {}
    for r in plan.by_type("aws:ecr/repository:Repository"):
        i = r.inputs
        enc = i["encryptionConfigurations"][0]
        repo = ecr.create_repository(
            repositoryName=i["name"],
            imageTagMutability=i["imageTagMutability"],
            imageScanningConfiguration={"scanOnPush": i["imageScanningConfiguration"]["scanOnPush"]},
            encryptionConfiguration={"encryptionType": enc["encryptionType"], "kmsKey": key(enc["kmsKey"])},
            tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["repository"]
        registry_urls[i["name"].removeprefix("sahab/")] = repo["repositoryUri"]

    secrets = moto.client("secretsmanager")
    secret_arns = {}
    for r in plan.by_type("aws:secretsmanager/secret:Secret"):
        made = secrets.create_secret(
            Name=r.name,
            Description=r.inputs.get("description", ""),
            KmsKeyId=key(r.inputs["kmsKeyId"]),
            SecretString="offline",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        secret_arns[r.name] = made["ARN"]

    logs = moto.client("logs")
    for r in plan.by_type("aws:cloudwatch/logGroup:LogGroup"):
        logs.create_log_group(logGroupName=r.inputs["name"], kmsKeyId=key(r.inputs["kmsKeyId"]), tags=tags)

    for r in plan.by_type("aws:eks/cluster:Cluster"):
        i = r.inputs
        vpc = i["vpcConfig"]
        moto.client("eks").create_cluster(
            name=i["name"],
            version=i["version"],
            roleArn=i["roleArn"],
            tags=tags,
            resourcesVpcConfig={
                "subnetIds": vpc["subnetIds"],
                "endpointPublicAccess": vpc["endpointPublicAccess"],
                "endpointPrivateAccess": vpc["endpointPrivateAccess"],
            },
            encryptionConfig=[
                {"resources": e["resources"] if "resources" in e else ["secrets"], "provider": {"keyArn": key(e["provider"]["keyArn"])}}
                for e in [i["encryptionConfig"]]
            ],
        )

    database: dict[str, str] = {}
    for r in plan.by_type("aws:rds/instance:Instance"):
        i = r.inputs
        made = moto.client("rds").create_db_instance(
            DBInstanceIdentifier=r.outputs["identifier"],
            Engine=i["engine"],
            EngineVersion=i["engineVersion"],
            DBInstanceClass=i["instanceClass"],
            AllocatedStorage=i["allocatedStorage"],
            DBName=i["dbName"],
            MasterUsername=i["username"],
            ManageMasterUserPassword=i["manageMasterUserPassword"],
            MasterUserSecretKmsKeyId=key(i["masterUserSecretKmsKeyId"]),
            StorageEncrypted=i["storageEncrypted"],
            KmsKeyId=key(i["kmsKeyId"]),
            MultiAZ=i["multiAz"],
            PubliclyAccessible=i["publiclyAccessible"],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["DBInstance"]
        database = {
            "registry_database_endpoint": f"{made['Endpoint']['Address']}:{made['Endpoint']['Port']}",
            "registry_database_secret": made["MasterUserSecret"]["SecretArn"],
        }

    cache: dict[str, str] = {}
    for r in plan.by_type("aws:elasticache/replicationGroup:ReplicationGroup"):
        i = r.inputs
        made = moto.client("elasticache").create_replication_group(
            ReplicationGroupId=r.outputs.get("replicationGroupId") or r.outputs["id"],
            ReplicationGroupDescription=i["description"],
            Engine=i["engine"],
            EngineVersion=i["engineVersion"],
            CacheNodeType=i["nodeType"],
            NumCacheClusters=i["numCacheClusters"],
            Port=i["port"],
            AtRestEncryptionEnabled=i["atRestEncryptionEnabled"],
            TransitEncryptionEnabled=i["transitEncryptionEnabled"],
            KmsKeyId=key(i["kmsKeyId"]),
            AuthToken="offline-auth-token-0123456789",
            MultiAZEnabled=i["multiAzEnabled"],
            AutomaticFailoverEnabled=i["automaticFailoverEnabled"],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )["ReplicationGroup"]
        cache = {
            "online_store_endpoint": made["NodeGroups"][0]["PrimaryEndpoint"]["Address"]
            if made.get("NodeGroups")
            else f"master.{made['ReplicationGroupId']}.cache.amazonaws.com"
        }

    planned = plan.outputs
    return {
        **cache,
        **database,
        "environment": planned["environment"],
        "region": moto.region,
        "data_classification": planned["data_classification"],
        "cluster_name": planned["cluster_name"],
        "bucket_names": planned["bucket_names"],
        "keys": {purpose: key(arn) for purpose, arn in planned["keys"].items()},
        "registry_urls": registry_urls,
        "online_store_secret": next(iter(secret_arns.values()), None),
    }


def _without_conditional_denies(policy: str | dict[str, Any]) -> str | None:
    """The policy without its conditional Deny statements (None when nothing is left).

    moto enforces a bucket policy on object operations but ignores its Conditions (checked: moto 5.2.5
    moto/s3/models.py `S3Backend.put_bucket_policy`: "Conditions are not taken into account"), so the
    plan's `DenyInsecureTransport` (aws:SecureTransport false) and `DenyOutdatedTLS` would deny every
    object read, HTTPS or not; the personal-data scan (issue 22) reads objects. No cloud check reads
    the bucket policy."""
    doc = json.loads(policy) if isinstance(policy, str) else dict(policy)
    doc["Statement"] = [s for s in doc.get("Statement") or [] if not (s.get("Effect") == "Deny" and s.get("Condition"))]
    return json.dumps(doc) if doc["Statement"] else None
