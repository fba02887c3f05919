"""GpuNodePool and InferenceNodePool on their own: a launch template with IMDSv2 required and hop
limit 1 and a CMK-encrypted gp3 root volume; the GPU pool on the NVIDIA AMI, spot, from 0, tainted
`nvidia.com/gpu=present:NoSchedule`; the inference tier on-demand from 2; the autoscaler owning the
desired size; bad sizes, capacities and missing taints refused."""

from __future__ import annotations

import pytest

from components.aws.node_pools import GpuNodePool, InferenceNodePool, NodePoolArgs
from components.constants import GPU_TAINT
from tests.components.component_helpers import ACCOUNT_ID, REGION, Built, build, expect, refused

DATA_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/data"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/nodes"
SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]
TAGS = {"sahab.ae/env": "unit"}


def _args(**over) -> NodePoolArgs:
    base = dict(
        cluster_name="sahab-eks",
        node_role_arn=NODE_ROLE,
        subnet_ids=SUBNETS,
        instance_types=("p5en.48xlarge",),
        min_size=0,
        max_size=4,
        volume_key_arn=DATA_KEY,
        disk_gib=500,
        capacity="spot",
        labels={"team": "ml"},
        taints=(GPU_TAINT,),
        tags=TAGS,
    )
    return NodePoolArgs(**{**base, **over})


@pytest.fixture(scope="module")
def gpu() -> Built:
    return build(lambda: GpuNodePool("train", _args()))


@pytest.fixture(scope="module")
def serving() -> Built:
    return build(
        lambda: InferenceNodePool("serve", _args(instance_types=("c7i.2xlarge",), min_size=3, max_size=9, disk_gib=100, capacity="on-demand", taints=()))
    )


@pytest.mark.parametrize("pool", ["gpu", "serving"])
def test_launch_template_requires_imdsv2_and_encrypts_the_root_volume(pool: str, request: pytest.FixtureRequest):
    built: Built = request.getfixturevalue(pool)
    (lt,) = built.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    expect(lt, "metadataOptions.httpTokens", "required")
    expect(lt, "metadataOptions.httpPutResponseHopLimit", 1)
    expect(lt, "metadataOptions.httpEndpoint", "enabled")
    expect(lt, "blockDeviceMappings.0.deviceName", "/dev/xvda")
    expect(lt, "blockDeviceMappings.0.ebs.encrypted", "true")
    expect(lt, "blockDeviceMappings.0.ebs.kmsKeyId", DATA_KEY)
    expect(lt, "blockDeviceMappings.0.ebs.volumeType", "gp3")
    expect(lt, "tagSpecifications", [{"resourceType": "instance", "tags": TAGS}, {"resourceType": "volume", "tags": TAGS}])
    (group,) = built.of_type("aws:eks/nodeGroup:NodeGroup")
    expect(group, "launchTemplate.id", built.id_of(lt))
    expect(group, "launchTemplate.version", "1")
    assert group.options.get("ignoreChanges") == ["scalingConfig.desiredSize"], f"{group.urn}: ignoreChanges {group.options.get('ignoreChanges')}"


def test_gpu_pool_is_nvidia_spot_from_zero_and_tainted(gpu: Built):
    group = gpu.child("train-ng", "aws:eks/nodeGroup:NodeGroup")
    expect(group, "amiType", "AL2023_x86_64_NVIDIA")
    expect(group, "capacityType", "SPOT")
    expect(group, "instanceTypes", ["p5en.48xlarge"])
    expect(group, "scalingConfig", {"minSize": 0, "maxSize": 4, "desiredSize": 0})
    expect(group, "taints", [{"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}])
    expect(group, "labels", {"sahab.ae/pool": "train", "sahab.ae/accelerator": "nvidia", "sahab.ae/capacity": "spot", "team": "ml"})
    expect(group, "nodeRoleArn", NODE_ROLE)
    expect(group, "subnetIds", SUBNETS)
    expect(gpu.child("train-lt"), "blockDeviceMappings.0.ebs.volumeSize", 500)


def test_inference_tier_is_on_demand_over_the_zones_from_two(serving: Built):
    group = serving.child("serve-ng", "aws:eks/nodeGroup:NodeGroup")
    expect(group, "amiType", "AL2023_x86_64_STANDARD")
    expect(group, "capacityType", "ON_DEMAND")
    expect(group, "scalingConfig", {"minSize": 3, "maxSize": 9, "desiredSize": 3})
    expect(group, "subnetIds", SUBNETS)
    expect(group, "taints", [])
    expect(group, "labels", {"sahab.ae/pool": "serve", "sahab.ae/capacity": "on-demand", "team": "ml"})


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: GpuNodePool("g", _args(taints=({"key": "dedicated", "value": "ml", "effect": "NoSchedule"},))), "taints"),
        (lambda: InferenceNodePool("i", _args(min_size=1, capacity="on-demand", taints=())), "min_size"),
    ],
)
def test_bad_pools_are_refused_before_any_resource(make, field: str):
    refusal = refused(make)
    assert refusal.message.startswith(f"{field}:"), f"node pool: message {refusal.message!r} does not name {field}"
    assert not refusal.children, f"node pool registered {[r.urn for r in refusal.children]} before refusing {field}"
