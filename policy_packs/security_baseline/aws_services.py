"""Customer-managed keys, TLS and private endpoints on AWS services (EBS, EKS, CloudWatch Logs,
ECR, RDS, ElastiCache, KMS rotation, IMDSv2, load balancer TLS)."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs, StackValidationArgs

from policy_packs.common.config import schema, settings
from policy_packs.common.policy import report, say, stack_subjects, subject
from policy_packs.common.values import as_list, as_map, truthy

CONFIG = schema()
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"


def aws_ebs_cmk_encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (VOLUME, LAUNCH_TEMPLATE, INSTANCE):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    disks: list[tuple[str, dict]] = []
    if s.type == VOLUME:
        disks.append(("the volume", s.props))
    elif s.type == LAUNCH_TEMPLATE:
        disks += [
            (f"block device {as_map(m).get('deviceName')}", as_map(as_map(m).get("ebs")))
            for m in as_list(s.props.get("blockDeviceMappings"))
            if as_map(m).get("ebs") is not None
        ]
    else:
        disks.append(("the root volume", as_map(s.props.get("rootBlockDevice"))))
        disks += [(f"volume {as_map(d).get('deviceName')}", as_map(d)) for d in as_list(s.props.get("ebsBlockDevices"))]
    for where, disk in disks:
        if not truthy(disk.get("encrypted")) or not disk.get("kmsKeyId"):
            report_violation(
                say(
                    s,
                    f"{where} is not encrypted with a customer-managed KMS key (`encrypted` and `kmsKeyId` must both be set)",
                    "set `encrypted: true` and `kms_key_id` to the platform's data key",
                ),
                None,
            )


def aws_eks_secrets_encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "aws:eks/cluster:Cluster":
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    enc = as_map(s.props.get("encryptionConfig"))
    if not as_map(enc.get("provider")).get("keyArn") or "secrets" not in as_list(enc.get("resources")):
        report_violation(
            say(
                s,
                "Kubernetes secrets are not envelope-encrypted with a customer-managed KMS key",
                "set `encryption_config={provider: {key_arn: <cluster key>}, resources: [secrets]}`",
            ),
            None,
        )


def aws_eks_private_endpoint(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "aws:eks/cluster:Cluster":
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    vpc = as_map(s.props.get("vpcConfig"))
    public = vpc.get("endpointPublicAccess")
    if public is None or truthy(public):  # EKS defaults the public endpoint on
        cidrs = as_list(vpc.get("publicAccessCidrs")) or ["0.0.0.0/0 (the default)"]
        report_violation(
            say(
                s,
                f"the API server endpoint is public (reachable from {', '.join(map(str, cidrs))})",
                "set `endpoint_public_access: false` and `endpoint_private_access: true`; reach it over the VPC (or allow-list the cluster with a justification)",
            ),
            None,
        )
    if not truthy(vpc.get("endpointPrivateAccess")):
        report_violation(
            say(s, "the private API endpoint is off, so nodes and operators reach the API server over the internet", "set `endpoint_private_access: true`"),
            None,
        )


def aws_cloudwatch_log_group_cmk(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "aws:cloudwatch/logGroup:LogGroup":
        return
    s = subject(args, CONFIG)
    if s is not None and not s.props.get("kmsKeyId"):
        report_violation(
            say(s, "log events are encrypted with a CloudWatch-owned key, not a customer-managed one", "set `kms_key_id` to the platform's logs key"), None
        )


def aws_ecr_cmk_encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "aws:ecr/repository:Repository":
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    enc = [as_map(e) for e in as_list(s.props.get("encryptionConfigurations"))]
    if not enc or not all(e.get("encryptionType") in ("KMS", "KMS_DSSE") and e.get("kmsKey") for e in enc):
        report_violation(
            say(
                s,
                "image layers are encrypted with AES256 (AWS-owned), not a customer-managed KMS key",
                "set `encryption_configurations=[{encryption_type: KMS, kms_key: <data key>}]`",
            ),
            None,
        )


def aws_rds_cmk_encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster"):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    if not truthy(s.props.get("storageEncrypted")) or not s.props.get("kmsKeyId"):
        report_violation(
            say(
                s,
                "storage is not encrypted with a customer-managed KMS key (`storageEncrypted` and `kmsKeyId`)",
                "set `storage_encrypted: true` and `kms_key_id` to the data key",
            ),
            None,
        )
    if truthy(s.props.get("publiclyAccessible")):
        report_violation(say(s, "`publiclyAccessible: true` gives the database a public address", "set `publicly_accessible: false`"), None)


def aws_rds_tls_required(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    """PostgreSQL/MySQL instances use a parameter group that forces TLS (rds.force_ssl /
    require_secure_transport); the pair is found through the instance's dependencies."""
    config = settings(args, CONFIG)
    groups = {g.urn: g for g in stack_subjects(args, ("aws:rds/parameterGroup:ParameterGroup", "aws:rds/clusterParameterGroup:ClusterParameterGroup"))}
    for db in stack_subjects(args, ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster")):
        engine = str(db.props.get("engine") or "")
        wanted = {
            "postgres": ("rds.force_ssl", "1"),
            "aurora-postgresql": ("rds.force_ssl", "1"),
            "mysql": ("require_secure_transport", "1"),
            "aurora-mysql": ("require_secure_transport", "1"),
            "mariadb": ("require_secure_transport", "1"),
        }.get(engine)
        if wanted is None:
            continue
        attached = [groups[d] for d in db.dependencies if d in groups]
        ok = any(
            str(as_map(p).get("name")) == wanted[0] and str(as_map(p).get("value")).upper() in (wanted[1], "ON")
            for g in attached
            for p in as_list(g.props.get("parameters"))
        )
        if not ok:
            report(
                report_violation,
                db,
                f"{engine} does not require TLS: no attached parameter group sets `{wanted[0]} = {wanted[1]}`, so clients may connect in plain text",
                f"attach an aws.rds.ParameterGroup with `{wanted[0]}` = `{wanted[1]}`",
                config,
            )


def aws_elasticache_encryption(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in ("aws:elasticache/replicationGroup:ReplicationGroup", "aws:elasticache/serverlessCache:ServerlessCache"):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    if s.type.endswith("ReplicationGroup") and (not truthy(s.props.get("atRestEncryptionEnabled")) or not s.props.get("kmsKeyId")):
        report_violation(
            say(
                s,
                "data at rest is not encrypted with a customer-managed KMS key (`atRestEncryptionEnabled` and `kmsKeyId`)",
                "set `at_rest_encryption_enabled: true` and `kms_key_id`",
            ),
            None,
        )
    if s.type.endswith("ServerlessCache") and not s.props.get("kmsKeyId"):
        report_violation(say(s, "the serverless cache uses an AWS-owned key", "set `kms_key_id`"), None)


def aws_elasticache_tls(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "aws:elasticache/replicationGroup:ReplicationGroup":
        return
    s = subject(args, CONFIG)
    if s is not None and not truthy(s.props.get("transitEncryptionEnabled")):
        report_violation(
            say(s, "in-transit encryption is off: clients talk to Redis in plain text", "set `transit_encryption_enabled: true` (and an auth token)"), None
        )


def aws_kms_key_rotation(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "aws:kms/key:Key":
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    spec = str(s.props.get("customerMasterKeySpec") or s.props.get("keySpec") or "SYMMETRIC_DEFAULT")
    if spec == "SYMMETRIC_DEFAULT" and not truthy(s.props.get("enableKeyRotation")):
        report_violation(say(s, "automatic key rotation is off", "set `enable_key_rotation: true` (and `rotation_period_in_days`)"), None)


def aws_ec2_imdsv2(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (LAUNCH_TEMPLATE, INSTANCE):
        return
    s = subject(args, CONFIG)
    if s is not None and as_map(s.props.get("metadataOptions")).get("httpTokens") != "required":
        report_violation(
            say(
                s,
                "instance metadata accepts IMDSv1 (no session token), which SSRF can use to steal the node's credentials",
                "set `metadata_options={http_tokens: required, http_put_response_hop_limit: 1}`",
            ),
            None,
        )


MODERN_TLS = ("TLS13", "TLS-1-2", "FS-1-2", "TLS-1-3")


def aws_lb_tls(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in ("aws:lb/listener:Listener", "aws:alb/listener:Listener"):
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    protocol = str(s.props.get("protocol") or "")
    if protocol in ("HTTPS", "TLS"):
        policy = str(s.props.get("sslPolicy") or "ELBSecurityPolicy-2016-08")
        if not any(m in policy for m in MODERN_TLS):
            report_violation(
                say(s, f"SSL policy {policy} still accepts TLS 1.0/1.1", "set `ssl_policy` to ELBSecurityPolicy-TLS13-1-2-2021-06 (TLS 1.2+)"), None
            )
    elif protocol in ("HTTP", "TCP", ""):
        redirects = [
            as_map(a)
            for a in as_list(s.props.get("defaultActions"))
            if as_map(a).get("type") == "redirect" and as_map(as_map(a).get("redirect")).get("protocol") == "HTTPS"
        ]
        if not redirects:
            report_violation(
                say(
                    s,
                    f"serves {protocol or 'plain'} traffic without TLS",
                    "listen on HTTPS/TLS with a TLS 1.2+ policy, or make this listener only redirect to HTTPS",
                ),
                None,
            )


def aws_cloudtrail_integrity(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != "aws:cloudtrail/trail:Trail":
        return
    s = subject(args, CONFIG)
    if s is None:
        return
    if not truthy(s.props.get("enableLogFileValidation")):
        report_violation(
            say(s, "log file validation is off, so tampering with delivered audit logs would go unnoticed", "set `enable_log_file_validation: true`"), None
        )
    if not s.props.get("kmsKeyId"):
        report_violation(say(s, "audit logs are encrypted with S3-managed keys", "set `kms_key_id` to the logs key"), None)


def aws_cloudtrail_present(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = [r for r in args.resources if r.resource_type.startswith("aws:") and not r.resource_type.startswith("aws:iam/")]
    if not resources:
        return
    trails = [t for t in stack_subjects(args, ("aws:cloudtrail/trail:Trail",)) if t.props.get("enableLogging") is None or truthy(t.props.get("enableLogging"))]
    if not trails:
        report_violation(
            "stack: AWS resources are deployed but no CloudTrail trail is logging, so there is no audit trail of who changed or read them. Fix: add the AuditTrail component (a multi-region trail with log file validation to an Object-Locked bucket).",
            None,
        )
