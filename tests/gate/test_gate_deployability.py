"""The deployability registry and its place in the gate: levels from policy.yaml, report sections,
findings in report.json / report.md / report.sarif like policy findings."""

from __future__ import annotations

import json

import pytest

from sahab import gate
from sahab.gate import deployability, reports
from sahab.gate.deployability import Context, finding, policy_levels, run_checks


def test_every_concern_is_registered_once():
    names = [c.__module__.rsplit(".", 1)[-1] for c in deployability.CHECKS]
    assert {"connectivity", "iam", "scheduling", "pins", "rules"} <= set(names) and len(names) == len(set(names)), names


def test_levels_from_policy_yaml_override_the_default(uae_ctx):
    def two(ctx: Context) -> list:
        return [finding("a-policy", "x (t): wrong. Fix: y."), finding("b-policy", "x (t): wrong. Fix: y.")]

    assert [f.enforcement for f in run_checks(uae_ctx, {}, [two])] == ["mandatory", "mandatory"]
    found = run_checks(uae_ctx, policy_levels({"a-policy": "advisory", "b-policy": {"enforcementLevel": "disabled"}}), [two])
    assert [(f.policy, f.enforcement) for f in found] == [("a-policy", "advisory")]
    assert [f.enforcement for f in run_checks(uae_ctx, policy_levels({"all": "advisory"}), [two])] == ["advisory", "advisory"]
    with pytest.raises(gate.GateError, match="packs.deployability.a-policy"):
        policy_levels({"a-policy": "sometimes"})


def test_findings_reach_every_report_and_sections_are_appended(tmp_path, monkeypatch):
    result = gate.GateResult(project="sahab", stack="s", environment="e", checks=["kubernetes-schemas", "checkov", "deployability"])
    result.findings = [
        finding(
            "connectivity-pod-identity",
            "sahab-serving/serving (Deployment): cannot reach the EKS Pod Identity agent. Fix: allow it.",
            resource="sahab-serving/serving",
        )
    ]
    monkeypatch.setattr(reports, "SECTIONS", [lambda r: ["### Extra section", f"{len(r.findings)} finding"]])
    paths = gate.write_reports(result, tmp_path)
    doc = json.loads(paths["json"].read_text())
    assert doc["violations"] == [
        {"pack": "deployability", "policy": "connectivity-pod-identity", "urn": "", "enforcement": "mandatory", "message": result.findings[0].message}
    ]
    md = paths["md"].read_text()
    assert "| deployability | 1 | 0 |" in md and "`deployability/connectivity-pod-identity`" in md and "### Extra section" in md
    sarif = json.loads(paths["sarif"].read_text())["runs"][0]
    assert sarif["results"][0]["ruleId"] == "deployability/connectivity-pod-identity" and sarif["results"][0]["level"] == "error"
