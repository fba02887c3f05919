"""`sahab up smb-onprem`: needs the Pulumi CLI but no cloud credentials; state in a file backend on the server."""

from __future__ import annotations

from typer.testing import CliRunner

from sahab.cli import app
from tests.stacks.test_sahab_cli import fake_pulumi  # noqa: F401 (the fixture: a recording `pulumi` on PATH)

runner = CliRunner()
AWS_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "SAHAB_AMBIENT_CREDENTIALS",
)


def test_up_on_your_own_server_needs_no_aws_credentials(repo, tmp_path, monkeypatch, fake_pulumi):
    monkeypatch.chdir(repo)
    log = fake_pulumi
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.aws here
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "offline-test")
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    for var in AWS_VARS:
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["up", "smb-onprem"])
    assert result.exit_code == 0, result.output
    assert "file:///var/lib/sahab/state" in " ".join(result.output.split()), result.output
    up = next(c for c in log.read_text().splitlines() if " up " in f" {c} ")
    assert "environments/smb-onprem/Pulumi.smb-onprem.yaml" in up and "--stack smb-onprem" in up, up
    assert "policy_packs/kubernetes_baseline" in up, f"the same packs are enforced on up: {up}"
    aws = runner.invoke(app, ["up", "smb"])
    assert aws.exit_code == 2 and "no AWS credentials found" in aws.output, "the AWS environments still need credentials"
