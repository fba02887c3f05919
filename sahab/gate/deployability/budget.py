"""The budget: the plan's maximum monthly estimate (`sahab.cost`) against `budget.monthly_usd_max`.

Mandatory when the maximum exceeds the budget, naming the pools to shrink (dearest first, with what
one node fewer saves); advisory when some resources could not be priced, since the budget then
covers less than the plan. The estimate goes to `ctx.extras["cost"]`, which `cost_section` renders
into report.md for every environment, budget or not, so a pull request shows the cost change.
"""

from __future__ import annotations

from sahab.cost import Estimate, estimate_plan, node_pools
from sahab.cost.render import markdown, usd
from sahab.gate.deployability.context import Context, finding
from sahab.gate.model import ADVISORY, Finding, GateResult

RESOURCE = "budget (sahab:platform.budget)"


def _stack_urn(ctx: Context) -> str:
    return next((r.urn for r in ctx.plan.resources if r.type == "pulumi:pulumi:Stack"), "")


def _shrink_advice(est: Estimate, over: float) -> str:
    pools = node_pools(est)
    if not pools:
        return "no pool scales (min = max): lower the fixed resources (database class, NAT per AZ, endpoints)"
    advice = []
    for p in pools[:3]:
        per_node = (p.monthly_max - p.monthly_min) / (p.nodes_max - p.nodes_min)
        fewer = min(int(-(-over // per_node)), int(p.nodes_max - p.nodes_min)) if per_node > 0 else 0
        advice.append(
            f"{p.name} (max {p.nodes_max:g} nodes, {usd(p.monthly_max)} at max, {usd(per_node)} per node; max {p.nodes_max - fewer:g} saves {usd(fewer * per_node)})"
        )
    return "shrink the pools' max_size, dearest first: " + "; ".join(advice)


def check_budget(ctx: Context) -> list[Finding]:
    est = estimate_plan(ctx.plan)
    ctx.extras["cost"] = est
    if est.budget_usd is None:
        return []
    out: list[Finding] = []
    urn = _stack_urn(ctx)
    if est.monthly_max > est.budget_usd:
        over = est.monthly_max - est.budget_usd
        out.append(
            finding(
                "budget-monthly-max",
                f"{RESOURCE}: the maximum monthly estimate {usd(est.monthly_max)} (every pool at max_size) exceeds monthly_usd_max "
                f"{usd(est.budget_usd)} by {usd(over)}. Fix: {_shrink_advice(est, over)}; or raise budget.monthly_usd_max "
                "(see `sahab cost` for every line).",
                urn=urn,
                resource=RESOURCE,
                description="The environment's maximum monthly cost stays within its budget.",
            )
        )
    if est.unpriced:
        names = ", ".join(f"{u.name} ({u.type})" for u in est.unpriced[:5])
        out.append(
            finding(
                "budget-unpriced",
                f"{RESOURCE}: {len(est.unpriced)} resource(s) could not be priced and are not in the estimate the budget is checked against: "
                f"{names}{' …' if len(est.unpriced) > 5 else ''}. Fix: add their prices to sahab/cost/prices/{est.region}.json or a rule to sahab/cost/rules.py.",
                urn=urn,
                resource=RESOURCE,
                enforcement=ADVISORY,
                description="Everything the budget covers is priced.",
            )
        )
    return out


def cost_section(result: GateResult) -> list[str]:
    """report.md: the cost summary (total range, per component, per type, the unpriced)."""
    est = result.extras.get("cost")
    if not isinstance(est, Estimate):
        return []
    return markdown(est, budget_usd=est.budget_usd)
