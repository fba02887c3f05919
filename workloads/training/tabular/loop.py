"""The loop: `train()` is a short loop over `train_step()`; checkpoints go through `ctx.checkpoint`.

Determinism: on CPU, the same config and data give bitwise-identical weights, and a run that is
interrupted (SIGTERM, e.g. a spot interruption notice: `ctx.should_stop()`) and resumed from its
checkpoint ends with the same weights as one that was not. Under several ranks the platform's
stop flag is all-reduced every step, so all ranks stop, and checkpoint, at the same step; each
rank takes its slice of the global batch, and gradients are averaged by DistributedDataParallel
(plain torch) or by the DeepSpeed engine (`deepspeed.enabled`).
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workloads.evaluation import Predictions, metrics
from workloads.project.context import Interrupted
from workloads.training.tabular.config import TabularConfig, deepspeed_json, validate_deepspeed_json
from workloads.training.tabular.data import Dataset, EpochSampler
from workloads.training.tabular.models import build_model

if TYPE_CHECKING:
    from workloads.project.context import TrainContext


@dataclass
class TrainState:
    cfg: TabularConfig
    ctx: TrainContext
    model: nn.Module
    """The bare model (what is returned, checkpointed and exported)."""
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: EpochSampler
    device: torch.device
    train: Dataset
    net: nn.parallel.DistributedDataParallel | None = None
    """What the step calls: the DistributedDataParallel wrapper under several plain ranks, else the model."""
    engine: Any = None
    """The DeepSpeed engine when `cfg.deepspeed.enabled`; it owns optimizer and scheduler steps."""
    step: int = 0
    target_std: float = 1.0
    """Regression: the training label's std; the loss is taken on the standardised scale."""

    @property
    def rank(self) -> int:
        return self.ctx.rank

    @property
    def world_size(self) -> int:
        return self.ctx.world_size


@dataclass(frozen=True)
class TrainResult:
    model: nn.Module
    step: int
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    samples_per_s: float = 0.0


def config_of(ctx: TrainContext, cfg: TabularConfig | Mapping[str, Any] | None = None) -> TabularConfig:
    """The run's TabularConfig: `cfg`, else ctx.config (training.config plus `--set` overrides)."""
    if isinstance(cfg, TabularConfig):
        return cfg
    return TabularConfig.model_validate(dict(ctx.config if cfg is None else cfg))


def _device(cfg: TabularConfig, ctx: TrainContext) -> torch.device:
    wanted = ctx.device if cfg.device == "auto" else cfg.device
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA device is available")
    if wanted != "cuda":
        return torch.device("cpu")
    # One GPU per rank under the launcher: rank data and model on the rank's own device.
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def _lr_lambda(cfg: TabularConfig) -> Callable[[int], float]:
    warmup, total = cfg.optim.warmup_steps, cfg.steps

    def factor(step: int) -> float:  # linear warmup, then cosine down to 10% of the peak
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.45 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def build_state(cfg: TabularConfig, ctx: TrainContext) -> TrainState:
    """Seed everything, then build model, optimizer, schedule and data order from `cfg`."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed = ctx.seed if cfg.seed is None else cfg.seed
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    device = _device(cfg, ctx)
    if cfg.precision == "bf16" and device.type != "cuda":
        raise RuntimeError("precision 'bf16' needs a CUDA device")
    if cfg.batch_size % ctx.world_size:
        raise ValueError(f"batch_size ({cfg.batch_size}) must be divisible by the {ctx.world_size} ranks")
    mean, std = 0.0, 1.0
    if ctx.task == "regression":
        y = ctx.train.y.astype(np.float64)
        mean, std = float(y.mean()), float(y.std()) if float(y.std()) > 1e-12 else 1.0
    model = build_model(ctx.features, cfg.model, mean, std).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
    train = Dataset.from_arrays(ctx.train.numeric, ctx.train.categorical, ctx.train.y).to(device)
    state = TrainState(cfg, ctx, model, optimizer, scheduler, EpochSampler(len(train), cfg.batch_size, seed), device, train, target_std=std)
    if cfg.deepspeed.enabled:
        _attach_deepspeed(state)
    elif ctx.world_size > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            raise RuntimeError(f"world size {ctx.world_size} without a process group: run under workloads.training.run_training (it joins the ranks)")
        ids = [device.index] if device.type == "cuda" else None
        state.net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return state


def _attach_deepspeed(state: TrainState) -> None:
    cuda = state.device.type == "cuda"
    if not cuda:
        # DeepSpeed picks its accelerator at import; without CUDA its CPU accelerator is the one.
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    for key, value in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29511"), ("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):
        os.environ.setdefault(key, value)  # a single process needs no launcher
    import deepspeed
    import torch.distributed as dist

    # checked: deepspeed/comm/comm.py init_distributed (0.19.8): a process group the runtime
    # already started (several ranks) is adopted, not started twice.
    if not dist.is_initialized():
        deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo", verbose=False)
    world = dist.get_world_size()
    ds_config = deepspeed_json(state.cfg, world)
    validate_deepspeed_json(ds_config, world)
    engine, optimizer, _, scheduler = deepspeed.initialize(model=state.model, optimizer=state.optimizer, lr_scheduler=state.scheduler, config=ds_config)
    state.engine, state.model, state.optimizer, state.scheduler = engine, engine.module, optimizer, scheduler


def loss_fn(state: TrainState, output: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on the logit, cross-entropy on the K logits, or the squared error
    on the standardised scale (regression)."""
    task = state.ctx.task
    if task == "binary":
        return F.binary_cross_entropy_with_logits(output.float(), y)
    if task == "multiclass":
        return F.cross_entropy(output.float(), y)
    return F.mse_loss(output.float() / state.target_std, y / state.target_std)


def train_step(state: TrainState, numeric: torch.Tensor, categorical: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """One optimizer step on a global batch: this rank's slice, in `grad_accum_steps` micro-batches.

    Returns the mean loss as a detached tensor (no host sync: callers `.item()` it when logging).
    """
    cfg, engine = state.cfg, state.engine
    net = engine or state.net or state.model
    if not state.model.training:  # evaluation leaves eval mode behind; checking is cheaper than setting
        state.model.train()
    if state.world_size > 1:  # each rank takes its own slice of the global batch
        per = numeric.shape[0] // state.world_size
        sl = slice(state.rank * per, (state.rank + 1) * per)
        numeric, categorical, label = numeric[sl], categorical[sl], label[sl]
    bf16_autocast = cfg.precision == "bf16" and engine is None
    chunks = list(zip(*(t.chunk(cfg.grad_accum_steps) for t in (numeric, categorical, label)), strict=True))
    losses = []
    for i, (num, cat, y) in enumerate(chunks):
        # DDP all-reduces gradients on the last micro-batch only (no_sync before it).
        sync = nullcontext() if state.net is None or i == len(chunks) - 1 else state.net.no_sync()
        with sync:
            with torch.autocast("cuda", dtype=torch.bfloat16) if bf16_autocast else nullcontext():
                output = net(num, cat)
            loss = loss_fn(state, output, y)
            if engine is not None:
                engine.backward(loss)  # DeepSpeed scales by accumulation and steps at the boundary
                engine.step()
            else:
                (loss / cfg.grad_accum_steps).backward()
        losses.append(loss.detach())
    if engine is None:
        if cfg.optim.grad_clip > 0:
            nn.utils.clip_grad_norm_(state.model.parameters(), cfg.optim.grad_clip)
        state.optimizer.step()
        state.scheduler.step()
        state.optimizer.zero_grad(set_to_none=True)
    return losses[0] if len(losses) == 1 else torch.stack(losses).mean()


@torch.no_grad()
def predict(model: nn.Module, numeric: np.ndarray, categorical: np.ndarray, task: str, classes: tuple[str, ...] = (), batch_size: int = 16_384) -> Predictions:
    """The model's predictions for encoded rows (eval mode, no gradients)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(numeric), batch_size):
        sl = slice(start, start + batch_size)
        output = model(torch.as_tensor(numeric[sl], device=device), torch.as_tensor(categorical[sl], device=device))
        out.append(output.float().cpu())
    outputs = torch.cat(out).numpy() if out else np.zeros((0, len(classes)) if task == "multiclass" else 0)
    return Predictions.from_outputs(task, outputs, classes, kind="probabilities" if task == "regression" else "logits")


def evaluate(state: TrainState) -> dict[str, float]:
    """Validation metrics of the task (workloads/evaluation.py), keys prefixed `val_`."""
    ctx = state.ctx
    predictions = predict(state.model, ctx.validation.numeric, ctx.validation.categorical, ctx.task, ctx.classes)
    return {f"val_{k}": v for k, v in metrics(ctx.project, ctx.validation.y, predictions).items()}


def _checkpoint_state(state: TrainState) -> dict[str, Any]:
    out: dict[str, Any] = {"sampler": state.sampler.state_dict()}
    if state.engine is None:  # the engine saves model, optimizer and schedule itself
        out.update(model=state.model.state_dict(), optimizer=state.optimizer.state_dict(), scheduler=state.scheduler.state_dict())
    return out


def _save(state: TrainState) -> None:
    hook = state.ctx.checkpoint
    if state.engine is not None:
        hook.save(_checkpoint_state(state), state.step, engine=state.engine)  # type: ignore[call-arg]  # (StoreHook takes the engine)
    else:
        hook.save(_checkpoint_state(state), state.step)


def _restore(state: TrainState) -> int | None:
    hook = state.ctx.checkpoint
    loaded = hook.load(engine=state.engine) if state.engine is not None else hook.load()  # type: ignore[call-arg]  # (StoreHook takes the engine)
    if loaded is None:
        return None
    saved, step = loaded
    if state.engine is None:
        state.model.load_state_dict(saved["model"])
        state.optimizer.load_state_dict(saved["optimizer"])  # moves its state to the parameters' device
        state.scheduler.load_state_dict(saved["scheduler"])
    state.sampler.load_state_dict(saved["sampler"])
    state.step = step
    return step


def train(ctx: TrainContext, cfg: TabularConfig | Mapping[str, Any] | None = None) -> TrainResult:
    """Train to `cfg.steps`, checkpointing every `ctx.checkpoint.every_steps` and when
    `ctx.should_stop()` turns true; then the checkpoint is written and `Interrupted` raised (the
    platform exits 143 and the retry resumes with `ctx.resume`)."""
    cfg = config_of(ctx, cfg)
    state = build_state(cfg, ctx)
    if ctx.resume:
        latest = _restore(state)
        ctx.progress("resume: no checkpoint found, starting from step 0" if latest is None else f"resume: continuing from step {latest}")
    history: list[dict[str, float]] = []
    every = max(1, int(ctx.checkpoint.every_steps))
    start_step, t0 = state.step, time.perf_counter()
    while state.step < cfg.steps:
        loss = train_step(state, *state.train.batch(state.sampler.next()))
        state.step += 1
        if state.step % cfg.log_every == 0 or state.step == cfg.steps:
            rate = (state.step - start_step) * cfg.batch_size / (time.perf_counter() - t0)
            ctx.progress(f"step {state.step}/{cfg.steps} loss {loss.item():.4f} lr {state.scheduler.get_last_lr()[0]:.2e} {rate:,.0f} samples/s")
        if state.step % cfg.eval_every == 0 and state.step < cfg.steps:
            values = evaluate(state)
            history.append({"step": state.step, **values})
            ctx.log_metrics(state.step, values)
        stopping = ctx.should_stop()
        if state.step % every == 0 or stopping:
            _save(state)
        if stopping:
            ctx.progress(f"stop requested: checkpoint written at step {state.step}; the retry resumes from it")
            raise Interrupted(f"stopped at step {state.step}")
    if state.device.type == "cuda":
        torch.cuda.synchronize()  # queued kernels belong to the loop's time, not to what follows
    samples_per_s = (state.step - start_step) * cfg.batch_size / max(time.perf_counter() - t0, 1e-9)
    if state.step % every:
        _save(state)
    values = evaluate(state)
    history.append({"step": state.step, **values})
    ctx.log_metrics(state.step, values)
    ctx.progress("final " + " ".join(f"{k} {v:.4f}" for k, v in values.items()))
    return TrainResult(state.model, state.step, values, history, samples_per_s)


def fit(ctx: TrainContext, cfg: TabularConfig | Mapping[str, Any] | None = None) -> nn.Module:
    """Train a tabular model for the project's task and return it (what a `train(ctx)` returns)."""
    return train(ctx, cfg).model
