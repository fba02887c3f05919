"""The platform's Prometheus alerting rules, in one place: the cluster's PrometheusRule
(components/kubernetes/monitoring.py) and `sahab local`'s Prometheus (workloads/local/platform.py)
render the same groups, and the gate runs `promtool check rules` / `promtool test rules` on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True)
class AlertSettings:
    serving_namespace: str
    """Namespace label of the serving metrics (the rules select it)."""
    latency_p99_seconds: float = 0.25
    """Serving p99 latency objective (alert when above for 10 minutes)."""
    availability: float = 0.999
    """Share of non-5xx answers (multi-window burn-rate alert on the error budget)."""
    gpu_idle_minutes: int = 60
    """A GPU below 5% utilisation this long raises the idle alert."""
    drift_max_age_hours: int = 3
    """The drift job not reporting for this long raises an alert."""
    gpu_alerts: bool = True
    """The GPU idle alert: only where dcgm-exporter runs, else it could never fire."""
    spot_alerts: bool = True
    """The spot interruption alert: only where Karpenter exports its interruption metric."""


def alert_groups(args: AlertSettings) -> list[dict[str, Any]]:
    """The platform's alerting rules: the cluster's PrometheusRule, `sahab local`'s Prometheus, the tests."""
    serving = f'namespace="{args.serving_namespace}",endpoint!~"/(readyz|livez|metrics)"'
    budget = 1 - args.availability
    err_ratio = 'sum(rate(bentoml_service_request_total{{{sel},http_response_code=~"5.."}}[{w}])) / sum(rate(bentoml_service_request_total{{{sel}}}[{w}]))'

    def burn(w: str) -> str:
        return err_ratio.format(sel=serving, w=w)

    groups = [
        {
            "name": "sahab-serving-slo",
            "rules": [
                {
                    "alert": "SahabServingLatencySLO",
                    "expr": f"histogram_quantile(0.99, sum by (le) (rate(bentoml_service_request_duration_seconds_bucket{{{serving}}}[5m]))) > {args.latency_p99_seconds}",
                    "for": "10m",
                    "labels": {"severity": "page", "slo": "latency"},
                    "annotations": {"summary": f"Serving p99 latency above {args.latency_p99_seconds}s for 10 minutes"},
                },
                {
                    # Multi-window burn rate (Google SRE workbook): 2% of a 30-day budget in 1 hour.
                    "alert": "SahabServingErrorBudgetBurn",
                    "expr": f"({burn('5m')}) > {14.4 * budget:.6f} and ({burn('1h')}) > {14.4 * budget:.6f}",
                    "for": "2m",
                    "labels": {"severity": "page", "slo": "availability"},
                    "annotations": {"summary": f"Serving 5xx ratio burns the {args.availability:.3%} availability budget 14x too fast"},
                },
                {
                    "alert": "SahabServingErrorBudgetSlowBurn",
                    "expr": f"({burn('30m')}) > {6 * budget:.6f} and ({burn('6h')}) > {6 * budget:.6f}",
                    "for": "15m",
                    "labels": {"severity": "ticket", "slo": "availability"},
                    "annotations": {"summary": "Serving 5xx ratio burns the availability budget 6x too fast"},
                },
            ],
        },
        {
            "name": "sahab-drift",
            "rules": [
                {
                    "alert": "SahabDriftDetected",
                    "expr": 'max(sahab_drift_detected{job="sahab-drift"}) == 1',
                    "labels": {"severity": "ticket"},
                    "annotations": {"summary": "The drift job found drift in live features; retraining was triggered (see the drift report)"},
                },
                {
                    "alert": "SahabDriftJobStale",
                    "expr": f'time() - max(sahab_drift_last_run_timestamp_seconds{{job="sahab-drift"}}) > {args.drift_max_age_hours * 3600}',
                    "for": "10m",
                    "labels": {"severity": "ticket"},
                    "annotations": {"summary": f"No drift run reported for {args.drift_max_age_hours} hours"},
                },
            ],
        },
        {
            "name": "sahab-model-performance",
            "rules": [
                {
                    # The monitoring job judges each window once its labels matured and re-exports
                    # the last judgement every run; 1 = the check on that metric failed (worse than
                    # the version's holdout by more than the project's max_degradation, significantly;
                    # or a binary model's observed / expected positives out of bounds).
                    "alert": "SahabModelPerformanceDegraded",
                    "expr": 'max by (project, version, metric) (sahab_model_performance_degraded{job="sahab-drift"}) == 1',
                    "labels": {"severity": "ticket"},
                    "annotations": {
                        "summary": "A model's performance on matured labels is worse than on its holdout; a retraining was triggered (see the monitoring job's performance.json)"
                    },
                },
            ],
        },
        {
            "name": "sahab-gpu",
            "rules": [
                rule
                for rule, wanted in (
                    (
                        {
                            "alert": "SahabGpuIdle",
                            "expr": f"avg by (Hostname, gpu) (avg_over_time(DCGM_FI_DEV_GPU_UTIL[{args.gpu_idle_minutes}m])) < 5",
                            "for": "15m",
                            "labels": {"severity": "ticket", "cost": "gpu"},
                            "annotations": {"summary": f"A GPU has been under 5% utilisation for {args.gpu_idle_minutes} minutes while its node is up"},
                        },
                        args.gpu_alerts,
                    ),
                    (
                        {
                            "alert": "SahabSpotInterruption",
                            "expr": 'sum by (message_type) (increase(karpenter_interruption_received_messages_total{message_type=~"spot_interrupted|rebalance_recommendation"}[10m])) > 0',
                            "labels": {"severity": "info"},
                            "annotations": {"summary": "Spot interruption notices received; training jobs checkpoint and resume on new capacity"},
                        },
                        args.spot_alerts,
                    ),
                )
                if wanted
            ],
        },
    ]
    return [g for g in groups if g["rules"]]  # a group whose every alert is off is left out
