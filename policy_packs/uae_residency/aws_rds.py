"""RDS: no global clusters, no cross-region read replicas or automated-backup replication."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from policy_packs.common.config import ALLOWED_REGIONS, schema
from policy_packs.common.policy import say, subject
from policy_packs.common.regions import allowed, arn_region, aws_region, fmt_regions

CONFIG = schema(allowedRegions=ALLOWED_REGIONS)
GLOBAL = "aws:rds/globalCluster:GlobalCluster"
CLUSTER = "aws:rds/cluster:Cluster"
INSTANCE = "aws:rds/instance:Instance"
BACKUP_REPLICATION = "aws:rds/instanceAutomatedBackupsReplication:InstanceAutomatedBackupsReplication"


def aws_rds_no_cross_region_replicas(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (GLOBAL, CLUSTER, INSTANCE, BACKUP_REPLICATION):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    regions = s.config["allowedRegions"]
    if s.type == GLOBAL:
        report_violation(
            say(
                s,
                "an Aurora global database replicates storage to secondary regions by design; AWS has one UAE region",
                "use a regional cluster with Multi-AZ instead",
            ),
            None,
        )
        return
    if s.type == CLUSTER and s.props.get("globalClusterIdentifier"):
        report_violation(
            say(
                s,
                f"joins global cluster {s.props['globalClusterIdentifier']}, which replicates across regions",
                "remove `globalClusterIdentifier`; use Multi-AZ for in-country resilience",
            ),
            None,
        )
    source = s.props.get("replicationSourceIdentifier") if s.type == CLUSTER else s.props.get("replicateSourceDb")
    if s.type == BACKUP_REPLICATION:
        source = s.props.get("sourceDbInstanceArn")
    if source:
        source_region = arn_region(source)
        region, where = aws_region(s.props, s.provider)
        # A plain identifier (not an ARN) names a source in the same region.
        if source_region is not None and (not allowed(source_region, regions) or not allowed(region, regions)):
            report_violation(
                say(
                    s,
                    f"replicates from {source} ({source_region}) into {region} (from {where}); both must be in {fmt_regions(regions)}",
                    "replicate only within the region (same-region read replica or Multi-AZ)",
                ),
                None,
            )
