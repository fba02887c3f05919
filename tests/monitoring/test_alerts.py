"""The model-performance alert through the real promtool: `check rules` on the rendered group and
its unit test (sahab/gate/deployability/alert_tests/performance.yaml, as the gate runs it)."""

from __future__ import annotations

import copy
import subprocess

import yaml

from sahab.gate.deployability import rules
from workloads.monitoring.alerts import AlertSettings, alert_groups

ALERT = "SahabModelPerformanceDegraded"


def _group() -> dict:
    groups = alert_groups(AlertSettings(serving_namespace="sahab-serving"))
    return next(g for g in groups if g["name"] == "sahab-model-performance")


def _promtool(tmp_path, group: dict) -> subprocess.CompletedProcess:
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False))
    rule = next(r for r in group["rules"] if r["alert"] == ALERT)
    tests = {"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": rules.tests_for(ALERT, rule)}
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    tool = rules.promtool()
    assert tool, "promtool must be on PATH (Debian's prometheus package; scripts/servers.sh installs it)"
    checked = subprocess.run([tool, "check", "rules", "rules.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return subprocess.run([tool, "test", "rules", "test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_the_performance_alert_passes_its_promtool_unit_test(tmp_path):
    group = _group()
    assert rules.tests_for(ALERT, group["rules"][0]), "alert_tests/ has a case for the alert"
    done = _promtool(tmp_path, group)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_unit_test_fails_when_the_expression_changes(tmp_path):
    group = copy.deepcopy(_group())
    group["rules"][0]["expr"] = group["rules"][0]["expr"].replace("sahab_model_performance_degraded", "sahab_model_performance")
    done = _promtool(tmp_path, group)
    assert done.returncode != 0, f"{ALERT}: its unit test should catch an alert on the wrong metric"


def test_the_metric_source_is_known_to_the_gate():
    source, _ = next(v for k, v in rules.METRIC_SOURCES.items() if "sahab_model_performance_degraded".startswith(k))
    assert source == "prometheus-pushgateway", "the performance metrics reach Prometheus through the Pushgateway, like drift's"
