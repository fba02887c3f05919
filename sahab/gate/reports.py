"""The gate's reports: report.json, report.md (pull-request comment), report.sarif, the console table."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sahab.gate.model import Finding, GateResult

# Extra report.md sections, in order: each takes the result and returns Markdown lines ([] to skip).
SECTIONS: list[Callable[[GateResult], list[str]]] = []


def write_reports(result: GateResult, out_dir: Path) -> dict[str, Path]:
    """report.json, report.md (pull-request comment) and report.sarif (code scanning)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md", "sarif": out_dir / "report.sarif"}
    paths["json"].write_text(json.dumps(report_json(result), indent=1))
    paths["md"].write_text(report_markdown(result))
    paths["sarif"].write_text(json.dumps(report_sarif(result), indent=1))
    return paths


def report_json(result: GateResult) -> dict[str, Any]:
    return {
        "project": result.project,
        "stack": result.stack,
        "environment": result.environment,
        "passed": result.mandatory == 0,
        "mandatory": result.mandatory,
        "advisory": result.advisory,
        "resources": result.resources,
        "manifests": result.manifests,
        "violations": [f.contract() for f in result.findings],
        "findings": [asdict(f) for f in result.findings],
        "packs": [asdict(p) for p in result.packs],
        "suppressions": result.suppressions,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
    }


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def report_markdown(result: GateResult, limit: int = 60000) -> str:
    ok = result.mandatory == 0
    head = [
        f"## {'✅' if ok else '❌'} Sahab policy gate: `{result.environment or result.project}` (stack `{result.stack}`)",
        "",
        f"{result.resources} resources, {result.manifests} Kubernetes manifests; **{result.mandatory} mandatory**, {result.advisory} advisory "
        f"({'passes' if ok else 'blocks the merge'}). No cloud credentials were used: the plan comes from the offline engine.",
        "",
        "| check | mandatory | advisory |",
        "|---|---:|---:|",
    ]
    sources: dict[str, list[Finding]] = {}
    for f in result.findings:
        sources.setdefault(f.pack, []).append(f)
    for pack in [p.name for p in result.packs] + (result.checks or ["kubernetes-schemas", "checkov"]):
        fs = sources.get(pack, [])
        head.append(f"| {pack} | {sum(f.mandatory for f in fs)} | {sum(not f.mandatory for f in fs)} |")
    lines = head + [""]
    if result.findings:
        lines += ["| | policy | resource | what is wrong, and the fix |", "|---|---|---|---|"]
        for f in sorted(result.findings, key=lambda f: (not f.mandatory, f.pack, f.policy, f.resource)):
            row = f"| {'🛑' if f.mandatory else '⚠️'} | `{f.pack}/{f.policy}` | {_md_cell(f.resource or f.urn or 'stack')} | {_md_cell(f.message)} |"
            if sum(len(x) + 1 for x in lines) + len(row) > limit:
                lines.append(f"| | … | | {len(result.findings)} findings in all: see report.json |")
                break
            lines.append(row)
        lines.append("")
    for section in SECTIONS:
        lines += section(result)
    if result.suppressions:
        lines += ["<details><summary>Suppressed checkov checks (with reasons)</summary>", ""]
        lines += [f"- `{cid}`: {why}" for cid, why in sorted(result.suppressions.items())]
        lines += ["", "</details>", ""]
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    lines.append(f"<sub>{timing}</sub>")
    return "\n".join(lines) + "\n"


def report_sarif(result: GateResult) -> dict[str, Any]:
    rules: dict[str, dict[str, Any]] = {}
    for pack in result.packs:
        for name, p in pack.policies.items():
            rules[f"{pack.name}/{name}"] = {
                "id": f"{pack.name}/{name}",
                "name": name,
                "shortDescription": {"text": p["description"]},
                "properties": {"pack": pack.name, "severity": p["severity"], "enforcement": p["enforcement"]},
            }
    results = []
    for f in result.findings:
        rule_id = f"{f.pack}/{f.policy}"
        rules.setdefault(rule_id, {"id": rule_id, "name": f.policy, "shortDescription": {"text": f.description or f.policy}, "properties": {"pack": f.pack}})
        uri = f"{result.config_file}" if f.source == "policy" or not f.file else f"manifests/{f.file}"
        results.append(
            {
                "ruleId": rule_id,
                "ruleIndex": list(rules).index(rule_id),
                "level": "error" if f.mandatory else "warning",
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {"artifactLocation": {"uri": uri or "Pulumi.yaml"}, "region": {"startLine": 1}},
                        "logicalLocations": [{"fullyQualifiedName": f.urn or "stack", "kind": "resource"}],
                    }
                ],
                "properties": {"enforcement": f.enforcement, "source": f.source, "resource": f.resource},
            }
        )
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "sahab-gate", "informationUri": "https://example.ae/sahab", "rules": list(rules.values())}}, "results": results}],
    }


def print_table(result: GateResult, console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    # CI logs are not terminals: give the table room instead of folding it into a column of letters.
    console = console or Console(width=None if sys.stdout.isatty() else 180)
    if result.findings:
        table = Table(title=f"Policy gate: {result.environment or result.project} ({result.stack})", show_lines=True, expand=True)
        table.add_column("level", no_wrap=True, min_width=9)
        table.add_column("policy", overflow="fold", min_width=20, ratio=1)
        table.add_column("resource", overflow="fold", min_width=20, ratio=1)
        table.add_column("what is wrong, and the fix", overflow="fold", min_width=40, ratio=3)
        for f in sorted(result.findings, key=lambda f: (not f.mandatory, f.pack, f.policy, f.resource)):
            level = "[bold red]mandatory[/]" if f.mandatory else "[yellow]advisory[/]"
            table.add_row(level, f"{f.pack}/{f.policy}", f.resource or f.urn or "stack", f.message)
        console.print(table)
    verdict = "[bold green]passed[/]" if result.mandatory == 0 else "[bold red]failed[/]"
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    console.print(
        f"{verdict}: {result.mandatory} mandatory, {result.advisory} advisory over {result.resources} resources, {result.manifests} manifests ({timing})"
    )
