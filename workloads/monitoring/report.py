"""Outputs of a drift run: JSON report, HTML report with plots, Prometheus metrics, an event.

The HTML is self-contained (plots inlined as PNG) so it can be archived next to the JSON in the
in-region bucket. Metrics go to a fresh registry per run, written in the textfile format and,
when configured, pushed to a Pushgateway: a CronJob lives too briefly to be scraped.
"""

from __future__ import annotations

import base64
import html
import io
import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from workloads.monitoring.drift import DriftReport, DriftSettings, split_windows
from workloads.monitoring.profile import ReferenceProfile, categorical_values, numeric_values
from workloads.monitoring.stats import UNSEEN

EVENT_TYPE_DRIFT = "ai.sahab.monitoring.drift.detected"
EVENT_TYPE_OK = "ai.sahab.monitoring.drift.none"
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


def write_metrics(report: DriftReport, path: Path, settings: DriftSettings, extra: dict[str, tuple[str, float]] | None = None) -> Path:
    """The run's gauges (plus `extra`: name -> (help, value), the scheduled job's own) as a
    textfile, pushed to the Pushgateway when one is configured."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

    registry = CollectorRegistry()
    Gauge("sahab_drift_detected", "1 when the last run found drift", registry=registry).set(int(report.drift_detected))
    Gauge("sahab_drift_last_run_timestamp_seconds", "End of the last drift run", registry=registry).set(pd.Timestamp(report.created_at).timestamp())
    Gauge("sahab_drift_tests", "Tests run (features x tests x windows)", registry=registry).set(report.n_tests)
    Gauge("sahab_drift_windows_drifted", "Windows that drifted", registry=registry).set(sum(w.drifted for w in report.windows))
    q = Gauge("sahab_drift_feature_q_value", "Smallest BH-adjusted p-value of a feature over windows", ["feature", "test"], registry=registry)
    effect = Gauge("sahab_drift_feature_psi", "Largest PSI of a feature over windows", ["feature"], registry=registry)
    drifted = Gauge("sahab_drift_feature_drifted", "1 when the feature drifted in some window", ["feature"], registry=registry)
    frame = pd.DataFrame([t.__dict__ for t in report.tests])
    if not frame.empty:
        for (feat, test), qv in frame.groupby(["feature", "test"])["q_value"].min().items():
            q.labels(feature=feat, test=test).set(qv)
        for feat, pv in frame.groupby("feature")["psi"].max().items():
            effect.labels(feature=feat).set(pv)
            drifted.labels(feature=feat).set(int(feat in report.drifted_features))
    for name, (doc, value) in (extra or {}).items():
        Gauge(name, doc, registry=registry).set(value)
    write_to_textfile(str(path), registry)
    if settings.pushgateway_url:
        push_to_gateway(settings.pushgateway_url, job=settings.job_name, registry=registry)
    return path


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def write_html(report: DriftReport, profile: ReferenceProfile, current: pd.DataFrame, settings: DriftSettings, path: Path) -> Path:
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
        last_tested = [w.name for w in report.windows if w.tested]
        windows = dict(split_windows(current, settings))
        frame = windows[last_tested[-1]] if last_tested else current
        for feat in order:
            fig, ax = plt.subplots(figsize=(5, 3))
            if feat in profile.numeric:
                ref = profile.numeric[feat].sample
                cur = numeric_values(frame[feat])
                cur = cur[~np.isnan(cur)]
                lo, hi = np.quantile(np.concatenate((ref, cur)), [0.005, 0.995])
                bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
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
        f"<td>{t.psi:.4f}</td><td>{t.missing_reference:.3%}</td><td>{t.missing_current:.3%}</td></tr>"
        for t in sorted(report.tests, key=lambda t: t.q_value)
    )
    wins = "".join(
        f"<tr class={'drift' if w.drifted else ''}><td>{html.escape(w.name)}</td><td>{w.n_rows}</td>"
        f"<td>{w.start or ''}</td><td>{w.end or ''}</td><td>{'yes' if w.tested else 'skipped'}</td>"
        f"<td>{', '.join(w.drifted_features)}</td></tr>"
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
        f"<p>Created {report.created_at}; Benjamini-Hochberg at q={report.alpha} over {report.n_tests} tests "
        f"(KS / chi-squared / missing-rate per feature and window). Reference: "
        f"{html.escape(json.dumps(report.reference))}</p>"
        f"<h2>Windows</h2><table><tr><th>window</th><th>rows</th><th>start</th><th>end</th><th>tested</th>"
        f"<th>drifted features</th></tr>{wins}</table><h2>Plots</h2>{figs}"
        f"<h2>Tests</h2><table><tr><th>window</th><th>feature</th><th>test</th><th>statistic</th><th>p</th>"
        f"<th>q (BH)</th><th>PSI</th><th>missing ref</th><th>missing cur</th></tr>{rows}</table></body></html>"
    )
    return path
