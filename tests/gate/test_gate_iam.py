"""IAM and KMS: parliament over every policy, and the access / deny matrices decided over identity,
resource and key policies together; the evaluator's semantics against the AWS documentation."""

from __future__ import annotations

import pytest
from gate_helpers import edit_statement, policies, resource, set_statements, statements

from sahab.gate.deployability import iam
from sahab.gate.deployability.iam import Policies, Principal, Request, condition_holds

ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"


@pytest.mark.parametrize("ctx_name", ["uae_ctx", "smb_ctx"])
def test_shipped_environments_pass_the_matrices(ctx_name, request):
    ctx = request.getfixturevalue(ctx_name)
    mandatory = [f.message for f in iam.check(ctx) if f.enforcement == "mandatory"]
    assert mandatory == [], f"{ctx_name}: " + "\n".join(mandatory)
    kinds = {a.policy for a in iam.matrix(ctx, iam.collect(ctx))}
    assert {
        "iam-workload-reads",
        "iam-serving-reads-mlflow-artifacts",
        "iam-ml-loop-writes",
        "iam-project-isolation",
        "iam-secret-isolation",
        "iam-cloudtrail-logs-key",
        "iam-audit-immutable",
    } <= kinds, kinds


def test_karpenter_instance_profile_on_resource_tags_fails(uae_ctx):
    # The defect: creation conditioned on aws:ResourceTag, which a new profile cannot carry.
    def on_resource_tags(s):
        s["Condition"] = {op: {k.replace("RequestTag", "ResourceTag"): v for k, v in keys.items()} for op, keys in s["Condition"].items()}

    edit_statement(resource(uae_ctx, ROLE_POLICY, "karpenter-controller"), "ScopedInstanceProfileCreation", on_resource_tags)
    found = policies(iam.check(uae_ctx))
    message = found["iam-karpenter-instance-profile"][0]
    assert "iam:CreateInstanceProfile" in message and "karpenter-controller" in message and "aws:RequestTag" in message, message


def test_karpenter_without_decrypt_on_its_queue_key_fails(uae_ctx):
    r = resource(uae_ctx, ROLE_POLICY, "karpenter-controller")
    set_statements(r, [s for s in statements(r) if s.get("Sid") != "InterruptionQueueKey"])
    found = policies(iam.check(uae_ctx))
    assert any("kms:Decrypt" in m and "queue" in m for m in found["iam-karpenter-interruption-queue"]), found


def test_serving_that_may_read_only_model_artifacts_fails_on_mlflow_artifacts(uae_ctx):
    r = resource(uae_ctx, ROLE_POLICY, "identity-transaction-risk-serving")
    set_statements(r, [s for s in statements(r) if s.get("Sid") != "ReadPrefixes"])
    found = policies(iam.check(uae_ctx))
    message = found["iam-serving-reads-mlflow-artifacts"][0]
    assert "s3:GetObject" in message and "experiment-artifacts" in message and "/mlflow/transaction-risk/" in message and "Fix:" in message, message


def _grant(ctx, role: str, sid: str, resources: list[str]) -> None:
    r = resource(ctx, ROLE_POLICY, f"identity-{role}-access")
    set_statements(r, statements(r) + [{"Sid": sid, "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": resources}])


def _bucket(ctx, purpose: str) -> str:
    return next(r.outputs["bucket"] for r in ctx.resources("aws:s3/bucket:Bucket") if r.inputs["tags"]["sahab.ae/purpose"] == purpose)


def test_every_project_role_is_checked_against_every_other_projects_prefixes(uae_ctx):
    accesses = [a for a in iam.matrix(uae_ctx, iam.collect(uae_ctx)) if a.policy == "iam-project-isolation"]
    pairs = {(a.who.split(" ")[0], a.request.resource.split("/")[1] if "/mlflow/" not in a.request.resource else "mlflow") for a in accesses}
    whos = {who for who, _ in pairs}
    roles = ("serving", "training", "monitoring", "features", "pipeline")  # pipeline: its Argo steps in the team's namespace
    assert {f"{p}-{role}" for p in ("transaction-risk", "delivery-time") for role in roles} == whos, whos
    assert all(not a.allowed for a in accesses), "isolation requests must all be denied"
    assert any("serving-log/delivery-time/" in a.request.resource and a.who.startswith("transaction-risk-serving") for a in accesses)


def test_a_projects_serving_reading_another_projects_log_fails_naming_both(uae_ctx):
    """Broken variant: transaction-risk's serving role may read delivery-time's prediction log."""
    bucket = _bucket(uae_ctx, "offline-features")
    _grant(uae_ctx, "transaction-risk-serving", "LeakLog", [f"arn:aws:s3:::{bucket}/serving-log/delivery-time/*"])
    found = policies(iam.check(uae_ctx))
    assert set(found) == {"iam-project-isolation"}, found
    messages = [m for m in found["iam-project-isolation"] if "transaction-risk-serving" in m]
    assert any(
        "s3:GetObject" in m and "serving-log/delivery-time/" in m and "project delivery-time" in m and "project transaction-risk" in m for m in messages
    ), messages
    assert all("must not" in m and "Fix:" in m for m in messages), messages


def test_a_projects_serving_writing_another_projects_labels_fails_naming_both(uae_ctx):
    bucket = _bucket(uae_ctx, "offline-features")
    _grant(uae_ctx, "delivery-time-serving", "LeakLabels", [f"arn:aws:s3:::{bucket}/feast/*"])
    found = policies(iam.check(uae_ctx))
    messages = found["iam-project-isolation"]
    assert any("delivery-time-serving" in m and "s3:PutObject" in m and "feast/transaction-risk/" in m and "project transaction-risk" in m for m in messages), (
        messages
    )


def test_a_project_role_without_its_own_prefix_fails(uae_ctx):
    """The other direction: delivery-time's monitoring role loses its read of its own prediction log."""
    r = resource(uae_ctx, ROLE_POLICY, "identity-delivery-time-monitoring-access")
    set_statements(r, [s for s in statements(r) if s.get("Sid") != "ReadPrefixes"])
    found = policies(iam.check(uae_ctx))
    assert any("delivery-time-monitoring" in m and "serving-log/delivery-time/" in m and "cannot" in m for m in found.get("iam-ml-loop-reads", [])), found


def test_cloudtrail_describe_key_under_an_encryption_context_fails(uae_ctx):
    # The defect: DescribeKey under an encryption-context condition it never carries, and
    # no kms:Decrypt for the audit bucket's Bucket Key.
    r = resource(uae_ctx, KEY, "keys-logs")
    edit_statement(
        r,
        "CloudTrailDescribesKey",
        lambda s: s["Condition"].update(StringLike={"kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:123456789012:trail/*"}),
    )
    set_statements(r, [s for s in statements(r) if s.get("Sid") != "CloudTrailDecryptsForBucketKey"])
    found = policies(iam.check(uae_ctx))
    messages = found["iam-cloudtrail-logs-key"]
    assert any("kms:DescribeKey" in m for m in messages) and any("kms:Decrypt" in m and "Bucket Key" in m for m in messages), messages


def test_a_workload_reading_another_workloads_secret_fails(uae_ctx):
    edit_statement(resource(uae_ctx, ROLE_POLICY, "identity-mlflow"), "ReadOwnSecrets", lambda s: s.update(Resource="*"))
    found = policies(iam.check(uae_ctx))
    message = found["iam-secret-isolation"][0]
    assert "mlflow" in message and "online-store-auth" in message and "must not" in message, message


def test_a_role_that_may_delete_audit_objects_fails(uae_ctx):
    r = resource(uae_ctx, ROLE_POLICY, "identity-transaction-risk-training")
    set_statements(r, statements(r) + [{"Effect": "Allow", "Action": "s3:Delete*", "Resource": "arn:aws:s3:::*"}])
    found = policies(iam.check(uae_ctx))
    assert any("s3:DeleteObject" in m and "storage-audit" in m for m in found["iam-audit-immutable"]), found


def test_a_typo_in_an_action_fails_parliament(uae_ctx):
    r = resource(uae_ctx, ROLE_POLICY, "identity-delivery-time-monitoring")
    set_statements(r, statements(r) + [{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::x/*"}])
    found = [f for f in iam.check(uae_ctx) if f.policy == "iam-parliament"]
    assert found and found[0].enforcement == "mandatory" and "s3:GetObjekt" in found[0].message, [f.message for f in found]


# --- the evaluator against the AWS policy evaluation logic -------------------------------------


def test_conditions_follow_the_aws_rules_for_missing_keys():
    assert not condition_holds({"StringEquals": {"aws:RequestTag/a": "x"}}, {})
    assert condition_holds({"StringNotEquals": {"aws:RequestTag/a": "x"}}, {}), "negated operator with the key absent is true"
    assert condition_holds({"StringEqualsIfExists": {"aws:RequestTag/a": "x"}}, {})
    assert not condition_holds({"StringEqualsIfExists": {"aws:RequestTag/a": "x"}}, {"aws:RequestTag/a": "y"})
    assert condition_holds({"Null": {"aws:ResourceTag/a": "true"}}, {})
    assert condition_holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}, {})
    assert not condition_holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}, {})
    assert not condition_holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}, {"aws:TagKeys": ["a", "c"]})
    assert condition_holds(
        {"StringLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:1:trail/*"}, "Bool": {"aws:SecureTransport": "true"}},
        {"aws:sourcearn": "arn:aws:cloudtrail:me-central-1:1:trail/t", "aws:SecureTransport": "true"},
    )
    assert condition_holds({"NumericLessThan": {"s3:TlsVersion": "1.2"}}, {"s3:TlsVersion": "1.0"})
    with pytest.raises(iam.Unsupported):
        condition_holds({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01"}}, {"aws:CurrentTime": "2026-01-01"})


def _policies(identity=(), resource=(), arn="arn:aws:s3:::b"):
    p = Policies("111122223333")
    p.identity["arn:aws:iam::111122223333:role/r"] = [("role", s) for s in identity]
    p.resource[arn] = [("res", s) for s in resource]
    return p


ROLE = Principal(arn="arn:aws:iam::111122223333:role/r")


def test_explicit_deny_wins_and_wildcards_match():
    allow = {"Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::b/*"}
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    p = _policies([allow], [deny])
    assert p.decide(Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": "true"}))[0]
    assert not p.decide(Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": "false"}))[0]
    assert not p.decide(Request(ROLE, "s3:PutObject", "arn:aws:s3:::b/k"))[0]
    not_get = {"Effect": "Allow", "NotAction": "s3:GetObject", "Resource": "*"}
    assert not _policies([not_get], []).decide(Request(ROLE, "s3:GetObject", "arn:aws:s3:::b/k"))[0]
    assert _policies([not_get], []).decide(Request(ROLE, "s3:PutObject", "arn:aws:s3:::b/k"))[0]


def test_kms_needs_the_key_policy():
    key = "arn:aws:kms:me-central-1:111122223333:key/k"
    identity = [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}]
    assert not _policies(identity, [{"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"}, "Action": "kms:*", "Resource": "*"}], key).decide(
        Request(ROLE, "kms:Decrypt", key)
    )[0], "identity alone is not enough for KMS"
    root = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}
    assert _policies(identity, [root], key).decide(Request(ROLE, "kms:Decrypt", key))[0], "the key policy delegates to IAM"
    assert not _policies([], [root], key).decide(Request(ROLE, "kms:Decrypt", key))[0], "delegation still needs the identity policy"
    service = Principal(service="cloudtrail.amazonaws.com")
    assert _policies(
        [], [{"Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:GenerateDataKey*", "Resource": "*"}], key
    ).decide(Request(service, "kms:GenerateDataKey", key))[0]
