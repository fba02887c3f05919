"""Model performance once labels mature: the prediction log joined with the label store, the
champion's metrics per window against its holdout tags, the retraining trigger, the metrics."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from drift_data import generate, project
from prediction_log import Champion, hours, labels_for, log_rows, write_hour

from workloads.evaluation import binary_metrics
from workloads.features.labels import LabelStore
from workloads.monitoring.drift import DriftSettings
from workloads.monitoring.job import DriftJobSettings, label_root, run
from workloads.monitoring.performance import PerformanceRules, join_labels, judge_window
from workloads.monitoring.reference import build_reference
from workloads.settings import SahabSettings

T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)
PER_HOUR = 3_000
LEVEL = 0.05 / 30  # a one-day window's share of the 30-day alpha


@pytest.fixture(scope="module")
def world():
    """A champion fitted on baseline rows, its holdout metrics, and the same rows after a concept
    drift (identical features, the fraud pattern moved) and after the positive rate doubled."""
    base = generate(40_000, seed=21)
    concept = generate(40_000, seed=21, drift={"concept": 1.0})
    prior = generate(40_000, seed=21, drift={"label_shift": 0.03})
    champion = Champion(base.iloc[:12_000])
    holdout = base.iloc[12_000:18_000]
    scores = champion.score(holdout)
    baseline = binary_metrics(holdout["is_fraud"].to_numpy(float), scores, 0.1)
    scored = {name: frame.assign(score=champion.score(frame)) for name, frame in (("base", base), ("concept", concept), ("prior", prior))}
    return scored, baseline, champion


def rules(**kw) -> PerformanceRules:
    return PerformanceRules(**{"watched": "auc", "max_degradation": 0.03, "level": LEVEL, "min_labels": 200, **kw})


def joined_window(frame: pd.DataFrame, hour: datetime, seed: int = 0) -> pd.DataFrame:
    logged = log_rows(frame, hour, seed=seed)
    return join_labels(project().spec, logged, labels_for(logged, frame), pd.Timedelta("10min"))


def judge(frame, baseline, hour=T0, **kw):
    joined = joined_window(frame, hour)
    return judge_window(
        project().spec, hour.isoformat(), pd.Timestamp(hour), pd.Timestamp(hour) + pd.Timedelta("1d"), len(frame), joined, baseline, rules(**kw)
    )


def test_labels_join_their_record_exactly_or_by_key_and_time(world):
    scored, _, _ = world
    rows = scored["base"].iloc[20_000:20_400].reset_index(drop=True)
    logged = log_rows(rows, T0)
    labels = labels_for(logged, rows, exact_share=0.5)
    # A label naming a request that is not among these records (the challenger's) is never matched by time.
    stray = labels.iloc[[0]].assign(request_id="someone-elses-request", record=pd.array([0], dtype="Int32"))
    # A correction that arrived later replaces the first answer.
    corrected = labels.iloc[[1]].assign(is_fraud=1 - labels["is_fraud"].iloc[1], label_arrival_ts=labels["label_arrival_ts"].iloc[1] + timedelta(days=1))
    joined = join_labels(project().spec, logged, pd.concat([labels.iloc[1:], stray, corrected], ignore_index=True), pd.Timedelta("10min"))
    assert len(joined) == 399, f"{len(joined)} records joined: the one labelled only by a stray request id must stay out"
    assert set(joined["matched_by"]) == {"request", "key-time"} and (joined["matched_by"] == "request").sum() == 199
    by_request = joined.set_index("request_id")["label"]
    assert by_request[logged["request_id"].iloc[1]] == 1 - rows["is_fraud"].iloc[1], "the later correction is the label"
    ok = joined[joined["request_id"] != logged["request_id"].iloc[1]]
    truth = dict(zip(logged["request_id"], rows["is_fraud"], strict=True))
    assert all(ok["label"].to_numpy() == ok["request_id"].map(truth).to_numpy()), "each label joined its own record (key-time too)"


def test_stationary_windows_are_not_degraded(world):
    scored, baseline, _ = world
    degraded = 0
    for i in range(6):
        window = judge(scored["base"].iloc[18_000 + i * PER_HOUR : 18_000 + (i + 1) * PER_HOUR], baseline, hour=T0 + timedelta(days=i))
        assert window.tested and window.n_labels == PER_HOUR, window.skipped_because
        degraded += window.degraded
    assert degraded == 0, f"{degraded} of 6 stationary windows judged degraded"


def test_concept_drift_with_unchanged_features_is_caught(world):
    scored, baseline, _ = world
    window = judge(scored["concept"].iloc[18_000 : 18_000 + PER_HOUR], baseline)
    auc = next(c for c in window.checks if c.metric == "auc")
    assert window.degraded and auc.breached, auc.detail
    assert window.metrics["auc"] < 0.6 and baseline["auc"] > 0.8, f"AUC {baseline['auc']:.3f} -> {window.metrics['auc']:.3f}"
    assert auc.p_value <= LEVEL and auc.effect > 0.03, auc


def test_a_doubled_positive_rate_is_caught_by_calibration(world):
    scored, baseline, _ = world
    window = judge(scored["prior"].iloc[18_000 : 18_000 + PER_HOUR], baseline)
    checks = {c.metric: c for c in window.checks}
    assert window.degraded and checks["calibration_ratio"].breached, checks["calibration_ratio"].detail
    assert 1.7 < window.metrics["calibration_ratio"] < 2.5, window.metrics["calibration_ratio"]
    assert not checks["auc"].breached, "AUC ranks: a prior shift leaves it alone, calibration is what catches it"


def test_too_few_labels_or_no_baseline_judge_nothing(world):
    scored, baseline, _ = world
    few = judge(scored["base"].iloc[18_000:18_150], baseline)
    assert not few.tested and "150 labels < min_labels=200" in few.skipped_because
    unjudged = judge(scored["concept"].iloc[18_000 : 18_000 + PER_HOUR], {})
    auc = next(c for c in unjudged.checks if c.metric == "auc")
    assert not auc.breached and "no sahab.holdout.auc tag" in auc.detail


def test_regression_rmse_degradation_is_caught():
    """delivery-time (regression): its ETA model's RMSE against the holdout's."""
    from sklearn.linear_model import Ridge

    spec = project("delivery-time").spec
    base = generate(20_000, seed=5, name="delivery-time", days=14)
    works = generate(20_000, seed=5, name="delivery-time", days=14, drift={"concept": 1.0})
    numeric = list(spec.numeric)
    model = Ridge().fit(base[numeric].iloc[:8_000], base[spec.label.column].iloc[:8_000])
    holdout = base.iloc[8_000:12_000]
    rmse = float(np.sqrt(np.mean((model.predict(holdout[numeric]) - holdout[spec.label.column]) ** 2)))
    rules_ = PerformanceRules("rmse", spec.monitoring.performance.max_degradation, LEVEL, 200)
    out = {}
    for name, frame in (("steady", base.iloc[12_000:15_000]), ("works", works.iloc[12_000:15_000])):
        frame = frame.assign(score=model.predict(frame[numeric]))
        logged = log_rows(frame, T0, name="delivery-time")
        joined = join_labels(spec, logged, labels_for(logged, frame, name="delivery-time"), pd.Timedelta("10min"))
        out[name] = judge_window(spec, name, pd.Timestamp(T0), pd.Timestamp(T0) + pd.Timedelta("1d"), len(frame), joined, {"rmse": rmse}, rules_)
    assert not out["steady"].degraded, out["steady"].checks[0].detail
    assert out["works"].degraded and out["works"].metrics["rmse"] > rmse + 1.0, out["works"].checks[0].detail
    assert [c.metric for c in out["works"].checks] == ["rmse"], "no calibration check outside binary"


def test_the_job_judges_mature_windows_triggers_once_waits_for_experiments_and_exports(tmp_path, world):
    """Hours 10-12 as trained, 13-15 after a concept drift (the features unchanged): drift sees
    nothing, the performance monitor opens an episode at 13:00; its retraining waits while an
    experiment runs, then starts once; the metrics carry the window's AUC and the alert's gauge."""
    scored, baseline, _ = world
    spec = project().spec
    home = tmp_path / "home"
    log = tmp_path / "serving-log"
    reference = tmp_path / "reference.npz"
    train = scored["base"].iloc[:12_000]
    build_reference(spec, train, train["score"].to_numpy(), meta={"model_version": "1", **{f"sahab.holdout.{k}": str(v) for k, v in baseline.items()}}).save(
        reference
    )
    store = LabelStore(spec, label_root(spec, home))
    for i, hour in enumerate(hours(T0, 6)):
        frame = scored["base" if i < 3 else "concept"].iloc[18_000 + i * PER_HOUR : 18_000 + (i + 1) * PER_HOUR].reset_index(drop=True)
        logged = log_rows(frame, hour, seed=i)
        write_hour(log, logged, hour)
        store.append(labels_for(logged, frame))
    marks = tmp_path / "retrains.txt"
    script = f"import os; open({str(marks)!r},'a').write(os.environ['SAHAB_RETRAIN_KEY']+' '+os.environ['SAHAB_RETRAIN_REASON']+' '+os.environ['SAHAB_PROJECT']+'\\n')"
    job = DriftJobSettings(
        log_uri=str(log),
        reference_uri=str(reference),
        performance_window="1h",
        label_maturity="2h",
        lookback="8h",
        retrain_command=f"{sys.executable} -c {json.dumps(script)}",
    )

    def go(now, running=None, out=None):
        return run(job, DriftSettings(), project(), now=now, sahab=SahabSettings(home=home), experiment_running=lambda s, h: running, out_dir=out)

    experiment = "experiment e1 (champion v1 vs challenger v2)"
    first, _ = go(T0.replace(hour=18, minute=6), running=experiment, out=tmp_path / "out")
    perf = first.performance
    assert perf["judged"] == [h.isoformat() for h in hours(T0, 6)], perf
    assert perf["degraded"] == [h.isoformat() for h in hours(T0.replace(hour=13), 3)], perf["reason"]
    assert not first.drifted and first.episode is None, "the features did not move: no drift"
    assert perf["episode"]["key"] == "perf-20261201T1300Z" and first.retrain is None and experiment in first.waiting, first
    prom = (tmp_path / "out" / "metrics.prom").read_text()
    assert 'sahab_model_performance_degraded{metric="auc",project="transaction-risk",version="1"} 1.0' in prom, prom
    assert f'sahab_model_performance_labels{{project="transaction-risk",version="1"}} {float(PER_HOUR)}' in prom
    assert 'sahab_model_performance{metric="auc",project="transaction-risk",version="1"}' in prom
    assert 'sahab_model_performance_baseline{metric="auc",project="transaction-risk",version="1"}' in prom
    assert (tmp_path / "out" / "performance.json").is_file() and (tmp_path / "drift-state" / "state.json").is_file()

    fired, _ = go(T0.replace(hour=18, minute=30), out=tmp_path / "out2")
    assert fired.retrain is not None and fired.retrain["key"] == "perf-20261201T1300Z" and fired.retrain["reason"] == "performance", fired.retrain
    assert marks.read_text().split() == ["perf-20261201t1300z", "performance", str(project().folder)], marks.read_text()
    prom = (tmp_path / "out2" / "metrics.prom").read_text()
    assert 'sahab_model_performance_degraded{metric="auc",project="transaction-risk",version="1"} 1.0' in prom, "re-exported by a run that judged nothing"
    again, _ = go(T0.replace(hour=19, minute=6))
    assert again.retrain is None and len(marks.read_text().split()) == 3, "one retraining per episode"


def multiclass_spec():
    from workloads.project import validate_project

    return validate_project(
        {
            "name": "tri-class",
            "team": "tests",
            "entity": {"name": "thing", "key": "thing_id", "dtype": "string"},
            "label": {"column": "grade", "task": "multiclass", "classes": ["low", "mid", "high"]},
            "features": [{"name": "n_a", "type": "numeric"}, {"name": "c_kind", "type": "categorical"}],
            "feature_views": [{"name": "things", "features": ["n_a", "c_kind"]}],
            "training": {"framework": "sklearn"},
            "evaluation": {"gate": {"primary": {"metric": "logloss", "max": 1.2}}},
        }
    )


def test_a_multiclass_model_is_profiled_with_its_predicted_class_and_judged_on_its_probabilities():
    from workloads.evaluation import Predictions

    spec = multiclass_spec()
    rng = np.random.default_rng(9)
    n = 3_000
    signal = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "thing_id": rng.integers(0, 1_000, n).astype(str),
            "event_timestamp": pd.Timestamp(T0) + pd.to_timedelta(np.sort(rng.uniform(0, 3 * 86_400, n)), unit="s"),
            "n_a": signal,
            "c_kind": rng.choice(["a", "b"], n).astype(object),
            "grade": np.array(["low", "mid", "high"], dtype=object)[np.digitize(signal + rng.normal(0, 0.5, n), [-0.5, 0.5])],
        }
    )
    logits = np.column_stack((-3 * signal - 1, np.zeros(n), 3 * signal - 1))
    predictions = Predictions.from_outputs("multiclass", logits, spec.label.classes, kind="logits")
    profile = build_reference(spec, frame, predictions)
    assert "prediction" in profile.categorical and "score" in profile.numeric, "the predicted class and its probability are monitored"
    assert set(profile.categorical["prediction"].categories) == {"low", "mid", "high"}

    logged = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "record": np.zeros(n, dtype=np.int32),
            "ts": frame["event_timestamp"],
            "key": frame["thing_id"],
            "score": predictions.score,
            "prediction": predictions.prediction,
            "probabilities": list(predictions.probabilities),
        }
    )
    labels = frame.assign(label_arrival_ts=frame["event_timestamp"] + pd.Timedelta("1h"), request_id=logged["request_id"], record=0, source="feedback")
    baseline = {"logloss": float(-np.mean(np.log(predictions.probabilities[np.arange(n), pd.Categorical(frame["grade"], ["low", "mid", "high"]).codes])))}
    r = PerformanceRules("logloss", 0.1, LEVEL, 200)
    good = judge_window(
        spec, "w", pd.Timestamp(T0), pd.Timestamp(T0) + pd.Timedelta("3d"), n, join_labels(spec, logged, labels, pd.Timedelta("1min")), baseline, r
    )
    assert good.tested and not good.degraded and good.metrics["logloss"] == pytest.approx(baseline["logloss"]), good.checks[0].detail
    flipped = labels.assign(grade=labels["grade"].map({"low": "high", "mid": "mid", "high": "low"}))
    bad = judge_window(
        spec, "w", pd.Timestamp(T0), pd.Timestamp(T0) + pd.Timedelta("3d"), n, join_labels(spec, logged, flipped, pd.Timedelta("1min")), baseline, r
    )
    assert bad.degraded and bad.checks[0].metric == "logloss", bad.checks[0].detail
