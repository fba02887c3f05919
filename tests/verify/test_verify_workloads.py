"""Workloads checks that need no running platform: the drift job's last run (CronJob Jobs as the
API returns them, the local schedule's status file), each project's fixture record and the shape
serving's answer must have per task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sahab.ops.verify.workloads import drift_cronjob_last_run, drift_schedule_last_run, fixture_record, serving_scores
from workloads.project import discover, load_project

REPO = Path(__file__).resolve().parents[2]
CRONJOB = {"metadata": {"name": "drift", "namespace": "sahab-monitoring"}}


def _job(name: str, start: str, outcome: str | None) -> dict:
    conditions = (
        [
            {
                "type": outcome,
                "status": "True",
                "reason": "BackoffLimitExceeded" if outcome == "Failed" else None,
                "message": "Job has reached the specified backoff limit" if outcome == "Failed" else None,
            }
        ]
        if outcome
        else []
    )
    return {
        "metadata": {"name": name, "namespace": "sahab-monitoring", "ownerReferences": [{"kind": "CronJob", "name": "drift"}]},
        "status": {"startTime": start, "conditions": conditions},
    }


@pytest.mark.parametrize("name", [p.name for p in discover(REPO / "projects")])
def test_fixture_record_has_exactly_the_projects_features(name):
    spec = load_project(REPO / "projects" / name).spec
    record = fixture_record(spec)
    assert list(record) == [*spec.numeric, *spec.categorical], f"projects/{name}: the fixture record must carry every feature, in order, and nothing else"
    assert all(isinstance(record[f], float) for f in spec.numeric) and all(isinstance(record[f], str) for f in spec.categorical), record


class _Answers:
    label = "serving"

    def __init__(self, body: object) -> None:
        self.body = json.dumps(body)

    def request(self, method: str, path: str, body: object = None) -> tuple[int, str]:
        return 200, self.body


@pytest.mark.parametrize(
    ("task", "answer", "ok"),
    [
        ("binary", {"scores": [0.2], "model_name": "m"}, True),
        ("binary", {"scores": [1.7], "model_name": "m"}, False),
        ("regression", {"scores": [31.5], "model_name": "m"}, True),
        ("regression", {"scores": [float("nan")], "model_name": "m"}, False),
        ("multiclass", {"probabilities": [[0.2, 0.3, 0.5]], "model_name": "m"}, True),
        ("multiclass", {"probabilities": [[0.2, 0.3]], "model_name": "m"}, False),
        ("binary", {"scores": [0.2], "model_name": "other"}, False),
    ],
)
def test_serving_scores_checks_the_tasks_shape(task, answer, ok):
    found = serving_scores(_Answers([answer]), "m", {"x": 1.0}, task)
    assert (found == []) is ok, f"{task} answer {answer}: {found}"


def test_drift_cronjob_last_finished_run_decides():
    ok = [_job("drift-1", "2026-12-01T20:00:00Z", "Failed"), _job("drift-2", "2026-12-01T21:00:00Z", "Complete"), _job("drift-3", "2026-12-01T22:00:00Z", None)]
    assert drift_cronjob_last_run("sahab-monitoring/drift", [CRONJOB], ok) == [], "the latest finished run completed (the running one does not count yet)"

    failed = [_job("drift-1", "2026-12-01T20:00:00Z", "Complete"), _job("drift-2", "2026-12-01T21:00:00Z", "Failed")]
    found = drift_cronjob_last_run("sahab-monitoring/drift", [CRONJOB], failed)
    assert len(found) == 1 and "sahab-monitoring/drift-2 (Job)" in found[0] and "BackoffLimitExceeded" in found[0], found


def test_drift_cronjob_that_never_ran_or_is_missing():
    never = drift_cronjob_last_run("sahab-monitoring/drift", [CRONJOB], [_job("drift-1", "2026-12-01T22:00:00Z", None)])
    assert len(never) == 1 and "has not finished a run yet" in never[0] and "create job --from=cronjob/drift" in never[0], never
    other = {
        "metadata": {"name": "x", "namespace": "sahab-monitoring", "ownerReferences": [{"kind": "CronJob", "name": "retrain"}]},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]},
    }
    assert "has not finished" in drift_cronjob_last_run("sahab-monitoring/drift", [CRONJOB], [other])[0], "another CronJob's Jobs do not count"
    missing = drift_cronjob_last_run("sahab-monitoring/drift", [], [])
    assert "sahab-monitoring/drift (CronJob): the plan has it but the cluster does not" in missing[0], missing


def test_local_drift_schedule_status(tmp_path):
    status = tmp_path / "drift.status.json"
    assert "has not finished a run yet" in drift_schedule_last_run(status)[0]
    status.write_text(json.dumps({"runs": 2, "last_exit": 0, "last_start": 1764626400.0, "last_seconds": 3.5}))
    assert drift_schedule_last_run(status) == []
    status.write_text(json.dumps({"runs": 3, "last_exit": 1, "last_start": 1764626400.0, "last_seconds": 3.5}))
    found = drift_schedule_last_run(status, tmp_path / "drift.log")
    assert len(found) == 1 and "exited 1" in found[0] and "drift.log" in found[0], found
