"""The scheduled monitoring job on a prediction log in serving's layout: only new windows, one
retraining per episode, waiting while an experiment runs, the episode ending after a promotion,
the champion's reference from a real (SQLite) MLflow registry."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from drift_data import PROJECTS, project, reference_and_current
from prediction_log import hours, log_rows, write_hour

from workloads.monitoring.__main__ import EXIT_OK, EXIT_TRIGGER_FAILED, EXIT_USAGE, main
from workloads.monitoring.drift import DriftSettings
from workloads.monitoring.job import DriftJobSettings, JobState, default_state_uri, run
from workloads.monitoring.reference import build_reference
from workloads.settings import SahabSettings

T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)
ROWS_PER_HOUR = 1_000
DRIFT = {"new_categories": {"merchant_category": 0.08}, "mean_shift": {"amount": 0.5}}


def no_experiment(spec, sahab):
    return None


@pytest.fixture(scope="module")
def frames():
    """(reference frame, stationary live rows, drifted live rows): disjoint halves of one population, scored."""
    ref, live = reference_and_current(24_000, seed=11)
    _, drifted = reference_and_current(24_000, seed=11, drift=DRIFT)
    rng = np.random.default_rng(3)
    ref = ref.assign(score=rng.beta(1, 30, len(ref)))
    return ref, live.assign(score=rng.beta(1, 30, len(live))), drifted.assign(score=rng.beta(1, 30, len(drifted)))


@pytest.fixture()
def reference(tmp_path, frames):
    path = tmp_path / "reference.npz"
    build_reference(project(), frames[0], frames[0]["score"].to_numpy(), meta={"model_version": "1"}).save(path)
    return path


def chunk(frame, i):
    return frame.iloc[i * ROWS_PER_HOUR : (i + 1) * ROWS_PER_HOUR].reset_index(drop=True)


def marker_command(path: Path, code: int = 0) -> str:
    """A retrain command that appends its key and reason to `path` (what a scheduler or Job would start)."""
    script = f"import os,sys; open({str(path)!r},'a').write(os.environ['SAHAB_RETRAIN_KEY']+' '+os.environ['SAHAB_RETRAIN_REASON']+'\\n'); sys.exit({code})"
    return f"{sys.executable} -c {json.dumps(script)}"


def settings(tmp_path, reference, **kw) -> DriftJobSettings:
    return DriftJobSettings(log_uri=str(tmp_path / "serving-log"), reference_uri=str(reference), performance=False, **kw)


def at(hour: int, minute: int = 6) -> datetime:
    return T0.replace(hour=hour, minute=minute)


def go(job, now, tmp_path, running=no_experiment, out_dir=None):
    return run(job, DriftSettings(), project(), now=now, sahab=SahabSettings(home=tmp_path / "home"), experiment_running=running, out_dir=out_dir)


def test_tests_each_window_once_and_retrains_once_per_episode(tmp_path, frames, reference):
    _, live, drifted = frames
    log, marks = tmp_path / "serving-log", tmp_path / "retrains.txt"
    job = settings(tmp_path, reference, retrain_command=marker_command(marks), cooldown="6h", clear_windows=2)
    for i, hour in enumerate(hours(T0, 4)):  # 10:00-13:59 stationary
        write_hour(log, log_rows(chunk(live, i), hour, seed=i), hour)

    first, report = go(job, at(14), tmp_path)
    assert len(first.tested) == 4 and not first.drifted, first
    assert first.watermark == "2026-12-01T14:00:00+00:00", "the watermark ends at the last complete window"
    assert {w.reference for w in report.windows} == {"h10", "h11", "h12", "h13"}, "each window meets its hour's reference slot"
    assert report.windows[0].alpha == pytest.approx(0.05 / (30 * 24)), "the project's alpha spent over the hourly windows of drift.period (30d)"
    again, report = go(job, at(14, 30), tmp_path)
    assert again.tested == [] and report is None, f"windows re-tested: {again.tested}"

    for i, hour in enumerate(hours(T0.replace(hour=14), 3), start=4):  # 14:00-16:59 drifted
        write_hour(log, log_rows(chunk(drifted, i), hour, seed=i), hour)
    drift, _ = go(job, at(17), tmp_path)
    assert len(drift.drifted) == 3, drift
    assert drift.retrain is not None and drift.retrain["key"] == "20261201T1400Z" and drift.retrain["reason"] == "drift"
    assert marks.read_text().split() == ["20261201t1400z", "drift"], "exactly one retraining for the episode"

    for i, hour in enumerate(hours(T0.replace(hour=17), 2), start=7):  # still drifted: same episode
        write_hour(log, log_rows(chunk(drifted, i), hour, seed=i), hour)
    still, _ = go(job, at(19), tmp_path)
    assert len(still.drifted) == 2 and still.retrain is None and still.episode["key"] == "20261201T1400Z"

    for i, hour in enumerate(hours(T0.replace(hour=19), 2), start=9):  # two clean windows close it
        write_hour(log, log_rows(chunk(live, i), hour, seed=i), hour)
    clean, _ = go(job, at(21), tmp_path)
    assert clean.episode is None and not clean.drifted, clean

    write_hour(log, log_rows(chunk(drifted, 11), T0.replace(hour=21), seed=11), T0.replace(hour=21))
    cooling, _ = go(job, at(22), tmp_path)
    assert cooling.episode["key"] == "20261201T2100Z" and cooling.retrain is None, "a new episode within the cooldown waits"
    write_hour(log, log_rows(chunk(drifted, 0), T0.replace(hour=22), seed=12), T0.replace(hour=22))
    later, _ = go(job, at(23, 10), tmp_path)
    assert later.retrain is not None and later.retrain["key"] == "20261201T2100Z", later
    assert marks.read_text().split()[::2] == ["20261201t1400z", "20261201t2100z"]

    state = JobState.load(job.state_uri or default_state_uri(str(log), "transaction-risk"))
    assert state.watermark == "2026-12-01T23:00:00+00:00" and len(state.triggers) == 2
    assert (tmp_path / "drift-state" / "state.json").is_file(), "state lives in drift-state/ beside the log"
    assert len(list((tmp_path / "drift-state" / "reports").glob("*/report.json"))) == 6, "one report per run that tested"


def test_a_due_retraining_waits_while_an_experiment_runs(tmp_path, frames, reference):
    """The challenger under test is never replaced: a drift episode that opens during an
    experiment records why it waits and fires once the experiment has ended."""
    _, _, drifted = frames
    log, marks = tmp_path / "serving-log", tmp_path / "retrains.txt"
    job = settings(tmp_path, reference, retrain_command=marker_command(marks), cooldown="6h")
    for i, hour in enumerate(hours(T0, 2)):
        write_hour(log, log_rows(chunk(drifted, i), hour, seed=i), hour)
    experiment = "experiment ab12 (champion v1 vs challenger v2)"
    waiting, _ = go(job, at(12), tmp_path, running=lambda spec, sahab: experiment, out_dir=tmp_path / "out")
    assert waiting.drifted and waiting.retrain is None, waiting
    assert waiting.waiting and experiment in waiting.waiting, f"the summary says why it waits: {waiting.waiting}"
    assert waiting.episode["triggered"] is False and waiting.episode["waiting"], waiting.episode
    assert not marks.exists(), "no retraining while the experiment runs"
    assert 'sahab_drift_retrain_waiting{project="transaction-risk"} 1.0' in (tmp_path / "out" / "metrics.prom").read_text()

    write_hour(log, log_rows(chunk(drifted, 2), T0.replace(hour=12), seed=2), T0.replace(hour=12))
    still, _ = go(job, at(13), tmp_path, running=lambda spec, sahab: experiment)
    assert still.retrain is None and still.waiting, "still running: still waiting"

    ended, _ = go(job, at(13, 30), tmp_path)  # the experiment ended (kept the champion): no new window needed
    assert ended.retrain is not None and ended.retrain["key"] == "20261201T1000Z", ended
    assert ended.waiting is None and ended.episode["triggered"] is True
    assert marks.read_text().split() == ["20261201t1000z", "drift"]


def test_a_failed_trigger_is_retried_under_the_same_key(tmp_path, frames, reference, capsys, monkeypatch):
    _, _, drifted = frames
    log, marks = tmp_path / "serving-log", tmp_path / "retrains.txt"
    for i, hour in enumerate(hours(T0, 2)):
        write_hour(log, log_rows(chunk(drifted, i), hour, seed=i), hour)
    common = ["run", "--project", str(PROJECTS / "transaction-risk"), "--now", "2026-12-01T12:06:00Z"]
    # The CLI asks the real predicate: an empty registry under SAHAB_HOME runs no experiment.
    for k, v in {
        "SAHAB_HOME": str(tmp_path / "home"),
        "SAHAB_DRIFT_LOG_URI": str(log),
        "SAHAB_DRIFT_REFERENCE_URI": str(reference),
        "SAHAB_DRIFT_PERFORMANCE": "false",
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SAHAB_DRIFT_RETRAIN_COMMAND", marker_command(marks, code=4))
    assert main(common) == EXIT_TRIGGER_FAILED
    assert JobState.load(str(tmp_path / "drift-state")).watermark is None, "a failed trigger must not advance the watermark"
    monkeypatch.setenv("SAHAB_DRIFT_RETRAIN_COMMAND", marker_command(marks))
    capsys.readouterr()
    assert main(common) == EXIT_OK
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["retrain"]["key"] == "20261201T1000Z" and len(summary["drifted"]) == 2
    assert marks.read_text().split()[::2] == ["20261201t1000z", "20261201t1000z"], "the retry reuses the key (downstream dedupe)"


def test_after_a_promotion_the_episode_ends_and_no_new_retraining_starts(tmp_path, frames, reference):
    """v1's rows drift against v1's reference and open an episode with its retraining. v2 (trained
    on post-drift rows) is promoted: the episode ends, v1's late rows and shadow rows are not
    compared, v2's rows meet v2's reference and no second retraining starts, cooldown or not."""
    ref, live, drifted = frames
    log, marks = tmp_path / "serving-log", tmp_path / "retrains.txt"
    job = settings(tmp_path, reference, retrain_command=marker_command(marks), cooldown="1h")
    write_hour(log, log_rows(chunk(drifted, 0), T0, model_version="2", mode="shadow"), T0)  # the challenger's shadow rows
    write_hour(log, log_rows(chunk(live, 0), T0, model_version="1"), T0, part=1)
    summary, report = go(job, at(11), tmp_path)
    assert summary.tested == ["2026-12-01T10:00:00+00:00"] and not summary.drifted, summary
    assert report.windows[0].n_rows == ROWS_PER_HOUR, "only v1's live rows meet v1's reference"

    for i, hour in enumerate(hours(T0.replace(hour=11), 2), start=1):
        write_hour(log, log_rows(chunk(drifted, i), hour, seed=i), hour)
    opened, _ = go(job, at(13), tmp_path)
    assert opened.episode is not None and opened.retrain is not None, "the drift opened an episode and started its retraining"

    # v2: trained on post-drift rows, promoted; its reference replaces v1's.
    _, post = reference_and_current(48_000, seed=12, drift=DRIFT)  # a random half: disjoint halves of it are exchangeable
    post = post.assign(score=np.random.default_rng(5).beta(1, 30, len(post)))
    post_ref, post_live = post.iloc[:12_000], post.iloc[12_000:].reset_index(drop=True)
    build_reference(project(), post_ref, post_ref["score"].to_numpy(), meta={"model_version": "2"}).save(reference)
    for i, hour in enumerate(hours(T0.replace(hour=13), 6)):
        write_hour(log, log_rows(chunk(post_live, i), hour, seed=i, model_version="2"), hour)  # v2 serves the drifted traffic
        write_hour(log, log_rows(chunk(drifted, 3 + i).iloc[:50], hour, seed=50 + i, model_version="1"), hour, part=1)  # a replica still on v1
    promoted, _ = go(job, at(16), tmp_path)
    assert promoted.promoted == {"from": "1", "to": "2", "at": "2026-12-01T16:06:00+00:00"}, promoted.promoted
    assert promoted.model_version == "2" and promoted.episode is None, "the old model's episode ends with its reign"
    assert promoted.tested and not promoted.drifted and promoted.retrain is None, promoted
    later, _ = go(job, at(19, 30), tmp_path)  # cooldown long over
    assert len(later.tested) == 3 and not later.drifted and later.episode is None and later.retrain is None, later
    assert len(marks.read_text().split()) == 2, "exactly the one retraining of the first episode"


def test_the_state_file_of_the_previous_format_is_read(tmp_path, frames, reference):
    state = tmp_path / "drift-state"
    state.mkdir()
    (state / "state.json").write_text(
        json.dumps(
            {
                "watermark": "2026-12-01T10:00:00+00:00",
                "model_version": "1",
                "episode": {"key": "20261201T0900Z", "opened_window": "x", "last_drift_window": "x", "clean_windows": 0, "triggered": True, "windows": ["x"]},
                "last_trigger_at": None,
                "triggers": [],
                "format": 1,
            }
        )
    )
    loaded = JobState.load(str(state))
    assert loaded.episode.key == "20261201T0900Z" and loaded.episode.last_flagged_window == "x" and loaded.performance_watermark is None


def test_unusable_log_or_settings_exit_2(tmp_path, frames, reference, monkeypatch):
    _, live, _ = frames
    log = tmp_path / "serving-log"
    rows = log_rows(chunk(live, 0), T0)
    write_hour(log, rows, T0)
    (log / f"date={T0:%Y-%m-%d}" / f"hour={T0:%H}" / "part-test-00000.parquet").unlink()
    rows.drop(columns=["amount"]).to_parquet(log / f"date={T0:%Y-%m-%d}" / f"hour={T0:%H}" / "part-bad.parquet")
    monkeypatch.setenv("SAHAB_DRIFT_REFERENCE_URI", str(reference))
    monkeypatch.setenv("SAHAB_DRIFT_PERFORMANCE", "false")
    monkeypatch.setenv("SAHAB_PROJECT", str(PROJECTS / "transaction-risk"))
    assert main(["run", "--log", str(log), "--now", "2026-12-01T11:06:00Z"]) == EXIT_USAGE
    monkeypatch.setenv("SAHAB_DRIFT_WINDOW", "hourly")
    assert main(["run", "--log", str(log)]) == EXIT_USAGE
    monkeypatch.delenv("SAHAB_DRIFT_WINDOW")
    monkeypatch.setenv("SAHAB_DRIFT_COOLDOWN_HOURS", "6")
    assert main(["run", "--log", str(log)]) == EXIT_USAGE, "an unknown SAHAB_DRIFT_* variable is refused"
    monkeypatch.delenv("SAHAB_DRIFT_COOLDOWN_HOURS")
    monkeypatch.setenv("SAHAB_PROJECT", str(tmp_path / "nowhere"))
    assert main(["run", "--log", str(log)]) == EXIT_USAGE, "a project that does not exist is refused"


def test_the_state_defaults_to_the_projects_own_prefix():
    assert default_state_uri("s3://b/serving-log/transaction-risk", "transaction-risk") == "s3://b/drift-state/transaction-risk"
    assert default_state_uri("/h/projects/delivery-time/serving-log", "delivery-time") == "/h/projects/delivery-time/drift-state"
    assert default_state_uri("s3://b/logs/", "x") == "s3://b/drift-state"


@pytest.mark.slow
def test_reference_and_baseline_come_from_the_champion_in_the_registry(tmp_path, frames):
    """A real MLflow registry (SQLite): the version behind `champion` carries its reference and its
    holdout metrics; `experiment_running` sees an experiment while both aliases are set."""
    from workloads.monitoring.job import running_experiment
    from workloads.monitoring.reference import log_reference
    from workloads.registry.client import mlflow_client

    ref, live, _ = frames
    sahab = SahabSettings(home=tmp_path / "home", mlflow_tracking_uri=None, mlflow_artifact_location=None).for_project(project())
    client = mlflow_client(sahab)
    experiment = client.create_experiment("drift-test", artifact_location=(tmp_path / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    tags = log_reference(build_reference(project(), ref, ref["score"].to_numpy()), run_id, settings=sahab)
    client.create_registered_model(sahab.model_name)
    mv = client.create_model_version(sahab.model_name, source=f"runs:/{run_id}/onnx", run_id=run_id, tags={**tags, "sahab.holdout.auc": "0.87"})
    job = DriftJobSettings(log_uri=str(tmp_path / "serving-log"), performance=False)
    with pytest.raises(LookupError, match="no alias 'champion'"):
        run(job, DriftSettings(), project(), now=at(11), sahab=sahab, experiment_running=no_experiment)
    client.set_registered_model_alias(sahab.model_name, "champion", mv.version)
    write_hour(tmp_path / "serving-log", log_rows(chunk(live, 0), T0, model_version=str(mv.version)), T0)
    summary, report = run(job, DriftSettings(), project(), now=at(11), sahab=sahab, experiment_running=no_experiment)
    assert summary.model_version == str(mv.version) and len(summary.tested) == 1 and not summary.drifted, summary
    assert report.reference["source"] == "models:/transaction-risk@champion"
    from workloads.monitoring.reference import registry_reference

    assert registry_reference(project(), "champion", settings=sahab).holdout == {"auc": 0.87}, "the version's holdout tags are the performance baseline"

    assert running_experiment(project().spec, sahab) is None, "champion alone: no experiment"
    challenger = client.create_model_version(sahab.model_name, source=f"runs:/{run_id}/onnx", run_id=run_id, tags=tags)
    client.set_registered_model_alias(sahab.model_name, "challenger", challenger.version)
    running = running_experiment(project().spec, sahab)
    assert running and f"challenger v{challenger.version}" in running, f"both aliases set: an experiment runs ({running})"


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
    perf = mod.job_from_cronjob(cronjob, "performance", datetime(2026, 12, 3, 1, 6, tzinfo=UTC), key="perf-20261201T1300Z")
    assert perf["metadata"]["name"] == "retrain-performance-perf-20261201t1300z", "a performance episode names its own Job"
    env = first["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "A", "value": "1"}, {"name": "SAHAB_RETRAIN_KEY", "value": "20261201t1400z"}], env
    assert cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}], (
        "the template itself must not change"
    )


@pytest.mark.slow
def test_reads_what_serving_writes_on_s3_and_keeps_its_state_there(tmp_path, frames, monkeypatch):
    """The contract with serving, end to end on an S3 API (moto's server on loopback): records
    appended by workloads.serving.prediction_log are the rows the job tests; its state lands in
    drift-state/<project> beside serving-log/<project>."""
    import boto3
    from moto.server import ThreadedMotoServer

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
        build_reference(project(), ref, ref["score"].to_numpy(), meta={"model_version": "4"}).save(profile)
        log = PredictionLog("s3://features/serving-log/transaction-risk/", project(), flush_s=3600, host="test")
        rows = chunk(live, 0)
        spec = project().spec
        for i, (_, row) in enumerate(rows.iterrows()):
            record = {f: (None if pd.isna(row[f]) else row[f]) for f in spec.feature_names}
            log.append(
                request_id=f"r{i}",
                key=str(row[spec.entity.key]),
                experiment_id="exp",
                variant="champion",
                model_version="4",
                scores=[float(row["score"])],
                records=[record],
                ts=T0 + pd.Timedelta(seconds=3 * i),
            )
        assert log.flush() == ROWS_PER_HOUR
        log.close()
        job = DriftJobSettings(log_uri="s3://features/serving-log/transaction-risk/", reference_uri=str(profile), performance=False)
        summary, report = go(job, at(11), tmp_path)
        assert summary.tested == ["2026-12-01T10:00:00+00:00"] and report.windows[0].n_rows == ROWS_PER_HOUR, summary
        assert not summary.drifted, summary.reason
        state = json.loads(s3.get_object(Bucket="features", Key="drift-state/transaction-risk/state.json")["Body"].read())
        assert state["watermark"] == "2026-12-01T11:00:00+00:00" and state["model_version"] == "4"
    finally:
        server.stop()


def test_metrics_are_pushed_to_the_pushgateway_per_project(tmp_path, frames, reference, monkeypatch):
    """A loopback HTTP server stands where the Pushgateway is; prometheus_client pushes to it,
    grouped by project so two projects never replace each other's metrics."""
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
        summary, _ = go(settings(tmp_path, reference), at(11), tmp_path)
        quiet, _ = go(settings(tmp_path, reference), at(11, 30), tmp_path)
    finally:
        server.shutdown()
    assert summary.tested and not quiet.tested and len(pushes) == 2, "every run pushes (the staleness alert reads it), tested or not"
    path, body = pushes[0]
    assert path == "/metrics/job/sahab-drift/project/transaction-risk", path
    for metric in (
        'sahab_drift_detected{project="transaction-risk"} 0.0',
        'sahab_drift_episode_open{project="transaction-risk"} 0.0',
        'sahab_drift_windows_tested{project="transaction-risk"} 1.0',
        "sahab_drift_watermark_timestamp_seconds",
        "sahab_drift_last_run_timestamp_seconds",
    ):
        assert metric in body, f"{metric} not pushed"
    assert "sahab_drift_last_run_timestamp_seconds" in pushes[1][1]


def test_a_rolling_reference_is_the_same_hour_of_the_last_week_of_live_rows(tmp_path, frames, reference):
    """drift.reference: rolling (here through SAHAB_DRIFT_REFERENCE_MODE): a window meets the live
    rows of its hour over the 7 days before it; without enough of them, the version's own profile."""
    _, live, drifted = frames
    log = tmp_path / "serving-log"
    for day in range(1, 4):  # 10:00 and 11:00 of the three days before, 100 rows each
        for h in (10, 11):
            hour = T0.replace(hour=h) - pd.Timedelta(days=day)
            rows = live.iloc[(day * 2 + h) * 100 : (day * 2 + h + 1) * 100].reset_index(drop=True)
            write_hour(log, log_rows(rows, hour, seed=day * 100 + h), hour)
    write_hour(log, log_rows(chunk(live, 5), T0, seed=1), T0)
    write_hour(log, log_rows(chunk(drifted, 6), T0.replace(hour=11), seed=2), T0.replace(hour=11))
    write_hour(log, log_rows(chunk(live, 7), T0.replace(hour=12), seed=3), T0.replace(hour=12))
    job = settings(tmp_path, reference, reference_mode="rolling", lookback="3h")
    summary, report = go(job, at(13), tmp_path)
    by_window = {w.name[11:16]: w for w in report.windows}
    assert by_window["10:00"].reference == "rolling" and not by_window["10:00"].drifted, by_window["10:00"]
    assert by_window["11:00"].reference == "rolling" and by_window["11:00"].drifted, "the drifted hour differs from last week's same hour"
    assert by_window["12:00"].reference == "training:h12" and not by_window["12:00"].drifted, "no history at 12:00: the version's own slot"
    assert report.reference["mode"] == "rolling" and summary.drifted == ["2026-12-01T11:00:00+00:00"]
