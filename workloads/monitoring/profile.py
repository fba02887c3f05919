"""The reference profile: what live data is compared with, taken from a model version's rows.

Numeric features keep a sorted sample of their non-missing values (the KS test needs the
empirical distribution, not a summary) capped at `max_rows`, plus decile edges and the
reference's share in each decile bin (for PSI) and the missing count. Categorical features keep
their category counts and missing count. Every feature also keeps its design effect (`deff`): the
reference rows are grouped by key too (an account's many transactions), so they carry n / deff
rows' worth of information (stats.design_effect).

Seasonal profiles (`fit_seasonal`, `drift.reference: seasonal`): a live hour is compared with the
reference rows of the same hour of the week when the rows span two weeks and some feature follows
the day of the week (`season="week"`), else of the same hour of the day (`"hour"`), else with all of them (`"none"`). A slot whose hour holds
fewer than `min_slot_rows` rows borrows the neighbouring hours (at most `MAX_WIDEN[season]` each
side); when some slot cannot reach it the next coarser season is used. Hours are UTC, for the
training rows' timestamps and the log's `ts` alike. Numeric features that follow the clock (an
`hour_of_day` or `day_of_week` column: R^2 >= CLOCK_R2 on the hour of the week) are left out:
a window's value of them is fixed by when the window is, never a drift.

Stored as one `.npz` (arrays plus a JSON header), so loading needs neither pickle nor pandas.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from workloads.monitoring.stats import bin_proportions, category_codes, category_indicators, design_effect, key_codes, numeric_indicators
from workloads.storage import is_remote, storage_options

FORMAT_VERSION = 2
PSI_BINS = 10
Season = Literal["none", "hour", "week"]
MIN_SLOT_ROWS = 200
"""A seasonal slot with fewer reference rows borrows neighbouring hours."""
MAX_WIDEN: dict[str, int] = {"week": 3, "hour": 6}
"""Neighbouring hours a slot may borrow on each side before the season is given up as too sparse."""
MIN_SPAN: dict[str, timedelta] = {"week": timedelta(days=13), "hour": timedelta(hours=47)}
"""Reference rows must span this long for the season: about two of each weekday, or two days."""
CLOCK_R2 = 0.98
"""A numeric feature explained to this share by the hour of the week follows the clock."""
WEEKLY_GAIN = 0.01
"""`season="auto"` takes the week only when some numeric feature's R^2 on the hour of the week
beats its R^2 on the hour of the day by this much (and significantly): a weekly slot holds a
seventh of an hourly slot's rows, so it costs power where the week does not matter."""
SLOT_ROWS_FACTOR = 4
"""A slot keeps at most `max_rows * SLOT_ROWS_FACTOR / slots` sampled values per feature (the file stays small)."""


def open_uri(path: str | Path, mode: str):
    """A file object for a local path or an fsspec URI (S3 needs s3fs, in the images' `aws` extra;
    abfss:// adlfs, in their `azure` extra, with workloads/storage.py's options)."""
    if is_remote(path):
        import fsspec

        return fsspec.open(str(path), mode, **storage_options(str(path))).open()
    return open(Path(path), mode)


@dataclass(frozen=True)
class NumericProfile:
    sample: np.ndarray
    """Sorted float64 non-missing values (a seeded subsample when the column is longer)."""
    n_rows: int
    n_missing: int
    mean: float
    std: float
    edges: np.ndarray
    """Interior bin edges (reference deciles) for PSI."""
    proportions: np.ndarray
    deff: float = 1.0
    """Design effect of the reference rows grouped by key (1: independent rows)."""


@dataclass(frozen=True)
class CategoricalProfile:
    categories: tuple[str, ...]
    counts: np.ndarray
    n_rows: int
    n_missing: int
    deff: float = 1.0


@dataclass(frozen=True)
class ReferenceProfile:
    numeric: dict[str, NumericProfile]
    categorical: dict[str, CategoricalProfile]
    n_rows: int
    meta: dict[str, str] = field(default_factory=dict)
    """Free-form provenance: model name and version, training run id, data range, holdout metrics."""
    season: Season = "none"
    slots: dict[str, ReferenceProfile] = field(default_factory=dict)
    """Seasonal slot name (`h07`, `d4h07`: weekday 0 = Monday, UTC) -> the profile of its rows."""
    clock_features: dict[str, float] = field(default_factory=dict)
    """Numeric features left out because they follow the clock -> their R^2 on the hour of the week."""

    @classmethod
    def fit(
        cls,
        df: pd.DataFrame,
        numeric: Sequence[str],
        categorical: Sequence[str],
        *,
        key: str | None = None,
        max_rows: int = 100_000,
        seed: int = 0,
        meta: dict[str, str] | None = None,
    ) -> ReferenceProfile:
        """Profile `df` (reference rows) over the given columns; `key` names the column rows are grouped by."""
        absent = [c for c in (*numeric, *categorical, *((key,) if key else ())) if c not in df.columns]
        if absent:
            raise ValueError(f"ReferenceProfile.fit: columns {absent} are missing from the reference data")
        if len(df) == 0:
            raise ValueError("ReferenceProfile.fit: the reference data is empty")
        rng = np.random.default_rng(seed)
        codes, n_keys = key_codes(df[key].to_numpy() if key else None, len(df))
        num = {}
        for name in numeric:
            values = numeric_values(df[name])
            present = values[~np.isnan(values)]
            if present.size > max_rows:
                present = rng.choice(present, max_rows, replace=False)
            present = np.sort(present)
            edges = np.unique(np.quantile(present, np.linspace(0, 1, PSI_BINS + 1)[1:-1])) if present.size else np.zeros(0)
            num[name] = NumericProfile(
                sample=present,
                n_rows=len(values),
                n_missing=int(np.isnan(values).sum()),
                mean=float(present.mean()) if present.size else math.nan,
                std=float(present.std()) if present.size else math.nan,
                edges=edges,
                proportions=bin_proportions(present, edges),
                deff=design_effect(numeric_indicators(values, edges), codes, n_keys) if n_keys < len(df) else 1.0,
            )
        cat = {}
        for name in categorical:
            values, missing = categorical_values(df[name])
            counts = values.value_counts()
            categories = tuple(str(c) for c in counts.index)
            cat[name] = CategoricalProfile(
                categories=categories,
                counts=counts.to_numpy(dtype=np.int64),
                n_rows=len(df),
                n_missing=missing,
                deff=design_effect(category_indicators(category_codes(text_values(df[name]), categories), len(categories)), codes, n_keys)
                if n_keys < len(df)
                else 1.0,
            )
        return cls(num, cat, len(df), dict(meta or {}))

    @classmethod
    def fit_seasonal(
        cls,
        df: pd.DataFrame,
        numeric: Sequence[str],
        categorical: Sequence[str],
        *,
        timestamp: str,
        key: str | None = None,
        season: Season | Literal["auto"] = "auto",
        max_rows: int = 100_000,
        min_slot_rows: int = MIN_SLOT_ROWS,
        seed: int = 0,
        meta: dict[str, str] | None = None,
    ) -> ReferenceProfile:
        """A profile of every row plus one per seasonal slot (module docstring). `season="auto"`
        takes the finest season the rows allow; `"none"` only leaves the clock features out."""
        if timestamp not in df.columns:
            raise ValueError(f"ReferenceProfile.fit_seasonal: the timestamp column {timestamp!r} is missing from the reference data")
        ts = pd.to_datetime(df[timestamp], utc=True)
        hour_of_week = (ts.dt.dayofweek * 24 + ts.dt.hour).to_numpy()
        clock = clock_features(df, numeric, hour_of_week)
        numeric = [n for n in numeric if n not in clock]
        overall = cls.fit(df, numeric, categorical, key=key, max_rows=max_rows, seed=seed, meta=meta)
        span = ts.max() - ts.min() if len(ts) else pd.Timedelta(0)
        chosen: Season = "none"
        members: dict[int, list[int]] = {}
        candidates: tuple[Season, ...] = ("week", "hour")
        for candidate in candidates:
            if season not in ("auto", candidate) or span < MIN_SPAN[candidate]:
                continue
            if candidate == "week" and season == "auto" and not weekly_pattern(df, numeric, hour_of_week):
                continue
            ring = hour_of_week if candidate == "week" else hour_of_week % 24
            found = slot_members(ring, 168 if candidate == "week" else 24, min_slot_rows, MAX_WIDEN[candidate])
            if found is not None:
                chosen, members = candidate, found
                break
        slots: dict[str, ReferenceProfile] = {}
        if chosen != "none":
            ring = hour_of_week if chosen == "week" else hour_of_week % 24
            per_slot = max(min_slot_rows, max_rows * SLOT_ROWS_FACTOR // len(members))
            for s, hours in members.items():
                rows = df.iloc[np.flatnonzero(np.isin(ring, hours))]
                slots[slot_name(chosen, s)] = cls.fit(rows, numeric, categorical, key=key, max_rows=per_slot, seed=seed + 1 + s)
        return cls(overall.numeric, overall.categorical, overall.n_rows, overall.meta, chosen, slots, clock)

    def for_window(self, start: pd.Timestamp) -> tuple[str, ReferenceProfile]:
        """(slot name, the profile) a window starting at `start` is compared with."""
        if self.season == "none" or not self.slots:
            return "all", self
        ts = pd.Timestamp(start)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        index = ts.dayofweek * 24 + ts.hour if self.season == "week" else ts.hour
        name = slot_name(self.season, index)
        return name, self.slots.get(name, self)

    @property
    def monitored(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def save(self, path: str | Path) -> str | Path:
        """Write the profile to a local path or a URI (`s3://...`, `abfss://...`, anything fsspec opens)."""
        if not is_remote(path):
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
        parts = [("all", self), *self.slots.items()]
        header = {
            "format_version": FORMAT_VERSION,
            "meta": self.meta,
            "season": self.season,
            "clock_features": self.clock_features,
            "profiles": [{"slot": name, **_header(p)} for name, p in parts],
        }
        arrays = {"header": np.array(json.dumps(header))}
        for j, (_, p) in enumerate(parts):
            for i, nump in enumerate(p.numeric.values()):
                # Positional keys: feature names are free text, npz keys are file names.
                arrays[f"p{j}_n{i}_sample"], arrays[f"p{j}_n{i}_edges"], arrays[f"p{j}_n{i}_props"] = nump.sample, nump.edges, nump.proportions
        with open_uri(path, "wb") as fh:
            # allow_pickle=False: no array here holds objects, and load() reads with allow_pickle=False.
            np.savez(fh, allow_pickle=False, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> ReferenceProfile:
        with open_uri(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format_version") != FORMAT_VERSION:
                raise ValueError(
                    f"{path}: profile format_version {header.get('format_version')!r}, expected {FORMAT_VERSION}. "
                    "Fix: profile the reference again (`python -m workloads.monitoring profile`) or retrain the version through the pipeline"
                )
            parts = [_from_header(h, data, j) for j, h in enumerate(header["profiles"])]
        slots = {h["slot"]: p for h, p in zip(header["profiles"][1:], parts[1:], strict=True)}
        first = parts[0]
        return cls(
            first.numeric, first.categorical, first.n_rows, header.get("meta", {}), header.get("season", "none"), slots, header.get("clock_features", {})
        )


def _header(p: ReferenceProfile) -> dict:
    return {
        "n_rows": p.n_rows,
        "numeric": {k: {"n_rows": q.n_rows, "n_missing": q.n_missing, "mean": q.mean, "std": q.std, "deff": q.deff} for k, q in p.numeric.items()},
        "categorical": {
            k: {"categories": list(q.categories), "counts": q.counts.tolist(), "n_rows": q.n_rows, "n_missing": q.n_missing, "deff": q.deff}
            for k, q in p.categorical.items()
        },
    }


def _from_header(h: dict, data, j: int) -> ReferenceProfile:
    num = {
        k: NumericProfile(
            sample=data[f"p{j}_n{i}_sample"],
            edges=data[f"p{j}_n{i}_edges"],
            proportions=data[f"p{j}_n{i}_props"],
            n_rows=v["n_rows"],
            n_missing=v["n_missing"],
            mean=v["mean"],
            std=v["std"],
            deff=v.get("deff", 1.0),
        )
        for i, (k, v) in enumerate(h["numeric"].items())
    }
    cat = {
        k: CategoricalProfile(tuple(v["categories"]), np.asarray(v["counts"], dtype=np.int64), v["n_rows"], v["n_missing"], v.get("deff", 1.0))
        for k, v in h["categorical"].items()
    }
    return ReferenceProfile(num, cat, h["n_rows"])


def slot_name(season: str, index: int) -> str:
    return f"d{index // 24}h{index % 24:02d}" if season == "week" else f"h{index:02d}"


def slot_members(ring: np.ndarray, size: int, min_rows: int, max_widen: int) -> dict[int, list[int]] | None:
    """Slot -> the ring positions (hours) it takes its rows from: itself, widened symmetrically
    until it holds `min_rows`; None when some slot cannot within `max_widen` hours each side."""
    counts = np.bincount(ring, minlength=size)
    out: dict[int, list[int]] = {}
    for s in range(size):
        for k in range(max_widen + 1):
            hours = [(s + d) % size for d in range(-k, k + 1)]
            if counts[hours].sum() >= min_rows:
                out[s] = sorted(set(hours))
                break
        else:
            return None
    return out


def clock_features(df: pd.DataFrame, numeric: Sequence[str], hour_of_week: np.ndarray) -> dict[str, float]:
    """Numeric features whose R^2 on the hour of the week reaches CLOCK_R2 -> that R^2."""
    out: dict[str, float] = {}
    if len(df) < 2 * 24:
        return out
    for name in numeric:
        values = numeric_values(df[name])
        ok = ~np.isnan(values)
        r2 = _r2(values[ok], hour_of_week[ok], 168) if ok.sum() >= 2 else 0.0
        if r2 >= CLOCK_R2:
            out[name] = round(r2, 4)
    return out


def _r2(x: np.ndarray, groups: np.ndarray, size: int) -> float:
    sums, counts = np.bincount(groups, weights=x, minlength=size), np.bincount(groups, minlength=size)
    means = np.divide(sums, counts, out=np.zeros(size), where=counts > 0)
    total = float(((x - x.mean()) ** 2).sum())
    return 1.0 - float(((x - means[groups]) ** 2).sum()) / total if total > 0 else 0.0


def weekly_pattern(df: pd.DataFrame, numeric: Sequence[str], hour_of_week: np.ndarray) -> bool:
    """Whether some numeric feature depends on the day of the week beyond the hour of the day:
    R^2 gain >= WEEKLY_GAIN and the nested F-test (168 vs 24 means) at p < 0.001."""
    from scipy import stats

    for name in numeric:
        values = numeric_values(df[name])
        ok = ~np.isnan(values)
        x, g = values[ok], hour_of_week[ok]
        if x.size <= 2 * 168:
            continue
        week, day = _r2(x, g, 168), _r2(x, g % 24, 24)
        gain = week - day
        if gain < WEEKLY_GAIN or week >= 1.0:
            continue
        f = (gain / 144) / ((1 - week) / (x.size - 168))
        if stats.f.sf(f, 144, x.size - 168) < 1e-3:
            return True
    return False


def numeric_values(column: pd.Series) -> np.ndarray:
    """float64 values with NaN for missing (None, NaN, non-numeric text)."""
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def categorical_values(column: pd.Series) -> tuple[pd.Series, int]:
    """(non-missing values as str, number of missing)."""
    present = column.dropna()
    return present.astype(str), int(len(column) - len(present))


def text_values(column: pd.Series) -> np.ndarray:
    """Values as str, None where missing (what the category codes take)."""
    return column.astype("string").to_numpy(dtype=object, na_value=None)
