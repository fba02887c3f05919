"""JupyterLab beside the local platform (`sahab local up --notebooks`): started by workloads/local/platform.py
with the platform's environment already set; what a notebook uses to talk to it is workloads/local/notebooks.py.

The server (`notebooks` in `sahab local status`) listens on loopback with a token (JUPYTER_TOKEN:
it stays out of the process list; `notebooks.notebook_server(state_dir)` gives URL and token), its
notebooks under `<state dir>/notebooks/` (a starter notebook is written there once), its Jupyter
config and runtime folders under the state dir (nothing of the user's own Jupyter setup leaks in,
and it asks the internet for neither news, updates nor extensions). Its kernels inherit the
environment: the variables every service shares (SAHAB_HOME, MLflow, the stores) and the first
project's own (SAHAB_PROJECT, its Feast root, prediction log); `notebooks.use(name)` switches.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from typing import TYPE_CHECKING, Any

from workloads.local import servers
from workloads.local.servers import HealthCheck

if TYPE_CHECKING:
    from workloads.local.platform import _Starter
    from workloads.project.project import Project

NOTEBOOK_DIR = "notebooks"
START_NOTEBOOK = "sahab-start.ipynb"
STATE_DIR_VARIABLE = "SAHAB_LOCAL_STATE_DIR"
SERVICE = "notebooks"
# JupyterLab asks the internet for news and updates unless told not to (checked: jupyterlab 4.6.6
# labapp.py LabApp.news_url allow_none "Set to None to turn off", check_for_updates_class;
# handlers/announcements.py NeverCheckForUpdate).
# The extension manager would search PyPI from the browser: read-only (labapp.py LabApp.extension_manager).
LAB_CONFIG = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "extension_manager": "readonly",
    }
}

START_CELLS = (
    "# The local platform's settings are in this kernel's environment (sahab local up --notebooks).\n"
    "from workloads.local.notebooks import use\n"
    "project = use()  # or use('<project name>')\n"
    "project.name",
    "# The project's offline store: every feature row it holds.\n"
    "from workloads.features.store import FeatureRepo\n"
    "repo = FeatureRepo(project)\n"
    "rows = repo.rows()\n"
    "rows.tail()",
    "# The registry: the champion the services serve, and its holdout metrics.\n"
    "from workloads.registry.client import CHAMPION, resolve\n"
    "from workloads.settings import SahabSettings\n"
    "champion = resolve(CHAMPION, name=project.name, settings=SahabSettings().for_project(project))\n"
    "champion.version, champion.holdout_metrics()",
)


def starter_notebook() -> dict[str, Any]:
    """The notebook written into the server's folder: the project, its feature rows, its champion."""
    cells: list[dict[str, Any]] = [
        {"cell_type": "code", "execution_count": None, "id": f"sahab-{i}", "metadata": {}, "outputs": [], "source": src} for i, src in enumerate(START_CELLS)
    ]
    kernel = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    return {"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}


def start(starter: _Starter, env: dict[str, str], chosen: list[Project]) -> None:
    """Start JupyterLab (module docstring) and record it in the state."""
    state_dir = starter.state_dir
    root = state_dir / NOTEBOOK_DIR
    root.mkdir(parents=True, exist_ok=True)
    first = root / START_NOTEBOOK
    if not first.exists():
        first.write_text(json.dumps(starter_notebook(), indent=1))
    config = state_dir / "jupyter" / "config"
    config.mkdir(parents=True, exist_ok=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(LAB_CONFIG, indent=1))
    port, token = servers.free_port(), secrets.token_urlsafe(24)
    project_env = starter.state["projects"][chosen[0].name]["env"] if chosen else {}
    kernel_env = {
        **env,
        **project_env,
        STATE_DIR_VARIABLE: str(state_dir),
        "JUPYTER_TOKEN": token,
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_RUNTIME_DIR": str(state_dir / "jupyter" / "runtime"),
        "JUPYTER_DATA_DIR": str(state_dir / "jupyter" / "data"),
        "IPYTHONDIR": str(state_dir / "jupyter" / "ipython"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    url = f"http://{servers.LOOPBACK}:{port}"
    starter.service(
        SERVICE,
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--ServerApp.ip={servers.LOOPBACK}",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={root}",
            # jupyter_server refuses root unless told (CI and these machines run as root; a person's shell rarely does).
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        env=kernel_env,
        url=f"{url}/lab",
        # `/api` answers without a token: the server is up (checked: jupyter_server 2.21.1 base/handlers.py APIVersionHandler, @allow_unauthenticated).
        check=HealthCheck(kind="http", port=port, path="/api", status=200),
    )
    starter.records[-1].env = {}  # the token stays in the state file's `notebooks` entry (0600), not in every status
    starter.state["notebooks"] = {"url": url, "token": token, "root": str(root)}
    starter.save()
    starter.progress(
        f"{SERVICE}: JupyterLab at {url}/lab (token: python -c 'import workloads.local.notebooks as n; print(n.notebook_server(\"{state_dir}\"))')"
    )
