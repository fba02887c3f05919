"""Findings to controls (sahab/evidence/assess.py) and `sahab check`'s control summary
(sahab/evidence/summary.py), on gate results and verify runs built by hand."""

from __future__ import annotations

import pytest
from evidence_helpers import write_junit

from sahab.evidence.assess import FAIL, MANUAL, NOT_APPLICABLE, NOT_ASSESSED, PASS, EvidenceError, Facts, GateEvidence, VerifyEvidence, assess
from sahab.evidence.catalogue import load_catalogue
from sahab.evidence.registry import gate_policies
from sahab.gate.model import Finding, GateResult, PackInfo
from sahab.gate.reports import report_json

CATALOGUE = load_catalogue()
CONFIDENTIAL = Facts(environment="uae-central", data_classification="confidential")


def gate_result(findings=(), disabled=(), deployability=True) -> GateResult:
    """A gate run where every pack registered all its policies (some `disabled`) and found `findings`."""
    packs = [
        PackInfo(
            directory=name,
            name=name,
            version="0.1.0",
            policies={p: {"enforcement": "disabled" if f"{name}/{p}" in disabled else "mandatory"} for p in policies},
        )
        for name, policies in gate_policies().items()
    ]
    result = GateResult(
        project="sahab",
        stack="uae-central",
        environment="uae-central",
        findings=list(findings),
        packs=packs,
        config_file="environments/uae-central/Pulumi.uae-central.yaml",
    )
    result.checks = ["kubernetes-schemas", "checkov"] + (["deployability"] if deployability else [])
    return result


REPLICATION = Finding(
    "policy",
    "uae-residency",
    "aws-s3-replication-in-region",
    "mandatory",
    "data-lake (aws:s3/bucketReplicationConfig:BucketReplicationConfig): replicates to eu-west-1. Fix: remove the rule.",
    resource="data-lake-replication",
)


def by_id(results):
    return {r.control.id: r for r in results}


def test_a_clean_gate_passes_the_automated_controls_and_leaves_verify_unassessed():
    results = by_id(assess(CATALOGUE, GateEvidence.of(gate_result()), None, CONFIDENTIAL))
    assert results["pdpl-transfer"].status == PASS, results["pdpl-transfer"]
    items = {i.name: i for i in results["pdpl-transfer"].items}
    assert items["uae-residency/aws-s3-replication-in-region"].status == PASS
    assert items["cloud-s3-replication-in-region"].status == NOT_ASSESSED and "--verify-report" in items["cloud-s3-replication-in-region"].detail
    assert results["pdpl-breach"].status == MANUAL, "a control only the operator can show is manual"
    assert results["health-localisation"].status == NOT_APPLICABLE, "the ICT Health Law applies to data class health only"


def test_a_finding_fails_exactly_the_controls_that_cite_its_policy():
    results = assess(CATALOGUE, GateEvidence.of(gate_result([REPLICATION])), None, CONFIDENTIAL)
    failing = {r.control.id for r in results if r.status == FAIL}
    citing = {c.id for fw, c in CATALOGUE.controls() if "uae-residency/aws-s3-replication-in-region" in c.evidence.gate and fw.applies("confidential")}
    assert failing == citing and "pdpl-transfer" in failing, f"failing {sorted(failing)} != citing {sorted(citing)}"
    pdpl = by_id(results)["pdpl-transfer"]
    assert pdpl.law == "UAE PDPL Art. 22 and Art. 23", pdpl.law
    (item,) = pdpl.failing
    assert "data-lake-replication" in item.findings[0] and "eu-west-1" in item.findings[0], item


def test_health_data_makes_the_ict_health_law_apply():
    health = Facts(environment="x", data_classification="health")
    results = by_id(assess(CATALOGUE, GateEvidence.of(gate_result([REPLICATION])), None, health))
    assert results["health-localisation"].status == FAIL, "health data replicated out of the region breaks Art. 13"
    assert results["health-retention"].status == PASS, results["health-retention"]


def test_a_disabled_policy_is_not_assessed_and_the_deployability_checks_must_have_run():
    results = by_id(assess(CATALOGUE, GateEvidence.of(gate_result(disabled={"security-baseline/aws-required-tags"}, deployability=False)), None, CONFIDENTIAL))
    items = {i.name: i for i in results["iso-5.12"].items}
    assert items["security-baseline/aws-required-tags"].status == NOT_ASSESSED and "disabled" in items["security-baseline/aws-required-tags"].detail
    items = {i.name: i for i in results["pdpl-security"].items}
    assert items["iam-secret-isolation"].status == NOT_ASSESSED, "without the deployability checks their findings prove nothing"


def test_verify_outcomes_pass_fail_and_skip(tmp_path):
    write_junit(
        tmp_path / "verify",
        [
            (
                "cloud",
                "cloud-s3-replication-in-region",
                "uae-central-data-lake",
                "failed",
                "uae-central-data-lake (S3 bucket): replicates to eu-west-1. Fix: delete the rule.",
            ),
            ("cloud", "cloud-s3-replication-in-region", "uae-central-audit", "passed", ""),
            ("cloud", "cloud-kms-key-rotation", "arn:aws:kms:me-central-1:1:key/a", "passed", ""),
            ("cluster", "cluster-default-deny", "sahab-serving", "skipped", "no kubeconfig"),
        ],
    )
    verify = VerifyEvidence.read(tmp_path / "verify")
    results = by_id(assess(CATALOGUE, GateEvidence.of(gate_result()), verify, CONFIDENTIAL))
    pdpl = results["pdpl-transfer"]
    assert pdpl.status == FAIL, "a failed verify check fails the control even when the gate passed"
    (item,) = pdpl.failing
    assert item.kind == "verify" and "uae-central-data-lake" in item.findings[0] and item.detail == "1 of 2 failed", item
    iso = {i.name: i for i in results["iso-8.24"].items}
    assert iso["cloud-kms-key-rotation"].status == PASS
    net = {i.name: i for i in results["iso-8.20"].items}
    assert net["cluster-default-deny"].status == NOT_ASSESSED and "no kubeconfig" in net["cluster-default-deny"].detail


def test_a_verify_folder_without_junit_is_refused_with_the_fix(tmp_path):
    with pytest.raises(EvidenceError, match=r"no JUnit XML .*Fix: run `sahab verify <env> --junit"):
        VerifyEvidence.read(tmp_path)


def test_planned_project_rules_and_the_recorded_transfer_basis():
    results = by_id(
        assess(CATALOGUE, GateEvidence.of(gate_result()), None, Facts(environment="x", data_classification="internal", transfer_basis="DIFC adequacy list"))
    )
    pii = results["pdpl-pseudonymisation"]
    # issue 22's rules are emitted by the deployability check sahab/gate/deployability/project.py: a gate run without findings passes them
    assert {i.name: i.status for i in pii.items if i.kind == "project"} == {"project-pii-marked": PASS, "project-pii-tokenised": PASS}
    assert pii.status == PASS, "the project rules ran and found nothing"
    assert results["difc-transfer-basis"].note == "recorded transfer basis: DIFC adequacy list"
    assert results["difc-transfer-basis"].status == PASS, "recorded, and the data stays in the UAE regions"
    unrecorded = by_id(assess(CATALOGUE, GateEvidence.of(gate_result()), None, CONFIDENTIAL))["adgm-transfer-basis"]
    assert "no transfer basis is recorded" in unrecorded.note and unrecorded.status == MANUAL, "the residency checks pass but the basis must be shown"


def test_the_baseline_from_report_json_gives_the_same_statuses():
    result = gate_result([REPLICATION])
    doc = report_json(result)
    doc["timings"] = {"deployability": 1.0}  # how report.json says the deployability checks ran
    again = assess(CATALOGUE, GateEvidence.from_report(doc), None, CONFIDENTIAL)
    now = assess(CATALOGUE, GateEvidence.of(result), None, CONFIDENTIAL)
    assert [(r.control.id, r.status) for r in again] == [(r.control.id, r.status) for r in now], "report.json round trip"
    with pytest.raises(EvidenceError, match="not a report.json"):
        GateEvidence.from_report({"findings": [{"nope": 1}]}, "base/report.json")


def test_checks_control_summary_in_report_md_names_laws_failures_and_changes():
    from sahab.evidence.summary import control_section
    from sahab.gate.reports import SECTIONS, report_markdown

    assert control_section in SECTIONS, "importing sahab.evidence registers the control summary"
    base = report_json(gate_result())
    base["timings"] = {"deployability": 1.0}
    result = gate_result([REPLICATION])
    result.extras["baseline_report"] = {"path": "base/report.json", "doc": base}
    md = report_markdown(result)
    assert "### Compliance controls" in md and "| UAE PDPL | 7 |" in md, md
    assert "| ❌ | `pdpl-transfer`" in md and "UAE PDPL Art. 22 and Art. 23" in md, "report.md names the failing control's law and article"
    assert "control(s) changed** since the baseline (`base/report.json`)" in md, md
    assert (
        "| `pdpl-transfer` Personal data stays in the UAE unless a recorded basis allows a transfer | UAE PDPL Art. 22 and Art. 23 | ✅ pass | ❌ fail |" in md
    ), md
    result.extras["baseline_report"] = {"path": "same.json", "doc": report_json(result) | {"timings": {"deployability": 1.0}}}
    assert "No control changed status since the baseline (`same.json`)" in report_markdown(result)


def test_a_missing_baseline_file_is_an_error_naming_it(tmp_path):
    from sahab.gate.entry import _baseline
    from sahab.gate.model import GateError

    with pytest.raises(GateError, match=r"--baseline .*nope.json: no such file"):
        _baseline(tmp_path / "nope.json", required=True)
    assert _baseline(tmp_path / "nope.json", required=False) is None, "no previous report in the out folder: nothing to compare"
    (tmp_path / "r.json").write_text('{"packs": []}')
    assert _baseline(tmp_path / "r.json", required=True) == {"path": str(tmp_path / "r.json"), "doc": {"packs": []}}
