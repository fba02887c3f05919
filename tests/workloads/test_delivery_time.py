"""delivery-time's own training function (projects/delivery-time/train.py): early stopping, a
spot-safe resume that grows exactly the trees of an uninterrupted run, and float32-exact thresholds
so the ONNX graph answers what the booster answers."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime

import numpy as np
import pytest
from workload_helpers import shipped_project

from workloads.training.runtime import run_training

pytestmark = pytest.mark.slow
OVERRIDES = {"rounds": 120, "threads": 1, "early_stopping_rounds": 1000}


@pytest.fixture(scope="module")
def delivery():
    project = shipped_project("delivery-time")
    frame = project.module("data").generate(3_000, seed=7, start=datetime(2025, 3, 1, tzinfo=UTC), days=10)
    return project, frame.drop(columns=["label_arrival_ts"])


def test_a_resumed_run_grows_the_same_trees_as_an_uninterrupted_one(delivery, tmp_path):
    project, frame = delivery
    straight = run_training(project, frame, overrides=OVERRIDES, checkpoint_uri=str(tmp_path / "straight"), log=lambda line: None)

    def stop_after_the_first_chunk(step: int, metrics: dict) -> None:
        if step == project.spec.training.checkpoint_every_steps:
            os.kill(os.getpid(), signal.SIGTERM)  # a spot notice: the runtime's handler sets the stop flag

    uri = str(tmp_path / "interrupted")
    first = run_training(project, frame, overrides=OVERRIDES, checkpoint_uri=uri, on_metrics=stop_after_the_first_chunk, log=lambda line: None)
    assert first.interrupted and first.step == project.spec.training.checkpoint_every_steps, f"stopped at round {first.step}"
    lines = []
    resumed = run_training(project, frame, overrides=OVERRIDES, checkpoint_uri=uri, resume=True, log=lines.append)
    assert any("resume: continuing from round 50" in line for line in lines), lines
    assert not resumed.interrupted and resumed.model.num_trees() == straight.model.num_trees() > 100, "both ran every round and kept the best"
    assert resumed.model.model_to_string() == straight.model.model_to_string(), "the resumed booster must be the uninterrupted one, tree for tree"


def test_early_stopping_returns_the_best_round(delivery):
    project, frame = delivery
    outcome = run_training(project, frame, overrides={"rounds": 400, "threads": 1, "early_stopping_rounds": 5, "learning_rate": 0.3}, log=lambda line: None)
    assert outcome.model.num_trees() < 400, f"early stopping never fired: {outcome.model.num_trees()} trees"
    assert outcome.validation_metrics["val_rmse"] < frame["delivery_minutes"].std(), outcome.validation_metrics


def test_float32_thresholds_keep_every_prediction_and_never_round_up():
    """The exporter rounds LightGBM thresholds to float32 (workloads/export/converted.py) so the ONNX graph
    takes the branches the booster takes: no project has to do it in its own train.py."""
    import lightgbm as lgb

    from workloads.export.converted import float32_thresholds

    rng = np.random.default_rng(0)
    x = np.round(rng.uniform(0, 40, (4_000, 3)), 1).astype(np.float32)
    x[:, 2] = rng.integers(0, 6, 4_000)
    y = x[:, 0] * 0.7 + np.where(x[:, 2] == 3, 5.0, 0.0) + rng.normal(0, 1, 4_000)
    booster = lgb.train({"verbosity": -1, "num_threads": 1}, lgb.Dataset(x, y, categorical_feature=[2]), 30)
    rounded = lgb.Booster(model_str=float32_thresholds(booster.model_to_string()))
    assert np.array_equal(rounded.predict(x), booster.predict(x)), "float32 inputs take the same branches"
    for tree in rounded.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" not in node:
                continue
            if node["decision_type"] == "<=":
                assert float(np.float32(node["threshold"])) == node["threshold"], f"threshold {node['threshold']!r} is not a float32"
            stack += [node["left_child"], node["right_child"]]
