"""Each cloud's Pulumi SDK is an extra (pyproject.toml `aws-deploy`, `azure-deploy`): a plan of one cloud
never imports the other's SDK, `cloud: kubernetes` needs neither, and a missing SDK stops the plan with
a message naming the extra to install.

Each plan runs in its own interpreter with the SDK made unimportable by a `sys.meta_path` finder that
refuses it, as an environment without the extra would (every import of it, however deep, fails).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# argv: comma-separated top-level modules to refuse, then the `sahab` arguments.
BLOCKED_RUN = """
import importlib.abc, sys
blocked = sys.argv[1].split(",")

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
sys.argv = ["sahab", *sys.argv[2:]]
from sahab.cli import app
app()
"""


def plan_without(blocked: str, env: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, blocked, "plan", env, "--out", str(out), "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def planned_types(out: Path) -> set[str]:
    return {r["type"] for r in json.loads((out / "plan.json").read_text())["resources"]}


def test_aws_plan_runs_without_pulumi_azure_native(tmp_path: Path) -> None:
    run = plan_without("pulumi_azure_native", "smb", tmp_path)
    assert run.returncode == 0, f"sahab plan smb with pulumi_azure_native unimportable exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    types = planned_types(tmp_path)
    assert "aws:ec2/vpc:Vpc" in types, f"{tmp_path}/plan.json: the AWS plan of smb has no VPC; types: {sorted(types)[:20]}"
    assert not any(t.startswith("azure-native:") for t in types), f"{tmp_path}/plan.json: an AWS plan registered Azure resources"


def test_kubernetes_plan_needs_neither_cloud_sdk(tmp_path: Path) -> None:
    run = plan_without("pulumi_aws,pulumi_azure_native", "smb-onprem", tmp_path)
    assert run.returncode == 0, f"sahab plan smb-onprem with both cloud SDKs unimportable exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    types = planned_types(tmp_path)
    cloud = sorted(t for t in types if t.startswith(("aws:", "azure-native:")))
    assert not cloud, f"{tmp_path}/plan.json: the cloud: kubernetes plan registered cloud resources {cloud}"
    assert any(t.startswith("kubernetes:") for t in types), f"{tmp_path}/plan.json: the smb-onprem plan has no Kubernetes objects"


@pytest.mark.parametrize(
    ("env", "blocked", "extra", "distribution"),
    [("uae-north", "pulumi_azure_native", "azure-deploy", "pulumi-azure-native"), ("smb", "pulumi_aws", "aws-deploy", "pulumi-aws")],
)
def test_missing_cloud_sdk_names_its_extra(tmp_path: Path, env: str, blocked: str, extra: str, distribution: str) -> None:
    run = plan_without(blocked, env, tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode != 0, f"sahab plan {env} without {blocked} succeeded; it cannot build that cloud"
    assert f"sahab[{extra}]" in output, f"sahab plan {env} without {blocked}: the error does not name the extra `{extra}`:\n{output}"
    assert f"needs the {distribution} SDK" in output, f"sahab plan {env} without {blocked}: the error does not name {distribution}:\n{output}"
    assert "Traceback" not in output, f"sahab plan {env} without {blocked}: a traceback instead of one clear line:\n{output}"
    assert not (tmp_path / "plan.json").exists(), f"{tmp_path}/plan.json written although the plan failed"
