"""`cloud: azure` (AzurePlatformSpec): Azure's own fields and defaults, region capabilities (zones in
uaenorth, none in uaecentral, uaecentral restricted), VM size shapes, GRS rules; every refusal names
its field, and a field of another cloud is refused naming the cloud."""

from __future__ import annotations

import copy

import pytest
import yaml

from stacks.spec import load_spec
from tests.stacks.spec_helpers import has as _has
from tests.stacks.spec_helpers import problems as _problems


@pytest.fixture
def raw(repo) -> dict:
    doc = yaml.safe_load((repo / "environments" / "uae-north" / "Pulumi.uae-north.yaml").read_text())
    return copy.deepcopy(doc["config"]["sahab:platform"])


def test_shipped_environment_is_valid(raw):
    spec = load_spec(raw)
    assert (spec.cloud, spec.region, spec.availability_zones) == ("azure", "uaenorth", ("1", "2", "3"))
    assert spec.kubernetes.autoscaler == "cluster-autoscaler" and spec.storage.replication == "GRS"


def test_azure_defaults_are_azures_own(raw):
    for key in ("databases",):
        raw.pop(key)
    raw["kubernetes"].pop("autoscaler")
    spec = load_spec(raw)
    assert spec.databases.registry.sku == "Standard_D4ds_v5", "an Azure flexible-server size, not db.r6g.large"
    assert spec.databases.online_store.sku == "Balanced_B5", "an Azure Managed Redis SKU, not cache.r6g.large"
    assert spec.kubernetes.autoscaler == "cluster-autoscaler", "AKS scales its pools itself"
    assert spec.gpu_pools[0].machine_types == ("Standard_NC40ads_H100_v5",), "gpu_pools[0].vm_size: one VM size per AKS pool"
    assert "instance_types" not in type(spec.gpu_pools[0]).model_fields, "an AKS pool has no EC2 instance types field"


def test_uaecentral_is_restricted_and_has_no_zones(raw):
    raw.update(region="uaecentral", residency={"allowed_regions": ["uaecentral"]})
    problems = _problems(raw)
    assert _has(problems, "region", "restricted", "azure.restricted_region_access"), problems
    assert _has(problems, "network.az_count", "uaecentral has 0 availability zones"), problems
    assert _has(problems, "storage.replication", "GRS from uaecentral"), problems
    assert _has(problems, "databases.registry.multi_az", "no availability zones"), problems


def test_uaecentral_with_access_and_lrs_is_valid(raw):
    raw.update(region="uaecentral", residency={"allowed_regions": ["uaecentral"]})
    raw["azure"]["restricted_region_access"] = True
    raw["network"].pop("az_count")
    raw["storage"]["replication"] = "LRS"
    raw["databases"]["registry"]["multi_az"] = False
    spec = load_spec(raw)
    assert spec.availability_zones == (), "uaecentral has no zones: pools and services are not zonal"


def test_zrs_needs_zones(raw):
    raw.update(region="uaecentral", residency={"allowed_regions": ["uaecentral"]})
    raw["azure"]["restricted_region_access"] = True
    raw["storage"]["replication"] = "ZRS"
    assert _has(_problems(raw), "storage.replication", "ZRS needs availability zones"), "ZRS in a region without zones"


def test_grs_never_for_health_data(raw):
    raw["tags"]["data_classification"] = "health"
    raw["storage"]["audit_retention_days"] = 9125
    assert _has(_problems(raw), "storage.replication", "health data"), "GRS with health data"


def test_grs_needs_the_pair_allowed(raw):
    raw["residency"]["allowed_regions"] = ["uaenorth"]
    assert _has(_problems(raw), "storage.replication", "uaecentral", "residency.allowed_regions"), "GRS to a pair residency does not allow"


def test_aws_shapes_are_refused_on_azure(raw):
    raw["gpu_pools"][0]["vm_size"] = "p5en.48xlarge"
    raw["inference_tiers"][1]["vm_size"] = "Standard_NC24ads_A100_v4"
    raw["inference_tiers"][0]["instance_types"] = ["Standard_F8s_v2", "Standard_F16s_v2"]
    raw["databases"]["registry"]["sku"] = "db.r6g.large"
    raw["databases"]["online_store"]["sku"] = "cache.r6g.large"
    raw["kubernetes"]["autoscaler"] = "karpenter"
    raw["cluster"]["admin_role_arns"] = ["arn:aws:iam::111122223333:role/admin"]
    problems = _problems(raw)
    assert _has(problems, "gpu_pools[0].vm_size", "p5en.48xlarge", "GPU"), problems
    assert _has(problems, "inference_tiers[1].vm_size", "Standard_NC24ads_A100_v4", "CPU"), problems
    assert _has(problems, "inference_tiers[0].instance_types", "unknown key for cloud: azure", "one VM size", "vm_size"), problems
    assert _has(problems, "databases.registry.sku", "db.r6g.large", "flexible server"), problems
    assert _has(problems, "databases.online_store.sku", "cache.r6g.large", "Managed Redis"), problems
    assert _has(problems, "kubernetes.autoscaler", "Karpenter"), problems
    assert _has(problems, "cluster.admin_role_arns", "unknown key for cloud: azure", "Entra ID"), problems


@pytest.mark.parametrize(
    ("where", "key", "value", "words"),
    [
        ("databases.registry", "instance_class", "db.r6g.large", ["unknown key for cloud: azure", "sku"]),
        ("databases.online_store", "node_type", "cache.r6g.large", ["unknown key for cloud: azure", "sku"]),
        ("cluster", "deployer", {"role_arn": "arn:aws:iam::111122223333:role/d", "cidrs": ["10.61.0.0/22"]}, ["unknown key for cloud: azure", "VNet"]),
        ("cluster", "create_service_linked_roles", False, ["unknown key for cloud: azure", "cloud: aws"]),
        ("network", "nat", "single", ["unknown key for cloud: azure", "cloud: aws"]),
        ("storage", "force_destroy", True, ["unknown key for cloud: azure", "cloud: aws"]),
        ("kubernetes", "access", {"auditor_role_arns": ["arn:aws:iam::111122223333:role/a"]}, ["unknown key for cloud: azure", "azure.access_groups"]),
    ],
)
def test_eks_only_fields_are_refused_on_azure(raw, where, key, value, words):
    node = raw
    for part in where.split("."):
        node = node.setdefault(part, {})
    node[key] = value
    problems = _problems(raw)
    assert _has(problems, f"{where}.{key}", *words), problems


def test_aks_pool_names(raw):
    raw["gpu_pools"][0]["name"] = "train-h100"
    assert _has(_problems(raw), "gpu_pools[0].name", "no '-'"), "AKS pool names have no dashes"


def test_azure_block_required_and_validated(raw):
    block = raw.pop("azure")
    assert _has(_problems(raw), "azure", "admin_group_object_ids"), "cloud: azure without azure:"
    raw["azure"] = {**block, "admin_group_object_ids": ["not-a-guid"]}
    assert _has(_problems(raw), "azure.admin_group_object_ids", "GUID"), "admin groups are object ids"


def test_azure_only_fields_refused_on_aws(repo):
    doc = yaml.safe_load((repo / "environments" / "uae-central" / "Pulumi.uae-central.yaml").read_text())
    raw = copy.deepcopy(doc["config"]["sahab:platform"])
    raw["azure"] = {"admin_group_object_ids": ["00000000-0000-4000-8000-000000000001"]}
    raw["storage"]["replication"] = "GRS"
    raw["gpu_pools"][0]["vm_size"] = "Standard_NC40ads_H100_v5"
    problems = _problems(raw)
    assert _has(problems, "azure", "unknown key for cloud: aws", "cloud: azure"), problems
    assert _has(problems, "storage.replication", "unknown key for cloud: aws", "Azure setting"), problems
    assert _has(problems, "gpu_pools[0].vm_size", "unknown key for cloud: aws", "cloud: azure"), problems


def test_public_endpoint_refused(raw):
    raw["cluster"].update(public_endpoint=True, public_access_cidrs=["203.0.113.0/24"])
    assert _has(_problems(raw), "cluster.public_endpoint", "unknown key for cloud: azure", "private cluster"), "AKS here is private only"


def test_access_groups_are_roles_with_object_ids(raw):
    raw["azure"]["access_groups"] = {"data-scientist": "00000000-0000-4000-8000-000000000002"}
    assert _has(_problems(raw), "azure.access_groups.data-scientist", "platform-admin"), "unknown role"
    raw["azure"]["access_groups"] = {"auditor": "auditors"}
    assert _has(_problems(raw), "azure.access_groups", "GUID"), "group ids are object ids"
