"""Ingestion (workloads/features/ingest.py): declared sources, generated data and the prediction
log's live rows into a project's offline store, idempotently."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
import yaml
from workload_helpers import REPO, local_repo, seed_project, shipped_project, write_prediction_log

from workloads.features.ingest import ingest
from workloads.features.tables import BATCH_DIR, SERVED_DIR, DataError, list_files
from workloads.project import load_project

START = datetime(2025, 3, 1, tzinfo=UTC)


def _files(repo, folder):
    return [f.name for f in list_files(repo.uri(folder))]


def test_prediction_log_live_rows_are_ingested_once(tmp_path):
    project = shipped_project("delivery-time")
    spec = project.spec
    data = project.module("data").generate(400, seed=4, start=START, days=1)
    log = tmp_path / "serving-log"
    ids = write_prediction_log(str(log), project, data.iloc[:300], records_per_request=2)
    write_prediction_log(str(log), project, data.iloc[300:], mode="shadow", prefix="shadow")
    repo = local_repo(project, tmp_path / "home")

    first = ingest(project, repo, prediction_log=str(log))
    served = repo.served_rows()
    assert first.served_rows == 300 and len(served) == 300, f"only mode=live rows are feature rows: {first}"
    assert not served["request_id"].str.startswith("shadow").any(), "shadow rows were never served"
    sent = pd.concat([data.iloc[:300].reset_index(drop=True), ids], axis=1)
    joined = served.merge(sent, on=["request_id", "record"], suffixes=("", "_sent"), validate="one_to_one")
    assert len(joined) == 300, "each served row keeps its request_id and record"
    assert (joined["courier_id"] == joined["courier_id_sent"]).all(), "the log's key is the entity key"
    assert (joined[spec.timestamp] == pd.to_datetime(joined[f"{spec.timestamp}_sent"], utc=True)).all(), "the log's ts is the row's time"
    assert joined["distance_km"].tolist() == pytest.approx(joined["distance_km_sent"].tolist()), "features as served"
    assert joined["area"].tolist() == joined["area_sent"].tolist(), "categorical features as served"

    again = ingest(project, repo, prediction_log=str(log))
    assert again.served_files == 0 and again.skipped == first.served_files, f"a second run copies nothing: {again}"
    objects = _files(repo, SERVED_DIR)

    more = project.module("data").generate(50, seed=5, start=START + timedelta(days=1), days=1)
    write_prediction_log(str(log), project, more, prefix="late")
    third = ingest(project, repo, prediction_log=str(log))
    assert third.served_rows == 50 and len(repo.served_rows()) == 350, f"a new log file is copied, the old ones not again: {third}"

    (tmp_path / "home" / "projects" / "delivery-time" / "feast" / "offline" / "ingested.json").unlink()
    ingest(project, repo, prediction_log=str(log))
    assert len(repo.served_rows()) == 350 and set(objects) <= set(_files(repo, SERVED_DIR)), (
        "without its state, ingestion rewrites the same objects (no duplicates)"
    )


def _project_with_sources(tmp_path):
    """delivery-time with declared sources: a features file and a label file beside project.yaml."""
    folder = tmp_path / "delivery-time"
    shutil.copytree(REPO / "projects" / "delivery-time", folder, ignore=shutil.ignore_patterns("__pycache__"))
    raw = yaml.safe_load((folder / "project.yaml").read_text())
    raw["sources"] = {"features": "data/features", "labels": "data/labels.parquet", "label_arrival": "confirmed_at"}
    (folder / "project.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    project = load_project(folder)
    data = shipped_project("delivery-time").module("data").generate(600, seed=6, start=START, days=2)
    spec = project.spec
    (folder / "data" / "features").mkdir(parents=True)
    data.iloc[:300][[spec.entity.key, spec.timestamp, *spec.feature_names]].to_parquet(folder / "data" / "features" / "part-1.parquet")
    data.iloc[300:][[spec.entity.key, spec.timestamp, *spec.feature_names]].to_parquet(folder / "data" / "features" / "part-2.parquet")
    labels = data[[spec.entity.key, spec.timestamp, spec.label.column, "label_arrival_ts"]].rename(columns={"label_arrival_ts": "confirmed_at"})
    labels.to_parquet(folder / "data" / "labels.parquet")
    return project, data, labels


def test_declared_sources_are_copied_once_and_a_changed_file_replaces_its_rows(tmp_path):
    project, data, labels = _project_with_sources(tmp_path)
    repo = local_repo(project, tmp_path / "home")
    report = ingest(project, repo)
    assert (report.feature_files, report.feature_rows, report.label_files, report.label_rows) == (2, 600, 1, 600), f"{report}"
    stored = repo.labels.read()
    assert set(stored["source"]) == {"file"} and len(stored) == 600, "labels of a declared file are source `file`"
    want = pd.to_datetime(labels["confirmed_at"], utc=True).astype("datetime64[us, UTC]").sort_values().tolist()
    assert sorted(stored["label_arrival_ts"].tolist()) == want, "sources.label_arrival names the arrival column"
    assert len(repo.rows(BATCH_DIR)) == 600

    assert ingest(project, repo).skipped == 3, "unchanged files are skipped"
    labels.iloc[:100].to_parquet(project.folder / "data" / "labels.parquet")  # the team rewrote its label file
    report = ingest(project, repo)
    assert report.label_files == 1 and len(repo.labels.read()) == 100, f"a changed label file replaces what it gave before: {report}"


def test_a_declared_label_file_without_its_arrival_column_is_named(tmp_path):
    project, _, labels = _project_with_sources(tmp_path)
    labels.drop(columns=["confirmed_at"]).to_parquet(project.folder / "data" / "labels.parquet")
    with pytest.raises(DataError, match="confirmed_at"):
        ingest(project, local_repo(project, tmp_path / "home"))


@pytest.mark.parametrize("name", ["transaction-risk", "delivery-time"])
def test_generated_data_lands_once_per_arguments(name, tmp_path):
    project = shipped_project(name)
    repo, frame = seed_project(project, tmp_path, rows=500, seed=1, start=START, days=3)
    seed_project(project, tmp_path, rows=500, seed=1, start=START, days=3)
    labels, rows = repo.labels.read(), repo.rows()
    assert len(rows) == 500 and len(labels) == 500, f"{name}: generating twice with the same arguments stores the rows once"
    assert set(labels["source"]) == {"generator"}, f"{name}: source"
    arrival = pd.to_datetime(frame["label_arrival_ts"], utc=True).astype("datetime64[us, UTC]")
    assert sorted(labels["label_arrival_ts"]) == sorted(arrival), f"{name}: the generator's label_arrival_ts is kept"
    seed_project(project, tmp_path, rows=500, seed=2, start=START, days=3)
    assert len(repo.labels.read()) == 1_000, f"{name}: other arguments are other rows"
