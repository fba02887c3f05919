"""DeepSpeed path. Runs on CPU here (DeepSpeed's CPU accelerator, gloo, one process); the bf16
CUDA variant runs only where a GPU is present."""

from __future__ import annotations

import os
import signal

import pytest
import torch
from workload_helpers import tiny_config

from workloads.training.trainer import train

deepspeed = pytest.importorskip("deepspeed", reason="DeepSpeed is not installed (extra: gpu)")


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2])
def test_deepspeed_zero_on_cpu_trains_and_resumes_exactly(tmp_path, small_data, stage):
    ds = {"enabled": True, "zero_stage": stage}
    cfg = tiny_config(tmp_path / "ckpt", steps=24, log_every=9, grad_accum_steps=2, device="cpu", deepspeed=ds)
    reference = train(cfg.model_copy(update={"checkpoint": cfg.checkpoint.model_copy(update={"uri": None})}), small_data, log=lambda s: None)
    assert reference.metrics["val_auc"] > 0.5, reference.metrics

    def kill_at_9(line: str) -> None:
        if line.startswith("step 9/"):
            os.kill(os.getpid(), signal.SIGTERM)

    assert train(cfg, small_data, log=kill_at_9).interrupted
    resumed = train(cfg, small_data, resume=True, log=lambda s: None)
    assert resumed.step == 24
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), f"ZeRO-{stage}: tensor {name} differs"


@pytest.mark.slow
def test_deepspeed_matches_plain_torch_step_for_step(small_data):
    """Same seed, same data order, same AdamW: one engine step equals one plain step (ZeRO-1, fp32)."""
    plain = train(tiny_config(steps=5, device="cpu", optim={"grad_clip": 0.0, "warmup_steps": 1}), small_data, log=lambda s: None)
    ds = train(
        tiny_config(steps=5, device="cpu", optim={"grad_clip": 0.0, "warmup_steps": 1}, deepspeed={"enabled": True, "zero_stage": 1}),
        small_data,
        log=lambda s: None,
    )
    for name, tensor in plain.model.state_dict().items():
        torch.testing.assert_close(ds.model.state_dict()[name], tensor, rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_deepspeed_bf16_transformer_on_gpu(tmp_path, small_data):
    cfg = tiny_config(
        tmp_path,
        steps=30,
        device="cuda",
        precision="bf16",
        model={"kind": "transformer", "hidden": 64, "layers": 2, "heads": 4},
        deepspeed={"enabled": True, "zero_stage": 2},
    )
    result = train(cfg, small_data, log=lambda s: None)
    assert result.metrics["val_auc"] > 0.6, result.metrics
    assert next(result.model.parameters()).dtype == torch.bfloat16
