"""`sahab local up --notebooks`: JupyterLab starts beside the platform with its environment set, and a
cell run through the Jupyter server's own API (REST for the kernel, its websocket channels for the
execute request, as JupyterLab's front end does) reads the project's feature store (its offline rows
and the feature views registered in Feast) and the registry (the champion the services serve).
`status` lists the server; `down` stops it with the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from local_helpers import running

from workloads.local.jupyter import START_NOTEBOOK
from workloads.local.notebooks import notebook_server

pytestmark = [pytest.mark.slow, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
PROJECT = "delivery-time"
CELL = """
import json
from workloads.local.notebooks import use
from workloads.features.store import FeatureRepo
from workloads.registry.client import CHAMPION, resolve
from workloads.settings import SahabSettings

project = use()
repo = FeatureRepo(project)
rows = repo.rows()
views = sorted(v.name for v in repo.store.list_feature_views())
champion = resolve(CHAMPION, name=project.name, settings=SahabSettings().for_project(project))
print(json.dumps({"project": project.name, "rows": len(rows), "views": views, "champion": champion.version, "metrics": sorted(champion.holdout_metrics())}))
"""


def sahab(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    return subprocess.run([sys.executable, "-m", "sahab", "local", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def run_cell(url: str, token: str, code: str, timeout: float = 180) -> tuple[str, list[dict]]:
    """Start a kernel through the server's REST API, run `code` over its websocket channels (Jupyter
    messaging protocol 5.x: an execute_request on the shell channel, iopub until the kernel is idle);
    returns (stdout, error contents)."""
    import websocket

    headers = {"Authorization": f"token {token}"}
    kernel = httpx.post(f"{url}/api/kernels", json={"name": "python3"}, headers=headers, timeout=60)
    assert kernel.status_code == 201, f"POST {url}/api/kernels: {kernel.status_code} {kernel.text[:300]}"
    kid = kernel.json()["id"]
    ws = websocket.create_connection(f"{url.replace('http', 'ws', 1)}/api/kernels/{kid}/channels", header=[f"Authorization: token {token}"], timeout=timeout)
    msg_id = uuid.uuid4().hex
    request = {
        "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex, "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
        "channel": "shell",
        "buffers": [],
    }
    ws.send(json.dumps(request))
    out, errors = [], []
    try:
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                errors.append(msg["content"])
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        ws.close()
        httpx.delete(f"{url}/api/kernels/{kid}", headers=headers, timeout=30)
    return "".join(out), errors


def test_a_notebook_reads_the_feature_store_and_the_registry_of_the_running_platform(tmp_path):
    state = tmp_path / "local"
    done = sahab(
        "up", "--embedded", "--notebooks", "--state-dir", str(state), "--project", PROJECT, "--rows", "2000", "--no-challenger", "--no-prometheus", timeout=1200
    )
    try:
        assert done.returncode == 0, f"sahab local up --notebooks failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        shown = json.loads(sahab("status", "--state-dir", str(state), "--format", "json", timeout=120).stdout)
        notebooks = next((s for s in shown["services"] if s["name"] == "notebooks"), None)
        assert notebooks is not None and notebooks["healthy"], f"sahab local status lists a healthy notebooks service: {shown['services']}"
        server = notebook_server(state)
        assert "token" not in notebooks["url"], "the token stays out of status"
        assert httpx.get(f"{server['url']}/api/kernels", timeout=10).status_code == 403, "the API refuses a request without the token"
        assert (Path(server["root"]) / START_NOTEBOOK).is_file(), "a starter notebook is written into the server's folder"

        stdout, errors = run_cell(server["url"], server["token"], CELL)
        assert not errors, f"the cell failed: {errors}"
        read = json.loads(stdout.strip().splitlines()[-1])
        assert read["project"] == PROJECT and read["rows"] > 0, f"the kernel reads {PROJECT}'s offline store: {read}"
        assert read["views"] == ["courier_profile", "order_features", "road_conditions"], f"and the feature views registered in Feast: {read['views']}"
        assert read["champion"] == "1" and "rmse" in read["metrics"], f"and the registry's champion (the one the services serve): {read}"

        starter = json.loads((Path(server["root"]) / START_NOTEBOOK).read_text())
        code = "\n".join("".join(c["source"]) for c in starter["cells"])
        stdout, errors = run_cell(server["url"], server["token"], code + "\nprint(len(rows), champion.version)")
        assert not errors and stdout.split()[-1] == "1", f"the starter notebook runs as written: {errors or stdout[-500:]}"
    finally:
        recorded = json.loads((state / "state.json").read_text()) if (state / "state.json").exists() else {"services": []}
        down = sahab("down", "--state-dir", str(state), timeout=300)
    assert down.returncode == 0, f"sahab local down: {down.stdout[-2000:]}{down.stderr[-2000:]}"
    left = [s["name"] for s in recorded["services"] if running(s["identity"])]
    assert not left, f"still running after down: {left}"
