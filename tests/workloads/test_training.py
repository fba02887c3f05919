"""Trainer: bad configs, determinism, kill-and-resume equality, checkpoint stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError
from workload_helpers import FakeS3, tiny_config

from workloads.training.checkpoint import S3Store, open_store
from workloads.training.config import TrainConfig, deepspeed_json, validate_deepspeed_json
from workloads.training.trainer import train

REPO = Path(__file__).resolve().parents[2]


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), f"tensor {name} differs"


@pytest.mark.parametrize(
    "data, field, allowed",
    [
        ({"model": {"kind": "cnn"}}, "model.kind", "'mlp' or 'transformer'"),
        ({"batch_size": 100, "grad_accum_steps": 3}, "batch_size", "divisible by grad_accum_steps"),
        ({"optimizer": {}}, "optimizer", "Extra inputs are not permitted"),
        ({"precision": "bf16", "device": "cpu"}, "precision", "needs device 'cuda'"),
        ({"deepspeed": {"enabled": True, "zero_stage": 0, "offload_optimizer": True}}, "offload_optimizer", "zero_stage >= 1"),
        ({"model": {"kind": "transformer", "hidden": 30, "heads": 4}}, "model.hidden", "divisible by model.heads"),
        ({"data": {"source": "parquet"}}, "data.path", "required"),
        ({"steps": 10, "optim": {"warmup_steps": 10}}, "warmup_steps", "< steps"),
    ],
)
def test_bad_config_names_field_and_what_is_allowed(data, field, allowed):
    with pytest.raises(ValidationError) as err:
        TrainConfig.model_validate(data)
    text = str(err.value)
    assert field.split(".")[-1] in text and allowed in text, text


def test_deepspeed_json_sets_exactly_two_batch_keys():
    cfg = TrainConfig.model_validate(
        {"batch_size": 256, "grad_accum_steps": 4, "precision": "bf16", "deepspeed": {"enabled": True, "zero_stage": 2, "offload_optimizer": True}}
    )
    ds = deepspeed_json(cfg)
    keys = {"train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps"} & ds.keys()
    assert keys == {"train_batch_size", "gradient_accumulation_steps"}
    assert ds["zero_optimization"] == {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": True}}
    assert ds["bf16"] == {"enabled": True}
    validate_deepspeed_json(ds)
    with pytest.raises(ValueError, match="world_size"):
        deepspeed_json(cfg, world_size=3)
    with pytest.raises(ValueError, match="exactly two"):
        validate_deepspeed_json({**ds, "train_micro_batch_size_per_gpu": 64})


def test_training_is_deterministic_and_learns(small_data):
    cfg = tiny_config(steps=80)
    a, b = train(cfg, small_data, log=lambda s: None), train(cfg, small_data, log=lambda s: None)
    assert_same_weights(a.model, b.model)
    assert a.metrics["val_auc"] > 0.7, a.metrics  # 1,500 out-of-time rows, ~45 frauds: noisy
    assert {"val_auc", "val_precision", "val_recall", "val_ece", "val_brier"} <= a.metrics.keys()


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_sigterm_then_resume_equals_uninterrupted(tmp_path, small_data, kind):
    cfg = tiny_config(tmp_path / "ckpt", steps=30, log_every=13, grad_accum_steps=2, model={"kind": kind, "hidden": 16, "layers": 1, "heads": 2})
    reference = train(cfg.model_copy(update={"checkpoint": cfg.checkpoint.model_copy(update={"uri": None})}), small_data, log=lambda s: None)

    def kill_at_13(line: str) -> None:
        if line.startswith("step 13/"):
            os.kill(os.getpid(), signal.SIGTERM)  # what the kubelet sends on a spot notice

    interrupted = train(cfg, small_data, log=kill_at_13)
    assert interrupted.interrupted and interrupted.step == 13
    assert open_store(str(tmp_path / "ckpt")).latest_step() == 13
    resumed = train(cfg, small_data, resume=True, log=lambda s: None)
    assert not resumed.interrupted and resumed.step == 30
    assert_same_weights(reference.model, resumed.model)
    assert resumed.metrics["val_auc"] == reference.metrics["val_auc"]


def test_resume_refuses_a_different_config(tmp_path, small_data):
    train(tiny_config(tmp_path, steps=20), small_data, log=lambda s: None)
    with pytest.raises(ValueError, match="different config in \\['optim'\\]"):
        train(tiny_config(tmp_path, steps=20, optim={"lr": 0.01, "warmup_steps": 5}), small_data, resume=True, log=lambda s: None)


def test_checkpoints_keep_only_the_last_ones(tmp_path, small_data):
    train(tiny_config(tmp_path, steps=40, checkpoint={"uri": str(tmp_path), "every_steps": 10, "keep_last": 2}), small_data, log=lambda s: None)
    assert sorted(p.name for p in tmp_path.glob("step-*")) == ["step-00000030", "step-00000040"]


def test_object_storage_checkpoints_resume_exactly(small_data):
    s3 = FakeS3()
    cfg = tiny_config(steps=25, checkpoint={"uri": "s3://ckpt-bucket/runs/r1", "every_steps": 10, "keep_last": 1})
    reference = train(cfg, small_data, log=lambda s: None, store=S3Store(cfg.checkpoint.uri, s3))
    assert S3Store(cfg.checkpoint.uri, s3).latest_step() == 25
    assert not any("step-00000010" in k for k in s3.objects), "keep_last=1 must prune older checkpoints"
    s3.objects = {k: v for k, v in s3.objects.items()}  # a fresh job sees only what is in the bucket
    longer = cfg.model_copy(update={"steps": 25})
    resumed = train(longer, small_data, resume=True, log=lambda s: None, store=S3Store(cfg.checkpoint.uri, s3))
    assert resumed.step == 25
    assert_same_weights(reference.model, resumed.model)


@pytest.mark.slow
def test_cli_killed_by_sigterm_resumes_to_the_same_weights(tmp_path):
    """The real thing: a training process gets SIGTERM mid-run, exits 143, and --resume finishes
    it with the weights an uninterrupted run of the same config reaches."""
    from workloads.training.__main__ import parse_overrides
    from workloads.training.config import apply_overrides
    from workloads.training.data import prepare
    from workloads.training.data_source import load_frame

    sets = ["data.rows=3000", "steps=300", "log_every=10", "threads=1", "batch_size=64", "checkpoint.every_steps=1000", f"checkpoint.uri={tmp_path / 'ckpt'}"]
    args = [sys.executable, "-m", "workloads.training", "--no-track"] + [a for s in sets for a in ("--set", s)]
    env = {**os.environ, "SAHAB_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("step 30/"):
            proc.send_signal(signal.SIGTERM)
            break
    out = proc.stdout.read()
    assert proc.wait(timeout=120) == 143, out
    step = open_store(str(tmp_path / "ckpt")).latest_step()
    assert step is not None and 30 <= step < 300, f"checkpoint at step {step}"
    done = subprocess.run(args + ["--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resume: continuing from step {step}" in done.stdout

    cfg = TrainConfig.model_validate(apply_overrides({}, parse_overrides(sets)))
    cfg = cfg.model_copy(update={"checkpoint": cfg.checkpoint.model_copy(update={"uri": None})})
    reference = train(cfg, prepare(load_frame(cfg.data)[0], cfg.data.val_fraction), log=lambda s: None)
    resumed = torch.load(tmp_path / "ckpt" / "step-00000300" / "state.pt", weights_only=False)["model"]
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor, resumed[name]), f"tensor {name} differs after kill-and-resume"
