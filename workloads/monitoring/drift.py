"""Drift detection: windows of live data against the reference profile.

For every window and feature: a distribution test (KS for numeric, pooled chi-squared / Fisher
for categorical) and a missing-rate test (chi-squared, Fisher where counts are small), with PSI
(missing values as their own bucket) as the effect size.

- The key is the unit: a window's rows are grouped by key (`key_column`), so each test runs on the
  effective sample sizes n / deff of the window and of the reference (stats.design_effect). With
  one record per key nothing changes; with 16 near-identical records per key a 1,600-row window
  counts as about 100 rows, as it should.
- Seasonality: a window is compared with the reference slot of its hour (profile.for_window, a
  seasonal profile), or with whatever `references(name, start)` returns (a rolling reference).
- False alarms over time: Benjamini-Hochberg runs over the tests of one window at the window's
  level `window_alpha`. The scheduled job spends the project's `drift.alpha` evenly over the
  windows of `drift.period` (alpha x window / period each: an alpha-spending rule whose union bound
  holds for any period, sliding or calendar, and whatever the dependence between windows), so
  stationary traffic raises an alarm in at most `alpha` of the periods. Without `window_alpha`
  (the `check` command), `alpha` is split evenly over the windows of the call.
- A feature drifts in a window when one of its tests is rejected *and* its PSI reaches `min_psi`
  (significance alone flags irrelevant shifts in large windows); a window drifts when at least
  `min_drifted_features` features do.

Unusable input raises ValueError naming the problem (the CLI exits 2): no rows, profiled columns
missing, a numeric column whose values are mostly not numbers, a categorical column holding
numbers where the reference held labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from workloads.monitoring.profile import ReferenceProfile, numeric_values, text_values
from workloads.monitoring.stats import (
    MISSING_CODE,
    UNSEEN_CODE,
    benjamini_hochberg,
    bin_proportions,
    categorical_test,
    category_codes,
    category_indicators,
    design_effect,
    effective_counts,
    key_codes,
    ks_sorted,
    missing_rate_test,
    numeric_indicators,
    psi,
    with_missing,
)
from workloads.settings import StrictEnvSettings

MAX_UNPARSABLE_SHARE = 0.5
"""A numeric column with more than this share of its non-missing values not numbers is mistyped
(a shifted column, a schema change), not drift; fewer count as missing values."""

References = Callable[[str, "pd.Timestamp | None"], "tuple[str, ReferenceProfile | None]"]
"""(window name, window start) -> (slot name, the reference profile, or None: no reference, skip)."""


class DriftSettings(StrictEnvSettings):
    """Drift statistics settings (env prefix `SAHAB_MONITORING_`); CLI flags override them. The
    scheduled job takes alpha and min_psi from the project unless these variables set them."""

    model_config = SettingsConfigDict(env_prefix="SAHAB_MONITORING_", frozen=True, extra="forbid")

    alpha: float = Field(0.05, gt=0.0, lt=1.0)
    """False-alarm level of one `check` call (split over its windows); the job: per `drift.period`."""
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
    key_column: str | None = None
    """Column naming each row's key (the unit rows are grouped by); unset: rows are independent."""
    max_reference_rows: int = Field(100_000, ge=1_000)
    max_calibration_ratio: float = Field(1.5, gt=1.0)
    """Performance: a binary model whose observed / expected positives leave [1/this, this] is miscalibrated."""
    label_match_tolerance: str = "10min"
    """Performance: a label without a request id is matched to the key's served record nearest its
    event time within this."""
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
    deff_reference: float = 1.0
    deff_current: float = 1.0
    """Design effects the test's sample sizes were divided by (rows grouped by key)."""
    q_value: float = 1.0
    significant: bool = False
    """Rejected by Benjamini-Hochberg at the window's level."""
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
    n_keys: int = 0
    reference: str = "all"
    """The reference slot the window was compared with (`h07`, `d4h07`, `rolling`, `all`)."""
    alpha: float = 0.0
    """The Benjamini-Hochberg level of the window's tests."""
    skipped_because: str = ""


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


def window_tests(name: str, frame: pd.DataFrame, profile: ReferenceProfile, keys: np.ndarray | None = None) -> list[FeatureTest]:
    """Every test of one window against `profile` (unadjusted p-values); `keys` groups the rows."""
    out: list[FeatureTest] = []
    n = len(frame)
    codes_of_keys, n_keys = key_codes(keys, n)
    for feat, ref in profile.numeric.items():
        if feat not in frame.columns:
            continue  # a column the live data lacks is a schema problem, reported by check_usable
        values = numeric_values(frame[feat])
        missing = int(np.isnan(values).sum())
        deff = design_effect(numeric_indicators(values, ref.edges), codes_of_keys, n_keys) if n_keys < n else 1.0
        d, p = ks_sorted(ref.sample, values, ref.deff, deff)
        effect = psi(with_missing(ref.proportions, ref.n_missing / ref.n_rows), with_missing(bin_proportions(values, ref.edges), missing / max(n, 1)))
        ks = FeatureTest(
            window=name,
            feature=feat,
            kind="numeric",
            test="ks",
            statistic=d,
            p_value=p,
            psi=effect,
            n_reference=ref.n_rows,
            n_current=n,
            missing_reference=ref.n_missing / ref.n_rows,
            missing_current=missing / max(n, 1),
            deff_reference=ref.deff,
            deff_current=deff,
        )
        out.append(ks)
        chi2, pm = _missing_test(ref.n_missing, ref.n_rows, ref.deff, missing, n, deff)
        out.append(replace(ks, test="missing", statistic=chi2, p_value=pm))
    for feat, cref in profile.categorical.items():
        if feat not in frame.columns:
            continue
        codes = category_codes(text_values(frame[feat]), cref.categories)
        missing = int((codes == MISSING_CODE).sum())
        deff = design_effect(category_indicators(codes, len(cref.categories)), codes_of_keys, n_keys) if n_keys < n else 1.0
        # last slot: values never seen in the reference
        cur_counts = np.append(np.bincount(codes[codes >= 0], minlength=len(cref.categories)), int((codes == UNSEEN_CODE).sum()))
        ref_counts = np.append(cref.counts, 0)
        ref_props = with_missing(ref_counts / max(ref_counts.sum(), 1), cref.n_missing / cref.n_rows)
        cur_props = with_missing(cur_counts / max(cur_counts.sum(), 1), missing / max(n, 1))
        chi2, p = categorical_test(effective_counts(ref_counts, cref.deff), effective_counts(cur_counts, deff))
        chi = FeatureTest(
            window=name,
            feature=feat,
            kind="categorical",
            test="chi2",
            statistic=chi2,
            p_value=p,
            psi=psi(ref_props, cur_props),
            n_reference=cref.n_rows,
            n_current=n,
            missing_reference=cref.n_missing / cref.n_rows,
            missing_current=missing / max(n, 1),
            deff_reference=cref.deff,
            deff_current=deff,
        )
        out.append(chi)
        chi2m, pm = _missing_test(cref.n_missing, cref.n_rows, cref.deff, missing, n, deff)
        out.append(replace(chi, test="missing", statistic=chi2m, p_value=pm))
    return out


def _missing_test(ref_missing: int, ref_n: int, ref_deff: float, cur_missing: int, cur_n: int, cur_deff: float) -> tuple[float, float]:
    """The missing-rate test on effective counts (rows grouped by key)."""
    rm, rp = effective_counts(np.array([ref_missing, ref_n - ref_missing]), ref_deff)
    cm, cp = effective_counts(np.array([cur_missing, cur_n - cur_missing]), cur_deff)
    return missing_rate_test(int(rm), int(rm + rp), int(cm), int(cm + cp))


def check_usable(profile: ReferenceProfile, current: pd.DataFrame) -> None:
    """Raise ValueError naming what makes `current` unusable (see the module docstring)."""
    if len(current) == 0:
        raise ValueError("current data has no rows: nothing to compare with the reference (is the log path right?)")
    expected = [*profile.numeric, *profile.categorical]
    absent = [c for c in expected if c not in current.columns]
    if absent:
        raise ValueError(f"current data lacks the profiled columns {absent}. Fix: send every feature of the project (null when unknown)")
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


def detect_drift(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    settings: DriftSettings | None = None,
    *,
    window_alpha: float | None = None,
    references: References | None = None,
) -> DriftReport:
    """Compare `current` (one or more windows) with `profile`; see the module docstring.

    `window_alpha`: the level of each window (the job's alpha spending); default `alpha` split
    over the windows tested. `references`: a window's reference other than the profile's own slot
    (the rolling reference)."""
    settings = settings or DriftSettings()
    check_usable(profile, current)
    keyed = settings.key_column and settings.key_column in current.columns
    windows: list[tuple[WindowResult, pd.DataFrame, ReferenceProfile | None]] = []
    for name, frame in split_windows(current, settings):
        start, end = _window_bounds(frame, settings.timestamp_column)
        begins = pd.Timestamp(name) if settings.window else None
        if references is not None:
            slot, ref = references(name, begins)
        elif begins is not None:
            slot, ref = profile.for_window(begins)
        else:
            slot, ref = "all", profile
        n_keys = int(frame[settings.key_column].nunique()) if keyed else len(frame)
        why = "" if len(frame) >= settings.min_window_rows else f"{len(frame)} rows < min_window_rows={settings.min_window_rows}"
        why = why or ("" if ref is not None else f"no {slot} reference for this window")
        windows.append((WindowResult(name, len(frame), start, end, not why, n_keys=n_keys, reference=slot, skipped_because=why), frame, ref))
    n_tested = sum(w.tested for w, _, _ in windows)
    level = window_alpha if window_alpha is not None else settings.alpha / max(n_tested, 1)
    decided: list[WindowResult] = []
    tests: list[FeatureTest] = []
    for w, frame, ref in windows:
        if not w.tested or ref is None:
            decided.append(replace(w, alpha=level))
            continue
        found = window_tests(w.name, frame, ref, frame[settings.key_column].to_numpy() if keyed else None)
        rejected, q = benjamini_hochberg(np.array([t.p_value for t in found]), level)
        found = [
            replace(t, q_value=float(qi), significant=bool(r), rejected=bool(r) and t.psi >= settings.min_psi)
            for t, qi, r in zip(found, q, rejected, strict=True)
        ]
        tests.extend(found)
        feats = tuple(sorted({t.feature for t in found if t.rejected}))
        decided.append(replace(w, alpha=level, drifted_features=feats, drifted=len(feats) >= settings.min_drifted_features))
    return DriftReport(
        created_at=datetime.now(UTC).isoformat(),
        alpha=level,
        n_tests=len(tests),
        drift_detected=any(w.drifted for w in decided),
        reason=_reason(decided, tests, settings, level),
        windows=decided,
        tests=tests,
        reference={"n_rows": profile.n_rows, "season": profile.season, "clock_features": sorted(profile.clock_features), **profile.meta},
    )


def _reason(windows: list[WindowResult], tests: list[FeatureTest], settings: DriftSettings, level: float) -> str:
    n_drifted = sum(w.drifted for w in windows)
    if not any(w.tested for w in windows):
        return "nothing tested: " + "; ".join(sorted({w.skipped_because for w in windows if w.skipped_because})[:3])
    if n_drifted:
        feats = sorted({f for w in windows for f in w.drifted_features})
        return f"{n_drifted} of {sum(w.tested for w in windows)} windows drifted; features: {', '.join(feats)}"
    if any(t.significant for t in tests):
        return f"no drift: {sum(t.significant for t in tests)} of {len(tests)} tests significant at the window level {level:.3g}, none with PSI >= {settings.min_psi}"
    return f"no test rejected at the window level {level:.3g} over {len(tests)} tests"
