"""The model card of a registered version: one self-contained HTML file, readable without Sahab.

    html = render(card_data(project, version, settings))       # the text
    write_card(project, version, settings)                     # logged as `card/model_card.html` on the version's run
    python -m workloads.registry card --project P --version V  # regenerate it (after an A/B decision, a drift episode)

What it holds, all from what the registry and the monitoring state already record (nothing is
recomputed, so regenerating it is cheap and it says only what the platform measured):
- the project, task, framework and features (with their `pii` kind: a marked feature is fed to the
  model as its token, never in clear);
- the data: training and holdout windows (event times), the training data's sha256 and the
  holdout's (version tags `sahab.data.sha256`, `sahab.training.window`, `sahab.holdout.*`);
- the metrics on the common holdout, and the champion's on the same holdout when there was one
  (`sahab.holdout.<metric>`, `sahab.holdout.champion.<metric>`), with the gate's result;
- global importance (explain/importance.json on the run, workloads/explain/importance.py);
- A/B: the evaluator's decision on this version (`sahab.abtest.decision`), its promotion
  (`sahab.promotion.*`), a queued state (`sahab.queued`), and the aliases it holds now;
- drift: the monitoring job's state for the project (SAHAB_DRIFT_STATE_URI or its default):
  retraining triggers raised while this version served, the open episodes when it serves now, and
  promotions to or from it.
No script, no external stylesheet, font or image: the file opens offline in any browser. Every
value is HTML-escaped; values of personal-data features never appear (only names and numbers).
"""

from __future__ import annotations

import html
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workloads.errors import SahabError

ARTIFACT_DIR, ARTIFACT_FILE = "card", "model_card.html"
TAG_CARD = "sahab.card"


class CardError(SahabError):
    """The version cannot be found (the message names the model and version)."""


@dataclass
class CardData:
    project: str
    description: str
    task: str
    framework: str
    version: str
    run_id: str
    features: list[tuple[str, str, str | None]]
    """(name, type, pii kind or None)."""
    tags: dict[str, str]
    aliases: list[str] = field(default_factory=list)
    importance: Any = None
    """workloads.explain.importance.Importance, or None when the run has none."""
    drift: dict[str, Any] = field(default_factory=dict)
    """{"triggers": [...], "episodes": [...], "promotions": [...], "note": str}."""
    generated_at: str = ""


def _drift_history(spec: Any, version: str, home: Path | None) -> dict[str, Any]:
    """What the monitoring job's state says about `version` (module docstring)."""
    try:
        from workloads.monitoring.drift import DriftSettings
        from workloads.monitoring.job import DriftJobSettings, JobState, configure

        cfg = configure(DriftJobSettings(), DriftSettings(), spec, Path(home or "."))
        state = JobState.load(cfg.state_uri)
    except Exception as exc:  # noqa: BLE001 (the card still renders; it says why drift is missing)
        return {"triggers": [], "episodes": [], "promotions": [], "note": f"monitoring state not readable: {type(exc).__name__}: {exc}"}
    triggers = [t for t in state.triggers if str(t.get("model_version")) == version]
    promotions = [p for p in state.promotions if version in (str(p.get("from")), str(p.get("to")))]
    episodes = []
    if state.model_version == version:
        for ep in (state.episode, state.performance_episode):
            if ep is not None:
                episodes.append({"kind": ep.kind, "key": ep.key, "opened": ep.opened_window, "last_flagged": ep.last_flagged_window, "triggered": ep.triggered})
    note = f"monitoring state {cfg.state_uri}: last version seen v{state.model_version}, drift tested up to {state.watermark}"
    if state.model_version is None:
        note = f"monitoring state {cfg.state_uri}: the monitoring job has not run for this project yet"
    return {"triggers": triggers, "episodes": episodes, "promotions": promotions, "note": note}


def card_data(project: Any, version: str, settings: Any = None) -> CardData:
    """Everything the card shows about `version` of `project`'s registered model (module docstring)."""
    from workloads.explain.importance import read_importance
    from workloads.registry.client import mlflow_client, model_name
    from workloads.settings import SahabSettings

    settings = settings or SahabSettings()
    spec = getattr(project, "spec", project)
    name = model_name(project, settings)
    client = mlflow_client(settings)
    try:
        mv = client.get_model_version(name, str(version))
    except Exception as exc:  # noqa: BLE001 (MLflow's error for an unknown version varies by store)
        raise CardError(
            f"{name} v{version}: not in the registry ({type(exc).__name__})",
            fix=f"list the versions: the MLflow UI, or `python -m workloads.registry --project {spec.name} resolve champion`",
        ) from None
    try:
        aliases = sorted(client.get_registered_model(name).aliases or {})
        held = [a for a in aliases if str(client.get_registered_model(name).aliases[a]) == str(version)]
    except Exception:  # noqa: BLE001 (aliases are informative only)
        held = []
    features = [(f.name, f.type, f.pii) for f in spec.features]
    return CardData(
        project=spec.name,
        description=spec.description or "",
        task=spec.label.task,
        framework=spec.training.framework,
        version=str(mv.version),
        run_id=str(mv.run_id),
        features=features,
        tags=dict(mv.tags or {}),
        aliases=held,
        importance=read_importance(client, str(mv.run_id)),
        drift=_drift_history(spec, str(mv.version), Path(settings.home) if getattr(settings, "home", None) else None),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    )


# --- rendering ---

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:60em;color:#1b1f24;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-family:ui-monospace,monospace;font-size:.92em}.muted{color:#57606a}
.bar{background:#0969da;height:.8em;display:inline-block}.ok{color:#1a7f37}.bad{color:#cf222e}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else _e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _fmt(value: object) -> str:
    try:
        return f"{float(value):.6g}"  # type: ignore[arg-type]  # tags are strings of numbers
    except (TypeError, ValueError):
        return str(value)


def _json_tag(tags: dict[str, str], key: str) -> Any:
    try:
        return json.loads(tags[key]) if key in tags else None
    except ValueError:
        return tags[key]


def render(card: CardData) -> str:
    """The card as one HTML document (module docstring)."""
    from workloads.registry.client import TAG_CHAMPION_VERSION, champion_holdout_metrics, holdout_metrics

    tags = card.tags
    parts = [f"<h1>{_e(card.project)} v{_e(card.version)}</h1>"]
    parts.append(f"<p>{_e(card.description)}</p>" if card.description else "")
    parts.append(
        _table(
            ["task", "framework", "aliases now", "training run", "card generated"],
            [[card.task, card.framework, ", ".join(card.aliases) or "none", card.run_id, card.generated_at]],
        )
    )
    parts.append("<h2>Data</h2>")
    parts.append(
        _table(
            ["what", "value"],
            [
                ["training window (event times)", tags.get("sahab.training.window", "not recorded")],
                ["holdout window (the common holdout)", tags.get("sahab.holdout.window", "not recorded")],
                ["training data sha256", _Raw(f"<code>{_e(tags.get('sahab.data.sha256', 'not recorded'))}</code>")],
                ["holdout sha256", _Raw(f"<code>{_e(tags.get('sahab.holdout.sha256', 'not recorded'))}</code>")],
                ["tokenisation key version", tags.get("sahab.privacy.key_version", "none (no personal data marked)")],
            ],
        )
    )
    parts.append("<h2>Features</h2>")
    parts.append(
        _table(
            ["feature", "type", "personal data"],
            [[n, t, f"pii: {k} (the model sees its token)" if k else "no"] for n, t, k in card.features],
        )
    )
    parts.append("<h2>Metrics on the common holdout</h2>")
    own, champ = holdout_metrics(tags), champion_holdout_metrics(tags)
    if own:
        champion = tags.get(TAG_CHAMPION_VERSION)
        header = ["metric", f"v{card.version}"] + ([f"champion v{champion} (same holdout)"] if champ else [])
        rows = [[m, _fmt(v)] + ([_fmt(champ[m]) if m in champ else "-"] if champ else []) for m, v in sorted(own.items())]
        parts.append(_table(header, rows))
        if not champ:
            parts.append("<p class=muted>No champion when this version was registered: nothing to compare with.</p>")
    else:
        parts.append("<p class=muted>No holdout metrics recorded for this version.</p>")
    gate = tags.get("sahab.gate.result")
    if gate:
        cls = "ok" if gate == "passed" else "bad"
        parts.append(f"<p>Gate: <span class={cls}>{_e(gate)}</span></p>")
        checks = _json_tag(tags, "sahab.gate.checks")
        if isinstance(checks, list) and checks:
            keys = sorted({k for c in checks if isinstance(c, dict) for k in c})
            parts.append(_table(keys, [[_fmt(c.get(k, "")) for k in keys] for c in checks if isinstance(c, dict)]))
    parts.append("<h2>Global importance</h2>")
    imp = card.importance
    if imp is None:
        parts.append("<p class=muted>No importance was logged for this version (registered before explanations existed).</p>")
    elif imp.unavailable:
        parts.append(f"<p class=muted>Not available: {_e(imp.unavailable)}</p>")
    else:
        top = max(imp.features.values(), default=0.0) or 1.0
        rows = [[f, _Raw(f"{_fmt(v)}"), _Raw(f'<span class=bar style="width:{200 * v / top:.0f}px"></span>')] for f, v in imp.features.items()]
        parts.append(
            f"<p>Mean |attribution| over {imp.rows} holdout rows ({_e(imp.method)}, in {_e(imp.units)}): how much each feature moves "
            "the model's output on average, whichever way.</p>"
        )
        parts.append(_table(["feature", "mean |attribution|", ""], rows))
    parts.append("<h2>A/B decisions</h2>")
    ab_rows = []
    decision = _json_tag(tags, "sahab.abtest.decision")
    if isinstance(decision, dict):
        ab_rows.append(["experiment decision", decision.get("action", decision.get("recommendation", "")), decision.get("reason", "")])
    if "sahab.promotion.at" in tags:
        ab_rows.append(["promoted to champion", tags["sahab.promotion.at"], f"previous champion v{tags.get('sahab.promotion.previous', '?')}"])
    if "sahab.queued" in tags:
        ab_rows.append(["queued behind a running experiment", tags["sahab.queued"], ""])
    parts.append(_table(["event", "value", "detail"], ab_rows) if ab_rows else "<p class=muted>No A/B decision recorded for this version.</p>")
    parts.append("<h2>Drift history</h2>")
    drift = card.drift
    if drift.get("note"):
        parts.append(f"<p class=muted>{_e(drift['note'])}</p>")
    rows = [["retraining triggered", t.get("at", ""), f"{t.get('reason', '')} episode {t.get('episode', '')}"] for t in drift.get("triggers", [])]
    rows += [[f"{e['kind']} episode open", e["opened"], f"last flagged {e['last_flagged']}, triggered: {e['triggered']}"] for e in drift.get("episodes", [])]
    rows += [["version change", p.get("at", ""), f"v{p.get('from')} -> v{p.get('to')}"] for p in drift.get("promotions", [])]
    parts.append(_table(["event", "at", "detail"], rows) if rows else "<p class=muted>No drift episode or retraining recorded for this version.</p>")
    body = "\n".join(p for p in parts if p)
    title = f"Model card: {_e(card.project)} v{_e(card.version)}"
    return f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n'


def write_card(project: Any, version: str, settings: Any = None, out: Path | None = None) -> str:
    """Render the card of `version` and log it on its training run as `card/model_card.html`
    (replacing an earlier one); also write it to `out` when given. Returns the HTML."""
    from workloads.registry import tracking
    from workloads.registry.client import mlflow_client, model_name
    from workloads.settings import SahabSettings

    settings = settings or SahabSettings()
    data = card_data(project, version, settings)
    text = render(data)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / ARTIFACT_FILE).write_text(text, encoding="utf-8")
        tracking.log_artifacts(data.run_id, Path(tmp), ARTIFACT_DIR, settings=settings)
    mlflow_client(settings).set_model_version_tag(model_name(project, settings), data.version, TAG_CARD, f"{ARTIFACT_DIR}/{ARTIFACT_FILE}")
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    return text
