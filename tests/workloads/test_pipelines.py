"""The pipeline on its steps (workloads/pipelines): step caching, lineage, and one step per process
as the Argo WorkflowTemplate runs them.

- both shipped projects: a second run on the same data and settings skips all six steps and
  registers nothing new; the hashes of every step are tagged on the MLflow run and the version, and
  each step's recorded inputs name the outputs of the steps before it (lineage a person can follow
  from the served version back to the frozen training set and the offline store it came from);
- a change reruns exactly the steps it reaches: a training override reruns train and what follows,
  new labels rerun everything from ingest;
- each step in its own process (`python -m workloads.pipelines step NAME --key K`, the Argo
  step's command): a SIGTERM mid-training (a spot reclaim) exits 143, the retry of the train step
  with the same key resumes from its checkpoint, and the later steps finish the run.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from workload_helpers import PROJECTS, REPO, clean_env, seed_project, shipped_project

from workloads.pipeline import local_settings, run_project
from workloads.pipelines import STEP_NAMES, step_argv
from workloads.pipelines.cache import INPUTS, StepCache
from workloads.registry.client import mlflow_client
from workloads.settings import FeatureStoreSettings

pytestmark = pytest.mark.slow
START = datetime(2025, 1, 1, tzinfo=UTC)
LOCAL = FeatureStoreSettings(mode="local")
QUICK = {
    "transaction-risk": {"steps": 40, "threads": 1, "eval_every": 40, "log_every": 40},
    "delivery-time": {"rounds": 40, "threads": 1},
}


def _quiet(line: str) -> None:
    pass


def _run(project, home, **kwargs):
    return run_project(project, home, features=LOCAL, log=_quiet, **kwargs)


@pytest.mark.parametrize("name", PROJECTS)
def test_a_second_run_on_the_same_inputs_skips_every_step_and_the_lineage_leads_back_to_the_data(name, tmp_path):
    project = shipped_project(name)
    seed_project(project, tmp_path, rows=3_000, seed=0, start=START, days=20)
    first = _run(project, tmp_path, key="first", overrides=QUICK[name])
    assert first.skipped == [] and list(first.steps) == list(STEP_NAMES), f"{name}: the first run runs every step: {first.steps}"
    assert first.version == "1" and first.status in ("registered", "gate_failed"), f"{name}: {first.status} v{first.version}"

    second = _run(project, tmp_path, key="second", overrides=QUICK[name])
    assert second.skipped == list(STEP_NAMES), f"{name}: the second run on the same inputs skips every step: {second.steps}"
    assert (second.version, second.alias, second.run_id) == (first.version, first.alias, first.run_id), f"{name}: it reports the first run's version"
    assert second.frames.data_sha256 == first.frames.data_sha256, f"{name}: the training set of key 'second' holds the same rows"
    for step in STEP_NAMES:
        assert second.steps[step]["inputs"] == first.steps[step]["inputs"], f"{name}: step {step}: inputs hash"
        assert second.steps[step]["outputs"] == first.steps[step]["outputs"], f"{name}: step {step}: outputs hash"
    settings = local_settings(tmp_path)
    client = mlflow_client(settings)
    versions = client.search_model_versions(f"name='{name}'")
    assert [str(v.version) for v in versions] == ["1"], f"{name}: the second run registered nothing new: versions {[str(v.version) for v in versions]}"

    # Lineage: from the served version to its run, each step's hashes, each step's recorded inputs.
    version = versions[0]
    run_tags = client.get_run(version.run_id).data.tags
    for step in STEP_NAMES:
        for side in ("inputs", "outputs"):
            tag = f"sahab.lineage.{step}.{side}"
            assert run_tags.get(tag) == first.steps[step][side], f"{name}: MLflow run {version.run_id} tag {tag}"
            if step != "register":  # the version is tagged as it is registered, before the register step's own outputs exist
                assert version.tags.get(tag) == first.steps[step][side], f"{name}: version 1 tag {tag}"
    cache = StepCache(run_tags["sahab.lineage.cache"].rsplit("/pipeline-cache", 1)[0])
    for step, upstream in (("training-set", "ingest"), ("train", "training-set"), ("export", "train")):
        raw = (cache.entry_uri(step, run_tags[f"sahab.lineage.{step}.inputs"]) + "/" + INPUTS).removeprefix("file://")
        recorded = json.loads(Path(raw).read_text())
        assert recorded[upstream.replace("-", "_")] == run_tags[f"sahab.lineage.{upstream}.outputs"], f"{name}: {raw} names {upstream}'s outputs"
    lineage_of_set = cache.lookup("training-set", run_tags["sahab.lineage.training-set.inputs"])
    assert lineage_of_set is not None and lineage_of_set.values["data_sha256"] == version.tags["sahab.data.sha256"], f"{name}: the version's data hash"


def test_a_change_reruns_exactly_the_steps_it_reaches(tmp_path):
    project = shipped_project("delivery-time")
    seed_project(project, tmp_path, rows=3_000, seed=0, start=START, days=20)
    first = _run(project, tmp_path, key="base", overrides={"rounds": 40, "threads": 1})
    other_config = _run(project, tmp_path, key="more-rounds", overrides={"rounds": 60, "threads": 1})
    assert other_config.skipped == ["ingest", "training-set"], f"a training override reruns train and what follows: {other_config.steps}"
    assert other_config.version == "2", f"and registers the new model: v{other_config.version}"

    seed_project(project, tmp_path, rows=600, seed=5, start=START + timedelta(days=20), days=2)  # new labels arrive
    newer = _run(project, tmp_path, key="new-labels", overrides={"rounds": 40, "threads": 1})
    assert newer.skipped == [], f"new data reruns every step: {newer.steps}"
    assert newer.frames.data_sha256 != first.frames.data_sha256, "on a new training set"
    again = _run(project, tmp_path, key="no-cache", overrides={"rounds": 40, "threads": 1}, use_cache=False)
    assert again.skipped == [], f"use_cache=False runs every step: {again.steps}"


def _step(home, name: str, key: str, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    argv = step_argv(name, key)
    cmd = [sys.executable, *argv[1:], "--project", "transaction-risk", *extra]
    return subprocess.run(cmd, cwd=REPO, env=clean_env(home), capture_output=True, text=True, timeout=timeout)


def test_each_step_in_its_own_process_and_a_reclaimed_train_step_resumes_on_retry(tmp_path):
    project = shipped_project("transaction-risk")
    seed_project(project, tmp_path, rows=4_000, seed=3, start=START, days=25)
    key, train = "wf-abc12", ["--set", "steps=300", "--set", "threads=1", "--set", "log_every=10", "--set", "eval_every=600", "--set", "batch_size=128"]
    for name in ("ingest", "training-set"):
        done = _step(tmp_path, name, key)
        assert done.returncode == 0, f"step {name}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    early = _step(tmp_path, "export", key, timeout=300)
    assert early.returncode == 2 and "step 'train' of run wf-abc12 has not run" in early.stderr, f"export before train: {early.stderr[-1500:]}"

    argv = step_argv("train", key, resume=True)
    cmd = [sys.executable, *argv[1:], "--project", "transaction-risk", *train]
    child = subprocess.Popen(cmd, cwd=REPO, env=clean_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, deadline = [], time.monotonic() + 300
    try:
        for line in child.stdout:
            lines.append(line)
            step = re.search(r"step (\d+)/300", line)
            if step and int(step.group(1)) >= 60:
                child.send_signal(signal.SIGTERM)  # the spot interruption notice reaches the train step's pod
                break
            assert time.monotonic() < deadline, "training did not start within 300 s:\n" + "".join(lines[-30:])
        rest, _ = child.communicate(timeout=300)
    finally:
        if child.poll() is None:
            child.kill()
    output = "".join(lines) + rest
    assert child.returncode == 143, f"SIGTERM mid-training exits 143 (Argo retries the step): got {child.returncode}\n{output[-3000:]}"

    retried = subprocess.run(cmd, cwd=REPO, env=clean_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert retried.returncode == 0, retried.stdout[-3000:] + retried.stderr[-3000:]
    assert "resume: continuing from step" in retried.stdout, f"the retry resumes from the checkpoint: {retried.stdout[-3000:]}"
    trained = json.loads(retried.stdout.strip().splitlines()[-1])
    assert trained["values"]["step"] == 300 and not trained["skipped"], f"train step: {trained}"

    for name in ("export", "evaluate", "register"):
        done = _step(tmp_path, name, key)
        assert done.returncode in (0, 3), f"step {name}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    registered = json.loads(done.stdout.strip().splitlines()[-1])
    assert registered["values"]["version"] == "1", f"register: {registered}"
    run_tags = mlflow_client(local_settings(tmp_path)).get_run(trained["values"]["run_id"]).data.tags
    assert all(f"sahab.lineage.{s}.outputs" in run_tags for s in STEP_NAMES), f"every step tags the run: {sorted(t for t in run_tags if 'lineage' in t)}"
    again = _step(tmp_path, "train", key, "--resume", *train)
    assert again.returncode == 0 and json.loads(again.stdout.strip().splitlines()[-1])["skipped"], "a finished train step is skipped on the same inputs"
