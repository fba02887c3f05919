"""uae-residency: every policy, violating and compliant, called as the analyzer calls it."""

from __future__ import annotations

import pytest

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
from tests.policy.conftest import UAE_TAGS, R, provider, run, run_stack

ECR = "123456789012.dkr.ecr.me-central-1.amazonaws.com/sahab/serving:0.1.0"
AZ = provider("uaenorth", package="azure-native")
HEALTH = provider(tags={**UAE_TAGS, "data-classification": "health"})

# (id, validator, type, props, provider or None, expected fragment) -- each must report.
VIOLATIONS = [
    ("region-provider", aws_region.aws_region_allowed, "aws:s3/bucket:Bucket", {}, provider("me-south-1"), "me-south-1"),
    ("region-own-override", aws_region.aws_region_allowed, "aws:s3/bucket:Bucket", {"region": "eu-west-1"}, None, "eu-west-1"),
    ("region-unknown", aws_region.aws_region_allowed, "aws:sqs/queue:Queue", {}, provider(None), "cannot be determined"),
    ("mrap", aws_s3.aws_s3_multi_region_access_point_denied, aws_s3.MRAP, {"details": {"regions": [{"bucket": "b"}]}}, None, "Multi-Region Access Point"),
    ("kms-multi-region", aws_kms.aws_kms_single_region_keys, aws_kms.KEY, {"multiRegion": True}, None, "multiRegion"),
    ("kms-replica", aws_kms.aws_kms_single_region_keys, "aws:kms/replicaKey:ReplicaKey", {"primaryKeyArn": "arn:aws:kms:us-east-1:1:key/k"}, None, "us-east-1"),
    (
        "ecr-replication",
        aws_ecr.aws_ecr_replication_in_region,
        aws_ecr.REPLICATION,
        {"replicationConfiguration": {"rules": [{"destinations": [{"region": "eu-west-1", "registryId": "1"}]}]}},
        None,
        "eu-west-1",
    ),
    ("dynamodb-replica", aws_dynamodb.aws_dynamodb_replicas_in_region, aws_dynamodb.TABLE, {"replicas": [{"regionName": "us-east-1"}]}, None, "us-east-1"),
    (
        "dynamodb-table-replica",
        aws_dynamodb.aws_dynamodb_replicas_in_region,
        aws_dynamodb.TABLE_REPLICA,
        {"globalTableArn": "arn:aws:dynamodb:me-central-1:1:table/t"},
        provider("eu-central-1"),
        "eu-central-1",
    ),
    (
        "backup-copy",
        aws_backup.aws_backup_copies_in_region,
        aws_backup.PLAN,
        {"rules": [{"ruleName": "daily", "copyActions": [{"destinationVaultArn": "arn:aws:backup:eu-west-1:1:backup-vault:v"}]}]},
        None,
        "eu-west-1",
    ),
    (
        "backup-copy-unparseable",
        aws_backup.aws_backup_copies_in_region,
        aws_backup.PLAN,
        {"rules": [{"ruleName": "daily", "copyActions": [{"destinationVaultArn": "vault-name"}]}]},
        None,
        "cannot be read",
    ),
    (
        "dlm-copy",
        aws_dlm.aws_dlm_copies_in_region,
        aws_dlm.POLICY,
        {"policyDetails": {"schedules": [{"crossRegionCopyRules": [{"target": "us-west-2"}]}]}},
        None,
        "us-west-2",
    ),
    ("ami-copy", aws_ec2.aws_ec2_copies_in_region, "aws:ec2/amiCopy:AmiCopy", {"sourceAmiRegion": "us-east-1"}, None, "us-east-1"),
    (
        "snapshot-copy",
        aws_ec2.aws_ec2_copies_in_region,
        "aws:ebs/snapshotCopy:SnapshotCopy",
        {"sourceRegion": "me-central-1"},
        provider("eu-west-1"),
        "eu-west-1",
    ),
    ("rds-global", aws_rds.aws_rds_no_cross_region_replicas, aws_rds.GLOBAL, {}, None, "global database"),
    ("rds-cluster-in-global", aws_rds.aws_rds_no_cross_region_replicas, aws_rds.CLUSTER, {"globalClusterIdentifier": "g"}, None, "global cluster"),
    (
        "rds-cross-region-replica",
        aws_rds.aws_rds_no_cross_region_replicas,
        aws_rds.INSTANCE,
        {"replicateSourceDb": "arn:aws:rds:eu-west-1:1:db:src"},
        None,
        "eu-west-1",
    ),
    (
        "rds-backup-replication",
        aws_rds.aws_rds_no_cross_region_replicas,
        aws_rds.BACKUP_REPLICATION,
        {"sourceDbInstanceArn": "arn:aws:rds:me-central-1:1:db:src"},
        provider("eu-west-1"),
        "eu-west-1",
    ),
    ("cloudfront", aws_edge.aws_edge_services_denied, "aws:cloudfront/distribution:Distribution", {}, None, "CloudFront"),
    ("global-accelerator", aws_edge.aws_edge_services_denied, "aws:globalaccelerator/accelerator:Accelerator", {}, None, "Global Accelerator"),
    (
        "bedrock-geo-profile",
        aws_bedrock.aws_bedrock_in_region_inference,
        "aws:bedrock/agentAgent:AgentAgent",
        {"foundationModel": "global.anthropic.claude-sonnet-4-v1:0"},
        None,
        "cross-region inference",
    ),
    (
        "bedrock-foreign-arn",
        aws_bedrock.aws_bedrock_in_region_inference,
        "aws:bedrock/provisionedModelThroughput:ProvisionedModelThroughput",
        {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan"},
        None,
        "us-east-1",
    ),
    ("azure-location", azure_location.azure_location_allowed, "azure-native:compute:VirtualMachine", {"location": "westeurope"}, AZ, "westeurope"),
    (
        "azure-location-provider",
        azure_location.azure_location_allowed,
        "azure-native:keyvault:Vault",
        {},
        provider("qatarcentral", package="azure-native"),
        "qatarcentral",
    ),
    (
        "azure-grs-uaecentral",
        azure_storage.azure_storage_replication_in_region,
        azure_storage.NATIVE,
        {"location": "uaecentral", "sku": {"name": "Standard_GRS"}},
        AZ,
        "GRS",
    ),
    (
        "azure-grs-outside-uae",
        azure_storage.azure_storage_replication_in_region,
        azure_storage.CLASSIC,
        {"location": "westeurope", "accountReplicationType": "RAGRS"},
        AZ,
        "RAGRS",
    ),
    ("acr-replication", azure_acr.azure_acr_replication_in_region, azure_acr.REPLICATION, {"location": "westeurope"}, AZ, "westeurope"),
    (
        "cosmos-location",
        azure_cosmosdb.azure_cosmosdb_locations_in_region,
        azure_cosmosdb.NATIVE,
        {"locations": [{"locationName": "UAE North"}, {"locationName": "West Europe"}]},
        AZ,
        "westeurope",
    ),
    ("log-analytics", azure_monitor.azure_monitor_location_in_region, "azure-native:operationalinsights:Workspace", {"location": "eastus"}, AZ, "eastus"),
    ("app-insights", azure_monitor.azure_monitor_location_in_region, "azure-native:insights:Component", {"location": "northeurope"}, AZ, "northeurope"),
    (
        "openai-global",
        azure_openai.azure_openai_deployment_in_region,
        "azure-native:cognitiveservices:Deployment",
        {"sku": {"name": "GlobalStandard"}},
        AZ,
        "GlobalStandard",
    ),
    (
        "openai-datazone",
        azure_openai.azure_openai_deployment_in_region,
        "azure-native:cognitiveservices:Deployment",
        {"sku": {"name": "DataZoneStandard"}},
        AZ,
        "DataZoneStandard",
    ),
    ("front-door", azure_edge.azure_edge_services_denied, "azure-native:cdn:Profile", {"sku": {"name": "Premium_AzureFrontDoor"}}, AZ, "Front Door"),
    ("traffic-manager", azure_edge.azure_edge_services_denied, "azure-native:network:Profile", {}, AZ, "Traffic Manager"),
    (
        "k8s-docker-hub",
        kubernetes_images.kubernetes_images_in_region,
        "kubernetes:apps/v1:Deployment",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
        None,
        "docker.io",
    ),
    (
        "k8s-other-region-ecr",
        kubernetes_images.kubernetes_images_in_region,
        "kubernetes:batch/v1:CronJob",
        {
            "spec": {
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {
                                "initContainers": [{"name": "i", "image": "1.dkr.ecr.us-east-1.amazonaws.com/x:1"}],
                                "containers": [{"name": "c", "image": ECR}],
                            }
                        }
                    }
                }
            }
        },
        None,
        "us-east-1",
    ),
    (
        "helm-upstream-image",
        kubernetes_images.kubernetes_helm_images_in_region,
        "kubernetes:helm.sh/v3:Release",
        {"chart": "grafana", "values": {"image": {"repository": "docker.io/grafana/grafana", "tag": "11.0.0"}}},
        None,
        "docker.io",
    ),
    (
        "helm-upstream-name-tag-image",
        kubernetes_images.kubernetes_helm_images_in_region,
        "kubernetes:helm.sh/v3:Release",
        {"chart": "jupyterhub", "values": {"hub": {"image": {"name": "quay.io/jupyterhub/k8s-hub", "tag": "4.4.0"}}}},
        None,
        "quay.io",
    ),
    (
        "helm-no-image",
        kubernetes_images.kubernetes_helm_images_in_region,
        "kubernetes:helm.sh/v3:Release",
        {"chart": "grafana", "values": {"replicas": 2}},
        None,
        "sets no image",
    ),
    ("health-s3-replication", health.uae_health_no_replication, "aws:s3/bucketReplicationConfig:BucketReplicationConfig", {"rules": []}, HEALTH, "health data"),
    (
        "health-grs-uaenorth",
        health.uae_health_no_replication,
        "azure-native:storage:StorageAccount",
        {"location": "uaenorth", "sku": {"name": "Standard_GRS"}, "tags": {"data-classification": "health"}},
        AZ,
        "geo-redundant",
    ),
    (
        "health-backup-copy-in-region",
        health.uae_health_no_replication,
        "aws:backup/plan:Plan",
        {"rules": [{"copyActions": [{"destinationVaultArn": "arn:aws:backup:me-central-1:1:backup-vault:v"}]}]},
        HEALTH,
        "Backup copy",
    ),
]

# (id, validator, type, props, provider or None) -- each must stay silent.
COMPLIANT = [
    ("region-provider", aws_region.aws_region_allowed, "aws:s3/bucket:Bucket", {}, None),
    ("region-own-override-in-uae", aws_region.aws_region_allowed, "aws:s3/bucket:Bucket", {"region": "me-central-1"}, provider("us-east-1")),
    ("region-iam-is-global", aws_region.aws_region_allowed, "aws:iam/role:Role", {}, provider("us-east-1")),
    ("kms-single-region", aws_kms.aws_kms_single_region_keys, aws_kms.KEY, {"multiRegion": False}, None),
    (
        "ecr-replication-in-region",
        aws_ecr.aws_ecr_replication_in_region,
        aws_ecr.REPLICATION,
        {"replicationConfiguration": {"rules": [{"destinations": [{"region": "me-central-1", "registryId": "2"}]}]}},
        None,
    ),
    ("dynamodb-no-replicas", aws_dynamodb.aws_dynamodb_replicas_in_region, aws_dynamodb.TABLE, {"hashKey": "id"}, None),
    (
        "backup-copy-in-region",
        aws_backup.aws_backup_copies_in_region,
        aws_backup.PLAN,
        {"rules": [{"ruleName": "d", "copyActions": [{"destinationVaultArn": "arn:aws:backup:me-central-1:2:backup-vault:v"}]}]},
        None,
    ),
    ("dlm-no-copy", aws_dlm.aws_dlm_copies_in_region, aws_dlm.POLICY, {"policyDetails": {"schedules": [{"name": "daily"}]}}, None),
    ("ami-copy-in-region", aws_ec2.aws_ec2_copies_in_region, "aws:ec2/amiCopy:AmiCopy", {"sourceAmiRegion": "me-central-1"}, None),
    ("rds-same-region-replica", aws_rds.aws_rds_no_cross_region_replicas, aws_rds.INSTANCE, {"replicateSourceDb": "primary-db"}, None),
    (
        "bedrock-in-region",
        aws_bedrock.aws_bedrock_in_region_inference,
        "aws:bedrock/agentAgent:AgentAgent",
        {"foundationModel": "anthropic.claude-3-haiku-20240307-v1:0"},
        None,
    ),
    ("azure-location", azure_location.azure_location_allowed, "azure-native:compute:VirtualMachine", {"location": "UAE North"}, AZ),
    ("azure-child-without-location", azure_location.azure_location_allowed, "azure-native:storage:BlobContainer", {}, provider(None, package="azure-native")),
    (
        "azure-grs-uaenorth",
        azure_storage.azure_storage_replication_in_region,
        azure_storage.NATIVE,
        {"location": "uaenorth", "sku": {"name": "Standard_GZRS"}},
        AZ,
    ),
    ("azure-zrs", azure_storage.azure_storage_replication_in_region, azure_storage.NATIVE, {"location": "uaecentral", "sku": {"name": "Standard_ZRS"}}, AZ),
    ("acr-replication-in-uae", azure_acr.azure_acr_replication_in_region, azure_acr.REPLICATION, {"location": "uaecentral"}, AZ),
    (
        "cosmos-in-uae",
        azure_cosmosdb.azure_cosmosdb_locations_in_region,
        azure_cosmosdb.NATIVE,
        {"locations": [{"locationName": "UAE North"}, {"locationName": "uaecentral"}]},
        AZ,
    ),
    ("log-analytics-uaenorth", azure_monitor.azure_monitor_location_in_region, "azure-native:operationalinsights:Workspace", {}, AZ),
    ("openai-standard", azure_openai.azure_openai_deployment_in_region, "azure-native:cognitiveservices:Deployment", {"sku": {"name": "Standard"}}, AZ),
    (
        "k8s-ecr-me-central-1",
        kubernetes_images.kubernetes_images_in_region,
        "kubernetes:apps/v1:Deployment",
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": ECR}]}}}},
        None,
    ),
    (
        "helm-mirrored-name-tag-image",
        kubernetes_images.kubernetes_helm_images_in_region,
        "kubernetes:helm.sh/v3:Release",
        {"chart": "jupyterhub", "values": {"hub": {"image": {"name": ECR.split(":")[0], "tag": "4.4.0"}}}},
        None,
    ),
    (
        "helm-mirrored-image",
        kubernetes_images.kubernetes_helm_images_in_region,
        "kubernetes:helm.sh/v3:Release",
        {"chart": "x", "values": {"controller": {"image": {"repository": ECR.split(":")[0], "tag": "1.0"}}}},
        None,
    ),
    ("health-no-replication", health.uae_health_no_replication, "aws:s3/bucket:Bucket", {}, HEALTH),
    ("replication-allowed-when-not-health", health.uae_health_no_replication, "aws:s3/bucketReplicationConfig:BucketReplicationConfig", {"rules": []}, None),
]


@pytest.mark.parametrize("case,validate,type_token,props,prov,fragment", VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
def test_violation_reported(case, validate, type_token, props, prov, fragment, stack_config):
    messages = run(validate, type_token, props, prov)
    assert messages, f"{case}: {validate.__name__} reported nothing for {type_token} {props}"
    assert any(fragment in m for m in messages), f"{case}: expected {fragment!r} in {messages}"
    assert all("Fix:" in m and "(" + type_token + ")" in m for m in messages), f"{case}: message must name the resource and a fix: {messages}"


@pytest.mark.parametrize("case,validate,type_token,props,prov", COMPLIANT, ids=[c[0] for c in COMPLIANT])
def test_compliant_silent(case, validate, type_token, props, prov, stack_config):
    assert run(validate, type_token, props, prov) == [], f"{case}: {validate.__name__} must accept {type_token} {props}"


def test_region_falls_back_to_stack_config(stack_config):
    stack_config({"aws:region": "eu-west-1"})
    messages = run(aws_region.aws_region_allowed, "aws:sqs/queue:Queue", {}, provider(None))
    assert messages and "stack config `aws:region`" in messages[0], messages


def test_exception_with_justification_allows_edge(stack_config):
    config = {"exceptions": [{"resource": "public-site-*", "justification": "Static public marketing pages, no personal data (DPO 2026-03)"}]}
    assert run(aws_edge.aws_edge_services_denied, "aws:cloudfront/distribution:Distribution", {}, None, config, name="public-site-cdn") == []
    assert run(aws_edge.aws_edge_services_denied, "aws:cloudfront/distribution:Distribution", {}, None, config, name="app-cdn"), "other resources stay denied"


def test_exception_without_reason_or_expired_does_not_apply(stack_config):
    short = {"exceptions": [{"resource": "cdn", "justification": "because"}]}
    expired = {"exceptions": [{"resource": "cdn", "justification": "Static public marketing pages, no personal data", "expires": "2020-01-01"}]}
    for config in (short, expired):
        assert run(aws_edge.aws_edge_services_denied, "aws:cloudfront/distribution:Distribution", {}, None, config, name="cdn"), config


def test_allowed_regions_configurable(stack_config):
    config = {"allowedRegions": ["me-central-1"]}
    assert run(azure_location.azure_location_allowed, "azure-native:compute:Disk", {"location": "uaenorth"}, AZ, config), (
        "uaenorth is not allowed when only me-central-1 is"
    )


S3_DEST_OUT = [
    R("aws:s3/bucket:Bucket", "src"),
    R("aws:s3/bucket:Bucket", "dest", prov=provider("us-east-1")),
    R(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
        "repl",
        {"rules": [{"id": "all", "destination": {"bucket": "arn:aws:s3:::dest-1a2b3c4"}}]},
        deps=["src", "dest"],
    ),
]


def test_s3_replication_to_other_region_reported(stack_config):
    found = run_stack(aws_s3.aws_s3_replication_in_region, S3_DEST_OUT)
    assert len(found) == 1 and "us-east-1" in found[0][0] and found[0][1].endswith("::repl"), found


def test_s3_replication_to_unknown_bucket_reported(stack_config):
    found = run_stack(
        aws_s3.aws_s3_replication_in_region,
        [
            R(
                "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
                "repl",
                {"rules": [{"id": "r", "destination": {"bucket": "arn:aws:s3:::somewhere-else"}}]},
            )
        ],
    )
    assert found and "cannot be proven" in found[0][0], found


def test_s3_replication_in_region_accepted(stack_config):
    resources = [*S3_DEST_OUT[:1], R("aws:s3/bucket:Bucket", "dest"), S3_DEST_OUT[2]]
    assert run_stack(aws_s3.aws_s3_replication_in_region, resources) == []


AUDIT = [
    R("aws:s3/bucket:Bucket", "audit", {"objectLockEnabled": True}, prov=HEALTH),
    R(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
        "lock",
        {"rule": {"defaultRetention": {"mode": "COMPLIANCE", "days": 2555}}},
        deps=["audit"],
        prov=HEALTH,
    ),
    R("aws:cloudtrail/trail:Trail", "trail", {"s3BucketName": "audit-0a1b2c3"}, deps=["audit"], prov=HEALTH),
]


def test_health_audit_retention_too_short(stack_config):
    found = run_stack(health.uae_health_audit_retention, AUDIT)
    assert found and "2555 days" in found[0][0] and "9125" in found[0][0], found


def test_health_audit_retention_25_years(stack_config):
    long = [AUDIT[0], R(AUDIT[1].type, "lock", {"rule": {"defaultRetention": {"mode": "COMPLIANCE", "years": 25}}}, deps=["audit"], prov=HEALTH), AUDIT[2]]
    assert run_stack(health.uae_health_audit_retention, long) == []


def test_health_without_any_audit_trail(stack_config):
    found = run_stack(health.uae_health_audit_retention, [R("aws:s3/bucket:Bucket", "data", prov=HEALTH)])
    assert found and "no audit trail" in found[0][0], found


def test_audit_retention_not_required_below_health(stack_config):
    assert run_stack(health.uae_health_audit_retention, [R(r.type, r.name, r.props, r.deps) for r in AUDIT]) == []


def test_health_from_platform_config(stack_config):
    stack_config({"sahab:platform": {"tags": {"data_classification": "health"}}})
    messages = run(health.uae_health_no_replication, "aws:ecr/replicationConfiguration:ReplicationConfiguration", {}, provider(tags={"owner": "x"}))
    assert messages and "ECR replication" in messages[0], messages


@pytest.mark.parametrize(
    "config,fragment",
    [
        ({"backendUrl": "https://api.pulumi.com"}, "not an in-region bucket"),
        ({"backendUrl": "s3://state?region=eu-west-1"}, "region="),
        ({"backendUrl": "s3://state?region=me-central-1", "secretsProvider": "default"}, "secrets provider default"),
        ({"secretsProvider": "awskms://alias/state?region=us-east-1"}, "KMS key"),
    ],
)
def test_state_backend_out_of_region(config, fragment, stack_config, monkeypatch):
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    found = run_stack(stack_backend.uae_state_backend_in_region, [], config)
    assert found and fragment in found[0][0], found


def test_state_backend_in_region(stack_config, monkeypatch):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://sahab-state?region=me-central-1")
    assert run_stack(stack_backend.uae_state_backend_in_region, [], {"secretsProvider": "awskms://alias/sahab?region=me-central-1"}) == []
    monkeypatch.setenv("PULUMI_BACKEND_URL", "https://api.pulumi.com")
    assert run_stack(stack_backend.uae_state_backend_in_region, []), "$PULUMI_BACKEND_URL is read when config has none"
