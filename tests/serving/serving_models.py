"""Registered models, feature records and a `bentoml serve` runner for the serving tests.

`build_registry` runs issue 4's local pipeline once (generate -> Feast -> train -> export ONNX
fp32/int8 -> register -> promote), leaving a `champion` and an unpromoted `challenger` trained
with another seed, both with sha256 tags, in the MLflow registry under `home`.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from workloads.data.generator import generate
from workloads.data.schema import FEATURES

REPO = Path(__file__).resolve().parents[2]
logger = logging.getLogger(__name__)


def feature_records(n: int, seed: int = 0) -> list[dict[str, object]]:
    """JSON-ready records (NaN -> None) drawn from the data generator."""
    df = generate(n, seed=seed)[list(FEATURES)]
    return [{k: (None if (v is None or (isinstance(v, float) and math.isnan(v))) else v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def build_registry(home: Path) -> tuple[str, str]:
    """Register a champion and a challenger under `home`; return their version numbers."""
    from workloads.pipeline import local_settings, run_local_pipeline
    from workloads.registry.client import CHALLENGER, mlflow_client

    champion = run_local_pipeline(home, seed=0, challenger=True, log=logger.info)
    settings = local_settings(home)
    challenger = mlflow_client(settings).get_model_version_by_alias(settings.model_name, CHALLENGER)
    return champion.version, str(challenger.version)


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
    cmd = [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        "workloads.serving.service:TransactionRisk",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--working-dir",
        str(REPO),
    ]
    return _started("bentoml serve", cmd, full_env, port, log, "/readyz", timeout_s)


def _started(what: str, cmd: list[str], env: dict[str, str], port: int, log: Path, health_path: str, timeout_s: float) -> Server:
    """Start `cmd` in its own process group, logging to `log`; wait until `health_path` answers 200."""
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}{health_path}", timeout=2).status_code == 200:
                return Server(url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(Server(url, proc, log))
    raise RuntimeError(f"{what} not ready after {timeout_s}s:\n{log.read_text()[-3000:]}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


def start_module(module: str, env: dict[str, str], log: Path, health_path: str, timeout_s: float = 60.0, args: tuple[str, ...] = ()) -> Server:
    """`python -m <module> --port P` on loopback (the control plane); waits for `health_path`."""
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), *args]
    return _started(module, cmd, full_env, port, log, health_path, timeout_s)
