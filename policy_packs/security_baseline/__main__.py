"""security-baseline: customer-managed keys, rotation, nothing public, TLS 1.2+, private endpoints,
IMDSv2, an audit trail with integrity validation on an Object-Locked bucket, required tags."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `policy_packs.*`

from pulumi_policy import EnforcementLevel, PolicyPack

from policy_packs.common.speed import share_conversions
from policy_packs.security_baseline.policies import POLICIES

share_conversions()
PolicyPack(name="security-baseline", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES, description=__doc__)
