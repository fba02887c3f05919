"""The scheduled drift job on a prediction log in serving's layout: only new windows, one
retraining per episode, the champion's reference from a real (SQLite) MLflow registry."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from drift_data import reference_and_current
from prediction_log import hours, log_rows, write_hour

from workloads.data.generator import DriftSpec
from workloads.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from workloads.monitoring.__main__ import EXIT_OK, EXIT_TRIGGER_FAILED, EXIT_USAGE, main
from workloads.monitoring.drift import DriftSettings
from workloads.monitoring.job import DriftJobSettings, JobState, run
from workloads.monitoring.profile import ReferenceProfile

T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)
ROWS_PER_HOUR = 1_000


@pytest.fixture(scope="module")
def frames():
    """(reference profile frame, stationary live rows, drifted live rows): disjoint halves of one population."""
    ref, live = reference_and_current(24_000, seed=11)
    _, drifted = reference_and_current(24_000, seed=11, drift=DriftSpec(new_categories={"merchant_category": 0.08}, mean_shift={"amount": 0.5}))
    rng = np.random.default_rng(3)
    ref = ref.assign(score=rng.beta(1, 30, len(ref)))
    return ref, live.assign(score=rng.beta(1, 30, len(live))), drifted.assign(score=rng.beta(1, 30, len(drifted)))


@pytest.fixture()
def reference(tmp_path, frames):
    path = tmp_path / "reference.npz"
    ReferenceProfile.fit(frames[0], [*NUMERIC_FEATURES, "score"], list(CATEGORICAL_FEATURES), meta={"model_version": "1"}).save(path)
    return path


def chunk(frame, i):
    return frame.iloc[i * ROWS_PER_HOUR : (i + 1) * ROWS_PER_HOUR].reset_index(drop=True)


def marker_command(path: Path, code: int = 0) -> str:
    """A retrain command that appends its key to `path` (what a scheduler or Job would start)."""
    script = f"import os,sys; open({str(path)!r},'a').write(os.environ['SAHAB_RETRAIN_KEY']+'\\n'); sys.exit({code})"
    return f"{sys.executable} -c {json.dumps(script)}"


def settings(tmp_path, reference, **kw) -> DriftJobSettings:
    return DriftJobSettings(log_uri=str(tmp_path / "serving-log"), reference_uri=str(reference), **kw)


def at(hour: int, minute: int = 6) -> datetime:
    return T0.replace(hour=hour, minute=minute)


def test_tests_each_window_once_and_retrains_once_per_episode(tmp_path, frames, reference):
    _, live, drifted = frames
    log, marks = tmp_path / "serving-log", tmp_path / "retrains.txt"
    job = settings(tmp_path, reference, retrain_command=marker_command(marks), cooldown="6h", clear_windows=2)
    stats = DriftSettings()
    for i, hour in enumerate(hours(T0, 4)):  # 10:00-13:59 stationary
        write_hour(log, log_rows(chunk(live, i), hour, seed=i), hour)

    first, _ = run(job, stats, now=at(14))
    assert len(first.tested) == 4 and not first.drifted, first
    assert first.watermark == "2026-12-01T14:00:00+00:00", "the watermark ends at the last complete window"
    again, report = run(job, stats, now=at(14, 30))
    assert again.tested == [] and report is None, f"windows re-tested: {again.tested}"

    for i, hour in enumerate(hours(T0.replace(hour=14), 3), start=4):  # 14:00-16:59 drifted
        write_hour(log, log_rows(chunk(drifted, i), hour, seed=i), hour)
    drift, _ = run(job, stats, now=at(17))
    assert len(drift.drifted) == 3, drift
    assert drift.retrain is not None and drift.retrain["key"] == "20261201T1400Z"
    assert marks.read_text().split() == ["20261201t1400z"], "exactly one retraining for the episode"

    for i, hour in enumerate(hours(T0.replace(hour=17), 2), start=7):  # still drifted: same episode
        write_hour(log, log_rows(chunk(drifted, i), hour, seed=i), hour)
    still, _ = run(job, stats, now=at(19))
    assert len(still.drifted) == 2 and still.retrain is None and still.episode["key"] == "20261201T1400Z"

    for i, hour in enumerate(hours(T0.replace(hour=19), 2), start=9):  # two clean windows close it
        write_hour(log, log_rows(chunk(live, i), hour, seed=i), hour)
    clean, _ = run(job, stats, now=at(21))
    assert clean.episode is None and not clean.drifted, clean

    write_hour(log, log_rows(chunk(drifted, 11), T0.replace(hour=21), seed=11), T0.replace(hour=21))
    cooling, _ = run(job, stats, now=at(22))
    assert cooling.episode["key"] == "20261201T2100Z" and cooling.retrain is None, "a new episode within the cooldown waits"
    write_hour(log, log_rows(chunk(drifted, 0), T0.replace(hour=22), seed=12), T0.replace(hour=22))
    later, _ = run(job, stats, now=at(23, 10))
    assert later.retrain is not None and later.retrain["key"] == "20261201T2100Z", later
    assert marks.read_text().split() == ["20261201t1400z", "20261201t2100z"]

    state = JobState.load(job.resolved_state_uri())
    assert state.watermark == "2026-12-01T23:00:00+00:00" and len(state.triggers) == 2
    assert (tmp_path / "drift-state" / "state.json").is_file(), "state lives in drift-state/ beside the log"
    assert len(list((tmp_path / "drift-state" / "reports").glob("*/report.json"))) == 6, "one report per run that tested"


def test_a_failed_trigger_is_retried_under_the_same_key(tmp_path, frames, reference, capsys):
    _, _, drifted = frames
    log, marks = tmp_path / "serving-log", tmp_path / "retrains.txt"
    for i, hour in enumerate(hours(T0, 2)):
        write_hour(log, log_rows(chunk(drifted, i), hour, seed=i), hour)
    common = ["run", "--now", "2026-12-01T12:06:00Z"]
    env = {"SAHAB_DRIFT_LOG_URI": str(log), "SAHAB_DRIFT_REFERENCE_URI": str(reference)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.setenv("SAHAB_DRIFT_RETRAIN_COMMAND", marker_command(marks, code=4))
        assert main(common) == EXIT_TRIGGER_FAILED
        assert JobState.load(str(tmp_path / "drift-state")).watermark is None, "a failed trigger must not advance the watermark"
        mp.setenv("SAHAB_DRIFT_RETRAIN_COMMAND", marker_command(marks))
        capsys.readouterr()
        assert main(common) == EXIT_OK
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["retrain"]["key"] == "20261201T1000Z" and len(summary["drifted"]) == 2
    assert marks.read_text().split() == ["20261201t1000z", "20261201t1000z"], "the retry reuses the key (downstream dedupe)"


def test_rows_of_other_versions_are_not_compared_and_a_new_champion_resets_the_episode(tmp_path, frames, reference):
    _, live, drifted = frames
    log = tmp_path / "serving-log"
    write_hour(log, log_rows(chunk(drifted, 0), T0, model_version="2"), T0)  # the challenger's rows
    write_hour(log, log_rows(chunk(live, 0), T0, model_version="1"), T0, part=1)
    job = settings(tmp_path, reference)
    summary, report = run(job, DriftSettings(), now=at(11))
    assert summary.tested == ["2026-12-01T10:00:00+00:00"] and not summary.drifted, summary
    assert report.windows[0].n_rows == ROWS_PER_HOUR, "only v1's rows meet v1's reference"

    write_hour(log, log_rows(chunk(drifted, 1), T0.replace(hour=11)), T0.replace(hour=11))
    opened, _ = run(job, DriftSettings(), now=at(12))
    assert opened.episode is not None and opened.retrain is None, "no command configured: recorded, nothing started"
    ReferenceProfile.fit(drifted, [*NUMERIC_FEATURES], list(CATEGORICAL_FEATURES), meta={"model_version": "2"}).save(reference)
    promoted, _ = run(job, DriftSettings(), now=at(12, 30))
    assert promoted.model_version == "2" and promoted.episode is None, "the old model's episode ends with its reign"


def test_unusable_log_or_settings_exit_2(tmp_path, frames, reference, monkeypatch):
    _, live, _ = frames
    log = tmp_path / "serving-log"
    write_hour(log, log_rows(chunk(live, 0), T0).drop(columns=["amount"]), T0)
    monkeypatch.setenv("SAHAB_DRIFT_REFERENCE_URI", str(reference))
    assert main(["run", "--log", str(log), "--now", "2026-12-01T11:06:00Z"]) == EXIT_USAGE
    monkeypatch.setenv("SAHAB_DRIFT_WINDOW", "hourly")
    assert main(["run", "--log", str(log)]) == EXIT_USAGE
    monkeypatch.delenv("SAHAB_DRIFT_WINDOW")
    monkeypatch.setenv("SAHAB_DRIFT_COOLDOWN_HOURS", "6")
    assert main(["run", "--log", str(log)]) == EXIT_USAGE, "an unknown SAHAB_DRIFT_* variable is refused"


@pytest.mark.slow
def test_reference_comes_from_the_champion_in_the_registry(tmp_path, frames):
    """A real MLflow registry (SQLite): the version behind `champion` carries its reference."""
    from workloads.monitoring.reference import REFERENCE_PROFILE, TAG_REFERENCE
    from workloads.registry.client import mlflow_client, sha256_file, sha_tag
    from workloads.settings import SahabSettings

    ref, live, _ = frames
    sahab = SahabSettings(home=tmp_path / "home", mlflow_tracking_uri=None, mlflow_artifact_location=None)
    client = mlflow_client(sahab)
    experiment = client.create_experiment("drift-test", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    folder = tmp_path / "monitoring"
    folder.mkdir()
    ReferenceProfile.fit(ref, [*NUMERIC_FEATURES, "score"], list(CATEGORICAL_FEATURES)).save(folder / REFERENCE_PROFILE)
    client.log_artifacts(run_id, str(folder), "monitoring")
    client.create_registered_model(sahab.model_name)
    mv = client.create_model_version(
        sahab.model_name,
        source=f"runs:/{run_id}/onnx",
        run_id=run_id,
        tags={TAG_REFERENCE: f"monitoring/{REFERENCE_PROFILE}", sha_tag(REFERENCE_PROFILE): sha256_file(folder / REFERENCE_PROFILE)},
    )
    job = DriftJobSettings(log_uri=str(tmp_path / "serving-log"))
    with pytest.raises(LookupError, match="no alias 'champion'"):
        run(job, DriftSettings(), now=at(11), sahab=sahab)
    client.set_registered_model_alias(sahab.model_name, "champion", mv.version)
    write_hour(tmp_path / "serving-log", log_rows(chunk(live, 0), T0, model_version=str(mv.version)), T0)
    summary, report = run(job, DriftSettings(), now=at(11), sahab=sahab)
    assert summary.model_version == str(mv.version) and len(summary.tested) == 1 and not summary.drifted, summary
    assert report.reference["source"] == f"models:/{sahab.model_name}@champion"


def test_the_cluster_trigger_names_the_job_after_the_episode():
    """retrain_trigger.py (the CronJob's SAHAB_DRIFT_RETRAIN_COMMAND): one Job name per episode key,
    so a retried trigger meets 409 AlreadyExists instead of starting a second retraining."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "components/kubernetes/scripts/retrain_trigger.py"
    spec = importlib.util.spec_from_file_location("retrain_trigger", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cronjob = {
        "metadata": {"name": "retrain", "namespace": "sahab-training"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "trainer", "env": [{"name": "A", "value": "1"}]}]}}}}},
    }
    first = mod.job_from_cronjob(
        cronjob, "drift", datetime(2026, 12, 1, 17, 6, tzinfo=UTC), key="20261201T1400Z", extra_env={"SAHAB_RETRAIN_KEY": "20261201t1400z"}
    )
    again = mod.job_from_cronjob(cronjob, "drift", datetime(2026, 12, 1, 18, 6, tzinfo=UTC), key="20261201T1400Z")
    assert first["metadata"]["name"] == again["metadata"]["name"] == "retrain-drift-20261201t1400z"
    env = first["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "SAHAB_RETRAIN_KEY", "value": "20261201t1400z"}], env
    assert cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}], (
        "the template itself must not change"
    )


@pytest.mark.slow
def test_reads_what_serving_writes_on_s3_and_keeps_its_state_there(tmp_path, frames, monkeypatch):
    """The contract with serving, end to end on an S3 API (moto's server on loopback): records
    appended by workloads.serving.prediction_log are the rows the job tests; its state lands in
    drift-state/ beside the log."""
    import boto3
    from moto.server import ThreadedMotoServer

    from workloads.data.schema import FEATURES
    from workloads.serving.prediction_log import PredictionLog

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for k, v in {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "me-central-1",
            "AWS_REGION": "me-central-1",
        }.items():
            monkeypatch.setenv(k, v)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="features", CreateBucketConfiguration={"LocationConstraint": "me-central-1"})
        ref, live, _ = frames
        profile = tmp_path / "reference.npz"
        ReferenceProfile.fit(ref, [*NUMERIC_FEATURES, "score"], list(CATEGORICAL_FEATURES), meta={"model_version": "4"}).save(profile)
        log = PredictionLog("s3://features/serving-log/", flush_s=3600, host="test")
        rows = chunk(live, 0)
        for i, (_, row) in enumerate(rows.iterrows()):
            record = {f: (None if pd.isna(row[f]) else row[f]) for f in FEATURES}
            log.append(
                request_id=f"r{i}",
                key=str(i),
                experiment_id="exp",
                variant="champion",
                model_version="4",
                scores=[float(row["score"])],
                records=[record],
                ts=T0 + pd.Timedelta(seconds=3 * i),
            )
        assert log.flush() == ROWS_PER_HOUR
        log.close()
        job = DriftJobSettings(log_uri="s3://features/serving-log/", reference_uri=str(profile))
        summary, report = run(job, DriftSettings(), now=at(11))
        assert summary.tested == ["2026-12-01T10:00:00+00:00"] and report.windows[0].n_rows == ROWS_PER_HOUR, summary
        assert not summary.drifted, summary.reason
        state = json.loads(s3.get_object(Bucket="features", Key="drift-state/state.json")["Body"].read())
        assert state["watermark"] == "2026-12-01T11:00:00+00:00" and state["model_version"] == "4"
    finally:
        server.stop()


def test_metrics_are_pushed_to_the_pushgateway(tmp_path, frames, reference, monkeypatch):
    """A loopback HTTP server stands where the Pushgateway is; prometheus_client pushes to it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pushes: list[tuple[str, str]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self):
            pushes.append((self.path, self.rfile.read(int(self.headers["Content-Length"])).decode()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SAHAB_MONITORING_PUSHGATEWAY_URL", f"http://127.0.0.1:{server.server_address[1]}")
        _, live, _ = frames
        write_hour(tmp_path / "serving-log", log_rows(chunk(live, 0), T0), T0)
        summary, _ = run(settings(tmp_path, reference), DriftSettings(), now=at(11))
    finally:
        server.shutdown()
    assert summary.tested and len(pushes) == 1, pushes
    path, body = pushes[0]
    assert path == "/metrics/job/sahab-drift", path
    for metric in ("sahab_drift_detected 0.0", "sahab_drift_episode_open 0.0", "sahab_drift_windows_tested 1.0", "sahab_drift_watermark_timestamp_seconds"):
        assert metric in body, f"{metric} not pushed"
