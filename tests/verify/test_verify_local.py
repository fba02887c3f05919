"""`sahab verify local` against a running local platform (`sahab local up` on real PostgreSQL,
Redis and moto S3): every check passes; then serving is killed and verification fails, naming it.
The same platform also stands behind a stand-in API server's service proxy, for the cluster's
workloads part."""

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

from sahab.ops.verify.runner import read_junit

pytestmark = [pytest.mark.slow, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
PROJECT = "delivery-time"


def _sahab(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    return subprocess.run([sys.executable, "-m", "sahab", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    state = tmp_path_factory.mktemp("verify-local") / "local"
    up = _sahab("local", "up", "--state-dir", str(state), "--project", PROJECT, "--rows", "3000", "--no-challenger", timeout=900)
    try:
        assert up.returncode == 0, f"sahab local up failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}"
        # The monitoring schedule runs at once; its first run's outcome is what verify reads.
        status = state / "logs" / f"monitoring-{PROJECT}.status.json"
        deadline = time.time() + 240
        while not status.exists() and time.time() < deadline:
            time.sleep(2)
        assert status.exists(), (
            f"the monitoring job never finished a run: {(state / 'logs' / f'monitoring-{PROJECT}.log').read_text(errors='replace')[-2000:] if (state / 'logs' / f'monitoring-{PROJECT}.log').exists() else 'no log'}"
        )
        yield state
    finally:
        _sahab("local", "down", "--state-dir", str(state), timeout=180)


# Runs first: the next test kills serving.
def test_cluster_workloads_part_reaches_the_services_through_the_api_proxy(platform, uae_plan, tmp_path):
    """The cluster's workloads part (MLflow, serving, the drift CronJob) through the API server's
    service proxy, with the proxy forwarding to this platform's real MLflow and serving."""
    from kube_api import FakeApi

    from sahab.ops.verify.base import failing
    from sahab.ops.verify.context import promises_from_plan
    from sahab.ops.verify.parts import checks_for

    services = {s["name"]: s["url"] for s in json.loads((platform / "state.json").read_text())["services"]}
    promises = promises_from_plan(uae_plan.to_json())
    proxies = {}
    for name, local_name in (("mlflow", "mlflow"), (f"{PROJECT}-serving", f"serving-{PROJECT}")):
        ns, rest = promises.services[name].split("/", 1)
        svc, port = rest.split(":")
        proxies[f"/api/v1/namespaces/{ns}/services/{svc}:{port}/proxy"] = services[local_name]
    ns, cron = promises.drift_cronjob.split("/")
    routes = {
        "/apis/batch/v1/cronjobs": {"kind": "CronJobList", "items": [{"metadata": {"name": cron, "namespace": ns}}]},
        "/apis/batch/v1/jobs": {
            "kind": "JobList",
            "items": [
                {
                    "metadata": {"name": f"{cron}-29412345", "namespace": ns, "ownerReferences": [{"kind": "CronJob", "name": cron}]},
                    "status": {"startTime": "2026-12-01T22:00:00Z", "conditions": [{"type": "Complete", "status": "True"}]},
                }
            ],
        },
    }
    api = FakeApi(routes, proxies)
    try:
        plan_file = tmp_path / "plan.json"
        plan_file.write_text(json.dumps(uae_plan.to_json(), default=str))
        ctx = {
            "target": "uae-central",
            "plan": str(plan_file),
            "outputs": {**uae_plan.outputs, "kubeconfig": None},
            "kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig")),
            "repo": str(REPO),
            "model_name": PROJECT,
        }
        checks = checks_for("workloads", ctx)
        assert [c.id for c in checks] == [
            "workloads-mlflow-answers",
            "workloads-mlflow-champion",
            "workloads-serving-ready",
            "workloads-serving-scores",
            "workloads-drift-last-run",
        ]
        assert failing(checks) == {}, "MLflow, serving and the drift job answer through the service proxy"
        ns, rest = promises.services[f"{PROJECT}-serving"].split("/", 1)
        assert ("POST", f"/api/v1/namespaces/{ns}/services/{rest}/proxy/score") in {(m, p) for m, p, _ in api.seen}, api.seen
    finally:
        api.close()


def test_verify_local_passes_then_fails_when_serving_dies(platform, tmp_path):
    ok = _sahab("verify", "local", "--state-dir", str(platform), "--junit", str(tmp_path / "ok.xml"), "--report", str(tmp_path / "ok"), timeout=300)
    outcomes = read_junit(tmp_path / "ok.xml")
    assert ok.returncode == 0, f"sahab verify local must pass on a running platform:\n{ok.stdout[-4000:]}\n{[o for o in outcomes if o.outcome == 'failed']}"
    ran = {o.check for o in outcomes if o.outcome == "passed"}
    assert {
        "workloads-mlflow-answers",
        "workloads-mlflow-champion",
        "workloads-serving-ready",
        "workloads-serving-scores",
        "workloads-drift-last-run",
        "local-service-healthy",
        "local-processes-alive-and-listening",
    } <= ran, f"checks that passed: {sorted(ran)}"
    assert {o.part for o in outcomes if o.outcome == "skipped"} == {"cloud", "cluster"}, "only the parts without a cloud or a cluster are skipped"
    assert "**Result: PASSED**" in (tmp_path / "ok" / "verify-report.md").read_text()

    serving = next(s for s in json.loads((platform / "state.json").read_text())["services"] if s["name"] == f"serving-{PROJECT}")
    # The whole service: BentoML's workers hold the listening socket too (killing only the parent
    # leaves them answering, which verify reports as the recorded process being gone).
    parent = psutil.Process(serving["identity"]["pid"])
    doomed = [parent, *parent.children(recursive=True)]
    for proc in doomed:
        proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(doomed, timeout=10)
    bad = _sahab("verify", "local", "--state-dir", str(platform), "--junit", str(tmp_path / "bad.xml"), timeout=300)
    assert bad.returncode == 1, f"a dead serving process must fail verification:\n{bad.stdout[-3000:]}"
    failed = {(o.check, o.subject): o.detail for o in read_junit(tmp_path / "bad.xml") if o.outcome == "failed"}
    assert ("local-service-healthy", f"serving-{PROJECT}") in failed, f"the serving service must be named: {failed}"
    assert ("workloads-serving-ready", serving["url"]) in failed and ("workloads-serving-scores", serving["url"]) in failed, failed
    assert not any(check.startswith("workloads-mlflow") for check, _ in failed), f"MLflow still answers: {failed}"
