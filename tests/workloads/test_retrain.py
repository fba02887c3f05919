"""`python -m workloads.pipeline retrain`: feature store -> point-in-time training set -> train ->
export -> challenger in the registry, as the drift job's trigger starts it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_retrain_registers_a_challenger_from_the_feature_store(tmp_path):
    from workloads.data.generator import generate
    from workloads.features.store import FeatureRepo
    from workloads.registry.client import CHALLENGER, mlflow_client, resolve, verify
    from workloads.settings import FeatureStoreSettings, SahabSettings

    home = tmp_path / "home"
    repo = FeatureRepo(home, FeatureStoreSettings(mode="local"))
    repo.write_source(generate(8_000, seed=5, days=20))
    repo.apply()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    env.update(SAHAB_HOME=str(home), SAHAB_RETRAIN_KEY="20261201t1400z", SAHAB_RETRAIN_REASON="drift", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [
        sys.executable,
        "-m",
        "workloads.pipeline",
        "retrain",
        "--days",
        "10",
        "--set",
        "steps=40",
        "--set",
        "threads=1",
        "--set",
        "eval_every=40",
        "--set",
        "optim.warmup_steps=5",
    ]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["alias"] == CHALLENGER and summary["sahab.retrain.key"] == "20261201t1400z", summary
    assert 3_000 < summary["rows"] < 5_000, f"--days 10 of 20 should keep about half the 8,000 labels: {summary['rows']}"
    assert "Feast get_historical_features" in done.stdout

    settings = SahabSettings(home=home, mlflow_tracking_uri=None, mlflow_artifact_location=None)
    challenger = resolve(CHALLENGER, settings=settings)
    verify(challenger)
    assert challenger.version == summary["version"]
    tags = mlflow_client(settings).get_model_version(settings.model_name, challenger.version).tags
    assert tags["sahab.retrain.reason"] == "drift" and tags["sahab.drift.reference"] == "monitoring/reference.npz", tags
    run = mlflow_client(settings).get_run(challenger.run_id)
    assert run.data.tags.get("sahab.data.sha256") or tags.get("sahab.data.sha256"), "training data identity recorded"

    bad = subprocess.run([*cmd[:4], "--set", "stepz=3"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "stepz" in bad.stderr, bad.stderr[-2000:]
