"""One home for the shared constants (components/constants.py); where a copy cannot import it (the
policy packs and checkov checks run in their own processes and venvs, the workload images ship
`workloads/` alone), the copy must agree with the home."""

from __future__ import annotations

import ast
from pathlib import Path

from components import constants as c
from policy_packs.common import config as pack_config
from policy_packs.common import kube as pack_kube
from policy_packs.common import regions as pack_regions
from policy_packs.kubernetes_baseline import kubernetes_pods
from workloads import settings as workload_settings

REPO = Path(__file__).resolve().parents[2]


def _module_constant(path: str, name: str):
    """A literal assigned at module level in a file this venv cannot import (checkov checks)."""
    tree = ast.parse((REPO / path).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path}: no module-level {name}")


def test_uae_region_copies_agree():
    home = set(c.ALL_UAE_REGIONS)
    assert set(pack_config.UAE_REGIONS) == home, "policy_packs/common/config.py UAE_REGIONS differs from components/constants.py"
    assert pack_config.ALLOWED_REGIONS["default"] == pack_config.UAE_REGIONS, "packs' allowedRegions default must be the UAE list"
    assert set(_module_constant("sahab/gate/checkov_checks/InRegionCloudEndpoints.py", "UAE")) == home, "CKV_SAHAB_3 UAE differs"
    assert _module_constant("sahab/gate/checkov_checks/InRegionCloudEndpoints.py", "ON_PREMISES") == c.ON_PREMISES, "CKV_SAHAB_3 ON_PREMISES differs"
    assert workload_settings.UAE_AWS_REGIONS == c.UAE_REGIONS["aws"], "workloads/settings.py UAE_AWS_REGIONS differs"


def test_azure_pairs_stay_in_the_uae():
    azure = set(c.UAE_REGIONS["azure"])
    assert set(pack_regions.AZURE_PAIRS) == azure and set(pack_regions.AZURE_PAIRS.values()) == azure, pack_regions.AZURE_PAIRS


def test_gpu_taint_copies_agree():
    key = c.GPU_TAINT["key"]
    assert c.GPU_TOLERATION == {**c.GPU_TAINT, "operator": "Equal"}, "the toleration must match the taint exactly"
    assert pack_kube.GPU == key, "policy_packs/common/kube.py GPU differs"
    assert kubernetes_pods.GPU_TAINT["default"] == key, "kubernetes-baseline gpuTaintKey default differs"
    assert _module_constant("sahab/gate/checkov_checks/GpuPodsTolerateTaint.py", "GPU") == key, "CKV_SAHAB_2 GPU differs"


def test_role_arn_pattern_has_one_home():
    """No module outside components/constants.py spells the IAM role-ARN pattern again."""
    pattern = c.IAM_ROLE_ARN.pattern
    copies = [
        str(p.relative_to(REPO))
        for d in ("stacks", "components", "sahab")
        for p in (REPO / d).rglob("*.py")
        if pattern in p.read_text() and p.name != "constants.py"
    ]
    assert not copies, f"role-ARN pattern copied in {copies}; import components.constants.IAM_ROLE_ARN"
    assert c.IAM_ROLE_ARN.fullmatch("arn:aws:iam::123456789012:role/platform-admin")
    assert not c.IAM_ROLE_ARN.fullmatch("arn:aws:iam::123456789012:user/alice")
