"""The trainer: `train()` is a short loop over `train_step()`; checkpoints are the Checkpointer's
(checkpoint.py).

Determinism: on CPU, the same config and data give bitwise-identical weights, and a run that is
interrupted (SIGTERM, e.g. a spot interruption notice) and resumed from its checkpoint ends with
the same weights as one that was not. Under several ranks the SIGTERM flag is all-reduced every
step, so all ranks stop, and checkpoint, at the same step.
"""

from __future__ import annotations

import copy
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from workloads.features.encoding import FeatureSpec
from workloads.training.checkpoint import Checkpointer, CheckpointStore, Distributed, open_store
from workloads.training.config import TrainConfig, deepspeed_json, validate_deepspeed_json
from workloads.training.data import Dataset, EpochSampler, TrainingData
from workloads.training.metrics import binary_metrics
from workloads.training.model import build_model

_FORMAT = 1  # of the model bundle export reads

Log = Callable[[str], None]


@dataclass
class TrainState:
    cfg: TrainConfig
    spec: FeatureSpec
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    sampler: EpochSampler
    device: torch.device
    train: Dataset
    step: int = 0
    engine: Any = None
    """The DeepSpeed engine when `cfg.deepspeed.enabled`; it owns optimizer and scheduler steps."""
    rank: int = 0
    world_size: int = 1
    data_sha256: str = ""
    """sha256 of the training data; recorded in every checkpoint and checked on resume."""


@dataclass(frozen=True)
class TrainResult:
    model: nn.Module
    step: int
    interrupted: bool
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    samples_per_s: float = 0.0


def _device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA device is available")
    if cfg.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    # One GPU per rank under the launcher: rank data and model on the rank's own device.
    local = int(os.environ.get("LOCAL_RANK", "0"))
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def _lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    warmup, total = cfg.optim.warmup_steps, cfg.steps

    def factor(step: int) -> float:  # linear warmup, then cosine down to 10% of the peak
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.45 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def build_state(cfg: TrainConfig, data: TrainingData) -> TrainState:
    """Seed everything, then build model, optimizer, schedule and data order from `cfg`."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % 2**32)
    torch.manual_seed(cfg.seed)
    device = _device(cfg)
    if cfg.precision == "bf16" and device.type != "cuda":
        raise RuntimeError("precision 'bf16' needs a CUDA device")
    model = build_model(data.spec, cfg.model).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(cfg))
    train = Dataset(*(t.to(device) for t in (data.train.numeric, data.train.categorical, data.train.label)))
    state = TrainState(
        cfg,
        data.spec,
        model,
        optimizer,
        scheduler,
        EpochSampler(len(train), cfg.batch_size, cfg.seed),
        device,
        train,
        data_sha256=data.snapshot_sha256,
    )
    if cfg.deepspeed.enabled:
        _attach_deepspeed(state)
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

    if not dist.is_initialized():
        deepspeed.init_distributed(dist_backend="nccl" if cuda else "gloo", verbose=False)
    state.rank, state.world_size = dist.get_rank(), dist.get_world_size()
    ds_config = deepspeed_json(state.cfg, state.world_size)
    validate_deepspeed_json(ds_config, state.world_size)
    engine, optimizer, _, scheduler = deepspeed.initialize(model=state.model, optimizer=state.optimizer, lr_scheduler=state.scheduler, config=ds_config)
    state.engine, state.model, state.optimizer, state.scheduler = engine, engine.module, optimizer, scheduler


def train_step(state: TrainState, numeric: torch.Tensor, categorical: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """One optimizer step on a global batch, split into `grad_accum_steps` micro-batches.

    Returns the mean loss as a detached tensor (no host sync: callers `.item()` it when logging).
    """
    cfg, engine = state.cfg, state.engine
    if not state.model.training:  # evaluation leaves eval mode behind; checking is cheaper than setting
        state.model.train()
    if state.world_size > 1:  # each rank takes its own slice of the global batch
        per = numeric.shape[0] // state.world_size
        sl = slice(state.rank * per, (state.rank + 1) * per)
        numeric, categorical, label = numeric[sl], categorical[sl], label[sl]
    bf16_autocast = cfg.precision == "bf16" and engine is None
    losses = []
    for num, cat, y in zip(*(t.chunk(cfg.grad_accum_steps) for t in (numeric, categorical, label)), strict=False):
        with torch.autocast("cuda", dtype=torch.bfloat16) if bf16_autocast else nullcontext():
            logits = (engine or state.model)(num, cat)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y)
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
def predict(model: nn.Module, dataset: Dataset, batch_size: int = 16_384) -> np.ndarray:
    """Fraud probabilities for every row of `dataset` (eval mode, no gradients)."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(dataset), batch_size):
        sl = slice(start, start + batch_size)
        logits = model(dataset.numeric[sl].to(device), dataset.categorical[sl].to(device))
        out.append(torch.sigmoid(logits.float()).cpu())
    return torch.cat(out).numpy()


def evaluate(model: nn.Module, dataset: Dataset, threshold: float) -> dict[str, float]:
    """Validation metrics, keys prefixed `val_` (val_auc, val_precision, val_recall, val_ece, ...)."""
    metrics = binary_metrics(dataset.label.numpy(), predict(model, dataset), threshold)
    return {f"val_{k}": v for k, v in metrics.items()}


@contextmanager
def _stop_on_sigterm() -> Iterator[threading.Event]:
    """An event set by SIGTERM (a spot interruption notice or `kubectl delete pod`)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be installed from the main thread
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def train(
    cfg: TrainConfig,
    data: TrainingData,
    *,
    resume: bool = False,
    log: Log = print,
    on_metrics: Callable[[int, dict[str, float]], None] | None = None,
    store: CheckpointStore | None = None,
) -> TrainResult:
    """Train to `cfg.steps`, checkpointing every `checkpoint.every_steps` and on SIGTERM.

    On SIGTERM the current step finishes, a checkpoint is written and the result comes back with
    `interrupted=True`; `train(..., resume=True)` continues from the latest checkpoint.
    """
    state = build_state(cfg, data)
    if store is None and cfg.checkpoint.uri:
        store = open_store(cfg.checkpoint.uri)
    dist = Distributed(state.rank, state.world_size)
    checkpointer = Checkpointer(store, dist) if store is not None else None
    if resume:
        if checkpointer is None:
            raise ValueError("--resume needs checkpoint.uri (where the interrupted run saved its checkpoints)")
        latest = checkpointer.load_latest(state)
        log("resume: no checkpoint found, starting from step 0" if latest is None else f"resume: continuing from step {latest}")
    history: list[dict[str, float]] = []
    log_every = max(1, cfg.log_every)
    start_step, t0 = state.step, time.perf_counter()
    with _stop_on_sigterm() as stop:
        while state.step < cfg.steps:
            loss = train_step(state, *state.train.batch(state.sampler.next()))
            state.step += 1
            if state.step % log_every == 0 or state.step == cfg.steps:
                rate = (state.step - start_step) * cfg.batch_size / (time.perf_counter() - t0)
                log(f"step {state.step}/{cfg.steps} loss {loss.item():.4f} lr {state.scheduler.get_last_lr()[0]:.2e} {rate:,.0f} samples/s")
            if state.step % cfg.eval_every == 0 and state.step < cfg.steps:
                metrics = evaluate(state.model, data.val, cfg.threshold)
                history.append({"step": state.step, **metrics})
                if on_metrics:
                    on_metrics(state.step, metrics)
            stopping = dist.any(stop.is_set(), state.device)
            if checkpointer is not None and (state.step % cfg.checkpoint.every_steps == 0 or stopping):
                checkpointer.save(state)
            if stopping:
                log(f"SIGTERM: checkpoint written at step {state.step}; exiting so the job can --resume")
                return TrainResult(state.model, state.step, True, {}, history)
    if state.device.type == "cuda":
        torch.cuda.synchronize()  # queued kernels belong to the loop's time, not to what follows
    samples_per_s = (state.step - start_step) * cfg.batch_size / max(time.perf_counter() - t0, 1e-9)
    if checkpointer is not None and state.step % cfg.checkpoint.every_steps:
        checkpointer.save(state)
    metrics = evaluate(state.model, data.val, cfg.threshold)
    history.append({"step": state.step, **metrics})
    if on_metrics:
        on_metrics(state.step, metrics)
    log("final " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return TrainResult(state.model, state.step, False, metrics, history, samples_per_s)


def export_copy(model: nn.Module) -> nn.Module:
    """A float32 CPU copy of a trained model for export (leaves the original untouched)."""
    return copy.deepcopy(model).float().cpu().eval()


def save_model_bundle(path: Path, model: nn.Module, cfg: TrainConfig, spec: FeatureSpec) -> None:
    """Everything export needs to rebuild the model: weights, model config and feature spec."""
    torch.save(
        {"format": _FORMAT, "model": export_copy(model).state_dict(), "config": cfg.model_dump(mode="json"), "feature_spec": spec.to_json()},
        path,
    )


def load_model_bundle(path: Path) -> tuple[nn.Module, TrainConfig, FeatureSpec]:
    bundle = torch.load(path, map_location="cpu", weights_only=True)
    cfg = TrainConfig.model_validate(bundle["config"])
    spec = FeatureSpec.from_json(bundle["feature_spec"])
    model = build_model(spec, cfg.model)
    model.load_state_dict(bundle["model"])
    return model.eval(), cfg, spec
