"""Entry points: --help, and bad configuration as a clear message with a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("module", ["workloads.training", "workloads.export", "workloads.features", "workloads.registry"])
def test_help(module):
    done = run(module, "--help")
    assert done.returncode == 0 and "usage: python -m " + module in done.stdout, done.stderr


def test_training_bad_config_is_one_message_per_field(tmp_path):
    bad = tmp_path / "train.json"
    bad.write_text('{"model": {"kind": "cnn"}, "batch_size": 0, "optimiser": {}}')
    done = run("workloads.training", "--config", str(bad), "--print-config")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr, done.stderr
    for expected in ("model.kind: Input should be 'mlp' or 'transformer'", "batch_size: Input should be greater", "optimiser: Extra inputs are not permitted"):
        assert expected in done.stderr, done.stderr


def test_training_bad_override_and_env(tmp_path):
    done = run("workloads.training", "--set", "steps", "--print-config")
    assert done.returncode == 2 and "expected KEY=VALUE" in done.stderr
    done = run("workloads.training", "--print-config", env={"SAHAB_TRAIN_DATA_PATH": str(tmp_path / "none.parquet"), "SAHAB_HOME": str(tmp_path)})
    assert done.returncode == 0 and '"source": "parquet"' in done.stdout


def test_features_refuses_a_region_outside_the_uae(tmp_path):
    done = run("workloads.features", "apply", env={"SAHAB_FEAST_REGION": "me-south-1", "SAHAB_HOME": str(tmp_path)})
    assert done.returncode == 2 and "not in the UAE" in done.stderr and "Traceback" not in done.stderr


def test_training_missing_data_file(tmp_path):
    done = run(
        "workloads.training", "--no-track", "--set", "data.source=parquet", "--set", f"data.path={tmp_path / 'nope.parquet'}", env={"SAHAB_HOME": str(tmp_path)}
    )
    assert done.returncode == 2 and "does not exist" in done.stderr and "Traceback" not in done.stderr
