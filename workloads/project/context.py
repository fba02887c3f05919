"""What a project's training function receives, and what it returns.

    def train(ctx: TrainContext):            # projects/<name>/train.py, named by training.entry_point
        model = lightgbm.LGBMRegressor(**ctx.config)
        model.fit(ctx.train.X, ctx.train.y, categorical_feature=ctx.categorical_indices)
        return model

The platform builds the point-in-time training frame from the feature store (the labels of the
project's sliding window, joined with the features as they were at each label's event time), holds
out the newest `evaluation.holdout` for the common comparison with the champion, splits the rest
into `train` and `validation` (the newest `training.val_fraction`), fits the encoding on `train` only
and hands over both splits raw and encoded. The function returns a fitted model of the project's
framework; the platform exports it to one ONNX graph (the encoding's standardisation inside the
graph for torch), checks parity, evaluates, registers.

The input contract every framework shares (what the exported graph takes):
- `numeric` float32 [N, n_num]: the numeric features in declaration order, raw, a missing value
  replaced by the training mean;
- `categorical` int64 [N, n_cat]: each categorical feature's 1-based index in its training vocabulary,
  0 for missing or unseen;
- `X` float32 [N, n_num + n_cat]: both side by side (numerics first, then the categorical codes as
  floats), what tree and sklearn models train on; `ctx.categorical_indices` are the code columns.

What the function returns, per framework (checked; a wrong kind is an error naming the project file):
- torch: an `nn.Module` whose `forward(numeric, categorical)` returns logits [B] (binary), logits
  [B, K] (multiclass, classes in `label.classes` order) or the value [B] (regression);
  `workloads.training.tabular` has ready models and a deterministic, resumable, DeepSpeed-capable loop;
- lightgbm: a `lightgbm.Booster` or a fitted `LGBMClassifier` / `LGBMRegressor` on `X`;
- xgboost: an `xgboost.Booster` or a fitted `XGBClassifier` / `XGBRegressor` on `X`;
- sklearn: a fitted estimator or Pipeline on `X` (`predict_proba` for classification, `predict` for regression).

Labels (`y`): binary float32 0/1; multiclass int64 index into `label.classes`; regression float32.

Spot safety: a long function calls `ctx.should_stop()` between steps; when it is true (SIGTERM,
a spot notice) it saves with `ctx.checkpoint.save(state, step)` and raises `Interrupted`; the
platform exits 143 and the Job's retry resumes (`ctx.resume` true, `ctx.checkpoint.load()` returns
the state) on the same frozen training frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from workloads.features.encoding import FeatureSpec
    from workloads.project.spec import ProjectSpec


class Interrupted(Exception):
    """Raised by a training function after it saved a checkpoint on `ctx.should_stop()`."""


@dataclass(frozen=True)
class Split:
    """Rows of one split, raw and encoded (see the module docstring for the encoding)."""

    frame: pd.DataFrame
    """Entity key, event timestamp, every feature (typed) and the label column, sorted by time."""
    numeric: np.ndarray
    categorical: np.ndarray
    y: np.ndarray

    @property
    def X(self) -> np.ndarray:  # noqa: N802 (the name every ML library uses for the feature matrix)
        import numpy as np

        return np.hstack([self.numeric, self.categorical.astype(np.float32)]).astype(np.float32, copy=False)

    def __len__(self) -> int:
        return int(self.y.shape[0])


class CheckpointHook(Protocol):
    every_steps: int
    """How often the project asks for a checkpoint (training.checkpoint_every_steps)."""

    def save(self, state: Mapping[str, Any], step: int) -> None:
        """Persist `state` (tensors, arrays, bytes, str, numbers, nested dicts: what torch.save takes) as step `step`."""

    def load(self) -> tuple[dict[str, Any], int] | None:
        """The latest saved (state, step), or None when there is none."""


@dataclass
class TrainContext:
    project: ProjectSpec
    config: dict[str, Any]
    """training.config with the run's `--set key=value` overrides applied."""
    train: Split
    validation: Split
    features: FeatureSpec
    """The encoding fitted on `train`: vocabularies, numeric means and stds (torch models build their input layers from it)."""
    seed: int
    device: str
    """`cpu` or `cuda` (the platform picks; a torch function moves its model there)."""
    checkpoint: CheckpointHook
    resume: bool = False
    rank: int = 0
    world_size: int = 1
    _log_metrics: Callable[[int, Mapping[str, float]], None] = field(default=lambda step, metrics: None, repr=False)
    _progress: Callable[[str], None] = field(default=print, repr=False)
    _should_stop: Callable[[], bool] = field(default=lambda: False, repr=False)

    @property
    def task(self) -> str:
        return self.project.label.task

    @property
    def classes(self) -> tuple[str, ...]:
        return self.project.label.classes

    @property
    def categorical_indices(self) -> list[int]:
        """Columns of `X` holding categorical codes (for LightGBM's / XGBoost's categorical support)."""
        n = len(self.features.numeric)
        return list(range(n, n + len(self.features.categorical)))

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        """Log metrics of `step` to the version's MLflow run (rank 0 only; a no-op on other ranks)."""
        if self.rank == 0:
            self._log_metrics(step, metrics)

    def progress(self, message: str) -> None:
        """One progress line (printed by rank 0, flushed)."""
        if self.rank == 0:
            self._progress(message)

    def should_stop(self) -> bool:
        """True once SIGTERM arrived (a spot notice): save a checkpoint and raise Interrupted."""
        return self._should_stop()
