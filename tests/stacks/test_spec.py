"""The environment spec: one model per cloud (discriminated on `cloud`, aws when absent); shipped
environments load; every kind of bad input is named by path, a key of another cloud with that cloud."""

from __future__ import annotations

import copy

import pytest
import yaml
from pydantic import ValidationError

from stacks.spec import (
    HEALTH_RETENTION_DAYS,
    PLATFORM_SPEC,
    AwsPlatformSpec,
    AzurePlatformSpec,
    ElastiCacheSpec,
    KubernetesPlatformSpec,
    RdsSpec,
    SpecError,
    load_spec,
)
from tests.stacks.spec_helpers import has as _has
from tests.stacks.spec_helpers import problems as _problems


def _env(repo, env: str) -> dict:
    doc = yaml.safe_load((repo / "environments" / env / f"Pulumi.{env}.yaml").read_text())
    return doc["config"]["sahab:platform"]


@pytest.fixture
def raw(repo) -> dict:
    return copy.deepcopy(_env(repo, "uae-central"))


@pytest.mark.parametrize("env", ["uae-central", "smb"])
def test_shipped_environments_are_valid(repo, env):
    spec = load_spec(_env(repo, env))
    assert spec.name == env
    assert spec.region == "me-central-1"
    assert spec.allowed_regions == ("me-central-1",)
    assert all(p.min_size == 0 for p in spec.gpu_pools), "shipped GPU pools must scale from 0"


def test_spec_is_frozen(repo):
    spec = load_spec(_env(repo, "smb"))
    with pytest.raises(ValidationError):
        spec.region = "me-south-1"  # type: ignore[misc]  # assigning a frozen field is the point


def test_unknown_key_is_named(raw):
    raw["netwrok"] = {}
    raw["cluster"]["private_endpiont"] = True
    problems = _problems(raw)
    assert _has(problems, "netwrok", "unknown key"), problems
    assert _has(problems, "cluster.private_endpiont", "unknown key"), problems


def test_bahrain_is_not_the_uae(raw):
    raw["region"] = "me-south-1"
    problems = _problems(raw)
    assert _has(problems, "region", "Bahrain", "me-central-1"), problems


def test_region_outside_residency_allow_list(raw):
    raw["residency"]["allowed_regions"] = ["uaenorth"]
    problems = _problems(raw)
    assert _has(problems, "region", "outside residency.allowed_regions"), problems


def test_residency_allow_list_only_takes_uae_regions(raw):
    raw["residency"]["allowed_regions"] = ["me-central-1", "eu-west-1"]
    problems = _problems(raw)
    assert _has(problems, "residency.allowed_regions", "eu-west-1", "not a UAE region"), problems


def test_gpu_type_not_offered_in_region(raw):
    raw["gpu_pools"][1]["instance_types"] = ["g6.12xlarge", "p4d.24xlarge"]
    problems = _problems(raw)
    assert _has(problems, "gpu_pools[1].instance_types[1]", "p4d.24xlarge", "not a GPU type offered in me-central-1"), problems
    assert not any(p.startswith("gpu_pools[1].instance_types[0]") for p in problems), problems


def test_min_greater_than_max(raw):
    raw["gpu_pools"][0].update(min_size=3, max_size=1)
    problems = _problems(raw)
    assert _has(problems, "gpu_pools[0]", "min_size (3) is greater than max_size (1)"), problems


def test_gpu_pool_without_gpu_taint_is_refused(raw):
    raw["gpu_pools"][0]["taints"] = [{"key": "dedicated", "value": "training", "effect": "NoSchedule"}]
    problems = _problems(raw)
    assert _has(problems, "gpu_pools[0]", "nvidia.com/gpu"), problems


def test_inference_tier_needs_two_nodes(raw):
    raw["inference_tiers"][0]["min_size"] = 1
    problems = _problems(raw)
    assert _has(problems, "inference_tiers[0].min_size", "greater than or equal to 2", "got 1"), problems


def test_unknown_cpu_family(raw):
    raw["inference_tiers"][0]["instance_types"] = ["x2iedn.32xlarge"]
    problems = _problems(raw)
    assert _has(problems, "inference_tiers[0].instance_types[0]", "x2iedn.32xlarge", "not a CPU family"), problems


def test_public_endpoint_needs_cidrs_and_never_the_world(raw):
    raw["cluster"]["public_endpoint"] = True
    assert _has(_problems(raw), "cluster", "public_access_cidrs"), "public endpoint without CIDRs must fail"
    raw["cluster"]["public_access_cidrs"] = ["0.0.0.0/0"]
    assert _has(_problems(raw), "cluster", "whole internet")
    raw["cluster"]["public_access_cidrs"] = ["203.0.113.0/24"]
    assert load_spec(raw).cluster.public_endpoint is True


@pytest.mark.parametrize(
    ("cidr", "words"),
    [("10.0.0.0/8", ["/16 to /20"]), ("8.8.0.0/16", ["private"]), ("10.40.0.1/16", ["not a CIDR"]), ("banana", ["not a CIDR"])],
)
def test_bad_network_cidr(raw, cidr, words):
    raw["network"]["cidr"] = cidr
    assert _has(_problems(raw), "network.cidr", *words)


def test_health_data_needs_25_years_of_audit(raw):
    raw["tags"]["data_classification"] = "health"
    problems = _problems(raw)
    assert _has(problems, "storage.audit_retention_days", str(HEALTH_RETENTION_DAYS), "ICT Health Law"), problems
    raw["storage"]["audit_retention_days"] = HEALTH_RETENTION_DAYS
    assert load_spec(raw).tags.data_classification == "health"


def test_bad_data_classification_lists_allowed_values(raw):
    raw["tags"]["data_classification"] = "secret"
    problems = _problems(raw)
    assert _has(problems, "tags.data_classification", "'health'", "got 'secret'"), problems


def test_every_problem_is_reported_at_once(raw):
    raw["name"] = "X"
    raw["region"] = "me-south-1"
    raw["network"]["az_count"] = 7
    raw["inference_tiers"][0]["min_size"] = 0
    raw["bogus"] = 1
    problems = _problems(raw)
    for path in ("name", "region", "network.az_count", "inference_tiers[0].min_size", "bogus"):
        assert any(p.startswith(f"{path}:") for p in problems), f"{path} not reported in {problems}"


def test_duplicate_pool_names(raw):
    raw["gpu_pools"][1]["name"] = raw["gpu_pools"][0]["name"]
    assert _has(_problems(raw), "gpu_pools[1].name", "used twice")


def test_not_a_mapping():
    with pytest.raises(SpecError, match="expected an object"):
        load_spec(["not", "a", "mapping"])


def test_model_rejects_extra_keys_directly():
    with pytest.raises(ValidationError):
        PLATFORM_SPEC.validate_python({"name": "abc", "region": "me-central-1", "tags": {}, "inference_tiers": [], "x": 1})
    with pytest.raises(ValidationError):
        AwsPlatformSpec.model_validate({"name": "abc", "region": "me-central-1", "tags": {}, "inference_tiers": [], "x": 1})


def test_cloud_picks_the_model_and_defaults_to_aws(repo):
    raw = _env(repo, "smb")
    raw.pop("cloud")
    assert type(load_spec(raw)) is AwsPlatformSpec, "a spec without `cloud` is an AWS one"
    assert type(load_spec(_env(repo, "uae-north"))) is AzurePlatformSpec, "environments/uae-north: cloud: azure"
    assert type(load_spec(_env(repo, "smb-onprem"))) is KubernetesPlatformSpec, "environments/smb-onprem: cloud: kubernetes"
    assert isinstance(PLATFORM_SPEC.validate_python(_env(repo, "uae-central")), AwsPlatformSpec), "the TypeAdapter is the same union"


def test_an_unknown_cloud_is_named_with_the_choices(raw):
    raw["cloud"] = "gcp"
    problems = _problems(raw)
    assert problems == ["cloud: 'gcp' is not a cloud of this release; use one of ['aws', 'azure', 'kubernetes'] (aws when absent)"], problems


def test_defaults_are_each_clouds_own(repo):
    aws = load_spec(_env(repo, "uae-central"))
    assert (aws.kubernetes.autoscaler, aws.cluster.private_endpoint) == ("karpenter", True), "EKS defaults: Karpenter, private endpoint"
    assert (RdsSpec().instance_class, ElastiCacheSpec().node_type) == ("db.r6g.large", "cache.r6g.large"), "RDS / ElastiCache defaults"
    assert "vm_size" not in type(aws.gpu_pools[0]).model_fields, "an EKS pool has EC2 instance types, no VM size"


@pytest.mark.parametrize(
    ("key", "value", "path", "words"),
    [
        ("azure", {"admin_group_object_ids": ["00000000-0000-4000-8000-000000000001"]}, "azure", ["unknown key for cloud: aws", "cloud: azure"]),
        ("onprem", {"registry_host": "registry.example.ae"}, "onprem", ["unknown key for cloud: aws", "cloud: kubernetes"]),
    ],
)
def test_another_clouds_block_is_refused_naming_that_cloud(raw, key, value, path, words):
    raw[key] = value
    problems = _problems(raw)
    assert _has(problems, path, *words), problems


def test_another_clouds_pool_field_is_refused_with_its_path(raw):
    raw["gpu_pools"][0]["vm_size"] = "Standard_NC40ads_H100_v5"
    problems = _problems(raw)
    assert _has(problems, "gpu_pools[0].vm_size", "unknown key for cloud: aws", "cloud: azure"), problems


def test_resource_tags_are_the_neutral_tag_set(repo):
    tags = load_spec(_env(repo, "smb")).tags.resource_tags()
    assert tags == {"owner": "it@smb.example.ae", "cost-center": "SMB-ML", "data-classification": "internal", "managed-by": "sahab"}, tags
