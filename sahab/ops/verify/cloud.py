"""Cloud part of `sahab verify` (AWS, boto3): the live resources are in the UAE, encrypted with the
stack's keys, private, versioned and locked where the plan promised, audited by a validating trail,
and nothing replicates out of the region.

Every check reads only (Describe/Get/List); the permissions are listed in README ("Verify after
`sahab up`"). Endpoints follow boto3's own configuration (AWS_PROFILE, AWS_ENDPOINT_URL...), which is
how the tests point it at a moto server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sahab.ops.verify.base import Check, problem
from sahab.ops.verify.context import (
    BucketPromise,
    CachePromise,
    ClusterPromise,
    DatabasePromise,
    LogGroupPromise,
    Promises,
    RepositoryPromise,
    StackOutputs,
    TrailPromise,
)

# Control-plane services whose ARNs carry no region by design (UAE.md: IAM must be allowed).
GLOBAL_CONTROL_PLANE = frozenset({"iam", "sts", "organizations"})


def _error_code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__))


@dataclass
class Aws:
    """boto3 clients for the stack's region (and, lazily, for others), with per-run caches."""

    region: str
    scan_regions: tuple[str, ...] | None = None
    """Regions the tag scan covers; None: every region enabled for the account (DescribeRegions)."""
    session: Any = None
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _keys: dict[str, str] = field(default_factory=dict)  # key reference (id, ARN, alias) -> key ARN

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3

        region = region or self.region
        if (service, region) not in self._clients:
            # One session for every client: it caches the service models, which makes a client
            # per region (the tag scan) cheap.
            self.session = self.session or boto3.session.Session()
            self._clients[(service, region)] = self.session.client(service, region_name=region)
        return self._clients[(service, region)]

    def key_arn(self, ref: str) -> str | None:
        """The ARN of the key `ref` names (an id, an ARN or an alias), None when it does not resolve."""
        if ref not in self._keys:
            region = ref.split(":")[3] if ref.startswith("arn:") else self.region
            try:
                self._keys[ref] = self.client("kms", region).describe_key(KeyId=ref)["KeyMetadata"]["Arn"]
            except Exception:  # noqa: BLE001 any failure means "not one of ours"
                self._keys[ref] = ""
        return self._keys[ref] or None

    def bucket_region(self, bucket: str) -> str:
        """Where a bucket lives (GetBucketLocation answers None for us-east-1)."""
        return self.client("s3").get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"


def cloud_checks(promises: Promises, outputs: StackOutputs, aws: Aws) -> list[Check]:
    """Every cloud check for this stack, built from the promises and outputs (no calls yet)."""
    checks = [Check(id="cloud-tagged-resources-in-region", subject=_tag_label(promises.tags), run=lambda: tagged_resources_in_region(promises, aws))]
    for purpose, arn in sorted(outputs.keys.items()):
        checks += _key_checks(purpose, arn, promises, aws)
    for bucket in promises.buckets:
        name = outputs.bucket_names.get(bucket.purpose)
        checks += _bucket_checks(bucket, name, promises, outputs, aws)
    for trail in promises.trails:
        checks += _trail_checks(trail, promises, outputs, aws)
    for repo in promises.repositories:
        checks += _repository_checks(repo, outputs, aws)
    for group in promises.log_groups:
        checks.append(Check(id="cloud-logs-encrypted-with-stack-key", subject=group.name, run=partial(log_group_encrypted, group, outputs, aws)))
    for cluster in promises.clusters:
        checks += _eks_checks(cluster, outputs, aws)
    if outputs.registry_database_endpoint:
        identifier = outputs.registry_database_endpoint.split(".", 1)[0]
        for db in promises.databases[:1]:  # the registry's database (the one the outputs name)
            checks += _rds_checks(identifier, db, outputs, aws)
    if outputs.online_store_endpoint and promises.caches:
        replication_group = _replication_group_id(outputs.online_store_endpoint)
        checks.append(
            Check(
                id="cloud-elasticache-encrypted-with-stack-key",
                subject=replication_group,
                run=partial(cache_encrypted, replication_group, promises.caches[0], outputs, aws),
            )
        )
    checks.append(Check(id="cloud-ecr-replication-in-region", subject=f"registry {promises.region}", run=lambda: registry_replication_in_region(promises, aws)))
    for label, secret_arn in (("registry database", outputs.registry_database_secret), ("online store", outputs.online_store_secret)):
        if secret_arn:
            checks.append(Check(id="cloud-secret-encrypted-with-stack-key", subject=secret_arn, run=partial(secret_encrypted, secret_arn, label, outputs, aws)))
    return checks


def _tag_label(tags: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(tags.items()))


# --- residency of everything the stack tagged -----------------------------------------------------


def tagged_resources_in_region(promises: Promises, aws: Aws) -> list[str]:
    """Every resource carrying the stack's tags, in every enabled region, lives in an allowed region."""
    filters = [{"Key": k, "Values": [v]} for k, v in sorted(promises.tags.items())]
    regions = aws.scan_regions or tuple(r["RegionName"] for r in aws.client("ec2").describe_regions()["Regions"])
    seen: dict[str, str] = {}
    problems = []
    for region in sorted(set(regions) | set(promises.allowed_regions)):
        paginator = aws.client("resourcegroupstaggingapi", region).get_paginator("get_resources")
        try:
            for page in paginator.paginate(TagFilters=filters):
                for item in page["ResourceTagMappingList"]:
                    seen.setdefault(item["ResourceARN"], region)
        except Exception as e:  # noqa: BLE001 judged below
            # An SCP that denies a region (the usual way to fence an account into the UAE) denies
            # creating anything there too: nothing of the stack can hide in it.
            if _error_code(e) not in ("AccessDenied", "AccessDeniedException"):
                problems.append(
                    problem(
                        f"region {region}",
                        "resource groups tagging",
                        f"the stack's resources there cannot be listed ({_error_code(e)})",
                        "grant tag:GetResources to the verifying role",
                    )
                )
    for arn in sorted(seen):
        parts = arn.split(":")
        service, where = parts[2], parts[3]
        if not where and service == "s3":
            where = aws.bucket_region(arn.split(":::", 1)[1].split("/")[0])
        if not where:
            if service in GLOBAL_CONTROL_PLANE:
                continue
            problems.append(
                problem(
                    arn,
                    service,
                    "a global service carries the stack's tags; it caches or routes data outside the UAE",
                    "remove it, or allow-list it in policy.yaml with a justification",
                )
            )
        elif where not in promises.allowed_regions:
            problems.append(
                problem(
                    arn,
                    service,
                    f"it lives in {where}, outside the allowed regions {list(promises.allowed_regions)}",
                    f"move it to {promises.region} (and delete the copy in {where})",
                )
            )
    return problems


# --- KMS -------------------------------------------------------------------------------------------


def _key_checks(purpose: str, arn: str, promises: Promises, aws: Aws) -> list[Check]:
    def meta() -> dict[str, Any]:
        return aws.client("kms", _arn_region(arn, promises.region)).describe_key(KeyId=arn)["KeyMetadata"]

    def in_region() -> list[str]:
        where = _arn_region(arn, promises.region)
        return (
            []
            if where in promises.allowed_regions
            else [problem(arn, f"kms key {purpose}", f"it lives in {where}, outside {list(promises.allowed_regions)}", f"create the key in {promises.region}")]
        )

    def enabled() -> list[str]:
        m = _or_missing(meta, arn, f"kms key {purpose}")
        if isinstance(m, Unreadable):
            return m
        found = []
        if m.get("KeyState") != "Enabled":
            when = f" (deletion on {m['DeletionDate']})" if m.get("DeletionDate") else ""
            found.append(
                problem(
                    arn,
                    f"kms key {purpose}",
                    f"its state is {m.get('KeyState')}{when}: what it encrypts becomes unreadable",
                    "cancel the deletion (`aws kms cancel-key-deletion`) and enable the key",
                )
            )
        if m.get("KeyManager") != "CUSTOMER":
            found.append(
                problem(arn, f"kms key {purpose}", f"it is {m.get('KeyManager')}-managed, not customer-managed", "use the stack's customer-managed key")
            )
        return found

    def single_region() -> list[str]:
        m = _or_missing(meta, arn, f"kms key {purpose}")
        if isinstance(m, Unreadable):
            return m
        return (
            [
                problem(
                    arn,
                    f"kms key {purpose}",
                    "it is a multi-Region key: replicas can decrypt its data outside the UAE",
                    "replace it with a single-Region key (multiRegion: false)",
                )
            ]
            if m.get("MultiRegion")
            else []
        )

    def rotation() -> list[str]:
        try:
            on = aws.client("kms", _arn_region(arn, promises.region)).get_key_rotation_status(KeyId=arn)["KeyRotationEnabled"]
        except Exception as e:  # noqa: BLE001 reported as a finding
            return [
                problem(
                    arn, f"kms key {purpose}", f"its rotation status cannot be read ({_error_code(e)})", "grant kms:GetKeyRotationStatus to the verifying role"
                )
            ]
        return [] if on else [problem(arn, f"kms key {purpose}", "automatic rotation is off", "enable rotation (`aws kms enable-key-rotation`)")]

    return [
        Check(id="cloud-kms-key-in-region", subject=arn, run=in_region),
        Check(id="cloud-kms-key-enabled", subject=arn, run=enabled),
        Check(id="cloud-kms-key-single-region", subject=arn, run=single_region),
        Check(id="cloud-kms-key-rotation", subject=arn, run=rotation),
    ]


def _arn_region(arn: str, default: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else default


class Unreadable(list):
    """The findings standing in for a value that could not be read."""


def _unreadable(resource: str, kind: str, exc: Exception) -> Unreadable:
    return Unreadable(
        [
            problem(
                resource,
                kind,
                f"it cannot be read ({_error_code(exc)}): it is missing or the verifier may not see it",
                "deploy it with `sahab up`, or grant the verifying role read access",
            )
        ]
    )


def _or_missing(read: Callable[[], Any], resource: str, kind: str) -> Any:
    """`read()`, or `Unreadable` findings saying it cannot be read (missing, or no permission)."""
    try:
        return read()
    except Exception as e:  # noqa: BLE001 reported as a finding
        return _unreadable(resource, kind, e)


def _wrong_key(resource: str, kind: str, ref: str | None, purpose: str | None, outputs: StackOutputs, aws: Aws, fix: str) -> list[str]:
    """The finding when the key `ref` names is not the stack's `purpose` key (any stack key when
    the plan's own reference could not be traced to a purpose)."""
    want = outputs.keys.get(purpose or "")
    allowed = {want} if want else set(outputs.keys.values())
    got = (aws.key_arn(ref) or ref) if ref else None
    if got in allowed:
        return []
    return [
        problem(
            resource,
            kind,
            f"it is encrypted with {got or 'no customer-managed key'}, not the stack's {f'{purpose} ' if want else ''}key {want or sorted(allowed)}",
            fix,
        )
    ]


# --- S3 --------------------------------------------------------------------------------------------


def _bucket_checks(bucket: BucketPromise, name: str | None, promises: Promises, outputs: StackOutputs, aws: Aws) -> list[Check]:
    if name is None:
        return [
            Check(
                id="cloud-s3-bucket-exported",
                subject=bucket.purpose,
                run=lambda: [
                    problem(
                        bucket.purpose, "s3 bucket", "the plan has this bucket but the stack outputs name none", "run `sahab up` so bucket_names carries it"
                    )
                ],
            )
        ]
    kind = f"s3 bucket {bucket.purpose}"
    s3 = lambda: aws.client("s3")  # noqa: E731 resolved when the check runs

    def in_region() -> list[str]:
        where = _or_missing(lambda: aws.bucket_region(name), name, kind)
        if isinstance(where, Unreadable):
            return where
        return (
            []
            if where in promises.allowed_regions
            else [problem(name, kind, f"it lives in {where}, outside {list(promises.allowed_regions)}", f"recreate it in {promises.region} and move the data")]
        )

    def encrypted() -> list[str]:
        rules = _or_missing(lambda: s3().get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"], name, kind)
        if isinstance(rules, Unreadable):
            return rules
        default = (rules[0] if rules else {}).get("ApplyServerSideEncryptionByDefault", {})
        fix = f"set default encryption to SSE-KMS with the stack's {bucket.key or ''} key".replace("  ", " ")
        if default.get("SSEAlgorithm") not in ("aws:kms", "aws:kms:dsse"):
            return [problem(name, kind, f"default encryption is {default.get('SSEAlgorithm')}, not SSE-KMS with the stack's key", fix)]
        return _wrong_key(name, kind, default.get("KMSMasterKeyID"), bucket.key, outputs, aws, fix)

    def public_access_blocked() -> list[str]:
        try:
            conf = s3().get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except Exception as e:  # noqa: BLE001 no configuration is a finding
            conf = {} if _error_code(e) == "NoSuchPublicAccessBlockConfiguration" else None
            if conf is None:
                return _unreadable(name, kind, e)
        off = [k for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets") if not conf.get(k)]
        return [problem(name, kind, f"public access is not blocked ({', '.join(off)} off)", "turn all four public access block settings on")] if off else []

    def versioning() -> list[str]:
        status = _or_missing(lambda: s3().get_bucket_versioning(Bucket=name).get("Status"), name, kind)
        if isinstance(status, Unreadable):
            return status
        return [] if status == "Enabled" else [problem(name, kind, f"versioning is {status or 'off'}, the plan promised Enabled", "enable versioning")]

    def object_lock() -> list[str]:
        try:
            conf = s3().get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
        except Exception as e:  # noqa: BLE001 absent configuration is the finding
            return [
                problem(
                    name,
                    kind,
                    f"Object Lock is not configured ({_error_code(e)}), the plan promised {bucket.object_lock_mode} for {bucket.object_lock_days} days",
                    "recreate the bucket with Object Lock and set the default retention",
                )
            ]
        retention = (conf.get("Rule") or {}).get("DefaultRetention") or {}
        days = retention.get("Days") or (retention.get("Years") or 0) * 365
        if conf.get("ObjectLockEnabled") != "Enabled" or retention.get("Mode") != bucket.object_lock_mode or days < (bucket.object_lock_days or 0):
            return [
                problem(
                    name,
                    kind,
                    f"Object Lock is {conf.get('ObjectLockEnabled')} with {retention.get('Mode')} for {days} days, the plan promised {bucket.object_lock_mode} for {bucket.object_lock_days} days",
                    "set the default retention the plan promises",
                )
            ]
        return []

    def replication_in_region() -> list[str]:
        try:
            rules = s3().get_bucket_replication(Bucket=name)["ReplicationConfiguration"]["Rules"]
        except Exception as e:  # noqa: BLE001 no configuration is the good case
            if _error_code(e) == "ReplicationConfigurationNotFoundError":
                return []
            return _unreadable(name, kind, e)
        found = []
        for rule in rules:
            dest = (rule.get("Destination") or {}).get("Bucket", "").split(":::")[-1]
            try:
                where = aws.bucket_region(dest)
            except Exception:  # noqa: BLE001 an unreadable destination cannot be proven in-region
                where = "an unknown region (the destination cannot be read)"
            if where not in promises.allowed_regions:
                found.append(
                    problem(
                        name,
                        kind,
                        f"replication rule {rule.get('ID', '?')!r} copies objects to {dest} in {where}: the data leaves the UAE",
                        "delete the replication configuration (`aws s3api delete-bucket-replication`)",
                    )
                )
        return found

    checks = [
        Check(id="cloud-s3-bucket-in-region", subject=name, run=in_region),
        Check(id="cloud-s3-encrypted-with-stack-key", subject=name, run=encrypted),
        Check(id="cloud-s3-public-access-blocked", subject=name, run=public_access_blocked),
        Check(id="cloud-s3-replication-in-region", subject=name, run=replication_in_region),
    ]
    if bucket.versioning:
        checks.append(Check(id="cloud-s3-versioning", subject=name, run=versioning))
    if bucket.object_lock_mode:
        checks.append(Check(id="cloud-s3-object-lock", subject=name, run=object_lock))
    return checks


# --- CloudTrail ------------------------------------------------------------------------------------


def _trail_checks(trail: TrailPromise, promises: Promises, outputs: StackOutputs, aws: Aws) -> list[Check]:
    kind = "cloudtrail trail"

    def describe() -> Any:
        found = _or_missing(
            lambda: aws.client("cloudtrail").describe_trails(trailNameList=[trail.name], includeShadowTrails=False)["trailList"], trail.name, kind
        )
        if isinstance(found, Unreadable):
            return found
        if not found:
            return Unreadable([problem(trail.name, kind, f"no such trail in {promises.region}", "deploy the audit trail with `sahab up`")])
        return found[0]

    def logging() -> list[str]:
        t = describe()
        if isinstance(t, Unreadable):
            return t
        if t.get("HomeRegion") not in promises.allowed_regions:
            return [problem(trail.name, kind, f"its home region is {t.get('HomeRegion')}", f"create the trail in {promises.region}")]
        status = aws.client("cloudtrail").get_trail_status(Name=t["TrailARN"])
        return (
            []
            if status.get("IsLogging")
            else [problem(trail.name, kind, "it is not logging: API activity goes unrecorded", "start it (`aws cloudtrail start-logging`)")]
        )

    def validation() -> list[str]:
        t = describe()
        if isinstance(t, Unreadable):
            return t
        return (
            []
            if t.get("LogFileValidationEnabled")
            else [problem(trail.name, kind, "log file validation is off: tampering with the logs cannot be detected", "enable log file validation")]
        )

    def encrypted() -> list[str]:
        t = describe()
        if isinstance(t, Unreadable):
            return t
        return _wrong_key(trail.name, kind, t.get("KmsKeyId"), trail.key, outputs, aws, "set the trail's KMS key to the stack's logs key")

    def delivers() -> list[str]:
        t = describe()
        if isinstance(t, Unreadable):
            return t
        want = outputs.bucket_names.get(trail.bucket or "")
        return (
            []
            if want is None or t.get("S3BucketName") == want
            else [
                problem(trail.name, kind, f"it delivers to {t.get('S3BucketName')}, not the Object-Locked {trail.bucket} bucket {want}", f"deliver to {want}")
            ]
        )

    return [
        Check(id="cloud-cloudtrail-logging", subject=trail.name, run=logging),
        Check(id="cloud-cloudtrail-log-file-validation", subject=trail.name, run=validation),
        Check(id="cloud-cloudtrail-encrypted-with-stack-key", subject=trail.name, run=encrypted),
        Check(id="cloud-cloudtrail-delivers-to-audit-bucket", subject=trail.name, run=delivers),
    ]


# --- ECR -------------------------------------------------------------------------------------------


def _repository_checks(repo: RepositoryPromise, outputs: StackOutputs, aws: Aws) -> list[Check]:
    kind = "ecr repository"

    def describe() -> Any:
        return _or_missing(lambda: aws.client("ecr").describe_repositories(repositoryNames=[repo.name])["repositories"][0], repo.name, kind)

    def encrypted() -> list[str]:
        r = describe()
        if isinstance(r, Unreadable):
            return r
        conf = r.get("encryptionConfiguration") or {}
        fix = "recreate it with KMS encryption under the stack's key (encryption cannot be changed in place)"
        if conf.get("encryptionType") not in ("KMS", "KMS_DSSE"):
            return [problem(repo.name, kind, f"it is encrypted with {conf.get('encryptionType')}, not KMS with the stack's key", fix)]
        return _wrong_key(repo.name, kind, conf.get("kmsKey"), repo.key, outputs, aws, fix)

    def immutable() -> list[str]:
        r = describe()
        if isinstance(r, Unreadable):
            return r
        return (
            []
            if r.get("imageTagMutability", "").startswith("IMMUTABLE") or not repo.immutable
            else [problem(repo.name, kind, f"tags are {r.get('imageTagMutability')}: a pinned image can be replaced", "set imageTagMutability to IMMUTABLE")]
        )

    def scan() -> list[str]:
        r = describe()
        if isinstance(r, Unreadable):
            return r
        on = (r.get("imageScanningConfiguration") or {}).get("scanOnPush")
        return [] if on or not repo.scan_on_push else [problem(repo.name, kind, "scan on push is off", "turn scanOnPush on")]

    return [
        Check(id="cloud-ecr-encrypted-with-stack-key", subject=repo.name, run=encrypted),
        Check(id="cloud-ecr-immutable-tags", subject=repo.name, run=immutable),
        Check(id="cloud-ecr-scan-on-push", subject=repo.name, run=scan),
    ]


def registry_replication_in_region(promises: Promises, aws: Aws) -> list[str]:
    """The account's registry replicates nowhere outside the allowed regions."""
    rules = _or_missing(
        lambda: aws.client("ecr").describe_registry().get("replicationConfiguration", {}).get("rules", []), f"registry {promises.region}", "ecr registry"
    )
    if isinstance(rules, Unreadable):
        return rules
    found = []
    for rule in rules:
        for dest in rule.get("destinations", []):
            if dest.get("region") not in promises.allowed_regions:
                found.append(
                    problem(
                        f"registry {dest.get('registryId')}",
                        "ecr registry",
                        f"it replicates images to {dest.get('region')}, outside {list(promises.allowed_regions)}",
                        "remove that destination (`aws ecr put-replication-configuration`)",
                    )
                )
    return found


# --- Secrets Manager -------------------------------------------------------------------------------


def secret_encrypted(arn: str, label: str, outputs: StackOutputs, aws: Aws) -> list[str]:
    kind = f"secret ({label})"
    meta = _or_missing(lambda: aws.client("secretsmanager", _arn_region(arn, aws.region)).describe_secret(SecretId=arn), arn, kind)
    if isinstance(meta, Unreadable):
        return meta
    return _wrong_key(arn, kind, meta.get("KmsKeyId"), None, outputs, aws, "set its KMS key to the stack's data key")


# --- CloudWatch Logs, EKS, RDS ---------------------------------------------------------------------


def log_group_encrypted(group: LogGroupPromise, outputs: StackOutputs, aws: Aws) -> list[str]:
    kind = "log group"
    found = _or_missing(
        lambda: [g for g in aws.client("logs").describe_log_groups(logGroupNamePrefix=group.name)["logGroups"] if g["logGroupName"] == group.name],
        group.name,
        kind,
    )
    if isinstance(found, Unreadable):
        return found
    if not found:
        return [problem(group.name, kind, f"no such log group in {aws.region}", "deploy it with `sahab up`")]
    return _wrong_key(group.name, kind, found[0].get("kmsKeyId"), group.key, outputs, aws, "associate the stack's logs key (`aws logs associate-kms-key`)")


def _eks_checks(cluster: ClusterPromise, outputs: StackOutputs, aws: Aws) -> list[Check]:
    name = outputs.cluster_name or cluster.name
    kind = "eks cluster"

    def describe() -> Any:
        return _or_missing(lambda: aws.client("eks").describe_cluster(name=name)["cluster"], name, kind)

    def secrets_encrypted() -> list[str]:
        c = describe()
        if isinstance(c, Unreadable):
            return c
        keys = [e.get("provider", {}).get("keyArn") for e in c.get("encryptionConfig") or [] if "secrets" in e.get("resources", [])]
        fix = "enable secrets envelope encryption with the stack's cluster key (`aws eks associate-encryption-config`)"
        return _wrong_key(name, kind, keys[0] if keys else None, cluster.key, outputs, aws, fix)

    def endpoint_private() -> list[str]:
        c = describe()
        if isinstance(c, Unreadable):
            return c
        vpc = c.get("resourcesVpcConfig") or {}
        if vpc.get("endpointPublicAccess") and not cluster.public_endpoint:
            return [
                problem(
                    name,
                    kind,
                    f"its API endpoint is public (from {vpc.get('publicAccessCidrs') or ['0.0.0.0/0']}), the plan promised a private one",
                    "turn endpointPublicAccess off",
                )
            ]
        return []

    return [
        Check(id="cloud-eks-secrets-encrypted-with-stack-key", subject=name, run=secrets_encrypted),
        Check(id="cloud-eks-endpoint-private", subject=name, run=endpoint_private),
    ]


def _rds_checks(identifier: str, db: DatabasePromise, outputs: StackOutputs, aws: Aws) -> list[Check]:
    kind = "rds instance"

    def describe() -> Any:
        return _or_missing(lambda: aws.client("rds").describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0], identifier, kind)

    def encrypted() -> list[str]:
        d = describe()
        if isinstance(d, Unreadable):
            return d
        if not d.get("StorageEncrypted"):
            return [problem(identifier, kind, "its storage is not encrypted", "restore it from an encrypted snapshot under the stack's data key")]
        return _wrong_key(identifier, kind, d.get("KmsKeyId"), db.key, outputs, aws, "restore it from a snapshot copied under the stack's data key")

    def private() -> list[str]:
        d = describe()
        if isinstance(d, Unreadable):
            return d
        found = []
        if d.get("PubliclyAccessible") and not db.publicly_accessible:
            found.append(
                problem(identifier, kind, "it is publicly accessible", "turn PubliclyAccessible off (`aws rds modify-db-instance --no-publicly-accessible`)")
            )
        if db.multi_az and not d.get("MultiAZ"):
            found.append(problem(identifier, kind, "it is single-AZ, the plan promised Multi-AZ", "modify it to Multi-AZ"))
        return found

    return [
        Check(id="cloud-rds-encrypted-with-stack-key", subject=identifier, run=encrypted),
        Check(id="cloud-rds-private-multi-az", subject=identifier, run=private),
    ]


# --- ElastiCache -----------------------------------------------------------------------------------


def _replication_group_id(endpoint: str) -> str:
    """`master.<group>.<id>.<region>.cache.amazonaws.com` (primary endpoint) -> the group's id."""
    labels = endpoint.split(":", 1)[0].split(".")
    return labels[1] if labels[0] in ("master", "clustercfg", "replica") and len(labels) > 1 else labels[0]


def cache_encrypted(group: str, cache: CachePromise, outputs: StackOutputs, aws: Aws) -> list[str]:
    kind = "elasticache replication group"
    g = _or_missing(lambda: aws.client("elasticache").describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"][0], group, kind)
    if isinstance(g, Unreadable):
        return g
    found = []
    if cache.in_transit and not g.get("TransitEncryptionEnabled"):
        found.append(
            problem(group, kind, "in-transit encryption is off: AUTH tokens and features cross the network in clear", "enable TLS (TransitEncryptionEnabled)")
        )
    if cache.at_rest and not g.get("AtRestEncryptionEnabled"):
        found.append(problem(group, kind, "at-rest encryption is off", "recreate it from a backup with at-rest encryption under the stack's data key"))
    elif cache.at_rest:
        found += _wrong_key(group, kind, g.get("KmsKeyId"), cache.key, outputs, aws, "recreate it from a backup with the stack's data key")
    return found
