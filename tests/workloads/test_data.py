"""The shipped projects' example generators (projects/<name>/data.py): the generator contract,
learnable labels, drift controls (covariate, concept, label delay) and the outcome a client reports."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from workload_helpers import PROJECTS, shipped_project

START = datetime(2025, 2, 1, tzinfo=UTC)


def _data(name: str):
    project = shipped_project(name)
    return project, project.module("data")


def _matrix(df: pd.DataFrame, spec) -> pd.DataFrame:
    x = df[list(spec.numeric)].copy()
    for c in spec.categorical:
        x[c] = df[c].astype("category")
    return x


@pytest.mark.parametrize("name", PROJECTS)
def test_generate_keeps_the_contract(name):
    project, data = _data(name)
    spec = project.spec
    a = data.generate(3_000, seed=11, start=START, days=7)
    pd.testing.assert_frame_equal(a, data.generate(3_000, seed=11, start=START, days=7), obj=f"{name}: same arguments")
    assert list(a.columns) == [spec.entity.key, spec.timestamp, *spec.feature_names, spec.label.column, "label_arrival_ts"], f"{name}: columns"
    assert str(a[spec.timestamp].dt.tz) == "UTC" and a[spec.timestamp].is_monotonic_increasing, f"{name}: {spec.timestamp} must be UTC and ascending"
    assert a[spec.timestamp].min() >= pd.Timestamp(START) and a[spec.timestamp].max() < pd.Timestamp(START) + pd.Timedelta(days=7), (
        f"{name}: inside start + days"
    )
    assert (a["label_arrival_ts"] > a[spec.timestamp]).all(), f"{name}: a label arrives after its event"
    assert not a.duplicated([spec.entity.key, spec.timestamp]).any(), f"{name}: (key, time) must be unique so point-in-time joins are unambiguous"
    key_type = np.int64 if spec.entity.dtype == "int64" else object
    assert a[spec.entity.key].dtype == key_type, f"{name}: {spec.entity.key} dtype {a[spec.entity.key].dtype}"
    assert not data.generate(3_000, seed=12, start=START, days=7).equals(a), f"{name}: another seed gives other data"


def test_transaction_risk_fraud_rate_and_learnable_signal():
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    project, data = _data("transaction-risk")
    df = data.generate(20_000, seed=0, start=START, days=30)
    rate = df["is_fraud"].mean()
    assert 0.02 <= rate <= 0.05, f"is_fraud rate {rate:.3f} outside 2-5%"
    model = HistGradientBoostingClassifier(max_iter=150, categorical_features="from_dtype").fit(_matrix(df[:15_000], project.spec), df["is_fraud"][:15_000])
    auc = roc_auc_score(df["is_fraud"][15_000:], model.predict_proba(_matrix(df[15_000:], project.spec))[:, 1])
    assert auc > 0.8, f"transaction-risk: a tree model reaches only AUC {auc:.3f}"


def test_delivery_time_has_a_daily_cycle_and_a_learnable_label():
    import lightgbm as lgb

    project, data = _data("delivery-time")
    df = data.generate(20_000, seed=0, start=START, days=28)
    minutes = df["delivery_minutes"]
    assert 20 < minutes.median() < 45 and minutes.min() > 5, f"delivery_minutes median {minutes.median():.1f}, min {minutes.min():.1f}"
    by_hour = df.groupby(df["order_ts"].dt.tz_convert("Asia/Dubai").dt.hour).size()
    assert by_hour[20] > 4 * by_hour[4] and by_hour[13] > 3 * by_hour[4], f"orders per hour (UAE) lack the lunch / dinner peaks: {by_hour.to_dict()}"
    model = lgb.LGBMRegressor(n_estimators=200, verbose=-1, n_jobs=1).fit(_matrix(df[:15_000], project.spec), minutes[:15_000])
    rmse = float(np.sqrt(np.mean((model.predict(_matrix(df[15_000:], project.spec)) - minutes[15_000:]) ** 2)))
    assert rmse < 0.5 * minutes.std(), f"delivery-time: RMSE {rmse:.2f} is not well below the label's spread {minutes.std():.2f}"


@pytest.mark.parametrize(
    "name, drift, moved",
    [
        (
            "transaction-risk",
            {"mean_shift": {"amount_zscore_30d": 1.0}, "new_categories": {"channel": 0.3}, "missing_rate": {"country": 0.2}},
            "amount_zscore_30d",
        ),
        ("delivery-time", {"mean_shift": {"traffic_index": 1.0}, "new_categories": {"area": 0.3}, "missing_rate": {"weather": 0.2}}, "traffic_index"),
    ],
)
def test_covariate_drift_moves_only_what_it_names(name, drift, moved):
    project, data = _data(name)
    base = data.generate(20_000, seed=3, start=START, days=10)
    drifted = data.generate(20_000, seed=3, start=START, days=10, drift=drift)
    shift = (drifted[moved].mean() - base[moved].mean()) / base[moved].std()
    assert shift > 0.5, f"{name}: mean_shift of {moved} moved it by {shift:.2f} std"
    (cat,) = drift["new_categories"]
    unseen = drifted[cat].astype(str).str.contains("unseen").mean()
    assert unseen == pytest.approx(0.3, abs=0.02), f"{name}: new_categories[{cat}] gave {unseen:.3f}"
    (missing,) = drift["missing_rate"]
    assert drifted[missing].isna().mean() == pytest.approx(0.2, abs=0.02), f"{name}: missing_rate[{missing}]"
    untouched = next(f for f in project.spec.numeric if f != moved and f not in ("traffic_index",))
    pd.testing.assert_series_equal(drifted[untouched], base[untouched], obj=f"{name}: {untouched} must not move")


def test_concept_drift_makes_a_model_trained_before_it_clearly_worse():
    """The same features, another P(label | features): a model fit before the drift fails after it,
    one fit after it does as well as before (what a retrain on the sliding window must recover)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    project, data = _data("transaction-risk")
    before = data.generate(16_000, seed=1, start=START, days=20)
    after = data.generate(16_000, seed=2, start=START, days=20, drift={"concept": 1.0})

    def fit(df):
        return HistGradientBoostingClassifier(max_iter=150, categorical_features="from_dtype").fit(_matrix(df[:12_000], project.spec), df["is_fraud"][:12_000])

    old, new = fit(before), fit(after)
    test = _matrix(after[12_000:], project.spec)
    auc_old = roc_auc_score(after["is_fraud"][12_000:], old.predict_proba(test)[:, 1])
    auc_new = roc_auc_score(after["is_fraud"][12_000:], new.predict_proba(test)[:, 1])
    assert auc_old < 0.6 < 0.78 < auc_new, f"transaction-risk concept drift: pre-drift model AUC {auc_old:.3f}, post-drift model {auc_new:.3f}"


def test_delivery_concept_drift_and_label_delay():
    import lightgbm as lgb

    project, data = _data("delivery-time")
    before = data.generate(16_000, seed=1, start=START, days=14)
    after = data.generate(16_000, seed=2, start=START, days=14, drift={"concept": 1.0, "label_delay": 3})

    def fit(df):
        return lgb.LGBMRegressor(n_estimators=200, verbose=-1, n_jobs=1).fit(_matrix(df[:12_000], project.spec), df["delivery_minutes"][:12_000])

    test, truth = _matrix(after[12_000:], project.spec), after["delivery_minutes"][12_000:].to_numpy()
    rmse_old = float(np.sqrt(np.mean((fit(before).predict(test) - truth) ** 2)))
    rmse_new = float(np.sqrt(np.mean((fit(after).predict(test) - truth) ** 2)))
    assert rmse_old > 1.5 * rmse_new, f"delivery-time concept drift: pre-drift RMSE {rmse_old:.2f} vs post-drift {rmse_new:.2f}"
    delay = (after["label_arrival_ts"] - after["order_ts"]).dt.total_seconds() / 3600
    base_delay = (before["label_arrival_ts"] - before["order_ts"]).dt.total_seconds() / 3600
    assert delay.min() >= 3 and delay.median() - base_delay.median() == pytest.approx(3, abs=0.3), (
        f"label_delay 3 h: arrival delay {delay.min():.2f} h min, median {delay.median():.2f} h (baseline median {base_delay.median():.2f} h)"
    )


@pytest.mark.parametrize(
    "name, drift, field",
    [
        ("transaction-risk", {"mean_shift": {"nope": 1.0}}, "mean_shift"),
        ("transaction-risk", {"variance_scale": {"amount": 0.0}}, "variance_scale"),
        ("transaction-risk", {"label_shift": 0.99}, "label_shift"),
        ("transaction-risk", {"concept": 1.5}, "concept"),
        ("transaction-risk", {"typo": 1}, "typo"),
        ("delivery-time", {"weather": {"snow": 0.2}}, "weather"),
        ("delivery-time", {"missing_rate": {"area": 1.5}}, "missing_rate"),
        ("delivery-time", {"label_delay": -1}, "label_delay"),
    ],
)
def test_bad_drift_names_the_control(name, drift, field):
    _, data = _data(name)
    with pytest.raises(ValueError, match=field):
        data.generate(100, seed=0, start=START, days=1, drift=drift)


def test_outcomes_are_what_a_client_reports():
    _, risk = _data("transaction-risk")
    _, delivery = _data("delivery-time")
    assert risk.outcome(0.9, 1) == 1.0 and risk.outcome(0.9, 0) == 0.0 and risk.outcome(0.01, 0) == 1.0, "decision_correct at threshold 0.1"
    assert delivery.outcome(30.0, 30.0) == 1.0 and delivery.outcome(45.0, 30.0) == pytest.approx(0.5), "eta_accuracy = 1 - |eta - actual| / actual"
    assert delivery.outcome(100.0, 30.0) == 0.0, "eta_accuracy is floored at 0"
