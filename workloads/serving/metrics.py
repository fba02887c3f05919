"""Prometheus metrics of the scoring service, per variant, served on BentoML's `/metrics`.

Created on first use, not at import: BentoML sets PROMETHEUS_MULTIPROC_DIR in each worker after
the service module is imported, and prometheus_client picks its storage when first imported.
"""

from __future__ import annotations

import bisect
import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported in serving_metrics(), not here: see the module docstring
    from prometheus_client import Counter, Gauge, Histogram

SCORE_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


@dataclass(frozen=True)
class ServingMetrics:
    requests: Counter
    records: Counter
    errors: Counter
    latency: Histogram
    scores: Histogram
    batch_records: Histogram
    ready: Gauge
    log_written: Counter
    log_dropped: Counter
    shadow_dropped: Counter
    explain: Histogram


@functools.cache
def serving_metrics() -> ServingMetrics:
    """The process's metrics (one registration per process, however many service instances)."""
    from prometheus_client import Counter, Gauge, Histogram

    return ServingMetrics(
        requests=Counter("sahab_serving_requests_total", "Keyed score requests", ["variant", "mode"]),
        records=Counter("sahab_serving_records_total", "Records scored", ["variant", "mode"]),
        errors=Counter("sahab_serving_errors_total", "Requests that failed after validation", ["variant", "reason"]),
        latency=Histogram("sahab_serving_inference_seconds", "Encode + onnxruntime time of one model call", ["variant", "mode"], buckets=LATENCY_BUCKETS),
        # Probabilities only (binary P(positive), multiclass P(predicted class)): a regression value has no fixed range.
        scores=Histogram("sahab_serving_score", "Distribution of returned (live) and shadow probabilities", ["variant", "mode"], buckets=SCORE_BUCKETS),
        batch_records=Histogram("sahab_serving_batch_records", "Records per model call (batched requests)", buckets=BATCH_BUCKETS),
        ready=Gauge("sahab_serving_ready", "1 when verified models are loaded", multiprocess_mode="livemax"),
        log_written=Counter("sahab_serving_prediction_log_rows_total", "Scored records written to the prediction log"),
        log_dropped=Counter("sahab_serving_prediction_log_dropped_total", "Scored records dropped from the prediction log (buffer full or storage failing)"),
        shadow_dropped=Counter("sahab_serving_shadow_dropped_total", "Keyed requests the challenger did not shadow-score (its queue was full)"),
        explain=Histogram(
            "sahab_serving_explain_seconds", "Attribution time of the explained records of one model call (issue 22)", ["variant"], buckets=LATENCY_BUCKETS
        ),
    )


class Tally:
    """Counts and histogram observations of the scoring path, kept in plain Python numbers and
    added to the Prometheus metrics by one background thread every `flush_s` (1 s).

    In multiprocess mode (every BentoML worker) each increment or observation is a lock and a
    write to a memory-mapped file; the scoring path made eight per one-record request (about as
    much as the model call). Here it makes list and dict additions; Prometheus sees the totals at
    most a second late, well within any scrape interval.

        tally = Tally()
        tally.count(("requests", "champion", "live"), 3)
        tally.observe(("latency", "champion", "live"), 0.0004)
        tally.observe_many(("scores", "champion", "live"), [0.1, 0.7])
        tally.flush()      # the thread's job (also on close)
    """

    def __init__(self, flush_s: float = 1.0, *, start: bool = True) -> None:
        import threading

        self._counts: dict[tuple[str, ...], float] = {}
        self._hists: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.flush_s = flush_s
        self._thread = threading.Thread(target=self._run, name="metrics-tally", daemon=True) if start else None
        if self._thread is not None:
            self._thread.start()

    def count(self, key: tuple[str, ...], amount: float = 1) -> None:
        """`key` = (metric, *label values) of a counter in ServingMetrics (requests, records)."""
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + amount

    def observe(self, key: tuple[str, ...], value: float) -> None:
        self.observe_many(key, (value,))

    def observe_many(self, key: tuple[str, ...], values) -> None:
        """`key` = (metric, *label values) of a histogram in ServingMetrics (latency, scores, batch_records)."""
        bounds = _BOUNDS[key[0]]
        with self._lock:
            entry = self._hists.get(key)
            if entry is None:
                entry = self._hists[key] = ([0] * (len(bounds) + 1), [0.0])
            counts, total = entry
            for value in values:
                counts[bisect.bisect_left(bounds, value)] += 1
                total[0] += value

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, {}
            hists, self._hists = self._hists, {}
        metrics = serving_metrics()
        for (name, *labels), amount in counts.items():
            getattr(metrics, name).labels(*labels).inc(amount)
        for (name, *labels), (buckets, total) in hists.items():
            _add_to_histogram(getattr(metrics, name).labels(*labels) if labels else getattr(metrics, name), buckets, total[0])

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception:  # metrics must never stop serving; the next flush retries what is new
                logging.getLogger(__name__).exception("metrics flush failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()


_BOUNDS = {"latency": LATENCY_BUCKETS, "scores": SCORE_BUCKETS, "batch_records": BATCH_BUCKETS, "explain": LATENCY_BUCKETS}


def _add_to_histogram(child, buckets: list[int], total: float) -> None:
    """Add bucketed observations to a prometheus_client Histogram child in one write per bucket.
    prometheus_client has no bulk observe; `observe(v)` is `_sum.inc(v)` plus `_buckets[i].inc(1)`
    for the first bound >= v (the +Inf bucket last), which this repeats with the counts.
    checked: prometheus/client_python prometheus_client/metrics.py Histogram.observe / _metric_init, 0.24.1."""
    if hasattr(child, "_buckets") and hasattr(child, "_sum") and len(child._buckets) == len(buckets):
        child._sum.inc(total)
        for i, n in enumerate(buckets):
            if n:
                child._buckets[i].inc(n)
        return
    # Another client layout: observe each bucket's upper bound (the counts stay exact, the sum approximate).
    bounds = [*child._upper_bounds] if hasattr(child, "_upper_bounds") else []
    for i, n in enumerate(buckets):
        for _ in range(n):
            child.observe(bounds[i] if i < len(bounds) and bounds[i] != float("inf") else total / max(1, sum(buckets)))
