"""The offline engine: contract of plan.json, isolation between runs, and failures that register nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from sahab.engine.offline import ProgramError, plan_environment, read_stack_config, run_program, write_plan

PLAN_KEYS = {"urn", "type", "name", "parent", "provider", "provider_inputs", "inputs"}


def _copy_env(repo: Path, tmp_path: Path, env: str, mutate) -> Path:
    """A throwaway checkout holding the program and one environment, edited by `mutate`."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(repo / "Pulumi.yaml", root / "Pulumi.yaml")
    (root / "stacks").symlink_to(repo / "stacks")
    env_dir = root / "environments" / env
    env_dir.mkdir(parents=True)
    doc = yaml.safe_load((repo / "environments" / env / f"Pulumi.{env}.yaml").read_text())
    mutate(doc)
    (env_dir / f"Pulumi.{env}.yaml").write_text(yaml.safe_dump(doc) if isinstance(doc, dict) else doc)
    return root


def test_plan_json_follows_the_contract(uae_plan, tmp_path):
    path = write_plan(uae_plan, tmp_path / "out")
    doc = json.loads(path.read_text())
    assert doc["stack"] == "uae-central"
    assert doc["resources"], "no resources"
    for r in doc["resources"]:
        assert PLAN_KEYS <= set(r), f"{r.get('urn')}: missing {PLAN_KEYS - set(r)}"
        if r["custom"] and not r["type"].startswith("pulumi:providers:"):
            assert r["provider"].startswith("urn:pulumi:uae-central::sahab::"), f"{r['urn']}: provider {r['provider']!r}"
    urns = {r["urn"] for r in doc["resources"]}
    for r in doc["resources"]:
        assert not r["parent"] or r["parent"] in urns, f"{r['urn']}: parent {r['parent']} not in plan"
    assert not list(tmp_path.glob("out/*.tmp")), "temporary files left behind"


def test_inputs_are_engine_camel_case(uae_plan):
    (cluster,) = uae_plan.by_type("aws:eks/cluster:Cluster")
    assert "vpcConfig" in cluster.inputs and "vpc_config" not in cluster.inputs
    assert cluster.inputs["vpcConfig"]["endpointPrivateAccess"] is True


def test_default_provider_is_synthesised_from_stack_config(tmp_path):
    program = tmp_path / "prog"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: tiny\nruntime: python\n")
    (program / "__main__.py").write_text("import pulumi_aws as aws\naws.s3.Bucket('b')\n")
    plan = run_program(program, "dev", {"aws:region": "me-central-1"})
    (bucket,) = plan.by_type("aws:s3/bucket:Bucket")
    assert bucket.provider == "urn:pulumi:dev::tiny::pulumi:providers:aws::default"
    assert bucket.provider_inputs == {"region": "me-central-1"}


def test_runs_are_isolated_and_deterministic(repo, uae_plan):
    again = plan_environment(repo, "uae-central")
    first = [r.to_json() for r in uae_plan.resources]
    second = [r.to_json() for r in again.resources]
    assert first == second, "two offline runs of the same environment differ"


def test_malformed_environment_registers_nothing_and_names_fields(repo, tmp_path):
    def break_it(doc):
        spec = doc["config"]["sahab:platform"]
        spec["region"] = "me-south-1"
        spec["gpu_pools"][0]["instance_types"] = ["p4d.24xlarge"]
        spec["gpu_pools"][0]["min_size"] = 5
        spec["typo"] = True

    root = _copy_env(repo, tmp_path, "uae-central", break_it)
    with pytest.raises(ProgramError) as info:
        plan_environment(root, "uae-central")
    message = str(info.value)
    for path in ("region: AWS me-south-1 is Bahrain", "gpu_pools[0]", "typo: unknown key"):
        assert path in message, f"{path!r} not in {message}"
    assert info.value.registered == (), f"resources registered despite a bad spec: {info.value.registered}"


def test_missing_platform_config(repo, tmp_path):
    root = _copy_env(repo, tmp_path, "smb", lambda doc: doc["config"].pop("sahab:platform"))
    with pytest.raises(ProgramError, match="missing stack config `sahab:platform`"):
        plan_environment(root, "smb")


def test_not_yaml(repo, tmp_path):
    root = _copy_env(repo, tmp_path, "smb", lambda doc: None)
    (root / "environments" / "smb" / "Pulumi.smb.yaml").write_text("config: [unclosed\n")
    with pytest.raises(ProgramError, match="not valid YAML"):
        plan_environment(root, "smb")


def test_unknown_environment_and_stack(repo):
    with pytest.raises(ProgramError, match=r"known: \[.*'smb'.*'uae-central'.*\]"):  # every folder under environments/
        plan_environment(repo, "dubai")
    with pytest.raises(ProgramError, match="stacks of 'smb': \\['smb'\\]"):
        plan_environment(repo, "smb", stack="prod")


def test_program_exception_is_reported_not_swallowed(tmp_path):
    program = tmp_path / "prog"
    program.mkdir()
    (program / "Pulumi.yaml").write_text("name: boom\nruntime: python\n")
    (program / "__main__.py").write_text("raise ValueError('network.cidr: bad')\n")
    with pytest.raises(ProgramError, match="ValueError: network.cidr: bad"):
        run_program(program, "dev", {})


def test_folder_without_project(tmp_path):
    with pytest.raises(ProgramError, match="no Pulumi.yaml here"):
        run_program(tmp_path, "dev", {})


def test_secure_config_is_masked(tmp_path):
    f = tmp_path / "Pulumi.dev.yaml"
    f.write_text("config:\n  aws:region: me-central-1\n  token:\n    secure: v1:abc\n")
    assert read_stack_config(f, "proj") == {"aws:region": "me-central-1", "proj:token": "[secret]"}


@pytest.mark.timeout(120)
def test_plan_after_unit_test_mocks_does_not_hang(repo, unit_mocks):
    """A plan in a process where `pulumi.runtime.set_mocks` ran before (unit tests) must finish."""
    from components import aws as c

    c.Registry("leftover", c.RegistryArgs(key_arn="arn:k"))  # leaves registrations pending on that runtime
    plan = plan_environment(repo, "smb")
    assert plan.by_type("aws:eks/cluster:Cluster"), "plan after set_mocks is empty"
