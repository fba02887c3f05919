"""The transaction-risk team's training function: the platform's tabular MLP on PyTorch.

`training.config` in project.yaml is a `TabularConfig` (workloads/training/tabular/config.py):
steps, batch size, the model (mlp or transformer) and the optimizer; `--set model.kind=transformer`
or `--set deepspeed.enabled=true` changes a run without editing this file.
"""

from __future__ import annotations

from workloads.project import TrainContext
from workloads.training import tabular


def train(ctx: TrainContext):
    """A fitted model whose forward(numeric, categorical) returns the fraud logit."""
    return tabular.fit(ctx, tabular.TabularConfig.model_validate(ctx.config))


# The platform validates training.config with it before reading data (`--print-config` shows it whole).
train.config_model = tabular.TabularConfig  # type: ignore[attr-defined]  # (a function attribute the runtime reads)
