"""Example data for delivery-time: seeded food deliveries in Dubai with controllable drift.

The project's `sources.generator` (the platform calls `generate`; see workloads/features/ingest.py):

    generate(rows, *, seed, start, days, drift=None) -> DataFrame
        courier_id (string), order_ts (UTC, ascending), the features, delivery_minutes (float),
        label_arrival_ts (UTC: when the delivery was confirmed)
    outcome(prediction, label) -> float      `eta_accuracy` in [0, 1], what the app reports

How a delivery takes its time: the restaurant's preparation (busier at the lunch and dinner
peaks), then the ride: distance over a speed set by the vehicle, the area's congestion, the hour's
traffic and the weather (summer humidity, dust, the odd rainy day), faster with an experienced
courier, with lognormal noise. Couriers are the entity: each has a vehicle, a home area and an
experience that grows day by day, and makes several deliveries a day.

- Same arguments -> identical frame; drift is drawn from its own random stream, so the undrifted
  columns of a drifted sample equal the baseline's with the same seed.
- Drift (a mapping, or a DriftSpec):
  covariate: `mean_shift` / `variance_scale` (numeric features, in baseline stds / as a factor),
             `new_categories` (share of rows with never-seen categories), `missing_rate`,
             `weather` (a mapping weather -> share, e.g. {"rain": 0.4}: a wet week);
  concept:   `concept` in [0, 1]: how far the ride time has moved to a new regime (road works on
             Sheikh Zayed Road: the Marina / JLT / Al Barsha side slows down sharply, rain hurts
             twice as much, and experience helps less); at 1 a model trained before is clearly worse;
  delay:     `label_delay`, extra hours before a delivery is confirmed (default 0: minutes after drop-off).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

ENTITY = "courier_id"
TIMESTAMP = "order_ts"
LABEL = "delivery_minutes"
ARRIVAL = "label_arrival_ts"
NUMERIC_FEATURES: tuple[str, ...] = (
    "distance_km",
    "items",
    "prep_time_min",
    "hour_of_day",
    "day_of_week",
    "traffic_index",
    "temperature_c",
    "courier_experience_days",
    "courier_deliveries_7d",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("area", "weather", "vehicle", "restaurant_type")
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
AREAS = ("downtown", "business_bay", "marina", "jlt", "al_barsha", "deira", "bur_dubai", "jumeirah", "silicon_oasis", "mirdif")
WEATHER = ("clear", "humid", "dust", "rain")
VEHICLES = ("motorbike", "car", "bicycle")
RESTAURANTS = ("fast_food", "casual", "fine_dining", "grocery", "cafe")
DEFAULT_START = datetime(2025, 3, 1, tzinfo=UTC)
_AREA_P = (0.14, 0.1, 0.13, 0.09, 0.1, 0.12, 0.1, 0.08, 0.07, 0.07)
_AREA_CONGESTION = dict(zip(AREAS, (1.35, 1.25, 1.2, 1.1, 1.05, 1.4, 1.3, 1.0, 0.85, 0.9), strict=True))
_WEATHER_P = (0.55, 0.3, 0.12, 0.03)
_WEATHER_SLOW = {"clear": 1.0, "humid": 1.05, "dust": 1.2, "rain": 1.45}
_VEHICLE_KMH = {"motorbike": 32.0, "car": 26.0, "bicycle": 14.0}
_PREP = {"fast_food": 9.0, "casual": 16.0, "fine_dining": 26.0, "grocery": 12.0, "cafe": 8.0}
_WORKS = {"marina": 1.9, "jlt": 1.8, "al_barsha": 1.5}
_NON_NEGATIVE = frozenset(NUMERIC_FEATURES)


@dataclass(frozen=True)
class DriftSpec:
    """Controlled drift on top of the baseline distribution (see the module docstring)."""

    mean_shift: dict[str, float] = field(default_factory=dict)
    variance_scale: dict[str, float] = field(default_factory=dict)
    new_categories: dict[str, float] = field(default_factory=dict)
    missing_rate: dict[str, float] = field(default_factory=dict)
    weather: dict[str, float] = field(default_factory=dict)
    concept: float = 0.0
    label_delay: float = 0.0

    def __post_init__(self) -> None:
        for name, mapping, allowed in (
            ("mean_shift", self.mean_shift, NUMERIC_FEATURES),
            ("variance_scale", self.variance_scale, NUMERIC_FEATURES),
            ("new_categories", self.new_categories, CATEGORICAL_FEATURES),
            ("missing_rate", self.missing_rate, FEATURES),
            ("weather", self.weather, WEATHER),
        ):
            unknown = sorted(set(mapping) - set(allowed))
            if unknown:
                raise ValueError(f"drift.{name}: unknown name(s) {unknown}; allowed: {list(allowed)}")
        for feat, scale in self.variance_scale.items():
            if scale <= 0:
                raise ValueError(f"drift.variance_scale[{feat!r}] must be > 0, got {scale}")
        for name, mapping in (("new_categories", self.new_categories), ("missing_rate", self.missing_rate), ("weather", self.weather)):
            for feat, share in mapping.items():
                if not 0.0 <= share <= 1.0:
                    raise ValueError(f"drift.{name}[{feat!r}] must be within [0, 1], got {share}")
        if self.weather and sum(self.weather.values()) > 1.0 + 1e-9:
            raise ValueError(f"drift.weather: the shares add up to {sum(self.weather.values()):.2f} > 1")
        if not 0.0 <= self.concept <= 1.0:
            raise ValueError(f"drift.concept must be within [0, 1] (0: no concept drift, 1: the new regime only), got {self.concept}")
        if self.label_delay < 0:
            raise ValueError(f"drift.label_delay is extra hours before a delivery is confirmed and must be >= 0, got {self.label_delay}")

    @classmethod
    def of(cls, drift: DriftSpec | Mapping[str, Any] | None) -> DriftSpec:
        if drift is None or isinstance(drift, DriftSpec):
            return drift or cls()
        unknown = sorted(set(drift) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"drift: unknown control(s) {unknown}; allowed: {[f.name for f in fields(cls)]}")
        return cls(**dict(drift))


def generate(
    rows: int,
    *,
    seed: int,
    start: datetime | None = None,
    days: float = 28,
    drift: DriftSpec | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """`rows` deliveries over `days` days from `start` (default 2025-03-01 UTC); see the module docstring."""
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    if days <= 0:
        raise ValueError(f"days must be > 0, got {days}")
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware (UTC)")
    spec = DriftSpec.of(drift)
    rng, rng_label, rng_drift = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    df, pace = _baseline(rng, rows, start, days)
    _apply_drift(df, spec, rng_drift)
    df[LABEL] = _delivery_minutes(df, pace, spec.concept, rng_label)
    _apply_missing(df, spec.missing_rate, rng_drift)
    confirm = rng_label.exponential(4.0, rows) + spec.label_delay * 60.0  # minutes after drop-off
    df[ARRIVAL] = df[TIMESTAMP] + pd.to_timedelta(np.round((df[LABEL].to_numpy() + confirm) * 60e6).astype(np.int64), unit="us")
    return df[[ENTITY, TIMESTAMP, *NUMERIC_FEATURES, *CATEGORICAL_FEATURES, LABEL, ARRIVAL]]


def outcome(prediction: float, label: float) -> float:
    """`eta_accuracy`: 1 - |ETA - actual| / actual, floored at 0 (1: the promised time was exact)."""
    return float(max(0.0, 1.0 - abs(float(prediction) - float(label)) / max(float(label), 1.0)))


def _order_times(rng: np.random.Generator, n: int, start: datetime, days: float) -> pd.DatetimeIndex:
    """Order times with the daily cycle of food delivery (UAE time: lunch and dinner peaks)."""
    local_hour = np.arange(24)
    weight = 0.3 + 1.6 * np.exp(-((local_hour - 13) ** 2) / 3.0) + 2.2 * np.exp(-((local_hour - 20.5) ** 2) / 4.0)
    n_days = max(1, int(np.ceil(days)))
    day = rng.integers(0, n_days, n)
    hour = rng.choice(24, n, p=weight / weight.sum())
    span = n_days * 86_400.0
    offset_s = np.mod(day * 86_400.0 + (hour - 4) * 3_600.0 + rng.uniform(0, 3_600, n), span)  # UTC+4 -> UTC, wrapped
    offset_s = offset_s * (days * 86_400.0 / span)  # a fractional last day keeps every order inside `days`
    offsets_us = np.sort(np.round(offset_s * 1e6).astype(np.int64))
    return pd.Timestamp(start).tz_convert("UTC") + pd.to_timedelta(offsets_us, unit="us")


def _baseline(rng: np.random.Generator, n: int, start: datetime, days: float) -> tuple[pd.DataFrame, np.ndarray]:
    """The features, and each row's courier pace (part of the label, never a feature)."""
    n_couriers = max(10, n // 40)
    vehicle = rng.choice(VEHICLES, n_couriers, p=(0.78, 0.15, 0.07))
    home = rng.choice(len(AREAS), n_couriers, p=_AREA_P)
    experience0 = rng.gamma(1.5, 200.0, n_couriers)
    pace = rng.lognormal(0.0, 0.08, n_couriers)  # a courier's own speed, unseen by the model

    ts = _order_times(rng, n, start, days)
    courier = rng.integers(0, n_couriers, n)
    local = ts.tz_convert("Asia/Dubai")
    hour = local.hour.to_numpy() + local.minute.to_numpy() / 60.0
    day_of_week = local.dayofweek.to_numpy().astype(np.float64)
    elapsed_days = (ts - pd.Timestamp(start).tz_convert("UTC")).total_seconds().to_numpy() / 86_400.0
    area_idx = np.where(rng.uniform(size=n) < 0.6, home[courier], rng.choice(len(AREAS), n, p=_AREA_P))
    rush = np.exp(-((hour - 8.5) ** 2) / 1.5) + np.exp(-((hour - 18.0) ** 2) / 2.5)
    weekend = np.isin(day_of_week, (4.0, 5.0))  # Friday, Saturday
    traffic = np.clip(0.25 + 0.55 * rush * np.where(weekend, 0.6, 1.0) + rng.normal(0, 0.08, n), 0.0, 1.0)
    restaurant = rng.choice(RESTAURANTS, n, p=(0.34, 0.3, 0.08, 0.13, 0.15))
    items = 1.0 + rng.poisson(np.where(restaurant == "grocery", 6.0, 1.6)).astype(np.float64)
    peak = np.exp(-((hour - 13) ** 2) / 3.0) + np.exp(-((hour - 20.5) ** 2) / 4.0)
    prep = np.array([_PREP[r] for r in restaurant]) * (1.0 + 0.35 * peak) * np.exp(rng.normal(0, 0.2, n)) + 0.6 * items
    season = 31.0 + 8.0 * np.sin(2 * np.pi * ((ts.dayofyear.to_numpy() - 105) / 365.0))
    temperature = season + 5.0 * np.sin(2 * np.pi * (hour - 9.0) / 24.0) + rng.normal(0, 1.5, n)
    weather = rng.choice(WEATHER, n, p=_WEATHER_P)
    deliveries_7d = rng.poisson(45.0 * pace[courier] * np.where(vehicle[courier] == "bicycle", 0.6, 1.0)).astype(np.float64)
    df = pd.DataFrame(
        {
            ENTITY: np.char.add("c-", np.char.zfill((courier + 1).astype(str), 5)),
            TIMESTAMP: ts,
            "distance_km": np.round(np.clip(rng.lognormal(np.log(3.8), 0.55, n), 0.3, 25.0), 2),
            "items": items,
            "prep_time_min": np.round(prep, 1),
            "hour_of_day": np.round(hour, 2),
            "day_of_week": day_of_week,
            "traffic_index": np.round(traffic, 3),
            "temperature_c": np.round(temperature, 1),
            "courier_experience_days": np.floor(experience0[courier] + elapsed_days),
            "courier_deliveries_7d": deliveries_7d,
            "area": np.asarray(AREAS)[area_idx],
            "weather": weather,
            "vehicle": vehicle[courier],
            "restaurant_type": restaurant,
        }
    ).astype({c: object for c in CATEGORICAL_FEATURES})
    return df, pace[courier]


def _delivery_minutes(df: pd.DataFrame, pace: np.ndarray, concept: float, rng: np.random.Generator) -> np.ndarray:
    """Preparation, pickup and ride; `concept` blends in the road-works regime."""
    area = df["area"].to_numpy(dtype=object)
    weather = df["weather"].to_numpy(dtype=object)
    kmh = np.array([_VEHICLE_KMH.get(v, 26.0) for v in df["vehicle"].to_numpy(dtype=object)])
    congestion = np.array([_AREA_CONGESTION.get(a, 1.1) for a in area])
    slow = np.array([_WEATHER_SLOW.get(w, 1.0) for w in weather])
    traffic = df["traffic_index"].to_numpy(dtype=np.float64)
    experience = df["courier_experience_days"].to_numpy(dtype=np.float64)
    skill = 1.0 - 0.18 * np.tanh(experience / 400.0)
    heat = 1.0 + 0.01 * np.clip(df["temperature_c"].to_numpy(dtype=np.float64) - 38.0, 0.0, None)
    if concept > 0:
        works = np.array([_WORKS.get(a, 1.0) for a in area])
        congestion = congestion * (1.0 + concept * (works - 1.0))
        slow = 1.0 + (slow - 1.0) * (1.0 + concept)
        skill = 1.0 - (1.0 - skill) * (1.0 - 0.8 * concept)
    ride = df["distance_km"].to_numpy(dtype=np.float64) / kmh * 60.0 * congestion * (1.0 + 0.9 * traffic) * slow * skill * heat
    pickup = 3.0 + 0.25 * df["items"].to_numpy(dtype=np.float64)
    minutes = (0.85 * df["prep_time_min"].to_numpy(dtype=np.float64) + pickup + ride * pace) * np.exp(rng.normal(0, 0.1, len(df)))
    return np.round(minutes, 2)


def _apply_drift(df: pd.DataFrame, drift: DriftSpec, rng: np.random.Generator) -> None:
    for feat in NUMERIC_FEATURES:
        shift, scale = drift.mean_shift.get(feat, 0.0), drift.variance_scale.get(feat, 1.0)
        if shift == 0.0 and scale == 1.0:
            continue
        x = df[feat].to_numpy(dtype=np.float64)
        mean, std = x.mean(), x.std()
        x = mean + (x - mean) * scale + shift * std
        df[feat] = np.clip(x, 0.0, None) if feat in _NON_NEGATIVE else x
    if "traffic_index" in drift.mean_shift or "traffic_index" in drift.variance_scale:
        df["traffic_index"] = np.clip(df["traffic_index"], 0.0, 1.0)
    if drift.weather:
        names = list(drift.weather)
        shares = np.array([drift.weather[w] for w in names])
        draw = rng.uniform(size=len(df))
        edges = np.cumsum(shares)
        pick = np.searchsorted(edges, draw, side="right")
        chosen = np.where(pick < len(names), np.asarray(names, dtype=object)[np.minimum(pick, len(names) - 1)], df["weather"].to_numpy(dtype=object))
        df["weather"] = chosen.astype(object)
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
