"""The cost arithmetic, pinned on a small fixed snapshot (not the shipped one) and a hand-built plan.

Every number below is worked out by hand in the comment next to it: 730 hours a month, the spot
factor 1 - 0.5, the cheapest type for the minimum and the dearest for the maximum.
"""

from __future__ import annotations

import json

import pytest

from sahab.cost import AED_PER_USD, SnapshotError, estimate_plan, node_pools, read_snapshot

STACK = "urn:pulumi:t::sahab::pulumi:pulumi:Stack::sahab-t"
POOL = "urn:pulumi:t::sahab::sahab:aws:GpuNodePool::t-gpu"
NET = "urn:pulumi:t::sahab::sahab:aws:Network::t-net"

SNAPSHOT = {
    "cloud": "aws",
    "region": "me-central-1",
    "date": "2026-01-02",
    "source": "hand-written test snapshot",
    "hours_per_month": 730,
    "assumptions": {
        "spot_discount": {"value": 0.5, "why": "test: half price"},
        "nat_processed_gib": {"value": 10, "why": "test: ten GiB"},
        "endpoint_processed_gib": {"value": 0, "why": "test: none at all"},
        "s3_stored_gib_per_bucket": {"value": 50, "why": "test: fifty GiB"},
        "load_balancer_lcu": {"value": 2, "why": "test: two units"},
    },
    "prices": {
        "ec2:g5.xlarge": {"usd": 1.0, "unit": "hour", "confirmed": True, "source": "test price one"},
        "ec2:g5.2xlarge": {"usd": 2.0, "unit": "hour", "confirmed": False, "source": "test price two"},
        "ebs:gp3": {"usd": 0.1, "unit": "gib-month", "confirmed": True, "source": "test price ebs"},
        "rds-postgres:db.t4g.medium": {"usd": 0.1, "unit": "hour", "confirmed": True, "source": "test price rds"},
        "rds-storage:gp3": {"usd": 0.2, "unit": "gib-month", "confirmed": True, "source": "test price rds gp3"},
        "secretsmanager:secret": {"usd": 0.5, "unit": "month", "confirmed": True, "source": "test price secret"},
        "vpc:nat-hour": {"usd": 0.05, "unit": "hour", "confirmed": True, "source": "test price nat"},
        "vpc:nat-gib": {"usd": 0.05, "unit": "gib", "confirmed": True, "source": "test price nat gib"},
        "vpc:endpoint-az-hour": {"usd": 0.01, "unit": "hour", "confirmed": True, "source": "test price vpce"},
        "vpc:endpoint-gib": {"usd": 0.01, "unit": "gib", "confirmed": True, "source": "test price vpce gib"},
        "s3:standard-gib": {"usd": 0.02, "unit": "gib-month", "confirmed": True, "source": "test price s3"},
        "elb:nlb-hour": {"usd": 0.02, "unit": "hour", "confirmed": True, "source": "test price nlb"},
        "elb:nlb-lcu-hour": {"usd": 0.01, "unit": "hour", "confirmed": True, "source": "test price nlcu"},
    },
}


def res(type_, name, inputs, parent=STACK, custom=True):
    return {"urn": f"urn:pulumi:t::sahab::{type_}::{name}", "type": type_, "name": name, "parent": parent, "inputs": inputs, "custom": custom}


def plan(*resources, budget=None):
    platform = {"name": "t", "cloud": "aws", "region": "me-central-1"}
    if budget is not None:
        platform["budget"] = {"monthly_usd_max": budget}
    return {
        "config": {"sahab:platform": platform},
        "resources": [
            {"urn": STACK, "type": "pulumi:pulumi:Stack", "name": "sahab-t", "parent": "", "inputs": {}, "custom": False},
            {"urn": POOL, "type": "sahab:aws:GpuNodePool", "name": "t-gpu", "parent": STACK, "inputs": {}, "custom": False},
            {"urn": NET, "type": "sahab:aws:Network", "name": "t-net", "parent": STACK, "inputs": {}, "custom": False},
            *resources,
        ],
    }


@pytest.fixture
def prices(tmp_path):
    (tmp_path / "me-central-1.json").write_text(json.dumps(SNAPSHOT))
    return tmp_path


def line(est, name, item_start):
    found = [li for li in est.lines if li.name == name and li.item.startswith(item_start)]
    assert len(found) == 1, f"{name}: expected one line starting {item_start!r}, got {[li.item for li in est.lines if li.name == name]}"
    return found[0]


def test_spot_pool_from_zero_prices_cheapest_to_dearest_type_and_its_root_volumes(prices):
    ng = res(
        "aws:eks/nodeGroup:NodeGroup",
        "t-gpu-ng",
        {"instanceTypes": ["g5.2xlarge", "g5.xlarge"], "capacityType": "SPOT", "scalingConfig": {"minSize": 0, "maxSize": 3}},
        parent=POOL,
    )
    lt = res("aws:ec2/launchTemplate:LaunchTemplate", "t-gpu-lt", {"blockDeviceMappings": [{"ebs": {"volumeSize": 100, "volumeType": "gp3"}}]}, parent=POOL)
    est = estimate_plan(plan(ng, lt), prices_dir=prices)
    nodes = line(est, "t-gpu-ng", "spot nodes")
    # min: 0 nodes; max: 3 x 2.0 USD/h (the dearer type) x 730 h x (1 - 0.5) = 2190
    assert (nodes.monthly_min, nodes.monthly_max) == (0, pytest.approx(2190.0)), nodes
    assert nodes.price_key == "ec2:g5.xlarge..ec2:g5.2xlarge" and not nodes.confirmed, f"{nodes.urn}: key/confirmed"
    disks = line(est, "t-gpu-ng", "root volumes")
    assert (disks.monthly_min, disks.monthly_max) == (0, pytest.approx(30.0)), f"{disks.urn}: 3 x 100 GiB x 0.1"
    assert not [u for u in est.unpriced if u.name == "t-gpu-lt"], "the launch template is priced on its node group's line"
    pools = node_pools(est)
    assert [(p.name, p.nodes_max, p.monthly_max) for p in pools] == [("t-gpu-ng", 3, pytest.approx(2220.0))], "nodes + volumes of the pool that scales"


def test_multi_az_database_doubles_instance_and_storage_and_counts_its_secret(prices):
    db = res(
        "aws:rds/instance:Instance",
        "t-db",
        {
            "instanceClass": "db.t4g.medium",
            "engine": "postgres",
            "allocatedStorage": 20,
            "storageType": "gp3",
            "multiAz": True,
            "manageMasterUserPassword": True,
        },
    )
    est = estimate_plan(plan(db), prices_dir=prices)
    assert line(est, "t-db", "db.t4g.medium").monthly_max == pytest.approx(2 * 0.1 * 730), "146 = 2 x 0.1 x 730"
    assert line(est, "t-db", "storage").monthly_max == pytest.approx(2 * 20 * 0.2), "8 = 2 x 20 GiB x 0.2"
    assert line(est, "t-db", "RDS-managed master secret").monthly_max == pytest.approx(0.5)
    assert est.monthly_min == est.monthly_max == pytest.approx(146 + 8 + 0.5)


def test_network_nat_with_stated_traffic_interface_endpoint_per_az_gateway_endpoint_free(prices):
    nat = res("aws:ec2/natGateway:NatGateway", "t-nat", {}, parent=NET)
    vpce = res(
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "t-sts",
        {"vpcEndpointType": "Interface", "serviceName": "com.amazonaws.me-central-1.sts", "subnetIds": ["a", "b", "c"]},
        parent=NET,
    )
    s3 = res("aws:ec2/vpcEndpoint:VpcEndpoint", "t-s3", {"vpcEndpointType": "Gateway"}, parent=NET)
    est = estimate_plan(plan(nat, vpce, s3), prices_dir=prices)
    assert line(est, "t-nat", "NAT gateway").monthly_max == pytest.approx(36.5), "0.05 x 730"
    traffic = line(est, "t-nat", "data processed")
    assert traffic.monthly_max == pytest.approx(0.5) and "nat_processed_gib = 10" in traffic.assumption, traffic
    assert line(est, "t-sts", "interface endpoint").monthly_max == pytest.approx(3 * 0.01 * 730), "3 AZ x 0.01 x 730"
    assert not [li for li in est.lines if li.name == "t-s3"], "gateway endpoints are free"
    assert est.rollup("component") == {"sahab:aws:Network t-net": (pytest.approx(36.5 + 0.5 + 21.9), pytest.approx(36.5 + 0.5 + 21.9))}


def test_chart_volumes_count_replicas_and_a_load_balancer_service_is_an_nlb(prices):
    release = res(
        "kubernetes:helm.sh/v3:Release",
        "t-mon",
        {
            "values": {
                "prometheus": {
                    "prometheusSpec": {
                        "replicas": 2,
                        "storageSpec": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}}}},
                    }
                },
                "grafana": {"persistence": {"enabled": True, "size": "1Ti"}},
                "loki": {"persistence": {"enabled": False, "size": "99Gi"}},
            }
        },
    )
    svc = res(
        "kubernetes:core/v1:Service",
        "t-svc",
        {"metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}}, "spec": {"type": "LoadBalancer"}},
    )
    cluster_ip = res("kubernetes:core/v1:Service", "t-internal", {"spec": {"type": "ClusterIP"}})
    est = estimate_plan(plan(release, svc, cluster_ip), prices_dir=prices)
    assert line(est, "t-mon", "volume prometheus").monthly_max == pytest.approx(2 * 50 * 0.1), "2 replicas x 50 GiB x 0.1"
    assert line(est, "t-mon", "volume grafana").monthly_max == pytest.approx(1024 * 0.1), "1 Ti = 1024 GiB"
    assert not [li for li in est.lines if "loki" in li.item], "a disabled persistence block buys nothing"
    assert line(est, "t-svc", "NLB").monthly_max == pytest.approx(0.02 * 730)
    assert line(est, "t-svc", "2 NLCU").monthly_max == pytest.approx(2 * 0.01 * 730)
    assert not [li for li in est.lines if li.name == "t-internal"], "ClusterIP services are free"


def test_what_cannot_be_priced_is_listed_never_counted_as_zero(prices):
    unknown = res("aws:opensearch/domain:Domain", "t-search", {})
    no_price = res("aws:elasticache/replicationGroup:ReplicationGroup", "t-redis", {"nodeType": "cache.r7g.large", "numCacheClusters": 2})
    role = res("aws:iam/role:Role", "t-role", {})
    est = estimate_plan(plan(unknown, no_price, role), prices_dir=prices)
    reasons = {u.name: u.reason for u in est.unpriced}
    assert "no pricing rule" in reasons.get("t-search", ""), reasons
    assert "elasticache:cache.r7g.large" in reasons.get("t-redis", ""), reasons
    assert "t-role" not in reasons and not est.lines, "IAM is not billed; nothing was priced"
    assert est.monthly_max == 0 and len(est.unpriced) == 2


def test_json_contract_aed_peg_and_budget(prices):
    bucket = res("aws:s3/bucket:Bucket", "t-lake", {})
    doc = estimate_plan(plan(bucket, budget=0.5), prices_dir=prices).to_json()
    assert {"environment", "currency", "price_snapshot", "monthly", "lines", "unpriced"} <= set(doc), sorted(doc)
    assert doc["currency"] == "USD" and doc["environment"] == "t"
    assert doc["monthly"] == {"min": 1.0, "max": 1.0}, "50 GiB x 0.02"
    assert doc["monthly_aed"] == {"min": round(AED_PER_USD, 2), "max": round(AED_PER_USD, 2)}
    assert doc["price_snapshot"]["date"] == "2026-01-02" and doc["price_snapshot"]["source"] == "hand-written test snapshot"
    assert doc["budget"] == {"monthly_usd_max": 0.5, "within": False}
    assert doc["lines"][0]["assumption"].endswith("(s3_stored_gib_per_bucket = 50)")


def test_no_snapshot_for_the_region_lists_everything_unpriced(tmp_path):
    bucket = res("aws:s3/bucket:Bucket", "t-lake", {})
    est = estimate_plan(plan(bucket), prices_dir=tmp_path)
    assert est.snapshot is None and not est.lines
    assert [u.name for u in est.unpriced] == ["t-lake"] and "no price snapshot" in est.note


def test_a_malformed_snapshot_says_what_is_wrong(tmp_path):
    bad = dict(SNAPSHOT, prices={"ec2:x": {"usd": -1, "unit": "hour", "confirmed": True, "source": "negative price"}})
    path = tmp_path / "me-central-1.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(SnapshotError, match=r"prices\.ec2:x\.usd"):
        read_snapshot(path)


AZURE = {
    "cloud": "azure",
    "region": "uaenorth",
    "date": "2026-01-02",
    "source": "hand-written Azure test snapshot",
    "hours_per_month": 730,
    "assumptions": {"spot_discount": {"value": 0.5, "why": "test: half price"}, "blob_stored_gib_per_account": {"value": 100, "why": "test: a hundred GiB"}},
    "prices": {
        "vm:Standard_NC40ads_H100_v5": {"usd": 10.0, "unit": "hour", "confirmed": False, "source": "test price gpu vm"},
        "disk:premium-ssd-gib": {"usd": 0.1, "unit": "gib-month", "confirmed": False, "source": "test price disk"},
        "pgflex:Standard_D4ds_v5": {"usd": 0.5, "unit": "hour", "confirmed": False, "source": "test price pg"},
        "pgflex-storage:gib": {"usd": 0.1, "unit": "gib-month", "confirmed": False, "source": "test price pg gib"},
        "keyvault:hsm-key-advanced": {"usd": 5.0, "unit": "month", "confirmed": False, "source": "test price hsm"},
        "blob:Standard_GRS-gib": {"usd": 0.05, "unit": "gib-month", "confirmed": False, "source": "test price grs"},
    },
}


def test_azure_spot_agent_pool_zone_redundant_postgres_hsm_key_and_blob(tmp_path):
    (tmp_path / "uaenorth.json").write_text(json.dumps(AZURE))
    pool = res(
        "azure-native:containerservice:AgentPool",
        "t-h100",
        {
            "vmSize": "Standard_NC40ads_H100_v5",
            "enableAutoScaling": True,
            "minCount": 0,
            "maxCount": 2,
            "count": 0,
            "scaleSetPriority": "Spot",
            "osDiskSizeGB": 1000,
        },
    )
    pg = res(
        "azure-native:dbforpostgresql:Server",
        "t-pg",
        {"sku": {"name": "Standard_D4ds_v5", "tier": "GeneralPurpose"}, "storage": {"storageSizeGB": 256}, "highAvailability": {"mode": "ZoneRedundant"}},
    )
    key = res("azure-native:keyvault:Key", "t-key", {"properties": {"kty": "RSA-HSM", "keySize": 3072}})
    soft = res("azure-native:keyvault:Key", "t-soft", {"properties": {"kty": "RSA", "keySize": 2048}})
    account = res("azure-native:storage:StorageAccount", "t-data", {"sku": {"name": "Standard_GRS"}})
    doc = plan(pool, pg, key, soft, account)
    doc["config"]["sahab:platform"].update(cloud="azure", region="uaenorth")
    est = estimate_plan(doc, prices_dir=tmp_path)
    assert (line(est, "t-h100", "spot nodes").monthly_min, line(est, "t-h100", "spot nodes").monthly_max) == (0, pytest.approx(2 * 10 * 730 * 0.5))
    assert line(est, "t-h100", "OS disks").monthly_max == pytest.approx(2 * 1000 * 0.1)
    assert line(est, "t-pg", "Standard_D4ds_v5 x 2").monthly_max == pytest.approx(2 * 0.5 * 730), "zone-redundant HA doubles the compute"
    assert line(est, "t-pg", "storage").monthly_max == pytest.approx(2 * 256 * 0.1)
    assert line(est, "t-key", "HSM key").monthly_max == 5.0, "RSA 3072 HSM keys are the advanced price"
    assert line(est, "t-data", "blob").monthly_max == pytest.approx(100 * 0.05)
    assert [u.name for u in est.unpriced] == ["t-soft"] and "per operation" in est.unpriced[0].reason
