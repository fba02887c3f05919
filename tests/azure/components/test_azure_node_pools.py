"""AksGpuNodePool and AksCpuNodePool on their own: user pools of the asked VM size, Linux on managed
OS disks with encryption at host, autoscaled with the autoscaler owning the count. GPU pools: N-family
sizes only, from 0, tainted `nvidia.com/gpu=present:NoSchedule`, the NVIDIA driver installed by AKS
on Ubuntu, spot when asked (evicted by deletion, never on price). CPU pools: on-demand over the zones,
at least 2 nodes. A CPU size for a GPU pool, a GPU pool above 0 and a spot serving pool are refused."""

from __future__ import annotations

import pytest

from components.azure.node_pools import AksCpuNodePool, AksGpuNodePool, AksNodePoolArgs
from components.constants import GPU_TAINT
from tests.components.component_helpers import Built, build, expect, expect_all, refused

POOL = "azure-native:containerservice:AgentPool"


def _args(**over) -> AksNodePoolArgs:
    base = dict(
        cluster_name="sahab-unit",
        resource_group="sahab-unit-platform",
        pool_name="train",
        vm_size="Standard_NC24ads_A100_v4",
        min_count=0,
        max_count=4,
        zones=("1", "2", "3"),
        node_subnet_id="/sn/nodes",
        disk_gib=256,
        spot=True,
        labels={"sahab.ae/pool": "train"},
        taints=(GPU_TAINT,),
        tags={"sahab.ae/env": "unit"},
    )
    return AksNodePoolArgs(**{**base, **over})


@pytest.fixture(scope="module")
def gpu() -> Built:
    return build(lambda: AksGpuNodePool("train", _args()))


@pytest.fixture(scope="module")
def cpu() -> Built:
    return build(
        lambda: AksCpuNodePool("serve", _args(pool_name="serve", vm_size="Standard_D8ds_v5", min_count=3, max_count=9, spot=False, taints=(), labels={}))
    )


@pytest.mark.parametrize("fixture", ["gpu", "cpu"])
def test_pools_are_hardened_user_pools_the_autoscaler_sizes(fixture: str, request: pytest.FixtureRequest):
    built: Built = request.getfixturevalue(fixture)
    (pool,) = built.of_type(POOL)
    expect_all(
        pool,
        {
            "mode": "User",
            "osType": "Linux",
            "osDiskType": "Managed",
            "enableEncryptionAtHost": True,
            "enableAutoScaling": True,
            "resourceName": "sahab-unit",
            "vnetSubnetID": "/sn/nodes",
            "availabilityZones": ["1", "2", "3"],
        },
    )
    assert pool.options.get("ignoreChanges") == ["count"], f"{pool.urn}: ignoreChanges {pool.options.get('ignoreChanges')} (the autoscaler owns the count)"


def test_gpu_pool_is_tainted_spot_from_zero_with_the_driver(gpu: Built):
    pool = gpu.child("train-pool", POOL)
    expect_all(
        pool,
        {
            "agentPoolName": "train",
            "vmSize": "Standard_NC24ads_A100_v4",
            "minCount": 0,
            "count": 0,
            "maxCount": 4,
            "nodeTaints": ["nvidia.com/gpu=present:NoSchedule"],
            "nodeLabels": {"sahab.ae/pool": "train"},
            "gpuProfile": {"driver": "Install"},
            "osSKU": "Ubuntu",
            "osDiskSizeGB": 256,
            "scaleSetPriority": "Spot",
            "scaleSetEvictionPolicy": "Delete",
            "spotMaxPrice": -1,
        },
    )


def test_cpu_pool_is_on_demand_and_untainted(cpu: Built):
    pool = cpu.child("serve-pool", POOL)
    expect(pool, "scaleSetPriority", "Regular")
    expect(pool, "minCount", 3)
    expect(pool, "vmSize", "Standard_D8ds_v5")
    expect(pool, "osSKU", "AzureLinux")
    expect(pool, "upgradeSettings.maxSurge", "33%")
    for field in ("nodeTaints", "gpuProfile", "scaleSetEvictionPolicy", "spotMaxPrice"):
        assert field not in pool.inputs, f"{pool.urn}: {field} = {pool.inputs[field]!r} on an on-demand CPU pool"


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: AksGpuNodePool("g", _args(vm_size="Standard_E8ds_v5")), "vm_size"),
        (lambda: AksGpuNodePool("g", _args(min_count=1)), "min_count"),
        (lambda: AksCpuNodePool("c", _args(vm_size="Standard_D8ds_v5", min_count=2, taints=())), "spot"),
    ],
)
def test_bad_pools_are_refused_before_anything_is_registered(make, field: str):
    refusal = refused(make)
    assert refusal.message.startswith(f"{field}:"), f"AKS pool: message {refusal.message!r} does not name {field}"
    assert not refusal.children, f"AKS pool registered {[r.urn for r in refusal.children]} before refusing {field}"
