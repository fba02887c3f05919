"""Frozen training frames (workloads/features/frames.py): the sliding window before the common
holdout, the exact join of served records, the point-in-time join of the rest, lineage, and the
frames of a run key reused as they are after new labels arrived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from workload_helpers import seed_project, shipped_project, write_prediction_log

from workloads.features import frames
from workloads.features.ingest import ingest
from workloads.features.tables import DataError

pytestmark = pytest.mark.slow
START = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture()
def delivery(tmp_path):
    """delivery-time (window 14d, holdout 2d) with 20 days of generated orders, applied."""
    project = shipped_project("delivery-time")
    repo, frame = seed_project(project, tmp_path, rows=2_000, seed=8, start=START, days=20)
    repo.apply()
    return project, repo, frame


def _row(frame: pd.DataFrame, i: int, when: pd.Timestamp, key: str) -> pd.DataFrame:
    return frame.iloc[[i]].assign(order_ts=when, courier_id=key, label_arrival_ts=when + timedelta(hours=1))


def test_window_and_holdout_boundaries(delivery):
    project, repo, frame = delivery
    t_end = frame["order_ts"].max()
    holdout_start, train_start = t_end - timedelta(days=2), t_end - timedelta(days=16)
    # Rows exactly on and just before each boundary, for couriers of their own.
    edges = pd.concat(
        [
            _row(frame, 0, holdout_start, "edge-holdout"),
            _row(frame, 1, holdout_start - timedelta(microseconds=1), "edge-train-last"),
            _row(frame, 2, train_start, "edge-train-first"),
            _row(frame, 3, train_start - timedelta(microseconds=1), "edge-too-old"),
        ]
    )
    from workloads.features.ingest import ingest_frame

    ingest_frame(repo, edges, "edges")
    built = frames.build(repo, "k-edges", log=lambda line: None)
    train, holdout = built.train, built.holdout
    assert built.lineage["t_end"].startswith(t_end.strftime("%Y-%m-%dT%H:%M:%S")), built.lineage["t_end"]
    assert train["order_ts"].min() >= train_start and train["order_ts"].max() < holdout_start, (
        "training rows lie in [t_end - holdout - window, t_end - holdout)"
    )
    assert holdout["order_ts"].min() >= holdout_start and holdout["order_ts"].max() == t_end, "holdout rows lie in [t_end - holdout, t_end]"
    assert "edge-holdout" in set(holdout["courier_id"]) and "edge-holdout" not in set(train["courier_id"]), "the holdout's first instant is holdout"
    assert {"edge-train-last", "edge-train-first"} <= set(train["courier_id"]), "both ends of the training window are in it"
    assert "edge-too-old" not in set(train["courier_id"]) | set(holdout["courier_id"]), "a label before the window is left out"
    expected_train = ((frame["order_ts"] >= train_start) & (frame["order_ts"] < holdout_start)).sum() + 2
    assert len(train) == expected_train and built.lineage["rows"]["train"] == expected_train, f"train rows {len(train)} vs {expected_train}"
    assert list(train.columns) == ["courier_id", "order_ts", *project.spec.feature_names, "delivery_minutes"], "frame columns: key, time, features, label"


def test_served_records_join_exactly_and_the_rest_point_in_time(delivery, tmp_path):
    project, repo, frame = delivery
    # One recent order per courier, so no other served record of the courier falls between an order and its label.
    recent = frame[frame["order_ts"] > frame["order_ts"].max() - timedelta(days=3)].drop_duplicates("courier_id").iloc[:40].reset_index(drop=True)
    # What serving saw 30 minutes before each order, with features the batch rows do not hold.
    served = recent.assign(order_ts=recent["order_ts"] - timedelta(minutes=30), distance_km=999.0, weather="served")
    ids = write_prediction_log(str(tmp_path / "log"), project, served)
    ingest(project, repo, prediction_log=str(tmp_path / "log"))
    named = recent[["courier_id", "order_ts", "delivery_minutes"]].assign(order_ts=recent["order_ts"] + timedelta(minutes=5), **ids)
    anonymous = named.drop(columns=["request_id", "record"]).assign(order_ts=named["order_ts"] + timedelta(seconds=1))
    assert len(recent) == 40, "the fixture's 50 couriers give 40 recent orders of distinct couriers"
    repo.labels.append(named.iloc[:20], source="feedback")
    repo.labels.append(anonymous.iloc[20:], source="labels-api")
    built = frames.build(repo, "k-join", log=lambda line: None)
    rows = pd.concat([built.train, built.holdout])
    exact = rows.merge(named.iloc[:20][["courier_id", "order_ts"]], on=["courier_id", "order_ts"])
    assert len(exact) == 20 and (exact["distance_km"] == 999.0).all() and (exact["weather"] == "served").all(), (
        "a label naming its request takes the served record"
    )
    pit = rows.merge(anonymous.iloc[20:][["courier_id", "order_ts"]], on=["courier_id", "order_ts"])
    assert len(pit) == 20 and (pit["distance_km"] != 999.0).all(), "a label without a request takes the latest feature row at or before it (the order's own)"
    assert built.lineage["rows"]["exact_join"] == 20, built.lineage["rows"]
    in_windows = built.lineage["rows"]["labels_in_windows"]
    assert built.lineage["label_sources"] == {"feedback": 20, "generator": in_windows - 40, "labels-api": 20}, built.lineage["label_sources"]


def test_frozen_frames_are_reused_after_new_labels_arrive(delivery, tmp_path):
    project, repo, frame = delivery
    first = frames.frames_for(repo, "20250320t0000z", post_drift_since=START + timedelta(days=10), log=lambda line: None)
    assert not first.reused and 0.4 < first.lineage["post_drift"]["share"] < 0.8, first.lineage.get("post_drift")
    seed_project(project, tmp_path, rows=500, seed=9, start=START + timedelta(days=20), days=3)  # new labels land
    again = frames.frames_for(repo, "20250320t0000z", log=lambda line: None)
    assert again.reused and again.data_sha256 == first.data_sha256 and again.holdout_sha256 == first.holdout_sha256, "same key, same rows"
    pd.testing.assert_frame_equal(again.train, first.train, obj="frozen training frame")
    pd.testing.assert_frame_equal(again.holdout, first.holdout, obj="frozen holdout")
    fresh = frames.frames_for(repo, "20250324t0000z", log=lambda line: None)
    assert fresh.data_sha256 != first.data_sha256 and fresh.holdout["order_ts"].max() > first.holdout["order_ts"].max(), "a new key sees the new labels"

    tampered = repo.uri("training-sets", "20250320t0000z", "frame.parquet")
    fresh.train.to_parquet(tampered)
    with pytest.raises(DataError, match="data_sha256"):
        frames.frames_for(repo, "20250320t0000z", log=lambda line: None)


def test_labels_known_only_after_as_of_are_not_used(delivery):
    _, repo, frame = delivery
    cut = frame["label_arrival_ts"].quantile(0.5)
    built = frames.build(repo, "k-asof", as_of=cut.to_pydatetime(), log=lambda line: None)
    assert built.holdout["order_ts"].max() < cut, "t_end is the newest label known at as_of"
    assert built.lineage["rows"]["labels_stored"] == (frame["label_arrival_ts"] < cut).sum(), built.lineage["rows"]


def test_errors_name_the_fix(tmp_path):
    project = shipped_project("transaction-risk")
    repo, _ = seed_project(project, tmp_path, rows=50, seed=1, start=START, days=1)
    with pytest.raises(DataError, match="training window holds no labelled rows.*shorten evaluation.holdout"):
        frames.build(repo, "k-short", log=lambda line: None)  # a day of labels, a 2-day holdout
    with pytest.raises(DataError, match="no labels arrived before"):
        frames.build(repo, "k-early", as_of=datetime(2024, 1, 1, tzinfo=UTC), log=lambda line: None)
    with pytest.raises(DataError, match="run key 'Bad Key!'"):
        frames.frames_for(repo, "Bad Key!")
