"""Alert rules: every PrometheusRule of the plan passes `promtool check rules`, every alert has a
`promtool test rules` unit test (alert_tests/*.yaml) and passes it, and every alert reads metrics
that something in the plan exports (an alert on a metric nobody scrapes can never fire).

The unit tests state input series, evaluation times and the labels the expression keeps; the gate
adds each rule's own static labels and annotations to the expected alerts, so rewording a summary
never breaks a test while a changed expression, threshold or metric name does.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from sahab.gate.deployability import charts
from sahab.gate.deployability.context import Context, finding

TESTS_DIR = Path(__file__).resolve().parent / "alert_tests"
# Which release or workload exports each metric family the shipped alerts read.
METRIC_SOURCES: dict[str, tuple[str, str]] = {
    "bentoml_": ("serving", "the serving Deployments (BentoML's /metrics, ServiceMonitor sahab-serving)"),
    "sahab_drift_": ("prometheus-pushgateway", "the drift job through the pushgateway (ServiceMonitor sahab-drift)"),
    "sahab_model_": ("prometheus-pushgateway", "the monitoring job's performance metrics through the pushgateway (ServiceMonitor sahab-drift)"),
    "DCGM_": ("dcgm-exporter", "the dcgm-exporter chart"),
    "karpenter_": ("karpenter", "the Karpenter chart"),
    "cluster_autoscaler_": ("cluster-autoscaler", "the cluster-autoscaler chart"),
}


def promtool() -> str | None:
    return shutil.which("promtool")


def rule_files(ctx: Context) -> list[tuple[str, dict[str, Any]]]:
    """(manifest path, {groups: [...]}) of every PrometheusRule."""
    return [(rel, {"groups": (d.get("spec") or {}).get("groups") or []}) for rel, d in ctx.objects("PrometheusRule")]


def _alerts(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for g in doc["groups"] for r in g.get("rules") or [] if r.get("alert")}


def _unit_tests() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, yaml.safe_load(p.read_text()) or {}) for p in sorted(TESTS_DIR.glob("*.yaml"))]


def tests_for(alert: str, rule: dict[str, Any]) -> list[dict[str, Any]]:
    """The unit test cases that test `alert`, cut down to it, expected alerts completed with the
    rule's static labels and annotations."""
    out = []
    for _, doc in _unit_tests():
        for case in doc.get("tests") or []:
            mine = [copy.deepcopy(t) for t in case.get("alert_rule_test") or [] if t.get("alertname") == alert]
            if not mine:
                continue
            for t in mine:
                for exp in t.get("exp_alerts") or []:
                    exp["exp_labels"] = {
                        **{k: str(v) for k, v in (rule.get("labels") or {}).items()},
                        **{k: str(v) for k, v in (exp.get("exp_labels") or {}).items()},
                    }
                    exp["exp_annotations"] = {**{k: str(v) for k, v in (rule.get("annotations") or {}).items()}, **(exp.get("exp_annotations") or {})}
            out.append({**{k: v for k, v in case.items() if k != "alert_rule_test"}, "alert_rule_test": mine})
    return out


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def _exported(ctx: Context) -> set[str]:
    names = {charts.chart_name(r.get("chart", "")) for _, r in ctx.releases}
    names |= {
        str((d.get("spec") or {}).get("template", {}).get("metadata", {}).get("labels", {}).get("app.kubernetes.io/name", ""))
        for _, d in ctx.objects("Deployment")
    }
    return names


def check(ctx: Context) -> list:
    files = rule_files(ctx)
    if not files:
        return []
    tool = promtool()
    if tool is None:
        return [
            finding(
                "rules-promtool-available",
                "promtool is not on PATH, so the alert rules were not checked. Fix: install Debian's prometheus package (scripts/servers.sh does in CI).",
            )
        ]
    out = []
    exported = _exported(ctx)
    with tempfile.TemporaryDirectory(prefix="sahab-rules-") as tmp:
        work = Path(tmp)
        jobs = []
        for i, (rel, doc) in enumerate(files):
            name = f"rules-{i}.yaml"
            (work / name).write_text(yaml.safe_dump(doc, sort_keys=False))
            urn = ctx.urns.get(rel, "")
            label = f"{rel.rsplit('/', 1)[-1].removesuffix('.yaml')} (PrometheusRule)"
            checked = _run([tool, "check", "rules", name], work)
            if checked.returncode != 0:
                out.append(
                    finding(
                        "rules-promtool-check",
                        f"{label}: promtool check rules fails: {(checked.stderr or checked.stdout).strip()[-800:]}. Fix: correct the rule in workloads/monitoring/alerts.py (alert_groups).",
                        urn=urn,
                        resource=label,
                        file=rel,
                    )
                )
                continue
            for j, group in enumerate(doc["groups"]):
                # Each alert's tests load only its own group: promtool evaluates every rule it loads
                # at every step, and the drift-staleness test runs four simulated hours.
                group_file = f"rules-{i}-{j}.yaml"
                (work / group_file).write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
                for alert, rule in _alerts({"groups": [group]}).items():
                    out += _source_finding(alert, rule, exported, label, urn, rel)
                    cases = tests_for(alert, rule)
                    if not cases:
                        out.append(
                            finding(
                                "rules-unit-tested",
                                f"{label}: alert {alert} has no promtool unit test. Fix: add a case for it to sahab/gate/deployability/alert_tests/ (input series, eval_time, expected alert).",
                                urn=urn,
                                resource=label,
                                file=rel,
                            )
                        )
                        continue
                    test = work / f"test-{i}-{alert}.yaml"
                    test.write_text(yaml.safe_dump({"rule_files": [group_file], "evaluation_interval": "1m", "tests": cases}, sort_keys=False))
                    jobs.append((alert, label, urn, rel, test.name))
        # One promtool run for every test; only when it fails, one per alert to say which.
        if jobs and _run([tool, "test", "rules", *[j[4] for j in jobs]], work).returncode == 0:
            jobs = []
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda j: (j, _run([tool, "test", "rules", j[4]], work)), jobs))
        for (alert, label, urn, rel, _), proc in results:
            if proc.returncode != 0:
                detail = re.sub(r"\s+", " ", (proc.stdout + proc.stderr).strip())[-900:]
                out.append(
                    finding(
                        "rules-unit-tests",
                        f"{label}: alert {alert} fails its promtool unit test: {detail}. Fix: correct the alert's expression in components/kubernetes/monitoring.py, or its test in sahab/gate/deployability/alert_tests/ if the behaviour changed on purpose.",
                        urn=urn,
                        resource=label,
                        file=rel,
                    )
                )
    return out


def _source_finding(alert: str, rule: dict[str, Any], exported: set[str], label: str, urn: str, rel: str) -> list:
    out = []
    for metric in sorted(set(re.findall(r"\b([a-zA-Z_][a-zA-Z0-9_]*)(?=\s*(?:\{|\[))", str(rule.get("expr", ""))))):
        for prefix, (source, what) in METRIC_SOURCES.items():
            if metric.startswith(prefix) and source not in exported:
                out.append(
                    finding(
                        "rules-metric-source",
                        f"{label}: alert {alert} reads {metric}, which only {what} exports, and this plan does not install it, so the alert can never fire. Fix: emit the alert only where its source runs, or alert on a metric this plan exports.",
                        urn=urn,
                        resource=label,
                        file=rel,
                    )
                )
    return out
