"""Outputs of a monitoring run: JSON reports, HTML report with plots, Prometheus metrics, events.

The HTML is self-contained (plots inlined as PNG) so it can be archived next to the JSON in the
in-region bucket. Metrics go to a fresh registry per run, written in the textfile format and,
when configured, pushed to a Pushgateway (a CronJob lives too briefly to be scraped) under the
grouping key `project`, so two projects' pushes never replace each other's metrics.

Model performance (the last judged window, re-exported every run because a push replaces the
whole group), with labels project, metric, version:
    sahab_model_performance                 the metric on the window's matured labels
    sahab_model_performance_baseline        the version's value on its holdout (sahab.holdout.<metric>)
    sahab_model_performance_degraded        1 when the check on that metric failed (the alert)
    sahab_model_performance_labels          labels joined in the window (project, version)
    sahab_model_performance_window_end_timestamp_seconds
"""

from __future__ import annotations

import base64
import html
import io
import json
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workloads.monitoring.drift import DriftReport, DriftSettings, split_windows
from workloads.monitoring.profile import ReferenceProfile, categorical_values, numeric_values
from workloads.monitoring.stats import UNSEEN

if TYPE_CHECKING:
    from workloads.monitoring.job import JobState, RunSummary
    from workloads.monitoring.performance import PerformanceWindow
    from workloads.monitoring.reference import VersionReference
    from workloads.project.spec import ProjectSpec

EVENT_TYPE_DRIFT = "ai.sahab.monitoring.drift.detected"
EVENT_TYPE_OK = "ai.sahab.monitoring.drift.none"
EVENT_TYPE_DEGRADED = "ai.sahab.monitoring.performance.degraded"
EVENT_TYPE_PERFORMANCE_OK = "ai.sahab.monitoring.performance.ok"
MAX_FEATURE_PLOTS = 12


def write_json(report: DriftReport, path: Path) -> Path:
    path.write_text(json.dumps(report.as_dict(), indent=2, default=float))
    return path


def event(report: DriftReport, source: str = "workloads.monitoring") -> dict[str, object]:
    """A CloudEvents 1.0 envelope a retraining trigger can consume (Argo Events, a webhook)."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": EVENT_TYPE_DRIFT if report.drift_detected else EVENT_TYPE_OK,
        "time": report.created_at,
        "datacontenttype": "application/json",
        "data": {
            "drift_detected": report.drift_detected,
            "reason": report.reason,
            "drifted_features": report.drifted_features,
            "windows_drifted": [w.name for w in report.windows if w.drifted],
            "reference": report.reference,
        },
    }


def write_metrics(
    report: DriftReport | None,
    path: Path,
    settings: DriftSettings,
    extra: dict[str, tuple[str, float]] | None = None,
    *,
    project: str = "",
    performance: dict[str, Any] | None = None,
) -> Path:
    """The run's gauges (plus `extra`: name -> (help, value), the scheduled job's own, and the last
    judged `performance` window) as a textfile, pushed to the Pushgateway when one is configured."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

    registry = CollectorRegistry()
    p = {"project": project}
    if report is not None:
        Gauge("sahab_drift_detected", "1 when the last run found drift", ["project"], registry=registry).labels(**p).set(int(report.drift_detected))
        Gauge("sahab_drift_tests", "Tests run (features x tests x windows)", ["project"], registry=registry).labels(**p).set(report.n_tests)
        Gauge("sahab_drift_windows_drifted", "Windows that drifted", ["project"], registry=registry).labels(**p).set(sum(w.drifted for w in report.windows))
        q = Gauge("sahab_drift_feature_q_value", "Smallest BH-adjusted p-value of a feature over windows", ["project", "feature", "test"], registry=registry)
        effect = Gauge("sahab_drift_feature_psi", "Largest PSI of a feature over windows", ["project", "feature"], registry=registry)
        drifted = Gauge("sahab_drift_feature_drifted", "1 when the feature drifted in some window", ["project", "feature"], registry=registry)
        frame = pd.DataFrame([t.__dict__ for t in report.tests])
        if not frame.empty:
            for (feat, test), qv in frame.groupby(["feature", "test"])["q_value"].min().items():
                q.labels(project=project, feature=feat, test=test).set(qv)
            for feat, pv in frame.groupby("feature")["psi"].max().items():
                effect.labels(project=project, feature=feat).set(pv)
                drifted.labels(project=project, feature=feat).set(int(feat in report.drifted_features))
    Gauge("sahab_drift_last_run_timestamp_seconds", "End of the last monitoring run", ["project"], registry=registry).labels(**p).set(
        pd.Timestamp(report.created_at if report is not None else pd.Timestamp.now(tz="UTC")).timestamp()
    )
    for name, (doc, value) in (extra or {}).items():
        Gauge(name, doc, ["project"], registry=registry).labels(**p).set(value)
    if performance:
        _performance_gauges(registry, project, performance)
    write_to_textfile(str(path), registry)
    if settings.pushgateway_url:
        # checked: prometheus_client 0.24.1 prometheus_client/exposition.py push_to_gateway(gateway, job, registry, grouping_key=...)
        push_to_gateway(settings.pushgateway_url, job=settings.job_name, registry=registry, grouping_key=p if project else None)
    return path


def _performance_gauges(registry, project: str, last: dict[str, Any]) -> None:
    from prometheus_client import Gauge

    version = str(last["version"])
    value = Gauge("sahab_model_performance", "Model metric on the last judged window's matured labels", ["project", "metric", "version"], registry=registry)
    for metric, v in last["metrics"].items():
        if v == v:  # NaN (e.g. AUC of one class) is not exported
            value.labels(project=project, metric=metric, version=version).set(float(v))
    baseline = Gauge("sahab_model_performance_baseline", "The version's metric on its holdout", ["project", "metric", "version"], registry=registry)
    degraded = Gauge(
        "sahab_model_performance_degraded", "1 when the last judged window failed the metric's check", ["project", "metric", "version"], registry=registry
    )
    for check in last["checks"]:
        if check["baseline"] is not None:
            baseline.labels(project=project, metric=check["metric"], version=version).set(float(check["baseline"]))
        degraded.labels(project=project, metric=check["metric"], version=version).set(int(bool(check["breached"])))
    Gauge("sahab_model_performance_labels", "Labels joined in the last judged window", ["project", "version"], registry=registry).labels(
        project=project, version=version
    ).set(int(last["n_labels"]))
    Gauge("sahab_model_performance_window_end_timestamp_seconds", "End of the last judged window", ["project", "version"], registry=registry).labels(
        project=project, version=version
    ).set(pd.Timestamp(last["window_end"]).timestamp())


def performance_event(windows: list[PerformanceWindow], project: str, version: str, source: str = "workloads.monitoring") -> dict[str, object]:
    degraded = [w for w in windows if w.degraded]
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": EVENT_TYPE_DEGRADED if degraded else EVENT_TYPE_PERFORMANCE_OK,
        "time": pd.Timestamp.now(tz="UTC").isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "project": project,
            "model_version": version,
            "degraded_windows": [w.name for w in degraded],
            "checks": [asdict(c) for w in degraded for c in w.checks if c.breached],
        },
    }


def write_run_outputs(
    spec: ProjectSpec,
    report: DriftReport | None,
    ref: VersionReference,
    rows: pd.DataFrame | None,
    settings: DriftSettings,
    summary: RunSummary,
    performance: list[PerformanceWindow],
    state: JobState,
    state_uri: str,
    out_dir: Path | None,
    now: pd.Timestamp,
) -> None:
    """The scheduled run's outputs: report.json / report.html / event.json (drift), performance.json
    / performance-event.json, metrics.prom into `out_dir` (a temporary folder by default) and, for
    the record, every report but the metrics under `<state>/reports/<run time>/`; the metrics pushed."""
    import tempfile

    from workloads import storage

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir) if out_dir else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        kept = []
        if report is not None:
            write_json(report, out / "report.json")
            write_html(report, ref.profile, rows if rows is not None else pd.DataFrame(), settings, out / "report.html", only_drifted=True)
            (out / "event.json").write_text(json.dumps(event(report), indent=2))
            kept += ["report.json", "event.json", "report.html"]
        if performance:
            (out / "performance.json").write_text(json.dumps([w.as_dict() for w in performance], indent=2, default=float))
            (out / "performance-event.json").write_text(json.dumps(performance_event(performance, spec.name, ref.model_version), indent=2, default=float))
            kept += ["performance.json", "performance-event.json"]
        last = state.last_performance if state.last_performance and state.last_performance.get("version") == ref.model_version else None
        write_metrics(
            report,
            out / "metrics.prom",
            settings,
            extra={
                "sahab_drift_watermark_timestamp_seconds": (
                    "End of the last tested window",
                    pd.Timestamp(summary.watermark).timestamp() if summary.watermark else 0.0,
                ),
                "sahab_drift_episode_open": ("1 while a drift episode is open", float(summary.episode is not None)),
                "sahab_drift_retrain_triggered": ("1 when this run started a retraining", float(summary.retrain is not None)),
                "sahab_drift_retrain_waiting": ("1 when a due retraining waits for a running experiment", float(summary.waiting is not None)),
                "sahab_drift_windows_tested": ("Windows tested by this run", float(len(summary.tested))),
                "sahab_model_performance_episode_open": ("1 while a performance episode is open", float(summary.performance.get("episode") is not None)),
                "sahab_model_performance_windows_judged": ("Performance windows judged by this run", float(len(summary.performance.get("judged", [])))),
            },
            project=spec.name,
            performance=last,
        )
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        for name in kept:
            storage.write_bytes(f"{state_uri}/reports/{stamp}/{name}", (out / name).read_bytes(), "SAHAB_DRIFT_STATE_URI")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def write_html(
    report: DriftReport, profile: ReferenceProfile, current: pd.DataFrame, settings: DriftSettings, path: Path, *, only_drifted: bool = False
) -> Path:
    """The self-contained HTML report: the significance overview and the strongest features' plots
    (`only_drifted`: those of drifted features only, what an hourly job needs; plots cost ~0.5 s each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = pd.DataFrame([t.__dict__ for t in report.tests])
    images: list[tuple[str, str]] = []
    if not tests.empty:
        # Overview: -log10(q) of each feature's strongest test per window, against the BH line.
        best = tests.groupby(["window", "feature"])["q_value"].min().unstack("feature")
        score = -np.log10(best.clip(lower=1e-300))
        fig, ax = plt.subplots(figsize=(max(6, 0.5 * score.shape[1]), 0.35 * score.shape[0] + 2))
        # Saturate at q=1e-10 so that windows just past the threshold still stand out.
        im = ax.imshow(score.to_numpy(), aspect="auto", cmap="magma_r", vmin=0, vmax=10)
        ax.set_xticks(range(score.shape[1]), score.columns, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(score.shape[0]), score.index, fontsize=8)
        fig.colorbar(im, ax=ax, label=f"-log10 q (drift above {-np.log10(report.alpha):.2f})")
        ax.set_title("BH-adjusted significance per window and feature")
        images.append(("Significance", _png(fig)))
        plt.close(fig)

        order = tests.groupby("feature")["q_value"].min().sort_values().index[:MAX_FEATURE_PLOTS]
        if only_drifted:
            order = [f for f in order if f in report.drifted_features]
        last_tested = [w for w in report.windows if w.tested]
        windows = dict(split_windows(current, settings))
        frame = windows.get(last_tested[-1].name, current) if last_tested else current
        # The reference the last window was compared with: its seasonal slot where it had one.
        profile = profile.slots.get(last_tested[-1].reference, profile) if last_tested else profile
        for feat in order:
            fig, ax = plt.subplots(figsize=(5, 3))
            if feat not in profile.numeric and feat not in profile.categorical:
                plt.close(fig)
                continue  # a rolling reference's feature: not in the stored profile
            if feat in profile.numeric:
                ref = profile.numeric[feat].sample
                cur = numeric_values(frame[feat])
                cur = cur[~np.isnan(cur)]
                lo, hi = np.quantile(np.concatenate((ref, cur)), [0.005, 0.995])
                bins = np.linspace(lo, hi if hi > lo else lo + 1, 40).tolist()  # a list: Axes.hist's stubs take a Sequence, not an ndarray
                ax.hist(ref, bins=bins, density=True, alpha=0.5, label="reference")
                ax.hist(cur, bins=bins, density=True, alpha=0.5, label="current")
            else:
                p = profile.categorical[feat]
                values, _ = categorical_values(frame[feat])
                cur_counts = values.value_counts()
                labels = list(p.categories) + [UNSEEN]
                cur_vec = [cur_counts.get(c, 0) for c in p.categories]
                cur_vec.append(int(cur_counts[~cur_counts.index.isin(p.categories)].sum()))
                x = np.arange(len(labels))
                ax.bar(x - 0.2, np.append(p.counts, 0) / max(p.counts.sum(), 1), 0.4, label="reference")
                ax.bar(x + 0.2, np.asarray(cur_vec) / max(sum(cur_vec), 1), 0.4, label="current")
                ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
            q_min = tests.loc[tests.feature == feat, "q_value"].min()
            ax.set_title(f"{feat} (min q={q_min:.2g}, last tested window)", fontsize=9)
            ax.legend(fontsize=7)
            images.append((feat, _png(fig)))
            plt.close(fig)

    rows = "".join(
        f"<tr class={'drift' if t.rejected else ''}><td>{html.escape(t.window)}</td><td>{html.escape(t.feature)}</td>"
        f"<td>{t.test}</td><td>{t.statistic:.4g}</td><td>{t.p_value:.3g}</td><td>{t.q_value:.3g}</td>"
        f"<td>{t.psi:.4f}</td><td>{t.missing_reference:.3%}</td><td>{t.missing_current:.3%}</td><td>{t.deff_current:.2f}</td></tr>"
        for t in sorted(report.tests, key=lambda t: t.q_value)
    )
    wins = "".join(
        f"<tr class={'drift' if w.drifted else ''}><td>{html.escape(w.name)}</td><td>{w.n_rows}</td>"
        f"<td>{w.start or ''}</td><td>{w.end or ''}</td><td>{w.n_keys}</td><td>{html.escape(w.reference)}</td>"
        f"<td>{'yes' if w.tested else html.escape('skipped: ' + w.skipped_because)}</td><td>{', '.join(w.drifted_features)}</td></tr>"
        for w in report.windows
    )
    figs = "".join(f"<figure><img src='data:image/png;base64,{img}'><figcaption>{html.escape(t)}</figcaption></figure>" for t, img in images)
    verdict = "DRIFT DETECTED" if report.drift_detected else "no drift"
    path.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>Sahab drift report</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px}tr.drift{background:#fdd}"
        "figure{display:inline-block;margin:4px}</style></head><body>"
        f"<h1>Drift report: {verdict}</h1><p>{html.escape(report.reason)}</p>"
        f"<p>Created {report.created_at}; Benjamini-Hochberg at q={report.alpha:.3g} per window over {report.n_tests} tests "
        f"(KS / chi-squared / missing-rate per feature and window, on effective sample sizes: rows grouped by key). Reference: "
        f"{html.escape(json.dumps(report.reference))}</p>"
        f"<h2>Windows</h2><table><tr><th>window</th><th>rows</th><th>start</th><th>end</th><th>keys</th><th>reference</th><th>tested</th>"
        f"<th>drifted features</th></tr>{wins}</table><h2>Plots</h2>{figs}"
        f"<h2>Tests</h2><table><tr><th>window</th><th>feature</th><th>test</th><th>statistic</th><th>p</th>"
        f"<th>q (BH)</th><th>PSI</th><th>missing ref</th><th>missing cur</th><th>design effect</th></tr>{rows}</table></body></html>"
    )
    return path
