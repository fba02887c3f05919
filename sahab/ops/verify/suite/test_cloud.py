"""Cloud part: residency, stack keys, public access, versioning, Object Lock, the trail, no replication out of the region (sahab/ops/verify/cloud.py; Azure: sahab/ops/verify/cloud_azure.py)."""

from sahab.ops.verify.suite import run_check

PART = "cloud"


def test_check(check):
    run_check(check)
