"""KarpenterIdentity and ClusterAutoscalerIdentity on their own. Karpenter: a rotating single-region
key of its own for the interruption queue, the queue encrypted with it and TLS-only, EventBridge's
four interruption rules targeting it, a node role joining through an EC2_LINUX access entry, and a
controller role (Pod Identity) whose EC2 rights stay in the region and on this cluster's tagged
resources, passing only the node role and using the volume key only through EC2. Cluster Autoscaler:
scaling only the groups tagged for this cluster. Bad queue retention and unnamed service accounts
refused."""

from __future__ import annotations

import json

import pytest

from components.aws.autoscaling import (
    INTERRUPTION_EVENTS,
    ClusterAutoscalerIdentity,
    ClusterAutoscalerIdentityArgs,
    KarpenterIdentity,
    KarpenterIdentityArgs,
)
from tests.components.component_helpers import ACCOUNT_ID, REGION, Built, build, expect, expect_all, policy, prop, refused, statements

DATA_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/data"
TAGS = {"sahab.ae/env": "unit"}


def _karpenter(**over) -> KarpenterIdentityArgs:
    base = dict(
        cluster_name="sahab-eks",
        region=REGION,
        account_id=ACCOUNT_ID,
        namespace="sahab-autoscaling",
        service_account="karpenter",
        volume_key_arn=DATA_KEY,
        key_rotation_days=180,
        tags=TAGS,
    )
    return KarpenterIdentityArgs(**{**base, **over})


@pytest.fixture(scope="module")
def karpenter() -> Built:
    return build(lambda: KarpenterIdentity("k", _karpenter()))


@pytest.fixture(scope="module")
def autoscaler() -> Built:
    return build(
        lambda: ClusterAutoscalerIdentity("ca", ClusterAutoscalerIdentityArgs(cluster_name="sahab-eks", namespace="sahab-autoscaling", service_account="ca"))
    )


def _resources(statement: dict) -> list[str]:
    r = statement["Resource"]
    return r if isinstance(r, list) else [r]


def test_interruption_queue_is_encrypted_with_its_own_rotating_key(karpenter: Built):
    key = karpenter.child("k-queue-key", "aws:kms/key:Key")
    expect(key, "multiRegion", False)
    expect(key, "enableKeyRotation", True)
    expect(key, "rotationPeriodInDays", 180)
    expect(key, "tags", TAGS)
    sends = statements(key)["EventBridgeSendsEncrypted"]
    assert sends["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}, (
        f"{key.urn}: policy EventBridgeSendsEncrypted condition {sends['Condition']}"
    )
    queue = karpenter.child("k-interruptions", "aws:sqs/queue:Queue")
    expect(queue, "kmsMasterKeyId", key.outputs["arn"])
    expect(queue, "name", "sahab-eks")
    expect(queue, "messageRetentionSeconds", 300)
    queue_policy = statements(karpenter.child("k-interruptions-policy", "aws:sqs/queuePolicy:QueuePolicy"))
    deny = queue_policy["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, (
        f"k-interruptions-policy: policy DenyInsecureTransport {deny}"
    )
    assert _resources(queue_policy["EventBridgeSends"]) == [queue.outputs["arn"]], "k-interruptions-policy: policy EventBridgeSends reaches more than the queue"


def test_every_interruption_event_targets_the_queue(karpenter: Built):
    queue_arn = karpenter.child("k-interruptions").outputs["arn"]
    for event, pattern in INTERRUPTION_EVENTS.items():
        rule = karpenter.child(f"k-{event}", "aws:cloudwatch/eventRule:EventRule")
        assert json.loads(prop(rule, "eventPattern")) == pattern, f"{rule.urn}: eventPattern {prop(rule, 'eventPattern')}"
        target = karpenter.child(f"k-{event}-target", "aws:cloudwatch/eventTarget:EventTarget")
        expect(target, "arn", queue_arn)
        expect(target, "targetId", "karpenter-interruption-queue")
        # Not asserted: `rule` (the rule's name). The shared mocks answer no `name` for an auto-named
        # aws:cloudwatch/eventRule:EventRule, so the input is dropped offline (reported, issue 18 item 6).


def test_nodes_join_through_an_ec2_linux_access_entry(karpenter: Built):
    role = karpenter.child("k-node-role", "aws:iam/role:Role")
    principals = [s["Principal"] for s in policy(role, "assumeRolePolicy")["Statement"]]
    assert principals == [{"Service": ["ec2.amazonaws.com"]}], f"{role.urn}: assumeRolePolicy trusts {principals}"
    entry = karpenter.child("k-node-access", "aws:eks/accessEntry:AccessEntry")
    expect(entry, "type", "EC2_LINUX")
    expect(entry, "principalArn", role.outputs["arn"])
    expect(entry, "clusterName", "sahab-eks")


def test_controller_role_is_bound_to_karpenters_service_account(karpenter: Built):
    role = karpenter.child("k-controller", "aws:iam/role:Role")
    principals = [s["Principal"] for s in policy(role, "assumeRolePolicy")["Statement"]]
    assert principals == [{"Service": ["pods.eks.amazonaws.com"]}], f"{role.urn}: assumeRolePolicy trusts {principals}"
    binding = karpenter.child("k-controller-binding", "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    expect_all(binding, {"namespace": "sahab-autoscaling", "serviceAccount": "karpenter", "roleArn": role.outputs["arn"]})
    assert karpenter.output("controller_role_arn").value == role.outputs["arn"], f"{karpenter.urn}: controller_role_arn"


def test_controller_policy_stays_in_the_region_and_on_this_cluster(karpenter: Built):
    access = karpenter.child("k-controller-access", "aws:iam/rolePolicy:RolePolicy")
    by_sid = statements(access)
    ec2 = [r for s in by_sid.values() for r in _resources(s) if r.startswith("arn:aws:ec2:")]
    assert ec2 and all(r.startswith(f"arn:aws:ec2:{REGION}:") for r in ec2), f"{access.urn}: policy EC2 resources outside {REGION}: {ec2}"
    stars = [sid for sid, s in by_sid.items() if "*" in _resources(s)]
    assert stars == ["RegionalReads"], f"{access.urn}: policy statements on Resource '*': {stars}"
    assert by_sid["RegionalReads"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}, f"{access.urn}: policy RegionalReads condition"
    assert all(a.startswith("ec2:Describe") for a in by_sid["RegionalReads"]["Action"]), f"{access.urn}: policy RegionalReads actions"
    node_role = karpenter.child("k-node-role").outputs["arn"]
    assert _resources(by_sid["PassNodeRole"]) == [node_role], f"{access.urn}: policy PassNodeRole reaches {by_sid['PassNodeRole']['Resource']}"
    volumes = by_sid["EncryptNodeVolumes"]
    assert _resources(volumes) == [DATA_KEY] and volumes["Condition"] == {"StringEquals": {"kms:ViaService": f"ec2.{REGION}.amazonaws.com"}}, (
        f"{access.urn}: policy EncryptNodeVolumes {volumes}"
    )
    queue_key = karpenter.child("k-queue-key").outputs["arn"]
    assert _resources(by_sid["InterruptionQueueKey"]) == [queue_key], f"{access.urn}: policy InterruptionQueueKey reaches {by_sid['InterruptionQueueKey']}"
    deletion = by_sid["ScopedDeletion"]["Condition"]["StringEquals"]
    assert deletion == {"aws:ResourceTag/kubernetes.io/cluster/sahab-eks": "owned"}, f"{access.urn}: policy ScopedDeletion condition {deletion}"


def test_cluster_autoscaler_scales_only_this_clusters_groups(autoscaler: Built):
    role = autoscaler.child("ca", "aws:iam/role:Role")
    principals = [s["Principal"] for s in policy(role, "assumeRolePolicy")["Statement"]]
    assert principals == [{"Service": ["pods.eks.amazonaws.com"]}], f"{role.urn}: assumeRolePolicy trusts {principals}"
    by_sid = statements(autoscaler.child("ca-access", "aws:iam/rolePolicy:RolePolicy"))
    scale = by_sid["ScaleOwnGroups"]
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/sahab-eks": "owned"}}, f"ca-access: policy ScaleOwnGroups {scale}"
    writes = [a for s in by_sid.values() for a in s["Action"] if not a.split(":")[1].startswith(("Describe", "Get"))]
    assert sorted(writes) == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"], f"ca-access: policy write actions {writes}"
    binding = autoscaler.child("ca-binding", "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    expect(binding, "serviceAccount", "ca")
    expect(binding, "roleArn", role.outputs["arn"])


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: KarpenterIdentity("k", _karpenter(queue_retention_seconds=30)), "queue_retention_seconds"),
        (lambda: KarpenterIdentity("k", _karpenter(service_account="")), "namespace/service_account"),
        (
            lambda: ClusterAutoscalerIdentity("ca", ClusterAutoscalerIdentityArgs(cluster_name="c", namespace="", service_account="ca")),
            "namespace/service_account",
        ),
    ],
)
def test_bad_args_are_refused_before_any_resource(make, field: str):
    refusal = refused(make)
    assert refusal.message.startswith(f"{field}:"), f"autoscaling identity: message {refusal.message!r} does not name {field}"
    assert not refusal.children, f"autoscaling identity registered {[r.urn for r in refusal.children]} before refusing {field}"
