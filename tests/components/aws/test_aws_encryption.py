"""Encryption on its own: three customer-managed keys (data, logs, cluster), each single-region with
rotation on and an alias; key policies that let the account administer and pin services by source
account or encryption context."""

from __future__ import annotations

import pytest

from components.aws.encryption import PURPOSES, Encryption, EncryptionArgs
from tests.components.component_helpers import ACCOUNT_ID, REGION, Built, build, expect, refused, statements

KEY = "aws:kms/key:Key"
ASG_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"


@pytest.fixture(scope="module")
def keys() -> Built:
    return build(
        lambda: Encryption("k", EncryptionArgs(account_id=ACCOUNT_ID, region=REGION, rotation_days=180, deletion_window_days=14, autoscaling_role_arn=ASG_ROLE))
    )


def test_one_single_region_rotating_key_per_purpose(keys: Built):
    found = keys.of_type(KEY)
    assert sorted(k.name for k in found) == sorted(f"k-{p}" for p in PURPOSES), f"{keys.urn}: keys {[k.name for k in found]}"
    for key in found:
        expect(key, "multiRegion", False)
        expect(key, "enableKeyRotation", True)
        expect(key, "rotationPeriodInDays", 180)
        expect(key, "deletionWindowInDays", 14)
        expect(key, "keyUsage", "ENCRYPT_DECRYPT")
        expect(key, "customerMasterKeySpec", "SYMMETRIC_DEFAULT")


def test_every_key_has_its_alias(keys: Built):
    for purpose in PURPOSES:
        key, alias = keys.child(f"k-{purpose}", KEY), keys.child(f"k-{purpose}-alias", "aws:kms/alias:Alias")
        expect(alias, "name", f"alias/sahab/k/{purpose}")
        expect(alias, "targetKeyId", key.outputs["keyId"])


def test_the_account_administers_every_key_and_nobody_else_gets_kms_star(keys: Built):
    for key in keys.of_type(KEY):
        by_sid = statements(key)
        admin = by_sid.get("AccountAdministersKey")
        assert admin and admin["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, f"{key.urn}: policy AccountAdministersKey is {admin}"
        star = [sid for sid, s in by_sid.items() if s["Action"] in ("kms:*", ["kms:*"]) and sid != "AccountAdministersKey"]
        assert not star, f"{key.urn}: policy statements {star} grant kms:* beyond the account root"


def test_services_are_pinned_to_this_account(keys: Built):
    logs = statements(keys.child("k-logs", KEY))
    cw = logs["CloudWatchLogsInThisAccount"]
    assert cw["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}, f"k-logs policy CloudWatchLogsInThisAccount principal {cw['Principal']}"
    assert cw["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:*", (
        f"k-logs policy CloudWatchLogsInThisAccount condition {cw['Condition']}"
    )
    for sid in ("CloudTrailEncryptsLogs", "CloudTrailDescribesKey", "CloudTrailDecryptsForBucketKey"):
        cond = logs[sid]["Condition"]
        assert cond["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}, f"k-logs policy {sid}: aws:SourceAccount condition is {cond}"
        assert cond["ArnLike"] == {"aws:SourceArn": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT_ID}:trail/*"}, f"k-logs policy {sid}: aws:SourceArn is {cond}"
    # DescribeKey carries no encryption context: a context condition would make CloudTrail fail.
    assert "StringLike" not in logs["CloudTrailDescribesKey"]["Condition"], "k-logs policy CloudTrailDescribesKey must not require an encryption context"

    data = statements(keys.child("k-data", KEY))
    for sid in ("AutoScalingUsesKeyForVolumes", "AutoScalingCreatesGrantsForVolumes"):
        assert data[sid]["Principal"] == {"AWS": ASG_ROLE}, f"k-data policy {sid}: principal {data[sid]['Principal']}, expected the Args' role"
    assert data["AutoScalingCreatesGrantsForVolumes"]["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": "true"}}, (
        "k-data policy AutoScalingCreatesGrantsForVolumes: grants only for AWS resources"
    )

    cluster = statements(keys.child("k-cluster", KEY))
    assert list(cluster) == ["AccountAdministersKey"], f"k-cluster policy: only the account root, got {list(cluster)}"


def test_outputs_name_the_three_keys(keys: Built):
    arns = keys.output("key_arns").value
    assert sorted(arns) == sorted(PURPOSES), f"{keys.urn}: key_arns {arns}"
    for purpose, arn in arns.items():
        assert arn.startswith(f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/"), f"{keys.urn}: key_arns[{purpose}] = {arn} is not a key in {REGION}"
        assert arn == keys.child(f"k-{purpose}", KEY).outputs["arn"], f"{keys.urn}: key_arns[{purpose}] is not the k-{purpose} key"


def test_rotation_outside_aws_limits_is_refused_before_any_key():
    refusal = refused(lambda: Encryption("k", EncryptionArgs(account_id=ACCOUNT_ID, region=REGION, rotation_days=2561)))
    assert refusal.message.startswith("rotation_days:"), f"Encryption: message {refusal.message!r} does not name rotation_days"
    assert not refusal.children, f"Encryption registered {[r.urn for r in refusal.children]} before refusing rotation_days"
