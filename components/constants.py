"""Constants every layer shares, one home each (regions, the GPU taint, the IAM role-ARN pattern).

The spec (`stacks/spec`), the components and the tooling import them from here. Copies that cannot
import this module (the policy packs and checkov checks run in their own processes and venvs; the
workload images ship `workloads/` alone) are proven equal to these by tests/stacks/test_constants.py.
"""

from __future__ import annotations

import re

# Regions physically in the UAE, per cloud (../shared/UAE.md). me-south-1 is Bahrain, GCP has none.
UAE_REGIONS: dict[str, tuple[str, ...]] = {
    "aws": ("me-central-1",),
    "azure": ("uaenorth", "uaecentral"),
}
ALL_UAE_REGIONS: tuple[str, ...] = tuple(r for regions in UAE_REGIONS.values() for r in regions)
# The `region` of `cloud: kubernetes`: the customer's own site in the UAE, no cloud region at all (an
# SDK told this region reaches no cloud endpoint; only the in-cluster object store answers it).
ON_PREMISES = "on-premises"

# Regions people reach for by mistake, with why they are not in the UAE.
NOT_UAE: dict[str, str] = {
    "me-south-1": "AWS me-south-1 is Bahrain",
    "me-central1": "GCP me-central1 is Doha, Qatar",
    "me-central2": "GCP me-central2 is Dammam, Saudi Arabia",
    "il-central-1": "AWS il-central-1 is Tel Aviv",
    "qatarcentral": "Azure qatarcentral is Doha, Qatar",
}

# The taint GPU nodes carry so that only pods asking for GPUs land there (and its toleration).
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT: dict[str, str] = {"key": GPU_RESOURCE, "value": "present", "effect": "NoSchedule"}
GPU_TOLERATION: dict[str, str] = {"key": GPU_RESOURCE, "operator": "Equal", "value": "present", "effect": "NoSchedule"}

# An IAM role ARN as the spec accepts it (admins, access entries).
IAM_ROLE_ARN = re.compile(r"arn:aws:iam::\d{12}:role/[\w+=,.@/-]+")
