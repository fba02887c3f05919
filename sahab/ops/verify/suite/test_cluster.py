"""Cluster part: node pools, device plugin, workloads ready, default-deny, non-root and read-only root filesystems, Prometheus targets (sahab/ops/verify/cluster.py)."""

from sahab.ops.verify.suite import run_check

PART = "cluster"


def test_check(check):
    run_check(check)
