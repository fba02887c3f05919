"""`sahab preflight`: refuses offline; its AWS checks against moto's EC2 API (its me-central-1
offerings and endpoint-service data) and a chart repository answered by a helm stand-in."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sahab.ops import preflight as pf

NO_CREDENTIALS = {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture
def uae_pf(uae_plan, repo):
    import copy

    from sahab.gate.deployability import platform_spec

    plan = copy.deepcopy(uae_plan)  # tests change it
    return pf.PreflightContext(repo, "uae-central", plan, platform_spec(plan), "me-central-1")


@pytest.fixture
def aws(monkeypatch):
    moto = pytest.importorskip("moto")  # the local extra (moto[server]) is part of dev
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with moto.mock_aws():
        import boto3

        yield boto3.client("ec2", region_name="me-central-1")


def test_refuses_without_credentials(monkeypatch):
    for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    for k, v in NO_CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(pf.PreflightError, match="no credentials.*Fix:"):
        pf.aws.aws_session("me-central-1")


@pytest.mark.slow
def test_cli_refuses_offline_with_exit_2(repo):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | NO_CREDENTIALS
    proc = subprocess.run([sys.executable, "-m", "sahab", "preflight", "smb"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    text = " ".join(proc.stderr.split())
    assert proc.returncode == 2 and "no credentials" in text and "sahab check" in text, proc.stderr


def test_instance_offerings_name_each_pool_type_and_zone(uae_pf, aws):
    results = pf.aws.check_instance_offerings(uae_pf, aws)
    assert {r.check for r in results} == {"instance-offerings"}
    types = {t for r in uae_pf.resources("aws:eks/nodeGroup:NodeGroup") for t in r.inputs["instanceTypes"]}
    assert all(any(t in r.message for r in results) for t in types), [r.message for r in results]
    group = next(r for r in uae_pf.resources("aws:eks/nodeGroup:NodeGroup"))
    group.inputs["instanceTypes"] = ["x9.nothing"]
    failed = [r.message for r in pf.aws.check_instance_offerings(uae_pf, aws) if r.level == "fail" and "x9.nothing" in r.message]
    assert failed and f"{group.name} (aws:eks/nodeGroup:NodeGroup): x9.nothing is not offered" in failed[0] and "Fix:" in failed[0], failed


def test_endpoint_services_that_do_not_exist_fail(uae_pf, aws):
    endpoint = uae_pf.resources("aws:ec2/vpcEndpoint:VpcEndpoint")[0]
    endpoint.inputs["serviceName"] = "com.amazonaws.me-central-1.nosuchservice"
    results = {r.message.split(": ")[0]: r for r in pf.aws.check_endpoint_services(uae_pf, aws)}
    bad = results[f"{endpoint.name} (aws:ec2/vpcEndpoint:VpcEndpoint)"]
    assert bad.level == "fail" and "does not exist in me-central-1" in bad.message
    s3 = next(r for r in uae_pf.resources("aws:ec2/vpcEndpoint:VpcEndpoint") if r.inputs["serviceName"].endswith(".s3"))
    assert results[f"{s3.name} (aws:ec2/vpcEndpoint:VpcEndpoint)"].level == "pass"


def _helm(tmp_path: Path, versions: dict[str, str]) -> str:
    """An executable that answers `helm show chart NAME --version V` from `versions` (chart -> version)."""
    script = tmp_path / "helm"
    script.write_text(
        "#!/usr/bin/env python3\nimport sys\nargs = sys.argv[1:]\nchart, version = args[2], args[args.index('--version') + 1]\n"
        f"known = {versions!r}\n"
        "if known.get(chart.rsplit('/', 1)[-1]) != version:\n    sys.exit(f'Error: chart \"{chart}\" version \"{version}\" not found')\n"
        "print(f'apiVersion: v2\\nname: {chart}\\nversion: {version}\\nappVersion: x')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_chart_versions(uae_pf, tmp_path):
    releases = uae_pf.resources("kubernetes:helm.sh/v3:Release")
    known = {str(r.inputs["chart"]).rsplit("/", 1)[-1]: str(r.inputs["version"]) for r in releases}
    assert all(r.level == "pass" for r in pf.check_charts(uae_pf, _helm(tmp_path, known)))
    known["dcgm-exporter"] = "4.1.3-not-this"
    failed = [r for r in pf.check_charts(uae_pf, _helm(tmp_path, known)) if r.level == "fail"]
    assert len(failed) == 1 and "dcgm-exporter" in failed[0].message and "not served" in failed[0].message


def test_charts_without_helm_refuse(uae_pf, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pf.PreflightError, match="helm on PATH"):
        pf.check_charts(uae_pf)


def test_every_cloud_of_the_spec_has_a_preflight():
    assert {"aws", "kubernetes"} <= set(pf.PROVIDERS)
