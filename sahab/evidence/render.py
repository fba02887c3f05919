"""The pack's pages a person reads: `report.html` (every control, its status and the evidence
behind it) and `index.html`, the environment's governance dashboard (control status by law, open
findings, the model inventory, the cost range, the pack's files). Both are single static files: inline
CSS (and a few lines of inline JS on the dashboard to show only what needs attention), no external
link, font or script, so they open from the pack on a machine with no network. Citations of the
official texts are shown as text, not links. The same inputs give the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sahab.evidence.assess import FAIL, MANUAL, NOT_APPLICABLE, NOT_ASSESSED, PASS, PLANNED, STATUSES, ControlResult, GateEvidence, VerifyEvidence

LABEL = {PASS: "pass", FAIL: "fail", MANUAL: "manual", NOT_ASSESSED: "not assessed", NOT_APPLICABLE: "not applicable", PLANNED: "planned"}

CSS = """
:root{--pass:#1a7f37;--fail:#cf222e;--manual:#0969da;--na:#8c959f;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328}
header{background:#0b3d2e;color:#fff;padding:16px 24px}header h1{margin:0;font-size:20px}header p{margin:4px 0 0;opacity:.85}
nav{padding:8px 24px;background:var(--bg);border-bottom:1px solid var(--line)}nav a{margin-right:16px}
main{padding:8px 24px 32px;max-width:1200px}h2{margin-top:28px;border-bottom:1px solid var(--line);padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:8px 0}th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--bg)}td.n{text-align:right}code{font-size:12px}.muted{color:var(--muted)}
.s{display:inline-block;min-width:92px;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;text-align:center}
.s-pass{background:var(--pass)}.s-fail{background:var(--fail)}.s-manual{background:var(--manual)}
.s-not-assessed,.s-planned{background:var(--na)}.s-not-applicable{background:#c9d1d9;color:#1f2328}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}.banner.fail{background:#ffebe9;border:1px solid var(--fail)}
.banner.pass{background:#dafbe1;border:1px solid var(--pass)}.bar{display:flex;height:10px;border-radius:5px;overflow:hidden;min-width:160px}
.bar span{display:block}.b-pass{background:var(--pass)}.b-fail{background:var(--fail)}.b-manual{background:var(--manual)}
.b-not-assessed{background:var(--na)}.b-not-applicable{background:#c9d1d9}.control{border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:10px 0}
.control h3{margin:4px 0;font-size:15px}ul.f{margin:4px 0;padding-left:18px}ul.f li{font-family:ui-monospace,monospace;font-size:12px}
body.attention tr[data-status=pass],body.attention tr[data-status=not-applicable]{display:none}
"""

JS = """
document.getElementById('attention').addEventListener('change', function (e) {
  document.body.classList.toggle('attention', e.target.checked);
});
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def badge(status: str) -> str:
    return f'<span class="s s-{esc(status)}">{esc(LABEL.get(status, status))}</span>'


@dataclass(frozen=True)
class View:
    """Everything the pages show."""

    environment: str
    at: str
    about: Mapping[str, str]
    results: Sequence[ControlResult]
    gate: GateEvidence | None
    verify: VerifyEvidence | None
    inventory: Mapping[str, Any]
    cost: Mapping[str, Any] | None
    signing: Mapping[str, str]
    files: Sequence[str] = field(default_factory=tuple)
    """The pack's files the dashboard links to (relative paths; only files that exist)."""


def _page(title: str, body: str, script: str = "") -> str:
    tail = f"<script>{script}</script>\n" if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<link rel="icon" href="data:,">\n<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n'
        f"<body>\n{body}\n{tail}</body>\n</html>\n"
    )


def _by_law(results: Sequence[ControlResult]) -> dict[str, list[ControlResult]]:
    out: dict[str, list[ControlResult]] = {}
    for r in results:
        out.setdefault(r.framework.id, []).append(r)
    return out


def _counts(results: Sequence[ControlResult]) -> dict[str, int]:
    return {s: sum(r.status == s for r in results) for s in STATUSES}


def _bar(counts: Mapping[str, int]) -> str:
    total = sum(counts.values()) or 1
    parts = "".join(f'<span class="b-{s}" style="width:{100 * n / total:.1f}%"></span>' for s, n in counts.items() if n)
    return f'<div class="bar" title="{esc(", ".join(f"{n} {LABEL[s]}" for s, n in counts.items() if n))}">{parts}</div>'


def _banner(results: Sequence[ControlResult]) -> str:
    failing = [r for r in results if r.status == FAIL]
    if failing:
        names = ", ".join(f"{r.control.id} ({r.law})" for r in failing)
        return f'<div class="banner fail" id="failing">{len(failing)} control(s) failing: {esc(names)}</div>'
    return '<div class="banner pass" id="failing">No control fails on the evidence in this pack.</div>'


def _facts(view: View) -> str:
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in view.about.items())
    return f"<table>{rows}</table>"


def _findings(view: View) -> str:
    rows = []
    if view.gate is not None:
        for f in view.gate.findings:
            rows.append(
                f'<tr data-status="fail"><td>{esc(f.enforcement)}</td><td><code>{esc(f.pack)}/{esc(f.policy)}</code></td><td>{esc(f.resource or f.urn or "stack")}</td><td>{esc(f.message)}</td></tr>'
            )
    if view.verify is not None:
        for o in view.verify.outcomes:
            if o.outcome == "failed":
                rows.append(f'<tr data-status="fail"><td>verify</td><td><code>{esc(o.check)}</code></td><td>{esc(o.subject)}</td><td>{esc(o.detail)}</td></tr>')
    if not rows:
        return "<p>No open finding: the gate found nothing" + (" and every verify check passed" if view.verify else "") + ".</p>"
    return "<table><tr><th>level</th><th>check</th><th>resource</th><th>what is wrong, and the fix</th></tr>" + "".join(rows) + "</table>"


def _inventory(inv: Mapping[str, Any]) -> str:
    out = []
    registry = inv.get("registry")
    models = (registry or {}).get("models") or {}
    if registry is None:
        out.append(f'<p class="muted">{esc(inv.get("registry_note"))}</p>')
    elif not registry.get("reachable"):
        out.append(
            f'<p class="muted">The registry {esc(registry.get("uri"))} was not reachable: {esc(registry.get("error"))}. The projects are listed without versions.</p>'
        )
    rows = []
    for p in inv.get("projects") or []:
        m = models.get(p["name"]) or {}
        aliases = ", ".join(f"{a} → v{v}" for a, v in (m.get("aliases") or {}).items()) or "-"
        versions = m.get("versions") or []
        rows.append(
            f'<tr><td><b>{esc(p["name"])}</b><br><span class="muted">{esc(p.get("description"))}</span></td><td>{esc(p.get("team"))}</td>'
            f"<td>{esc(p.get('framework'))} / {esc(p.get('task'))}</td><td>{len(versions) if registry else '-'}</td><td>{esc(aliases)}</td></tr>"
        )
    out.append("<table><tr><th>project</th><th>team</th><th>framework / task</th><th>versions</th><th>aliases</th></tr>" + "".join(rows) + "</table>")
    for name, m in sorted(models.items()):
        if not m.get("versions"):
            continue
        vrows = []
        for v in m["versions"]:
            promo = v.get("promotion") or {}
            decision = v.get("abtest_decision")
            decided = ""
            if isinstance(decision, Mapping):
                decided = f"{decision.get('action') or decision.get('recommendation')}: {decision.get('reason', '')}"
            vrows.append(
                f"<tr><td>v{esc(v['version'])}</td><td>{esc(v.get('created'))}</td><td>{esc(', '.join(v.get('aliases') or []))}</td>"
                f"<td><code>{esc((v.get('data_sha256') or '-')[:16])}</code></td><td>{esc(promo.get('at', '-'))} {esc('from v' + str(promo['previous']) if promo.get('previous') else '')}</td>"
                f"<td>{esc(decided or '-')}</td><td>{esc(v.get('model_card') or '-')}</td></tr>"
            )
        out.append(
            f"<h3>{esc(name)}</h3><table><tr><th>version</th><th>created</th><th>aliases</th><th>data sha256</th><th>promoted</th><th>A/B decision</th><th>model card</th></tr>"
            + "".join(vrows)
            + "</table>"
        )
    monitoring = inv.get("monitoring")
    if monitoring is None:
        out.append(f'<p class="muted">{esc(inv.get("monitoring_note"))}</p>')
    else:
        mrows = []
        for name, st in sorted(monitoring.items()):
            if st.get("error"):
                mrows.append(f"<tr><td>{esc(name)}</td><td colspan=4>{esc(st['error'])}</td></tr>")
                continue
            ep = st.get("episode") or {}
            mrows.append(
                f"<tr><td>{esc(name)}</td><td>{esc(st.get('model_version'))}</td><td>{esc(st.get('watermark'))}</td>"
                f"<td>{'open since ' + esc(ep.get('start') or ep.get('started') or '') if ep else 'none'}</td><td>{len(st.get('triggers') or [])} trigger(s), {len(st.get('promotions') or [])} promotion(s)</td></tr>"
            )
        out.append(
            "<h3>Drift and performance</h3><table><tr><th>project</th><th>version watched</th><th>tested up to</th><th>drift episode</th><th>history</th></tr>"
            + "".join(mrows)
            + "</table>"
        )
    return "\n".join(out)


def _cost(cost: Mapping[str, Any] | None) -> str:
    if not cost:
        return '<p class="muted">No cost estimate: the target has no cloud plan.</p>'
    monthly = cost.get("monthly") or {}
    aed = cost.get("monthly_aed") or {}
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td class=n>{float(v.get('min', 0)):,.0f}</td><td class=n>{float(v.get('max', 0)):,.0f}</td></tr>"
        for name, v in sorted((cost.get("by_component") or {}).items())
        if isinstance(v, Mapping)
    )
    table = f"<table><tr><th>component</th><th>USD / month min</th><th>max</th></tr>{rows}</table>" if rows else ""
    return (
        f"<p><b>{float(monthly.get('min', 0)):,.0f} to {float(monthly.get('max', 0)):,.0f} USD a month</b>"
        + (f" ({float(aed.get('min', 0)):,.0f} to {float(aed.get('max', 0)):,.0f} AED)" if aed else "")
        + f", price snapshot {esc(cost.get('price_snapshot'))}; {len(cost.get('unpriced') or [])} resource(s) unpriced (see cost.json).</p>"
        + table
    )


def dashboard_html(view: View) -> str:
    """index.html: the environment's governance dashboard."""
    laws = []
    for fid, rs in _by_law(view.results).items():
        fw = rs[0].framework
        counts = _counts(rs)
        rows = "".join(
            f'<tr data-status="{esc(r.status)}"><td><a href="report.html#ctl-{esc(r.control.id)}">{esc(r.control.id)}</a></td>'
            f"<td>{esc(r.control.title)}</td><td>{esc(r.control.source.article)}</td><td>{badge(r.status)}</td></tr>"
            for r in rs
        )
        summary = ", ".join(f"{n} {LABEL[s]}" for s, n in counts.items() if n)
        laws.append(
            f'<h3 id="law-{esc(fid)}">{esc(fw.title)} <span class="muted">({esc(fw.law)})</span></h3>{_bar(counts)}<p class="muted">{esc(summary)}</p>'
            f"<table><tr><th>control</th><th>title</th><th>article</th><th>status</th></tr>{rows}</table>"
        )
    overview = "".join(
        f'<tr data-status="{FAIL if c[FAIL] else PASS}"><td><a href="#law-{esc(fid)}">{esc(rs[0].framework.title)}</a></td><td class=n>{len(rs)}</td>'
        + "".join(f"<td class=n>{c[s]}</td>" for s in STATUSES)
        + f"<td>{_bar(c)}</td></tr>"
        for fid, rs in _by_law(view.results).items()
        for c in [_counts(rs)]
    )
    head_cells = "".join(f"<th>{esc(LABEL[s])}</th>" for s in STATUSES)
    files = "".join(f'<li><a href="{esc(f)}">{esc(f)}</a></li>' for f in view.files)
    body = (
        f"<header><h1>Sahab governance: {esc(view.environment)}</h1><p>Evidence collected {esc(view.at)}; signed with {esc(view.signing.get('method'))} "
        f"(key fingerprint {esc(view.signing.get('public_key_sha256', '')[:16])}…)</p></header>\n"
        '<nav><a href="#summary">summary</a><a href="#laws">controls by law</a><a href="#findings">open findings</a>'
        '<a href="#models">models</a><a href="#cost">cost</a><a href="#files">files</a><a href="report.html">full report</a></nav>\n<main>\n'
        f'<h2 id="summary">Summary</h2>{_banner(view.results)}{_facts(view)}'
        f'<label><input type="checkbox" id="attention"> show only what needs attention</label>'
        f"<table><tr><th>law</th><th>controls</th>{head_cells}<th></th></tr>{overview}</table>\n"
        f'<h2 id="laws">Controls by law</h2>{"".join(laws)}\n'
        f'<h2 id="findings">Open findings</h2>{_findings(view)}\n'
        f'<h2 id="models">Model inventory</h2>{_inventory(view.inventory)}\n'
        f'<h2 id="cost">Cost range</h2>{_cost(view.cost)}\n'
        f'<h2 id="files">Files of this pack</h2><ul>{files}</ul>\n</main>'
    )
    return _page(f"Sahab governance: {view.environment}", body, JS)


def _control(r: ControlResult) -> str:
    items = []
    for i in r.items:
        found = "".join(f"<li>{esc(f)}</li>" for f in i.findings)
        items.append(
            f'<tr data-status="{esc(i.status)}"><td>{esc(i.kind)}</td><td><code>{esc(i.name)}</code></td><td>{badge(i.status)}</td>'
            f"<td>{esc(i.detail)}{'<ul class=f>' + found + '</ul>' if found else ''}</td></tr>"
        )
    note = f"<p><b>Note:</b> {esc(r.note)}</p>" if r.note else ""
    src = r.control.source
    return (
        f'<div class="control" id="ctl-{esc(r.control.id)}"><h3>{badge(r.status)} {esc(r.control.id)}: {esc(r.control.title)}</h3>'
        f"<p><b>{esc(r.law)}</b>, {esc(r.framework.law)}. Official text: <code>{esc(src.citation)}</code> <span class=muted>(checked {esc(src.checked)})</span></p>"
        f"<p><b>Requires:</b> {esc(r.control.requirement)}</p><p><b>The platform:</b> {esc(r.control.implementation)}</p>{note}"
        f"<table><tr><th>evidence</th><th>check</th><th>status</th><th>detail</th></tr>{''.join(items)}</table></div>"
    )


def report_html(view: View) -> str:
    """report.html: every control with its status and the evidence behind it."""
    sections = []
    for fid, rs in _by_law(view.results).items():
        fw = rs[0].framework
        sections.append(
            f'<h2 id="law-{esc(fid)}">{esc(fw.title)}</h2><p>{esc(fw.law)}. Official text: <code>{esc(fw.official_text)}</code></p>'
            + "".join(_control(r) for r in rs)
        )
    sign = view.signing
    laws = "".join(f'<a href="#law-{esc(fid)}">{esc(rs[0].framework.title)}</a>' for fid, rs in _by_law(view.results).items())
    body = (
        f"<header><h1>Sahab compliance evidence: {esc(view.environment)}</h1><p>Collected {esc(view.at)}</p></header>\n"
        f'<nav><a href="index.html">dashboard</a>{laws}<a href="#findings">open findings</a><a href="#models">models</a><a href="#signature">signature</a></nav>\n<main>\n'
        f"<h2>About this pack</h2>{_banner(view.results)}{_facts(view)}\n"
        f"{''.join(sections)}\n"
        f'<h2 id="findings">Open findings</h2>{_findings(view)}\n'
        f'<h2 id="models">Model inventory</h2>{_inventory(view.inventory)}\n'
        f'<h2 id="signature">Signature</h2><p>SHA256SUMS lists the sha256 of every file of this pack and is signed ({esc(sign.get("method"))}, '
        f"{esc(sign.get('algorithm'))}, key {esc(sign.get('key'))}, public key sha256 {esc(sign.get('public_key_sha256'))}).</p>"
        f"<p>Check it without Sahab:</p><pre>sha256sum -c SHA256SUMS\n{esc(sign.get('verify'))}</pre>\n</main>"
    )
    return _page(f"Sahab compliance evidence: {view.environment}", body)
