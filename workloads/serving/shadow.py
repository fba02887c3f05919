"""Shadow scoring off the request path: the challenger scores what the champion answered, later,
on its own thread, and its answers go to the prediction log with `mode=shadow`.

    shadow = ShadowScorer(log, on_scored=..., on_drop=..., max_batches=256)
    shadow.offer(challenger, served_at, [(request_id, key, records), ...])    # request path: a put_nowait
    shadow.close()                                                           # shutdown: score what is queued

Before, shadow mode scored the challenger inline after the champion (+67% p50) and kept nothing
to compare. Now the request path only queues; the worker drains whatever is queued into one
model call (the per-call cost is shared), writes one shadow row per record under the live
request's `request_id` and `record` (so live and shadow rows join exactly), and counts. The queue
is bounded: when the challenger cannot keep up, whole batches are dropped and counted
(`sahab_serving_shadow_dropped_total`), never the answer delayed. A failing challenger is logged
and counted, never surfaced to a client.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workloads.serving.model import LoadedModel, Prediction
    from workloads.serving.prediction_log import PredictionLog

logger = logging.getLogger("workloads.serving.shadow")
Records = Sequence[Mapping[str, object]]
MAX_DRAIN = 64
"""Queued batches merged into one challenger call at most."""


@dataclass(frozen=True)
class ShadowBatch:
    model: LoadedModel
    served_at: datetime
    requests: Sequence[tuple[str, str, Records]]
    """(request_id, key, records) of each keyed request the champion answered."""


class ShadowScorer:
    def __init__(
        self,
        log: PredictionLog | None,
        *,
        max_batches: int = 256,
        on_scored: Callable[[LoadedModel, int, int, float, Prediction], None] | None = None,
        on_drop: Callable[[int], None] | None = None,
        on_error: Callable[[int], None] | None = None,
    ) -> None:
        self.log = log
        self.on_scored, self.on_drop, self.on_error = on_scored, on_drop, on_error
        self._queue: queue.Queue[ShadowBatch | None] = queue.Queue(max_batches)
        self.scored = 0
        """Records the challenger scored."""
        self.dropped = 0
        """Keyed requests dropped because the queue was full."""
        self._thread = threading.Thread(target=self._run, name="shadow-scorer", daemon=True)
        self._thread.start()

    def offer(self, model: LoadedModel, served_at: datetime, requests: Sequence[tuple[str, str, Records]]) -> bool:
        """Queue a scored batch for the challenger; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(ShadowBatch(model, served_at, requests))
        except queue.Full:
            self.dropped += len(requests)
            if self.on_drop is not None:
                self.on_drop(len(requests))
            return False
        return True

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            batches, stop = [first], False
            while len(batches) < MAX_DRAIN:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batches.append(more)
            # A reload may swap the challenger between batches: score each model's batches together.
            by_model: dict[int, list[ShadowBatch]] = {}
            for b in batches:
                by_model.setdefault(id(b.model), []).append(b)
            try:
                for group in by_model.values():
                    self._score(group)
            finally:
                for _ in range(len(batches) + stop):
                    self._queue.task_done()
            if stop:
                return

    def _score(self, batches: list[ShadowBatch]) -> None:
        model = batches[0].model
        records = [r for b in batches for _, _, recs in b.requests for r in recs]
        requests = sum(len(b.requests) for b in batches)
        started = time.perf_counter()
        try:
            prediction = model.predict(records)
        except Exception:  # the shadow must never fail what the champion answered
            logger.exception("shadow scoring failed (%s v%s)", model.name, model.version)
            if self.on_error is not None:
                self.on_error(requests)
            return
        elapsed = time.perf_counter() - started
        self.scored += len(records)
        if self.on_scored is not None:
            self.on_scored(model, requests, len(records), elapsed, prediction)
        if self.log is None:
            return
        scores = prediction.scores.tolist()
        probabilities = prediction.probabilities.tolist() if prediction.probabilities is not None else None
        offset = 0
        for b in batches:
            for request_id, key, recs in b.requests:
                n = len(recs)
                self.log.append(
                    request_id=request_id,
                    key=key,
                    experiment_id=None,
                    variant="challenger",
                    model_version=model.version,
                    mode="shadow",
                    scores=scores[offset : offset + n],
                    predictions=prediction.predictions[offset : offset + n] if prediction.predictions is not None else None,
                    probabilities=probabilities[offset : offset + n] if probabilities is not None else None,
                    records=recs,
                    ts=b.served_at,
                )
                offset += n

    def drain(self, timeout_s: float = 10.0) -> None:
        """Wait until everything queued so far was scored (tests; shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self, timeout_s: float = 10.0) -> None:
        """Score what is queued, then stop the worker."""
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            logger.warning("shadow queue still full at shutdown: its batches are dropped")
        self._thread.join(timeout=timeout_s)
