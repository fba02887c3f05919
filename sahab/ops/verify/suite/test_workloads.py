"""Workloads part: MLflow and its champion, serving ready and scoring, the drift job's last run (sahab/ops/verify/workloads.py)."""

from sahab.ops.verify.suite import run_check

PART = "workloads"


def test_check(check):
    run_check(check)
