"""Alert rules through the real promtool (Debian's prometheus package): `check rules` on every
PrometheusRule, `test rules` unit tests for every shipped alert, and the alerts' metric sources."""

from __future__ import annotations

import pytest
from gate_helpers import doc, policies

from sahab.gate.deployability import rules

pytestmark = pytest.mark.slow  # runs promtool

RULE = "sahab-monitoring/prometheusrule-sahab-platform.yaml"
SHIPPED = {
    "SahabServingLatencySLO",
    "SahabServingErrorBudgetBurn",
    "SahabServingErrorBudgetSlowBurn",
    "SahabDriftDetected",
    "SahabDriftJobStale",
    "SahabGpuIdle",
    "SahabSpotInterruption",
}


def _rule(ctx, alert):
    for group in doc(ctx, RULE)["spec"]["groups"]:
        for r in group["rules"]:
            if r.get("alert") == alert:
                return r
    raise KeyError(alert)


def test_promtool_is_installed():
    assert rules.promtool(), "promtool must be on PATH (Debian prometheus package); CI installs it in scripts/servers.sh"


def test_uae_central_rules_pass_check_and_unit_tests(uae_ctx):
    assert rules.check(uae_ctx) == [], [f.message for f in rules.check(uae_ctx)]


def test_every_shipped_alert_has_unit_tests_that_fire_and_stay_quiet(uae_ctx):
    alerts = {a for _, d in rules.rule_files(uae_ctx) for a in rules._alerts(d)}
    assert alerts >= SHIPPED, f"alerts missing from the plan: {SHIPPED - alerts}"
    for alert in alerts:
        cases = rules.tests_for(alert, _rule(uae_ctx, alert))
        expectations = [bool(t["exp_alerts"]) for c in cases for t in c["alert_rule_test"]]
        assert True in expectations, f"{alert}: no unit test where it fires"
        if alert not in ("SahabGpuIdle",):
            assert False in expectations, f"{alert}: no unit test where it stays quiet"


def test_smb_rules_pass_promtool(smb_ctx):
    found = policies(rules.check(smb_ctx))
    assert not {"rules-promtool-check", "rules-unit-tests", "rules-unit-tested"} & set(found), found


def test_a_syntax_error_fails_check_rules(uae_ctx):
    _rule(uae_ctx, "SahabGpuIdle")["expr"] = "avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[60m]) < 5"
    found = policies(rules.check(uae_ctx))
    assert list(found) == ["rules-promtool-check"] and "prometheusrule-sahab-platform (PrometheusRule)" in found["rules-promtool-check"][0], found


def test_a_renamed_metric_fails_the_unit_test_naming_the_alert(uae_ctx):
    _rule(uae_ctx, "SahabGpuIdle")["expr"] = "avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTILIZATION[60m])) < 5"
    found = policies(rules.check(uae_ctx))
    assert list(found) == ["rules-unit-tests"] and "SahabGpuIdle" in found["rules-unit-tests"][0], found


def test_a_wrong_threshold_fails_the_unit_test(uae_ctx):
    _rule(uae_ctx, "SahabServingLatencySLO")["expr"] = _rule(uae_ctx, "SahabServingLatencySLO")["expr"].replace("> 0.25", "> 2.5")
    found = policies(rules.check(uae_ctx))
    assert any("SahabServingLatencySLO" in m for m in found.get("rules-unit-tests", [])), found


def test_an_alert_without_a_unit_test_fails(uae_ctx):
    doc(uae_ctx, RULE)["spec"]["groups"][0]["rules"].append({"alert": "SahabUntested", "expr": "up == 0", "labels": {"severity": "ticket"}})
    found = policies(rules.check(uae_ctx))
    assert list(found) == ["rules-unit-tested"] and "SahabUntested" in found["rules-unit-tested"][0], found


def test_an_alert_on_a_metric_nobody_exports_fails(uae_ctx):
    uae_ctx.releases[:] = [(rel, r) for rel, r in uae_ctx.releases if not str(r.get("chart")).endswith("/karpenter")]
    found = policies(rules.check(uae_ctx))
    assert any("SahabSpotInterruption" in m and "karpenter_interruption_received_messages_total" in m for m in found.get("rules-metric-source", [])), found
