"""The gate's budget check on the real smb plan: over budget is mandatory and names the pools to shrink."""

from __future__ import annotations

import dataclasses

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
    pools = [p for p in ("smb-train-a10g-ng", "smb-serving-ng") if p in msg]
    assert pools and msg.index(pools[0]) == min(msg.index(p) for p in pools), f"dearest pool first: {msg}"
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
