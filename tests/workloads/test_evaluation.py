"""Metrics of every task against their textbook definitions, the gate's checks, and the generic
encoding (format 2, labels per task, errors that name what is wrong)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from project_fixtures import project_dict, synthetic_frame

from workloads.evaluation import Predictions, judge, metrics
from workloads.features.encoding import EncodingError, FeatureSpec, encode, encode_labels
from workloads.project import validate_project


def spec(task: str, **gate):
    raw = project_dict("t-eval", framework="lightgbm", task=task)
    if gate:
        raw["evaluation"]["gate"] = gate
    return validate_project(raw)


def test_binary_metrics_match_their_definitions():
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.3).astype(float)
    p = np.clip(0.3 + 0.4 * (y - 0.3) + rng.normal(0, 0.15, 500), 0.01, 0.99)
    values = metrics(spec("binary"), y, Predictions("binary", p))
    assert set(values) == {"auc", "logloss", "ece", "brier", "precision", "recall", "positive_rate"}, sorted(values)
    assert math.isclose(values["auc"], roc_auc_score(y, p)) and math.isclose(values["logloss"], log_loss(y, p)), values
    assert math.isclose(values["brier"], brier_score_loss(y, p)), values
    pred = p >= 0.5  # evaluation.threshold's default
    assert math.isclose(values["precision"], (pred & (y == 1)).sum() / pred.sum()) and math.isclose(values["positive_rate"], pred.mean()), values
    perfect = metrics(spec("binary"), np.array([0, 1, 0, 1]), Predictions("binary", np.array([0.0, 1.0, 0.0, 1.0])))
    assert perfect["ece"] < 1e-6 and perfect["auc"] == 1.0, perfect
    assert math.isnan(metrics(spec("binary"), np.zeros(4), Predictions("binary", np.full(4, 0.2)))["auc"]), (
        "AUC on one class is NaN, not a number to pass a gate with"
    )


def test_multiclass_and_regression_metrics_match_their_definitions():
    from sklearn.metrics import f1_score, log_loss, mean_absolute_error, r2_score

    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    y = np.array([0, 1, 1, 1])
    predictions = Predictions.from_outputs("multiclass", probabilities, ("low", "mid", "high"))
    assert list(predictions.prediction) == ["low", "mid", "high", "low"] and np.allclose(predictions.score, [0.7, 0.8, 0.6, 0.5]), predictions
    values = metrics(spec("multiclass"), y, predictions)
    assert math.isclose(values["logloss"], log_loss(y, probabilities, labels=[0, 1, 2])), values
    assert values["accuracy"] == 0.5 and math.isclose(values["macro_f1"], f1_score(y, probabilities.argmax(1), average="macro")), values
    by_name = metrics(spec("multiclass"), np.array(["low", "mid", "mid", "mid"], dtype=object), predictions)
    assert by_name == values, "class names are encoded through label.classes"

    truth, value = np.array([10.0, 20.0, 30.0, 40.0]), np.array([12.0, 18.0, 33.0, 39.0])
    reg = metrics(spec("regression"), truth, Predictions("regression", value))
    assert math.isclose(reg["rmse"], math.sqrt(np.mean((value - truth) ** 2))) and math.isclose(reg["mae"], mean_absolute_error(truth, value)), reg
    assert math.isclose(reg["r2"], r2_score(truth, value)), reg


def test_logits_become_probabilities_by_task():
    two = Predictions.from_outputs("binary", np.array([[0.0], [2.0]]), kind="logits")
    assert np.allclose(two.score, [0.5, 1 / (1 + math.exp(-2))]), two.score
    three = Predictions.from_outputs("multiclass", np.array([[1.0, 1.0, 1.0]]), ("a", "b", "c"), kind="logits")
    assert np.allclose(three.probabilities, 1 / 3), three.probabilities
    with pytest.raises(ValueError, match=r"must be \[N, 3\]"):
        Predictions.from_outputs("multiclass", np.zeros((2, 2)), ("a", "b", "c"))


def test_judge_checks_primary_guardrails_and_regression_by_direction():
    gate = {"primary": {"metric": "auc", "min": 0.8}, "guardrails": [{"metric": "ece", "max": 0.05}], "max_regression": 0.01}
    project = spec("binary", **gate)
    ok = judge(project, {"auc": 0.85, "ece": 0.02}, {"auc": 0.855})
    assert ok.passed and [c.name for c in ok.checks] == ["primary", "guardrail", "max_regression"], ok.checks
    worse = judge(project, {"auc": 0.85, "ece": 0.02}, {"auc": 0.87})
    assert not worse.passed and [c.name for c in worse.failed] == ["max_regression"], worse.describe()
    assert worse.failed[0].bound == pytest.approx(0.86) and worse.failed[0].comparison == ">=", worse.failed[0]
    bad = judge(project, {"auc": 0.79, "ece": 0.06})
    assert {c.name for c in bad.failed} == {"primary", "guardrail"} and "max_regression" not in {c.name for c in bad.checks}, bad.describe()
    assert not judge(project, {"auc": float("nan"), "ece": 0.0}).passed, "a metric that could not be computed fails its check"

    rmse = spec("regression", primary={"metric": "rmse", "max": 5.0}, max_regression=0.5)
    assert judge(rmse, {"rmse": 4.4}, {"rmse": 4.0}).passed, "lower is better: 4.4 <= 4.0 + 0.5"
    failed = judge(rmse, {"rmse": 4.6}, {"rmse": 4.0})
    assert not failed.passed and failed.failed[0].comparison == "<=" and failed.failed[0].bound == pytest.approx(4.5), failed.describe()


def test_feature_spec_is_generic_and_round_trips_format_2():
    project = spec("multiclass")
    frame = synthetic_frame(project, 400)
    encoding = FeatureSpec.fit(frame, project)
    assert encoding.features == project.feature_names and encoding.task == "multiclass" and encoding.classes == ("low", "mid", "high"), encoding
    assert encoding.label == "outcome_value" and encoding.outputs == 3, encoding
    assert FeatureSpec.from_json(encoding.to_json()) == encoding, "to_json / from_json round trip"
    old = encoding.to_json().replace('"format_version": 2', '"format_version": 1')
    with pytest.raises(EncodingError, match="format_version 1; expected 2"):
        FeatureSpec.from_json(old)
    with pytest.raises(EncodingError, match="give the project, or both numeric= and categorical="):
        FeatureSpec.fit(frame)
    with pytest.raises(EncodingError, match=r"columns \['n_a'\] are missing"):
        FeatureSpec.fit(frame.drop(columns=["n_a"]), project)
    numeric, categorical = encode([{"n_a": None, "c_kind": "never-seen"}], encoding)
    assert numeric[0, 0] == np.float32(encoding.numeric_means["n_a"]) and categorical[0, 0] == 0, "missing -> mean, unseen -> OOV 0"


def test_labels_encode_per_task_and_bad_ones_are_named():
    assert encode_labels(pd.Series([0, 1, True]), spec("binary")).dtype == np.float32
    with pytest.raises(EncodingError, match=r"label 'outcome_value': a binary label is 0 or 1, found \[2.0\]"):
        encode_labels(pd.Series([0, 2]), spec("binary"))
    assert list(encode_labels(pd.Series(["high", "low"]), spec("multiclass"))) == [2, 0]
    with pytest.raises(EncodingError, match=r"classes \['huge'\] are not in label.classes"):
        encode_labels(pd.Series(["low", "huge"]), spec("multiclass"))
    with pytest.raises(EncodingError, match="1 of 2 rows have no label"):
        encode_labels(pd.Series([1.5, None]), spec("regression"))
    assert encode_labels(pd.Series([1.5, 2]), spec("regression")).tolist() == [1.5, 2.0]
