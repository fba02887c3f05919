"""The gate: config reconciliation, schemas, checkov, reports, the catalogue of non-compliant
programs, leaks injected into the shipped uae-central plan, and the shipped environments."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sahab import gate
from sahab.engine.offline import PlannedResource, read_project, read_stack_config, run_program
from sahab.gate import deployability
from tests.policy.conftest import HERE, PROGRAMS, analyze

REPO = HERE.parent.parent

# Each program of the catalogue and the policies that must reject it (pack/policy, mandatory).
EXPECTED = {
    "region_bahrain": ["uae-residency/aws-region-allowed"],
    "region_override": ["uae-residency/aws-region-allowed"],
    "s3_replication_out": ["uae-residency/aws-s3-replication-in-region", "uae-residency/aws-region-allowed"],
    "kms_multi_region": ["uae-residency/aws-kms-single-region-keys"],
    "ecr_replication": ["uae-residency/aws-ecr-replication-in-region"],
    "dynamodb_replica": ["uae-residency/aws-dynamodb-replicas-in-region"],
    "backup_copy": ["uae-residency/aws-backup-copies-in-region"],
    "dlm_copy": ["uae-residency/aws-dlm-copies-in-region"],
    "ami_copy": ["uae-residency/aws-ec2-copies-in-region"],
    "rds_global": ["uae-residency/aws-rds-no-cross-region-replicas"],
    "cloudfront": ["uae-residency/aws-edge-services-denied"],
    "global_accelerator": ["uae-residency/aws-edge-services-denied"],
    "bedrock_global": ["uae-residency/aws-bedrock-in-region-inference"],
    "azure_grs_out": [
        "uae-residency/azure-storage-replication-in-region",
        "uae-residency/azure-location-allowed",
        "uae-residency/azure-openai-deployment-in-region",
    ],
    # Real pulumi-azure-native resources (installed by setup): storage, ACR replica, Log Analytics, provider outside the UAE.
    "azure_storage_out": ["uae-residency/azure-location-allowed"],
    "azure_acr_replica_out": ["uae-residency/azure-acr-replication-in-region"],
    "azure_log_analytics_out": ["uae-residency/azure-monitor-location-in-region"],
    "azure_provider_out": ["uae-residency/azure-location-allowed"],
    "k8s_dockerhub": [
        "uae-residency/kubernetes-images-in-region",
        "kubernetes-baseline/kubernetes-pods-no-privileged-or-root",
        "kubernetes-baseline/kubernetes-pods-resources-set",
        "kubernetes-baseline/kubernetes-images-pinned",
        "kubernetes-baseline/kubernetes-namespace-default-deny",
    ],
    "health_replication": ["uae-residency/sahab-health-no-replication", "uae-residency/sahab-health-audit-retention"],
    "public_bucket": [
        "security-baseline/aws-s3-bucket-no-acls",
        "security-baseline/aws-s3-bucket-public-access-blocked",
        "security-baseline/aws-s3-bucket-cmk-encryption",
        "security-baseline/aws-s3-bucket-tls-only",
        "security-baseline/aws-cloudtrail-present",
    ],
    "eks_public": ["security-baseline/aws-eks-private-endpoint", "security-baseline/aws-eks-secrets-encryption", "security-baseline/aws-ec2-imdsv2"],
}


def test_catalogue_is_complete():
    assert sorted(EXPECTED) == sorted(p.name for p in PROGRAMS.iterdir() if (p / "Pulumi.yaml").exists())


def plan_program(folder: Path):
    project, entry = read_project(folder)
    return run_program(folder, "dev", read_stack_config(folder / "Pulumi.dev.yaml", project), project=project, entry=entry)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_catalogue_rejected(case, pack_sessions):
    findings = analyze(pack_sessions, plan_program(PROGRAMS / case))
    fired = {f"{f.pack}/{f.policy}" for f in findings if f.mandatory}
    missing = [p for p in EXPECTED[case] if p not in fired]
    assert not missing, f"{case}: {missing} did not fire; fired: {sorted(fired)}"
    for f in findings:
        assert "Fix:" in f.message and f.policy and f.pack, f"{case}: message without a fix: {f}"


@pytest.mark.slow
def test_policy_check_cli_json_contract():
    """`sahab policy check DIR --format json`: the contract of ARCHITECTURE.md, exit 1."""
    cmd = [str(Path(sys.executable).parent / "sahab"), "policy", "check", str(PROGRAMS / "region_bahrain"), "--format", "json", "--pack", "uae_residency"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["mandatory"] >= 1 and set(doc) == {"violations", "mandatory"}
    v = next(v for v in doc["violations"] if v["policy"] == "aws-region-allowed")
    assert set(v) == {"pack", "policy", "urn", "enforcement", "message"}
    assert v["pack"] == "uae-residency" and v["enforcement"] == "mandatory" and v["urn"].endswith("::logs")
    assert "me-south-1" in v["message"] and "Fix:" in v["message"]


def test_policy_check_program_failure_exits_2(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("raise ValueError('bucket_name: must be set')\n")
    assert gate.policy_check(tmp_path, fmt="json") == 2


def test_unknown_pack_exits_2():
    assert gate.policy_check(PROGRAMS / "region_bahrain", packs=["no-such-pack"]) == 2


# ---- leaks introduced into the shipped environment ---------------------------------------


def _inject(plan, type_token: str, name: str, inputs: dict, region_provider: str | None = None) -> str:
    template = next(r for r in plan.resources if r.type == "aws:s3/bucket:Bucket")
    provider, provider_inputs = template.provider, dict(template.provider_inputs)
    if region_provider:
        provider = provider.replace(template.provider.split("::")[-1], f"leak-{region_provider}")
        provider_inputs = {**provider_inputs, "region": region_provider}
    stack = next(r for r in plan.resources if r.type == "pulumi:pulumi:Stack")
    urn = f"urn:pulumi:{plan.stack}::{plan.project}::{type_token}::{name}"
    plan.resources.append(PlannedResource(urn, type_token, name, stack.urn, provider, provider_inputs, inputs, {}, True))
    return urn


LEAKS = [
    ("aws-region-allowed", "aws:s3/bucket:Bucket", "leak-bahrain-bucket", {}, "me-south-1"),
    (
        "aws-s3-multi-region-access-point-denied",
        "aws:s3control/multiRegionAccessPoint:MultiRegionAccessPoint",
        "leak-mrap",
        {"details": {"name": "m", "regions": [{"bucket": "b"}]}},
        None,
    ),
    ("aws-kms-single-region-keys", "aws:kms/key:Key", "leak-mrk", {"multiRegion": True, "enableKeyRotation": True}, None),
    (
        "aws-ecr-replication-in-region",
        "aws:ecr/replicationConfiguration:ReplicationConfiguration",
        "leak-ecr",
        {"replicationConfiguration": {"rules": [{"destinations": [{"region": "eu-west-1", "registryId": "1"}]}]}},
        None,
    ),
    ("aws-dynamodb-replicas-in-region", "aws:dynamodb/table:Table", "leak-ddb", {"replicas": [{"regionName": "us-east-1"}]}, None),
    (
        "aws-backup-copies-in-region",
        "aws:backup/plan:Plan",
        "leak-backup",
        {"rules": [{"ruleName": "d", "copyActions": [{"destinationVaultArn": "arn:aws:backup:eu-west-1:1:backup-vault:v"}]}]},
        None,
    ),
    (
        "aws-dlm-copies-in-region",
        "aws:dlm/lifecyclePolicy:LifecyclePolicy",
        "leak-dlm",
        {"policyDetails": {"schedules": [{"crossRegionCopyRules": [{"target": "us-west-2"}]}]}},
        None,
    ),
    ("aws-ec2-copies-in-region", "aws:ebs/snapshotCopy:SnapshotCopy", "leak-snap", {"sourceRegion": "us-east-1", "sourceSnapshotId": "snap-1"}, None),
    (
        "aws-rds-no-cross-region-replicas",
        "aws:rds/instance:Instance",
        "leak-replica",
        {"replicateSourceDb": "arn:aws:rds:eu-west-1:1:db:x", "storageEncrypted": True, "kmsKeyId": "k"},
        None,
    ),
    ("aws-edge-services-denied", "aws:cloudfront/distribution:Distribution", "leak-cdn", {"enabled": True}, None),
    (
        "aws-bedrock-in-region-inference",
        "aws:bedrock/inferenceProfile:InferenceProfile",
        "leak-profile",
        {"modelSource": {"copyFrom": "arn:aws:bedrock:us-east-1:1:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"}},
        None,
    ),
    (
        "kubernetes-images-in-region",
        "kubernetes:apps/v1:Deployment",
        "leak-image",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "x", "namespace": "sahab-serving"},
            "spec": {"template": {"spec": {"containers": [{"name": "x", "image": "quay.io/org/x:1"}]}}},
        },
        None,
    ),
]


@pytest.mark.slow
def test_leaks_introduced_into_uae_central_are_rejected(uae_plan, pack_sessions):
    """The shipped plan passes; each listed leak added to it is rejected, naming the added resource."""
    baseline = [f for f in analyze(pack_sessions, uae_plan) if f.mandatory]
    assert baseline == [], f"the shipped uae-central plan must pass: {[(f.policy, f.resource, f.message) for f in baseline]}"
    plan = copy.deepcopy(uae_plan)
    urns = {policy: _inject(plan, t, n, i, r) for policy, t, n, i, r in LEAKS}
    findings = [f for f in analyze(pack_sessions, plan) if f.mandatory]
    for policy, urn in urns.items():
        hits = [f for f in findings if f.policy == policy and f.urn == urn]
        assert hits, f"{policy} did not reject {urn}; got {[(f.policy, f.urn) for f in findings]}"
    original = {r.urn for r in uae_plan.resources}
    assert not [f for f in findings if f.urn in original and f.policy != "kubernetes-namespace-default-deny"], "no finding on the shipped resources"


# ---- config reconciliation (what the CLI sends to Configure) -----------------------------


def _info():
    from google.protobuf import struct_pb2
    from pulumi.runtime.proto import analyzer_pb2

    info = analyzer_pb2.AnalyzerInfo(name="p", version="1")
    props = struct_pb2.Struct()
    props.update({"allowedRegions": {"type": "array", "items": {"type": "string"}, "default": ["me-central-1"]}})
    info.policies.append(
        analyzer_pb2.PolicyInfo(name="a", enforcementLevel=analyzer_pb2.MANDATORY, configSchema=analyzer_pb2.PolicyConfigSchema(properties=props))
    )
    info.policies.append(analyzer_pb2.PolicyInfo(name="b", enforcementLevel=analyzer_pb2.ADVISORY))
    return info


def test_reconcile_defaults_then_all_then_policy():
    cfg = gate.reconcile_config(_info(), gate.parse_pack_config({"all": "advisory", "a": {"allowedRegions": ["uaenorth"]}, "b": "disabled"}, "t"), "p")
    assert cfg["a"] == {"level": "advisory", "props": {"allowedRegions": ["uaenorth"]}}
    assert cfg["b"]["level"] == "disabled"
    assert gate.reconcile_config(_info(), {}, "p")["a"] == {"level": "mandatory", "props": {"allowedRegions": ["me-central-1"]}}


@pytest.mark.parametrize(
    "given,fragment",
    [({"c": "advisory"}, "no policy named 'c'"), ({"a": {"allowedRegions": "me-central-1"}}, "is not of type 'array'"), ({"a": "strict"}, "not one of")],
)
def test_reconcile_rejects_bad_config(given, fragment):
    with pytest.raises(gate.GateError, match=fragment):
        gate.reconcile_config(_info(), gate.parse_pack_config(given, "t"), "p")


def test_shipped_policy_yaml_is_valid_for_the_packs():
    from pulumi_policy import PolicyConfigSchema  # noqa: F401  (the packs' schema type)

    from policy_packs.kubernetes_baseline.policies import POLICIES as K
    from policy_packs.security_baseline.policies import POLICIES as S
    from policy_packs.uae_residency.policies import POLICIES as U

    names = {"uae_residency": {p.name for p in U}, "security_baseline": {p.name for p in S}, "kubernetes_baseline": {p.name for p in K}}
    for env in ("uae-central", "smb"):
        doc = gate.load_policy_doc(REPO / "environments" / env / "policy.yaml")
        for pack, cfg in doc["packs"].items():
            if pack == "deployability":  # not a CrossGuard pack: its levels per deployability policy
                assert deployability.policy_levels(cfg), f"{env}: packs.deployability is empty"
                continue
            assert set(gate.parse_pack_config(cfg, pack)) <= names[pack] | {"all"}, f"{env}: unknown policy in {pack}"


# ---- Kubernetes schemas and checkov ------------------------------------------------------


def _write(folder: Path, rel: str, doc: dict) -> None:
    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
    (folder / rel).write_text(yaml.safe_dump(doc))


def test_validate_schemas(tmp_path):
    good = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ok"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        },
    }
    bad = copy.deepcopy(good)
    bad["metadata"]["name"] = "bad"
    bad["spec"]["replicas"] = "three"
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    _write(tmp_path, "ns/deployment-ok.yaml", good)
    _write(tmp_path, "ns/deployment-bad.yaml", bad)
    _write(tmp_path, "ns/secret-s.yaml", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": "[secret]"})
    _write(tmp_path, "ns/nodepool.yaml", {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "n"}, "spec": {"weird": 1}})
    _write(tmp_path, "helm/chart.yaml", {"chart": "x", "values": {}})
    findings = gate.validate_schemas(tmp_path, "1.33", {"ns/deployment-bad.yaml": "urn:bad"})
    assert {f.file for f in findings} == {"ns/deployment-bad.yaml"}, [f.message for f in findings]
    messages = " ".join(f.message for f in findings)
    assert "'three' is not of type 'integer'" in messages and "imagePullPolicyy" in messages
    assert all(f.mandatory and f.urn == "urn:bad" and "Fix:" in f.message for f in findings)


@pytest.mark.slow
def test_checkov_custom_checks_fixtures():
    """CKV_SAHAB_1-3: every `failing-*` fixture fails, no `passing-*` one does (mandatory)."""
    fixtures = HERE / "checkov_fixtures"
    findings = gate.run_checkov(fixtures)
    sahab = [f for f in findings if f.policy.startswith("CKV_SAHAB_")]
    failed = {(f.policy, f.resource.split(".")[-1]) for f in sahab}
    assert failed == {
        ("CKV_SAHAB_1", "failing-docker-hub"),
        ("CKV_SAHAB_1", "failing-ecr-us-east-1"),
        ("CKV_SAHAB_2", "failing-gpu-job-no-toleration"),
        ("CKV_SAHAB_3", "failing-region-us-east-1"),
    }, failed
    assert all(f.mandatory and "Fix:" in f.message for f in sahab)
    assert all(not f.mandatory for f in findings if not f.policy.startswith("CKV_SAHAB_")), "checkov's own checks advise by default"
    assert not [f for f in findings if f.policy in gate.SUPPRESSIONS], "suppressed checks never report"


def test_checkov_nothing_to_scan(tmp_path):
    assert gate.run_checkov(tmp_path) == []


def test_checkov_missing_says_how_to_install(tmp_path):
    _write(tmp_path, "ns/pod.yaml", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    findings = gate.run_checkov(tmp_path, checkov=tmp_path / "no-checkov")
    assert findings and findings[0].mandatory and "scripts/setup.sh" in findings[0].message


def test_parse_checkov_output_levels():
    out = json.dumps(
        {
            "check_type": "kubernetes",
            "results": {
                "failed_checks": [
                    {"check_id": "CKV_SAHAB_1", "check_name": "Ensure in-region", "resource": "Pod.a.p", "file_path": "/a/pod-p.yaml"},
                    {
                        "check_id": "CKV_K8S_8",
                        "check_name": "Liveness probe",
                        "resource": "Pod.a.p",
                        "file_path": "/a/pod-p.yaml",
                        "guideline": "https://docs/x",
                    },
                ]
            },
        }
    )
    f1, f2 = gate.parse_checkov(out, "", 1, urns={"a/pod-p.yaml": "urn:p"})
    assert f1.mandatory and f1.urn == "urn:p" and not f2.mandatory and "https://docs/x" in f2.message


# ---- reports ------------------------------------------------------------------------------


def test_reports(tmp_path):
    result = gate.GateResult(
        project="sahab", stack="uae-central", environment="uae-central", resources=3, config_file="environments/uae-central/Pulumi.uae-central.yaml"
    )
    result.packs = [
        gate.PackInfo(
            "uae_residency",
            "uae-residency",
            "0.1.0",
            {"aws-region-allowed": {"description": "d", "enforcement": "mandatory", "severity": "critical", "type": "resource"}},
        )
    ]
    result.findings = [
        gate.Finding(
            "policy",
            "uae-residency",
            "aws-region-allowed",
            "mandatory",
            "b (aws:s3/bucket:Bucket): in me-south-1. Fix: pin me-central-1.",
            urn="urn:b",
            resource="b (aws:s3/bucket:Bucket)",
        ),
        gate.Finding("checkov", "checkov", "CKV_K8S_8", "advisory", "Pod.a.p in a/p.yaml: probe. Fix: add one.", file="a/p.yaml"),
    ]
    paths = gate.write_reports(result, tmp_path)
    doc = json.loads(paths["json"].read_text())
    assert doc["passed"] is False and doc["mandatory"] == 1 and doc["advisory"] == 1
    assert doc["violations"][0] == {
        "pack": "uae-residency",
        "policy": "aws-region-allowed",
        "urn": "urn:b",
        "enforcement": "mandatory",
        "message": result.findings[0].message,
    }
    sarif = json.loads(paths["sarif"].read_text())
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {"uae-residency/aws-region-allowed", "checkov/CKV_K8S_8"}
    assert [r["level"] for r in run["results"]] == ["error", "warning"]
    assert run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == result.config_file
    md = paths["md"].read_text()
    assert "❌" in md and "| uae-residency | 1 | 0 |" in md and "`uae-residency/aws-region-allowed`" in md and "Fix: pin me-central-1." in md


# ---- the shipped environments -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("env", ["uae-central", "smb"])
def test_shipped_environment_passes(env, tmp_path, repo):
    code = gate.check_environment(repo, env, out=tmp_path, fmt="json")
    doc = json.loads((tmp_path / "report.json").read_text())
    mandatory = [(f["pack"], f["policy"], f["resource"], f["message"]) for f in doc["findings"] if f["enforcement"] == "mandatory"]
    assert code == 0 and mandatory == [], mandatory
    assert {p["name"] for p in doc["packs"]} == {"uae-residency", "security-baseline", "kubernetes-baseline"}
    assert sum(len(p["policies"]) for p in doc["packs"]) >= 50
    assert (tmp_path / "report.sarif").exists() and "✅" in (tmp_path / "report.md").read_text()
    assert "| deployability | 0 |" in (tmp_path / "report.md").read_text(), "the deployability checks ran and passed"
    assert "deployability" in doc["timings"]
