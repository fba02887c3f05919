"""An estimate as a console table (text) or Markdown (report.md, pull-request comments)."""

from __future__ import annotations

from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from sahab.cost.estimate import Estimate
from sahab.cost.snapshot import AED_PER_USD


def usd(value: float) -> str:
    return f"${value:,.2f}"


def money_range(lo: float, hi: float) -> str:
    return usd(lo) if round(lo, 2) == round(hi, 2) else f"{usd(lo)} .. {usd(hi)}"


def aed_range(lo: float, hi: float) -> str:
    a, b = lo * AED_PER_USD, hi * AED_PER_USD
    return f"AED {a:,.2f}" if round(a, 2) == round(b, 2) else f"AED {a:,.2f} .. {b:,.2f}"


def _count(lo: float, hi: float) -> str:
    return f"{lo:g}" if lo == hi else f"{lo:g}..{hi:g}"


def _snapshot_line(est: Estimate) -> str:
    snap = est.snapshot
    if snap is None:
        return est.note or "no price snapshot"
    unconfirmed = sum(1 for line in est.lines if not line.confirmed)
    return f"prices: {est.snapshot_path or snap.region} dated {snap.date}; {unconfirmed} of {len(est.lines)} lines use prices not confirmed for {snap.region} (see `confirmed` in the snapshot)"


def text(est: Estimate):
    """A rich renderable: lines per component, totals per type, the unpriced, the assumptions."""
    table = Table(title=f"Monthly cost of {est.environment} ({est.cloud} {est.region}), USD", show_lines=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("component", "left"),
        ("resource", "left"),
        ("item", "left"),
        ("count", "right"),
        ("unit price", "right"),
        ("monthly", "right"),
        ("", "left"),
    )
    for col, justify in columns:
        table.add_column(col, justify=justify)
    for line in sorted(est.lines, key=lambda li: (li.component, li.name, li.item)):
        table.add_row(
            line.component,
            line.name,
            line.item,
            _count(line.count_min, line.count_max),
            f"{line.unit_price_usd:g}/{line.unit}",
            money_range(line.monthly_min, line.monthly_max),
            "" if line.confirmed else "est.",
        )
    by_type = Table(title="Per resource type", show_lines=False)
    for col in ("type", "monthly USD", "monthly AED"):
        by_type.add_column(col, justify="left" if col == "type" else "right")
    for typ, (lo, hi) in est.rollup("type").items():
        by_type.add_row(typ, money_range(lo, hi), aed_range(lo, hi))
    parts: list[RenderableType] = [table, by_type]
    if est.projects:
        per_project = Table(title="Per model project (its share of the lines above, by its pods' requests; not added to the total)", show_lines=False)
        project_columns: tuple[tuple[str, JustifyMethod], ...] = (
            ("project", "left"),
            ("team", "left"),
            ("workload", "left"),
            ("pods", "right"),
            ("monthly", "right"),
            ("basis", "left"),
        )
        for col, justify in project_columns:
            per_project.add_column(col, justify=justify)
        for p in est.projects:
            for sh in p.shares:
                per_project.add_row(
                    p.project, p.team, f"{sh.workload}: {sh.item}", _count(sh.pods_min, sh.pods_max), money_range(sh.monthly_min, sh.monthly_max), sh.basis
                )
            for name, item, lo, hi in p.direct:
                per_project.add_row(p.project, p.team, f"{name}: {item}", "", money_range(lo, hi), "its own resource")
            per_project.add_row(p.project, p.team, "total", "", money_range(p.monthly_min, p.monthly_max), "", style="bold")
        parts.append(per_project)
    if est.unpriced:
        unpriced = Table(title=f"Not priced ({len(est.unpriced)}): not counted in the total", show_lines=False)
        for col in ("resource", "type", "why"):
            unpriced.add_column(col)
        for u in est.unpriced:
            unpriced.add_row(u.name, u.type, u.reason)
        parts.append(unpriced)
    if est.snapshot is not None and est.snapshot.assumptions:
        parts.append(Text("assumptions: " + "; ".join(f"{k} = {a.value:g} ({a.why})" for k, a in est.snapshot.assumptions.items()), style="dim"))
    if est.snapshot is not None:
        parts.append(Text(_snapshot_line(est), style="dim"))
    if est.note:
        parts.append(Text(est.note, style="yellow"))
    total = Text.assemble(
        ("monthly ", "bold"),
        (money_range(est.monthly_min, est.monthly_max), "bold green"),
        f"  ({aed_range(est.monthly_min, est.monthly_max)})",
        f"  {len(est.lines)} priced line(s), {len(est.unpriced)} unpriced",
    )
    parts.append(total)
    return Group(*parts)


def markdown(est: Estimate, budget_usd: float | None = None) -> list[str]:
    """The cost summary as Markdown lines: total, per component, per type, the unpriced."""
    out = [f"## Monthly cost estimate: {money_range(est.monthly_min, est.monthly_max)} ({aed_range(est.monthly_min, est.monthly_max)})", ""]
    if budget_usd is not None:
        verdict = "within" if est.monthly_max <= budget_usd else "**over**"
        out += [f"Budget `monthly_usd_max: {budget_usd:g}`: the maximum estimate is {verdict} it.", ""]
    if est.snapshot is not None:
        out += [f"{est.cloud} {est.region}; {_snapshot_line(est)}.", ""]
    if est.note:
        out += [f"> {est.note}", ""]
    if est.lines:
        out += ["| component | monthly USD | monthly AED |", "|---|---:|---:|"]
        out += [f"| `{c}` | {money_range(lo, hi)} | {aed_range(lo, hi)} |" for c, (lo, hi) in est.rollup("component").items()]
        out += ["", "<details><summary>per resource type</summary>", "", "| type | monthly USD |", "|---|---:|"]
        out += [f"| `{t}` | {money_range(lo, hi)} |" for t, (lo, hi) in est.rollup("type").items()]
        out += ["", "</details>", ""]
    if est.projects:
        out += ["Per model project (its share of the lines above, by its pods' requests; not added to the total):", ""]
        out += ["| project | team | monthly USD |", "|---|---|---:|"]
        out += [f"| `{p.project}` | {p.team} | {money_range(p.monthly_min, p.monthly_max)} |" for p in est.projects]
        out.append("")
    if est.unpriced:
        out += [f"**Not priced ({len(est.unpriced)})**, not in the total:", ""]
        out += [f"- `{u.name}` ({u.type}): {u.reason}" for u in est.unpriced]
        out.append("")
    if est.snapshot is not None and est.snapshot.assumptions:
        out += ["Assumptions: " + "; ".join(f"`{k}` = {a.value:g}" for k, a in est.snapshot.assumptions.items()), ""]
    return out
