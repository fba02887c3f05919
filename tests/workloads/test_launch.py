"""The rank launcher the multi-GPU Job runs under tini: SIGTERM reaches every rank, the launcher
waits for their checkpoints and exits 143; a crashed rank stops the others."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RANK = """
import json, os, signal, sys, time
out = sys.argv[1]
rank = os.environ["RANK"]
def publish(name, text):  # whole or not at all: the test polls for the file and reads it at once
    with open(f"{out}/.{name}", "w") as f:
        f.write(text)
    os.replace(f"{out}/.{name}", f"{out}/{name}")
def on_term(signum, frame):
    time.sleep(2.0)  # a checkpoint being written
    publish(f"done-{rank}", "checkpointed")
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
publish(f"started-{rank}", json.dumps({k: os.environ[k] for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}))
if rank == os.environ.get("CRASH_RANK"):
    sys.exit(3)
time.sleep(60)
"""


def _start(tmp_path: Path, nproc: int, **env) -> subprocess.Popen:
    script = tmp_path / "rank.py"
    script.write_text(RANK)
    import os

    return subprocess.Popen(
        [sys.executable, "-m", "workloads.training.launch", "--nproc", str(nproc), "--", sys.executable, str(script), str(tmp_path)],
        cwd=REPO,
        env={**os.environ, **env},
    )


def _wait_for(paths, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        assert time.monotonic() < deadline, f"not all of {paths} appeared"
        time.sleep(0.05)


def test_sigterm_reaches_every_rank_and_the_launcher_waits_for_their_checkpoints(tmp_path):
    proc = _start(tmp_path, 2)
    _wait_for([tmp_path / f"started-{r}" for r in (0, 1)])
    envs = [json.loads((tmp_path / f"started-{r}").read_text()) for r in (0, 1)]
    assert [e["RANK"] for e in envs] == ["0", "1"] and {e["WORLD_SIZE"] for e in envs} == {"2"}
    assert envs[0]["MASTER_PORT"] == envs[1]["MASTER_PORT"], "ranks must meet at one rendezvous port"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)  # what tini forwards from the kubelet
    assert proc.wait(timeout=30) == 143
    assert time.monotonic() - started >= 1.9, "the launcher must wait for the ranks' checkpoints"
    assert all((tmp_path / f"done-{r}").read_text() == "checkpointed" for r in (0, 1))


def test_a_crashed_rank_stops_the_others(tmp_path):
    proc = _start(tmp_path, 2, CRASH_RANK="1")
    started = time.monotonic()
    assert proc.wait(timeout=30) == 3, "the launcher reports the crashed rank's status"
    assert time.monotonic() - started < 20, "the surviving rank must not be left waiting"
