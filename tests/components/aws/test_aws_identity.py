"""WorkloadIdentity on its own: one IAM role per workload of components/workloads.py (the shared ones
and each model project's four), trusted by the Pod Identity agent only, bound to its namespace/service
account, with an inline policy that reaches exactly its buckets (whole or under its prefixes), the
data key, and its own secrets; nothing on the audit bucket, nothing under another project's prefixes;
duplicate names and unknown buckets refused."""

from __future__ import annotations

import pytest

from components.aws.identity import WorkloadIdentity, WorkloadIdentityArgs
from components.aws.storage import BUCKETS
from components.workloads import WORKLOADS, ProjectPrefixes, Workload, platform_workloads, split_grant
from tests.components.component_helpers import ACCOUNT_ID, REGION, Built, build, expect, expect_all, policy, refused, statements

DATA_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/data"
BUCKET_ARNS = {p: f"arn:aws:s3:::unit-{p}" for p in BUCKETS}
SECRET_ARNS = {
    "registry-db": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:db",
    "online-store": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:redis",
}
TABLE = platform_workloads(("churn", "eta"))
BY_NAME = {w.name: w for w in TABLE}


def _args(workloads=TABLE, **over) -> WorkloadIdentityArgs:
    return WorkloadIdentityArgs(cluster_name="sahab-eks", workloads=workloads, bucket_arns=BUCKET_ARNS, data_key_arn=DATA_KEY, secret_arns=SECRET_ARNS, **over)


@pytest.fixture(scope="module")
def identity() -> Built:
    return build(lambda: WorkloadIdentity("id", _args()))


def _resources(statement: dict) -> list[str]:
    r = statement["Resource"]
    return r if isinstance(r, list) else [r]


@pytest.mark.parametrize("workload", [w.name for w in TABLE])
def test_role_is_trusted_by_pod_identity_and_bound_to_its_service_account(identity: Built, workload: str):
    w = BY_NAME[workload]
    role = identity.child(f"id-{workload}", "aws:iam/role:Role")
    trust = policy(role, "assumeRolePolicy")["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": ["pods.eks.amazonaws.com"]}, "Action": ["sts:AssumeRole", "sts:TagSession"]}], (
        f"{role.urn}: assumeRolePolicy {trust}"
    )
    expect(role, "maxSessionDuration", 3600)
    binding = identity.child(f"id-{workload}-binding", "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    expect_all(binding, {"clusterName": "sahab-eks", "namespace": w.namespace, "serviceAccount": w.service_account, "roleArn": role.outputs["arn"]})


@pytest.mark.parametrize("workload", [w.name for w in TABLE])
def test_policy_reaches_only_the_workloads_buckets_key_and_secrets(identity: Built, workload: str):
    w = BY_NAME[workload]
    access = identity.child(f"id-{workload}-access", "aws:iam/rolePolicy:RolePolicy")
    by_sid = statements(access)
    expect(access, "role", identity.child(f"id-{workload}").outputs["name"])
    granted = {split_grant(g)[0] for g in (*w.read_buckets, *w.write_buckets)}
    s3 = {r for s in by_sid.values() if any(a.startswith("s3:") for a in s["Action"]) for r in _resources(s)}
    touched = {p for p, arn in BUCKET_ARNS.items() for r in s3 if r == arn or r.startswith(f"{arn}/")}
    assert touched == granted, f"{access.urn}: policy reaches buckets {sorted(touched)}, the workload is granted {sorted(granted)}"
    assert "audit" not in touched, f"{access.urn}: policy reaches the audit bucket"
    assert all(s["Effect"] == "Allow" and "*" not in _resources(s) for s in by_sid.values()), f"{access.urn}: policy has a wildcard resource"
    assert _resources(by_sid["UseDataKey"]) == [DATA_KEY], f"{access.urn}: policy UseDataKey reaches {by_sid['UseDataKey']['Resource']}"
    secrets = _resources(by_sid["ReadOwnSecrets"]) if "ReadOwnSecrets" in by_sid else []
    assert secrets == [SECRET_ARNS[s] for s in w.secrets], f"{access.urn}: policy ReadOwnSecrets reaches {secrets}, the workload has {w.secrets}"


def test_prefix_grants_stay_under_the_prefix(identity: Built):
    # churn's serving writes only its prediction log and its labels, under its own prefixes of offline-features,
    # and the environment's tokenisation key (privacy/, shared by every project: issue 22).
    by_sid = statements(identity.child("id-churn-serving-access"))
    lake = BUCKET_ARNS["offline-features"]
    own = [f"{lake}/serving-log/churn/*", f"{lake}/feast/churn/offline/labels/*", f"{lake}/privacy/*"]
    assert _resources(by_sid["ReadWritePrefixes"]) == own, f"id-churn-serving-access: policy ReadWritePrefixes {by_sid['ReadWritePrefixes']}"
    listing = by_sid["ListOfflineFeaturesPrefixes"]
    assert listing["Action"] == ["s3:ListBucket"] and listing["Condition"] == {
        "StringLike": {"s3:prefix": ["feast/churn/offline/labels/*", "privacy/*", "serving-log/churn/*"]}
    }, f"id-churn-serving-access: policy ListOfflineFeaturesPrefixes {listing}"
    writes = [r for s in by_sid.values() if "s3:PutObject" in s["Action"] for r in _resources(s)]
    assert writes == own, f"id-churn-serving-access: policy lets serving write {writes}"


@pytest.mark.parametrize("workload", [w.name for w in TABLE if w.project])
def test_a_project_role_reaches_nothing_under_another_projects_prefixes(identity: Built, workload: str):
    w = BY_NAME[workload]
    other = "eta" if w.project == "churn" else "churn"
    by_sid = statements(identity.child(f"id-{workload}-access"))
    # Objects: no resource under the other's prefixes nor a whole bucket; listing: only under its own prefixes.
    objects = [r for s in by_sid.values() if any(a.startswith("s3:") for a in s["Action"]) for r in _resources(s) if "/" in r.removeprefix("arn:aws:s3:::")]
    listed = [p for s in by_sid.values() if "s3:ListBucket" in s["Action"] for p in (s.get("Condition") or {}).get("StringLike", {}).get("s3:prefix", ["*"])]
    for grant in ProjectPrefixes(other).all():
        purpose, prefix = split_grant(grant)
        leaks = [r for r in objects if r.startswith(f"{BUCKET_ARNS[purpose]}/{prefix}") or r == f"{BUCKET_ARNS[purpose]}/*"]
        assert not leaks, f"id-{workload}-access: policy reaches project {other}'s {grant}: {leaks}"
        assert not [p for p in listed if p == "*" or p.startswith(prefix) or prefix.startswith(p.rstrip("*"))], (
            f"id-{workload}-access: policy lists project {other}'s {grant}: {listed}"
        )


def test_role_arns_output_names_every_workload(identity: Built):
    arns = identity.output("role_arns").value
    assert sorted(arns) == sorted(BY_NAME), f"{identity.urn}: role_arns {sorted(arns)}"
    assert identity.types()["aws:iam/role:Role"] == len(TABLE) == len(WORKLOADS) + 8, f"{identity.urn}: children {identity.types()}"


def test_duplicate_workload_names_are_refused_before_any_role():
    twice = (WORKLOADS[0], Workload(WORKLOADS[0].name, "other", "sa"))
    refusal = refused(lambda: WorkloadIdentity("id", _args(workloads=twice)))
    assert refusal.message.startswith("workloads:"), f"WorkloadIdentity: message {refusal.message!r} does not name workloads"
    assert not refusal.children, f"WorkloadIdentity registered {[r.urn for r in refusal.children]} before refusing workloads"


def test_a_grant_on_an_unknown_bucket_fails_the_run_naming_the_workload():
    stray = Workload("stray", "ns", "sa", read_buckets=("warehouse",))
    refusal = refused(lambda: WorkloadIdentity("id", _args(workloads=(stray,))))
    assert "workloads[stray]: unknown bucket 'warehouse'" in refusal.message, f"WorkloadIdentity: message {refusal.message!r}"
