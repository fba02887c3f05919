"""Each Azure component refuses bad arguments in its constructor, naming the field, before any child
is registered (unit mocks, no plan)."""

from __future__ import annotations

import pytest

from components import azure as c
from components.azure._common import compact_name
from components.azure.identity import READ_ACTIONS, path_condition
from components.azure.network import plan_subnets
from stacks.azure_offerings import aks_allocatable

GPU_TAINT = ({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},)


def _pool(**over) -> c.AksNodePoolArgs:
    base = dict(
        cluster_name="c",
        resource_group="rg",
        pool_name="gpu",
        vm_size="Standard_NC24ads_A100_v4",
        min_count=0,
        max_count=2,
        zones=("1",),
        node_subnet_id="s",
        taints=GPU_TAINT,
    )
    return c.AksNodePoolArgs(**{**base, **over})


def _storage(**over) -> c.StorageArgs:
    base = dict(
        environment="e",
        resource_group="rg",
        location="uaenorth",
        replication="ZRS",
        vault_uri="https://v/",
        key_name="k",
        cmk_identity_id="i",
        endpoint_subnet_id="s",
        blob_zone_id="z",
        dfs_zone_id="z",
        tags={},
    )
    return c.StorageArgs(**{**base, **over})


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: c.AksGpuNodePool("g", _pool(vm_size="Standard_D4ds_v5")), "vm_size"),
        (lambda: c.AksGpuNodePool("g", _pool(min_count=1)), "min_count"),
        (lambda: c.AksGpuNodePool("g", _pool(taints=())), "taints"),
        (lambda: c.AksGpuNodePool("g", _pool(pool_name="train-h100")), "pool_name"),
        (lambda: c.AksCpuNodePool("p", _pool(vm_size="Standard_D4ds_v5", min_count=1, taints=())), "min_count"),
        (lambda: c.AksCpuNodePool("p", _pool(vm_size="Standard_D4ds_v5", min_count=2, spot=True, taints=())), "spot"),
        (lambda: c.Storage("s", _storage(replication="RAGRS")), "replication"),
        (lambda: c.Storage("s", _storage(location="uaecentral", replication="GRS")), "replication"),
        (lambda: c.Storage("s", _storage(audit_retention_days=200000)), "audit_retention_days"),
        (lambda: c.LogAnalytics("l", c.LogAnalyticsArgs(resource_group="rg", location="uaenorth", retention_days=7, tags={})), "retention_days"),
        (lambda: c.AuditDiagnostics("a", c.AuditDiagnosticsArgs(targets={}, workspace_id="w", audit_account_id="a")), "targets"),
        (
            lambda: c.ManagedRedis(
                "r",
                c.ManagedRedisArgs(
                    environment="e",
                    resource_group="rg",
                    location="uaenorth",
                    vault_name="v",
                    key_id="k",
                    cmk_identity_id="i",
                    tags={},
                    endpoint_subnet_id="s",
                    dns_zone_id="z",
                    sku_name="cache.r6g.large",
                ),
            ),
            "sku_name",
        ),
    ],
)
def test_bad_arguments_name_the_field(unit_mocks, build, field):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value).startswith(f"{field}:"), f"expected a message naming {field}: {info.value}"


def test_subnets_fit_the_vnet_and_avoid_the_overlay():
    cidrs = plan_subnets("10.50.0.0/16")
    assert cidrs == {"nodes": "10.50.0.0/17", "endpoints": "10.50.128.0/20", "data": "10.50.144.0/20", "apiserver": "10.50.160.0/28"}
    with pytest.raises(ValueError, match="^cidr: .*overlay"):
        plan_subnets("10.244.0.0/16")


def test_compact_names_are_azure_safe():
    name = compact_name("sahab", "uae-north", "data")
    assert name.isalnum() and name.islower() and 3 <= len(name) <= 24, name
    assert name != compact_name("sahab", "uae-north", "audit"), "accounts of one environment differ"


def test_prefix_condition_limits_blob_paths():
    condition = path_condition("serving-log/", READ_ACTIONS)
    assert "StringStartsWith 'serving-log/'" in condition and "blobs/read" in condition, condition


def test_aks_allocatable_reserves_per_the_aks_formula():
    cpu, memory, gpus, pods = aks_allocatable("Standard_D4ds_v5")
    assert (cpu, gpus, pods) == (4000 - 140, 0, 250), (cpu, gpus, pods)
    assert memory == 16 * 1024 - 4096 - 100, "min(20 MiB x 250 pods + 50, 25% of 16 GiB) reserved, 100 MiB eviction"
    with pytest.raises(KeyError):
        aks_allocatable("Standard_Unknown")
