"""Training rows as tensors, and a batch order that a checkpoint restores exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Dataset:
    numeric: torch.Tensor  # float32 [N, n_num], raw values from encode()
    categorical: torch.Tensor  # int64 [N, n_cat]
    label: torch.Tensor  # float32 [N] (binary, regression) or int64 [N] (multiclass)

    def __len__(self) -> int:
        return int(self.label.shape[0])

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.numeric[idx], self.categorical[idx], self.label[idx]

    def to(self, device: torch.device | str) -> Dataset:
        return Dataset(self.numeric.to(device), self.categorical.to(device), self.label.to(device))

    @classmethod
    def from_arrays(cls, numeric: np.ndarray, categorical: np.ndarray, y: np.ndarray) -> Dataset:
        """From a Split's arrays (workloads/project/context.py): labels keep their task's dtype."""
        label = torch.from_numpy(np.ascontiguousarray(y))
        return cls(
            torch.from_numpy(np.ascontiguousarray(numeric, dtype=np.float32)), torch.from_numpy(np.ascontiguousarray(categorical, dtype=np.int64)), label
        )


class EpochSampler:
    """Shuffled batches whose order is a pure function of (seed, epoch, cursor).

    The state is two integers, so a checkpoint restores the exact next batch; the last partial
    batch of an epoch is dropped so every step sees `batch_size` rows.
    """

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if batch_size > n:
            raise ValueError(f"batch_size {batch_size} exceeds the {n} training rows; lower batch_size in training.config")
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
