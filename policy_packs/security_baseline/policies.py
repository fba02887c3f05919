"""The security-baseline policies, in the order reports list them."""

from __future__ import annotations

from pulumi_policy import Severity

from policy_packs.common.packs import resource, stack
from policy_packs.security_baseline import aws_s3, tags
from policy_packs.security_baseline import aws_services as aws
from policy_packs.security_baseline import azure_services as azure

HIGH, MEDIUM = Severity.HIGH, Severity.MEDIUM

POLICIES = [
    stack(
        "aws-s3-bucket-cmk-encryption", "S3 buckets are encrypted with a customer-managed KMS key.", aws_s3.aws_s3_bucket_cmk_encryption, aws_s3.CONFIG, HIGH
    ),
    stack(
        "aws-s3-bucket-public-access-blocked", "S3 buckets block every form of public access.", aws_s3.aws_s3_bucket_public_access_blocked, aws_s3.CONFIG, HIGH
    ),
    stack(
        "aws-s3-bucket-no-acls",
        "S3 buckets enforce bucket-owner ownership (ACLs off) and grant nothing public.",
        aws_s3.aws_s3_bucket_no_acls,
        aws_s3.CONFIG,
        HIGH,
    ),
    stack("aws-s3-bucket-tls-only", "S3 bucket policies deny plain HTTP and TLS older than 1.2.", aws_s3.aws_s3_bucket_tls_only, aws_s3.CONFIG, HIGH),
    stack(
        "aws-s3-audit-bucket-object-lock",
        "The audit trail's bucket is Object-Locked with a default retention.",
        aws_s3.aws_s3_audit_bucket_object_lock,
        aws_s3.CONFIG,
        HIGH,
    ),
    resource(
        "aws-ebs-cmk-encryption",
        "EBS volumes (volumes, launch templates, instances) use a customer-managed KMS key.",
        aws.aws_ebs_cmk_encryption,
        aws.CONFIG,
        HIGH,
    ),
    resource("aws-eks-secrets-encryption", "EKS secrets are envelope-encrypted with a customer-managed key.", aws.aws_eks_secrets_encryption, aws.CONFIG, HIGH),
    resource("aws-eks-private-endpoint", "EKS API servers are private.", aws.aws_eks_private_endpoint, aws.CONFIG, HIGH),
    resource("aws-cloudwatch-log-group-cmk", "CloudWatch log groups use a customer-managed KMS key.", aws.aws_cloudwatch_log_group_cmk, aws.CONFIG, MEDIUM),
    resource("aws-ecr-cmk-encryption", "ECR repositories use a customer-managed KMS key.", aws.aws_ecr_cmk_encryption, aws.CONFIG, MEDIUM),
    resource("aws-rds-cmk-encryption", "RDS storage uses a customer-managed KMS key and is not public.", aws.aws_rds_cmk_encryption, aws.CONFIG, HIGH),
    stack("aws-rds-tls-required", "RDS PostgreSQL/MySQL require TLS through their parameter group.", aws.aws_rds_tls_required, aws.CONFIG, HIGH),
    resource(
        "aws-elasticache-cmk-encryption", "ElastiCache encrypts at rest with a customer-managed KMS key.", aws.aws_elasticache_encryption, aws.CONFIG, HIGH
    ),
    resource("aws-elasticache-tls", "ElastiCache encrypts in transit.", aws.aws_elasticache_tls, aws.CONFIG, HIGH),
    resource("aws-kms-key-rotation", "Symmetric KMS keys rotate automatically.", aws.aws_kms_key_rotation, aws.CONFIG, MEDIUM),
    resource("aws-ec2-imdsv2", "Instances and launch templates require IMDSv2.", aws.aws_ec2_imdsv2, aws.CONFIG, HIGH),
    resource("aws-lb-tls", "Load balancer listeners use TLS 1.2+ (plain HTTP only to redirect).", aws.aws_lb_tls, aws.CONFIG, HIGH),
    resource("aws-cloudtrail-integrity", "CloudTrail trails validate log files and encrypt with KMS.", aws.aws_cloudtrail_integrity, aws.CONFIG, HIGH),
    stack("aws-cloudtrail-present", "A stack with AWS resources has a logging CloudTrail trail.", aws.aws_cloudtrail_present, None, HIGH),
    resource(
        "aws-required-tags", "Taggable AWS resources carry the required tags (own or provider default tags).", tags.aws_required_tags, tags.CONFIG, MEDIUM
    ),
    resource("azure-storage-cmk-encryption", "Storage accounts use a customer-managed Key Vault key.", azure.azure_storage_cmk_encryption, azure.CONFIG, HIGH),
    resource("azure-storage-tls", "Storage accounts require HTTPS and TLS 1.2+.", azure.azure_storage_tls, azure.CONFIG, HIGH),
    resource(
        "azure-storage-no-public-access",
        "Storage accounts and containers allow no public blob access.",
        azure.azure_storage_no_public_access,
        azure.CONFIG,
        HIGH,
    ),
    resource("azure-compute-disk-cmk", "Managed disks use a customer-managed key (disk encryption set).", azure.azure_compute_disk_cmk, azure.CONFIG, HIGH),
    resource("azure-aks-private-cluster", "AKS API servers are private.", azure.azure_aks_private_cluster, azure.CONFIG, HIGH),
    resource("azure-keyvault-key-rotation", "Key Vault keys have a rotation policy.", azure.azure_keyvault_key_rotation, azure.CONFIG, MEDIUM),
    resource("azure-required-tags", "Azure resources with a location carry the required tags.", tags.azure_required_tags, tags.CONFIG, MEDIUM),
]
