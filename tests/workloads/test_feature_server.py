"""The Feast feature server the platform runs (`python -m workloads.features serve`), on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from workloads.data.schema import ENTITY

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_feature_server_serves_materialized_features(tmp_path):
    from datetime import timedelta

    from workloads.data.generator import generate
    from workloads.features.store import FeatureRepo
    from workloads.settings import FeatureStoreSettings

    # Set the repository up in-process (the CLI steps are tested elsewhere); only the server is a process.
    repo = FeatureRepo(tmp_path, FeatureStoreSettings(mode="local"))
    repo.write_source(generate(2_000, seed=5))
    repo.apply()
    labels = repo.labels()
    repo.materialize(labels["event_timestamp"].min().to_pydatetime(), labels["event_timestamp"].max().to_pydatetime() + timedelta(seconds=1))
    account = int(labels[ENTITY].iloc[0])
    env = {**os.environ, "SAHAB_HOME": str(tmp_path), "SAHAB_FEAST_MODE": "local"}
    cli = [sys.executable, "-m", "workloads.features"]
    port = _free_port()
    server = subprocess.Popen(cli + ["serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, f"feature server exited: {server.stdout.read()[-2000:]}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "feature server not healthy within 90 s"
            time.sleep(0.5)
        body = {"feature_service": repo.service.name, "entities": {ENTITY: [account]}}
        resp = httpx.post(f"http://127.0.0.1:{port}/get-online-features", json=body, timeout=30)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        names = data["metadata"]["feature_names"]
        assert ENTITY in names and len(names) > 5, names
        values = {n: r["values"][0] for n, r in zip(names, data["results"], strict=False)}
        assert values[ENTITY] == account
        present = [n for n, v in values.items() if n != ENTITY and v is not None]
        assert present, f"no feature values served for account {account}: {values}"
    finally:
        server.terminate()
        server.wait(timeout=30)
