"""`sahab local up | status | down` from the outside: the CLI brings up every service, `status`
reports them healthy (and notices one that died), `down` leaves none of the recorded processes
running; a failing `up` names the failing step and stops what it had started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from local_helpers import marked, running

from workloads.local import LocalError, LocalOptions, platform_env, status, up

pytestmark = [pytest.mark.slow, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
EXPECTED = {"mlflow", "feast", "serving", "control", "evaluator", "drift", "prometheus"}


def sahab(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    return subprocess.run([sys.executable, "-m", "sahab", "local", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_embedded_up_status_down_from_the_cli(tmp_path):
    state = tmp_path / "local"
    done = sahab("up", "--embedded", "--state-dir", str(state), "--rows", "8000", "--steps", "150", "--no-challenger")
    assert done.returncode == 0, f"sahab local up failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    assert "bootstrap: champion v1" in done.stdout, f"no bootstrap progress line:\n{done.stdout[-2000:]}"
    recorded = json.loads((state / "state.json").read_text())
    identities = {s["name"]: s["identity"] for s in recorded["services"]}
    try:
        shown = sahab("status", "--state-dir", str(state), "--format", "json", timeout=120)
        report = json.loads(shown.stdout)
        assert shown.returncode == 0, f"status exit {shown.returncode}: {report}"
        names = {s["name"] for s in report["services"]}
        assert names >= EXPECTED and not names & {"postgres", "redis", "s3"}, f"embedded services: {names}"
        for service in report["services"]:
            assert set(service) == {"name", "url", "healthy", "pid"}, f"{service['name']}: keys {sorted(service)}"
            assert service["healthy"], f"{service['name']} (pid {service['pid']}) unhealthy right after up"
        serving = next(s["url"] for s in report["services"] if s["name"] == "serving")
        import httpx

        answer = httpx.post(f"{serving}/status", json={}, timeout=10).json()
        assert answer["ready"] and answer["models"]["champion"]["version"] == "1", f"serving /status: {answer}"
        # Prometheus scrapes serving with the platform's own alert rules loaded
        prometheus = next(s["url"] for s in report["services"] if s["name"] == "prometheus")
        groups = {g["name"] for g in httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]}
        assert {"sahab-serving-slo", "sahab-drift"} <= groups, f"rule groups loaded: {groups}"

        def scraped():
            targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
            return [t for t in targets if t["labels"].get("job") == "sahab-serving" and t["health"] == "up"]

        deadline = time.time() + 60
        while not scraped() and time.time() < deadline:
            time.sleep(1)
        assert scraped(), f"prometheus never scraped serving: {httpx.get(f'{prometheus}/api/v1/targets').text[:1000]}"
        env = platform_env(state)
        assert env["SAHAB_FEAST_MODE"] == "local" and env["SAHAB_MLFLOW_TRACKING_URI"].startswith("http://127.0.0.1:"), env

        # a service that dies is reported unhealthy, and status exits 1
        os.kill(identities["feast"]["pid"], signal.SIGKILL)
        time.sleep(0.5)
        shown = sahab("status", "--state-dir", str(state), "--format", "json", timeout=120)
        feast = next(s for s in json.loads(shown.stdout)["services"] if s["name"] == "feast")
        assert shown.returncode == 1 and not feast["healthy"], f"killed feast reported {feast}, exit {shown.returncode}"
    finally:
        stopped = sahab("down", "--state-dir", str(state), timeout=180)
    assert stopped.returncode == 0, stopped.stderr
    left = [n for n, i in identities.items() if running(i)]
    assert not left, f"still running after sahab local down: {left}"
    # feast's worker outlived its killed parent: down finds it by the run id all services carry
    assert not marked(recorded["run_id"]), f"processes of this platform left after down: {marked(recorded['run_id'])}"
    assert not (state / "state.json").exists(), "down left the state file"
    assert sahab("status", "--state-dir", str(state), "--format", "json").stdout.strip() == '{"services": []}'


def test_failed_up_names_the_step_and_stops_what_it_started(tmp_path):
    state = tmp_path / "local"
    started = []
    options = LocalOptions(state_dir=state, embedded=True, prometheus=False, env={"SAHAB_SERVING_NO_SUCH_KNOB": "1"})
    with pytest.raises(LocalError, match=r"(?s)bootstrap \(local job\).*SAHAB_SERVING_NO_SUCH_KNOB") as err:
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
