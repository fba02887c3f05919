"""`sahab check smb-onprem`: the same gate as the clouds (packs, schemas, checkov, deployability),
offline, with 0 findings; and the environment's policy.yaml names only policies the packs have."""

from __future__ import annotations

import json

import pytest

from policy_packs.kubernetes_baseline.policies import POLICIES as K
from policy_packs.security_baseline.policies import POLICIES as S
from policy_packs.uae_residency.policies import POLICIES as U
from sahab import gate
from tests.conftest import REPO


def test_policy_yaml_names_real_policies():
    names = {"uae_residency": {p.name for p in U}, "security_baseline": {p.name for p in S}, "kubernetes_baseline": {p.name for p in K}}
    doc = gate.load_policy_doc(REPO / "environments" / "smb-onprem" / "policy.yaml")
    for pack, cfg in doc["packs"].items():
        unknown = set(cfg) - names[pack]
        assert not unknown, f"smb-onprem policy.yaml packs.{pack}: no such policies {sorted(unknown)}"


@pytest.mark.slow
def test_check_passes_offline_with_no_findings(tmp_path):
    code = gate.check_environment(REPO, "smb-onprem", out=tmp_path, fmt="json")
    report = json.loads((tmp_path / "report.json").read_text())
    assert code == 0 and report["mandatory"] == 0, [
        (f["policy"], f["resource"], f["message"][:200]) for f in report["findings"] if f["enforcement"] == "mandatory"
    ]
    assert report["manifests"] > 90 and {"schemas", "checkov", "deployability"} <= set(report["timings"]), report["timings"]
    md = (tmp_path / "report.md").read_text()
    assert "no cloud bill" not in md or "customer's own cluster" in md
    assert "cloud: kubernetes runs on the customer's own cluster" in md, "the cost section says there is no cloud bill"
