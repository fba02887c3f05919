"""Entry points: --help, and bad configuration as a clear message with a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RISK = str(REPO / "projects" / "transaction-risk")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=120, env={**base, **(env or {})})


@pytest.mark.parametrize("module", ["workloads.training", "workloads.export", "workloads.features", "workloads.registry"])
def test_help(module):
    done = run(module, "--help")
    assert done.returncode == 0 and "usage: python -m " + module in done.stdout, done.stderr


def test_training_bad_config_is_one_message_per_field(tmp_path):
    folder = tmp_path / "transaction-risk"
    folder.mkdir()
    raw = yaml.safe_load((Path(RISK) / "project.yaml").read_text())
    raw["training"]["config"] = {"model": {"kind": "cnn"}, "batch_size": 0, "optimiser": {}}
    (folder / "project.yaml").write_text(yaml.safe_dump(raw))
    (folder / "train.py").write_text((Path(RISK) / "train.py").read_text())
    done = run("workloads.training", "--project", str(folder), "--print-config")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for expected in ("model.kind: Input should be 'mlp' or 'transformer'", "batch_size: Input should be greater", "optimiser: Extra inputs are not permitted"):
        assert expected in done.stderr, done.stderr


def test_training_prints_the_validated_config_and_refuses_a_bad_override():
    done = run("workloads.training", "--project", RISK, "--print-config", "--set", "steps=70")
    assert done.returncode == 0 and '"steps": 70' in done.stdout and '"grad_accum_steps": 1' in done.stdout, done.stdout + done.stderr
    done = run("workloads.training", "--set", "steps", "--print-config", env={"SAHAB_PROJECT": RISK})
    assert done.returncode == 2 and "expected KEY=VALUE" in done.stderr, done.stderr


def test_training_without_a_project_or_data_says_what_to_set(tmp_path):
    done = run("workloads.training", "--print-config")
    assert done.returncode == 2 and "SAHAB_PROJECT is not set" in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = run("workloads.training", "--project", RISK, "--no-track", env={"SAHAB_HOME": str(tmp_path)})
    assert done.returncode == 2 and "give --data PATH" in done.stderr, done.stderr


def test_features_refuses_a_region_outside_the_uae(tmp_path):
    done = run("workloads.features", "apply", env={"SAHAB_FEAST_REGION": "me-south-1", "SAHAB_HOME": str(tmp_path), "SAHAB_PROJECT": RISK})
    assert done.returncode == 2 and "not in the UAE" in done.stderr and "Traceback" not in done.stderr


def test_training_missing_data_file(tmp_path):
    done = run("workloads.training", "--project", RISK, "--no-track", "--data", str(tmp_path / "nope.parquet"), env={"SAHAB_HOME": str(tmp_path)})
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr, done.stderr
