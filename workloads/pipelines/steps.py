"""The six steps of every project's pipeline (graph.py names them), each a pair of functions:
`inputs(run) -> dict` (everything that decides its work: hashed into its cache key) and
`execute(run, inputs, out) -> (values, info)` (does the work, writes its files under `out`).

    ingest        the prediction log's new live rows, declared batch sources and label files into the
                  offline store (workloads/features/ingest.py, idempotent), the tokenise hook, Feast apply
    training-set  the frozen training frame and common holdout of the run key (workloads/features/frames.py)
    train         the project's training function (workloads/training/runtime.py), one MLflow run
    export        ONNX graph(s) and the parity gate against the native model (workloads/export)
    evaluate      the new version and the champion on the same frozen holdout, the project's gate,
                  the drift reference profile
    register      the version, its alias (champion / challenger / queued / none), its lineage tags,
                  its global importance on the holdout and its model card (workloads/explain)

What a step hands on is either a value (JSON: hashes, metrics, the run id) or a file (the native
model, the ONNX graphs, the reference profile), stored in its cache entry under the project's
storage (cache.py); nothing is passed in memory that a step in another pod could not read back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workloads import storage
from workloads.errors import SahabError
from workloads.features import frames as frozen
from workloads.pipelines import tokenise
from workloads.pipelines.context import TAG_GATE_CHECKS, TAG_GATE_RESULT, PipelineRun, checkpoint_root, prediction_log_uri

if TYPE_CHECKING:
    from workloads.pipelines.cache import StepRecord

Values = dict[str, Any]
WORKLOADS = Path(__file__).resolve().parents[1]
# The code a pipeline run executes, hashed into every step's inputs: a change there reruns the steps.
PIPELINE_CODE = (
    "pipelines",
    "features",
    "training",
    "export",
    "registry",
    "project",
    "monitoring",
    "explain",
    "privacy",
    "evaluation.py",
    "storage.py",
    "settings.py",
    "errors.py",
)
PROJECT_FILES = ("*.py", "*.yaml", "*.yml", "*.json", "*.toml")
NATIVE, ONNX, MONITORING = "native", "onnx", "monitoring"
VALIDATION_FILE, ENCODING_FILE = "validation.parquet", "feature_spec.json"


class StepInterrupted(SahabError):
    """The train step stopped after a checkpoint (SIGTERM: a spot reclaim): run it again with the same key."""

    exit_code = 143

    def __init__(self, message: str, step: int = 0) -> None:
        super().__init__(message)
        self.step = step


class Follower(Exception):
    """A rank other than 0 finished training: rank 0 exports and registers."""


@dataclass(frozen=True)
class Step:
    name: str
    inputs: Callable[[PipelineRun], Values]
    execute: Callable[[PipelineRun, Values, Path], tuple[Values, Values]]
    valid: Callable[[PipelineRun, StepRecord], bool] | None = None
    """Whether a cache entry can still be used (what it points at still exists)."""
    on_hit: Callable[[PipelineRun, StepRecord], None] | None = None
    """What a skipped step still owes its run (the frozen frames under the run's own key)."""
    fixed_point: Callable[[Values, Values], Values] | None = None
    """The inputs under which the step, run again on its own outputs, would change nothing: the
    entry is stored under those too (ingest: run on the store it produced, it copies nothing)."""


# --- fingerprints ---


def _files_digest(root: Path, patterns: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    paths = sorted({p for pattern in patterns for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts})
    for path in paths:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 of the pipeline's own source (PIPELINE_CODE under workloads/)."""
    digest = hashlib.sha256()
    for part in PIPELINE_CODE:
        path = WORKLOADS / part
        digest.update(part.encode() + b"\0" + (_files_digest(path, ("*.py",)).encode() if path.is_dir() else path.read_bytes()))
    return digest.hexdigest()


def project_fingerprint(run: PipelineRun) -> str:
    """sha256 of the project's folder (project.yaml and the team's code), what its training function runs."""
    return _files_digest(Path(run.project.folder), PROJECT_FILES)


def _spec(run: PipelineRun, *fields: str) -> str:
    """A hash of the project spec's fields that decide a step (a changed gate does not retrain)."""
    from workloads.pipelines.cache import digest

    return digest(run.spec.model_dump(mode="json", include=set(fields)))


def _listing(uri: str | None) -> list[list[Any]]:
    """Every Parquet file under `uri` (or the file itself) with its size and modification time."""
    if not uri:
        return []
    from pyarrow import fs as pafs

    from workloads.features import tables

    filesystem, path = storage.filesystem(uri)
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [[uri, int(info.size or 0), int(info.mtime_ns or 0)]]
    return [[f.uri, f.size, f.mtime_ns] for f in tables.list_files(uri)]


def store_fingerprint(run: PipelineRun) -> str:
    """sha256 of the offline store's listing (feature rows and labels: append-only objects)."""
    from workloads.features.tables import FEATURES_DIR, LABELS_DIR
    from workloads.pipelines.cache import digest

    root = run.repo.uri()
    rows = [[uri[len(root) :], size, mtime] for folder in (FEATURES_DIR, LABELS_DIR) for uri, size, mtime in _listing(run.repo.uri(folder))]
    return digest(rows)


def _frozen_lineage(run: PipelineRun) -> dict[str, Any] | None:
    from workloads.features.tables import TRAINING_SETS_DIR

    raw = storage.read_bytes(storage.join(run.repo.uri(TRAINING_SETS_DIR, run.key), frozen.LINEAGE))
    return json.loads(raw) if raw else None


# --- ingest ---


def _ingest_inputs(run: PipelineRun) -> Values:
    if _frozen_lineage(run) is not None:
        # A resume: the run key's rows are frozen, so nothing new could reach its training.
        return {"frozen_training_set": run.key}
    from workloads.features.ingest import resolve_source

    sources = run.spec.sources
    folder = Path(run.project.folder)
    return {
        "code": code_fingerprint(),
        "spec": _spec(run, "name", "entity", "timestamp", "label", "features", "feature_views", "sources"),
        "tokenise": tokenise.VERSION,
        "sources": {
            "features": _listing(resolve_source(sources.features, folder) if sources.features else None),
            "labels": _listing(resolve_source(sources.labels, folder) if sources.labels else None),
            "prediction_log": _listing(prediction_log_uri(run.project, run.home, run.prediction_log)),
        },
        "store": store_fingerprint(run),
    }


def _ingest(run: PipelineRun, inputs: Values, out: Path) -> tuple[Values, Values]:
    if "frozen_training_set" in inputs:
        run.log(f"ingest: skipped, the training set of run {run.key} is frozen (a resume)")
        return {"frozen_training_set": run.key}, {}
    from workloads.features.ingest import ingest

    # The labels the frames may use are those known when this ingestion began: a label that arrives
    # while it runs names a served record whose log file may not be ingested yet (frames below).
    run.ingest_started = datetime.now(UTC)  # type: ignore[attr-defined]  # read back by _training_set only
    report = ingest(run.project, run.repo, prediction_log=prediction_log_uri(run.project, run.home, run.prediction_log))
    run.log(f"ingest: {report}")
    tokenised = tokenise.tokenise(run.project, run.repo, report.written)
    run.repo.apply()
    return {"store": store_fingerprint(run)}, {"report": report.as_dict(), "tokenised": tokenised}


def _ingest_fixed_point(inputs: Values, values: Values) -> Values:
    return {**inputs, "store": values["store"]} if "store" in inputs and "store" in values else inputs


# --- training set ---


def _training_set_inputs(run: PipelineRun) -> Values:
    lineage = _frozen_lineage(run)
    if lineage is not None:
        return {"frozen_training_set": run.key, "data_sha256": lineage["data_sha256"], "holdout_sha256": lineage["holdout_sha256"]}
    return {
        "code": code_fingerprint(),
        "spec": _spec(run, "name", "entity", "timestamp", "label", "features", "feature_views", "training", "evaluation"),
        "ingest": run.record("ingest").outputs_hash,
        "as_of": run.as_of.isoformat() if run.as_of is not None else None,
        "post_drift_since": run.post_drift_since.isoformat() if run.post_drift_since is not None else None,
    }


def _frames_values(frames: frozen.TrainingFrames) -> Values:
    lineage = frames.lineage
    keep = ("data_sha256", "holdout_sha256", "training_window", "holdout_window", "rows", "feature_views", "t_end", "post_drift")
    return {k: lineage[k] for k in keep if k in lineage}


def _training_set(run: PipelineRun, inputs: Values, out: Path) -> tuple[Values, Values]:
    frames = frozen.load(run.repo, run.key)
    if frames is not None:
        run.log(
            f"frames {run.key}: reusing the frozen training set ({len(frames.train)} training rows, {len(frames.holdout)} holdout rows, data sha256 {frames.data_sha256[:12]})"
        )
    else:
        as_of = run.as_of or getattr(run, "ingest_started", None)
        frames = frozen.build(run.repo, run.key, as_of=as_of, post_drift_since=run.post_drift_since, log=run.log)
        frozen.write(frames, run.spec)
    return _frames_values(frames), {"key": frames.lineage.get("key", run.key), "uri": frames.uri}


def _training_set_valid(run: PipelineRun, record: StepRecord) -> bool:
    origin = str(record.info.get("key") or "")
    return bool(origin) and (origin == run.key or frozen.load(run.repo, origin) is not None)


def _training_set_on_hit(run: PipelineRun, record: StepRecord) -> None:
    """Freeze the cached rows under this run's key too, so a resume of this key trains on them whatever arrives later."""
    from workloads.features.tables import TRAINING_SETS_DIR

    origin = str(record.info.get("key") or run.key)
    if origin == run.key or _frozen_lineage(run) is not None:
        return
    source = frozen.load(run.repo, origin)
    if source is None:
        raise SahabError(f"{run.spec.name}: the cached training set of run {origin} vanished while being copied. Fix: run again (it is rebuilt)")
    lineage = {**source.lineage, "key": run.key, "copied_from": origin}
    frozen.write(frozen.TrainingFrames(run.key, run.repo.uri(TRAINING_SETS_DIR, run.key), source.train, source.holdout, lineage), run.spec)
    run.log(f"frames {run.key}: the same rows as run {origin} (cache), frozen under this key too")


# --- train ---


def _train_inputs(run: PipelineRun) -> Values:
    return {
        "code": code_fingerprint(),
        "project_code": project_fingerprint(run),
        "spec": _spec(run, "name", "entity", "timestamp", "label", "features", "training"),
        "overrides": run.overrides,
        "training_set": run.record("training-set").outputs_hash,
    }


def _train(run: PipelineRun, inputs: Values, out: Path) -> tuple[Values, Values]:
    from workloads.export.native import save_native
    from workloads.registry import tracking
    from workloads.training.runtime import run_training

    spec, frames = run.spec, run.frames()
    run_tags = {
        **run.tags,
        "sahab.training.window": frames.training_window,
        "sahab.holdout.window": frames.holdout_window,
        "sahab.holdout.sha256": frames.holdout_sha256,
    }
    config = {"training": spec.training.config, "overrides": run.overrides, "key": run.key}
    with tracking.training_run(
        spec.name, config, data_sha256=frames.data_sha256, feature_views=frames.feature_views, run_name=run.key, tags=run_tags, settings=run.settings
    ) as mlrun:
        outcome = run_training(
            run.project,
            frames,
            overrides=run.overrides,
            resume=run.resume,
            checkpoint_uri=storage.join(checkpoint_root(run.project, run.home, run.checkpoint_uri), run.key),
            log=run.log,
            on_metrics=mlrun.log_metrics if mlrun is not None else None,
        )
        if outcome.interrupted:
            if mlrun is not None:
                mlrun.interrupted = True
                mlrun.set_tags({"sahab.interrupted_at_step": str(outcome.step)})
            run.log(f"interrupted at step {outcome.step}: run again with --key {run.key} --resume (the frozen frames and the checkpoint are kept)")
            raise StepInterrupted(f"{spec.name}: training of run {run.key} stopped at step {outcome.step} after a checkpoint", outcome.step)
        if mlrun is None:
            raise Follower(outcome.step)
        native = out / NATIVE
        save_native(spec.training.framework, outcome.model, native)
        (native / ENCODING_FILE).write_text(outcome.encoding.to_json())
        outcome.validation.frame.to_parquet(native / VALIDATION_FILE, index=False)
        run.keep_local("train", out)
        values = {"run_id": mlrun.run_id, "step": outcome.step, "validation_metrics": outcome.validation_metrics}
    return values, {"key": run.key}


# --- export ---


def _export_inputs(run: PipelineRun) -> Values:
    from workloads.export import ExportConfig

    return {
        "code": code_fingerprint(),
        "spec": _spec(run, "name", "label", "features", "training", "evaluation"),
        "config": ExportConfig().model_dump(mode="json"),
        "train": run.record("train").outputs_hash,
    }


def native_model(run: PipelineRun) -> tuple[Any, Any, Any]:
    """(model, encoding, validation split) the train step stored."""
    import pandas as pd

    from workloads.export.native import load_native
    from workloads.features.encoding import FeatureSpec
    from workloads.training.runtime import make_split

    native = run.files("train") / NATIVE
    encoding = FeatureSpec.from_json((native / ENCODING_FILE).read_text())
    return load_native(run.project, native), encoding, make_split(run.project, pd.read_parquet(native / VALIDATION_FILE), encoding)


def _export(run: PipelineRun, inputs: Values, out: Path) -> tuple[Values, Values]:
    from workloads.export import ParityError, export_model
    from workloads.registry import tracking
    from workloads.registry.client import INT8_ONNX

    model, encoding, sample = native_model(run)
    run_id = str(run.record("train").values["run_id"])
    onnx_dir = out / ONNX
    try:
        report = export_model(run.project, model, encoding, sample, onnx_dir, log=run.log)
    except ParityError as exc:
        tracking.set_tags(run_id, {"sahab.export.refused": str(exc)[:5000]}, settings=run.settings)
        raise
    tracking.log_artifacts(run_id, onnx_dir, ONNX, settings=run.settings)
    step = int(run.record("train").values.get("step", 0))
    tracking.log_metrics(run_id, step, report.metrics(), settings=run.settings)
    run.keep_local("export", out)
    return {"metrics": report.metrics(), "int8": (onnx_dir / INT8_ONNX).is_file()}, {}


# --- evaluate ---


def champion_of(run: PipelineRun) -> dict[str, str] | None:
    """The champion's version and its fp32 graph's sha256 (from its tags), or None without one."""
    from workloads.registry.client import CHAMPION, FP32_ONNX, _alias_version, mlflow_client, sha_tag

    try:
        mv = _alias_version(mlflow_client(run.settings), run.settings.model_name or run.spec.name, CHAMPION)
    except Exception as exc:  # noqa: BLE001 (the registry unreachable is not "no champion": say so and stop)
        raise SahabError(f"{run.spec.name}: cannot ask the registry for the champion ({exc}). Fix: check SAHAB_MLFLOW_TRACKING_URI") from None
    if mv is None:
        return None
    return {"version": str(mv.version), "fp32_sha256": str((mv.tags or {}).get(sha_tag(FP32_ONNX), ""))}


def _evaluate_inputs(run: PipelineRun) -> Values:
    from workloads.registry.client import FP32_ONNX

    export = run.record("export")
    champion = champion_of(run)
    if champion is not None and champion["fp32_sha256"] == export.files.get(f"{ONNX}/{FP32_ONNX}"):
        # The champion is this very graph (an earlier run of the same inputs registered it): judging a
        # model against itself proves nothing, and registering it again would start an A/B of twins.
        run.log(f"evaluate: the champion v{champion['version']} is this run's own graph; judged as when it was registered")
        champion = None
    return {
        "code": code_fingerprint(),
        "spec": _spec(run, "name", "label", "features", "evaluation", "monitoring"),
        "training_set": run.record("training-set").outputs_hash,
        "export": export.outputs_hash,
        "champion": champion,
    }


def holdout_scores(run: PipelineRun, onnx_dir: Path, encoding: Any, frame: Any) -> tuple[dict[str, float], Any]:
    """The exported graph's metrics on `frame`, and its predictions."""
    from workloads.evaluation import metrics, predict_onnx
    from workloads.features.encoding import encode_labels
    from workloads.registry.client import FP32_ONNX

    predictions = predict_onnx(onnx_dir / FP32_ONNX, encoding, frame)
    return metrics(run.spec, encode_labels(frame[run.spec.label.column], run.spec), predictions), predictions


def _evaluate(run: PipelineRun, inputs: Values, out: Path) -> tuple[Values, Values]:
    from workloads.evaluation import holdout_metrics, judge
    from workloads.features.encoding import FeatureSpec
    from workloads.monitoring.reference import REFERENCE_ARTIFACT, REFERENCE_PROFILE, TAG_REFERENCE, build_reference
    from workloads.registry import tracking
    from workloads.registry.client import CHAMPION, sha256_file, sha_tag, verify
    from workloads.registry.client import resolve as resolve_alias

    frames = run.frames()
    onnx_dir = run.files("export") / ONNX
    encoding = FeatureSpec.from_json((onnx_dir / ENCODING_FILE).read_text())
    holdout, _ = holdout_scores(run, onnx_dir, encoding, frames.holdout)
    champion_version, champion = None, None
    if inputs["champion"] is not None:
        current = resolve_alias(CHAMPION, name=run.spec.name, dst=run.scratch / "champion", settings=run.settings)
        verify(current)
        champion_version, champion = current.version, holdout_metrics(current, run.spec, frames.holdout)
    gate = judge(run.project, holdout, champion)
    run_id = str(run.record("train").values["run_id"])
    step = int(run.record("train").values.get("step", 0))
    tracking.log_metrics(run_id, step, {f"holdout_{k}": v for k, v in holdout.items()}, settings=run.settings)
    if champion is not None:
        tracking.log_metrics(run_id, step, {f"holdout_champion_{k}": v for k, v in champion.items()}, settings=run.settings)
    # The drift job's reference (workloads/monitoring/reference.py): the training rows' features and the
    # new version's own scores on them (seasonal, the key as the unit: monitoring's own builder).
    _, predictions = holdout_scores(run, onnx_dir, encoding, frames.train)
    folder = out / MONITORING
    folder.mkdir(parents=True)
    build_reference(run.project, frames.train, predictions, meta={"run_id": run_id, "data_sha256": frames.data_sha256}).save(folder / REFERENCE_PROFILE)
    tracking.log_artifacts(run_id, folder, MONITORING, settings=run.settings)
    reference_tags = {TAG_REFERENCE: REFERENCE_ARTIFACT, sha_tag(REFERENCE_PROFILE): sha256_file(folder / REFERENCE_PROFILE)}
    values = {"holdout": holdout, "champion_version": champion_version, "champion": champion, "gate": gate.to_dict(), "reference_tags": reference_tags}
    return values, {}


# --- register ---


def _register_inputs(run: PipelineRun) -> Values:
    return {
        "code": code_fingerprint(),
        "spec": _spec(run, "name", "evaluation"),
        "upstream": {name: run.record(name).outputs_hash for name in ("training-set", "train", "export", "evaluate")},
        "alias": run.alias,
        "model": run.settings.model_name or run.spec.name,
    }


def gate_result(values: Values) -> Any:
    """The evaluate step's gate as a workloads.evaluation.GateResult."""
    from workloads.evaluation import GateCheck, GateResult

    gate = values["gate"]
    return GateResult(bool(gate["passed"]), tuple(GateCheck(**c) for c in gate["checks"]))


def _register(run: PipelineRun, inputs: Values, out: Path) -> tuple[Values, Values]:
    from workloads.registry.client import CHALLENGER, CHAMPION, VersionRecord, register_version
    from workloads.serving.evaluator import QUEUED_TAG, experiment_running

    training_set, evaluated = run.record("training-set").values, run.record("evaluate").values
    gate = gate_result(evaluated)
    version_tags = {
        **run.tags,
        "sahab.training.window": "/".join(training_set["training_window"]),
        "sahab.holdout.window": "/".join(training_set["holdout_window"]),
        "sahab.holdout.sha256": training_set["holdout_sha256"],
        TAG_GATE_RESULT: "passed" if gate.passed else "failed",
        TAG_GATE_CHECKS: json.dumps(gate.to_dict()["checks"], sort_keys=True),
        **evaluated["reference_tags"],
        **run.lineage_tags(),
    }
    status = "registered"
    if not gate.passed:
        chosen, status = None, "gate_failed"
    elif evaluated["champion_version"] is None:
        chosen = CHAMPION
    elif run.alias == CHALLENGER and experiment_running(run.project, sahab=run.settings):
        chosen, status = None, "queued"
        version_tags[QUEUED_TAG] = "true"
    else:
        chosen = run.alias
    record = VersionRecord(
        data_sha256=training_set["data_sha256"],
        training_window="/".join(training_set["training_window"]),
        holdout_window="/".join(training_set["holdout_window"]),
        holdout_sha256=training_set["holdout_sha256"],
        holdout_metrics=evaluated["holdout"],
        champion_metrics=evaluated["champion"],
        champion_version=evaluated["champion_version"],
    )
    privacy = run.repo.labels.privacy
    if privacy is not None:  # which key made the tokens this version was trained on (issue 22: a rotation shows)
        version_tags["sahab.privacy.key_version"] = str(privacy.key_version)
    run_id = str(run.record("train").values["run_id"])
    version = register_version(run_id, run.files("export") / ONNX, name=run.project, record=record, alias=chosen, tags=version_tags, settings=run.settings)
    explained = _explain_version(run, run_id, version)
    return {"version": version, "alias": chosen, "status": status}, {"key": run.key, **explained}


def _explain_version(run: PipelineRun, run_id: str, version: str) -> Values:
    """Global importance over the common holdout, logged on the run, and the version's model card
    (workloads/explain/importance.py, card.py; issue 22)."""
    from workloads.explain.card import ARTIFACT_DIR, ARTIFACT_FILE, write_card
    from workloads.explain.importance import holdout_importance, log_importance
    from workloads.export.native import load_native
    from workloads.features.encoding import FeatureSpec

    native = run.files("train") / NATIVE
    encoding = FeatureSpec.from_json((native / ENCODING_FILE).read_text())
    importance = holdout_importance(run.project, load_native(run.project, native), encoding, run.frames().holdout)
    log_importance(run_id, importance, settings=run.settings)
    write_card(run.project, version, run.settings)
    return {"importance": importance.method or importance.unavailable, "card": f"{ARTIFACT_DIR}/{ARTIFACT_FILE}"}


def _register_valid(run: PipelineRun, record: StepRecord) -> bool:
    """A cached registration holds while its version is still in the registry."""
    from workloads.registry.client import mlflow_client

    try:
        mlflow_client(run.settings).get_model_version(run.settings.model_name or run.spec.name, str(record.values["version"]))
    except Exception:  # noqa: BLE001 (deleted, or never there: register again)
        return False
    return True


STEPS: dict[str, Step] = {
    "ingest": Step("ingest", _ingest_inputs, _ingest, fixed_point=_ingest_fixed_point),
    "training-set": Step("training-set", _training_set_inputs, _training_set, valid=_training_set_valid, on_hit=_training_set_on_hit),
    "train": Step("train", _train_inputs, _train),
    "export": Step("export", _export_inputs, _export),
    "evaluate": Step("evaluate", _evaluate_inputs, _evaluate),
    "register": Step("register", _register_inputs, _register, valid=_register_valid),
}
