"""The runtime and the tabular library: bad configs, determinism, kill-and-resume equality,
checkpoint stores, plain DDP on two ranks, one MLflow run per training under the launcher, and the
transaction-risk team's train.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from project_fixtures import SIGTERM_TORCH_TRAIN, assert_same_weights, kill_at, quiet, synthetic_frame, write_project
from pydantic import ValidationError
from workload_helpers import FakeS3, tiny_config

from workloads.training.checkpoint import CheckpointMismatch, S3Store, open_store
from workloads.training.runtime import run_training
from workloads.training.tabular import TabularConfig, TabularMLP, deepspeed_json, validate_deepspeed_json

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "data, field, allowed",
    [
        ({"model": {"kind": "cnn"}}, "model.kind", "'mlp' or 'transformer'"),
        ({"batch_size": 100, "grad_accum_steps": 3}, "batch_size", "divisible by grad_accum_steps"),
        ({"optimizer": {}}, "optimizer", "Extra inputs are not permitted"),
        ({"precision": "bf16", "device": "cpu"}, "precision", "needs device 'cuda'"),
        ({"deepspeed": {"enabled": True, "zero_stage": 0, "offload_optimizer": True}}, "offload_optimizer", "zero_stage >= 1"),
        ({"model": {"kind": "transformer", "hidden": 30, "heads": 4}}, "model.hidden", "divisible by model.heads"),
        ({"steps": 10, "optim": {"warmup_steps": 10}}, "warmup_steps", "< steps"),
    ],
)
def test_bad_config_names_field_and_what_is_allowed(data, field, allowed):
    with pytest.raises(ValidationError) as err:
        TabularConfig.model_validate(data)
    text = str(err.value)
    assert field.split(".")[-1] in text and allowed in text, text


def test_deepspeed_json_sets_exactly_two_batch_keys():
    cfg = TabularConfig.model_validate(
        {"batch_size": 256, "grad_accum_steps": 4, "precision": "bf16", "deepspeed": {"enabled": True, "zero_stage": 2, "offload_optimizer": True}}
    )
    ds = deepspeed_json(cfg)
    keys = {"train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps"} & ds.keys()
    assert keys == {"train_batch_size", "gradient_accumulation_steps"}, f"batch keys {keys}"
    assert ds["zero_optimization"] == {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": True}}, ds["zero_optimization"]
    assert ds["bf16"] == {"enabled": True}, ds
    validate_deepspeed_json(ds)
    with pytest.raises(ValueError, match="world_size"):
        deepspeed_json(cfg, world_size=3)
    with pytest.raises(ValueError, match="exactly two"):
        validate_deepspeed_json({**ds, "train_micro_batch_size_per_gpu": 64})


def test_a_bad_config_fails_before_training_naming_the_field(small_data):
    project, frame = small_data
    with pytest.raises(ValidationError, match="optimiser"):
        run_training(project, frame, overrides={"optimiser": {"lr": 1}}, log=quiet)


def test_training_is_deterministic_and_learns(small_data):
    project, frame = small_data
    a = run_training(project, frame, overrides=tiny_config(steps=80), log=quiet)
    b = run_training(project, frame, overrides=tiny_config(steps=80), log=quiet)
    assert_same_weights(a.model, b.model)
    assert a.validation_metrics["val_auc"] > 0.8, a.validation_metrics
    assert {"val_auc", "val_precision", "val_recall", "val_ece", "val_brier", "val_logloss"} <= a.validation_metrics.keys(), a.validation_metrics
    assert a.step == 80 and a.history[-1] == (80, a.validation_metrics), f"the final metrics are logged once at step 80: {a.history[-2:]}"


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_sigterm_then_resume_equals_uninterrupted(tmp_path, small_data, kind):
    project, frame = small_data
    cfg = tiny_config(steps=30, log_every=13, grad_accum_steps=2, model={"kind": kind, "hidden": 16, "layers": 1, "heads": 2})
    reference = run_training(project, frame, overrides=cfg, log=quiet)
    uri = str(tmp_path / "ckpt")

    interrupted = run_training(project, frame, overrides=cfg, checkpoint_uri=uri, log=kill_at(13))
    assert interrupted.interrupted and interrupted.step == 13 and interrupted.model is None, (interrupted.interrupted, interrupted.step)
    assert open_store(uri).latest_step() == 13, "the stop writes a checkpoint at the step it happened"
    lines: list[str] = []
    resumed = run_training(project, frame, overrides=cfg, checkpoint_uri=uri, resume=True, log=lines.append)
    assert "resume: continuing from step 13" in lines, lines[:3]
    assert not resumed.interrupted and resumed.step == 30, (resumed.interrupted, resumed.step)
    assert_same_weights(reference.model, resumed.model)
    assert resumed.validation_metrics == reference.validation_metrics, "same weights, same validation metrics"


def test_resume_refuses_a_different_config_or_other_data(tmp_path, small_data):
    project, frame = small_data
    uri = str(tmp_path)
    run_training(project, frame, overrides=tiny_config(steps=20), checkpoint_uri=uri, log=quiet)
    with pytest.raises(CheckpointMismatch, match="different config in \\['optim'\\]"):
        run_training(project, frame, overrides=tiny_config(steps=20, optim={"lr": 0.01}), checkpoint_uri=uri, resume=True, log=quiet)
    with pytest.raises(CheckpointMismatch, match="trained on data .* this run's data is"):
        run_training(project, frame.iloc[:5_000], overrides=tiny_config(steps=20), checkpoint_uri=uri, resume=True, log=quiet)
    again = run_training(project, frame, overrides=tiny_config(steps=20, log_every=5), checkpoint_uri=uri, resume=True, log=quiet)
    assert again.step == 20, "the same config (log_every is free) and data resume"


def test_checkpoints_keep_only_the_last_ones(tmp_path, small_data):
    project, frame = small_data
    run_training(project, frame, overrides=tiny_config(steps=40), checkpoint_uri=str(tmp_path), keep_last=2, log=quiet)
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000030", "step-00000040"], "every 10 steps, the last two kept"


def test_resume_without_a_checkpoint_uri_is_a_clear_error(small_data):
    from workloads.errors import SahabError

    project, frame = small_data
    with pytest.raises(SahabError, match="--resume needs a checkpoint URI"):
        run_training(project, frame, overrides=tiny_config(steps=10), resume=True, log=quiet)


def test_object_storage_checkpoints_resume_exactly(small_data):
    project, frame = small_data
    s3, uri = FakeS3(), "s3://ckpt-bucket/runs/r1"
    cfg = tiny_config(steps=25)
    reference = run_training(project, frame, overrides=cfg, checkpoint_uri=uri, checkpoint_client=s3, keep_last=1, log=quiet)
    assert S3Store(uri, s3).latest_step() == 25, "the final step is checkpointed"
    assert not any("step-00000010" in k for k in s3.objects), "keep_last=1 must prune older checkpoints"
    resumed = run_training(project, frame, overrides=cfg, checkpoint_uri=uri, checkpoint_client=s3, resume=True, log=quiet)
    assert resumed.step == 25
    assert_same_weights(reference.model, resumed.model)


def test_the_transaction_risk_train_function_uses_the_tabular_library():
    from workloads.project import resolve

    project = resolve(REPO / "projects" / "transaction-risk")
    frame = synthetic_frame(project.spec, 4_000, seed=3)
    outcome = run_training(project, frame, overrides={"steps": 60, "batch_size": 128, "threads": 1, "optim.warmup_steps": 5}, log=quiet)
    assert isinstance(outcome.model, TabularMLP), type(outcome.model)
    assert outcome.encoding.numeric == project.spec.numeric and outcome.encoding.label == project.spec.label.column, outcome.encoding
    assert outcome.validation_metrics["val_auc"] > 0.7, outcome.validation_metrics


def _write_frame(tmp_path: Path, project) -> Path:
    path = tmp_path / "frame.parquet"
    synthetic_frame(project.spec, 3_000, seed=5).to_parquet(path, index=False)
    return path


@pytest.mark.slow
def test_cli_killed_by_sigterm_resumes_to_the_same_weights(tmp_path):
    """The real thing: a training process gets SIGTERM mid-run, exits 143, and --resume finishes
    it with the weights an uninterrupted run of the same config reaches."""
    import pandas as pd

    project = write_project(tmp_path, framework="torch", task="binary", checkpoint_every=1000)
    data = _write_frame(tmp_path, project)
    sets = ["steps=300", "log_every=10", "threads=1", "batch_size=64", "eval_every=1000", "optim.warmup_steps=5"]
    ckpt = tmp_path / "ckpt"
    args = [sys.executable, "-m", "workloads.training", "--no-track", "--project", str(project.folder), "--data", str(data), "--checkpoint-uri", str(ckpt)]
    args += [a for s in sets for a in ("--set", s)]
    env = {**os.environ, "SAHAB_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("step 30/"):
            proc.send_signal(signal.SIGTERM)
            break
    out = proc.stdout.read()
    assert proc.wait(timeout=120) == 143, out
    step = open_store(str(ckpt)).latest_step()
    assert step is not None and 30 <= step < 300, f"checkpoint at step {step}"
    done = subprocess.run(args + ["--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resume: continuing from step {step}" in done.stdout, done.stdout[:2000]

    from workloads.training.__main__ import parse_overrides

    reference = run_training(project, pd.read_parquet(data), overrides=parse_overrides(sets), log=quiet)
    resumed = torch.load(ckpt / "step-00000300" / "state.pt", weights_only=False)["state"]["model"]
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor, resumed[name]), f"tensor {name} differs after kill-and-resume"


@pytest.mark.slow
def test_plain_ddp_on_two_ranks_stops_together_and_resumes_exactly(tmp_path):
    """Two real processes over gloo, no DeepSpeed: both ranks train (each its half of the global
    batch, gradients averaged), agree bit for bit, match one process up to rounding; SIGTERM to
    rank 1 alone stops both at the same step, and the resume ends where an uninterrupted run does."""
    from distributed_helpers import run_ranks

    project = write_project(tmp_path, framework="torch", task="binary", checkpoint_every=4, source=SIGTERM_TORCH_TRAIN)
    data = _write_frame(tmp_path, project)
    overrides = tiny_config(steps=12, batch_size=64, log_every=1, model={"dropout": 0.0})
    common = dict(project_dir=str(project.folder), frame_path=str(data), overrides=overrides)
    for name in ("whole", "cut", "resumed"):
        (tmp_path / name).mkdir()

    assert run_ranks(2, uri=None, resume=False, sigterm_rank=None, sigterm_at=None, out=str(tmp_path / "whole"), **common) == [0, 0]
    whole = [torch.load(tmp_path / "whole" / f"rank{r}.pt") for r in (0, 1)]
    assert [(w["step"], w["interrupted"], w["rank"], w["world"]) for w in whole] == [(12, False, 0, 2), (12, False, 1, 2)], "both ranks train to the end"
    for name, tensor in whole[0]["weights"].items():
        assert torch.equal(tensor, whole[1]["weights"][name]), f"ranks disagree on {name}"
    import pandas as pd

    single = run_training(project, pd.read_parquet(data), overrides=overrides, log=quiet).model.state_dict()
    for name, tensor in whole[0]["weights"].items():
        torch.testing.assert_close(tensor, single[name], rtol=1e-4, atol=1e-5, msg=f"two ranks and one process differ on {name}")

    uri = str(tmp_path / "ckpt")
    assert run_ranks(2, uri=uri, resume=False, sigterm_rank=1, sigterm_at=5, out=str(tmp_path / "cut"), **common) == [0, 0]
    cut = [torch.load(tmp_path / "cut" / f"rank{r}.pt") for r in (0, 1)]
    assert [(c["step"], c["interrupted"]) for c in cut] == [(5, True), (5, True)], f"SIGTERM to rank 1 stops both at step 5: {[c['step'] for c in cut]}"
    assert open_store(uri).latest_step() == 5, "the stop step is checkpointed"
    assert run_ranks(2, uri=uri, resume=True, sigterm_rank=None, sigterm_at=None, out=str(tmp_path / "resumed"), **common) == [0, 0]
    for r in (0, 1):
        resumed = torch.load(tmp_path / "resumed" / f"rank{r}.pt")
        assert (resumed["step"], resumed["interrupted"]) == (12, False), f"rank {r} resumed to {resumed['step']}"
        for name, tensor in whole[0]["weights"].items():
            assert torch.equal(tensor, resumed["weights"][name]), f"rank {r}: {name} differs from the uninterrupted run after the resume"


@pytest.mark.slow
def test_two_ranks_under_the_launcher_make_one_mlflow_run(tmp_path):
    from workloads.registry.client import mlflow_client
    from workloads.settings import SahabSettings

    project = write_project(tmp_path, framework="torch", task="binary")
    data = _write_frame(tmp_path, project)
    home = tmp_path / "home"
    command = [sys.executable, "-m", "workloads.training", "--project", str(project.folder), "--data", str(data)]
    command += [a for s in ("steps=8", "batch_size=64", "threads=1", "optim.warmup_steps=2", "eval_every=4") for a in ("--set", s)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAHAB_MLFLOW", "RANK", "WORLD_SIZE", "MASTER_"))}
    env.update(SAHAB_HOME=str(home), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, "-m", "workloads.training.launch", "--nproc", "2", "--", *command], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("run_id=") == 1, f"one rank reports the run: {done.stdout[-2000:]}"
    settings = SahabSettings(home=home, mlflow_tracking_uri=None)
    client = mlflow_client(settings)
    experiment = client.get_experiment_by_name(project.name)
    assert experiment is not None, f"the experiment is named after the project ({project.name})"
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1, f"two ranks, one training: {len(runs)} MLflow runs"
    run = runs[0]
    assert run.info.status == "FINISHED" and "val_auc" in run.data.metrics, (run.info.status, run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "native")}
    assert {"native/model.pt", "native/feature_spec.json", "native/validation.parquet"} <= artifacts, f"native artifacts {artifacts}"
