"""The platform's tabular torch library, for any project with `training.framework: torch`.

    from workloads.training import tabular

    def train(ctx):                                  # projects/<name>/train.py
        return tabular.fit(ctx)                      # ctx.config is a TabularConfig

An MLP or a small FT-Transformer (models.py) for binary, multiclass or regression labels, trained
by a deterministic, resumable loop (loop.py: BCE / cross-entropy / MSE on the standardised
target), on one device, several plain DDP ranks, or DeepSpeed ZeRO (`deepspeed.enabled`); config
in config.py (`TabularConfig`), data order in data.py.
"""

from workloads.training.tabular.config import DeepSpeedConfig, ModelConfig, OptimConfig, TabularConfig, deepspeed_json, validate_deepspeed_json
from workloads.training.tabular.data import Dataset, EpochSampler
from workloads.training.tabular.loop import TrainResult, TrainState, build_state, evaluate, fit, predict, train, train_step
from workloads.training.tabular.models import TabularMLP, TabularTransformer, build_model, train_flops_per_sample

__all__ = [
    "Dataset",
    "DeepSpeedConfig",
    "EpochSampler",
    "ModelConfig",
    "OptimConfig",
    "TabularConfig",
    "TabularMLP",
    "TabularTransformer",
    "TrainResult",
    "TrainState",
    "build_model",
    "build_state",
    "deepspeed_json",
    "evaluate",
    "fit",
    "predict",
    "train",
    "train_flops_per_sample",
    "train_step",
    "validate_deepspeed_json",
]
