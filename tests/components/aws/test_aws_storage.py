"""Storage on its own: five buckets, each SSE-KMS with a bucket key, versioned, public access blocked,
ACLs disabled, TLS-only and TLS >= 1.2; the audit bucket under the logs key, Object-Locked in
compliance mode for the spec's retention, never force-destroyed, and writable by this account's
trail only."""

from __future__ import annotations

import pytest

from components.aws.storage import BUCKETS, Storage, StorageArgs
from tests.components.component_helpers import ACCOUNT_ID, REGION, Built, build, expect, prop, refused, statements

DATA_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/data"
LOGS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/logs"
BUCKET = "aws:s3/bucket:Bucket"


def _args(**over) -> StorageArgs:
    base = dict(account_id=ACCOUNT_ID, region=REGION, data_key_arn=DATA_KEY, logs_key_arn=LOGS_KEY, trail_name="sahab-trail", audit_retention_days=3650)
    return StorageArgs(**{**base, **over})


@pytest.fixture(scope="module")
def storage() -> Built:
    # force_destroy asked for: the audit bucket must still refuse it.
    return build(lambda: Storage("s", _args(force_destroy=True)))


def _bucket_name(storage: Built, purpose: str) -> str:
    return storage.child(f"s-{purpose}", BUCKET).outputs["bucket"]


def test_five_buckets_and_only_audit_is_object_locked(storage: Built):
    found = storage.of_type(BUCKET)
    assert sorted(b.name for b in found) == sorted(f"s-{p}" for p in BUCKETS), f"{storage.urn}: buckets {[b.name for b in found]}"
    for b in found:
        audit = b.name == "s-audit"
        expect(b, "objectLockEnabled", audit)
        expect(b, "forceDestroy", not audit)
        expect(b, "tags", {"sahab.ae/purpose": b.name.removeprefix("s-")})


@pytest.mark.parametrize("purpose", list(BUCKETS))
def test_every_bucket_is_private_versioned_and_kms_encrypted(storage: Built, purpose: str):
    name = _bucket_name(storage, purpose)
    block = storage.child(f"s-{purpose}-public-access", "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        expect(block, flag, True)
    expect(block, "bucket", name)
    ownership = storage.child(f"s-{purpose}-ownership", "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    expect(ownership, "rule.objectOwnership", "BucketOwnerEnforced")
    expect(ownership, "bucket", name)
    versioning = storage.child(f"s-{purpose}-versioning", "aws:s3/bucketVersioning:BucketVersioning")
    expect(versioning, "versioningConfiguration.status", "Enabled")
    sse = storage.child(f"s-{purpose}-sse", "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    expect(sse, "bucket", name)
    expect(sse, "rules.0.applyServerSideEncryptionByDefault.sseAlgorithm", "aws:kms")
    expect(sse, "rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId", LOGS_KEY if purpose == "audit" else DATA_KEY)
    expect(sse, "rules.0.bucketKeyEnabled", True)


@pytest.mark.parametrize("purpose", list(BUCKETS))
def test_every_bucket_policy_denies_plain_http_and_old_tls(storage: Built, purpose: str):
    policy = storage.child(f"s-{purpose}-policy", "aws:s3/bucketPolicy:BucketPolicy")
    arn = f"arn:aws:s3:::{_bucket_name(storage, purpose)}"
    by_sid = statements(policy)
    for sid, condition in (
        ("DenyInsecureTransport", {"Bool": {"aws:SecureTransport": "false"}}),
        ("DenyOutdatedTLS", {"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
    ):
        s = by_sid.get(sid)
        assert s, f"{policy.urn}: policy has no {sid} statement"
        assert (s["Effect"], s["Principal"], s["Action"]) == ("Deny", "*", "s3:*"), f"{policy.urn}: policy {sid} is {s}"
        assert s["Resource"] == [arn, f"{arn}/*"] and s["Condition"] == condition, f"{policy.urn}: policy {sid} covers {s['Resource']} when {s['Condition']}"
    allows = [sid for sid, s in by_sid.items() if s["Effect"] == "Allow"]
    assert allows == ([] if purpose != "audit" else ["CloudTrailAclCheck", "CloudTrailWrite"]), f"{policy.urn}: policy allows {allows}"


def test_audit_bucket_admits_only_this_accounts_trail(storage: Built):
    policy = storage.child("s-audit-policy", "aws:s3/bucketPolicy:BucketPolicy")
    arn = f"arn:aws:s3:::{_bucket_name(storage, 'audit')}"
    trail = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/sahab-trail"
    by_sid = statements(policy)
    for sid, actions, resource in (
        ("CloudTrailAclCheck", ["s3:GetBucketAcl"], arn),
        ("CloudTrailWrite", ["s3:PutObject"], f"{arn}/cloudtrail/AWSLogs/{ACCOUNT_ID}/*"),
    ):
        s = by_sid[sid]
        assert s["Principal"] == {"Service": "cloudtrail.amazonaws.com"} and s["Action"] == actions, f"{policy.urn}: policy {sid} is {s}"
        assert s["Resource"] == resource, f"{policy.urn}: policy {sid} resource {s['Resource']}, expected {resource}"
        assert s["Condition"] == {"StringEquals": {"aws:SourceArn": trail}}, (
            f"{policy.urn}: policy {sid} condition {s['Condition']}, expected the trail {trail}"
        )


def test_audit_object_lock_is_compliance_mode_for_the_retention(storage: Built):
    lock = storage.child("s-audit-object-lock", "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    expect(lock, "bucket", _bucket_name(storage, "audit"))
    expect(lock, "objectLockEnabled", "Enabled")
    expect(lock, "rule.defaultRetention", {"mode": "COMPLIANCE", "days": 3650})
    locks = storage.of_type("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert [r.name for r in locks] == ["s-audit-object-lock"], f"{storage.urn}: object lock on {[r.name for r in locks]}"


def test_lifecycle_rules_per_purpose(storage: Built):
    for purpose in BUCKETS:
        rules = {r["id"]: r for r in prop(storage.child(f"s-{purpose}-lifecycle"), "rules")}
        urn = storage.child(f"s-{purpose}-lifecycle").urn
        assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}, f"{urn}: rules abort-incomplete-uploads"
        # Object Lock governs audit versions; expiring them early would fail.
        assert ("expire-noncurrent-versions" in rules) == (purpose != "audit"), f"{urn}: rules {sorted(rules)}"
        if purpose != "audit":
            assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 90}, f"{urn}: rules expire-noncurrent-versions"
        assert ("infrequent-access" in rules) == (purpose == "data-lake"), f"{urn}: rules {sorted(rules)}"
    lake = {r["id"]: r for r in prop(storage.child("s-data-lake-lifecycle"), "rules")}
    assert lake["infrequent-access"]["transitions"] == [{"days": 30, "storageClass": "STANDARD_IA"}], "s-data-lake-lifecycle: rules infrequent-access"


def test_outputs_map_purposes_to_buckets(storage: Built):
    names = storage.output("bucket_names").value
    assert names == {p: _bucket_name(storage, p) for p in BUCKETS}, f"{storage.urn}: bucket_names {names}"
    assert storage.output("audit_bucket_name").value == names["audit"], f"{storage.urn}: audit_bucket_name"


def test_zero_audit_retention_is_refused_before_any_bucket():
    refusal = refused(lambda: Storage("s", _args(audit_retention_days=0)))
    assert refusal.message.startswith("audit_retention_days"), f"Storage: message {refusal.message!r} does not name audit_retention_days"
    assert not refusal.children, f"Storage registered {[r.urn for r in refusal.children]} before refusing audit_retention_days"
