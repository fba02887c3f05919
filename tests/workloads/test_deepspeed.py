"""DeepSpeed path of the tabular library, through the runtime. Runs on CPU here (DeepSpeed's CPU
accelerator, gloo, one process); the bf16 CUDA variant runs only where a GPU is present."""

from __future__ import annotations

import pytest
import torch
from project_fixtures import kill_at, quiet
from workload_helpers import tiny_config

from workloads.training.runtime import run_training

deepspeed = pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (extra: gpu)")


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2])
def test_deepspeed_zero_on_cpu_trains_and_resumes_exactly(tmp_path, small_data, stage):
    project, frame = small_data
    cfg = tiny_config(steps=24, log_every=9, grad_accum_steps=2, device="cpu", deepspeed={"enabled": True, "zero_stage": stage})
    reference = run_training(project, frame, overrides=cfg, log=quiet)
    assert reference.validation_metrics["val_auc"] > 0.5, reference.validation_metrics
    uri = str(tmp_path / "ckpt")
    cut = run_training(project, frame, overrides=cfg, checkpoint_uri=uri, log=kill_at(9))
    assert cut.interrupted and cut.step == 9, (cut.interrupted, cut.step)
    resumed = run_training(project, frame, overrides=cfg, checkpoint_uri=uri, resume=True, log=quiet)
    assert resumed.step == 24
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), f"ZeRO-{stage}: tensor {name} differs"


@pytest.mark.slow
def test_deepspeed_matches_plain_torch_step_for_step(small_data):
    """Same seed, same data order, same AdamW: one engine step equals one plain step (ZeRO-1, fp32)."""
    project, frame = small_data
    optim = {"grad_clip": 0.0, "warmup_steps": 1}
    plain = run_training(project, frame, overrides=tiny_config(steps=5, device="cpu", optim=optim), log=quiet)
    ds = run_training(project, frame, overrides=tiny_config(steps=5, device="cpu", optim=optim, deepspeed={"enabled": True, "zero_stage": 1}), log=quiet)
    for name, tensor in plain.model.state_dict().items():
        torch.testing.assert_close(ds.model.state_dict()[name], tensor, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_deepspeed_bf16_transformer_on_gpu(tmp_path, small_data):
    project, frame = small_data
    cfg = tiny_config(
        steps=30,
        device="cuda",
        precision="bf16",
        model={"kind": "transformer", "hidden": 64, "layers": 2, "heads": 4},
        deepspeed={"enabled": True, "zero_stage": 2},
    )
    result = run_training(project, frame, overrides=cfg, checkpoint_uri=str(tmp_path), log=quiet)
    assert result.validation_metrics["val_auc"] > 0.6, result.validation_metrics
    assert next(result.model.parameters()).dtype == torch.bfloat16
