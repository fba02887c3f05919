"""Training data: out-of-time split, encoding, snapshot hash and a resumable batch order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from workloads.data.schema import LABEL, TIMESTAMP
from workloads.features.encoding import FeatureSpec, encode


@dataclass(frozen=True)
class Dataset:
    numeric: torch.Tensor  # float32 [N, n_num], raw values from encode()
    categorical: torch.Tensor  # int64 [N, n_cat]
    label: torch.Tensor  # float32 [N]

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.numeric[idx], self.categorical[idx], self.label[idx]

    @classmethod
    def from_frame(cls, df: pd.DataFrame, spec: FeatureSpec) -> Dataset:
        numeric, categorical = encode(df, spec)
        label = torch.from_numpy(df[LABEL].to_numpy(dtype=np.float32))
        return cls(torch.from_numpy(numeric), torch.from_numpy(categorical), label)


@dataclass(frozen=True)
class TrainingData:
    """Encoded train / validation sets plus the lineage a registered run must carry."""

    spec: FeatureSpec
    train: Dataset
    val: Dataset
    snapshot_sha256: str
    """sha256 of the full training frame (values, dtypes, column order): the data snapshot's identity."""
    feature_views: dict[str, str] = field(default_factory=dict)
    """Feast feature view name -> version, when the rows came from the feature store."""
    train_frame: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    """The raw training rows, for the drift reference profile taken at training time."""


def frame_sha256(df: pd.DataFrame) -> str:
    """Content hash of a frame, independent of its index and of how it was stored."""
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def split_by_time(df: pd.DataFrame, val_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Oldest rows train, newest `val_fraction` validate: the model is judged on its future."""
    df = df.sort_values(TIMESTAMP, kind="stable").reset_index(drop=True)
    cut = int(round(len(df) * (1.0 - val_fraction)))
    if cut < 1 or cut >= len(df):
        raise ValueError(f"val_fraction {val_fraction} leaves an empty split of {len(df)} rows")
    return df.iloc[:cut], df.iloc[cut:]


def prepare(df: pd.DataFrame, val_fraction: float, feature_views: dict[str, str] | None = None) -> TrainingData:
    """Split, fit the FeatureSpec on the training part only, and encode both parts."""
    train_df, val_df = split_by_time(df, val_fraction)
    if train_df[LABEL].nunique() < 2:
        raise ValueError("training rows hold a single class; generate more rows")
    spec = FeatureSpec.fit(train_df)
    return TrainingData(
        spec=spec,
        train=Dataset.from_frame(train_df, spec),
        val=Dataset.from_frame(val_df, spec),
        snapshot_sha256=frame_sha256(df),
        feature_views=dict(feature_views or {}),
        train_frame=train_df,
    )


class EpochSampler:
    """Shuffled batches whose order is a pure function of (seed, epoch, cursor).

    The state is two integers, so a checkpoint restores the exact next batch; the last partial
    batch of an epoch is dropped so every step sees `batch_size` rows.
    """

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if batch_size > n:
            raise ValueError(f"batch_size {batch_size} exceeds the {n} training rows")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.epoch, self.cursor = 0, 0
        self._perm = self._permutation()

    def _permutation(self) -> torch.Tensor:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.n, generator=gen)

    def next(self) -> torch.Tensor:
        if self.cursor + self.batch_size > self.n:
            self.epoch, self.cursor = self.epoch + 1, 0
            self._perm = self._permutation()
        idx = self._perm[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return idx

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor, "seed": self.seed, "n": self.n}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if (state["seed"], state["n"]) != (self.seed, self.n):
            raise ValueError(f"checkpoint data order was for seed={state['seed']}, rows={state['n']}; this run has seed={self.seed}, rows={self.n}")
        self.epoch, self.cursor = state["epoch"], state["cursor"]
        self._perm = self._permutation()
