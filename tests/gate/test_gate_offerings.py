"""The instance capacity table and the EKS allocatable formula (stacks/offerings.py)."""

from __future__ import annotations

import pytest

from stacks.offerings import CAPACITY, OFFERINGS, allocatable, kube_reserved_cpu_millicores, kube_reserved_memory_mib


def test_t3_large_leaves_1930_millicores():
    # The arithmetic: 2000m - (60m + 10m) on a 2-vCPU node.
    assert allocatable("t3.large").cpu_millicores == 1930, "t3.large allocatable CPU"


@pytest.mark.parametrize(("vcpus", "reserved"), [(1, 60), (2, 70), (4, 80), (8, 90), (16, 110), (96, 310)])
def test_cpu_reservation_follows_the_eks_ranges(vcpus, reserved):
    assert kube_reserved_cpu_millicores(vcpus) == reserved, f"{vcpus} vCPUs"


def test_memory_reservation_is_per_pod():
    assert kube_reserved_memory_mib(35) == 640 and kube_reserved_memory_mib(58) == 893


def test_every_gpu_type_the_spec_accepts_has_a_capacity():
    missing = sorted(OFFERINGS["me-central-1"].gpu_instance_types - set(CAPACITY))
    assert not missing, f"GPU types the spec accepts but CAPACITY lacks: {missing}"


def test_every_type_of_the_shipped_specs_has_a_capacity():
    import yaml

    from sahab.gate.model import REPO

    for env in ("uae-central", "smb"):
        doc = yaml.safe_load((REPO / "environments" / env / f"Pulumi.{env}.yaml").read_text())["config"]["sahab:platform"]
        for pool in doc.get("gpu_pools", []) + doc.get("inference_tiers", []):
            for itype in pool["instance_types"]:
                assert itype in CAPACITY, f"{env}: {pool['name']} uses {itype}, missing from stacks/offerings.py CAPACITY"


def test_g5_xlarge_is_too_small_for_the_smb_training_request():
    a = allocatable("g5.xlarge")
    assert a.gpus == 1 and a.cpu_millicores < 8000 and a.memory_mib < 64 * 1024
