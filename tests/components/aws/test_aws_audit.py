"""AuditTrail on its own: a multi-region CloudTrail with log-file validation, encrypted with the logs
key, delivered under `cloudtrail/` to the audit bucket after the bucket's policy exists, recording
S3 object events on the data buckets, with a KMS-encrypted CloudWatch copy written by a role that
may only write to that group. AuditTrailArgs has no constructor validation (nothing to refuse)."""

from __future__ import annotations

import pulumi_aws as aws
import pytest

from components.aws.audit import AuditTrail, AuditTrailArgs
from tests.components.component_helpers import ACCOUNT_ID, REGION, Built, build, expect, policy, statements

LOGS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/logs"
DATA_BUCKETS = ["arn:aws:s3:::lake", "arn:aws:s3:::features"]
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/sahab/sahab-trail/cloudtrail"


@pytest.fixture(scope="module")
def audit() -> Built:
    def make() -> AuditTrail:
        # Stands for Storage's audit bucket policy: the trail must wait for it.
        bucket_policy = aws.s3.BucketPolicy("audit-bucket-policy", bucket="audit-bucket", policy="{}")
        args = AuditTrailArgs(
            trail_name="sahab-trail",
            bucket_name="audit-bucket",
            key_arn=LOGS_KEY,
            data_bucket_arns=DATA_BUCKETS,
            log_retention_days=400,
            bucket_policy=bucket_policy,
        )
        return AuditTrail("a", args)

    return build(make)


def test_trail_is_validated_encrypted_and_multi_region(audit: Built):
    trail = audit.child("a-trail", "aws:cloudtrail/trail:Trail")
    expect(trail, "name", "sahab-trail")
    expect(trail, "enableLogFileValidation", True)
    expect(trail, "kmsKeyId", LOGS_KEY)
    expect(trail, "isMultiRegionTrail", True)
    expect(trail, "includeGlobalServiceEvents", True)
    expect(trail, "enableLogging", True)
    expect(trail, "s3BucketName", "audit-bucket")
    expect(trail, "s3KeyPrefix", "cloudtrail")


def test_trail_records_object_events_of_the_data_buckets(audit: Built):
    trail = audit.child("a-trail", "aws:cloudtrail/trail:Trail")
    expect(trail, "eventSelectors.0.readWriteType", "All")
    expect(trail, "eventSelectors.0.includeManagementEvents", True)
    expect(trail, "eventSelectors.0.dataResources", [{"type": "AWS::S3::Object", "values": [f"{a}/" for a in DATA_BUCKETS]}])


def test_trail_waits_for_the_audit_bucket_policy(audit: Built):
    trail = audit.child("a-trail", "aws:cloudtrail/trail:Trail")
    policy_urn = next(r.urn for r in audit.resources if r.name == "audit-bucket-policy")
    assert policy_urn in trail.options.get("dependsOn", []), f"{trail.urn}: dependsOn {trail.options.get('dependsOn')} lacks {policy_urn}"


def test_cloudwatch_copy_is_encrypted_and_written_by_a_scoped_role(audit: Built):
    group = audit.child("a-logs", "aws:cloudwatch/logGroup:LogGroup")
    expect(group, "name", "/sahab/sahab-trail/cloudtrail")
    expect(group, "kmsKeyId", LOGS_KEY)
    expect(group, "retentionInDays", 400)
    trail = audit.child("a-trail", "aws:cloudtrail/trail:Trail")
    expect(trail, "cloudWatchLogsGroupArn", f"{GROUP_ARN}:*")
    role = audit.child("a-delivery-role", "aws:iam/role:Role")
    expect(trail, "cloudWatchLogsRoleArn", role.outputs["arn"])
    trust = policy(role, "assumeRolePolicy")["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": ["cloudtrail.amazonaws.com"]}], f"{role.urn}: assumeRolePolicy trusts {trust}"
    delivery = audit.child("a-delivery", "aws:iam/rolePolicy:RolePolicy")
    expect(delivery, "role", role.outputs["name"])
    assert statements(delivery) == {
        "DeliverToLogGroup": {
            "Sid": "DeliverToLogGroup",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{GROUP_ARN}:*",
        }
    }, f"{delivery.urn}: policy grants more than writing to {GROUP_ARN}"


def test_children(audit: Built):
    assert audit.types() == {
        "aws:cloudwatch/logGroup:LogGroup": 1,
        "aws:iam/role:Role": 1,
        "aws:iam/rolePolicy:RolePolicy": 1,
        "aws:cloudtrail/trail:Trail": 1,
    }, f"{audit.urn}: children {audit.types()}"
    assert audit.output("trail_arn").value == f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/sahab-trail", f"{audit.urn}: trail_arn"
