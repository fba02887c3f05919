"""uae-residency: prove that no data leaves the UAE (see ../shared/UAE.md). Mandatory by default."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root: `policy_packs.*`

from pulumi_policy import EnforcementLevel, PolicyPack

from policy_packs.common.speed import share_conversions
from policy_packs.uae_residency.policies import POLICIES

share_conversions()
PolicyPack(name="uae-residency", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES, description=__doc__)
