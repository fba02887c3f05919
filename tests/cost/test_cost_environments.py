"""`sahab cost` on the shipped environments and the shipped snapshot: ranges, nothing silently 0."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from sahab.cli import app
from sahab.cost import AED_PER_USD, estimate_plan, read_snapshot
from sahab.cost.snapshot import PRICES_DIR

# Billable types every AWS environment has: each must appear as priced lines, by URN.
CORE = (
    "aws:eks/nodeGroup:NodeGroup",
    "aws:ec2/natGateway:NatGateway",
    "aws:eks/cluster:Cluster",
    "aws:rds/instance:Instance",
    "aws:elasticache/replicationGroup:ReplicationGroup",
    "aws:kms/key:Key",
    "aws:s3/bucket:Bucket",
)


@pytest.mark.parametrize("path", sorted(PRICES_DIR.glob("*.json")), ids=lambda p: p.name)
def test_shipped_snapshots_are_dated_sourced_and_honest_about_confirmation(path):
    snap = read_snapshot(path)
    assert snap.region == path.stem, f"{path.name}: region {snap.region}"
    for key, entry in snap.prices.items():
        if not entry.confirmed:
            assert "not" in entry.source or "x regional_uplift_unconfirmed" in entry.source, f"{path.name} {key}: an unconfirmed price says how it was derived"
    assert "spot_discount" in snap.assumptions, f"{path.name}: the spot discount is a stated assumption"


@pytest.mark.parametrize("fixture", ["smb_plan", "uae_plan"])
def test_environment_estimate_is_a_range_with_core_resources_priced(fixture, request):
    plan = request.getfixturevalue(fixture)
    est = estimate_plan(plan)
    assert est.snapshot is not None and est.snapshot.region == "me-central-1"
    assert 0 < est.monthly_min < est.monthly_max, f"{fixture}: {est.monthly_min}..{est.monthly_max}"
    priced = {li.urn for li in est.lines}
    for r in plan.resources:
        if r.type in CORE:
            assert r.urn in priced, f"{r.urn}: a core billable resource has no priced line ({[u.reason for u in est.unpriced if u.urn == r.urn]})"
    for line in est.lines:
        assert line.monthly_max > 0 or line.count_max == 0, f"{line.urn} {line.item}: a priced line is never silently 0"
    gpu = [li for li in est.lines if li.type == "aws:eks/nodeGroup:NodeGroup" and li.item.startswith("spot")]
    assert gpu and all(li.monthly_min == 0 for li in gpu), f"{fixture}: GPU pools cost nothing idle: {[(li.name, li.monthly_min) for li in gpu]}"
    assert all("spot price assumed" in (li.assumption or "") for li in gpu), "spot lines state the discount assumption"
    assert all(len(u.reason) > 20 for u in est.unpriced), f"every unpriced entry says why: {[(u.urn, u.reason) for u in est.unpriced]}"


def test_cli_cost_json_and_md(repo, monkeypatch):
    monkeypatch.chdir(repo)
    runner = CliRunner()
    result = runner.invoke(app, ["cost", "smb", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"environment", "currency", "price_snapshot", "monthly", "lines", "unpriced"} <= set(doc)
    assert doc["environment"] == "smb" and doc["price_snapshot"]["date"]
    # Both totals are rounded to cents on their own: half a US cent times the peg (0.0184 AED) plus half a fils.
    assert doc["monthly_aed"]["max"] == pytest.approx(doc["monthly"]["max"] * AED_PER_USD, abs=0.024)
    assert sum(li["monthly"]["max"] for li in doc["lines"]) == pytest.approx(doc["monthly"]["max"], abs=0.05)
    projects = {p["project"]: p for p in doc["projects"]}
    assert set(projects) == {"transaction-risk", "delivery-time"}, f"cost json projects: {sorted(projects)}"
    assert projects["delivery-time"]["team"] == "logistics" and projects["transaction-risk"]["team"] == "risk", projects
    md = runner.invoke(app, ["cost", "smb", "--format", "md"])
    assert md.exit_code == 0 and "| `transaction-risk` | risk |" in md.stdout and "| `delivery-time` | logistics |" in md.stdout, md.stdout
    bad = runner.invoke(app, ["cost", "smb", "--format", "yaml"])
    assert bad.exit_code == 2 and "yaml" in bad.output, "a format typo is an error"


@pytest.mark.parametrize("fixture", ["smb_plan", "uae_plan"])
def test_each_project_gets_its_share_of_the_pools_and_its_own_lines(fixture, request):
    """Per-project lines: each project's pods priced at their dominant share of the node they land on
    (serving from the HPA's minimum to its maximum, training from none to a month of its GPU node),
    plus its own load balancer; allocations inside the total, which they never exceed."""
    est = estimate_plan(request.getfixturevalue(fixture))
    projects = {p.project: p for p in est.projects}
    assert set(projects) == {"transaction-risk", "delivery-time"}, f"{fixture}: projects {sorted(projects)}"
    for name, p in projects.items():
        shares = {s.workload: s for s in p.shares}
        serving = shares[f"Deployment sahab-serving/{name}-serving"]
        assert serving.pods_min >= 2 and serving.pods_max >= serving.pods_min and 0 < serving.monthly_min <= serving.monthly_max, (
            f"{fixture} {name}: serving {serving}"
        )
        assert "serving" in serving.pool and 0 < serving.node_share <= 1, f"{fixture} {name}: serving lands on {serving.pool} ({serving.node_share})"
        retrain = shares[f"CronJob sahab-training/{name}-retrain"]
        assert retrain.monthly_min == 0 < retrain.monthly_max, f"{fixture} {name}: training costs nothing idle, a month at most: {retrain}"
        assert [d for d in p.direct if d[1] == "NLB"], f"{fixture} {name}: its load balancer is its own line: {p.direct}"
        assert p.monthly_max <= est.monthly_max and p.monthly_min <= est.monthly_min, f"{fixture} {name}: a share exceeds the total"
    gpu = projects["transaction-risk"].shares
    assert any(s.pool and "train" in s.pool and "GPU" in s.item for s in gpu), (
        f"{fixture}: transaction-risk trains on a GPU pool: {[(s.workload, s.pool) for s in gpu]}"
    )
    cpu = {s.workload: s.pool for s in projects["delivery-time"].shares}
    assert "train" not in cpu["CronJob sahab-training/delivery-time-retrain"], f"{fixture}: delivery-time (LightGBM) trains on CPU nodes: {cpu}"
