"""Load shedding: refuse with 503 beyond a bound on in-flight scoring requests and their bytes.

BentoML's own `traffic.max_concurrency` answers 429; a scoring client and a Kubernetes Service
should see 503 + Retry-After (the replica is saturated, try another) instead, and never an
unbounded queue. This middleware runs inside BentoML's, once per worker process (one event loop,
so plain counters are exact); the service divides SAHAB_SERVING_MAX_CONCURRENCY and
SAHAB_SERVING_MAX_INFLIGHT_BYTES by the worker count, so the pod's total stays within them.

Bytes matter as much as requests: a burst of maximal requests (64 x 256 records) parses into far
more memory than the same number of small ones, so a request is admitted only while the bytes in
flight (its Content-Length, or `assumed_bytes` without one) stay within `max_bytes`; a request
larger than the whole budget is refused with 413.
"""

from __future__ import annotations

import json


def _reply(status: int, message: str, retry: bool):
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry:
        headers.append((b"retry-after", b"1"))
    return {"type": "http.response.start", "status": status, "headers": headers}, {"type": "http.response.body", "body": body}


class LoadShedding:
    def __init__(self, app, max_in_flight: int, max_bytes: int = 1 << 62, assumed_bytes: int = 1 << 20, paths: frozenset[str] = frozenset({"/score"})) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.app, self.max_in_flight, self.max_bytes, self.paths = app, max_in_flight, max_bytes, paths
        self.assumed_bytes = assumed_bytes
        self.in_flight = 0
        self.bytes_in_flight = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        size = self.assumed_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    pass
        if size > self.max_bytes:
            start, body = _reply(
                413,
                f"request of {size} bytes exceeds the in-flight budget of {self.max_bytes} bytes "
                "(SAHAB_SERVING_MAX_INFLIGHT_BYTES / workers); send smaller batches",
                retry=False,
            )
            await send(start)
            return await send(body)
        if self.in_flight >= self.max_in_flight or self.bytes_in_flight + size > self.max_bytes:
            start, body = _reply(
                503,
                f"overloaded: {self.in_flight} requests / {self.bytes_in_flight} bytes in flight, "
                f"limits {self.max_in_flight} / {self.max_bytes} per worker "
                "(SAHAB_SERVING_MAX_CONCURRENCY, SAHAB_SERVING_MAX_INFLIGHT_BYTES); retry later",
                retry=True,
            )
            await send(start)
            return await send(body)
        self.in_flight += 1
        self.bytes_in_flight += size
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.bytes_in_flight -= size
