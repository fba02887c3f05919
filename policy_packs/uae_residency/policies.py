"""The uae-residency policies, in the order reports list them."""

from __future__ import annotations

from pulumi_policy import Severity

from policy_packs.common.packs import resource, stack
from policy_packs.uae_residency import (
    aws_backup,
    aws_bedrock,
    aws_dlm,
    aws_dynamodb,
    aws_ec2,
    aws_ecr,
    aws_edge,
    aws_kms,
    aws_rds,
    aws_region,
    aws_s3,
    azure_acr,
    azure_cosmosdb,
    azure_edge,
    azure_location,
    azure_monitor,
    azure_openai,
    azure_storage,
    health,
    kubernetes_images,
    stack_backend,
)

CRITICAL = Severity.CRITICAL

POLICIES = [
    resource("aws-region-allowed", "Every regional AWS resource runs in an allowed (UAE) region.", aws_region.aws_region_allowed, aws_region.CONFIG, CRITICAL),
    stack(
        "aws-s3-replication-in-region",
        "S3 replication destinations are buckets of this stack in an allowed region.",
        aws_s3.aws_s3_replication_in_region,
        aws_s3.CONFIG,
        CRITICAL,
    ),
    resource(
        "aws-s3-multi-region-access-point-denied", "No S3 Multi-Region Access Points.", aws_s3.aws_s3_multi_region_access_point_denied, aws_s3.CONFIG, CRITICAL
    ),
    resource(
        "aws-kms-single-region-keys",
        "KMS keys are single-region; replica keys stay in allowed regions.",
        aws_kms.aws_kms_single_region_keys,
        aws_kms.CONFIG,
        CRITICAL,
    ),
    resource(
        "aws-ecr-replication-in-region", "ECR replication destinations are allowed regions.", aws_ecr.aws_ecr_replication_in_region, aws_ecr.CONFIG, CRITICAL
    ),
    resource(
        "aws-dynamodb-replicas-in-region",
        "DynamoDB global-table replicas are in allowed regions.",
        aws_dynamodb.aws_dynamodb_replicas_in_region,
        aws_dynamodb.CONFIG,
        CRITICAL,
    ),
    resource(
        "aws-backup-copies-in-region",
        "AWS Backup copy actions target vaults in allowed regions.",
        aws_backup.aws_backup_copies_in_region,
        aws_backup.CONFIG,
        CRITICAL,
    ),
    resource("aws-dlm-copies-in-region", "DLM cross-region copy rules target allowed regions.", aws_dlm.aws_dlm_copies_in_region, aws_dlm.CONFIG, CRITICAL),
    resource(
        "aws-ec2-copies-in-region", "EBS snapshot and AMI copies stay between allowed regions.", aws_ec2.aws_ec2_copies_in_region, aws_ec2.CONFIG, CRITICAL
    ),
    resource(
        "aws-rds-no-cross-region-replicas",
        "No RDS global clusters or cross-region replicas.",
        aws_rds.aws_rds_no_cross_region_replicas,
        aws_rds.CONFIG,
        CRITICAL,
    ),
    resource(
        "aws-edge-services-denied", "No CloudFront or Global Accelerator unless allow-listed.", aws_edge.aws_edge_services_denied, aws_edge.CONFIG, CRITICAL
    ),
    resource(
        "aws-bedrock-in-region-inference",
        "No Bedrock cross-region inference profiles.",
        aws_bedrock.aws_bedrock_in_region_inference,
        aws_bedrock.CONFIG,
        CRITICAL,
    ),
    resource(
        "azure-location-allowed",
        "Every Azure resource with a location is in an allowed location.",
        azure_location.azure_location_allowed,
        azure_location.CONFIG,
        CRITICAL,
    ),
    resource(
        "azure-storage-replication-in-region",
        "Geo-redundant storage only where the pair stays in the UAE.",
        azure_storage.azure_storage_replication_in_region,
        azure_storage.CONFIG,
        CRITICAL,
    ),
    resource(
        "azure-acr-replication-in-region",
        "ACR geo-replications are in allowed locations.",
        azure_acr.azure_acr_replication_in_region,
        azure_acr.CONFIG,
        CRITICAL,
    ),
    resource(
        "azure-cosmosdb-locations-in-region",
        "Cosmos DB account locations are allowed.",
        azure_cosmosdb.azure_cosmosdb_locations_in_region,
        azure_cosmosdb.CONFIG,
        CRITICAL,
    ),
    resource(
        "azure-monitor-location-in-region",
        "Log Analytics / Application Insights / DCR locations are allowed.",
        azure_monitor.azure_monitor_location_in_region,
        azure_monitor.CONFIG,
        CRITICAL,
    ),
    resource(
        "azure-openai-deployment-in-region",
        "Azure OpenAI deployments are regional (no Global*/DataZone* types).",
        azure_openai.azure_openai_deployment_in_region,
        azure_openai.CONFIG,
        CRITICAL,
    ),
    resource(
        "azure-edge-services-denied",
        "No Front Door or Traffic Manager unless allow-listed.",
        azure_edge.azure_edge_services_denied,
        azure_edge.CONFIG,
        CRITICAL,
    ),
    resource(
        "kubernetes-images-in-region",
        "Workloads pull images only from in-region registries.",
        kubernetes_images.kubernetes_images_in_region,
        kubernetes_images.CONFIG,
        Severity.HIGH,
    ),
    resource(
        "kubernetes-helm-images-in-region",
        "Helm releases set their images to in-region registries.",
        kubernetes_images.kubernetes_helm_images_in_region,
        kubernetes_images.CONFIG,
        Severity.HIGH,
    ),
    resource(
        "sahab-health-no-replication",
        "Health data is never replicated or copied (ICT Health Law Art. 13).",
        health.uae_health_no_replication,
        health.CONFIG,
        CRITICAL,
    ),
    stack(
        "sahab-health-audit-retention",
        "Health stacks keep audit records at least 25 years.",
        health.uae_health_audit_retention,
        health.RETENTION_CONFIG,
        CRITICAL,
    ),
    stack(
        "pulumi-state-backend-in-region",
        "The Pulumi state backend and secrets provider, when known, are in-region.",
        stack_backend.uae_state_backend_in_region,
        stack_backend.CONFIG,
        Severity.HIGH,
    ),
]
