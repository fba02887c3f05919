"""Data class `health` (ICT Health Law, Federal Law 2/2019): no replication of any kind, and
audit records kept at least 25 years."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from policy_packs.common.config import DATA_CLASSIFICATION, schema, settings, stack_value
from policy_packs.common.policy import Subject, physical_name_matches, report, say, stack_subjects, subject
from policy_packs.common.tags import data_class
from policy_packs.common.values import as_list, as_map, number, truthy
from policy_packs.uae_residency.aws_dlm import copy_targets
from policy_packs.uae_residency.aws_s3 import BUCKET, BUCKET_V2, replication_destinations
from policy_packs.uae_residency.azure_cosmosdb import cosmos_locations
from policy_packs.uae_residency.azure_storage import GEO, storage_redundancy

HEALTH_RETENTION_DAYS = 25 * 365
CONFIG = schema(dataClassification=DATA_CLASSIFICATION)
RETENTION_CONFIG = {"dataClassification": DATA_CLASSIFICATION, "minimumRetentionDays": {"type": "integer", "minimum": 1, "default": HEALTH_RETENTION_DAYS}}

# Types that exist only to replicate or copy data.
ALWAYS_REPLICATION = {
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig": "S3 replication",
    "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint": "a Multi-Region Access Point",
    "aws:ecr/replicationConfiguration:ReplicationConfiguration": "ECR replication",
    "aws:kms/replicaKey:ReplicaKey": "a KMS replica key",
    "aws:kms/replicaExternalKey:ReplicaExternalKey": "a KMS replica key",
    "aws:dynamodb/tableReplica:TableReplica": "a DynamoDB table replica",
    "aws:dynamodb/globalTable:GlobalTable": "a DynamoDB global table",
    "aws:rds/globalCluster:GlobalCluster": "an Aurora global database",
    "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication": "RDS backup replication",
    "aws:ebs/snapshotCopy:SnapshotCopy": "an EBS snapshot copy",
    "aws:ec2/amiCopy:AmiCopy": "an AMI copy",
    "aws:elasticache/globalReplicationGroup:GlobalReplicationGroup": "an ElastiCache global datastore",
    "azure-native:containerregistry:Replication": "ACR geo-replication",
}


def replication_of(s: Subject) -> str | None:
    """What replication `s` configures, in words, or None."""
    if s.type in ALWAYS_REPLICATION:
        return ALWAYS_REPLICATION[s.type]
    p = s.props
    if s.type in (BUCKET, BUCKET_V2) and replication_destinations(s):
        return "inline S3 replication"
    if s.type in ("aws:kms/key:Key", "aws:kms/externalKey:ExternalKey") and truthy(p.get("multiRegion")):
        return "a multi-region KMS key"
    if s.type == "aws:dynamodb/table:Table" and as_list(p.get("replicas")):
        return "DynamoDB global-table replicas"
    if s.type == "aws:backup/plan:Plan" and any(as_list(as_map(r).get("copyActions")) for r in as_list(p.get("rules"))):
        return "AWS Backup copy actions"
    if s.type == "aws:dlm/lifecyclePolicy:LifecyclePolicy" and copy_targets(p):
        return "DLM cross-region copies"
    if s.type == "aws:rds/cluster:Cluster" and (p.get("globalClusterIdentifier") or p.get("replicationSourceIdentifier")):
        return "an RDS cluster replica"
    if s.type == "aws:rds/instance:Instance" and p.get("replicateSourceDb"):
        return "an RDS read replica"
    if s.type in ("azure-native:storage:StorageAccount", "azure:storage/account:Account") and storage_redundancy(s.type, p) in GEO:
        return f"geo-redundant storage ({storage_redundancy(s.type, p)})"
    if s.type == "azure:containerservice/registry:Registry" and as_list(p.get("georeplications")):
        return "ACR geo-replication"
    if s.type in ("azure-native:cosmosdb:DatabaseAccount", "azure:cosmosdb/account:Account") and len(cosmos_locations(s.type, p)) > 1:
        return "Cosmos DB multi-location replication"
    return None


def uae_health_no_replication(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not args.resource_type.startswith(("aws:", "azure-native:", "azure:")):
        return
    s = subject(args, CONFIG)
    if s is None or data_class(s.config, s.props, s.provider) != "health":
        return
    what = replication_of(s)
    if what:
        report_violation(
            say(
                s,
                f"configures {what}; health data may not be replicated or copied at all (ICT Health Law Art. 13)",
                "remove the replication; rely on in-region multi-AZ durability and in-region backups",
            ),
            None,
        )


def _stack_is_health(config: dict, subjects: list[Subject]) -> bool:
    if config.get("dataClassification"):
        return config["dataClassification"] == "health"
    if any(data_class({}, s.props, s.provider) == "health" for s in subjects):
        return True
    platform = stack_value("sahab:platform")
    return isinstance(platform, dict) and (platform.get("tags") or {}).get("data_classification") == "health"


def _lock_days(rule: dict) -> float:
    retention = as_map(as_map(rule).get("defaultRetention"))
    days = number(retention.get("days"), 0) or 0
    years = number(retention.get("years"), 0) or 0
    return max(days, years * 365)


def uae_health_audit_retention(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """Every audit store (the bucket a CloudTrail trail writes to, Azure immutable containers)
    must lock records for at least 25 years; a health stack with no audit store fails."""
    config = settings(args, RETENTION_CONFIG)
    cloud = [s for s in stack_subjects(args, prefix="a") if s.type.startswith(("aws:", "azure"))]
    if not _stack_is_health(config, cloud):
        return
    minimum = int(config["minimumRetentionDays"])
    by_urn = {s.urn: s for s in cloud}
    locks = [s for s in cloud if s.type == "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"]
    trails = [s for s in cloud if s.type == "aws:cloudtrail/trail:Trail"]
    immutability = [s for s in cloud if s.type == "azure-native:storage:BlobContainerImmutabilityPolicy"]
    if not trails and not immutability:
        report_violation(
            f"stack: data class is health but no audit trail exists (no CloudTrail trail, no immutable Azure container). Fix: add an audit trail writing to an Object-Locked bucket retained {minimum} days (25 years).",
            None,
        )
        return
    for trail in trails:
        bucket_name = trail.props.get("s3BucketName")
        buckets = [by_urn[d] for d in trail.dependencies if d in by_urn and by_urn[d].type in (BUCKET, BUCKET_V2)]
        audit = next((b for b in buckets if physical_name_matches(bucket_name, b, "bucket")), None)
        lock = next((lk for lk in locks if audit is not None and audit.urn in lk.dependencies), None)
        days = _lock_days(as_map(lock.props.get("rule"))) if lock else 0
        mode = str(as_map(as_map(lock.props.get("rule")).get("defaultRetention")).get("mode") or "") if lock else ""
        if days < minimum or mode != "COMPLIANCE":
            report(
                report_violation,
                trail,
                f"its audit bucket {audit.name if audit else bucket_name} keeps records {int(days)} days{' in ' + mode + ' mode' if mode else ' (no Object Lock configuration)'}; health records need at least {minimum} days (25 years) in COMPLIANCE mode",
                f"set `storage.audit_retention_days: {minimum}` in the environment (Object Lock COMPLIANCE, {minimum} days)",
            )
    for policy in immutability:
        days = number(policy.props.get("immutabilityPeriodSinceCreationInDays"), 0) or 0
        if days < minimum:
            report(
                report_violation,
                policy,
                f"keeps audit blobs immutable {int(days)} days; health records need {minimum} days (25 years)",
                f"set `immutabilityPeriodSinceCreationInDays: {minimum}`",
            )
