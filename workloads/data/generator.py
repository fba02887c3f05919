"""Seeded generator for the transaction-risk use case, with controlled drift.

Contract (other modules and tests rely on it):
- `generate(n_rows, seed=...)` returns one row per transaction with columns ENTITY (int64),
  TIMESTAMP (tz-aware UTC, sorted ascending), every feature in `schema.FEATURES` and LABEL (int64).
- Same arguments -> identical frame. The default start is a fixed date, never "now".
- Fraud rate about 3% (plus `DriftSpec.label_shift`); the label is a logistic function of the
  features, so a model can reach an AUC well above 0.8.
- Drift is drawn from its own random stream: the undrifted columns of a drifted sample equal
  those of the baseline sample with the same seed, so monitoring tests compare like with like.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from workloads.data.schema import (
    CATEGORICAL_FEATURES,
    CATEGORIES,
    ENTITY,
    LABEL,
    NUMERIC_FEATURES,
    TIMESTAMP,
)

BASE_FRAUD_RATE = 0.03
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
# Baseline missingness, so the nullable paths are exercised even without drift.
_BASE_MISSING = {"distance_from_home_km": 0.01, "device_type": 0.01}
_NON_NEGATIVE = frozenset(NUMERIC_FEATURES) - {"amount_zscore_30d"}
_COUNTS = frozenset({"txn_count_24h", "txn_count_7d"})


@dataclass(frozen=True)
class DriftSpec:
    """Controlled drift applied on top of the baseline distribution.

    mean_shift: feature -> shift in units of that feature's baseline std.
    variance_scale: feature -> factor on the spread around the feature's mean (> 0).
    new_categories: categorical feature -> share of rows given categories never seen in training.
    label_shift: added to the base fraud rate (e.g. 0.02 turns 3% into 5%).
    missing_rate: feature -> share of rows set to NaN / None.
    """

    mean_shift: dict[str, float] = field(default_factory=dict)
    variance_scale: dict[str, float] = field(default_factory=dict)
    new_categories: dict[str, float] = field(default_factory=dict)
    label_shift: float = 0.0
    missing_rate: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, mapping, allowed in (
            ("mean_shift", self.mean_shift, NUMERIC_FEATURES),
            ("variance_scale", self.variance_scale, NUMERIC_FEATURES),
            ("new_categories", self.new_categories, CATEGORICAL_FEATURES),
            ("missing_rate", self.missing_rate, NUMERIC_FEATURES + CATEGORICAL_FEATURES),
        ):
            unknown = sorted(set(mapping) - set(allowed))
            if unknown:
                raise ValueError(f"DriftSpec.{name}: unknown feature(s) {unknown}; allowed: {list(allowed)}")
        for feat, scale in self.variance_scale.items():
            if scale <= 0:
                raise ValueError(f"DriftSpec.variance_scale[{feat!r}] must be > 0, got {scale}")
        for name, mapping in (("new_categories", self.new_categories), ("missing_rate", self.missing_rate)):
            for feat, share in mapping.items():
                if not 0.0 <= share <= 1.0:
                    raise ValueError(f"DriftSpec.{name}[{feat!r}] must be within [0, 1], got {share}")
        if not -BASE_FRAUD_RATE < self.label_shift < 1.0 - BASE_FRAUD_RATE:
            raise ValueError(f"DriftSpec.label_shift must keep the fraud rate within (0, 1): {BASE_FRAUD_RATE} + {self.label_shift}")


_CAT_PROBS = {
    "merchant_category": (0.30, 0.20, 0.15, 0.10, 0.08, 0.10, 0.03, 0.04),
    "channel": (0.50, 0.25, 0.20, 0.05),
}
_CAT_RISK = {
    "merchant_category": {"electronics": 0.8, "travel": 0.5, "online_services": 0.6, "jewelry": 1.3, "gaming": 1.0},
    "channel": {"online": 0.7, "atm": 0.5},
    "country": {"GB": 0.5, "US": 0.6, "IN": 0.3},
    "device_type": {"web": 0.5},
}


def generate(
    n_rows: int,
    *,
    seed: int,
    start: datetime | None = None,
    days: int = 30,
    drift: DriftSpec | None = None,
) -> pd.DataFrame:
    """Generate `n_rows` transactions over `days` days from `start` (default 2025-01-01 UTC)."""
    if n_rows < 1:
        raise ValueError(f"n_rows must be >= 1, got {n_rows}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    drift = drift or DriftSpec()
    rng, rng_label, rng_drift = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    df = _baseline(rng, n_rows, start, days)
    z_ref = _risk_logit(df)
    intercept = _intercept_for_rate(z_ref, BASE_FRAUD_RATE + drift.label_shift)
    _apply_drift(df, drift, rng_drift)
    # The label follows the (possibly drifted) features: covariate drift moves the fraud rate the
    # way it would in production, while P(fraud | features) stays the same function.
    p = 1.0 / (1.0 + np.exp(-(_risk_logit(df) + intercept)))
    df[LABEL] = (rng_label.uniform(size=n_rows) < p).astype(np.int64)
    _apply_missing(df, _BASE_MISSING, rng)
    _apply_missing(df, drift.missing_rate, rng_drift)
    return df[[ENTITY, TIMESTAMP, *NUMERIC_FEATURES, *CATEGORICAL_FEATURES, LABEL]]


def _baseline(rng: np.random.Generator, n: int, start: datetime, days: int) -> pd.DataFrame:
    n_accounts = max(10, n // 25)
    acct_age = rng.lognormal(np.log(400), 1.0, n_accounts)
    acct_avg = rng.lognormal(np.log(120), 0.7, n_accounts)
    acct_rate = rng.gamma(2.0, 1.5, n_accounts)
    acct_home = rng.choice(len(CATEGORIES["country"]), n_accounts, p=(0.55, 0.12, 0.05, 0.05, 0.04, 0.04, 0.1, 0.03, 0.02))

    acc = rng.integers(0, n_accounts, n)
    # Microsecond timestamps, sorted: unique per account in practice, so point-in-time joins
    # on (account, timestamp) are unambiguous.
    offsets_us = np.sort(rng.integers(0, days * 86_400 * 1_000_000, n))
    ts = pd.Timestamp(start).tz_convert("UTC") + pd.to_timedelta(offsets_us, unit="us")

    avg_amount = acct_avg[acc] * np.exp(rng.normal(0, 0.1, n))
    log_ratio = rng.normal(0, 0.6, n)
    count_24h = rng.poisson(acct_rate[acc]).astype(np.float64)
    channel = rng.choice(CATEGORIES["channel"], n, p=_CAT_PROBS["channel"])
    online = np.isin(channel, ("online", "mobile"))
    device = np.where(
        online,
        rng.choice(("ios", "android", "web"), n, p=(0.4, 0.35, 0.25)),
        "terminal",
    )
    home = acct_home[acc]
    abroad = rng.uniform(size=n) < 0.12
    country_idx = np.where(abroad, rng.integers(0, len(CATEGORIES["country"]), n), home)
    country = np.asarray(CATEGORIES["country"])[country_idx]
    distance = rng.exponential(12.0, n) + np.where(country_idx != home, rng.uniform(400, 4000, n), 0.0)
    return pd.DataFrame(
        {
            ENTITY: (100_000 + acc).astype(np.int64),
            TIMESTAMP: ts,
            "amount": np.round(avg_amount * np.exp(log_ratio), 2),
            "amount_zscore_30d": log_ratio / 0.6,
            "txn_count_24h": count_24h,
            "txn_count_7d": count_24h + rng.poisson(acct_rate[acc] * 6).astype(np.float64),
            "account_age_days": np.floor(acct_age[acc] + offsets_us / 86_400e6),
            "avg_amount_30d": np.round(avg_amount, 2),
            "distance_from_home_km": distance,
            "hours_since_last_txn": rng.exponential(24.0 / (acct_rate[acc] + 0.5), n),
            "merchant_category": rng.choice(CATEGORIES["merchant_category"], n, p=_CAT_PROBS["merchant_category"]),
            "channel": channel,
            "country": country,
            "device_type": device,
        }
    ).astype({c: object for c in CATEGORICAL_FEATURES})


def _risk_logit(df: pd.DataFrame) -> np.ndarray:
    """Log-odds of fraud, without intercept. Categories outside the risk table add nothing."""
    z = (
        1.2 * df["amount_zscore_30d"].to_numpy()
        + 0.45 * np.log1p(df["txn_count_24h"].to_numpy())
        - 0.5 * np.log1p(df["account_age_days"].to_numpy() / 30.0)
        + 0.6 * np.log1p(df["distance_from_home_km"].to_numpy() / 100.0)
        - 0.3 * np.log1p(df["hours_since_last_txn"].to_numpy())
        + 0.2 * np.log(df["amount"].to_numpy() / 100.0)
    )
    for feat, risk in _CAT_RISK.items():
        z = z + df[feat].map(risk).fillna(0.0).to_numpy(dtype=np.float64)
    return z


def _intercept_for_rate(z: np.ndarray, rate: float) -> float:
    lo, hi = -40.0, 40.0
    for _ in range(60):  # bisection: mean sigmoid is monotone in the intercept
        mid = (lo + hi) / 2
        if np.mean(1.0 / (1.0 + np.exp(-(z + mid)))) < rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _apply_drift(df: pd.DataFrame, drift: DriftSpec, rng: np.random.Generator) -> None:
    for feat in NUMERIC_FEATURES:
        shift, scale = drift.mean_shift.get(feat, 0.0), drift.variance_scale.get(feat, 1.0)
        if shift == 0.0 and scale == 1.0:
            continue
        x = df[feat].to_numpy(dtype=np.float64)
        mean, std = x.mean(), x.std()
        x = mean + (x - mean) * scale + shift * std
        if feat in _NON_NEGATIVE:
            x = np.clip(x, 0.0, None)
        if feat in _COUNTS:
            x = np.round(x)
        df[feat] = x
    for feat in CATEGORICAL_FEATURES:
        share = drift.new_categories.get(feat, 0.0)
        if share <= 0.0:
            continue
        mask = rng.uniform(size=len(df)) < share
        unseen = np.char.add(f"{feat}_unseen_", rng.integers(0, 3, len(df)).astype(str))
        df[feat] = np.where(mask, unseen, df[feat].to_numpy()).astype(object)


def _apply_missing(df: pd.DataFrame, rates: dict[str, float], rng: np.random.Generator) -> None:
    for feat, rate in rates.items():
        if rate <= 0.0:
            continue
        mask = rng.uniform(size=len(df)) < rate
        if feat in CATEGORICAL_FEATURES:
            col = df[feat].astype(object)
            col[mask] = None
            df[feat] = col
        else:
            df[feat] = df[feat].mask(mask)
