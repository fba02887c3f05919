"""The gate's budget check on the real smb plan: over budget is mandatory and names the pools to shrink."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import yaml

from sahab.gate.deployability import Context
from sahab.gate.deployability.budget import check_budget, cost_section
from sahab.gate.model import GateResult


def _with_budget(plan, usd):
    platform = dict(plan.config["sahab:platform"])
    if usd is None:
        platform.pop("budget", None)
    else:
        platform["budget"] = {"monthly_usd_max": usd}
    return dataclasses.replace(plan, config={**plan.config, "sahab:platform": platform})


def _ctx(plan):
    return Context(plan=plan, manifests=[], releases=[], spec=plan.config["sahab:platform"])


def test_over_budget_is_mandatory_and_names_the_dearest_pool_first(smb_plan):
    ctx = _ctx(_with_budget(smb_plan, 300))
    findings = check_budget(ctx)
    over = [f for f in findings if f.policy == "budget-monthly-max"]
    assert len(over) == 1 and over[0].mandatory, [f.message for f in findings]
    msg = over[0].message
    assert msg.startswith("budget (sahab:platform.budget): the maximum monthly estimate $"), msg
    assert "exceeds monthly_usd_max $300.00" in msg and "Fix: shrink the pools' max_size" in msg, msg
    import re

    # Whichever pool is dearest at its maximum (the serving tier once it holds both projects' pods) comes first.
    listed = [(name, float(cost.replace(",", ""))) for name, cost in re.findall(r"(smb-[a-z0-9-]+-ng) \(max \d+ nodes, \$([0-9,.]+) at max", msg)]
    assert {n for n, _ in listed} == {"smb-train-a10g-ng", "smb-serving-ng"}, f"both scaling pools named: {msg}"
    assert [c for _, c in listed] == sorted((c for _, c in listed), reverse=True), f"dearest pool first: {msg}"
    assert over[0].urn.endswith("pulumi:pulumi:Stack::sahab-smb"), over[0].urn


def test_within_budget_passes_and_the_report_shows_the_estimate(smb_plan):
    ctx = _ctx(_with_budget(smb_plan, 1_000_000))
    assert not [f for f in check_budget(ctx) if f.mandatory], "a generous budget passes"
    result = GateResult(project="sahab", stack="smb", environment="smb")
    result.extras.update(ctx.extras)
    md = "\n".join(cost_section(result))
    assert md.startswith("## Monthly cost estimate: $") and "AED" in md, md[:200]
    assert "the maximum estimate is within it" in md


def test_no_budget_no_finding_but_still_a_cost_section(smb_plan):
    ctx = _ctx(_with_budget(smb_plan, None))
    assert check_budget(ctx) == []
    assert ctx.extras["cost"].monthly_max > 0


@pytest.mark.slow
def test_sahab_check_fails_the_environment_over_budget_and_reports_the_cost(repo, tmp_path):
    """The whole gate on smb with its budget lowered below the estimate: exit 1, the finding and the
    cost section in report.md (and exit 0 with the budget it ships with: see `sahab check smb`)."""
    from sahab.gate import check_environment

    root = tmp_path / "checkout"
    (root / "environments" / "smb").mkdir(parents=True)
    shutil.copy(repo / "Pulumi.yaml", root / "Pulumi.yaml")
    for folder in ("stacks", "components", "policy_packs", "sahab"):
        (root / folder).symlink_to(repo / folder)
    doc = yaml.safe_load((repo / "environments" / "smb" / "Pulumi.smb.yaml").read_text())
    doc["config"]["sahab:platform"]["budget"] = {"monthly_usd_max": 300}
    (root / "environments" / "smb" / "Pulumi.smb.yaml").write_text(yaml.safe_dump(doc))
    shutil.copy(repo / "environments" / "smb" / "policy.yaml", root / "environments" / "smb" / "policy.yaml")
    code = check_environment(root, "smb", out=tmp_path / "out", fmt="json")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    over = [f for f in report["findings"] if f["policy"] == "budget-monthly-max"]
    assert code == 1 and over and over[0]["enforcement"] == "mandatory", (code, [f["policy"] for f in report["findings"] if f["enforcement"] == "mandatory"])
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Monthly cost estimate: $" in md and "the maximum estimate is **over** it" in md, md[-1500:]
