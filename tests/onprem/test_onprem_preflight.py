"""`sahab preflight` of an existing cluster: the real Kubernetes client against a fake API server on
loopback (k3s-shaped answers), and the verdicts on the smb-onprem spec."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from sahab.ops.preflight.onprem import PreflightError, gather, judge, preflight, quantity
from stacks.spec import load_spec
from tests.conftest import REPO

VERSION = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.4+k3s1",
    "gitCommit": "x",
    "gitTreeState": "clean",
    "buildDate": "2026-08-01T00:00:00Z",
    "goVersion": "go1.24",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def node(name, cpu="8", memory="32Gi", disk="250Gi", ready="True", taints=(), gpus=None):
    alloc = {"cpu": cpu, "memory": memory, "ephemeral-storage": disk, "pods": "110", **({"nvidia.com/gpu": gpus} if gpus else {})}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {"taints": list(taints)},
        "status": {"allocatable": alloc, "capacity": alloc, "conditions": [{"type": "Ready", "status": ready}]},
    }


def storage_class(name, provisioner):
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name}, "provisioner": provisioner}


@pytest.fixture
def api_server():
    """A loopback HTTP server answering /version, nodes and storage classes like a k3s API server."""
    state = {"nodes": [node("office-1", cpu="7800m", memory="31Gi")], "classes": [storage_class("local-path", "rancher.io/local-path")], "seen": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["seen"].append(self.path.split("?")[0])
            path = self.path.split("?")[0].rstrip("/")
            body = {
                "/version": VERSION,
                "/api/v1/nodes": {"apiVersion": "v1", "kind": "NodeList", "metadata": {}, "items": state["nodes"]},
                "/apis/storage.k8s.io/v1/storageclasses": {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClassList",
                    "metadata": {},
                    "items": state["classes"],
                },
            }.get(path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {"kind": "Status", "code": 404}).encode())

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def kubeconfig(tmp_path, server: str):
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "office",
                "clusters": [{"name": "office", "cluster": {"server": server}}],
                "users": [{"name": "admin", "user": {"token": "offline-test-token"}}],
                "contexts": [{"name": "office", "context": {"cluster": "office", "user": "admin"}}],
            }
        )
    )
    return path


def spec(**minimum):
    raw = yaml.safe_load((REPO / "environments" / "smb-onprem" / "Pulumi.smb-onprem.yaml").read_text())["config"]["sahab:platform"]
    raw["onprem"]["minimum"].update(minimum)
    return load_spec(raw)


def levels(results):
    return {r.check: r.level for r in results}


def test_quantities():
    assert quantity("7800m") == pytest.approx(7.8) and quantity("31Gi") == 31 * 2**30 and quantity("1k") == 1000 and quantity("2") == 2


def test_a_cluster_that_is_big_enough_passes_except_where_it_is_not(api_server, tmp_path):
    facts = gather(str(kubeconfig(tmp_path, api_server["url"])))
    assert facts.version == (1, 33) and facts.provisioners == {"rancher.io/local-path"}, facts
    assert {"/version", "/api/v1/nodes", "/apis/storage.k8s.io/v1/storageclasses"} <= set(p.rstrip("/") for p in api_server["seen"])
    results = judge(spec(), facts)
    got = levels(results)
    # 7.8 allocatable cores and 31 GiB on one node: under the 8 cores / 32 GiB minimum.
    assert got == {"kubernetes-version": "pass", "nodes": "pass", "cpu": "fail", "memory": "fail", "disk": "pass", "storage": "pass"}, results
    cpu = next(r for r in results if r.check == "cpu")
    assert cpu.message.startswith("7.8 allocatable CPU cores, the platform needs at least 8") and "Fix:" in cpu.message


def test_tainted_or_not_ready_nodes_do_not_count_and_gpus_are_checked(api_server, tmp_path):
    api_server["nodes"] = [
        node("office-1", cpu="16", memory="64Gi"),
        node("office-2", cpu="16", memory="64Gi", ready="False"),
        node("office-3", cpu="16", memory="64Gi", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    ]
    results = judge(spec(nodes=2, gpus=1), gather(str(kubeconfig(tmp_path, api_server["url"]))))
    got = levels(results)
    assert got["nodes"] == "fail" and got["gpus"] == "fail" and got["cpu"] == "pass", results
    nodes = next(r for r in results if r.check == "nodes")
    assert "office-2 (not Ready)" in nodes.message and "office-3 (tainted dedicated=db:NoSchedule)" in nodes.message, nodes.message


def test_missing_provisioner_and_old_version_fail_with_the_fix(api_server, tmp_path):
    api_server["classes"] = [storage_class("longhorn", "driver.longhorn.io")]
    facts = gather(str(kubeconfig(tmp_path, api_server["url"])))
    old = type(facts)(**{**facts.__dict__, "version": (1, 31), "git_version": "v1.31.9+k3s1"})
    results = {r.check: r for r in judge(spec(), old)}
    assert results["storage"].level == "fail" and "driver.longhorn.io" in results["storage"].message, results["storage"]
    assert results["kubernetes-version"].level == "fail" and "older than onprem.kubernetes_version 1.33" in results["kubernetes-version"].message


def test_offline_it_refuses_clearly(tmp_path):
    with pytest.raises(PreflightError, match="does not exist.*cannot run offline"):
        gather(str(tmp_path / "absent.yaml"))
    with pytest.raises(PreflightError, match=r"cannot ask the cluster at http://127\.0\.0\.1:9.*offline there is nothing to check"):
        gather(str(kubeconfig(tmp_path, "http://127.0.0.1:9")), timeout=2)
    with pytest.raises(PreflightError, match="does not exist"):
        preflight(spec())  # the shipped kubeconfig path is the customer's, not this machine's
