"""The `sahab` CLI: plan output and files, clear errors, and the deploy paths without a cloud.

The deploy tests put a fake `pulumi` executable on PATH that records its arguments: the real
Automation API builds and runs the commands, so what a user with the CLI would run is proven here.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sahab.cli import app
from sahab.ops import deploy

runner = CliRunner()

FAKE_PULUMI = """#!/usr/bin/env bash
echo "$@" >> "$FAKE_PULUMI_LOG"
# Like the real CLI, finish the engine event log with a summary (preview reads its change counts).
prev=""; for a in "$@"; do
  if [ "$prev" = "--event-log" ]; then echo '{"sequence":1,"timestamp":1,"summaryEvent":{"maybeCorrupt":false,"durationSeconds":0,"resourceChanges":{},"policyPacks":{}}}' >> "$a"; fi
  prev="$a"
done
args=("$@"); while [[ "${args[0]}" == --* ]]; do args=("${args[@]:1}"); done
case "${args[0]} ${args[1]}" in
  version*) echo "v3.200.0";;  # <= 3.205: the engine event log is a file the fake can write
  "stack output") echo "{}";;
  "stack history") echo '[{"version":1,"kind":"update","startTime":"2026-11-22T10:00:00.000Z","message":"","environment":{},"config":{},"result":"succeeded","endTime":"2026-11-22T10:00:01.000Z","resourceChanges":{}}]';;
  *) echo "fake pulumi ${args[0]}";;
esac
"""


@pytest.fixture
def in_repo(repo, monkeypatch):
    monkeypatch.chdir(repo)
    return repo


def test_plan_prints_tree_counts_and_writes_plan(in_repo, tmp_path):
    out = tmp_path / "plan"
    result = runner.invoke(app, ["plan", "uae-central", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for text in ("sahab:aws:GpuNodePool", "aws:eks/cluster:Cluster", "Resources per type", "planned uae-central"):
        assert text in result.output, f"{text!r} missing from plan output"
    doc = json.loads((out / "plan.json").read_text())
    assert doc["stack"] == "uae-central" and len(doc["resources"]) > 150


def test_plan_of_malformed_environment_fails_with_fields_and_writes_nothing(in_repo, tmp_path, monkeypatch):
    root = tmp_path / "checkout"
    (root / "environments" / "bad").mkdir(parents=True)
    shutil.copy(in_repo / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "stacks").symlink_to(in_repo / "stacks")
    doc = yaml.safe_load((in_repo / "environments/smb/Pulumi.smb.yaml").read_text())
    doc["config"]["sahab:platform"]["inference_tiers"][0]["min_size"] = 1
    doc["config"]["sahab:platform"]["network"]["cidr"] = "8.8.8.0/24"
    (root / "environments/bad/Pulumi.bad.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(root)
    result = runner.invoke(app, ["plan", "bad"])
    assert result.exit_code == 2, result.output
    assert "inference_tiers[0].min_size" in result.output and "network.cidr" in result.output, result.output
    assert not (root / ".sahab").exists(), "a failed plan must not write plan.json"


def test_unknown_environment(in_repo):
    result = runner.invoke(app, ["plan", "atlantis"])
    assert result.exit_code == 2
    assert "environment 'atlantis' not found" in result.output


def test_up_without_pulumi_cli_says_what_to_install(in_repo, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = runner.invoke(app, ["up", "uae-central"])
    assert result.exit_code == 2
    assert "Pulumi CLI is not installed" in result.output and "sahab plan" in result.output


def test_missing_credentials_say_what_to_set(tmp_path):
    with pytest.raises(deploy.DeployError, match="AWS_PROFILE"):
        deploy.check_prerequisites("aws", env={"HOME": str(tmp_path)}, which=lambda _: "/usr/bin/pulumi")
    assert deploy.check_prerequisites("aws", env={"HOME": str(tmp_path), "AWS_PROFILE": "uae"}, which=lambda _: "/x/pulumi") == "/x/pulumi"


@pytest.mark.parametrize(
    ("url", "secrets", "error"),
    [
        ("https://api.pulumi.com", "awskms://alias/k?region=me-central-1", "outside the UAE"),
        ("s3://state?region=eu-west-1", "awskms://alias/k?region=me-central-1", "in-region bucket"),
        ("s3://state", "awskms://alias/k?region=me-central-1", "in-region bucket"),
        ("s3://state?region=me-central-1", "awskms://alias/k?region=us-east-1", "must be in-region"),
        ("s3://state?region=me-central-1", "gcpkms://projects/x", "awskms://"),
    ],
)
def test_state_backend_must_stay_in_the_uae(url, secrets, error):
    with pytest.raises(deploy.DeployError, match=error):
        deploy.Backend(url, secrets).check_in_region()


def test_backend_is_required(in_repo, monkeypatch):
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    with pytest.raises(deploy.DeployError, match="sahab bootstrap uae-central"):
        deploy.read_backend(in_repo, "uae-central")


@pytest.fixture
def fake_pulumi(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "pulumi"
    exe.write_text(FAKE_PULUMI)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "pulumi.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    monkeypatch.setenv("AWS_PROFILE", "uae-platform")
    return log


def test_up_runs_the_real_program_with_the_environment_config(in_repo, fake_pulumi):
    result = runner.invoke(
        app, ["up", "uae-central", "--backend-url", "s3://state?region=me-central-1", "--secrets-provider", "awskms://alias/sahab?region=me-central-1"]
    )
    assert result.exit_code == 0, result.output
    calls = fake_pulumi.read_text().splitlines()
    up = next(c for c in calls if " up " in f" {c} ")
    assert "environments/uae-central/Pulumi.uae-central.yaml" in up.split("--config-file ")[1].split()[0], up
    assert "--stack uae-central" in up and "--yes" in up, up
    packs = sorted(p.name for p in (in_repo / "policy_packs").glob("*") if (p / "PulumiPolicy.yaml").exists())
    for pack in packs:
        assert f"policy_packs/{pack}" in up, f"policy pack {pack} not enforced on up: {up}"


def test_preview_and_destroy(in_repo, fake_pulumi):
    env = ["--backend-url", "s3://state?region=me-central-1", "--secrets-provider", "awskms://alias/sahab?region=me-central-1"]
    assert runner.invoke(app, ["preview", "smb", *env]).exit_code == 0
    assert runner.invoke(app, ["destroy", "smb", *env]).exit_code == 0
    calls = fake_pulumi.read_text().splitlines()
    assert any(" preview " in f" {c} " and "environments/smb/Pulumi.smb.yaml" in c for c in calls), calls
    destroy = next(c for c in calls if " destroy " in f" {c} ")
    assert "--policy-pack" not in destroy and "--stack smb" in destroy, destroy


def test_bootstrap_refuses_regions_outside_the_uae(in_repo):
    with pytest.raises(deploy.DeployError, match="not in the UAE"):
        deploy.bootstrap(Path(in_repo), "smb", "eu-central-1")


def test_up_with_a_bad_spec_stops_before_the_cli(in_repo, fake_pulumi, tmp_path, monkeypatch):
    root = tmp_path / "checkout"
    (root / "environments" / "bad").mkdir(parents=True)
    shutil.copy(in_repo / "Pulumi.yaml", root / "Pulumi.yaml")
    doc = yaml.safe_load((in_repo / "environments/smb/Pulumi.smb.yaml").read_text())
    doc["config"]["sahab:platform"]["region"] = "me-south-1"
    (root / "environments/bad/Pulumi.bad.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.chdir(root)
    result = runner.invoke(app, ["up", "bad", "--backend-url", "s3://state?region=me-central-1", "--secrets-provider", "awskms://alias/s?region=me-central-1"])
    assert result.exit_code == 2 and "Bahrain" in result.output, result.output
    assert " up " not in f" {fake_pulumi.read_text()} ", "the Pulumi CLI ran despite an invalid spec"


# --- one error base, mapped to exit codes in one place; choices validated --------------------------


def _commands(typer_app, prefix=()):
    """(command path, callback) of every command, sub-apps included."""
    for info in typer_app.registered_commands:
        yield (*prefix, info.name or info.callback.__name__), info.callback
    for group in typer_app.registered_groups:
        yield from _commands(group.typer_instance, (*prefix, group.name))


def test_every_command_maps_errors_through_the_one_handler():
    commands = dict(_commands(app))
    assert {("plan",), ("check",), ("policy", "check"), ("local", "status")} <= set(commands), f"commands found: {sorted(commands)}"
    bare = [" ".join(path) for path, callback in commands.items() if not getattr(callback, "__sahab_exits__", False)]
    assert not bare, f"decorate these commands with @exits (sahab/cli/errors.py) so a SahabError ends them with its exit code: {bare}"


@pytest.mark.parametrize(
    ("args", "allowed"),
    [
        (["check", "smb", "--format", "xml"], ("'text'", "'json'")),
        (["policy", "check", "tests/policy/programs", "--format", "xml"], ("'text'", "'json'")),
        (["cost", "smb", "--format", "xml"], ("'text'", "'json'", "'md'")),
        (["local", "status", "--format", "xml"], ("'text'", "'json'")),
        (["verify", "local", "--part", "clod"], ("'cloud'", "'cluster'", "'workloads'", "'local'")),
    ],
)
def test_a_choice_typo_is_an_error_naming_the_allowed_values(in_repo, args, allowed):
    result = runner.invoke(app, args)
    assert result.exit_code == 2, f"sahab {' '.join(args)}: exit {result.exit_code}, expected 2 (a usage error)\n{result.output}"
    assert all(a in result.output for a in allowed), f"sahab {' '.join(args)}: the error must name {allowed}:\n{result.output}"
    assert "Traceback" not in result.output, f"sahab {' '.join(args)}: a usage error, not a crash:\n{result.output}"


def test_verify_parts_are_the_runners_parts():
    from sahab.cli.main import VerifyPart
    from sahab.ops.verify.parts import PARTS

    assert [p.value for p in VerifyPart] == list(PARTS), (
        f"sahab/cli/main.py VerifyPart {[p.value for p in VerifyPart]} != sahab/ops/verify/parts.py PARTS {PARTS}"
    )


def test_outside_a_checkout_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["plan", "smb"])
    assert result.exit_code == 2 and "error: run sahab inside a Sahab checkout" in result.output, result.output


def test_local_errors_end_with_their_class_exit_code(tmp_path, monkeypatch):
    from sahab.cli import local as local_cli
    from workloads.local.platform import LocalError

    (tmp_path / "state.json").write_text(json.dumps({"format": 99, "services": []}))
    result = runner.invoke(app, ["local", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2, f"an unreadable state file (LocalStateError) must exit 2, got {result.exit_code}: {result.output}"
    assert "error:" in result.output and "state.json (state): format 99" in result.output, result.output

    def failed(state_dir):
        raise LocalError("feast (local service): exited with 1 right after start [secret] kept. Fix: read its log.")

    monkeypatch.setattr(local_cli, "status", failed)
    result = runner.invoke(app, ["local", "status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1, f"a LocalError (a run that failed) must exit 1, got {result.exit_code}: {result.output}"
    flat = " ".join(result.output.split())
    assert "error: feast (local service): exited with 1 right after start [secret] kept. Fix: read its log." in flat, (
        f"message must print as written: {result.output}"
    )


def test_a_failed_deployment_exits_1_with_the_clis_message(in_repo, fake_pulumi):
    exe = Path(os.environ["PATH"].split(os.pathsep)[0]) / "pulumi"
    exe.write_text(FAKE_PULUMI.replace('  *) echo "fake pulumi', '  "up "*) echo "error: the fake cloud refused" >&2; exit 1;;\n  *) echo "fake pulumi'))
    result = runner.invoke(
        app, ["up", "smb", "--backend-url", "s3://state?region=me-central-1", "--secrets-provider", "awskms://alias/sahab?region=me-central-1"]
    )
    assert result.exit_code == 1, f"a deployment that ran and failed must exit 1 (DeployFailed), got {result.exit_code}: {result.output}"
    assert "error: pulumi up failed" in " ".join(result.output.split()), result.output
