"""Cloud part: residency, stack keys, public access, versioning, Object Lock, the trail, no replication out of the region (sahab/verify/cloud.py; Azure: sahab/verify/cloud_azure.py)."""

from sahab.verify.suite import run_check

PART = "cloud"


def test_check(check):
    run_check(check)
