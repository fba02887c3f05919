"""The whole local workflow in one call, for tests, demos and the serving engineer's fixtures:
generate -> features (Feast, local) -> train -> export (ONNX, parity, int8) -> log + register ->
promote. The Kubernetes Jobs run the same steps through the three CLIs.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import torch

from workloads.data.generator import generate
from workloads.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES, TIMESTAMP
from workloads.export.onnx import ExportConfig, ExportReport, export_all
from workloads.features.store import FeatureRepo
from workloads.monitoring.profile import ReferenceProfile
from workloads.registry import tracking
from workloads.registry.client import (
    CHALLENGER,
    PromotionGate,
    ResolvedModel,
    promote,
    register_version,
    resolve,
    sha256_file,
    sha_tag,
    verify,
)
from workloads.settings import FeatureStoreSettings, SahabSettings
from workloads.training.config import TrainConfig
from workloads.training.data import TrainingData, prepare
from workloads.training.trainer import TrainResult, save_model_bundle, train

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    version: str
    result: TrainResult
    export: ExportReport


def local_settings(home: Path) -> SahabSettings:
    """Local-mode settings under `home`, whatever SAHAB_* variables the caller's shell holds."""
    return SahabSettings(home=Path(home), mlflow_tracking_uri=None, mlflow_artifact_location=None)


def build_features(home: Path, *, rows: int, seed: int, log: Log = print) -> tuple[FeatureRepo, TrainingData]:
    """Generate data, load it into the local Feast repo, materialize it, and return the
    point-in-time training set (split and encoded)."""
    df = generate(rows, seed=seed)
    repo = FeatureRepo(home, FeatureStoreSettings(mode="local"))
    repo.write_source(df)
    repo.apply()
    training_set = repo.training_set()
    repo.materialize(df[TIMESTAMP].min().to_pydatetime(), df[TIMESTAMP].max().to_pydatetime() + timedelta(seconds=1))
    log(f"features: {len(training_set)} rows from Feast, views {repo.versions()}")
    return repo, prepare(training_set, 0.2, feature_views=repo.versions())


def train_and_register(
    cfg: TrainConfig,
    data: TrainingData,
    *,
    settings: SahabSettings,
    export: ExportConfig | None = None,
    alias: str | None = CHALLENGER,
    log: Log = print,
) -> RunOutcome:
    """Train, export, log everything to one MLflow run and register it as a new version."""
    run_id = tracking.start_run(
        cfg.model_dump(mode="json"), data_sha256=data.snapshot_sha256, feature_views=data.feature_views,
        run_name=f"{cfg.model.kind}-seed{cfg.seed}", settings=settings,
    )
    try:
        result = train(cfg, data, log=log,
                       on_metrics=lambda step, m: tracking.log_metrics(run_id, step, m, settings=settings))
        with tempfile.TemporaryDirectory() as tmp:
            bundle = Path(tmp) / "torch"
            bundle.mkdir()
            save_model_bundle(bundle / "model.pt", result.model, cfg, data.spec)
            tracking.log_artifacts(run_id, bundle, "torch", settings=settings)
            out = Path(tmp) / "onnx"
            report = export_all(result.model, data.spec, data.val, out, export)
            tracking.log_metrics(run_id, result.step, report.metrics(), settings=settings)
            tracking.log_artifacts(run_id, out, "onnx", settings=settings)
            reference_tags = {}
            if data.train_frame is not None:
                monitoring = Path(tmp) / "monitoring"
                monitoring.mkdir()
                reference = monitoring / REFERENCE_PROFILE
                _reference_profile(result.model, data, {"run_id": run_id, "data_sha256": data.snapshot_sha256}).save(reference)
                tracking.log_artifacts(run_id, monitoring, "monitoring", settings=settings)
                reference_tags = {TAG_REFERENCE: f"monitoring/{REFERENCE_PROFILE}", sha_tag(REFERENCE_PROFILE): sha256_file(reference)}
            version = register_version(run_id, out, alias=alias, settings=settings,
                                       tags={"sahab.data.sha256": data.snapshot_sha256, **reference_tags})
    except BaseException:
        tracking.end_run(run_id, "FAILED", settings=settings)
        raise
    tracking.end_run(run_id, settings=settings)
    log(f"registered {settings.model_name} v{version} (run {run_id}): parity {report.parity_max_abs_diff:.2e}, "
        f"int8 AUC delta {report.int8_auc_delta_points:+.3f} points")
    return RunOutcome(run_id, version, result, report)


REFERENCE_PROFILE = "reference.npz"
TAG_REFERENCE = "sahab.drift.reference"


@torch.no_grad()
def _reference_profile(model: torch.nn.Module, data: TrainingData, meta: dict[str, str]) -> ReferenceProfile:
    """The drift job's reference: the training rows' features plus the model's own scores on them,
    so live scores are compared with what the model produced on the data it learned from."""
    model.eval()
    scores = torch.sigmoid(model(data.train.numeric, data.train.categorical)).float().numpy()
    frame = data.train_frame.assign(score=scores)
    return ReferenceProfile.fit(frame, [*NUMERIC_FEATURES, "score"], list(CATEGORICAL_FEATURES), meta=meta)


def run_local_pipeline(
    home: Path,
    *,
    seed: int = 0,
    rows: int = 20_000,
    steps: int = 200,
    challenger: bool = False,
    gate: PromotionGate | None = None,
    log: Log = print,
) -> ResolvedModel:
    """Run the whole workflow under `home` and return the verified `champion`.

    The first version is promoted to `champion` through the gate; with `challenger=True` a second
    version (another seed) is registered under the `challenger` alias and left unpromoted.
    """
    home = Path(home)
    settings = local_settings(home)
    torch.set_num_threads(min(2, torch.get_num_threads()))  # a good neighbour on shared machines
    _, data = build_features(home, rows=rows, seed=seed, log=log)
    cfg = TrainConfig.model_validate(
        {"seed": seed, "steps": steps, "eval_every": steps, "log_every": max(1, steps // 4),
         "optim": {"warmup_steps": min(20, steps - 1)}}
    )
    train_and_register(cfg, data, settings=settings, log=log)
    promote(gate=gate, settings=settings)
    if challenger:
        train_and_register(cfg.model_copy(update={"seed": seed + 1}), data, settings=settings, log=log)
    resolved = resolve("champion", settings=settings)
    verify(resolved)
    return resolved
