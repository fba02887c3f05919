"""S3 buckets: customer-managed encryption, public access blocked, no ACLs, TLS 1.2+ only, and the
audit bucket Object-Locked. In pulumi-aws v7 these are companion resources of the bucket, so the
checks run over the whole stack and pair them through their dependencies."""

from __future__ import annotations

import json
from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs

from policy_packs.common.config import schema, settings
from policy_packs.common.policy import Subject, physical_name_matches, report, stack_subjects
from policy_packs.common.values import as_list, as_map, number, truthy

CONFIG = schema()
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
SSE = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ACLS = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOCK = ("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2")
TRAIL = "aws:cloudtrail/trail:Trail"
PUBLIC_ACLS = {"public-read", "public-read-write", "authenticated-read"}
PUBLIC_GRANTEES = ("http://acs.amazonaws.com/groups/global/AllUsers", "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")


def _companions(args: StackValidationArgs) -> tuple[list[Subject], dict[str, list[Subject]]]:
    """Buckets, and per bucket URN the companion resources that depend on it."""
    subjects = stack_subjects(args, prefix="aws:s3")
    buckets = [s for s in subjects if s.type in BUCKETS]
    urns = {b.urn for b in buckets}
    by_bucket: dict[str, list[Subject]] = {b.urn: [] for b in buckets}
    for s in subjects:
        if s.type in BUCKETS:
            continue
        owners = [d for d in s.dependencies if d in urns]
        if len(owners) != 1:  # several (or no) buckets among its dependencies: the one it names
            named = [b.urn for b in buckets if physical_name_matches(s.props.get("bucket"), b, "bucket")]
            owners = [o for o in owners if o in named] or owners or named
        for o in owners:
            by_bucket[o].append(s)
    return buckets, by_bucket


def _of(kind: tuple[str, ...] | str, items: list[Subject]) -> list[Subject]:
    kinds = (kind,) if isinstance(kind, str) else kind
    return [s for s in items if s.type in kinds]


def _kms_rules(rules: Any) -> bool:
    rules = as_list(rules)
    return bool(rules) and all(
        as_map(as_map(r).get("applyServerSideEncryptionByDefault")).get("sseAlgorithm") in ("aws:kms", "aws:kms:dsse")
        and as_map(as_map(r).get("applyServerSideEncryptionByDefault")).get("kmsMasterKeyId")
        for r in rules
    )


def aws_s3_bucket_cmk_encryption(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = settings(args, CONFIG)
    buckets, companions = _companions(args)
    for b in buckets:
        inline = as_map(b.props.get("serverSideEncryptionConfiguration")).get("rule")
        configs = _of(SSE, companions[b.urn])
        if inline and _kms_rules([inline]):
            continue
        if not configs:
            report(
                report_violation,
                b,
                "has no server-side encryption configuration, so objects get S3-managed keys (SSE-S3) that the platform cannot control, rotate or revoke",
                "add an aws.s3.BucketServerSideEncryptionConfiguration with `sse_algorithm: aws:kms` and the platform's data key",
                config,
            )
        for c in configs:
            if not _kms_rules(c.props.get("rules")):
                report(
                    report_violation,
                    c,
                    f"encrypts bucket {b.name} without a customer-managed KMS key (needs `sseAlgorithm: aws:kms` and `kmsMasterKeyId`)",
                    "set `apply_server_side_encryption_by_default: {sse_algorithm: aws:kms, kms_master_key_id: <data key ARN>}`",
                    config,
                )


def aws_s3_bucket_public_access_blocked(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = settings(args, CONFIG)
    buckets, companions = _companions(args)
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for b in buckets:
        blocks = _of(PAB, companions[b.urn])
        if not blocks:
            report(
                report_violation,
                b,
                "has no public access block, so a later ACL or bucket policy could make it public",
                "add an aws.s3.BucketPublicAccessBlock with all four settings true",
                config,
            )
        for pab in blocks:
            off = [f for f in flags if not truthy(pab.props.get(f))]
            if off:
                report(
                    report_violation,
                    pab,
                    f"leaves {', '.join(off)} off for bucket {b.name}, so it could become public",
                    "set all four of block_public_acls, block_public_policy, ignore_public_acls, restrict_public_buckets to true",
                    config,
                )


def aws_s3_bucket_no_acls(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = settings(args, CONFIG)
    buckets, companions = _companions(args)
    for b in buckets:
        if str(b.props.get("acl") or "") in PUBLIC_ACLS:
            report(
                report_violation,
                b,
                f"canned ACL `{b.props['acl']}` makes objects readable outside the account",
                "remove `acl`; grant access through IAM and bucket policies",
                config,
            )
        owner = _of(OWNERSHIP, companions[b.urn])
        if not any(as_map(o.props.get("rule")).get("objectOwnership") == "BucketOwnerEnforced" for o in owner):
            report(
                report_violation,
                b,
                "does not enforce bucket-owner object ownership, so ACLs stay active and objects written by others can escape the bucket's policy",
                "add an aws.s3.BucketOwnershipControls with `object_ownership: BucketOwnerEnforced` (disables ACLs)",
                config,
            )
        for acl in _of(ACLS, companions[b.urn]):
            grants = as_list(as_map(acl.props.get("accessControlPolicy")).get("grants"))
            public = [as_map(as_map(g).get("grantee")).get("uri") for g in grants if as_map(as_map(g).get("grantee")).get("uri") in PUBLIC_GRANTEES]
            if str(acl.props.get("acl") or "") in PUBLIC_ACLS or public:
                report(
                    report_violation,
                    acl,
                    f"grants bucket {b.name} to {public or acl.props.get('acl')}",
                    "delete the ACL resource; use IAM and bucket policies",
                    config,
                )


def _statements(policy: Any) -> list[dict[str, Any]]:
    try:
        doc = json.loads(policy) if isinstance(policy, str) else policy
    except json.JSONDecodeError:
        return []
    return [as_map(s) for s in as_list(as_map(doc).get("Statement"))]


def _denies(statements: list[dict[str, Any]], operator: str, key: str, predicate: Any) -> bool:
    for st in statements:
        if st.get("Effect") != "Deny":
            continue
        cond = as_map(as_map(st.get("Condition")).get(operator))
        if key in cond and predicate(cond[key]):
            return True
    return False


def aws_s3_bucket_tls_only(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = settings(args, CONFIG)
    buckets, companions = _companions(args)
    for b in buckets:
        statements = [st for p in _of(POLICY, companions[b.urn]) for st in _statements(p.props.get("policy"))]
        insecure = _denies(statements, "Bool", "aws:SecureTransport", lambda v: str(v).lower() == "false")
        old_tls = _denies(statements, "NumericLessThan", "s3:TlsVersion", lambda v: (number(v, 0) or 0) >= 1.2)
        missing = [w for w, ok in (("a Deny on `aws:SecureTransport: false` (plain HTTP)", insecure), ("a Deny on `s3:TlsVersion < 1.2`", old_tls)) if not ok]
        if missing:
            report(
                report_violation,
                b,
                f"its bucket policy lacks {' and '.join(missing)}, so clients could read or write over unencrypted or outdated TLS",
                "add DenyInsecureTransport and DenyOutdatedTLS statements to an aws.s3.BucketPolicy on the bucket",
                config,
            )


def aws_s3_audit_bucket_object_lock(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = settings(args, CONFIG)
    buckets, companions = _companions(args)
    by_urn = {b.urn: b for b in buckets}
    for trail in stack_subjects(args, (TRAIL,)):
        candidates = [by_urn[d] for d in trail.dependencies if d in by_urn] or buckets
        audit = next((b for b in candidates if physical_name_matches(trail.props.get("s3BucketName"), b, "bucket")), None)
        if audit is None:
            continue  # the trail writes to a bucket outside this stack: that stack's gate judges it
        locks = _of(LOCK, companions[audit.urn])
        enabled = truthy(audit.props.get("objectLockEnabled")) or as_map(audit.props.get("objectLockConfiguration")).get("objectLockEnabled") == "Enabled"
        if not enabled or not any(as_map(as_map(lk.props.get("rule")).get("defaultRetention")) for lk in locks):
            report(
                report_violation,
                audit,
                f"is the audit bucket of trail {trail.name} but has no Object Lock with a default retention, so audit records can be deleted or overwritten",
                "create the bucket with `object_lock_enabled=True` and add an aws.s3.BucketObjectLockConfiguration (COMPLIANCE mode, retention days)",
                config,
            )
