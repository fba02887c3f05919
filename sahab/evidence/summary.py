"""The control summary of `sahab check`'s report.md (a `sahab.gate.reports.SECTIONS` hook, as the
cost summary is): each law's controls passing and failing on the gate's evidence, the failing ones
with their law, article and findings, and what changed since a baseline.

The hook registers itself when this module is imported (evidence sits above the gate in the layers,
so the gate cannot import it): `sahab check` and `sahab evidence` import it before the gate runs.

The baseline is the base branch's report.json (`sahab check --baseline FILE`) or the previous
report.json in the out folder; the gate puts it in `GateResult.extras["baseline_report"]` as
`{"path": ..., "doc": <report.json>}` before the reports are written. Verify evidence is not part of
a pull request: its items are `not-assessed` here and the counts say so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sahab.evidence.assess import FAIL, MANUAL, NOT_APPLICABLE, NOT_ASSESSED, PASS, ControlResult, EvidenceError, Facts, GateEvidence, assess
from sahab.evidence.catalogue import REPO, CatalogueError, load_catalogue

if TYPE_CHECKING:  # the gate imports this module; its types only for checking
    from sahab.gate.model import GateResult

BASELINE = "baseline_report"
MARK = {PASS: "✅", FAIL: "❌", MANUAL: "📝", NOT_ASSESSED: "➖", NOT_APPLICABLE: "⚪"}


def facts_of(result: GateResult, repo: Path = REPO) -> Facts:
    """The environment's data class and transfer basis, from the stack config the gate planned."""
    path = repo / result.config_file if result.config_file else None
    spec: Mapping[str, Any] = {}
    if path is not None and path.is_file():
        try:
            config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
            spec = config.get("sahab:platform") or {}
        except yaml.YAMLError:
            spec = {}
    return Facts.of_spec(result.environment, spec if isinstance(spec, Mapping) else {})


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(results: Sequence[ControlResult]) -> list[str]:
    lines = ["| law | controls | ✅ pass | ❌ fail | 📝 manual | ➖ not assessed | ⚪ not applicable |", "|---|---:|---:|---:|---:|---:|---:|"]
    by_law: dict[str, list[ControlResult]] = {}
    for r in results:
        by_law.setdefault(r.framework.title, []).append(r)
    for law, rs in by_law.items():
        n = {s: sum(r.status == s for r in rs) for s in (PASS, FAIL, MANUAL, NOT_ASSESSED, NOT_APPLICABLE)}
        lines.append(f"| {law} | {len(rs)} | {n[PASS]} | {n[FAIL]} | {n[MANUAL]} | {n[NOT_ASSESSED]} | {n[NOT_APPLICABLE]} |")
    return lines


def changes(before: Sequence[ControlResult], after: Sequence[ControlResult]) -> list[tuple[ControlResult, str]]:
    """(control now, status before) for every control whose status differs."""
    was = {r.control.id: r.status for r in before}
    return [(r, was.get(r.control.id, "absent")) for r in after if was.get(r.control.id, "absent") != r.status]


def control_section(result: GateResult) -> list[str]:
    """report.md lines: the control summary (and what changed since the baseline)."""
    head = ["### Compliance controls", ""]
    try:
        catalogue = load_catalogue()
    except CatalogueError as e:
        return [*head, f"The control catalogue did not load, so no control is summarised: {_cell(str(e))}", ""]
    facts = facts_of(result)
    now = assess(catalogue, GateEvidence.of(result), None, facts)
    lines = [
        *head,
        "Each law's controls on this plan's evidence (compliance/controls/; `sahab evidence` adds verify's and signs a pack). "
        "Verify checks do not run on a pull request: a control proven only by them is not assessed here.",
        "",
        *_table(now),
        "",
    ]
    failing = [r for r in now if r.status == FAIL]
    if failing:
        lines += ["| | control | law, article | findings |", "|---|---|---|---|"]
        for r in failing:
            found = "; ".join(f for i in r.failing for f in i.findings[:3])
            lines.append(f"| ❌ | `{r.control.id}` {_cell(r.control.title)} | {_cell(r.law)} | {_cell(found)} |")
        lines.append("")
    baseline = result.extras.get(BASELINE)
    if isinstance(baseline, Mapping) and isinstance(baseline.get("doc"), Mapping):
        source = str(baseline.get("path") or "baseline")
        try:
            before = assess(catalogue, GateEvidence.from_report(baseline["doc"], source), None, facts)
        except EvidenceError as e:
            return [*lines, f"The baseline could not be read: {_cell(str(e))}", ""]
        moved = changes(before, now)
        if not moved:
            lines += [f"No control changed status since the baseline (`{_cell(source)}`).", ""]
        else:
            lines += [
                f"**{len(moved)} control(s) changed** since the baseline (`{_cell(source)}`):",
                "",
                "| control | law, article | was | now |",
                "|---|---|---|---|",
            ]
            lines += [
                f"| `{r.control.id}` {_cell(r.control.title)} | {_cell(r.law)} | {MARK.get(old, '')} {old} | {MARK[r.status]} {r.status} |" for r, old in moved
            ]
            lines.append("")
    return lines


def register() -> None:
    """Append the control summary to the gate's report.md sections (once)."""
    from sahab.gate import reports

    if control_section not in reports.SECTIONS:
        reports.SECTIONS.append(control_section)


register()
