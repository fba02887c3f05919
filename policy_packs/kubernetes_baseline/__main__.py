"""kubernetes-baseline: no privileged or root containers, read-only root filesystems, requests and
limits, GPU scheduling, default-deny NetworkPolicy per namespace, pinned images."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `policy_packs.*`

from pulumi_policy import EnforcementLevel, PolicyPack

from policy_packs.common.speed import share_conversions
from policy_packs.kubernetes_baseline.policies import POLICIES

share_conversions()
PolicyPack(name="kubernetes-baseline", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES, description=__doc__)
