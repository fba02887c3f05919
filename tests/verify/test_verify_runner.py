"""`sahab verify <env>` end to end: the shipped suite run by the CLI against moto, its exit status,
JUnit XML and Markdown evidence; and the errors when verification cannot start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from moto_platform import Moto, deploy

from sahab.ops.verify.context import VerifyError, pulumi_outputs_command, read_pulumi_outputs
from sahab.ops.verify.runner import read_junit
from workloads.local import servers

REPO = Path(__file__).resolve().parents[2]


def _sahab(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sahab", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, env={**os.environ, "COLUMNS": "200", **(env or {})}
    )


@pytest.mark.slow
def test_verify_passes_on_the_deployed_plan_and_fails_on_a_stopped_trail(uae_plan, tmp_path):
    with servers.start_s3(tmp_path / "moto") as moto_server:
        moto = Moto(moto_server.url, "me-central-1")
        outputs = deploy(uae_plan, moto)
        (tmp_path / "outputs.json").write_text(json.dumps(outputs))
        (tmp_path / "plan.json").write_text(json.dumps(uae_plan.to_json(), default=str))
        env = {"AWS_ENDPOINT_URL": moto_server.url, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        args = ["verify", "uae-central", "--outputs", str(tmp_path / "outputs.json"), "--plan", str(tmp_path / "plan.json")]

        ok = _sahab(*args, "--junit", str(tmp_path / "ok" / "junit.xml"), "--report", str(tmp_path / "ok"), env=env)
        assert ok.returncode == 0, f"sahab verify must pass on the plan as deployed:\n{ok.stdout[-3000:]}\n{ok.stderr[-2000:]}"
        outcomes = read_junit(tmp_path / "ok" / "junit.xml")
        cloud = [o for o in outcomes if o.part == "cloud"]
        assert cloud and all(o.outcome == "passed" for o in cloud), "every cloud check passes"
        assert {o.check for o in cloud} >= {"cloud-tagged-resources-in-region", "cloud-s3-object-lock", "cloud-cloudtrail-logging", "cloud-kms-key-enabled"}
        cluster = [o for o in outcomes if o.part == "cluster"]
        assert [o.outcome for o in cluster] == ["skipped"] and "no kubeconfig" in cluster[0].detail, (
            "without a kubeconfig the cluster part says why it is skipped"
        )
        report = (tmp_path / "ok" / "verify-report.md").read_text()
        assert "**Result: PASSED**" in report and "environment uae-central, stack uae-central, region me-central-1" in report
        assert outputs["bucket_names"]["audit"] in report and "123456789012" in report, "the evidence names the resources and the account checked"

        moto.client("cloudtrail").stop_logging(Name="sahab-uae-central-audit")
        bad = _sahab(*args, "--junit", str(tmp_path / "bad" / "junit.xml"), "--report", str(tmp_path / "bad"), "--part", "cloud", env=env)
    assert bad.returncode == 1, f"a stopped trail must fail verification:\n{bad.stdout[-3000:]}"
    failed = [o for o in read_junit(tmp_path / "bad" / "junit.xml") if o.outcome == "failed"]
    assert [(o.check, o.subject) for o in failed] == [("cloud-cloudtrail-logging", "sahab-uae-central-audit")], f"exactly the trail check fails: {failed}"
    assert "it is not logging" in failed[0].detail and "Fix:" in failed[0].detail
    suite = ET.parse(tmp_path / "bad" / "junit.xml").getroot()
    assert suite.iter("testcase"), "JUnit XML is written"
    report = (tmp_path / "bad" / "verify-report.md").read_text()
    assert "**Result: FAILED**" in report and "| cloud-cloudtrail-logging | sahab-uae-central-audit | failed |" in report


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "cannot read the outputs file"),
        ("{not json", "not JSON"),
        (json.dumps({"region": "me-central-1"}), "environment: Field required"),
        (json.dumps({"environment": "smb", "region": "me-central-1"}), "environment 'smb', not 'uae-central'"),
    ],
)
def test_bad_outputs_stop_verification_with_the_fix(tmp_path, content, said):
    path = tmp_path / "outputs.json"
    if content is not None:
        path.write_text(content)
    (tmp_path / "plan.json").write_text(json.dumps({"stack": "uae-central", "config": {"sahab:platform": _spec()}, "resources": [], "outputs": {}}))
    done = _sahab("verify", "uae-central", "--outputs", str(path), "--plan", str(tmp_path / "plan.json"), timeout=120)
    assert done.returncode == 2, f"bad outputs must stop with exit 2: {done.stdout}{done.stderr}"
    assert said in " ".join(done.stderr.split()), f"the error must say {said!r}: {done.stderr}"


def _spec() -> dict:
    import yaml

    return yaml.safe_load((REPO / "environments/uae-central/Pulumi.uae-central.yaml").read_text())["config"]["sahab:platform"]


def test_without_the_pulumi_cli_it_says_how_to_proceed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here
    with pytest.raises(VerifyError, match=r"Pulumi CLI is not on PATH.*--outputs FILE"):
        read_pulumi_outputs("uae-central", REPO)
    assert pulumi_outputs_command("uae-central", REPO)[:5] == ["pulumi", "stack", "output", "--json", "--show-secrets"], (
        "secrets are shown: the kubeconfig is one"
    )


def test_unknown_part_is_refused(tmp_path):
    done = _sahab("verify", "uae-central", "--part", "network", "--outputs", str(tmp_path / "x.json"), timeout=120)
    flat = " ".join(done.stderr.replace("│", " ").split())  # typer's usage error box, unwrapped
    assert done.returncode == 2 and "'network' is not one of 'cloud', 'cluster', 'workloads', 'local'" in flat, done.stderr


@pytest.mark.parametrize(("env", "said"), [("smb-onprem", "no cloud account")])  # Azure: test_verify_azure_cli.py
def test_clouds_without_cloud_checks_say_so(env, said, tmp_path):
    import yaml

    from sahab.ops.verify.parts import checks_for

    spec = yaml.safe_load((REPO / f"environments/{env}/Pulumi.{env}.yaml").read_text())["config"]["sahab:platform"]
    plan = {"stack": env, "config": {"sahab:platform": spec}, "resources": [], "outputs": {}}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    reason = checks_for("cloud", {"target": env, "plan": str(path), "outputs": {"environment": env, "region": spec["region"]}})
    assert isinstance(reason, str) and said in reason, f"{env}: the cloud part must be skipped saying why, got {reason!r}"


def test_nothing_verified_is_not_a_pass(uae_plan, tmp_path):
    plan = uae_plan.to_json()
    (tmp_path / "plan.json").write_text(json.dumps(plan, default=str))
    (tmp_path / "outputs.json").write_text(json.dumps({**plan["outputs"], "kubeconfig": None}))
    done = _sahab("verify", "uae-central", "--part", "cluster", "--outputs", str(tmp_path / "outputs.json"), "--plan", str(tmp_path / "plan.json"), timeout=300)
    assert done.returncode == 2, f"a run that checked nothing must not pass: {done.stdout[-2000:]}"
    assert "nothing was verified" in " ".join(done.stderr.split()) and "no kubeconfig" in " ".join(done.stderr.split()), done.stderr


def test_verify_local_without_a_platform_says_to_start_it(tmp_path):
    done = _sahab("verify", "local", "--state-dir", str(tmp_path / "nothing"), timeout=120)
    assert done.returncode == 2 and "sahab local up" in done.stderr, f"{done.stdout}{done.stderr}"
