"""Data for the monitoring tests: the shipped projects' own generators, plus two synthetic streams
(rows grouped by key; a daily cycle) whose null hypothesis is exact.

"Stationary" for a project generator means exchangeable rows: reference and current are disjoint
random halves of one generated frame. Two different seeds are not stationary for these
generators: each seed draws its own population of accounts (couriers), and rows of one key share
key-level values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from workloads.monitoring.profile import ReferenceProfile
from workloads.monitoring.reference import monitored_columns
from workloads.project import Project, load_project

PROJECTS = Path(__file__).resolve().parents[2] / "projects"


@cache
def project(name: str = "transaction-risk") -> Project:
    return load_project(PROJECTS / name)


def generate(rows: int, *, seed: int, name: str = "transaction-risk", drift=None, start: datetime | None = None, days: float = 30) -> pd.DataFrame:
    """Rows of the project's own generator (`projects/<name>/data.py`)."""
    loaded = project(name)
    gen = loaded.entry_point(loaded.spec.sources.generator, "sources.generator")
    return gen(rows, seed=seed, start=start or datetime(2026, 11, 1, tzinfo=UTC), days=days, drift=drift)


def split_halves(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return perm[:half], perm[half:]


def reference_and_current(n_rows: int, seed: int, drift=None, name: str = "transaction-risk"):
    """(reference frame, current frame): disjoint rows of one population, drift applied to current."""
    base = generate(n_rows, seed=seed, name=name)
    ref_idx, cur_idx = split_halves(base, seed)
    live = base if drift is None else generate(n_rows, seed=seed, name=name, drift=drift)
    # The generators keep the undrifted columns of a drifted sample equal to the baseline's, so the
    # only difference between the two halves is the drift asked for.
    return base.iloc[ref_idx].reset_index(drop=True), live.iloc[cur_idx].reset_index(drop=True)


def features(name: str = "transaction-risk") -> tuple[list[str], list[str]]:
    """The project's (numeric, categorical) features, without the model's score."""
    spec = project(name).spec
    return list(spec.numeric), list(spec.categorical)


def profile_of(frame: pd.DataFrame, name: str = "transaction-risk", *, keyed: bool = False) -> ReferenceProfile:
    numeric, categorical = features(name)
    return ReferenceProfile.fit(frame, numeric, categorical, key=project(name).spec.entity.key if keyed else None)


def monitored(name: str = "transaction-risk") -> tuple[list[str], list[str]]:
    return monitored_columns(project(name))


# --- rows grouped by key: account-level values repeat within an account ---


def keyed_population(rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference rows, live pool): transaction-risk rows of disjoint accounts of one population
    (each account about 25 rows), so a window drawn from the pool is a fresh sample of accounts."""
    frame = generate(rows, seed=seed)
    key = project().spec.entity.key
    accounts = frame[key].unique()
    live = set(np.random.default_rng(seed).choice(accounts, len(accounts) // 2, replace=False).tolist())
    in_live = frame[key].isin(live).to_numpy()
    return frame[~in_live].reset_index(drop=True), frame[in_live].reset_index(drop=True)


def keyed_window(pool: pd.DataFrame, per_key: int, n_keys: int, rng: np.random.Generator) -> pd.DataFrame:
    """`n_keys` accounts of the pool with `per_key` of their rows each (what an hour of a busy
    shop's log holds: the same accounts again and again), the key as the log writes it."""
    key = project().spec.entity.key
    sizes = pool.groupby(key).size()
    chosen = rng.choice(sizes.index[sizes >= per_key].to_numpy(), n_keys, replace=False)
    picked = pool[pool[key].isin(chosen)].sample(frac=1.0, random_state=int(rng.integers(2**31)))
    window = picked[picked.groupby(key).cumcount() < per_key].reset_index(drop=True)
    return window.assign(key=window[key].astype(str))


# --- a daily cycle: hourly windows, one feature whose mean follows the hour ---

CYCLE_START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


def daily_cycle(hours: int, rows_per_hour: int, seed: int, *, start: datetime = CYCLE_START, amplitude: float = 0.25, shift: float = 0.0) -> pd.DataFrame:
    """`hours` hours of rows whose `x` mean moves by +-`amplitude` sd over the day (`shift` sd on
    top), `y` steady, `c` a category whose mix follows the hour, one key per row; `ts` the time."""
    rng = np.random.default_rng(seed)
    n = hours * rows_per_hour
    offsets = np.sort(rng.uniform(0, hours * 3600, n))
    ts = pd.Timestamp(start) + pd.to_timedelta(offsets, unit="s")
    phase = 2 * np.pi * (ts.hour.to_numpy() + ts.minute.to_numpy() / 60) / 24
    evening = (np.sin(phase) > 0).astype(float)
    return pd.DataFrame(
        {
            "ts": ts,
            "key": rng.integers(0, 10**9, n).astype(str),
            "x": rng.normal(amplitude * np.sin(phase) + shift, 1.0),
            "y": rng.normal(0.0, 1.0, n),
            "c": np.where(rng.uniform(size=n) < 0.3 + 0.2 * evening, "online", np.where(rng.uniform(size=n) < 0.5, "pos", "atm")).astype(object),
        }
    )


def hourly(frame: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    hours = frame["ts"].dt.floor("1h")
    return [(h, g) for h, g in frame.groupby(hours, sort=True)]


def after(start: datetime, hours: int) -> datetime:
    return start + timedelta(hours=hours)
