"""The live half of the governance dashboard: components/kubernetes/dashboards/governance.json, shipped
as a Grafana dashboard ConfigMap like the others (components/kubernetes/monitoring.py loads every
JSON there). Its queries are valid PromQL (promtool) and read only metrics the workloads export."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from components.kubernetes.monitoring import DASHBOARDS

DASHBOARD = DASHBOARDS / "governance.json"
REPO = Path(__file__).resolve().parents[2]


def exported_metrics() -> set[str]:
    """Every metric name the workloads define (prometheus_client Counter/Gauge/Histogram), with the
    series a histogram exposes."""
    names: set[str] = set()
    for path in (REPO / "workloads").rglob("*.py"):
        for kind, name in re.findall(r"\b(Counter|Gauge|Histogram)\(\s*\"(sahab_[a-z_]+)\"", path.read_text()):
            names.add(name)
            if kind == "Histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        # report.py builds the run's gauges from a table: {"sahab_drift_...": (doc, value)} -> Gauge(name, doc, ["project"])
        names |= set(re.findall(r"\"(sahab_[a-z_]+)\"\s*:\s*\(\s*\"", path.read_text()))
    return names


def test_the_governance_dashboard_is_a_grafana_dashboard_of_drift_performance_and_ab():
    doc = json.loads(DASHBOARD.read_text())
    assert doc["uid"] == "sahab-governance" and doc["title"] == "Sahab / Governance", DASHBOARD
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) >= 6, f"{DASHBOARD}: panel ids {ids}"
    for p in doc["panels"]:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24 and p["datasource"]["uid"] == "${datasource}" and p["targets"], f"{DASHBOARD}: panel {p['id']} {p['title']}"
    titles = " ".join(p["title"] for p in doc["panels"])
    assert "Drift" in titles and "performance" in titles and "A/B" in titles, titles


def test_every_query_is_valid_promql_on_exported_metrics(tmp_path):
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    known = exported_metrics()
    for expr in exprs:
        used = {m for m in re.findall(r"\b(sahab_[a-z_]+)\b", expr)}
        assert used and used <= known, f"{DASHBOARD}: {expr!r} reads metrics no workload exports: {sorted(used - known)}"
    rules = tmp_path / "governance-rules.yaml"
    rules.write_text(
        yaml.safe_dump({"groups": [{"name": "governance", "rules": [{"record": f"sahab:governance_{i}", "expr": e} for i, e in enumerate(exprs)]}]})
    )
    checked = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0, f"promtool check rules (the dashboard's queries): {checked.stdout}{checked.stderr}"


def test_it_ships_as_a_grafana_dashboard_configmap(uae_plan):
    shipped = [
        r for r in uae_plan.resources if r.type == "kubernetes:core/v1:ConfigMap" and (r.inputs.get("metadata") or {}).get("name") == "dashboard-governance"
    ]
    assert len(shipped) == 1, "components/kubernetes/monitoring.py ships every dashboards/*.json"
    (cm,) = shipped
    assert cm.inputs["metadata"]["labels"] == {"grafana_dashboard": "1"}, cm.urn
    assert json.loads(cm.inputs["data"]["governance.json"])["uid"] == "sahab-governance", cm.urn
