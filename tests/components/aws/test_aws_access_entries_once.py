"""Issue 21 (AWS): the deployer's role gets its cluster-admin access entry from the cluster
(components/aws/cluster.py); when the spec also maps it to a platform group (kubernetes.access), the
stack used to register a second access entry for the same principal, which EKS refuses with 409
ResourceInUseException. Each principal now has exactly one entry."""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ENTRY = "aws:eks/accessEntry:AccessEntry"


def test_deployer_role_in_a_platform_group_gets_one_access_entry():
    from sahab.engine.offline import read_project, read_stack_config, run_program

    project, entry = read_project(REPO)
    config = read_stack_config(REPO / "environments/uae-central/Pulumi.uae-central.yaml", project)
    spec = copy.deepcopy(config["sahab:platform"])
    deployer = spec["cluster"]["deployer"]["role_arn"]
    spec["kubernetes"].setdefault("access", {})["platform_admin_role_arns"] = [deployer]
    config["sahab:platform"] = spec
    plan = run_program(REPO, "uae-central", config, project=project, entry=entry)
    per_principal = Counter(r.inputs["principalArn"] for r in plan.by_type(ENTRY))
    twice = {arn: n for arn, n in per_principal.items() if n > 1}
    assert not twice, f"{ENTRY}: principals with more than one access entry {twice} (EKS: ResourceInUseException)"
    assert per_principal[deployer] == 1, f"{ENTRY}: the deployer {deployer} has {per_principal[deployer]} access entries"
