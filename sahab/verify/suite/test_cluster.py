"""Cluster part: node pools, device plugin, workloads ready, default-deny, non-root and read-only root filesystems, Prometheus targets (sahab/verify/cluster.py)."""

from sahab.verify.suite import run_check

PART = "cluster"


def test_check(check):
    run_check(check)
