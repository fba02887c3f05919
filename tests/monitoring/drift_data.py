"""Data for the drift tests: frames from the seeded generator of workloads.data.

"Stationary" here means exchangeable rows: reference and current are disjoint random halves of
one generated frame. Two different seeds are not stationary for this generator: each seed draws
its own population of accounts, and rows of one account share account-level values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from workloads.data.generator import DriftSpec, generate
from workloads.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from workloads.monitoring.profile import ReferenceProfile


def split_halves(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return perm[:half], perm[half:]


def reference_and_current(n_rows: int, seed: int, drift: DriftSpec | None = None):
    """(reference frame, current frame): disjoint rows of one population, drift applied to current."""
    base = generate(n_rows, seed=seed)
    ref_idx, cur_idx = split_halves(base, seed)
    live = base if drift is None else generate(n_rows, seed=seed, drift=drift)
    # generate() keeps the undrifted columns of a drifted sample equal to the baseline's, so the
    # only difference between the two halves is the drift asked for.
    return base.iloc[ref_idx].reset_index(drop=True), live.iloc[cur_idx].reset_index(drop=True)


def profile_of(frame: pd.DataFrame) -> ReferenceProfile:
    return ReferenceProfile.fit(frame, NUMERIC_FEATURES, CATEGORICAL_FEATURES)
