"""The label store (workloads/features/labels.py): typed from each project, one object per arrival
date, reads bounded by arrival time, errors that name the column, corrections kept last."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from workload_helpers import shipped_project

from workloads.features.labels import LabelStore, latest
from workloads.features.tables import DataError

T0 = datetime(2025, 3, 1, 10, tzinfo=UTC)


def _labels(name: str) -> pd.DataFrame:
    if name == "transaction-risk":
        keys, values = [100001, 100002, 100001], [0, 1, True]
    else:
        keys, values = ["c-00001", "c-00002", "c-00001"], [31.5, 18.0, 44]
    spec = shipped_project(name).spec
    return pd.DataFrame(
        {
            spec.entity.key: keys,
            spec.timestamp: [T0, T0 + timedelta(hours=1), T0 + timedelta(days=1)],
            spec.label.column: values,
            "label_arrival_ts": [T0 + timedelta(hours=2), T0 + timedelta(days=1, hours=3), T0 + timedelta(days=2)],
            "request_id": ["r-1", None, "r-3"],
            "record": [0, None, 2],
        }
    )


@pytest.mark.parametrize("name", ["transaction-risk", "delivery-time"])
def test_append_partitions_by_arrival_date_and_reads_back_typed(name, tmp_path):
    project = shipped_project(name)
    spec = project.spec
    store = LabelStore(project, str(tmp_path / "feast"))
    written = store.append(_labels(name), source="labels-api")
    folders = sorted(uri.rsplit("/", 2)[-2] for uri in written)
    assert folders == ["arrival_date=2025-03-01", "arrival_date=2025-03-02", "arrival_date=2025-03-03"], f"{name}: objects {written}"
    got = store.read()
    assert len(got) == 3 and set(got["source"]) == {"labels-api"}, f"{name}: read back {got}"
    assert str(got[spec.timestamp].dtype) == "datetime64[us, UTC]" and str(got["label_arrival_ts"].dtype) == "datetime64[us, UTC]", f"{name}: times"
    if spec.label.task == "binary":
        assert got[spec.label.column].tolist() == [0, 1, 1] and got[spec.label.column].dtype == "int64", f"{name}: binary labels as 0/1 int64"
        assert got[spec.entity.key].dtype == "int64", f"{name}: {spec.entity.key} int64"
    else:
        assert got[spec.label.column].tolist() == [31.5, 18.0, 44.0] and got[spec.entity.key].tolist() == ["c-00001", "c-00002", "c-00001"], f"{name}: values"
    assert got["request_id"].tolist() == ["r-1", None, "r-3"] and got["record"].isna().tolist() == [False, True, False], f"{name}: request_id / record"

    day2 = store.read(since=T0 + timedelta(days=1), until=T0 + timedelta(days=1, hours=12))
    assert day2[spec.timestamp].tolist() == [pd.Timestamp(T0 + timedelta(hours=1))], f"{name}: since/until bound the arrival time: {day2}"
    assert len(store.files(since=T0 + timedelta(days=1, hours=12))) == 2, f"{name}: partitions before `since` are not read"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda df, s: df.drop(columns=[s.label.column]), "label"),
        (lambda df, s: df.assign(**{s.timestamp: [datetime(2025, 3, 1)] * 3}), "timezone-naive"),
        (lambda df, s: df.assign(**{s.entity.key: [None, 1, 2]}), "entity key"),
        (lambda df, s: df.assign(record=[0, 1, 2]), "record"),
        (lambda df, s: df.assign(source=["file", "mail", "file"]), "source"),
    ],
)
def test_bad_labels_name_the_column(change, message, tmp_path):
    project = shipped_project("delivery-time")
    store = LabelStore(project, str(tmp_path))
    with pytest.raises(DataError, match=message):
        store.append(change(_labels("delivery-time"), project.spec), source="file")
    assert store.read().empty, "a refused batch writes nothing"


def test_label_values_are_checked_per_task(tmp_path):
    risk = shipped_project("transaction-risk")
    with pytest.raises(DataError, match="is_fraud.*binary"):
        LabelStore(risk, str(tmp_path)).append(_labels("transaction-risk").assign(is_fraud=[0, 2, 1]), source="file")
    delivery = shipped_project("delivery-time")
    with pytest.raises(DataError, match="delivery_minutes.*finite"):
        LabelStore(delivery, str(tmp_path)).append(_labels("delivery-time").assign(delivery_minutes=["fast", 1, 2]), source="file")
    with pytest.raises(DataError, match="must hold integers"):
        LabelStore(risk, str(tmp_path)).append(_labels("transaction-risk").assign(account_id=["acct-1", "2", "3"]), source="file")


def test_a_named_part_is_rewritten_not_duplicated_and_latest_keeps_the_correction(tmp_path):
    project = shipped_project("delivery-time")
    store = LabelStore(project, str(tmp_path))
    labels = _labels("delivery-time")
    store.append(labels, source="file", part="src-1")
    store.append(labels, source="file", part="src-1")
    assert len(store.read()) == 3, "the same part written twice holds its rows once"
    assert store.remove("src-1") == 3 and store.read().empty, "remove() deletes the part under every arrival date"

    store.append(labels, source="labels-api")
    correction = labels.iloc[[0]].assign(delivery_minutes=35.0, label_arrival_ts=T0 + timedelta(days=5))
    store.append(correction, source="feedback")
    kept = latest(store.read(), project.spec)
    assert len(kept) == 3, f"one row per labelled event: {kept}"
    first = kept[kept["request_id"] == "r-1"].iloc[0]
    assert first["delivery_minutes"] == 35.0 and first["source"] == "feedback", "the label that arrived last wins"


def test_arrival_defaults_to_now(tmp_path):
    project = shipped_project("delivery-time")
    store = LabelStore(project, str(tmp_path))
    now = datetime(2025, 6, 1, 12, tzinfo=UTC)
    store.append(_labels("delivery-time").drop(columns=["label_arrival_ts"]), source="feedback", now=now)
    assert (store.read()["label_arrival_ts"] == pd.Timestamp(now)).all(), "label_arrival_ts defaults to the time it was stored"
