"""Drift detection: windows of live data against the reference profile.

For every window and feature: a distribution test (KS for numeric, pooled chi-squared / Fisher
for categorical) and a missing-rate test (chi-squared, Fisher where counts are small), with PSI
(missing values as their own bucket) as the effect size. Benjamini-Hochberg then runs once over
all p-values of the run (every feature, test and window), so the false discovery rate is
controlled over features and windows together; a feature drifts in a window when any of its
tests is rejected *and* its PSI reaches `min_psi` (significance alone flags irrelevant shifts in
large windows), a window drifts when at least `min_drifted_features` features do, and the run
reports drift when any window does. Under stationary data the alarm rate is at most `alpha`.

Unusable input raises ValueError naming the problem (the CLI exits 2): no rows, profiled columns
missing, a numeric column whose values are mostly not numbers, a categorical column holding
numbers where the reference held labels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from workloads.monitoring.profile import ReferenceProfile, categorical_values, numeric_values
from workloads.monitoring.stats import (
    benjamini_hochberg,
    bin_proportions,
    categorical_test,
    ks_sorted,
    missing_rate_test,
    psi,
    with_missing,
)
from workloads.settings import StrictEnvSettings

MAX_UNPARSABLE_SHARE = 0.5
"""A numeric column with more than this share of its non-missing values not numbers is mistyped
(a shifted column, a schema change), not drift; fewer count as missing values."""


class DriftSettings(StrictEnvSettings):
    """Drift job settings (env prefix `SAHAB_MONITORING_`); CLI flags override them."""

    model_config = SettingsConfigDict(env_prefix="SAHAB_MONITORING_", frozen=True, extra="forbid")

    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    """Benjamini-Hochberg level over every test of a run."""
    min_drifted_features: int = Field(1, ge=1)
    """A window drifts when at least this many features do."""
    min_psi: float = Field(0.02, ge=0.0)
    """Effect-size gate: a significant feature drifts only when its PSI reaches this. PSI 0.1 is
    the customary "moderate shift"; 0.02 still passes a 0.15-sd mean shift (PSI ~ shift^2) and
    stops the 0.05-sd shifts that 100k-row windows make significant. 0 disables the gate."""
    window: str | None = None
    """Pandas frequency (`1h`, `1D`) splitting the current data by its timestamp column."""
    window_rows: int | None = Field(None, ge=1)
    """Alternatively, consecutive windows of this many rows."""
    min_window_rows: int = Field(200, ge=1)
    """Shorter windows are reported as skipped, not tested."""
    timestamp_column: str = "event_timestamp"
    max_reference_rows: int = Field(100_000, ge=1_000)
    pushgateway_url: str | None = None
    """Prometheus Pushgateway to push the run's metrics to (the job is too short-lived to scrape)."""
    job_name: str = "sahab-drift"


@dataclass(frozen=True)
class FeatureTest:
    window: str
    feature: str
    kind: Literal["numeric", "categorical"]
    test: Literal["ks", "chi2", "missing"]
    statistic: float
    p_value: float
    psi: float
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    q_value: float = 1.0
    significant: bool = False
    """Rejected by Benjamini-Hochberg at alpha."""
    rejected: bool = False
    """Significant and PSI >= min_psi: the test flags the feature."""


@dataclass(frozen=True)
class WindowResult:
    name: str
    n_rows: int
    start: str | None
    end: str | None
    tested: bool
    drifted: bool = False
    drifted_features: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriftReport:
    created_at: str
    alpha: float
    n_tests: int
    drift_detected: bool
    reason: str
    windows: list[WindowResult]
    tests: list[FeatureTest]
    reference: dict[str, object] = field(default_factory=dict)

    @property
    def drifted_features(self) -> list[str]:
        return sorted({f for w in self.windows for f in w.drifted_features})

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["drifted_features"] = self.drifted_features
        return out


def split_windows(current: pd.DataFrame, settings: DriftSettings) -> list[tuple[str, pd.DataFrame]]:
    """Cut the current data into named windows: by time, by row count, or one window."""
    if settings.window:
        if settings.timestamp_column not in current.columns:
            raise ValueError(f"window={settings.window!r} needs the timestamp column {settings.timestamp_column!r}, absent from the current data")
        ts = pd.to_datetime(current[settings.timestamp_column], utc=True)
        keys = ts.dt.floor(settings.window)
        return [(k.isoformat(), g) for k, g in current.groupby(keys, sort=True)]
    if settings.window_rows:
        step = settings.window_rows
        return [(f"rows[{i}:{i + step}]", current.iloc[i : i + step]) for i in range(0, len(current), step)]
    return [("all", current)]


def _window_bounds(frame: pd.DataFrame, column: str) -> tuple[str | None, str | None]:
    if column not in frame.columns or frame.empty:
        return None, None
    ts = pd.to_datetime(frame[column], utc=True)
    return ts.min().isoformat(), ts.max().isoformat()


def _test_window(name: str, frame: pd.DataFrame, profile: ReferenceProfile) -> list[FeatureTest]:
    out: list[FeatureTest] = []
    n = len(frame)
    for feat, ref in profile.numeric.items():
        if feat not in frame.columns:
            continue  # a column the live data lacks is a schema problem, reported by the caller
        values = numeric_values(frame[feat])
        missing = int(np.isnan(values).sum())
        d, p = ks_sorted(ref.sample, values)
        effect = psi(with_missing(ref.proportions, ref.n_missing / ref.n_rows), with_missing(bin_proportions(values, ref.edges), missing / max(n, 1)))
        common = dict(
            window=name,
            feature=feat,
            kind="numeric",
            psi=effect,
            n_reference=ref.n_rows,
            n_current=n,
            missing_reference=ref.n_missing / ref.n_rows,
            missing_current=missing / max(n, 1),
        )
        out.append(FeatureTest(test="ks", statistic=d, p_value=p, **common))
        chi2, pm = missing_rate_test(ref.n_missing, ref.n_rows, missing, n)
        out.append(FeatureTest(test="missing", statistic=chi2, p_value=pm, **common))
    for feat, ref in profile.categorical.items():
        if feat not in frame.columns:
            continue
        values, missing = categorical_values(frame[feat])
        counts = values.value_counts()
        index = {c: i for i, c in enumerate(ref.categories)}
        cur_counts = np.zeros(len(ref.categories) + 1, dtype=np.int64)  # last slot: unseen values
        for cat, count in counts.items():
            cur_counts[index.get(cat, len(ref.categories))] += count
        ref_counts = np.append(ref.counts, 0)
        ref_props = with_missing(ref_counts / max(ref_counts.sum(), 1), ref.n_missing / ref.n_rows)
        cur_props = with_missing(cur_counts / max(cur_counts.sum(), 1), missing / max(n, 1))
        chi2, p = categorical_test(ref_counts, cur_counts)
        common = dict(
            window=name,
            feature=feat,
            kind="categorical",
            psi=psi(ref_props, cur_props),
            n_reference=ref.n_rows,
            n_current=n,
            missing_reference=ref.n_missing / ref.n_rows,
            missing_current=missing / max(n, 1),
        )
        out.append(FeatureTest(test="chi2", statistic=chi2, p_value=p, **common))
        chi2m, pm = missing_rate_test(ref.n_missing, ref.n_rows, missing, n)
        out.append(FeatureTest(test="missing", statistic=chi2m, p_value=pm, **common))
    return out


def check_usable(profile: ReferenceProfile, current: pd.DataFrame) -> None:
    """Raise ValueError naming what makes `current` unusable (see the module docstring)."""
    if len(current) == 0:
        raise ValueError("current data has no rows: nothing to compare with the reference (is the log path right?)")
    expected = [*profile.numeric, *profile.categorical]
    absent = [c for c in expected if c not in current.columns]
    if absent:
        raise ValueError(f"current data lacks the profiled columns {absent}")
    mistyped = []
    for feat in profile.numeric:
        column = current[feat]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            continue
        present = column.dropna()
        unparsable = pd.to_numeric(present, errors="coerce").isna()
        if present.size and unparsable.sum() / present.size > MAX_UNPARSABLE_SHARE:
            mistyped.append(
                f"{feat} (numeric in the reference; {int(unparsable.sum())} of {present.size} values are not numbers, e.g. {present[unparsable].iloc[0]!r})"
            )
    for feat, ref in profile.categorical.items():
        column = current[feat]
        labels_are_text = bool(pd.to_numeric(pd.Series(ref.categories, dtype=object), errors="coerce").isna().any())
        if labels_are_text and pd.api.types.is_numeric_dtype(column) and column.notna().any():
            mistyped.append(f"{feat} (categorical, labels such as {ref.categories[0]!r} in the reference; {column.dtype} here)")
    if mistyped:
        raise ValueError("current data has mistyped columns: " + "; ".join(mistyped) + ". Fix: send the schema's types")


def detect_drift(profile: ReferenceProfile, current: pd.DataFrame, settings: DriftSettings | None = None) -> DriftReport:
    """Compare `current` (one or more windows) with `profile`; see the module docstring."""
    settings = settings or DriftSettings()
    check_usable(profile, current)
    windows: list[WindowResult] = []
    tests: list[FeatureTest] = []
    for name, frame in split_windows(current, settings):
        start, end = _window_bounds(frame, settings.timestamp_column)
        tested = len(frame) >= settings.min_window_rows
        windows.append(WindowResult(name=name, n_rows=len(frame), start=start, end=end, tested=tested))
        if tested:
            tests.extend(_test_window(name, frame, profile))
    rejected, q = benjamini_hochberg(np.array([t.p_value for t in tests]), settings.alpha)
    tests = [
        FeatureTest(**{**asdict(t), "q_value": float(qi), "significant": bool(r), "rejected": bool(r) and t.psi >= settings.min_psi})
        for t, qi, r in zip(tests, q, rejected, strict=False)
    ]
    decided = []
    for w in windows:
        feats = tuple(sorted({t.feature for t in tests if t.window == w.name and t.rejected}))
        decided.append(WindowResult(**{**asdict(w), "drifted_features": feats, "drifted": len(feats) >= settings.min_drifted_features}))
    n_drifted = sum(w.drifted for w in decided)
    if not any(w.tested for w in decided):
        reason = f"no window reached min_window_rows={settings.min_window_rows}; nothing tested"
    elif n_drifted:
        feats = sorted({f for w in decided for f in w.drifted_features})
        reason = f"{n_drifted} of {sum(w.tested for w in decided)} windows drifted; features: {', '.join(feats)}"
    elif any(t.significant for t in tests):
        reason = (
            f"no drift: {sum(t.significant for t in tests)} of {len(tests)} tests significant at BH level {settings.alpha}, none with PSI >= {settings.min_psi}"
        )
    else:
        reason = f"no test rejected at BH level {settings.alpha} over {len(tests)} tests"
    return DriftReport(
        created_at=datetime.now(UTC).isoformat(),
        alpha=settings.alpha,
        n_tests=len(tests),
        drift_detected=n_drifted > 0,
        reason=reason,
        windows=decided,
        tests=tests,
        reference={"n_rows": profile.n_rows, **profile.meta},
    )
