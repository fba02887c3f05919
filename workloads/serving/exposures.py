"""Exposures and guardrail counters: what serving records for A/B experiments, off the request path.

What the scoring service calls (every call is a deque append: no I/O, no lock held over I/O):

    recorder = ExposureRecorder(open_store(settings, home))      # once per worker
    recorder.register(experiment)                                 # when a (re)load starts serving an experiment
    recorder.record(experiment_id, key, variant, served_at, request_id)   # per keyed request of an experiment
    recorder.observe(experiment_id, variant, requests=n, errors=0, latency_s=s)   # per model call of a variant
    recorder.close()                                              # on shutdown (final flush)

A background thread flushes every `flush_s` (1 s) into the experiment store (state.py): the
exposures min-merged per (experiment, key), so the store keeps each key's first exposure whatever
order the flushes of a pod's workers and of the replicas arrive in; counters added (requests,
errors and a latency histogram per variant, the guardrails' input: abtest.py). A flush that fails
(the store unreachable) is kept and merged into the next one; beyond `max_pending` queued items
new ones are dropped and counted (`dropped`, `on_drop`) rather than growing memory.

Request ids that serving generates embed the experiment and the served time,
`<experiment id | none>.<served ms>.<12 hex>` (`new_request_id`, `parse_request_id`): feedback that
names only such a request id is attributed to its experiment, with the served time as its default
event time (control.py). Both the exposure the recorder stores and the id carry the served time on
the millisecond grid (`ms_time`), so they are the same float and the outcome lies in the window.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from workloads.serving.abtest import VARIANTS, Variant
from workloads.serving.state import Experiment, ExperimentStore, Exposure

logger = logging.getLogger("workloads.serving.exposures")

_REQUEST_ID = re.compile(r"^(?P<experiment>[0-9a-f]{16}|none)\.(?P<ms>\d{10,16})\.(?P<rand>[0-9a-f]{12})$")
NO_EXPERIMENT = "none"

LATENCY_BOUNDS_S: tuple[float, ...] = tuple(0.0005 * 1.25**i for i in range(48))
"""Upper bounds of the latency histogram's buckets (0.5 ms .. about 18 s, 25% apart); one more bucket
holds everything above. The p99 guardrail reads the bucket edges (abtest.latency_guardrail)."""


def ms_time(seconds: float) -> float:
    """`seconds` on the millisecond grid: what exposures store and generated request ids carry."""
    return round(seconds * 1000) / 1000


def served_now() -> float:
    """The current time (UNIX seconds) on the millisecond grid: the `served_at` of an answer."""
    return ms_time(time.time())


def new_request_id(experiment_id: str | None, served_at: float) -> str:
    """`<experiment id | none>.<served ms>.<12 hex>` for a keyed request that came without an id."""
    return f"{experiment_id or NO_EXPERIMENT}.{round(served_at * 1000)}.{secrets.token_hex(6)}"


def parse_request_id(request_id: str) -> tuple[str | None, float] | None:
    """(experiment id or None, served time in seconds) of a request id `new_request_id` made; None for
    any other id (one the client chose)."""
    match = _REQUEST_ID.match(request_id)
    if match is None:
        return None
    experiment = match.group("experiment")
    return (None if experiment == NO_EXPERIMENT else experiment), int(match.group("ms")) / 1000


def latency_bucket(seconds: float) -> int:
    """Index of the histogram bucket of `seconds` (len(LATENCY_BOUNDS_S) for the overflow bucket)."""
    lo, hi = 0, len(LATENCY_BOUNDS_S)
    while lo < hi:  # first bound >= seconds
        mid = (lo + hi) // 2
        if LATENCY_BOUNDS_S[mid] < seconds:
            lo = mid + 1
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class Counters:
    """Cumulative guardrail counters of one experiment, per variant."""

    requests: dict[str, int]
    errors: dict[str, int]
    latency: dict[str, list[int]]
    """Histogram counts per variant, one per bucket of LATENCY_BOUNDS_S plus the overflow bucket."""


def parse_counters(raw: dict[str, int]) -> Counters:
    """The store's counter fields (`<variant>:requests`, `<variant>:errors`, `<variant>:latency:<i>`) as Counters."""
    names: tuple[str, ...] = VARIANTS
    requests = {v: int(raw.get(f"{v}:requests", 0)) for v in names}
    errors = {v: int(raw.get(f"{v}:errors", 0)) for v in names}
    latency = {v: [int(raw.get(f"{v}:latency:{i}", 0)) for i in range(len(LATENCY_BOUNDS_S) + 1)] for v in names}
    return Counters(requests, errors, latency)


class ExposureRecorder:
    """Batches exposures and counters of every experiment a worker serves into the store (see above)."""

    def __init__(
        self,
        store: ExperimentStore,
        *,
        flush_s: float = 1.0,
        max_pending: int = 200_000,
        on_drop: Callable[[int], None] | None = None,
        start: bool = True,
    ) -> None:
        if flush_s <= 0:
            raise ValueError(f"flush_s must be > 0, got {flush_s}")
        self.store = store
        self.flush_s = flush_s
        self.max_pending = max_pending
        self.on_drop = on_drop
        self.dropped = 0
        self._queue: deque[tuple] = deque()
        # What a failed flush left, merged into the next one: registrations, exposures, counters.
        self._experiments: dict[str, Experiment] = {}
        self._first: dict[str, dict[str, tuple[Variant, float]]] = {}
        self._counts: dict[str, dict[str, int]] = {}
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(target=self._run, name="exposure-recorder", daemon=True)
            self._thread.start()

    # --- the request path: appends only --------------------------------------------------------

    def _put(self, item: tuple) -> None:
        if len(self._queue) >= self.max_pending:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(1)
            return
        self._queue.append(item)

    def register(self, experiment: Experiment) -> None:
        """The worker starts serving `experiment` (stored at the next flush; its start time is the earliest)."""
        self._put(("register", experiment))

    def record(self, experiment_id: str, key: str, variant: Variant, served_at: float, request_id: str | None = None) -> None:
        """`key` was served by `variant` at `served_at` (UNIX seconds) in `experiment_id`. `request_id` is
        accepted for tracing and not stored: the unit needs the key's first exposure only."""
        self._put(("expose", experiment_id, key, variant, ms_time(served_at)))

    def observe(self, experiment_id: str, variant: Variant, *, requests: int = 1, errors: int = 0, latency_s: float | None = None) -> None:
        """A model call of `variant` in `experiment_id`: `requests` keyed requests, `errors` of them failed,
        timed `latency_s` (None: not timed, e.g. it failed)."""
        self._put(("count", experiment_id, variant, requests, errors, None if latency_s is None else latency_bucket(latency_s)))

    # --- the flusher ---------------------------------------------------------------------------

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.popleft()
            except IndexError:
                return
            if item[0] == "register":
                self._experiments.setdefault(item[1].id, item[1])
            elif item[0] == "expose":
                _, exp, key, variant, served_at = item
                keys = self._first.setdefault(exp, {})
                current = keys.get(key)
                if current is None or served_at < current[1]:
                    keys[key] = (current[0] if current else variant, served_at)
            else:
                _, exp, variant, requests, errors, latency = item
                counts = self._counts.setdefault(exp, {})
                counts[f"{variant}:requests"] = counts.get(f"{variant}:requests", 0) + requests
                if errors:
                    counts[f"{variant}:errors"] = counts.get(f"{variant}:errors", 0) + errors
                if latency is not None:
                    counts[f"{variant}:latency:{latency}"] = counts.get(f"{variant}:latency:{latency}", 0) + 1

    def flush(self) -> int:
        """Write what is queued; returns the exposures written. Keeps what failed for the next flush."""
        with self._flush_lock:
            self._drain()
            written = 0
            for exp_id, experiment in list(self._experiments.items()):
                self.store.register(experiment)
                del self._experiments[exp_id]
            for exp_id in list(self._first):
                batch = [Exposure(key, variant, served_at) for key, (variant, served_at) in self._first[exp_id].items()]
                self.store.expose(exp_id, batch)
                written += len(batch)
                del self._first[exp_id]
            for exp_id in list(self._counts):
                self.store.add_counters(exp_id, self._counts[exp_id])
                del self._counts[exp_id]
            return written

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            try:
                self.flush()
            except Exception:  # the store being down must not kill the flusher; the batch is kept
                logger.exception("exposure flush failed; kept for the next one")
                self._bound_retained()

    def _bound_retained(self) -> None:
        """Drop what a long outage retained beyond max_pending (counted), newest keys first."""
        held = sum(len(k) for k in self._first.values())
        excess = held - self.max_pending
        for keys in self._first.values():
            while excess > 0 and keys:
                keys.popitem()
                excess -= 1
                self.dropped += 1
                if self.on_drop is not None:
                    self.on_drop(1)

    def close(self) -> None:
        """Stop the flusher and write what is left (one try)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.flush()
        except Exception:
            logger.exception("final exposure flush failed: %d experiments' exposures lost", len(self._first))
