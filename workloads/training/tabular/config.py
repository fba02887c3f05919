"""`TabularConfig`: what `training.config` holds for a project trained with
`workloads.training.tabular`, and the DeepSpeed JSON generated from it.

Every model is frozen with `extra="forbid"`: a misspelt key is an error naming the field, never a
silently ignored setting. Cross-field rules live in `model_validator(mode="after")`. Where the rows
come from, the split and the checkpoint store are the platform's business (the TrainContext), not
the config's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ModelConfig(_Frozen):
    kind: Literal["mlp", "transformer"] = "mlp"
    embed_dim: int = Field(8, ge=1, le=1024)
    hidden: int = Field(64, ge=1, le=65_536)
    """MLP width, or the transformer's model dimension (d_model)."""
    layers: int = Field(2, ge=1, le=64)
    heads: int = Field(4, ge=1, le=64)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _heads_divide(self) -> ModelConfig:
        if self.kind == "transformer" and self.hidden % self.heads:
            raise ValueError(f"model.hidden ({self.hidden}) must be divisible by model.heads ({self.heads}) for the transformer")
        return self


class OptimConfig(_Frozen):
    lr: float = Field(3e-3, gt=0.0, le=1.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = Field(20, ge=0)
    grad_clip: float = Field(1.0, ge=0.0)
    """Clip the global grad norm to this; 0 disables clipping."""


class DeepSpeedConfig(_Frozen):
    enabled: bool = False
    zero_stage: Literal[0, 1, 2, 3] = 1
    offload_optimizer: bool = False
    """ZeRO-Offload of optimizer state to CPU memory (stages 1-3)."""

    @model_validator(mode="after")
    def _offload_needs_zero(self) -> DeepSpeedConfig:
        if self.offload_optimizer and self.zero_stage == 0:
            raise ValueError("deepspeed.offload_optimizer needs deepspeed.zero_stage >= 1")
        return self


class TabularConfig(_Frozen):
    """One training run. `batch_size` is the global batch per optimizer step (over every rank);
    `grad_accum_steps` splits each rank's share into micro-batches."""

    steps: int = Field(300, ge=1)
    batch_size: int = Field(256, ge=1)
    grad_accum_steps: int = Field(1, ge=1)
    eval_every: int = Field(100, ge=1)
    """Validation metrics (logged to the run) every this many steps, and at the end."""
    seed: int | None = None
    """Overrides the project's training.seed (ctx.seed) when set."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: the device the platform picked (ctx.device)."""
    precision: Literal["fp32", "bf16"] = "fp32"
    log_every: int = Field(50, ge=1)
    """Progress line every this many steps."""
    threads: int | None = Field(None, ge=1)
    """torch intra-op threads; None leaves torch's default."""
    model: ModelConfig = ModelConfig()
    optim: OptimConfig = OptimConfig()
    deepspeed: DeepSpeedConfig = DeepSpeedConfig()

    @model_validator(mode="after")
    def _cross_field(self) -> TabularConfig:
        if self.batch_size % self.grad_accum_steps:
            raise ValueError(f"batch_size ({self.batch_size}) must be divisible by grad_accum_steps ({self.grad_accum_steps})")
        if self.precision == "bf16" and self.device == "cpu":
            raise ValueError("precision 'bf16' needs device 'cuda' or 'auto'; on CPU use 'fp32'")
        if self.optim.warmup_steps >= self.steps:
            raise ValueError(f"optim.warmup_steps ({self.optim.warmup_steps}) must be < steps ({self.steps})")
        return self

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.grad_accum_steps


def deepspeed_json(cfg: TabularConfig, world_size: int = 1) -> dict[str, Any]:
    """The DeepSpeed config for `cfg`.

    Only two of train_batch_size / train_micro_batch_size_per_gpu / gradient_accumulation_steps
    are set; DeepSpeed infers the third, so the three can never disagree.
    """
    if cfg.batch_size % (cfg.grad_accum_steps * world_size):
        raise ValueError(f"batch_size ({cfg.batch_size}) must be divisible by grad_accum_steps x world_size ({cfg.grad_accum_steps} x {world_size})")
    zero: dict[str, Any] = {"stage": cfg.deepspeed.zero_stage}
    if cfg.deepspeed.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    ds: dict[str, Any] = {
        "train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum_steps,
        "gradient_clipping": cfg.optim.grad_clip,
        "zero_optimization": zero,
        # The optimizer is torch's AdamW built by the loop, so fused kernels are never needed.
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if cfg.precision == "bf16":
        ds["bf16"] = {"enabled": True}
    return ds


def validate_deepspeed_json(ds: dict[str, Any], world_size: int = 1) -> None:
    """Check the generated JSON the way DeepSpeed would, before any engine is built."""
    given = [k for k in ("train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps") if k in ds]
    if len(given) != 2:
        raise ValueError(f"DeepSpeed config must set exactly two batch keys, got {given}")
    if "train_micro_batch_size_per_gpu" not in ds:
        micro, rem = divmod(ds["train_batch_size"], ds["gradient_accumulation_steps"] * world_size)
        if micro < 1 or rem:
            raise ValueError("train_batch_size is not a multiple of gradient_accumulation_steps x world_size")
    if ds["zero_optimization"]["stage"] not in (0, 1, 2, 3):
        raise ValueError(f"zero_optimization.stage must be 0-3, got {ds['zero_optimization']['stage']}")
    if ds.get("bf16", {}).get("enabled") and ds.get("fp16", {}).get("enabled"):
        raise ValueError("bf16 and fp16 cannot both be enabled")
