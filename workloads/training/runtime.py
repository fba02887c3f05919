"""The training runtime: one call from a project and its frozen training frame to a fitted model.

    outcome = run_training(project, frame, overrides={"steps": 50}, checkpoint_uri=uri, resume=True)
    if outcome.interrupted: exit 143            # the retry resumes on the same frame
    export_model(project, outcome.model, outcome.encoding, outcome.validation, out_dir)

What it does, in order:
1. checks the frame against the project (timestamp, label and every feature present), sorts it by
   event time and splits it: the newest `training.val_fraction` validates (out of time), the rest
   trains; the content hash of the frame (`data_sha256`) identifies the data in checkpoints and
   lineage;
2. fits the encoding on the train split only and encodes both splits and their labels;
3. joins the ranks when it runs under a launcher (RANK / WORLD_SIZE from torchrun or
   `workloads.training.launch`): a process group (gloo on CPU, NCCL on GPUs) for torch projects;
   the other frameworks train in one process;
4. builds the `TrainContext` (workloads/project/context.py): the config with the run's overrides,
   both splits, the encoding, the seed and device, a checkpoint hook over the checkpoint store
   (`checkpoint_uri`: a path, s3:// or abfss://) that refuses a resume on another config or
   other data, metric logging (rank 0 only) and the stop flag: SIGTERM, all-reduced over ranks so
   every rank stops at the same step;
5. calls the team's function (`training.entry_point`, imported from the project folder; when it
   carries a `config_model`, a pydantic model, the config is validated by it first, so a bad
   field fails before any data is read, and the function gets the complete config), turns
   `Interrupted` into `interrupted=True`, and checks what came back (framework and task; a wrong
   kind is a ProjectError naming project.yaml and what was returned);
6. scores the validation split with the model's own predictions (`val_<metric>` for every metric
   of the task, workloads/evaluation.py) and hands them to `on_metrics` (rank 0).

The MLflow run around a training is the caller's (`workloads.registry.tracking.training_run`
opens it on rank 0 only, so several ranks make one run).
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workloads.errors import SahabError
from workloads.evaluation import metrics
from workloads.features.encoding import EncodingError, FeatureSpec, encode, encode_labels
from workloads.project.context import Interrupted, Split, TrainContext
from workloads.training.frameworks import check_model, predict_native

if TYPE_CHECKING:
    from workloads.project.project import Project

Log = Callable[[str], None]
OnMetrics = Callable[[int, dict[str, float]], None]
KEEP_LAST = 2


class TrainingDataError(SahabError, ValueError):
    """A training frame the project cannot train on; the message names the column or the rows."""


@dataclass(frozen=True)
class TrainOutcome:
    model: Any
    """The fitted model (None when interrupted)."""
    encoding: FeatureSpec
    validation_metrics: dict[str, float]
    """`val_<metric>` for every metric of the task, on the validation split ({} when interrupted)."""
    interrupted: bool
    step: int
    """The last step the function checkpointed or logged (0 for a function that reports none)."""
    train: Split
    validation: Split
    data_sha256: str
    rank: int = 0
    world_size: int = 1
    history: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    """Every (step, metrics) the run logged, in order."""


# --- the frame ---


def training_columns(project: Project) -> list[str]:
    spec = project.spec
    return [spec.timestamp, *spec.feature_names, spec.label.column]


def frame_sha256(df: pd.DataFrame) -> str:
    """Content hash of a frame, independent of its index and of how it was stored."""
    digest = hashlib.sha256()
    digest.update(repr([(c, str(t)) for c, t in df.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _training_frame(frames: Any) -> pd.DataFrame:
    if isinstance(frames, pd.DataFrame):
        return frames
    for name in ("training", "train"):
        frame = getattr(frames, name, None)
        if isinstance(frame, pd.DataFrame):
            return frame
    raise TypeError(f"run_training takes the training frame (a DataFrame) or an object with a `.training` DataFrame, got {type(frames).__name__}")


def prepare_frame(project: Project, frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The project's columns (entity key first when present) sorted by event time, and their hash."""
    spec = project.spec
    missing = [c for c in training_columns(project) if c not in frame.columns]
    if missing:
        raise TrainingDataError(
            f"training frame: columns {missing} are missing (project {spec.name}, {project.file}); it has {list(frame.columns)}. "
            "Fix: build the frame from the project's feature store, or correct the column names in project.yaml"
        )
    if frame.empty:
        raise TrainingDataError(f"training frame: no rows to train {spec.name} on (are there labels in the training window?)")
    columns = ([spec.entity.key] if spec.entity.key in frame.columns else []) + training_columns(project)
    out = frame[columns].sort_values(spec.timestamp, kind="stable").reset_index(drop=True)
    return out, frame_sha256(out)


def split_by_time(df: pd.DataFrame, timestamp: str, val_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Oldest rows train, newest `val_fraction` validate: the model is judged on its future."""
    df = df.sort_values(timestamp, kind="stable").reset_index(drop=True)
    cut = int(round(len(df) * (1.0 - val_fraction)))
    if cut < 1 or cut >= len(df):
        raise TrainingDataError(f"training.val_fraction {val_fraction} leaves an empty split of {len(df)} rows; give more rows")
    return df.iloc[:cut].reset_index(drop=True), df.iloc[cut:].reset_index(drop=True)


def make_split(project: Project, frame: pd.DataFrame, encoding: FeatureSpec) -> Split:
    numeric, categorical = encode(frame, encoding)
    try:
        y = encode_labels(frame[project.spec.label.column], project.spec)
    except EncodingError as exc:
        raise TrainingDataError(f"{exc} ({project.file})") from None
    return Split(frame, numeric, categorical, y)


def prepare_splits(project: Project, frame: pd.DataFrame) -> tuple[FeatureSpec, Split, Split, str]:
    """(encoding fitted on train, train split, validation split, data sha256)."""
    spec = project.spec
    ordered, sha = prepare_frame(project, frame)
    train_df, val_df = split_by_time(ordered, spec.timestamp, spec.training.val_fraction)
    encoding = FeatureSpec.fit(train_df, spec)
    train, validation = make_split(project, train_df, encoding), make_split(project, val_df, encoding)
    if spec.label.task == "binary" and len(np.unique(train.y)) < 2:
        raise TrainingDataError(f"label {spec.label.column!r}: the {len(train)} training rows hold one class only; give a longer training window")
    return encoding, train, validation, sha


# --- ranks and signals ---


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of ranks (RANK / WORLD_SIZE, set by the launchers)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def join_ranks(world_size: int, device: str) -> None:
    """Start the process group of a multi-rank run (env://: MASTER_ADDR / MASTER_PORT)."""
    import torch
    import torch.distributed as dist

    if world_size > 1 and not dist.is_initialized():
        if device == "cuda":  # each rank on its own GPU before NCCL binds one
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl" if device == "cuda" else "gloo")


@contextmanager
def stop_on_sigterm() -> Iterator[threading.Event]:
    """An event set by SIGTERM (a spot interruption notice or `kubectl delete pod`)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop  # signal handlers can only be installed from the main thread
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGTERM, previous)


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested dict (a deep copy); unknown keys are left for the function's
    own config validation to reject."""
    import copy

    out = copy.deepcopy(dict(data))
    for dotted, value in overrides.items():
        node = out
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {dotted!r}: {key!r} is not a section of training.config")
        node[leaf] = value
    return out


def _pick_device(project: Project, device: str | None) -> str:
    if device is not None:
        return device
    if project.spec.training.framework != "torch":
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# --- the run ---


def run_training(
    project: Project,
    frames: Any,
    *,
    overrides: Mapping[str, Any] | None = None,
    resume: bool = False,
    checkpoint_uri: str | None = None,
    log: Log = print,
    on_metrics: OnMetrics | None = None,
    device: str | None = None,
    keep_last: int = KEEP_LAST,
    checkpoint_client: Any = None,
) -> TrainOutcome:
    """Train the project's model on `frames` (the training frame, or an object with a `.training`
    frame): see the module docstring. `checkpoint_client` is a boto3 client for s3:// (tests)."""
    from workloads.training.checkpoint import Checkpointer, Distributed, NoCheckpoints, StoreHook, open_store

    spec = project.spec
    function = project.entry_point(spec.training.entry_point)
    config = apply_overrides(spec.training.config, overrides or {})
    config_model = getattr(function, "config_model", None)
    if config_model is not None:  # the function declares its config: a bad field fails before any data is read
        config = config_model.model_validate(config).model_dump(mode="json")
    encoding, train, validation, sha = prepare_splits(project, _training_frame(frames))
    rank, world = rank_and_world()
    device = _pick_device(project, device)
    if world > 1:
        if spec.training.framework != "torch":
            raise SahabError(
                f"training.framework {spec.training.framework!r} trains in one process, but this run has {world} ranks "
                f"({project.file}). Fix: run it without the launcher (--nproc 1)"
            )
        join_ranks(world, device)
    distributed = Distributed(rank, world)
    every = spec.training.checkpoint_every_steps
    if checkpoint_uri:
        checkpointer = Checkpointer(open_store(checkpoint_uri, checkpoint_client), distributed, config=config, data_sha256=sha, keep_last=keep_last)
        hook: StoreHook | NoCheckpoints = StoreHook(checkpointer, every)
    elif resume:
        raise SahabError("--resume needs a checkpoint URI (where the interrupted run saved its checkpoints): --checkpoint-uri or SAHAB_TRAIN_CHECKPOINT_URI")
    else:
        hook = NoCheckpoints(every)
    history: list[tuple[int, dict[str, float]]] = []

    def log_metrics(step: int, values: Mapping[str, float]) -> None:
        history.append((step, dict(values)))
        if on_metrics is not None:
            on_metrics(step, dict(values))

    if rank == 0:
        log(
            f"training {spec.name} ({spec.training.framework}, {spec.label.task}): {len(train)} train / {len(validation)} validation rows, "
            f"data {sha[:12]}" + (f", {world} ranks" if world > 1 else "")
        )
    with stop_on_sigterm() as stop:
        ctx = TrainContext(
            project=spec,
            config=config,
            train=train,
            validation=validation,
            features=encoding,
            seed=spec.training.seed,
            device=device,
            checkpoint=hook,
            resume=resume,
            rank=rank,
            world_size=world,
            _log_metrics=log_metrics,
            _progress=log,
            _should_stop=lambda: distributed.any(stop.is_set(), device),
        )
        try:
            model = function(ctx)
        except Interrupted:
            step = hook.last_step or 0
            return TrainOutcome(None, encoding, {}, True, step, train, validation, sha, rank, world, history)
    model = check_model(project, model, validation)
    predictions = predict_native(spec.label.task, model, validation.numeric, validation.categorical, tuple(spec.label.classes))
    values = {f"val_{k}": v for k, v in metrics(spec, validation.y, predictions).items()}
    step = max([hook.last_step or 0, *(s for s, _ in history)])
    if rank == 0 and not any(s == step and m == values for s, m in history):  # tabular logs the same at its end
        log_metrics(step, values)
    return TrainOutcome(model, encoding, values, False, step, train, validation, sha, rank, world, history)
