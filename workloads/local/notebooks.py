"""In a notebook of the local platform (`sahab local up --notebooks`, workloads/local/jupyter.py): which
project, with its variables as the running platform gave them to its services, and where the server is.

    from workloads.local.notebooks import use
    project = use()                 # SAHAB_PROJECT's (the first project the platform serves)
    project = use("delivery-time")  # another one: this process's environment switches to its variables
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from workloads.local.jupyter import STATE_DIR_VARIABLE

if TYPE_CHECKING:
    from workloads.project.project import Project


def notebook_server(state_dir: str | Path) -> dict[str, str]:
    """{"url", "token"} of the running platform's JupyterLab (LocalError when it runs none)."""
    from workloads.local.platform import LocalError, read_state

    state = read_state(Path(state_dir).resolve())
    if not state or "notebooks" not in state:
        raise LocalError(f"{state_dir} (local platform): no notebook server. Fix: sahab local up --notebooks")
    return dict(state["notebooks"])


def use(name: str | None = None) -> Project:
    """In a notebook: the project `name` (default: SAHAB_PROJECT's), with this process's environment
    switched to that project's variables as the running platform gave them to its services."""
    from workloads.local.platform import project_env, served_projects
    from workloads.project.project import from_env

    state_dir = os.environ.get(STATE_DIR_VARIABLE)
    if state_dir and name is not None:
        os.environ.update(project_env(Path(state_dir), name))
    elif name is not None:
        raise ValueError(f"use({name!r}): {STATE_DIR_VARIABLE} is not set. Fix: start JupyterLab with sahab local up --notebooks")
    project = from_env()
    if state_dir and project.name not in served_projects(Path(state_dir)):
        raise ValueError(f"use(): the local platform serves {sorted(served_projects(Path(state_dir)))}, not {project.name}")
    return project
