"""Example data for transaction-risk: seeded card transactions with controllable drift.

The project's `sources.generator` (the platform calls `generate`; see workloads/features/ingest.py):

    generate(rows, *, seed, start, days, drift=None) -> DataFrame
        account_id (int64), event_timestamp (UTC, ascending), the 12 features, is_fraud (0/1),
        label_arrival_ts (UTC: when the label became known)
    outcome(prediction, label) -> float      what a client reports through /feedback

- Same arguments -> identical frame. Fraud rate about 3% (plus `label_shift`); the label is a
  logistic function of the features, so a model reaches an AUC well above 0.8.
- Drift (a mapping, or a DriftSpec) is drawn from its own random stream: the undrifted columns of a
  drifted sample equal those of the baseline sample with the same seed.
  covariate: `mean_shift` / `variance_scale` (numeric features, in baseline stds / as a factor),
             `new_categories` (share of rows with never-seen categories), `missing_rate`;
  prior:     `label_shift` (added to the fraud rate);
  concept:   `concept` in [0, 1]: how far P(fraud | features) has moved to another fraud pattern
             (small "card testing" amounts on new accounts, online and at night, instead of large
             unusual amounts far from home): at 1 a model trained before the drift ranks fraud
             worse than chance while a model trained after it does as well as before;
  delay:     `label_delay`, a factor on how long labels take (fraud: a chargeback after a
             lognormal delay, median 5 days, at most 30; legitimate: when the 7-day dispute window closes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

ENTITY = "account_id"
TIMESTAMP = "event_timestamp"
LABEL = "is_fraud"
ARRIVAL = "label_arrival_ts"
NUMERIC_FEATURES: tuple[str, ...] = (
    "amount",
    "amount_zscore_30d",
    "txn_count_24h",
    "txn_count_7d",
    "account_age_days",
    "avg_amount_30d",
    "distance_from_home_km",
    "hours_since_last_txn",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("merchant_category", "channel", "country", "device_type")
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
CATEGORIES: dict[str, tuple[str, ...]] = {
    "merchant_category": ("grocery", "restaurants", "fuel", "electronics", "travel", "online_services", "jewelry", "gaming"),
    "channel": ("pos", "online", "mobile", "atm"),
    "country": ("AE", "SA", "OM", "QA", "KW", "BH", "IN", "GB", "US"),
    "device_type": ("terminal", "ios", "android", "web"),
}
BASE_FRAUD_RATE = 0.03
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
# Baseline missingness, so the nullable paths are exercised even without drift.
_BASE_MISSING = {"distance_from_home_km": 0.01, "device_type": 0.01}
_NON_NEGATIVE = frozenset(NUMERIC_FEATURES) - {"amount_zscore_30d"}
_COUNTS = frozenset({"txn_count_24h", "txn_count_7d"})
_MAX_DELAY_DAYS = 30.0


@dataclass(frozen=True)
class DriftSpec:
    """Controlled drift on top of the baseline distribution (see the module docstring)."""

    mean_shift: dict[str, float] = field(default_factory=dict)
    variance_scale: dict[str, float] = field(default_factory=dict)
    new_categories: dict[str, float] = field(default_factory=dict)
    label_shift: float = 0.0
    missing_rate: dict[str, float] = field(default_factory=dict)
    concept: float = 0.0
    label_delay: float = 1.0

    def __post_init__(self) -> None:
        for name, mapping, allowed in (
            ("mean_shift", self.mean_shift, NUMERIC_FEATURES),
            ("variance_scale", self.variance_scale, NUMERIC_FEATURES),
            ("new_categories", self.new_categories, CATEGORICAL_FEATURES),
            ("missing_rate", self.missing_rate, FEATURES),
        ):
            unknown = sorted(set(mapping) - set(allowed))
            if unknown:
                raise ValueError(f"drift.{name}: unknown feature(s) {unknown}; allowed: {list(allowed)}")
        for feat, scale in self.variance_scale.items():
            if scale <= 0:
                raise ValueError(f"drift.variance_scale[{feat!r}] must be > 0, got {scale}")
        for name, mapping in (("new_categories", self.new_categories), ("missing_rate", self.missing_rate)):
            for feat, share in mapping.items():
                if not 0.0 <= share <= 1.0:
                    raise ValueError(f"drift.{name}[{feat!r}] must be within [0, 1], got {share}")
        if not -BASE_FRAUD_RATE < self.label_shift < 1.0 - BASE_FRAUD_RATE:
            raise ValueError(f"drift.label_shift must keep the fraud rate within (0, 1): {BASE_FRAUD_RATE} + {self.label_shift}")
        if not 0.0 <= self.concept <= 1.0:
            raise ValueError(f"drift.concept must be within [0, 1] (0: no concept drift, 1: the new fraud pattern only), got {self.concept}")
        if self.label_delay <= 0:
            raise ValueError(f"drift.label_delay is a factor on the label delay and must be > 0, got {self.label_delay}")

    @classmethod
    def of(cls, drift: DriftSpec | Mapping[str, Any] | None) -> DriftSpec:
        if drift is None or isinstance(drift, DriftSpec):
            return drift or cls()
        unknown = sorted(set(drift) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"drift: unknown control(s) {unknown}; allowed: {[f.name for f in fields(cls)]}")
        return cls(**dict(drift))


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
# The pattern concept drift moves towards: card testing (small amounts, new accounts, bursts, online).
_CAT_RISK_NEW = {
    "merchant_category": {"online_services": 1.2, "gaming": 1.4, "grocery": 0.4, "jewelry": -0.6, "travel": -0.3},
    "channel": {"online": 1.0, "mobile": 0.8, "pos": -0.4},
    "country": {"AE": 0.3},
    "device_type": {"android": 0.6, "web": 0.8},
}


def generate(
    rows: int,
    *,
    seed: int,
    start: datetime | None = None,
    days: float = 30,
    drift: DriftSpec | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """`rows` transactions over `days` days from `start` (default 2025-01-01 UTC); see the module docstring."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    if days <= 0:
        raise ValueError(f"days must be > 0, got {days}")
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    spec = DriftSpec.of(drift)
    rng, rng_label, rng_drift = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))

    df = _baseline(rng, rows, start, days)
    intercept = _intercept_for_rate(_risk_logit(df), BASE_FRAUD_RATE + spec.label_shift)
    _apply_drift(df, spec, rng_drift)
    # The label follows the (possibly drifted) features: covariate drift moves the fraud rate the
    # way it would in production; concept drift moves P(fraud | features) itself.
    z = _risk_logit(df)
    if spec.concept > 0:
        z_new = _new_pattern_logit(df)
        z_new = (z_new - z_new.mean()) / (z_new.std() or 1.0) * z.std() + z.mean()
        z = (1.0 - spec.concept) * z + spec.concept * z_new
        intercept = _intercept_for_rate(z, BASE_FRAUD_RATE + spec.label_shift)
    p = 1.0 / (1.0 + np.exp(-(z + intercept)))
    df[LABEL] = (rng_label.uniform(size=rows) < p).astype(np.int64)
    _apply_missing(df, _BASE_MISSING, rng)
    _apply_missing(df, spec.missing_rate, rng_drift)
    df[ARRIVAL] = df[TIMESTAMP] + _label_delay(df[LABEL].to_numpy(), rng_label, spec.label_delay)
    return df[[ENTITY, TIMESTAMP, *NUMERIC_FEATURES, *CATEGORICAL_FEATURES, LABEL, ARRIVAL]]


def outcome(prediction: float, label: int, threshold: float = 0.1) -> float:
    """`decision_correct`: 1 when the decision taken on the score (block at `threshold`, the
    project's evaluation.threshold) proved right once the label arrived, else 0."""
    return float((prediction >= threshold) == bool(label))


def _label_delay(label: np.ndarray, rng: np.random.Generator, factor: float) -> pd.TimedeltaIndex:
    fraud_days = np.minimum(rng.lognormal(np.log(5.0), 0.6, len(label)), _MAX_DELAY_DAYS)
    days = np.where(label == 1, fraud_days, 7.0) * factor
    return pd.to_timedelta(np.round(days * 86_400e6).astype(np.int64), unit="us")


def _baseline(rng: np.random.Generator, n: int, start: datetime, days: float) -> pd.DataFrame:
    n_accounts = max(10, n // 25)
    acct_age = rng.lognormal(np.log(400), 1.0, n_accounts)
    acct_avg = rng.lognormal(np.log(120), 0.7, n_accounts)
    acct_rate = rng.gamma(2.0, 1.5, n_accounts)
    acct_home = rng.choice(len(CATEGORIES["country"]), n_accounts, p=(0.55, 0.12, 0.05, 0.05, 0.04, 0.04, 0.1, 0.03, 0.02))

    acc = rng.integers(0, n_accounts, n)
    # Microsecond timestamps, sorted: unique per account in practice, so point-in-time joins
    # on (account, timestamp) are unambiguous.
    offsets_us = np.sort(rng.integers(0, int(days * 86_400 * 1_000_000), n))
    ts = pd.Timestamp(start).tz_convert("UTC") + pd.to_timedelta(offsets_us, unit="us")

    avg_amount = acct_avg[acc] * np.exp(rng.normal(0, 0.1, n))
    log_ratio = rng.normal(0, 0.6, n)
    count_24h = rng.poisson(acct_rate[acc]).astype(np.float64)
    channel = rng.choice(CATEGORIES["channel"], n, p=_CAT_PROBS["channel"])
    online = np.isin(channel, ("online", "mobile"))
    device = np.where(online, rng.choice(("ios", "android", "web"), n, p=(0.4, 0.35, 0.25)), "terminal")
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
    """Log-odds of fraud before any concept drift, without intercept."""
    z = (
        1.2 * df["amount_zscore_30d"].to_numpy()
        + 0.45 * np.log1p(df["txn_count_24h"].to_numpy())
        - 0.5 * np.log1p(df["account_age_days"].to_numpy() / 30.0)
        + 0.6 * np.log1p(df["distance_from_home_km"].to_numpy() / 100.0)
        - 0.3 * np.log1p(df["hours_since_last_txn"].to_numpy())
        + 0.2 * np.log(np.maximum(df["amount"].to_numpy(), 0.01) / 100.0)
    )
    return z + _categorical_risk(df, _CAT_RISK)


def _new_pattern_logit(df: pd.DataFrame) -> np.ndarray:
    """Log-odds of the pattern concept drift moves to: small amounts, young accounts, bursts, online."""
    z = (
        -1.4 * df["amount_zscore_30d"].to_numpy()
        + 0.9 * np.log1p(df["txn_count_24h"].to_numpy())
        - 0.9 * np.log1p(df["account_age_days"].to_numpy() / 30.0)
        - 0.5 * np.log1p(df["distance_from_home_km"].to_numpy() / 100.0)
        - 0.6 * np.log1p(df["hours_since_last_txn"].to_numpy())
    )
    return z + _categorical_risk(df, _CAT_RISK_NEW)


def _categorical_risk(df: pd.DataFrame, table: dict[str, dict[str, float]]) -> np.ndarray:
    """Categories outside the table (and missing values) add nothing."""
    z = np.zeros(len(df))
    for feat, risk in table.items():
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


def _apply_missing(df: pd.DataFrame, rates: Mapping[str, float], rng: np.random.Generator) -> None:
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
