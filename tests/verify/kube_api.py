"""A loopback stand-in for the Kubernetes API server (there is no cluster here).

It answers list paths with fixed objects (a `<Kind>List` with `items`, as the API does), forwards
service-proxy paths (`/api/v1/namespaces/NS/services/NAME:PORT/proxy/...`) to real HTTP servers,
requires the kubeconfig's bearer token, and records every call. `kubeconfig(path)` writes a
kubeconfig for it.
"""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import yaml

TOKEN = "sahab-verify-test-token"


class FakeApi:
    def __init__(self, routes: dict[str, dict], proxies: dict[str, str] | None = None):
        self.routes, self.proxies = routes, proxies or {}
        self.seen: list[tuple[str, str, str]] = []  # (method, path, Authorization)
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                api._handle(self, "GET")

            def do_POST(self):
                api._handle(self, "POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?", 1)[0]
        self.seen.append((method, path, h.headers.get("Authorization", "")))
        if h.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _send(h, 401, json.dumps({"kind": "Status", "code": 401, "message": "Unauthorized"}).encode())
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0)) if method == "POST" else None
        for prefix, target in self.proxies.items():
            if path.startswith(prefix):
                return self._forward(h, method, target, h.path[len(prefix) :] or "/", body)
        if method == "GET" and path in self.routes:
            return _send(h, 200, json.dumps(self.routes[path]).encode())
        _send(h, 404, json.dumps({"kind": "Status", "code": 404, "message": f"{path} not found"}).encode())

    def _forward(self, h, method: str, target: str, rest: str, body: bytes | None) -> None:
        url = urlsplit(target)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        conn.request(method, rest, body=body, headers={"Content-Type": h.headers.get("Content-Type", "application/json")})
        resp = conn.getresponse()
        _send(h, resp.status, resp.read(), resp.getheader("Content-Type", "application/json"))
        conn.close()

    def kubeconfig(self, path: Path, token: str = TOKEN) -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "verify",
                    "clusters": [{"name": "c", "cluster": {"server": self.url}}],
                    "users": [{"name": "auditor", "user": {"token": token}}],
                    "contexts": [{"name": "verify", "context": {"cluster": "c", "user": "auditor"}}],
                }
            )
        )
        return path

    def close(self) -> None:
        self.server.shutdown()


def _send(h: BaseHTTPRequestHandler, code: int, data: bytes, content_type: str = "application/json") -> None:
    h.send_response(code)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)
