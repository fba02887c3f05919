"""A local MLflow registry with a `champion` and a `challenger`, built once per session by the
local pipeline (workloads/pipeline.py), plus helpers to run `bentoml serve` on loopback.

The registry is private to these tests: its location is set with a session-scoped MonkeyPatch
(SAHAB_HOME, SAHAB_MLFLOW_TRACKING_URI) that is undone at the end, so other test folders never
see it.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from serving_models import build_registry

REPO = Path(__file__).resolve().parents[2]

# BentoML's /metrics reads prometheus_client's multiprocess files; `bentoml serve` sets this
# directory in each worker, the in-process test client needs one before prometheus_client loads.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="sahab-prometheus-"))


@dataclass(frozen=True)
class Registry:
    home: Path
    tracking_uri: str
    champion: str
    challenger: str
    env: dict[str, str]


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Registry:
    home = tmp_path_factory.mktemp("sahab-serving")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    env = {"SAHAB_HOME": str(home), "SAHAB_MLFLOW_TRACKING_URI": uri}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        champion, challenger = build_registry(home)
        yield Registry(home, uri, champion, challenger, env)


@pytest.fixture
def registry_copy(registry, tmp_path, monkeypatch) -> Registry:
    """The session registry's database copied (artifacts shared, read-only): for tests that move
    aliases. Artifact URIs in the database are absolute, so the copy still finds them."""
    db = tmp_path / "mlflow.db"
    shutil.copy(registry.home / "mlflow.db", db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("SAHAB_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SAHAB_HOME", str(tmp_path))
    return Registry(tmp_path, uri, registry.champion, registry.challenger,
                    {"SAHAB_HOME": str(tmp_path), "SAHAB_MLFLOW_TRACKING_URI": uri})


@pytest.fixture
def serving_env(monkeypatch):
    """Set SAHAB_SERVING_* variables for the service instance a test builds."""

    def apply(**values: object) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"SAHAB_SERVING_{key.upper()}", str(value))

    apply(reload_interval_s=0, ab_mode="split", challenger_weight=0.5)
    return apply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path


def start_bentoml_serve(env: dict[str, str], log: Path, timeout_s: float = 120.0) -> Server:
    """`bentoml serve` on loopback in its own process group; waits for /readyz."""
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO), "BENTOML_DO_NOT_TRACK": "True"}
    cmd = [sys.executable, "-m", "bentoml", "serve", "workloads.serving.service:TransactionRisk",
           "--host", "127.0.0.1", "--port", str(port), "--working-dir", str(REPO)]
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, env=full_env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bentoml serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return Server(url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_server(Server(url, proc, log))
    raise RuntimeError(f"bentoml serve not ready after {timeout_s}s:\n{log.read_text()[-3000:]}")


def stop_server(server: Server) -> None:
    import signal

    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
