"""Registered versions of every task, feature records and a `bentoml serve` runner for the serving tests.

`build_versions(project, home, ...)` takes a project through the platform's own runtime, as the
pipeline does: its data (the project's generator, or `synthetic_frame` for a test project),
`workloads.training.runtime.run_training` (a few steps / rounds), `workloads.export.export_model`
(ONNX with the parity gate, int8 where the framework allows it), one MLflow run per training and
`registry.client.register_version` under the project's name, with `champion` on the first version
and `challenger` on the second (trained on another sample). Three projects cover the three tasks:

- binary:     projects/transaction-risk (torch, int64 entity `account_id`)
- regression: projects/delivery-time (LightGBM, string entity `courier_id`)
- multiclass: a test project written by `write_multiclass_project` (LightGBM, three classes, one
              non-nullable feature)
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from workloads.project import Project, load_project

REPO = Path(__file__).resolve().parents[2]
logger = logging.getLogger(__name__)
START = datetime(2026, 11, 1, tzinfo=UTC)

BINARY = REPO / "projects" / "transaction-risk"
REGRESSION = REPO / "projects" / "delivery-time"
OVERRIDES = {"transaction-risk": {"steps": 30, "batch_size": 128}, "delivery-time": {"rounds": 30, "threads": 1}}
"""Training overrides that keep each version to a few seconds."""

MULTICLASS_TRAIN = """
import lightgbm


def train(ctx):
    model = lightgbm.LGBMClassifier(n_estimators=ctx.config.get("n_estimators", 25), learning_rate=0.2, num_leaves=15,
                                    random_state=ctx.seed, n_jobs=1, verbose=-1)
    model.fit(ctx.train.X, ctx.train.y, categorical_feature=ctx.categorical_indices)
    return model
"""
CLASSES = ("stay", "upgrade", "leave")


def multiclass_project_dict(name: str) -> dict[str, Any]:
    """A small multiclass project: a subscriber's next plan move (a string entity key)."""
    return {
        "name": name,
        "team": "tests",
        "entity": {"name": "subscriber", "key": "subscriber_id", "dtype": "string"},
        "timestamp": "event_timestamp",
        "label": {"column": "next_move", "task": "multiclass", "classes": list(CLASSES)},
        "features": [
            {"name": "tenure_months", "type": "numeric", "nullable": False},
            {"name": "monthly_spend", "type": "numeric"},
            {"name": "support_calls", "type": "numeric"},
            {"name": "plan", "type": "categorical"},
            {"name": "region", "type": "categorical"},
        ],
        "feature_views": [{"name": "subscriber_profile", "features": ["tenure_months", "monthly_spend", "support_calls", "plan", "region"]}],
        "training": {"framework": "lightgbm", "entry_point": "train:train", "config": {"n_estimators": 25}},
        "evaluation": {"holdout": "1d", "gate": {"primary": {"metric": "logloss", "max": 1.2}}},
        "experiment": {"challenger_weight": 0.3, "unit_window": "1d", "max_label_delay": "1d", "max_duration": "7d"},
    }


def write_multiclass_project(root: Path, name: str = "plan-moves") -> Project:
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "project.yaml").write_text(yaml.safe_dump(multiclass_project_dict(name), sort_keys=False))
    (folder / "train.py").write_text(MULTICLASS_TRAIN)
    return load_project(folder)


def synthetic_frame(project: Project, rows: int, seed: int) -> pd.DataFrame:
    """Rows for a project without a generator: its key, event times over 6 days, features with a
    learnable signal and the label (multiclass: the signal's tercile)."""
    spec = project.spec
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {
        spec.entity.key: [f"s{i}" for i in rng.integers(0, rows // 3, rows)],
        spec.timestamp: [START + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, 6 * 86_400, rows))],
    }
    signal = np.zeros(rows)
    for i, f in enumerate(spec.features):
        if f.type == "numeric":
            values = rng.normal(0, 1 + i, rows)
            signal += values / (1 + i) * (1 if i % 2 == 0 else -0.7)
            if f.nullable:
                values[rng.random(rows) < 0.05] = np.nan
        else:
            codes = rng.integers(0, 4, rows)
            signal += np.array([0.8, -0.5, 0.2, 0.0])[codes]
            values = np.array([f"{f.name}-{j}" for j in range(4)], dtype=object)[codes]
            values[rng.random(rows) < 0.05] = None
        out[f.name] = values
    noisy = signal + rng.normal(0, 0.4, rows)
    out[spec.label.column] = np.asarray(spec.label.classes, dtype=object)[np.digitize(noisy, np.quantile(noisy, [1 / 3, 2 / 3]))]
    return pd.DataFrame(out)


def project_frame(project: Project, rows: int, seed: int) -> pd.DataFrame:
    """The project's own example data (sources.generator), else synthetic rows."""
    if project.spec.sources.generator:
        generate = project.entry_point(project.spec.sources.generator, "sources.generator")
        return generate(rows, seed=seed, start=START, days=6)
    return synthetic_frame(project, rows, seed)


def feature_records(project: Project, n: int, seed: int = 0) -> list[dict[str, object]]:
    """JSON-ready feature records of `project` (NaN -> None)."""
    df = project_frame(project, max(n, 30), seed + 1000)[list(project.spec.feature_names)].head(n)
    return [{k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()} for row in df.to_dict(orient="records")]


def entity_keys(project: Project, n: int, prefix: str = "") -> list[str]:
    """`n` distinct entity keys of the project's dtype (digits for an int64 entity)."""
    if project.spec.entity.dtype == "int64":
        base = zlib.crc32(prefix.encode()) * 1000
        return [str(base + i) for i in range(n)]
    return [f"{prefix}{i}" for i in range(n)]


@dataclass(frozen=True)
class Versions:
    project: Project = field(repr=False)
    champion: str
    challenger: str

    @property
    def env(self) -> dict[str, str]:
        return {"SAHAB_PROJECT": str(self.project.folder)}


def register(
    project: Project,
    home: Path,
    *,
    seed: int,
    rows: int = 2_000,
    alias: str | None = None,
    overrides: dict[str, Any] | None = None,
    native_dir: Path | None = None,
) -> str:
    """Train, export and register one version of `project` under `home`'s registry; its version
    number. `native_dir`: also keep the fitted model there (export.native, for the benchmark)."""
    from workloads.export import export_model
    from workloads.registry import client as registry
    from workloads.registry.tracking import training_run
    from workloads.settings import SahabSettings
    from workloads.training.runtime import run_training

    settings = SahabSettings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    frame = project_frame(project, rows, seed)
    outcome = run_training(project, frame, overrides=overrides or OVERRIDES.get(project.name, {}), log=logger.info)
    out_dir = home / "exports" / f"{project.name}-{seed}"
    report = export_model(project, outcome.model, outcome.encoding, outcome.validation, out_dir, log=logger.info)
    if native_dir is not None:
        from workloads.export.native import save_native

        save_native(project.spec.training.framework, outcome.model, native_dir)
    with training_run(project.name, dict(project.spec.training.config), data_sha256=outcome.data_sha256, settings=settings) as run:
        assert run is not None
        run.log_artifacts(out_dir, "onnx")
    record = registry.VersionRecord(data_sha256=outcome.data_sha256, holdout_metrics=report.fp32_metrics)
    return registry.register_version(run.run_id, out_dir, name=project.spec, record=record, alias=alias, settings=settings)


def build_versions(project: Project, home: Path) -> Versions:
    """A champion (seed 0) and a challenger (another sample, seed 1) of `project`."""
    champion = register(project, home, seed=0, alias="champion")
    challenger = register(project, home, seed=1, alias="challenger")
    return Versions(project, champion, challenger)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path


def start_bentoml_serve(env: dict[str, str], log: Path, timeout_s: float = 120.0) -> Server:
    """`bentoml serve workloads.serving.service:Scorer` on loopback in its own process group (the
    project from env's SAHAB_PROJECT); waits for /readyz."""
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO), "BENTOML_DO_NOT_TRACK": "True"}
    cmd = [sys.executable, "-m", "bentoml", "serve", "workloads.serving.service:Scorer", "--host", "127.0.0.1", "--port", str(port), "--working-dir", str(REPO)]
    return _started("bentoml serve", cmd, full_env, port, log, "/readyz", timeout_s)


def _started(what: str, cmd: list[str], env: dict[str, str], port: int, log: Path, health_path: str, timeout_s: float) -> Server:
    """Start `cmd` in its own process group, logging to `log`; wait until `health_path` answers 200."""
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}{health_path}", timeout=2).status_code == 200:
                return Server(url, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(Server(url, proc, log))
    raise RuntimeError(f"{what} not ready after {timeout_s}s:\n{log.read_text()[-3000:]}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


def start_module(module: str, env: dict[str, str], log: Path, health_path: str, timeout_s: float = 60.0, args: tuple[str, ...] = ()) -> Server:
    """`python -m <module> --port P` on loopback (the control plane); waits for `health_path`."""
    port = free_port()
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port), *args]
    return _started(module, cmd, full_env, port, log, health_path, timeout_s)
