"""security-baseline: every policy, violating and compliant."""

from __future__ import annotations

import json

import pytest

from policy_packs.security_baseline import aws_s3, tags
from policy_packs.security_baseline import aws_services as aws
from policy_packs.security_baseline import azure_services as azure
from tests.policy.conftest import UAE_TAGS, R, provider, run, run_stack

KEY = "arn:aws:kms:me-central-1:1:key/k"
LT = "aws:ec2/launchTemplate:LaunchTemplate"
EKS = "aws:eks/cluster:Cluster"
GOOD_EKS = {
    "encryptionConfig": {"provider": {"keyArn": KEY}, "resources": ["secrets"]},
    "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False},
}
GOOD_LT = {"metadataOptions": {"httpTokens": "required"}, "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "kmsKeyId": KEY}}]}
STORAGE = "azure-native:storage:StorageAccount"
GOOD_STORAGE = {
    "location": "uaenorth",
    "minimumTlsVersion": "TLS1_2",
    "allowBlobPublicAccess": False,
    "encryption": {"keySource": "Microsoft.Keyvault", "keyVaultProperties": {"keyName": "k"}},
    "tags": UAE_TAGS,
}
AZ = provider("uaenorth", package="azure-native")

VIOLATIONS = [
    ("ebs-volume-unencrypted", aws.aws_ebs_cmk_encryption, "aws:ebs/volume:Volume", {"encrypted": True}, None, "kmsKeyId"),
    (
        "ebs-launch-template",
        aws.aws_ebs_cmk_encryption,
        LT,
        {"blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "false"}}]},
        None,
        "/dev/xvda",
    ),
    ("ebs-instance-root", aws.aws_ebs_cmk_encryption, "aws:ec2/instance:Instance", {"rootBlockDevice": {}}, None, "root volume"),
    ("eks-secrets", aws.aws_eks_secrets_encryption, EKS, {**GOOD_EKS, "encryptionConfig": None}, None, "envelope-encrypted"),
    ("eks-public", aws.aws_eks_private_endpoint, EKS, {**GOOD_EKS, "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": True}}, None, "public"),
    ("eks-public-default", aws.aws_eks_private_endpoint, EKS, {**GOOD_EKS, "vpcConfig": {}}, None, "0.0.0.0/0"),
    ("log-group", aws.aws_cloudwatch_log_group_cmk, "aws:cloudwatch/logGroup:LogGroup", {"retentionInDays": 7}, None, "customer-managed"),
    ("ecr-aes", aws.aws_ecr_cmk_encryption, "aws:ecr/repository:Repository", {"encryptionConfigurations": [{"encryptionType": "AES256"}]}, None, "AES256"),
    ("rds-unencrypted", aws.aws_rds_cmk_encryption, "aws:rds/instance:Instance", {"storageEncrypted": False}, None, "customer-managed"),
    (
        "rds-public",
        aws.aws_rds_cmk_encryption,
        "aws:rds/cluster:Cluster",
        {"storageEncrypted": True, "kmsKeyId": KEY, "publiclyAccessible": True},
        None,
        "public address",
    ),
    (
        "elasticache-at-rest",
        aws.aws_elasticache_encryption,
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"atRestEncryptionEnabled": True},
        None,
        "kmsKeyId",
    ),
    (
        "elasticache-transit",
        aws.aws_elasticache_tls,
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"transitEncryptionEnabled": False},
        None,
        "plain text",
    ),
    ("kms-rotation", aws.aws_kms_key_rotation, "aws:kms/key:Key", {"enableKeyRotation": False}, None, "rotation"),
    ("imdsv1", aws.aws_ec2_imdsv2, LT, {"metadataOptions": {"httpTokens": "optional"}}, None, "IMDSv1"),
    ("lb-old-tls", aws.aws_lb_tls, "aws:lb/listener:Listener", {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-2016-08"}, None, "TLS 1.0"),
    ("lb-plain-http", aws.aws_lb_tls, "aws:lb/listener:Listener", {"protocol": "HTTP", "defaultActions": [{"type": "forward"}]}, None, "without TLS"),
    ("trail-no-validation", aws.aws_cloudtrail_integrity, "aws:cloudtrail/trail:Trail", {"kmsKeyId": KEY}, None, "validation"),
    ("tags-missing", tags.aws_required_tags, "aws:s3/bucket:Bucket", {"tags": {"owner": "x"}}, provider(tags=None), "cost-center"),
    ("azure-tags-missing", tags.azure_required_tags, STORAGE, {"location": "uaenorth"}, AZ, "owner"),
    (
        "azure-storage-mmk",
        azure.azure_storage_cmk_encryption,
        STORAGE,
        {**GOOD_STORAGE, "encryption": {"keySource": "Microsoft.Storage"}},
        AZ,
        "Microsoft-managed",
    ),
    ("azure-storage-tls10", azure.azure_storage_tls, STORAGE, {**GOOD_STORAGE, "minimumTlsVersion": "TLS1_0"}, AZ, "TLS1_0"),
    ("azure-storage-http", azure.azure_storage_tls, STORAGE, {**GOOD_STORAGE, "enableHttpsTrafficOnly": False}, AZ, "HTTP"),
    ("azure-storage-public", azure.azure_storage_no_public_access, STORAGE, {**GOOD_STORAGE, "allowBlobPublicAccess": True}, AZ, "public access"),
    ("azure-container-public", azure.azure_storage_no_public_access, "azure-native:storage:BlobContainer", {"publicAccess": "Blob"}, AZ, "Blob"),
    (
        "azure-disk-pmk",
        azure.azure_compute_disk_cmk,
        "azure-native:compute:Disk",
        {"encryption": {"type": "EncryptionAtRestWithPlatformKey"}},
        AZ,
        "platform-managed",
    ),
    ("azure-vm-disk", azure.azure_compute_disk_cmk, "azure-native:compute:VirtualMachine", {"storageProfile": {"osDisk": {"managedDisk": {}}}}, AZ, "OS disk"),
    ("aks-public", azure.azure_aks_private_cluster, "azure-native:containerservice:ManagedCluster", {}, AZ, "public endpoint"),
    ("keyvault-no-rotation", azure.azure_keyvault_key_rotation, "azure-native:keyvault:Key", {"properties": {}}, AZ, "rotation policy"),
]

COMPLIANT = [
    ("ebs-launch-template", aws.aws_ebs_cmk_encryption, LT, GOOD_LT, None),
    ("ebs-volume", aws.aws_ebs_cmk_encryption, "aws:ebs/volume:Volume", {"encrypted": True, "kmsKeyId": KEY}, None),
    ("eks-secrets", aws.aws_eks_secrets_encryption, EKS, GOOD_EKS, None),
    ("eks-private", aws.aws_eks_private_endpoint, EKS, GOOD_EKS, None),
    ("log-group", aws.aws_cloudwatch_log_group_cmk, "aws:cloudwatch/logGroup:LogGroup", {"kmsKeyId": KEY}, None),
    ("ecr-kms", aws.aws_ecr_cmk_encryption, "aws:ecr/repository:Repository", {"encryptionConfigurations": [{"encryptionType": "KMS", "kmsKey": KEY}]}, None),
    ("rds", aws.aws_rds_cmk_encryption, "aws:rds/instance:Instance", {"storageEncrypted": True, "kmsKeyId": KEY, "publiclyAccessible": False}, None),
    (
        "elasticache",
        aws.aws_elasticache_encryption,
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {"atRestEncryptionEnabled": True, "kmsKeyId": KEY},
        None,
    ),
    ("elasticache-tls", aws.aws_elasticache_tls, "aws:elasticache/replicationGroup:ReplicationGroup", {"transitEncryptionEnabled": True}, None),
    ("kms-rotation", aws.aws_kms_key_rotation, "aws:kms/key:Key", {"enableKeyRotation": True}, None),
    ("kms-asymmetric-no-rotation", aws.aws_kms_key_rotation, "aws:kms/key:Key", {"customerMasterKeySpec": "RSA_2048"}, None),
    ("imdsv2", aws.aws_ec2_imdsv2, LT, GOOD_LT, None),
    ("lb-tls13", aws.aws_lb_tls, "aws:lb/listener:Listener", {"protocol": "HTTPS", "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06"}, None),
    (
        "lb-redirect",
        aws.aws_lb_tls,
        "aws:lb/listener:Listener",
        {"protocol": "HTTP", "defaultActions": [{"type": "redirect", "redirect": {"protocol": "HTTPS"}}]},
        None,
    ),
    ("trail", aws.aws_cloudtrail_integrity, "aws:cloudtrail/trail:Trail", {"kmsKeyId": KEY, "enableLogFileValidation": True}, None),
    ("tags-from-provider-default-tags", tags.aws_required_tags, "aws:s3/bucket:Bucket", {"tags": {"purpose": "x"}}, None),
    ("untaggable-type", tags.aws_required_tags, "aws:s3/bucketVersioning:BucketVersioning", {}, provider(tags=None)),
    ("azure-tags", tags.azure_required_tags, STORAGE, GOOD_STORAGE, AZ),
    ("azure-storage-cmk", azure.azure_storage_cmk_encryption, STORAGE, GOOD_STORAGE, AZ),
    ("azure-storage-tls", azure.azure_storage_tls, STORAGE, GOOD_STORAGE, AZ),
    ("azure-storage-private", azure.azure_storage_no_public_access, STORAGE, GOOD_STORAGE, AZ),
    (
        "azure-disk-cmk",
        azure.azure_compute_disk_cmk,
        "azure-native:compute:Disk",
        {"encryption": {"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": "/des"}},
        AZ,
    ),
    (
        "aks-private",
        azure.azure_aks_private_cluster,
        "azure-native:containerservice:ManagedCluster",
        {"apiServerAccessProfile": {"enablePrivateCluster": True}},
        AZ,
    ),
    (
        "keyvault-rotation",
        azure.azure_keyvault_key_rotation,
        "azure-native:keyvault:Key",
        {"properties": {"rotationPolicy": {"lifetimeActions": [{"action": {"type": "Rotate"}}]}}},
        AZ,
    ),
]


@pytest.mark.parametrize("case,validate,type_token,props,prov,fragment", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_violation_reported(case, validate, type_token, props, prov, fragment, stack_config):
    messages = run(validate, type_token, props, prov)
    assert any(fragment in m for m in messages), f"{case}: expected {fragment!r} in {messages}"
    assert all("Fix:" in m and type_token in m for m in messages), messages


@pytest.mark.parametrize("case,validate,type_token,props,prov", COMPLIANT, ids=[c[0] for c in COMPLIANT])
def test_compliant_silent(case, validate, type_token, props, prov, stack_config):
    assert run(validate, type_token, props, prov) == [], f"{case}: {validate.__name__} must accept {props}"


TLS_POLICY = json.dumps(
    {
        "Statement": [
            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Effect": "Deny", "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
        ]
    }
)


def good_bucket(name: str = "data", lock: bool = False) -> list[R]:
    out = [
        R("aws:s3/bucket:Bucket", name, {"objectLockEnabled": lock}),
        R(aws_s3.SSE[0], f"{name}-sse", {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}}]}, deps=[name]),
        R(aws_s3.PAB, f"{name}-pab", {f: True for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")}, deps=[name]),
        R(aws_s3.OWNERSHIP, f"{name}-own", {"rule": {"objectOwnership": "BucketOwnerEnforced"}}, deps=[name]),
        R(aws_s3.POLICY, f"{name}-policy", {"policy": TLS_POLICY}, deps=[name]),
    ]
    if lock:
        out.append(R(aws_s3.LOCK[0], f"{name}-lock", {"rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 2555}}}, deps=[name]))
    return out


S3_POLICIES = [
    aws_s3.aws_s3_bucket_cmk_encryption,
    aws_s3.aws_s3_bucket_public_access_blocked,
    aws_s3.aws_s3_bucket_no_acls,
    aws_s3.aws_s3_bucket_tls_only,
    aws_s3.aws_s3_audit_bucket_object_lock,
]


@pytest.mark.parametrize("validate", S3_POLICIES, ids=lambda v: v.__name__)
def test_s3_companions_compliant(validate, stack_config):
    trail = R("aws:cloudtrail/trail:Trail", "trail", {"s3BucketName": "audit-1234567"}, deps=["audit", "data"])
    assert run_stack(validate, good_bucket() + good_bucket("audit", lock=True) + [trail]) == []


@pytest.mark.parametrize(
    "validate,drop,fragment",
    [
        (aws_s3.aws_s3_bucket_cmk_encryption, "data-sse", "no server-side encryption"),
        (aws_s3.aws_s3_bucket_public_access_blocked, "data-pab", "no public access block"),
        (aws_s3.aws_s3_bucket_no_acls, "data-own", "bucket-owner object ownership"),
        (aws_s3.aws_s3_bucket_tls_only, "data-policy", "aws:SecureTransport"),
    ],
)
def test_s3_missing_companion(validate, drop, fragment, stack_config):
    found = run_stack(validate, [r for r in good_bucket() if r.name != drop])
    assert found and fragment in found[0][0] and found[0][1].endswith("::data"), found


def test_s3_weak_companions(stack_config):
    weak = good_bucket()
    weak[1] = R(aws_s3.SSE[0], "data-sse", {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}, deps=["data"])
    weak[2] = R(aws_s3.PAB, "data-pab", {"blockPublicAcls": True}, deps=["data"])
    assert "customer-managed" in run_stack(aws_s3.aws_s3_bucket_cmk_encryption, weak)[0][0]
    assert "restrictPublicBuckets" in run_stack(aws_s3.aws_s3_bucket_public_access_blocked, weak)[0][0]
    public = [R("aws:s3/bucket:Bucket", "data", {"acl": "public-read"}), *good_bucket()[1:]]
    assert "public-read" in run_stack(aws_s3.aws_s3_bucket_no_acls, public)[0][0]


def test_audit_bucket_without_object_lock(stack_config):
    trail = R("aws:cloudtrail/trail:Trail", "trail", {"s3BucketName": "audit-1234567"}, deps=["audit"])
    found = run_stack(aws_s3.aws_s3_audit_bucket_object_lock, good_bucket("audit", lock=False) + [trail])
    assert found and "Object Lock" in found[0][0] and found[0][1].endswith("::audit"), found


def test_rds_tls_parameter_group(stack_config):
    db = R("aws:rds/instance:Instance", "db", {"engine": "postgres"}, deps=["params"])
    good = R("aws:rds/parameterGroup:ParameterGroup", "params", {"parameters": [{"name": "rds.force_ssl", "value": "1"}]})
    bad = R("aws:rds/parameterGroup:ParameterGroup", "params", {"parameters": [{"name": "log_connections", "value": "1"}]})
    assert run_stack(aws.aws_rds_tls_required, [good, db]) == []
    found = run_stack(aws.aws_rds_tls_required, [bad, db])
    assert found and "rds.force_ssl" in found[0][0], found


def test_cloudtrail_present(stack_config):
    bucket = R("aws:s3/bucket:Bucket", "b")
    assert "no CloudTrail trail" in run_stack(aws.aws_cloudtrail_present, [bucket])[0][0]
    assert run_stack(aws.aws_cloudtrail_present, [bucket, R("aws:cloudtrail/trail:Trail", "t", {"enableLogging": True})]) == []
