"""Micro-batching without a timer: calls that arrive together share one model call, and nothing
waits on purpose.

    batcher = MicroBatcher(score_many, max_items=64, inline_records=64, max_wait_s=1.0)
    answers = await batcher.submit(requests, records=n)    # from the event loop; one answer per item

Why not BentoML's adaptive batcher (`@bentoml.api(batchable=True)`): it decides how long to hold a
request from a latency model it fits online, so one request alone waits for company (p50 11.6 ms
against 3.0 ms without it at concurrency 1), and it answers 503 for whatever its model predicts
cannot finish within `max_latency_ms` (6 and 119 non-200 answers at concurrency 16 and 64 on 2
cores, benchmarks/serving.py); its wait also pushed p99 to 212 ms.

Two paths, by size:
- small calls (at most `inline_records` records, what a scoring service mostly sees) run on the
  event loop itself: a call queues and schedules one flush with `loop.call_soon`; every call that
  reaches the batcher in the same turn of the loop joins it, and the flush scores them in one
  model call. The model call for a few records takes tens of microseconds; handing it to a thread
  and back costs two wake-ups, each a scheduler latency on a busy 1-2 core pod (measured: 8.8 ms
  p50 at concurrency 1 with a worker thread on a loaded 2-core machine, against 0.4 ms inline);
- large calls go to one worker thread, merged with the large calls that arrived while it was
  busy (what Triton's dynamic batcher does with `max_queue_delay_microseconds: 0`): the event loop
  keeps parsing other requests while onnxruntime runs (it releases the GIL). A call that waited
  `max_wait_s` before its batch started is failed with `Overloaded` (the service answers 503 +
  Retry-After), so under steady overload the queue stays bounded in time, not only in count
  (LoadShedding bounds the count).
One call's items are never split across batches.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("workloads.serving.batching")


class Overloaded(RuntimeError):
    """The call waited longer than the queueing budget for the model."""


@dataclass
class _Call:
    items: Sequence[Any]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    enqueued: float


def _settle(future: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    """On the event loop: resolve `future` unless its caller went away (cancelled, timed out)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class MicroBatcher:
    """`fn(items) -> results` (same length and order); see the module docstring."""

    def __init__(
        self,
        fn: Callable[[list[Any]], Sequence[Any]],
        *,
        max_items: int = 64,
        inline_records: int = 64,
        max_wait_s: float = 1.0,
        name: str = "model-batcher",
    ) -> None:
        if max_items < 1:
            raise ValueError(f"max_items must be >= 1, got {max_items}")
        self.fn, self.max_items, self.inline_records, self.max_wait_s = fn, max_items, inline_records, max_wait_s
        self.batches = 0
        """Model calls made (tests, the benchmark: items / batches is the mean batch)."""
        self.items = 0
        self._inline: list[_Call] = []
        self._flush_scheduled = False
        self._calls: deque[_Call] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    async def submit(self, items: Sequence[Any], records: int | None = None) -> Sequence[Any]:
        """The results for `items` (carrying `records` records in all; default one per item)."""
        loop = asyncio.get_running_loop()
        call = _Call(items, loop.create_future(), loop, time.monotonic())
        if (len(items) if records is None else records) <= self.inline_records:
            self._inline.append(call)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush_inline)
        else:
            with self._cond:
                if self._stopping:
                    raise RuntimeError("the model batcher is shut down")
                self._calls.append(call)
                self._cond.notify()
        return await call.future

    # --- small calls: on the event loop ------------------------------------------------------------

    def _flush_inline(self) -> None:
        self._flush_scheduled = False
        pending, self._inline = self._inline, []
        while pending:
            size, batch = 0, list[_Call]()
            while pending and (not batch or size + len(pending[0].items) <= self.max_items):
                size += len(pending[0].items)
                batch.append(pending.pop(0))
            self._score(batch, inline=True)

    # --- large calls: on the worker thread ---------------------------------------------------------

    def _take(self) -> list[_Call] | None:
        with self._cond:
            while not self._calls and not self._stopping:
                self._cond.wait()
            if not self._calls:
                return None
            calls = [self._calls.popleft()]
            size = len(calls[0].items)
            while self._calls and size + len(self._calls[0].items) <= self.max_items:
                size += len(self._calls[0].items)
                calls.append(self._calls.popleft())
            return calls

    def _run(self) -> None:
        while (calls := self._take()) is not None:
            now = time.monotonic()
            for c in calls:
                if now - c.enqueued > self.max_wait_s:
                    error = Overloaded(f"waited {now - c.enqueued:.3f} s for the model, beyond SAHAB_SERVING_MAX_LATENCY_MS ({self.max_wait_s * 1000:.0f} ms)")
                    c.loop.call_soon_threadsafe(_settle, c.future, None, error)
            calls = [c for c in calls if now - c.enqueued <= self.max_wait_s]
            if calls:
                self._score(calls, inline=False)

    def _score(self, calls: list[_Call], *, inline: bool) -> None:
        def settle(call: _Call, result: Any = None, error: BaseException | None = None) -> None:
            if inline:
                _settle(call.future, result, error)
            else:
                call.loop.call_soon_threadsafe(_settle, call.future, result, error)

        items = [item for c in calls for item in c.items]
        try:
            results = self.fn(items)
            if len(results) != len(items):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(items)} items")
        except Exception as exc:  # every caller of the batch gets the error; the batcher lives on
            logger.exception("model call failed for %d items", len(items))
            for c in calls:
                settle(c, None, exc)
            return
        self.batches += 1
        self.items += len(items)
        offset = 0
        for c in calls:
            n = len(c.items)
            settle(c, results[offset : offset + n])
            offset += n

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish the large calls queued, then stop the worker (small calls finish on the loop)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout=timeout_s)
