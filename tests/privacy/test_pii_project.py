"""A project with an Emirates ID key, a phone, an e-mail and a free-text note (tests/privacy/pii-churn),
run through what `sahab project run` calls (workloads.local.projects.run_folder: example data ->
ingest -> frozen frames -> train -> export -> evaluate -> register, with the version's importance
and model card), on a state folder of its own (issue 22):

- every byte the platform wrote under the state folder (Parquet, SQLite, MLflow artifacts, the
  ONNX graph, the pickled model, JSON, the card) and every progress line holds none of the clear
  values the generator produced: neither as written nor by the UAE patterns with their checksums;
- the model trained on tokens (its vocabularies are tokens of the environment's key version);
- the frozen training frame joined the two feature views and the labels on the tokenised key: each
  row carries the tokens of that customer's own phone and e-mail and the amount of its own event;
- the registered version has its importance and `card/model_card.html`, naming the features and metrics;
- `sahab local up` serves it: a request's clear values are tokenised before scoring and logging, and
  `sahab verify local` and a byte scan after `sahab local down` find no clear value.
Small on purpose (600 rows, 12 trees): CI runs it on 2 cores.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from workloads.privacy import for_project
from workloads.privacy.patterns import find
from workloads.privacy.scan import scan_uri

pytestmark = pytest.mark.slow
FOLDER = Path(__file__).resolve().parent / "pii-churn"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    from workloads.local.projects import run_folder
    from workloads.project import load_project

    root = tmp_path_factory.mktemp("pii")
    name = f"pii-{uuid.uuid4().hex[:8]}"  # the platform imports a project's modules under its name
    folder = root / "projects" / name
    shutil.copytree(FOLDER, folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec = yaml.safe_load((folder / "project.yaml").read_text())
    spec["name"] = name
    (folder / "project.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    state = root / "state"
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        for var in ("SAHAB_HOME", "SAHAB_MLFLOW_TRACKING_URI", "SAHAB_PROJECT", "SAHAB_FEAST_MODE", "SAHAB_PRIVACY_KEY_URI"):
            mp.delenv(var, raising=False)
        outcome = run_folder(folder, state_dir=state, rows=600, progress=lines.append)
    project = load_project(folder)
    return project, state, outcome, lines


def _clear_values(project) -> dict[str, set[str]]:
    generate = project.entry_point("data:customers", "sources.generator")
    people = generate()
    return {kind: set(people[kind]) for kind in ("emirates_id", "phone", "email")}


def test_nothing_the_platform_wrote_holds_a_clear_value(ran):
    project, state, outcome, lines = ran
    assert outcome.status == "registered", f"{project.name}: {outcome.status} ({outcome.gate.describe() if outcome.gate else ''})"
    clear = _clear_values(project)
    for kind, values in clear.items():  # the generator's values are real-looking: the pattern scan below would see them
        assert all(k == kind for v in values for k in [m.kind for m in find(v)] or ["none"]), f"the generator's {kind} values are not recognised"
    needles = [(kind, v.encode()) for kind, values in clear.items() for v in values]
    # the spellings a value could take in a file: as generated, digits only, JSON-escaped
    needles += [(kind, v.replace("-", "").encode()) for kind, v in ((k, x) for k, vs in clear.items() for x in vs) if kind == "emirates_id"]
    files = [p for p in state.rglob("*") if p.is_file()]
    assert len(files) > 20, f"the run wrote only {len(files)} files under {state}"
    found = []
    for path in files:
        data = path.read_bytes()
        found += [f"{path.relative_to(state)}: {kind}" for kind, needle in needles if needle in data]
    assert not found, f"clear personal data in bytes the platform wrote: {sorted(set(found))[:10]}"
    report = scan_uri(str(state), max_objects=100_000)
    assert report.scanned and report.clean, "UAE patterns in the stored objects: " + "; ".join(str(h) for h in report.hits[:10])
    text = "\n".join(lines)
    assert not any(v in text for values in clear.values() for v in values), "a progress line printed a clear value"


def test_the_model_trained_on_tokens_and_the_views_joined_on_the_tokenised_key(ran):
    from workloads.features.encoding import FeatureSpec
    from workloads.features.frames import load as load_frames
    from workloads.features.store import FeatureRepo
    from workloads.settings import FeatureStoreSettings

    project, state, outcome, _ = ran
    home = state / "home"
    privacy = for_project(project, home, create=False)
    assert privacy is not None and privacy.key_version == 1, "the environment's key exists under the state folder"
    tokeniser = privacy.tokeniser
    graphs = list(home.rglob("feature_spec.json"))
    assert graphs, f"no feature_spec.json under {home}"
    encoding = FeatureSpec.from_json(graphs[0].read_text())
    for name in ("phone", "email"):
        vocabulary = encoding.vocabularies[name]
        assert vocabulary and all(tokeniser.is_token(v) for v in vocabulary), f"{graphs[0]}: the {name} vocabulary holds non-tokens: {vocabulary[:3]}"
    notes = encoding.vocabularies["notes"]
    assert notes and all(v.startswith("call back on tok:v1:") for v in notes), f"free text is masked, not dropped: {notes[:2]}"

    frames = load_frames(FeatureRepo(project, home, FeatureStoreSettings(mode="local")), outcome.key)
    assert frames is not None, f"no frozen frames for run key {outcome.key}"
    people = project.entry_point("data:customers", "sources.generator")()
    expected = {tokeniser.token(r.emirates_id, "emirates_id"): r for r in people.itertuples()}
    train = frames.train
    assert len(train) > 100, f"the training frame joined only {len(train)} rows"
    keys = train[project.spec.entity.key]
    assert keys.map(tokeniser.is_token).all(), "every training row's key is a token"
    for row in train.itertuples():
        person = expected[getattr(row, project.spec.entity.key)]
        assert row.phone == tokeniser.token(person.phone, "phone"), f"key {row.emirates_id}: the contact view joined another customer's phone"
        assert row.email == tokeniser.token(person.email, "email"), f"key {row.emirates_id}: the contact view joined another customer's e-mail"
        assert row.channel == person.channel, f"key {row.emirates_id}: channel {row.channel} != {person.channel}"
    assert train["amount"].notna().mean() > 0.95, "the activity view joined on the tokenised key"
    assert set(train["churned"].unique()) == {0, 1}, "the labels joined on the tokenised key"


def test_the_version_has_its_importance_and_model_card(ran):
    from workloads.registry.client import mlflow_client
    from workloads.settings import SahabSettings

    project, state, outcome, _ = ran
    home = state / "home"
    settings = SahabSettings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    client = mlflow_client(settings)
    mv = client.get_model_version(project.name, outcome.version)
    assert mv.tags.get("sahab.card") == "card/model_card.html", f"{project.name} v{outcome.version} tags: {sorted(mv.tags)}"
    assert mv.tags.get("sahab.privacy.key_version") == "1", "the version records the key version its tokens were made with"
    metrics = client.get_run(mv.run_id).data.metrics
    importance = {k.removeprefix("importance."): v for k, v in metrics.items() if k.startswith("importance.")}
    assert set(importance) == set(project.spec.feature_names), f"importance per feature logged on run {mv.run_id}: {sorted(importance)}"
    path = Path(client.download_artifacts(mv.run_id, "card/model_card.html", str(state / "card")))
    card = path.read_text()
    for feature in project.spec.feature_names:
        assert f"<td>{feature}</td>" in card, f"{path}: the card does not name feature {feature}"
    for metric in outcome.holdout:
        assert f"<td>{metric}</td>" in card, f"{path}: the card does not show holdout metric {metric}"
    assert mv.tags["sahab.data.sha256"] in card and "tree_shap" in card, f"{path}: data hash and importance method"
    assert "<script" not in card and "http" not in card.split("</head>")[1], f"{path}: self-contained (no script, no remote resource)"
    logged = json.loads(Path(client.download_artifacts(mv.run_id, "explain/importance.json", str(state / "imp"))).read_text())
    assert logged["rows"] > 0 and logged["units"] == "log_odds", f"importance over the holdout in the model's margin: {logged}"


def test_the_card_command_regenerates_it(ran, capsys):
    from workloads.registry.__main__ import main

    project, state, outcome, _ = ran
    home = state / "home"
    out = state / "regenerated.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAHAB_HOME", str(home))
        mp.setenv("SAHAB_MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlflow.db'}")
        assert main(["card", "--project", str(project.folder), "--version", outcome.version, "--out", str(out)]) == 0
        with pytest.raises(Exception, match="not in the registry"):
            main(["card", "--project", str(project.folder), "--version", "99"])
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and f"{project.name} v{outcome.version}" in html, f"{out}: {html[:200]}"
    assert "model card logged" in capsys.readouterr().out


def _sahab(*args: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    return subprocess.run([sys.executable, "-m", "sahab", *args], cwd=REPO, env={**base, **env}, capture_output=True, text=True, timeout=timeout)


def test_served_by_sahab_local_up_it_tokenises_requests_and_writes_nothing_clear(ran):
    """`sahab local up --embedded` serves the run's champion; a /score carrying a clear Emirates ID,
    phone, e-mail and note is answered under the key's token (the environment's key: the same token
    the ingestion made), the prediction log holds tokens, `sahab verify local` finds no clear personal
    data, and after `sahab local down` no byte under the state folder holds a clear value."""
    import httpx

    from sahab.ops.verify.runner import read_junit
    from workloads.local import served_projects
    from workloads.local.projects import request_for

    project, state, outcome, _ = ran
    name = project.name
    env = {"SAHAB_PROJECTS_DIR": str(project.folder.parent)}
    up = _sahab("local", "up", "--embedded", "--state-dir", str(state), "--project", name, "--no-prometheus", "--no-feature-server", env=env, timeout=900)
    try:
        assert up.returncode == 0, f"sahab local up exited {up.returncode}:\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        assert "reused from the last run" in up.stdout, f"the bootstrap retrained instead of serving the run's champion:\n{up.stdout[-2000:]}"
        people = _clear_values(project)
        rows = project.module("data").generate(6, seed=11, start=datetime.now(UTC), days=0.01)
        request = request_for(project.spec, rows)
        clear_key = request["key"]
        assert clear_key in people["emirates_id"] and request["records"][0]["phone"] in people["phone"], f"the request carries clear values: {request}"
        reply = httpx.post(f"{served_projects(state)[name]['serving']}/score", json={"requests": [request]}, timeout=60)
        assert reply.status_code == 200, f"/score of serving-{name}: {reply.status_code} {reply.text[:500]}"
        answer = reply.json()[0]
        privacy = for_project(project, state / "home", create=False)
        assert privacy is not None
        assert answer["key"] == privacy.tokeniser.token(clear_key, "emirates_id"), (
            f"the answer's key is the token the ingestion made of {name}'s entity (the environment's key): {answer['key']}"
        )
        assert clear_key not in reply.text and request["records"][0]["email"] not in reply.text, "the answer echoes no clear value"
        assert len(answer["scores"]) == 6 and all(0.0 <= s <= 1.0 for s in answer["scores"]), answer
        from workloads.project.paths import local_paths

        log = local_paths(state / "home", name).serving_log
        deadline = time.monotonic() + 30  # the log flushes every 10 s (SAHAB_SERVING_PREDICTION_LOG_FLUSH_S)
        while not list(log.rglob("*.parquet")) and time.monotonic() < deadline:
            time.sleep(0.5)
        parts = list(log.rglob("*.parquet"))
        assert parts, f"no prediction log under {log} 30 s after the request"
        logged = pd.concat(pd.read_parquet(p) for p in parts)
        assert set(logged["key"]) == {answer["key"]} and logged["phone"].map(privacy.tokeniser.is_token).all(), (
            f"{parts[0]}: the prediction log holds the key's and the phone's tokens"
        )
        junit = state.parent / "verify.xml"
        verify = _sahab("verify", "local", "--state-dir", str(state), "--part", "local", "--junit", str(junit), env={}, timeout=300)
        assert verify.returncode == 0, f"sahab verify local --part local found a problem:\n{verify.stdout[-3000:]}\n{verify.stderr[-2000:]}"
        scanned = sorted(o.subject for o in read_junit(junit) if o.check == "local-privacy-no-clear-personal-data" and o.outcome == "passed")
        assert len(scanned) == 2 and all(s.startswith(name) for s in scanned), f"verify scanned {name}'s offline store and prediction log: {scanned}"
    finally:
        down = _sahab("local", "down", "--state-dir", str(state), env={}, timeout=300)
        assert down.returncode == 0, down.stdout[-2000:] + down.stderr[-2000:]
    needles = [v.encode() for values in _clear_values(project).values() for v in values]
    found = sorted({str(p.relative_to(state)) for p in state.rglob("*") if p.is_file() for n in needles if n in p.read_bytes()})
    assert not found, f"clear personal data in bytes the platform wrote while serving: {found[:10]}"
