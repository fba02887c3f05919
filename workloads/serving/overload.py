"""Load shedding: refuse with 503 beyond a bound on in-flight scoring requests.

BentoML's own `traffic.max_concurrency` answers 429; a scoring client and a Kubernetes Service
should see 503 + Retry-After (the replica is saturated, try another) instead, and never an
unbounded queue. This middleware runs inside BentoML's, per worker (one event loop, so a plain
counter is exact).
"""
from __future__ import annotations

import json


class LoadShedding:
    def __init__(self, app, max_in_flight: int, paths: frozenset[str] = frozenset({"/score"})) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.app, self.max_in_flight, self.paths = app, max_in_flight, paths
        self.in_flight = 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        if self.in_flight >= self.max_in_flight:
            body = json.dumps({
                "error": f"overloaded: {self.in_flight} requests in flight, limit {self.max_in_flight} "
                         "(SAHAB_SERVING_MAX_CONCURRENCY); retry later"
            }).encode()
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
