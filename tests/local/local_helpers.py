"""Helpers the local-platform tests share: which processes are still running."""

from __future__ import annotations

import psutil

from workloads.local.platform import RUN_MARKER


def running(identity: dict) -> bool:
    """Whether the process recorded as `{"pid", "create_time"}` still runs (same start time)."""
    try:
        proc = psutil.Process(identity["pid"])
        return abs(proc.create_time() - identity["create_time"]) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def marked(run_id: str) -> list[int]:
    """PIDs of processes still carrying the platform's run id (workloads.local.platform.RUN_MARKER)."""
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(RUN_MARKER) == run_id:
                out.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out
