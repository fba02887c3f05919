"""`Cluster`, the live reader of the cluster part, over the Kubernetes client: a kubeconfig with a
bearer token, list calls on the API paths, Prometheus through the service proxy.

There is no API server here, so a loopback stand-in (kube_api.py) answers the list calls with the objects of
test_verify_cluster's healthy cluster (built from the plan), as an API server would (a `<Kind>List`
with `items`). What is under test is Sahab's side: the kubeconfig loaded by the real client, the
paths and the token it sends, the JSON read back, and `sahab verify` running the cluster part.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kube_api import TOKEN, FakeApi
from test_verify_cluster import healthy_cluster

from sahab.ops.verify.base import failing
from sahab.ops.verify.cluster import Cluster, cluster_checks
from sahab.ops.verify.context import promises_from_plan
from sahab.ops.verify.runner import read_junit

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fake_api(uae_plan):
    view = healthy_cluster(uae_plan.to_json())
    routes = {path: {"kind": f"{kind}List", "apiVersion": "v1", "items": view.list(kind)} for kind, path in Cluster._PATHS.items()}
    routes["/api/v1/namespaces/sahab-monitoring/services/prometheus-operated:9090/proxy/api/v1/targets"] = view.targets
    api = FakeApi(routes)
    yield api
    api.close()


@pytest.fixture(scope="module")
def api(fake_api, tmp_path_factory):
    return fake_api.kubeconfig(tmp_path_factory.mktemp("kube") / "config")


def test_live_reader_sends_the_token_and_reads_the_lists(api, fake_api, uae_plan):
    fake_api.seen.clear()
    checks = cluster_checks(promises_from_plan(uae_plan.to_json()), Cluster(str(api)))
    assert failing(checks) == {}, "the healthy cluster read over the API must pass"
    paths = {p for _, p, _ in fake_api.seen}
    assert {"/api/v1/nodes", "/api/v1/pods", "/apis/networking.k8s.io/v1/networkpolicies", "/apis/apps/v1/daemonsets"} <= paths, paths
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in fake_api.seen), "every call carries the kubeconfig's token"
    assert sum(p == "/api/v1/nodes" for _, p, _ in fake_api.seen) == 1, "each kind is listed once per run"


def test_an_api_that_refuses_is_a_failed_check_not_a_pass(api, tmp_path, uae_plan):
    wrong = tmp_path / "config"
    wrong.write_text(api.read_text().replace(TOKEN, "not-the-token"))
    with pytest.raises(RuntimeError, match=r"listing Node failed \(401\)"):
        Cluster(str(wrong)).list("Node")


@pytest.mark.slow
def test_sahab_verify_runs_the_cluster_part_with_a_kubeconfig(api, uae_plan, tmp_path):
    plan = uae_plan.to_json()
    (tmp_path / "plan.json").write_text(json.dumps(plan, default=str))
    (tmp_path / "outputs.json").write_text(json.dumps({**plan["outputs"], "kubeconfig": None}))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sahab",
            "verify",
            "uae-central",
            "--part",
            "cluster",
            "--outputs",
            str(tmp_path / "outputs.json"),
            "--plan",
            str(tmp_path / "plan.json"),
            "--kubeconfig",
            str(api),
            "--junit",
            str(tmp_path / "junit.xml"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    outcomes = read_junit(tmp_path / "junit.xml")
    cluster = [o for o in outcomes if o.part == "cluster"]
    assert len(cluster) > 20 and all(o.outcome == "passed" for o in cluster), [o for o in cluster if o.outcome != "passed"]
    assert all(o.outcome == "skipped" for o in outcomes if o.part == "cloud"), "only the part asked for runs"
