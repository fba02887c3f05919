"""Model performance on live traffic, once its labels have matured.

A performance window (`monitoring.performance.window`, default one day) is judged once
`label_maturity` has passed since it ended: the champion's live records of the window (prediction
log) joined with the label store, each label to the record it is about:

1. exactly, by `request_id` + `record` (a label posted with the answer's request id; a missing
   `record` means record 0), never to another record;
2. a label without a request id by key and time: the key's served record nearest the label's
   event time, within `label_match_tolerance` (a label file that only knows the key and when).

Each label is the last that arrived for its event (a correction replaces the first answer); labels
arriving after the window was judged are not counted. Per window: every metric of the task
(workloads.evaluation: binary AUC, log loss, ECE, Brier, ...; multiclass log loss, accuracy, macro
F1; regression RMSE, MAE, R^2), the label count and, for a binary model, the calibration ratio
(observed / expected positives: 2 when the positive rate doubled under a model that did not).

A window is *degraded* when one of these checks fails, each both material and significant:
- the watched metric (`performance.metric`, default the gate's primary) is worse than the
  version's own `sahab.holdout.<metric>` by more than `max_degradation`, and the one-sided test of
  "no worse than the holdout" rejects at the window's level;
- binary: the calibration ratio leaves [1/r, r] (r = SAHAB_MONITORING_MAX_CALIBRATION_RATIO,
  1.5) and differs from 1 significantly (two-sided). AUC ranks and cannot see a prior shift.
Standard errors are the delete-a-group jackknife over keys (rows grouped by key, like drift); the
level is the project's alpha spent over the windows of `drift.period`, as drift's.
Windows with fewer than `min_labels` labels are reported and neither open nor close an episode.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from workloads.monitoring.stats import jackknife, key_groups
from workloads.project.spec import HIGHER_IS_BETTER

if TYPE_CHECKING:
    from workloads.project.spec import ProjectSpec

LABEL = "label"
CALIBRATION = "calibration_ratio"
MATCH = "matched_by"


@dataclass(frozen=True)
class PerformanceCheck:
    metric: str
    value: float
    baseline: float | None
    """The version's holdout value (watched metric) or 1 (calibration ratio); None: not judged."""
    se: float
    effect: float
    """How much worse than the baseline (watched metric, in its units) or |log ratio| (calibration)."""
    threshold: float
    p_value: float
    breached: bool
    detail: str


@dataclass(frozen=True)
class PerformanceWindow:
    name: str
    start: str
    end: str
    n_rows: int
    """The champion's live records in the window."""
    n_labels: int
    n_exact: int
    """Labels joined by request id + record (the rest by key and time)."""
    tested: bool
    metrics: dict[str, float] = field(default_factory=dict)
    checks: list[PerformanceCheck] = field(default_factory=list)
    degraded: bool = False
    level: float = 0.0
    skipped_because: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PerformanceRules:
    """What a window is judged by (module docstring)."""

    watched: str
    max_degradation: float
    level: float
    min_labels: int
    max_calibration_ratio: float = 1.5


def join_labels(spec: ProjectSpec, rows: pd.DataFrame, labels: pd.DataFrame, tolerance: pd.Timedelta) -> pd.DataFrame:
    """`rows` (prediction log records) that a label is about, with the label in column `label`
    and how it was matched in `matched_by` (`request` or `key-time`); each record at most once."""
    from workloads.features.labels import latest

    if rows.empty or labels.empty:
        return rows.iloc[0:0].assign(**{LABEL: pd.Series(dtype=object), MATCH: pd.Series(dtype=object)})
    labels = latest(labels, spec)
    label_col, key_col, time_col = spec.label.column, spec.entity.key, spec.timestamp
    rows = rows.assign(_row=np.arange(len(rows)), record=rows["record"].astype("int64"))
    named = labels[labels["request_id"].notna()]
    exact = named.assign(record=named["record"].astype("Int64").fillna(0).astype("int64")).merge(
        rows[["request_id", "record", "_row"]], on=["request_id", "record"], how="inner"
    )
    exact = exact[["_row", label_col]].assign(**{MATCH: "request"})
    # A label naming a request is about that record only (maybe one the challenger scored): never
    # matched by time to another.
    rest = labels[labels["request_id"].isna()]
    by_time = pd.DataFrame(columns=["_row", label_col, MATCH])
    if not rest.empty:
        left = pd.DataFrame(
            {"key": rest[key_col].astype(str).to_numpy(), "ts": pd.to_datetime(rest[time_col], utc=True).to_numpy(), label_col: rest[label_col].to_numpy()}
        )
        right = pd.DataFrame(
            {"key": rows["key"].astype(str).to_numpy(), "ts": pd.to_datetime(rows["ts"], utc=True).to_numpy(), "_row": rows["_row"].to_numpy()}
        )
        # checked: pandas 2.3.3 pandas/core/reshape/merge.py merge_asof (by=, tolerance=, direction="nearest"; both sides sorted on `on`)
        matched = pd.merge_asof(
            left.sort_values("ts", kind="stable"), right.sort_values("ts", kind="stable"), on="ts", by="key", tolerance=tolerance, direction="nearest"
        )
        matched = matched.dropna(subset=["_row"])
        by_time = matched.assign(_row=matched["_row"].astype("int64"))[["_row", label_col]].assign(**{MATCH: "key-time"})
    joined = pd.concat([exact, by_time], ignore_index=True).drop_duplicates("_row", keep="first")
    out = rows.merge(joined.rename(columns={label_col: LABEL}), on="_row", how="inner")
    return out.drop(columns="_row").sort_values("ts", kind="stable").reset_index(drop=True)


def predictions_of(spec: ProjectSpec, rows: pd.DataFrame):
    """The logged answers as workloads.evaluation.Predictions (multiclass: the logged probabilities)."""
    from workloads.evaluation import Predictions

    if spec.label.task == "multiclass":
        probabilities = np.stack([np.asarray(p, dtype=np.float64) for p in rows["probabilities"]])
        return Predictions.from_outputs("multiclass", probabilities, spec.label.classes)
    return Predictions(spec.label.task, rows["score"].to_numpy(dtype=np.float64))


def window_metrics(spec: ProjectSpec, joined: pd.DataFrame) -> dict[str, float]:
    """Every metric of the task on the joined records (plus the calibration ratio for binary)."""
    from workloads.evaluation import metrics

    y = labels_of(spec, joined)
    out = metrics(spec, y, predictions_of(spec, joined))
    if spec.label.task == "binary":
        out[CALIBRATION] = calibration_ratio(y, joined["score"].to_numpy(dtype=np.float64))
    return out


def labels_of(spec: ProjectSpec, joined: pd.DataFrame) -> np.ndarray:
    if spec.label.task == "multiclass":
        return joined[LABEL].astype(str).to_numpy(dtype=object)
    return joined[LABEL].to_numpy(dtype=np.float64)


def calibration_ratio(y: np.ndarray, p: np.ndarray) -> float:
    expected = float(np.sum(p))
    return float(np.sum(y)) / expected if expected > 0 else math.nan


def judge_window(
    spec: ProjectSpec, name: str, start: pd.Timestamp, end: pd.Timestamp, n_rows: int, joined: pd.DataFrame, baseline: dict[str, float], rules: PerformanceRules
) -> PerformanceWindow:
    """Metrics and checks of one window (module docstring)."""
    common = dict(name=name, start=start.isoformat(), end=end.isoformat(), n_rows=n_rows, n_labels=len(joined), level=rules.level)
    n_exact = int((joined[MATCH] == "request").sum()) if len(joined) else 0
    if len(joined) < rules.min_labels:
        return PerformanceWindow(**common, n_exact=n_exact, tested=False, skipped_because=f"{len(joined)} labels < min_labels={rules.min_labels}")
    values = window_metrics(spec, joined)
    groups = key_groups(joined["key"].to_numpy())
    checks = [_watched_check(spec, joined, groups, values, baseline, rules)]
    if spec.label.task == "binary":
        checks.append(_calibration_check(joined, groups, values, rules))
    return PerformanceWindow(**common, n_exact=n_exact, tested=True, metrics=values, checks=checks, degraded=any(c.breached for c in checks))


def _watched_check(
    spec: ProjectSpec, joined: pd.DataFrame, groups: np.ndarray, values: dict[str, float], baseline: dict[str, float], rules: PerformanceRules
) -> PerformanceCheck:
    from workloads.evaluation import metrics

    metric = rules.watched
    value = values.get(metric, math.nan)
    base = baseline.get(metric)
    if base is None:
        return PerformanceCheck(
            metric, value, None, math.nan, math.nan, rules.max_degradation, 1.0, False, f"no sahab.holdout.{metric} tag on the version: not judged"
        )
    y = labels_of(spec, joined)
    preds = predictions_of(spec, joined)

    def on(mask: np.ndarray) -> float:
        return float(metrics(spec, y[mask], _subset(preds, mask)).get(metric, math.nan))

    _, se, dof = jackknife(on, groups)
    worse = (base - value) if HIGHER_IS_BETTER.get(metric, False) else (value - base)
    p = float(stats.t.sf(worse / se, dof)) if dof and se > 0 and math.isfinite(worse) else (0.0 if se == 0 and worse > 0 else 1.0)
    breached = bool(math.isfinite(worse) and worse > rules.max_degradation and p <= rules.level)
    detail = f"{metric} {value:.4f} vs holdout {base:.4f}: {worse:+.4f} worse (max {rules.max_degradation}), se {se:.4f}, p {p:.2g} (level {rules.level:.2g})"
    return PerformanceCheck(metric, value, base, se, worse, rules.max_degradation, p, breached, detail)


def _calibration_check(joined: pd.DataFrame, groups: np.ndarray, values: dict[str, float], rules: PerformanceRules) -> PerformanceCheck:
    y, p = joined[LABEL].to_numpy(dtype=np.float64), joined["score"].to_numpy(dtype=np.float64)

    def log_ratio(mask: np.ndarray) -> float:
        ratio = calibration_ratio(y[mask], p[mask])
        return math.log(ratio) if ratio > 0 else math.nan

    ratio = values.get(CALIBRATION, math.nan)
    est, se, dof = jackknife(log_ratio, groups)
    effect = abs(est) if math.isfinite(est) else math.inf
    threshold = math.log(rules.max_calibration_ratio)
    if not math.isfinite(est):
        # No positive at all where the model expected some: as far from calibrated as it gets; the
        # exact Poisson chance of seeing none under the model stands in for the jackknife.
        pval = float(math.exp(-float(np.sum(p))))
    else:
        pval = float(2 * stats.t.sf(effect / se, dof)) if dof and se > 0 else 1.0
    breached = bool(effect > threshold and pval <= rules.level)
    detail = f"observed / expected positives {ratio:.3f} (allowed {1 / rules.max_calibration_ratio:.3f}-{rules.max_calibration_ratio:.3f}), p {pval:.2g}"
    return PerformanceCheck(CALIBRATION, ratio, 1.0, se, effect, threshold, pval, breached, detail)


def _subset(preds, mask: np.ndarray):
    from workloads.evaluation import Predictions

    probs = preds.probabilities[mask] if preds.probabilities is not None else None
    return Predictions(preds.task, preds.score[mask], probs, preds.classes)
