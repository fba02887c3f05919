"""Prometheus metrics of the scoring service, per variant, served on BentoML's `/metrics`.

Created on first use, not at import: BentoML sets PROMETHEUS_MULTIPROC_DIR in each worker after
the service module is imported, and prometheus_client picks its storage when first imported.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

SCORE_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class ServingMetrics:
    requests: object
    records: object
    errors: object
    latency: object
    scores: object
    batch_records: object
    ready: object
    log_written: object
    log_dropped: object


@functools.cache
def serving_metrics() -> ServingMetrics:
    """The process's metrics (one registration per process, however many service instances)."""
    from prometheus_client import Counter, Gauge, Histogram

    return ServingMetrics(
        requests=Counter("sahab_serving_requests_total", "Keyed score requests", ["variant", "mode"]),
        records=Counter("sahab_serving_records_total", "Records scored", ["variant", "mode"]),
        errors=Counter("sahab_serving_errors_total", "Requests that failed after validation", ["variant", "reason"]),
        latency=Histogram("sahab_serving_inference_seconds", "Encode + onnxruntime time of one adaptive batch", ["variant", "mode"], buckets=LATENCY_BUCKETS),
        scores=Histogram("sahab_serving_score", "Distribution of returned (live) and shadow scores", ["variant", "mode"], buckets=SCORE_BUCKETS),
        batch_records=Histogram("sahab_serving_batch_records", "Records per adaptive batch", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)),
        ready=Gauge("sahab_serving_ready", "1 when verified models are loaded", multiprocess_mode="livemax"),
        log_written=Counter("sahab_serving_prediction_log_rows_total", "Scored records written to the prediction log"),
        log_dropped=Counter("sahab_serving_prediction_log_dropped_total", "Scored records dropped from the prediction log (buffer full or storage failing)"),
    )
