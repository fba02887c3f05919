"""Helpers shared by the workload tests."""
from __future__ import annotations

from pathlib import Path


def tiny_config(tmp: Path | None = None, **overrides):
    """A config that trains in about a second on one thread."""
    from workloads.training.config import TrainConfig, apply_overrides

    base = {"steps": 40, "batch_size": 128, "eval_every": 1000, "log_every": 1000, "threads": 1,
            "optim": {"warmup_steps": 5}, "model": {"hidden": 32}}
    if tmp is not None:
        base["checkpoint"] = {"uri": str(tmp), "every_steps": 10}
    return TrainConfig.model_validate(apply_overrides(base, overrides))
