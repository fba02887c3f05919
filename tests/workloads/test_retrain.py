"""`python -m workloads.pipeline retrain` as the retrain Job runs it: SIGTERM mid-training exits 143,
the retry with the same run key resumes on the frozen frames even after new labels arrived and
ends with the same weights as an uninterrupted run; bad input exits 2; a refused gate exits 3."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from workload_helpers import REPO, clean_env, seed_project, shipped_project

pytestmark = pytest.mark.slow
START = datetime(2025, 1, 1, tzinfo=UTC)
TORCH = ["--set", "steps=400", "--set", "threads=1", "--set", "log_every=10", "--set", "eval_every=600", "--set", "batch_size=128"]


def _retrain(home, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "workloads.pipeline", "retrain", *args]
    return subprocess.run(cmd, cwd=REPO, env=clean_env(home), capture_output=True, text=True, timeout=timeout)


def _summary(done: subprocess.CompletedProcess) -> dict:
    return json.loads(done.stdout.strip().splitlines()[-1])


def _weights(home, project) -> dict[str, np.ndarray]:
    """The champion's fp32 graph's initializers (the trained weights), by name."""
    import onnx
    from onnx import numpy_helper

    from workloads.pipeline import local_settings
    from workloads.registry.client import CHAMPION, resolve, verify

    resolved = resolve(CHAMPION, name=project, dst=home / "download", settings=local_settings(home))
    verify(resolved)
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(resolved.fp32_onnx)).graph.initializer}


def test_a_resume_after_new_labels_arrived_continues_on_the_frozen_frame_and_ends_with_the_same_weights(tmp_path):
    project = shipped_project("transaction-risk")
    interrupted, uninterrupted = tmp_path / "interrupted", tmp_path / "uninterrupted"
    for home in (interrupted, uninterrupted):
        seed_project(project, home, rows=6_000, seed=3, start=START, days=30)
    key = "20250131t0000z"
    args = ["--project", str(project.folder), "--key", key, *TORCH]

    cmd = [sys.executable, "-m", "workloads.pipeline", "retrain", *args]
    child = subprocess.Popen(cmd, cwd=REPO, env=clean_env(interrupted), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.monotonic() + 300
    try:
        for line in child.stdout:
            lines.append(line)
            step = re.search(r"step (\d+)/400", line)
            if step and int(step.group(1)) >= 80:
                child.send_signal(signal.SIGTERM)  # a spot interruption notice, mid-training
                break
            assert time.monotonic() < deadline, "training did not start within 300 s:\n" + "".join(lines[-30:])
        rest, _ = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
    output = "".join(lines) + rest
    assert child.returncode == 143, f"SIGTERM mid-training must exit 143 (got {child.returncode}):\n{output[-3000:]}"
    assert "stop requested" in output and f"--key {key} --resume" in output, output[-3000:]
    frozen = json.loads((interrupted / "projects" / "transaction-risk" / "feast" / "training-sets" / key / "lineage.json").read_text())

    # New labels land before the retry (a day of traffic after the frozen window).
    seed_project(project, interrupted, rows=1_500, seed=4, start=START + timedelta(days=30), days=2)
    resumed = _retrain(interrupted, *args, "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    summary = _summary(resumed)
    assert summary["frames_reused"] and summary["data_sha256"] == frozen["data_sha256"], f"the retry trains on the frozen frame: {summary}"
    assert summary["holdout_sha256"] == frozen["holdout_sha256"] and summary["rows"] == frozen["rows"], "and is judged on the frozen holdout"
    assert "resume: continuing from step" in resumed.stdout, resumed.stdout[-3000:]
    assert (summary["status"], summary["alias"], summary["step"]) == ("registered", "champion", 400), summary

    straight = _retrain(uninterrupted, *args)
    assert straight.returncode == 0, straight.stdout[-3000:] + straight.stderr[-3000:]
    assert _summary(straight)["data_sha256"] == frozen["data_sha256"], "the uninterrupted run saw the same rows"
    a, b = _weights(interrupted, "transaction-risk"), _weights(uninterrupted, "transaction-risk")
    assert a.keys() == b.keys() and len(a) > 4, f"initializers {sorted(a)} vs {sorted(b)}"
    different = [name for name in a if not np.array_equal(a[name], b[name])]
    assert not different, f"weights differ bit for bit after the resume: {different}"


def test_bad_input_exits_2_naming_what_is_wrong(tmp_path):
    project = shipped_project("delivery-time")
    seed_project(project, tmp_path, rows=300, seed=1, start=START, days=3)
    bad = _retrain(tmp_path, "--project", str(project.folder), "--key", "k1", "--set", "roundz=3", timeout=300)
    assert bad.returncode == 2 and "roundz" in bad.stderr, bad.stderr[-2000:]
    no_project = _retrain(tmp_path, "--key", "k1", timeout=120)
    assert no_project.returncode == 2 and "SAHAB_PROJECT is not set" in no_project.stderr, no_project.stderr[-2000:]
    bad_key = _retrain(tmp_path, "--project", str(project.folder), "--key", "Not A Key", timeout=120)
    assert bad_key.returncode == 2 and "run key 'Not A Key'" in bad_key.stderr, bad_key.stderr[-2000:]


def test_a_refused_gate_exits_3_printing_the_failed_checks(tmp_path):
    project = shipped_project("delivery-time")
    seed_project(project, tmp_path, rows=3_000, seed=1, start=START, days=20)
    done = _retrain(tmp_path, "--project", "delivery-time", "--key", "k-refused", "--set", "rounds=1", "--set", "threads=1", timeout=300)
    assert done.returncode == 3, done.stdout[-3000:] + done.stderr[-3000:]
    assert "the gate refused it" in done.stderr and "primary rmse" in done.stderr, done.stderr[-2000:]
    summary = _summary(done)
    assert summary["status"] == "gate_failed" and summary["alias"] is None and summary["version"] == "1", summary
    assert not summary["gate"]["passed"], summary["gate"]
