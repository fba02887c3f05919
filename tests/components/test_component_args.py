"""Components validate their arguments in the constructor and name the bad field."""

from __future__ import annotations

import pytest

from components import aws as c

pytestmark = pytest.mark.usefixtures("unit_mocks")


def _pool(**over) -> c.NodePoolArgs:
    base = dict(cluster_name="c", node_role_arn="arn:r", subnet_ids=["s1", "s2"], instance_types=("g5.xlarge",), min_size=0, max_size=2, volume_key_arn="arn:k")
    return c.NodePoolArgs(**{**base, **over})


GPU_TAINTS = ({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: c.GpuNodePool("g", _pool()), "taints"),
        (lambda: c.GpuNodePool("g", _pool(taints=GPU_TAINTS, min_size=3, max_size=1)), "min_size/max_size"),
        (lambda: c.GpuNodePool("g", _pool(taints=GPU_TAINTS, capacity="reserved")), "capacity"),
        (
            lambda: c.GpuNodePool(
                "g", _pool(taints=({"key": "nvidia.com/gpu", "value": "", "effect": "NoSchedule"}, {"key": "a", "value": "b", "effect": "Evict"}))
            ),
            "taints",
        ),
        (lambda: c.InferenceNodePool("i", _pool(min_size=1, max_size=3)), "min_size"),
        (lambda: c.InferenceNodePool("i", _pool(min_size=2, max_size=3, capacity="spot")), "capacity"),
        (lambda: c.Encryption("k", c.EncryptionArgs(account_id="1", region="me-central-1", rotation_days=30)), "rotation_days"),
        (lambda: c.Encryption("k", c.EncryptionArgs(account_id="1", region="me-central-1", deletion_window_days=3)), "deletion_window_days"),
        (lambda: c.Network("n", c.NetworkArgs(cidr="10.0.0.0/16", availability_zones=("a", "b"), region="me-central-1", logs_key_arn="k", nat="none")), "nat"),
        (lambda: c.Network("n", c.NetworkArgs(cidr="10.0.0.0/16", availability_zones=("a",), region="me-central-1", logs_key_arn="k")), "availability_zones"),
        (lambda: c.Registry("r", c.RegistryArgs(key_arn="k", repositories=("a", "a"))), "repositories"),
        (
            lambda: c.OnlineStoreCache("o", c.OnlineStoreCacheArgs(vpc_id="v", subnet_ids=["s"], client_cidrs=["10.0.0.0/19"], key_arn="k", replicas=9)),
            "replicas",
        ),
        (
            lambda: c.RegistryDatabase(
                "d", c.RegistryDatabaseArgs(vpc_id="v", subnet_ids=["s"], client_cidrs=["10.0.0.0/19"], key_arn="k", backup_retention_days=0)
            ),
            "backup_retention_days",
        ),
        (
            lambda: c.Cluster(
                "e",
                c.ClusterArgs(
                    cluster_name="x",
                    kubernetes_version="1.33",
                    region="me-central-1",
                    subnet_ids=["s"],
                    cluster_key_arn="k",
                    logs_key_arn="k",
                    data_key_arn="k",
                    public_endpoint=True,
                    public_access_cidrs=("0.0.0.0/0",),
                ),
            ),
            "public_access_cidrs",
        ),
        (
            lambda: c.Cluster(
                "e",
                c.ClusterArgs(
                    cluster_name="x",
                    kubernetes_version="1.33",
                    region="me-central-1",
                    subnet_ids=["s"],
                    cluster_key_arn="k",
                    logs_key_arn="k",
                    data_key_arn="k",
                    private_endpoint=False,
                ),
            ),
            "private_endpoint",
        ),
    ],
)
def test_bad_arguments_name_the_field(build, field):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value).startswith(field), f"error {info.value!r} does not start with the field {field!r}"


def test_subnet_plan_is_disjoint_and_inside_the_vpc():
    import ipaddress

    from components.aws.network import plan_subnets

    for cidr, zones in (("10.40.0.0/16", 3), ("10.60.0.0/16", 2), ("192.168.0.0/20", 3)):
        plan = plan_subnets(cidr, zones)
        nets = [ipaddress.ip_network(s) for tier in plan.values() for s in tier]
        assert all(n.subnet_of(ipaddress.ip_network(cidr)) for n in nets), plan
        assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :]), f"overlap in {plan}"
        assert all(len(tier) == zones for tier in plan.values())
