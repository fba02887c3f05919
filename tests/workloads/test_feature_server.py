"""A project's Feast feature server (`python -m workloads.features --project DIR serve`), on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pytest
from workload_helpers import REPO, clean_env, seed_project, shipped_project

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_feature_server_serves_a_projects_materialized_features(tmp_path):
    project = shipped_project("delivery-time")  # a string entity key through the HTTP API
    # Set the repository up in-process (the CLI steps are tested elsewhere); only the server is a process.
    repo, frame = seed_project(project, tmp_path, rows=1_000, seed=5, start=datetime(2025, 3, 1, tzinfo=UTC), days=2)
    repo.apply()
    repo.materialize_all()
    courier = frame["courier_id"].iloc[-1]
    latest = frame[frame["courier_id"] == courier].iloc[-1]
    port = _free_port()
    cli = [sys.executable, "-m", "workloads.features", "--project", str(project.folder), "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cli, cwd=REPO, env=clean_env(tmp_path, SAHAB_FEAST_MODE="local"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"feature server exited: {server.stdout.read()[-2000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "feature server not healthy within 120 s"
            time.sleep(0.5)
        body = {"feature_service": project.name, "entities": {"courier_id": [courier]}}
        resp = httpx.post(f"http://127.0.0.1:{port}/get-online-features", json=body, timeout=30)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        names = data["metadata"]["feature_names"]
        assert set(names) == {"courier_id", *project.spec.feature_names}, f"the service {project.name} serves every feature of project.yaml: {names}"
        values = {n: r["values"][0] for n, r in zip(names, data["results"], strict=True)}
        assert values["courier_id"] == courier
        assert values["distance_km"] == pytest.approx(latest["distance_km"]) and values["vehicle"] == latest["vehicle"], f"courier {courier}: {values}"
    finally:
        server.terminate()
        server.wait(timeout=30)
