"""The engineer's path on one machine: what `sahab project validate` and `sahab project run` do.

    validate_folder("projects/churn")            # schema, train.py, data.py, then a dry run
    run_folder("projects/churn", state_dir=".sahab/local")   # features -> train -> export -> register

`validate_folder` checks offline, in order, and stops at the first failing step:
1. the schema (`load_project`: ProjectError names the file, each bad field and the fix);
2. the entry point: importable from the project folder, callable with one argument (the
   TrainContext), and `training.config` valid for the function's `config_model` when it has one;
3. the data: the generator (when declared) run on a few rows, its columns and types checked against
   the project, and `outcome(prediction, label)` (when defined) inside `serving.outcome`'s range; or
   the declared sources present;
4. a dry run on a small sample in a temporary home, through the real pieces: the example data into
   a local feature store, the Feast definitions applied and the point-in-time frames built, the
   project's function through the training runtime, the export with its parity check, the holdout
   metrics and the gate (reported, not enforced: a sample is small), registration in a temporary
   registry, and one request through the BentoML service in-process (its ASGI app), whose answer
   must equal the registered graph's own score.
Steps 1-3 raise ProjectError (exit 2: the project must change); a failing dry run raises
DryRunFailed naming its step (exit 1).

`run_folder` builds a version on the local platform's storage: the running platform's own
(`sahab local up`: its registry and stores, so serving picks the version up) or, when none is up,
the embedded layout under `<state dir>/home` that `sahab local up --embedded` then serves. Example
data is generated once (an empty store); every run ingests the declared sources and the prediction
log, freezes its frames, trains, exports and registers: `champion` when there is none and the gate
passes, else `challenger` (workloads.pipeline.run_project).
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from workloads.errors import SahabError
from workloads.project.project import Project, load_project
from workloads.project.spec import ProjectError

Progress = Callable[[str], None]
DRY_RUN_ROWS = 2_000
RUN_ROWS = 20_000
_DROP = ("SAHAB_", "MLFLOW_", "AWS_", "FEAST_", "AZURE_")
_KEEP = ("SAHAB_PROJECTS_DIR",)
_QUIET = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "MLFLOW_LOGGING_LEVEL": os.environ.get("MLFLOW_LOGGING_LEVEL", "WARNING")}
"""A progress bar per artifact download would interleave with the progress lines."""


class DryRunFailed(SahabError):
    """The project is valid but the dry run failed; the message names the step and why. Exit 1."""

    exit_code = 1

    def __init__(self, step: str, project: Project, cause: BaseException) -> None:
        self.step = step
        detail = str(cause).strip() or type(cause).__name__
        super().__init__(
            f"{project.name}: the dry run failed at {step}: {type(cause).__name__}: {detail}",
            fix=f"see the lines above; the step runs {STEPS.get(step, step)}",
        )


STEPS = {
    "data": "the project's generator (sources.generator) or its declared sources",
    "features": "ingestion, the Feast definitions generated from project.yaml and the point-in-time frames",
    "training": "your training function through workloads.training.runtime (train.py)",
    "export": "the ONNX export of the returned model and its parity check (workloads/export)",
    "evaluation": "the exported graph on the holdout and the gate (workloads/evaluation.py)",
    "registry": "registration of the version in a temporary MLflow registry",
    "service": "the BentoML service (workloads/serving/service.py) on the registered version",
}


@dataclass
class Validation:
    """What `validate_folder` found."""

    project: Project
    seconds: dict[str, float] = field(default_factory=dict)
    """Seconds per step."""
    rows: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    """The exported graph on the sample's holdout."""
    gate: Any = None
    parity: float | None = None
    answer: dict[str, Any] = field(default_factory=dict)
    """The service's answer to the dry run's request."""


# --- the environment of an in-process run ---


@contextlib.contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """os.environ without the caller's SAHAB_*/MLFLOW_*/AWS_*/FEAST_*/AZURE_* variables (but
    SAHAB_PROJECTS_DIR), plus `values`, for the block: the settings models read it, and a shell's
    leftovers must not point a local run at another registry or store."""
    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith(_DROP) and k not in _KEEP]:
            del os.environ[key]
        os.environ.update({**_QUIET, **values})
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- example data ---


def example_window(project: Project) -> timedelta:
    """How much history example data spans: one training window (28 days when none is declared) and the holdout."""
    spec = project.spec
    return (spec.training.window or timedelta(days=28)) + spec.evaluation.holdout


def example_data(project: Project, repo: Any, *, rows: int, seed: int = 0, days: float | None = None, end: datetime | None = None) -> pd.DataFrame:
    """Run the project's generator into `repo`'s offline store: `rows` events over `days` (default
    `example_window`) ending at `end` (default: `experiment.max_label_delay` ago, to the minute, so
    every label the project declares possible has arrived by now)."""
    from workloads.features.ingest import generate

    spec = project.spec
    if end is None:
        end = (datetime.now(UTC) - spec.experiment.max_label_delay).replace(second=0, microsecond=0)
    days = days if days is not None else example_window(project).total_seconds() / 86_400
    return generate(project, repo, rows=rows, seed=seed, start=end - timedelta(days=days), days=days)


def request_for(spec: Any, rows: pd.DataFrame, key: Any = None) -> dict[str, Any]:
    """A `/score` keyed request of `rows` (features as JSON: NaN and None become null) under `key`
    (default: the first row's entity key)."""
    records = []
    for row in rows[list(spec.feature_names)].to_dict("records"):
        records.append({k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()})
    if key is None:
        key = rows[spec.entity.key].iloc[0] if spec.entity.key in rows.columns else "example"
    return {"key": str(key), "records": records}


# --- validate: steps 1-3 ---


def check_entry_point(project: Project, overrides: Mapping[str, Any] | None = None) -> Callable[..., Any]:
    """The training function, importable, taking one argument, its config valid (ProjectError otherwise)."""
    from pydantic import ValidationError

    from workloads.pipeline import check_config

    spec = project.spec
    function = project.entry_point(spec.training.entry_point)
    _takes(function, project, "training.entry_point", spec.training.entry_point, (None,), {}, "def train(ctx: TrainContext) -> model")
    try:
        check_config(project, overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(str(p) for p in err["loc"])
            got = err.get("input")
            shown = "" if isinstance(got, dict) or err["type"] == "missing" else f" (got {got!r})"
            problems.append(
                f"training.config.{where}: {err['msg']}{shown}. Fix: correct it in project.yaml (or the --set override); {function.__module__.rsplit('.', 1)[-1]}.py's config_model declares the fields"
            )
        raise ProjectError(problems, str(project.file)) from None
    except ValueError as exc:  # a malformed --set
        raise ProjectError([f"training.config: {exc}"], str(project.file)) from None
    return function


def _takes(function: Callable[..., Any], project: Project, field_name: str, reference: str, args: tuple, kwargs: dict, shape: str) -> None:
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except TypeError as exc:
        raise ProjectError([f"{field_name}: {reference} cannot be called as `{shape}` ({exc}). Fix: give it that signature"], str(project.file)) from None
    except ValueError:  # no signature to inspect (a C function): the call will tell
        pass


def check_data(project: Project, progress: Progress = print) -> pd.DataFrame | None:
    """The project's data source: the generator's output on 200 rows checked against the project
    (returned), or the declared sources present; ProjectError otherwise."""
    from workloads.features import tables
    from workloads.features.ingest import resolve_source
    from workloads.features.labels import LabelStore
    from workloads.features.tables import DataError

    spec = project.spec
    sources = spec.sources
    if sources.generator:
        generator = project.entry_point(sources.generator, field="sources.generator")
        start = datetime(2025, 1, 1, tzinfo=UTC)
        shape = "generate(rows, *, seed, start, days, drift=None) -> DataFrame"
        _takes(generator, project, "sources.generator", sources.generator, (200,), {"seed": 0, "start": start, "days": 1.0, "drift": None}, shape)
        module = project.folder / (sources.generator.split(":")[0].replace(".", "/") + ".py")
        try:
            frame = generator(200, seed=0, start=start, days=1.0, drift=None)
        except Exception as exc:  # noqa: BLE001 (the team's code may raise anything: the message names it)
            raise ProjectError([f"sources.generator: {sources.generator} failed on 200 rows: {type(exc).__name__}: {exc}"], str(module)) from None
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise ProjectError([f"sources.generator: {sources.generator} returned {type(frame).__name__}, not a DataFrame of rows ({shape})"], str(module))
        try:
            tables.source_table(frame, spec, str(module))
            LabelStore(spec, "unused").table(frame[[c for c in frame.columns if c not in spec.feature_names]], source="generator")
        except DataError as exc:
            raise ProjectError([f"sources.generator: {exc}"], str(module)) from None
        generator_module = project.module(sources.generator.split(":")[0])
        outcome = getattr(generator_module, "outcome", None)
        if outcome is not None:
            _check_outcome(project, outcome, frame, module)
        progress(f"data: {sources.generator} gives {len(frame)} rows with every column of the project" + (", outcome() in range" if outcome else ""))
        return frame
    if not (sources.features and sources.labels):
        raise ProjectError(
            [
                "sources: no data to train on. Fix: declare sources.generator (example data: `module:function` in the project folder) "
                "or sources.features and sources.labels (Parquet: a path in the project folder, s3:// or abfss://)"
            ],
            str(project.file),
        )
    for name, uri in (("sources.features", sources.features), ("sources.labels", sources.labels)):
        resolved = resolve_source(uri, project.folder)
        if "://" not in resolved and not Path(resolved).exists():
            raise ProjectError([f"{name}: {uri} does not exist ({resolved}). Fix: point it at a Parquet file or folder"], str(project.file))
    progress(f"data: sources.features {sources.features}, sources.labels {sources.labels}")
    return None


def _check_outcome(project: Project, outcome: Callable[..., Any], frame: pd.DataFrame, module: Path) -> None:
    spec = project.spec
    label = frame[spec.label.column].iloc[0]
    prediction: Any = {"binary": 0.5, "multiclass": spec.label.classes[0] if spec.label.classes else label, "regression": label}[spec.label.task]
    bounds = spec.serving.outcome
    try:
        value = float(outcome(prediction, label))
    except Exception as exc:  # noqa: BLE001 (the team's code may raise anything: the message names it)
        raise ProjectError([f"outcome(prediction, label) failed on ({prediction!r}, {label!r}): {type(exc).__name__}: {exc}"], str(module)) from None
    if not bounds.min <= value <= bounds.max:
        raise ProjectError(
            [f"outcome({prediction!r}, {label!r}) = {value}, outside serving.outcome [{bounds.min}, {bounds.max}]. Fix: return a value in that range"],
            str(module),
        )


# --- validate: the dry run ---


class _Steps:
    def __init__(self, project: Project, report: Validation, progress: Progress) -> None:
        self.project, self.report, self.progress = project, report, progress

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        except DryRunFailed:
            raise
        except Exception as exc:
            raise DryRunFailed(name, self.project, exc) from exc
        finally:
            self.report.seconds[name] = round(time.monotonic() - started, 2)


def validate_folder(folder: str | Path, *, rows: int = DRY_RUN_ROWS, overrides: Mapping[str, Any] | None = None, progress: Progress = print) -> Validation:
    """Steps 1-4 of the module docstring; returns what the dry run measured."""
    started = time.monotonic()
    project = load_project(folder)
    spec = project.spec
    report = Validation(project)
    progress(
        f"schema: {project.file} is valid ({spec.label.task}, {spec.training.framework}, {len(spec.features)} features in "
        f"{len(spec.feature_views)} view(s), entity {spec.entity.name} keyed by {spec.entity.key})"
    )
    check_entry_point(project, overrides)
    progress(f"entry point: {spec.training.entry_point} imports from {project.folder.name}/ and takes the TrainContext; training.config is valid")
    check_data(project, progress)
    report.seconds["checks"] = round(time.monotonic() - started, 2)
    with tempfile.TemporaryDirectory(prefix="sahab-validate-") as tmp, environ({"SAHAB_HOME": tmp, "SAHAB_PROJECT": str(project.folder)}):
        _dry_run(project, Path(tmp), rows, overrides or {}, report, _Steps(project, report, progress), progress)
    report.seconds["total"] = round(time.monotonic() - started, 2)
    return report


def _dry_run(project: Project, home: Path, rows: int, overrides: Mapping[str, Any], report: Validation, step: _Steps, progress: Progress) -> None:
    from workloads.evaluation import judge, metrics, predict_onnx
    from workloads.export import export_model
    from workloads.features.encoding import encode_labels
    from workloads.features.frames import frames_for
    from workloads.features.ingest import ingest
    from workloads.features.store import FeatureRepo
    from workloads.pipeline import local_settings
    from workloads.registry import tracking
    from workloads.registry.client import CHAMPION, FP32_ONNX, VersionRecord, register_version
    from workloads.settings import FeatureStoreSettings
    from workloads.training.runtime import run_training

    spec = project.spec
    settings = local_settings(home).for_project(project)
    progress(f"dry run: {rows} rows in a temporary home ({home})")
    with step("data"):
        repo = FeatureRepo(project, home, FeatureStoreSettings(mode="local"))
        if spec.sources.generator:
            example_data(project, repo, rows=rows)
        report.rows["generated"] = rows if spec.sources.generator else 0
    with step("features"):
        ingested = ingest(project, repo)
        repo.apply()
        frames = frames_for(repo, "dry-run", log=progress)
        report.rows.update(train=len(frames.train), holdout=len(frames.holdout))
        if spec.sources.features:
            progress(f"features: {ingested}")
    with step("training"):
        outcome = run_training(project, frames, overrides=overrides, checkpoint_uri=str(home / "checkpoints" / "dry-run"), log=progress)
        if outcome.interrupted:
            raise RuntimeError("the function raised Interrupted without a stop request")
    with step("export"):
        out = home / "onnx"
        exported = export_model(project, outcome.model, outcome.encoding, outcome.validation, out, log=progress)
        report.parity = exported.parity_max_abs_diff
    with step("evaluation"):
        predictions = predict_onnx(out / FP32_ONNX, outcome.encoding, frames.holdout)
        report.metrics = metrics(spec, encode_labels(frames.holdout[spec.label.column], spec), predictions)
        report.gate = judge(project, report.metrics, None)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in report.metrics.items())
        progress(f"evaluation: holdout of {len(frames.holdout)} rows: {shown}")
        progress(
            f"gate on the sample: {'passed' if report.gate.passed else 'not passed'} ({report.gate.describe()}); a sample is small, "
            "so the dry run does not enforce it: `sahab project run` does, on the whole data"
        )
    with step("registry"):
        with tracking.training_run(spec.name, {"dry_run": True}, data_sha256=frames.data_sha256, run_name="dry-run", settings=settings) as run:
            if run is None:  # training_run gives a run to rank 0 only
                raise RuntimeError(
                    f"the dry run runs as rank {os.environ.get('RANK')} (RANK is set), and only rank 0 records a run. Fix: unset RANK and validate again"
                )
            run.log_artifacts(out, "onnx")
            record = VersionRecord(data_sha256=frames.data_sha256, holdout_metrics=report.metrics)
            version = register_version(run.run_id, out, name=project, record=record, alias=CHAMPION, settings=settings)
        progress(f"registry: {spec.name} v{version} registered as {CHAMPION} in the temporary registry")
    with step("service"):
        report.answer = _one_request(project, frames.holdout.head(3), out / FP32_ONNX, outcome.encoding)
        progress(f"service: POST /score answered 200 from {spec.name} v{report.answer['model_version']}, equal to the graph's own answer")


def _one_request(project: Project, rows: pd.DataFrame, graph: Path, encoding: Any) -> dict[str, Any]:
    """One keyed request through the project's BentoML service in-process (its ASGI app); the
    answer must carry the graph's own predictions for the records."""
    import warnings

    import numpy as np

    with warnings.catch_warnings():  # starlette's notice about httpx: the in-process client is what we want here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from workloads.evaluation import predict_onnx
    from workloads.serving.service import build_service

    spec = project.spec
    request = request_for(spec, rows)
    service = build_service(project)
    with TestClient(service.to_asgi(), raise_server_exceptions=False) as client:
        reply = client.post("/score", json={"requests": [request]})
        if reply.status_code != 200:
            raise RuntimeError(f"POST /score answered {reply.status_code}: {reply.text[:500]}")
        (answer,) = reply.json()
    expected = predict_onnx(graph, encoding, request["records"])
    multiclass = spec.label.task == "multiclass"
    got = np.asarray(answer["probabilities" if multiclass else "scores"], dtype=float)
    want = expected.probabilities if multiclass else expected.score
    if want is None:
        raise RuntimeError(f"the exported graph {graph} gave no class probabilities for the multiclass project {spec.name}")
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-5):
        raise RuntimeError(f"the service answered {got.tolist()} where the registered graph gives {np.asarray(want).tolist()}")
    return answer


# --- run ---


def project_environment(project: Project, state_dir: str | Path) -> tuple[dict[str, str], str]:
    """The variables a local run of `project` uses, and which platform they are: the running local
    platform's own for this project (`sahab local up`), else the embedded layout under `<state dir>/home`."""
    from workloads.local.platform import LocalError, project_env, read_state

    state_dir = Path(state_dir).resolve()
    if read_state(state_dir) is not None:
        try:
            return project_env(state_dir, project.name), f"the running local platform ({state_dir})"
        except LocalError:
            pass  # up, but without this project: its storage layout is still the embedded one below
    home = state_dir / "home"
    return {"SAHAB_HOME": str(home), "SAHAB_FEAST_MODE": "local", "SAHAB_PROJECT": str(project.folder)}, f"the embedded layout under {home}"


def run_folder(
    folder: str | Path,
    *,
    state_dir: str | Path,
    rows: int = RUN_ROWS,
    seed: int = 0,
    overrides: Mapping[str, Any] | None = None,
    key: str | None = None,
    progress: Progress = print,
) -> Any:
    """Features -> train -> export -> register for the project in `folder` (module docstring);
    returns workloads.pipeline.RetrainOutcome."""
    from workloads.features.store import FeatureRepo
    from workloads.pipeline import run_project
    from workloads.settings import FeatureStoreSettings, SahabSettings

    project = load_project(folder)
    check_entry_point(project, overrides)
    env, where = project_environment(project, state_dir)
    with environ({**env, "SAHAB_PROJECT": str(project.folder)}):
        settings = SahabSettings()
        home = settings.home
        progress(f"run: {project.name} on {where}")
        repo = FeatureRepo(project, home, FeatureStoreSettings())
        if project.spec.sources.generator and not repo.labels.files():
            frame = example_data(project, repo, rows=rows, seed=seed)
            progress(
                f"data: {len(frame)} example rows from {project.spec.sources.generator} "
                f"({frame[project.spec.timestamp].min():%Y-%m-%d} .. {frame[project.spec.timestamp].max():%Y-%m-%d %H:%M}) into {repo.root}"
            )
        elif project.spec.sources.generator:
            progress(f"data: the store already holds labels ({repo.root}); no example data generated (delete the folder to start over)")
        return run_project(project, home, key=key, overrides=overrides, settings=settings, log=progress)
