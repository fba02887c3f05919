"""Connectivity: the flow matrix over the rendered NetworkPolicies, judged by network-config-analyzer
(a real analyzer, .venv-nca), and a catalogue of broken policies that must fail it."""

from __future__ import annotations

import pytest
from gate_helpers import doc, policies, workload

from sahab.gate.deployability import connectivity
from sahab.gate.deployability.connectivity import ANY, Connectivity, _conn, _covers

pytestmark = pytest.mark.slow  # runs network-config-analyzer


def _rules_to(policy: dict, cidr: str) -> list:
    return [r for r in policy["spec"].get("egress") or [] if any((t.get("ipBlock") or {}).get("cidr") == cidr for t in r.get("to") or [])]


@pytest.mark.parametrize("ctx_name", ["uae_ctx", "smb_ctx"])
def test_shipped_environments_pass_the_matrix(ctx_name, request):
    ctx = request.getfixturevalue(ctx_name)
    findings = connectivity.check(ctx)
    assert findings == [], f"{ctx_name}: " + "\n".join(f.message for f in findings)
    flows = connectivity.matrix(ctx, connectivity.all_pods(ctx))
    assert {f.policy for f in flows} >= {
        "connectivity-dns",
        "connectivity-pod-identity",
        "connectivity-imds-denied",
        "connectivity-mlflow-postgres",
        "connectivity-feast-redis",
        "connectivity-serving-mlflow",
        "connectivity-drift-pushgateway",
        "connectivity-prometheus-scrape",
        "connectivity-serving-features",
        "connectivity-project-redis",
        "connectivity-project-isolation",
    }, "the matrix covers every flow the issue lists"


def test_flows_are_checked_per_project(uae_ctx):
    """Each project's serving reaches its own feature server, never the other's; every project pod that
    reads the A/B state reaches Redis; and both directions of the isolation are in the matrix."""
    flows = connectivity.matrix(uae_ctx, connectivity.all_pods(uae_ctx))
    own = {(f.src.name, f.dst) for f in flows if f.policy == "connectivity-serving-features"}
    assert own == {
        ("transaction-risk-serving", "sahab-platform/transaction-risk-feature-server"),
        ("delivery-time-serving", "sahab-platform/delivery-time-feature-server"),
    }, own
    redis = {f.src.name for f in flows if f.policy == "connectivity-project-redis"}
    for project in ("transaction-risk", "delivery-time"):
        assert {f"{project}-serving", f"{project}-evaluator", f"{project}-retrain", f"{project}-monitoring"} <= redis, redis
    isolation = {(f.src.name, f.dst) for f in flows if f.policy == "connectivity-project-isolation"}
    assert ("delivery-time-serving", "sahab-platform/transaction-risk-feature-server") in isolation, isolation
    assert ("transaction-risk-monitoring", "sahab-serving/delivery-time-serving") in isolation, isolation


def test_a_feature_server_opened_to_every_serving_pod_fails_naming_both_projects(uae_ctx):
    """Broken variant: delivery-time's feature server admits the whole serving namespace."""
    policy = doc(uae_ctx, "sahab-platform/networkpolicy-delivery-time-feature-server.yaml")
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            peer.pop("podSelector", None)
    found = policies(connectivity.check(uae_ctx))
    assert set(found) == {"connectivity-project-isolation"}, found
    messages = found["connectivity-project-isolation"]
    assert any(
        m.startswith("sahab-serving/transaction-risk-serving (Deployment): can reach project delivery-time's feature server")
        and "project transaction-risk" in m
        for m in messages
    ), messages


def test_a_project_pod_admitting_its_whole_namespace_fails(uae_ctx):
    """Broken variant: the namespace-wide allow selects project pods too (as the baseline once did), so
    one project's serving reaches the other's control plane."""
    shared = doc(uae_ctx, "sahab-serving/networkpolicy-allow-same-namespace.yaml")
    shared["spec"]["podSelector"] = {}
    found = policies(connectivity.check(uae_ctx))
    messages = found.get("connectivity-project-isolation", [])
    assert any("transaction-risk-serving (Deployment): can reach project delivery-time's A/B control plane" in m and "TCP 3001" not in m for m in messages), (
        found
    )


def test_pod_identity_egress_removed_fails_naming_the_pod_flow_and_fix(uae_ctx):
    baseline = doc(uae_ctx, "sahab-serving/networkpolicy-allow-baseline.yaml")
    baseline["spec"]["egress"] = [r for r in baseline["spec"]["egress"] if r not in _rules_to(baseline, "169.254.170.23/32")]
    serving = workload(uae_ctx, "Deployment", "serving")[1]["metadata"]["name"]
    found = policies(connectivity.check(uae_ctx))
    assert set(found) == {"connectivity-pod-identity"}, found
    message = next(m for m in found["connectivity-pod-identity"] if f"sahab-serving/{serving} " in m)
    assert f"sahab-serving/{serving} (Deployment)" in message and "169.254.170.23" in message and "TCP 80" in message and "Fix:" in message, message


def test_imds_opened_fails(uae_ctx):
    baseline = doc(uae_ctx, "sahab-platform/networkpolicy-allow-baseline.yaml")
    for rule in _rules_to(baseline, "0.0.0.0/0"):
        for peer in rule["to"]:
            (peer.get("ipBlock") or {}).pop("except", None)
    found = policies(connectivity.check(uae_ctx))
    assert "connectivity-imds-denied" in found and any("169.254.169.254" in m and "sahab-platform/mlflow" in m for m in found["connectivity-imds-denied"]), (
        found
    )


def test_team_namespaces_opened_to_each_other_fail(uae_ctx):
    baseline = doc(uae_ctx, "sahab-team-risk/networkpolicy-allow-baseline.yaml")
    baseline["spec"]["ingress"].append({"from": [{"namespaceSelector": {}}]})
    found = policies(connectivity.check(uae_ctx))
    assert list(found) == ["connectivity-team-isolation"], found
    assert any("sahab-team-research/sahab-probe" in m and "sahab-team-risk" in m for m in found["connectivity-team-isolation"]), found


def test_mlflow_without_postgres_egress_fails(uae_ctx):
    policy = doc(uae_ctx, "sahab-platform/networkpolicy-mlflow.yaml")
    policy["spec"]["egress"] = []
    found = policies(connectivity.check(uae_ctx))
    assert "connectivity-mlflow-postgres" in found, found
    assert any("TCP 5432" in m and "10.40.96.0/22" in m for m in found["connectivity-mlflow-postgres"]), found


def test_serving_cut_off_from_mlflow_fails(uae_ctx):
    policy = doc(uae_ctx, "sahab-platform/networkpolicy-mlflow.yaml")
    for rule in policy["spec"]["ingress"]:
        rule["from"] = [
            p for p in rule["from"] if (p.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") != "sahab-serving"
        ]
    found = policies(connectivity.check(uae_ctx))
    assert list(found) == ["connectivity-serving-mlflow"], found


def test_parses_nca_connections():
    assert _conn("All connections") == ANY
    assert _conn("{protocols:TCP,dst_ports:80,443}") == {("TCP", 80), ("TCP", 443)}
    assert _conn("{protocols:UDP,dst_ports:53},{protocols:TCP,dst_ports:52-53}") == {("UDP", 53), ("TCP", 52), ("TCP", 53)}


def test_address_ranges_cover_cidrs():
    ranges = [(4, int.from_bytes(bytes([10, 0, 0, 0]), "big"), int.from_bytes(bytes([10, 0, 0, 255]), "big"))]
    assert _covers(ranges, "10.0.0.0/24") and not _covers(ranges, "10.0.0.0/23") and _covers(ranges, "10.0.0.7")
    report = Connectivity.parse(
        "a/p[Deployment] => 10.0.0.0-10.0.0.255 : {protocols:TCP,dst_ports:6379}\na/p[Deployment] => b/q[Deployment] : All connections\n"
    )
    assert report.allows("a/p", "10.0.0.0/25", ("TCP", 6379)) and not report.allows("a/p", "10.0.0.0/25", ("TCP", 5432))
    assert report.allows("a/p", "b/q", ("UDP", 53)) and not report.allows("b/q", "a/p", None)


def test_in_cluster_data_services_of_an_existing_cluster(repo):
    # cloud: kubernetes runs Redis and PostgreSQL as StatefulSets: the flows go to those pods.
    from sahab.engine.offline import plan_environment
    from sahab.gate.deployability import Context

    ctx = Context.of(plan_environment(repo, "smb-onprem"), repo / "environments" / "smb-onprem")
    flows = {(f.policy, f.dst) for f in connectivity.matrix(ctx, connectivity.all_pods(ctx))}
    assert {("connectivity-feast-redis", "sahab-platform/online-store"), ("connectivity-mlflow-postgres", "sahab-platform/registry-db")} <= flows, flows
    assert connectivity.check(ctx) == [], [f.message for f in connectivity.check(ctx)]
    doc(ctx, "sahab-platform/networkpolicy-registry-db.yaml")["spec"]["ingress"] = []
    shared = doc(ctx, "sahab-platform/networkpolicy-allow-same-namespace.yaml")
    shared["spec"]["ingress"] = []  # with the namespace's own allow gone too, the database admits nobody
    found = policies(connectivity.check(ctx))
    assert any("registry-db" in m and "TCP 5432" in m for m in found.get("connectivity-mlflow-postgres", [])), found


def test_a_missing_analyzer_is_a_mandatory_finding_not_a_pass(uae_ctx, monkeypatch, tmp_path):
    monkeypatch.setattr(connectivity, "NCA", tmp_path / "no-nca")
    found = connectivity.check(uae_ctx)
    assert [f.policy for f in found] == ["connectivity-analyzer-available"] and found[0].enforcement == "mandatory" and "scripts/setup.sh" in found[0].message
