"""Serving's role on the offline-features container is conditioned to `serving-log/`
(components/azure/identity.py path_condition; tests/azure/test_azure_abac.py judges the condition).
Here a proxy in front of a real Azurite enforces that grant the way the storage service would
(403 AuthorizationPermissionMismatch for any request outside the prefix, List Blobs judged by its
`prefix` parameter), and serving's prediction log writer must still write, while the drift job,
which reads the whole container, reads what it wrote."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from servers import azurite_server  # noqa: F401  (pytest fixture)

from workloads import storage
from workloads.project import resolve

ACCOUNT = "devstoreaccount1"
PREFIX = "serving-log/"
DENIED = b"""<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthorizationPermissionMismatch</Code>
<Message>This request is not authorized to perform this operation using this permission.</Message></Error>"""


class _PrefixGrant(BaseHTTPRequestHandler):
    """Forwards to Azurite what a Contributor conditioned to `container/PREFIX` may do; refuses the rest."""

    upstream: tuple[str, int]
    container: str
    seen: list[tuple[str, str, bool]]

    def _admitted(self) -> bool:
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.lstrip("/").split("/", 2)  # account, container, blob path
        query = urllib.parse.parse_qs(url.query)
        if len(parts) < 2 or parts[0] != ACCOUNT or parts[1] != self.container:
            return False
        blob = parts[2] if len(parts) > 2 else ""
        if not blob and query.get("comp") == ["list"]:  # List Blobs: judged by its prefix
            return query.get("prefix", [""])[0].startswith(PREFIX)
        return blob.startswith(PREFIX)

    def _forward(self) -> None:
        admitted = self._admitted()
        self.seen.append((self.command, self.path, admitted))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not admitted:
            self.send_response(403)
            self.send_header("x-ms-error-code", "AuthorizationPermissionMismatch")
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(DENIED)))
            self.end_headers()
            self.wfile.write(DENIED)
            return
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = do_PATCH = _forward

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def granted(azurite_server, monkeypatch):
    """A container on Azurite, the emulator override aimed at the prefix-grant proxy; yields
    (container client for reading back, the proxy's request log)."""
    from azure.storage.blob import BlobServiceClient

    name = f"g{uuid.uuid4().hex[:16]}"
    container = BlobServiceClient.from_connection_string(azurite_server.env["AZURE_STORAGE_CONNECTION_STRING"]).create_container(name)
    up = urllib.parse.urlsplit(azurite_server.url)
    handler = type("Grant", (_PrefixGrant,), {"upstream": (up.hostname, up.port), "container": name, "seen": []})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
    for key, value in azurite_server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SAHAB_AZURE_BLOB_ENDPOINT", endpoint)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite_server.env["AZURE_STORAGE_CONNECTION_STRING"].replace(azurite_server.url, endpoint))
    storage._azure.cache_clear()
    try:
        yield container, handler.seen
    finally:
        proxy.shutdown()
        storage._azure.cache_clear()


def test_the_prediction_log_writes_with_a_grant_on_its_prefix_alone(granted):
    from workloads.serving.prediction_log import PredictionLog

    container, seen = granted
    project = resolve("transaction-risk")
    log = PredictionLog(f"abfss://{container.container_name}@{ACCOUNT}.dfs.core.windows.net/serving-log/", project, flush_s=3600, host="pod-a")
    try:
        at = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)
        record: dict[str, object] = {f: None for f in project.spec.feature_names}
        record["amount"] = 12.5
        assert log.append(request_id="r-1", key="acct-1", experiment_id=None, variant="champion", model_version="3", scores=[0.25], records=[record], ts=at)
        assert log.flush() == 1, f"nothing written; requests: {seen}"
    finally:
        log.close()
    assert log.dropped == 0, f"rows dropped; requests the grant refused: {[s for s in seen if not s[2]]}"
    names = [b.name for b in container.list_blobs()]
    assert len(names) == 1 and names[0].startswith("serving-log/date=2026-12-02/hour=01/part-pod-a-"), names
    assert all(admitted for _, _, admitted in seen), f"the writer asked for something outside {PREFIX}: {[s for s in seen if not s[2]]}"
    table = pq.read_table(pa.BufferReader(container.download_blob(names[0]).readall()))
    assert table.num_rows == 1


def test_pyarrows_filesystem_cannot_write_under_that_grant(granted):
    """The premise: pyarrow's AzureFileSystem probes the container's root before it writes, which the
    prefix grant refuses; a writer built on it drops every row on AKS."""
    container, seen = granted
    fs, root = storage.filesystem(f"abfss://{container.container_name}@{ACCOUNT}.dfs.core.windows.net/serving-log")
    with pytest.raises((OSError, pa.ArrowException), match="Hierarchical Namespace"):
        pq.write_table(pa.table({"a": [1]}), f"{root}/date=2026-12-02/part-x.parquet", filesystem=fs)
    refused = [path for _, path, admitted in seen if not admitted]
    assert refused and all(urllib.parse.urlsplit(p).path.rstrip("/") == f"/{ACCOUNT}/{container.container_name}" for p in refused), (
        f"expected only the container-root probe to be refused: {refused}"
    )
