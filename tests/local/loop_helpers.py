"""What the whole-loop tests drive the local platform with, from the outside: a project copy with
time-compressed windows, traffic from the project's own generator (each keyed request one entity's
records), its labels and A/B outcomes (the project's `outcome`) flowing back through the control
plane, and reads of the object store (drift state, frozen training sets)."""

from __future__ import annotations

import io
import json
import random
import shutil
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import httpx
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]


def wait_for(what: str, check: Callable[[], object], timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def compressed_copy(name: str, root: Path, changes: dict) -> Path:
    """projects/<name> copied under `root` with project.yaml's settings changed (dotted keys): the
    same project (its data.py, train.py, columns, gate), on a clock of seconds."""
    folder = root / name
    shutil.copytree(REPO / "projects" / name, folder, ignore=shutil.ignore_patterns("__pycache__"))
    raw = yaml.safe_load((folder / "project.yaml").read_text())
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    (folder / "project.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def requests_of(frame: pd.DataFrame, spec, per_request: int = 8) -> list[dict]:
    """Keyed requests of an entity's records (in time order, at most `per_request` each), with
    their labels beside them."""
    frame = frame.sort_values([spec.entity.key, spec.timestamp], kind="stable").reset_index(drop=True)
    features = frame[list(spec.feature_names)].astype(object)
    records = features.where(features.notna(), None).to_dict("records")
    labels = [v.item() if hasattr(v, "item") else v for v in frame[spec.label.column].tolist()]
    keys = frame[spec.entity.key].astype(str).tolist()
    out, start = [], 0
    while start < len(frame):
        end = start + 1
        while end < len(frame) and end - start < per_request and keys[end] == keys[start]:
            end += 1
        out.append({"key": keys[start], "records": records[start:end], "labels": labels[start:end]})
        start = end
    random.Random(len(out)).shuffle(out)
    return out


class Traffic(threading.Thread):
    """Keyed requests to serving, `per_second` of them, cycling through `pool` (see requests_of) under
    fresh keys; every answered record's label and outcome go to the control plane's /feedback
    (the outcome from the project's own `outcome(prediction, label)`)."""

    def __init__(self, serving: str, control: str, token: str, project, per_second: int = 24):
        super().__init__(daemon=True)
        self.serving, self.control, self.token, self.project = serving, control, token, project
        self.spec = project.spec
        self.outcome = project.module("data").outcome
        self.per_second = per_second
        self.pool: list[dict] = []
        self.answers: list[dict] = []
        self.errors: list[str] = []
        self.feedback = {"accepted": 0, "labels": 0, "no_experiment": 0}
        self.stop = threading.Event()
        self.rng = random.Random(7)
        self.sent = 0

    def _prediction(self, answer: dict, i: int):
        if self.spec.label.task == "multiclass":
            return answer["predictions"][i]
        return answer["scores"][i]

    def run(self) -> None:
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                started = time.monotonic()
                pool = self.pool
                batch = [pool[(self.sent + i) % len(pool)] for i in range(self.per_second)]
                keys = [
                    f"{self.sent + i}-{item['key']}" if self.spec.entity.dtype == "string" else str(10_000_000 + self.sent + i) for i, item in enumerate(batch)
                ]
                self.sent += len(batch)
                try:
                    reply = client.post(
                        f"{self.serving}/score", json={"requests": [{"key": k, "records": b["records"]} for k, b in zip(keys, batch, strict=True)]}
                    )
                    if reply.status_code != 200:
                        self.errors.append(f"/score {reply.status_code} {reply.text[:300]}")
                    else:
                        answers = reply.json()
                        self.answers.extend(answers)
                        self._feed_back(client, answers, batch)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self.stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))

    def _feed_back(self, client: httpx.Client, answers: list[dict], batch: list[dict]) -> None:
        items = []
        for answer, sent in zip(answers, batch, strict=True):
            for i, label in enumerate(sent["labels"]):
                value = float(self.outcome(self._prediction(answer, i), label))
                items.append({"request_id": answer["request_id"], "key": answer["key"], "record": i, "outcome": value, "label": label})
        reply = client.post(f"{self.control}/feedback", json={"outcomes": items}, headers={"Authorization": f"Bearer {self.token}"})
        if reply.status_code != 200:
            self.errors.append(f"/feedback {reply.status_code} {reply.text[:300]}")
            return
        body = reply.json()
        for k in self.feedback:
            self.feedback[k] += int(body.get(k, 0))


def s3_filesystem(env: dict[str, str]):
    import pyarrow.fs as pafs

    return pafs.S3FileSystem(
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        region="me-central-1",
        endpoint_override=env["AWS_ENDPOINT_URL_S3"].split("://", 1)[1],
        scheme="http",
    )


def read_object(env: dict[str, str], uri: str) -> bytes | None:
    import pyarrow.fs as pafs

    fs, path = s3_filesystem(env), uri.removeprefix("s3://")
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as fh:
        return fh.read()


def monitoring_state(env: dict[str, str]) -> dict | None:
    """The project's monitoring job state (SAHAB_DRIFT_STATE_URI/state.json)."""
    raw = read_object(env, env["SAHAB_DRIFT_STATE_URI"].rstrip("/") + "/state.json")
    return json.loads(raw) if raw else None


def training_set(env: dict[str, str], key: str) -> pd.DataFrame:
    """The frozen training frame of run `key` under the project's Feast root."""
    raw = read_object(env, f"{env['SAHAB_FEAST_URI'].rstrip('/')}/training-sets/{key}/frame.parquet")
    assert raw is not None, f"{env['SAHAB_FEAST_URI']}/training-sets/{key}/frame.parquet: no frozen training set"
    return pd.read_parquet(io.BytesIO(raw))


def tested_after(state: dict | None, since: float, windows: int, window_s: float) -> bool:
    """The monitoring job has tested `windows` windows that started after `since` (epoch seconds)."""
    if not state or not state.get("watermark"):
        return False
    return datetime.fromisoformat(state["watermark"]).timestamp() >= since + windows * window_s
