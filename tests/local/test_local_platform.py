"""`sahab local up | status | down` from the outside: the CLI brings up both shipped projects side
by side (each its own serving, control plane, evaluator, monitoring schedule and feature server),
`status` reports them healthy (and notices one that died), each serving answers for its own
project, `down` leaves none of the recorded processes running; a failing `up` names the failing
step and stops what it had started; an unknown project is refused naming the known ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from local_helpers import marked, running

from workloads.local import LocalError, LocalOptions, platform_env, status, up
from workloads.local.projects import request_for
from workloads.project import discover

pytestmark = [pytest.mark.slow, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
PROJECTS = [p.name for p in discover(REPO / "projects")]
ROLES = ("serving", "control", "evaluator", "monitoring", "feast")


def sahab(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    return subprocess.run([sys.executable, "-m", "sahab", "local", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_embedded_up_status_down_serves_every_project_side_by_side(tmp_path):
    state = tmp_path / "local"
    # 10,000 rows: transaction-risk's 2-day holdout then holds ~20 frauds (3%), enough for its AUC gate
    # (at 3,000 rows it held ~5 and the gate refused the champion on noise).
    done = sahab("up", "--embedded", "--state-dir", str(state), "--rows", "10000", "--no-challenger", timeout=1200)
    assert done.returncode == 0, f"sahab local up failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    for name in PROJECTS:
        assert f"bootstrap-{name}: champion v1" in done.stdout, f"no bootstrap progress line for {name}:\n{done.stdout[-2000:]}"
    recorded = json.loads((state / "state.json").read_text())
    identities = {s["name"]: s["identity"] for s in recorded["services"]}
    try:
        shown = sahab("status", "--state-dir", str(state), "--format", "json", timeout=120)
        report = json.loads(shown.stdout)
        assert shown.returncode == 0, f"status exit {shown.returncode}: {report}"
        names = {s["name"] for s in report["services"]}
        expected = {"mlflow", "prometheus"} | {f"{role}-{p}" for role in ROLES for p in PROJECTS}
        assert names >= expected and not names & {"postgres", "redis", "s3"}, f"embedded services: {sorted(names)}, expected {sorted(expected)}"
        for service in report["services"]:
            assert set(service) == {"name", "url", "healthy", "pid"}, f"{service['name']}: keys {sorted(service)}"
            assert service["healthy"], f"{service['name']} (pid {service['pid']}) unhealthy right after up"
        import httpx

        from workloads.project import load_project

        urls = {s["name"]: s["url"] for s in report["services"]}
        for name in PROJECTS:
            project = load_project(REPO / "projects" / name)
            rows = project.module("data").generate(3, seed=3, start=datetime(2026, 1, 1, tzinfo=UTC), days=1)
            reply = httpx.post(f"{urls[f'serving-{name}']}/score", json={"requests": [request_for(project.spec, rows)]}, timeout=30)
            assert reply.status_code == 200, f"serving-{name} /score: {reply.status_code} {reply.text[:300]}"
            answer = reply.json()[0]
            assert answer["model_name"] == name and answer["model_version"] == "1", (
                f"serving-{name} answered for {answer['model_name']} v{answer['model_version']}"
            )
            status_answer = httpx.post(f"{urls[f'serving-{name}']}/status", json={}, timeout=10).json()
            assert status_answer["ready"] and status_answer["models"]["champion"]["version"] == "1", f"serving-{name} /status: {status_answer}"
        # Prometheus scrapes every project's serving with the platform's own alert rules loaded
        prometheus = urls["prometheus"]
        groups = {g["name"] for g in httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]}
        assert {"sahab-serving-slo", "sahab-drift"} <= groups, f"rule groups loaded: {groups}"

        def scraped():
            targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
            return {t["labels"].get("project") for t in targets if t["labels"].get("job") == "sahab-serving" and t["health"] == "up"}

        deadline = time.time() + 60
        while scraped() != set(PROJECTS) and time.time() < deadline:
            time.sleep(1)
        assert scraped() == set(PROJECTS), (
            f"prometheus scrapes {scraped()}, not every project's serving: {httpx.get(f'{prometheus}/api/v1/targets').text[:1000]}"
        )
        env = platform_env(state)
        assert env["SAHAB_FEAST_MODE"] == "local" and env["SAHAB_MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:"), env

        # a service that dies is reported unhealthy, and status exits 1
        victim = f"feast-{PROJECTS[0]}"
        os.kill(identities[victim]["pid"], signal.SIGKILL)
        time.sleep(0.5)
        shown = sahab("status", "--state-dir", str(state), "--format", "json", timeout=120)
        feast = next(s for s in json.loads(shown.stdout)["services"] if s["name"] == victim)
        assert shown.returncode == 1 and not feast["healthy"], f"killed {victim} reported {feast}, exit {shown.returncode}"
    finally:
        stopped = sahab("down", "--state-dir", str(state), timeout=180)
    assert stopped.returncode == 0, stopped.stderr
    left = [n for n, i in identities.items() if running(i)]
    assert not left, f"still running after sahab local down: {left}"
    # feast's worker outlived its killed parent: down finds it by the run id all services carry
    assert not marked(recorded["run_id"]), f"processes of this platform left after down: {marked(recorded['run_id'])}"
    assert not (state / "state.json").exists(), "down left the state file"
    assert sahab("status", "--state-dir", str(state), "--format", "json").stdout.strip() == '{"services": []}'


def test_an_unknown_project_is_refused_naming_the_known_ones(tmp_path):
    done = sahab("up", "--embedded", "--state-dir", str(tmp_path / "local"), "--project", "no-such-model", timeout=120)
    assert done.returncode == 2, f"exit {done.returncode}: {done.stderr[-1000:]}"
    assert "--project no-such-model" in done.stderr and all(p in done.stderr for p in PROJECTS), done.stderr
    assert not (tmp_path / "local" / "state.json").exists(), "a refused up left a state file"


def test_failed_up_names_the_step_and_stops_what_it_started(tmp_path):
    state = tmp_path / "local"
    started = []
    options = LocalOptions(state_dir=state, embedded=True, prometheus=False, projects=(PROJECTS[0],), env={"SAHAB_SERVING_NO_SUCH_KNOB": "1"})
    with pytest.raises(LocalError, match=r"(?s)bootstrap-[a-z-]+ \(local job\).*SAHAB_SERVING_NO_SUCH_KNOB") as err:
        up(options, progress=started.append)
    assert any(line.startswith("mlflow: healthy") for line in started), f"mlflow never started: {started}"
    pid = int(next(line for line in started if line.startswith("mlflow: healthy")).rsplit("pid ", 1)[1].rstrip(")"))
    deadline = time.time() + 20
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE and time.time() < deadline:
        time.sleep(0.2)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, (
        f"mlflow (pid {pid}) still running after the failed up: {err.value}"
    )
    assert status(state) == {"services": []}, "a failed up left services recorded"
