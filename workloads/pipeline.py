"""The ML workflow: the whole local run in one call (tests, demos, serving fixtures) and the
retraining the drift job starts.

    python -m workloads.pipeline retrain [--days 14] [--config train.yaml] [--set steps=300] [--resume]

`retrain` builds a fresh point-in-time training set from the feature store (Feast
`get_historical_features` over the stored labels), trains, exports (ONNX, parity, int8), logs the
drift reference profile and registers the result as a new version under the alias `challenger`;
serving picks the challenger up and the A/B evaluator decides. The same command runs on one
machine (`SAHAB_DRIFT_RETRAIN_COMMAND`, `sahab local`) and in the cluster's `retrain` Job.
Exit status: 0 registered, 2 bad settings or data, 143 stopped by SIGTERM after a checkpoint
(run it again with --resume).
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
from workloads.monitoring.reference import REFERENCE_ARTIFACT, REFERENCE_PROFILE, TAG_REFERENCE
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
    tags: dict[str, str] | None = None,
    resume: bool = False,
    log: Log = print,
) -> RunOutcome | None:
    """Train, export, log everything to one MLflow run and register it as a new version.

    None when training was stopped by SIGTERM (the run is marked KILLED, nothing is registered)."""
    run_id = tracking.start_run(
        cfg.model_dump(mode="json"),
        data_sha256=data.snapshot_sha256,
        feature_views=data.feature_views,
        run_name=f"{cfg.model.kind}-seed{cfg.seed}",
        settings=settings,
    )
    try:
        result = train(cfg, data, log=log, resume=resume, on_metrics=lambda step, m: tracking.log_metrics(run_id, step, m, settings=settings))
        if result.interrupted:
            tracking.set_tags(run_id, {"sahab.interrupted_at_step": str(result.step)}, settings=settings)
            tracking.end_run(run_id, "KILLED", settings=settings)
            return None
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
                reference_tags = {TAG_REFERENCE: REFERENCE_ARTIFACT, sha_tag(REFERENCE_PROFILE): sha256_file(reference)}
            version = register_version(
                run_id, out, alias=alias, settings=settings, tags={"sahab.data.sha256": data.snapshot_sha256, **reference_tags, **(tags or {})}
            )
    except BaseException:
        tracking.end_run(run_id, "FAILED", settings=settings)
        raise
    tracking.end_run(run_id, settings=settings)
    log(
        f"registered {settings.model_name} v{version} (run {run_id}): parity {report.parity_max_abs_diff:.2e}, "
        f"int8 AUC delta {report.int8_auc_delta_points:+.3f} points"
    )
    return RunOutcome(run_id, version, result, report)


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
        {"seed": seed, "steps": steps, "eval_every": steps, "log_every": max(1, steps // 4), "optim": {"warmup_steps": min(20, steps - 1)}}
    )
    train_and_register(cfg, data, settings=settings, log=log)
    promote(gate=gate, settings=settings)
    if challenger:
        train_and_register(cfg.model_copy(update={"seed": seed + 1}), data, settings=settings, log=log)
    resolved = resolve("champion", settings=settings)
    verify(resolved)
    return resolved


EXIT_INTERRUPTED = 143


def retraining_set(repo: FeatureRepo, days: float | None, log: Log = print):
    """The point-in-time training set over the stored labels (the last `days` of them when given)."""
    import pandas as pd

    labels = repo.labels()
    if labels.empty:
        raise ValueError("the feature store holds no labels to train on (write them with `python -m workloads.features generate`)")
    if days:
        ts = pd.to_datetime(labels[TIMESTAMP], utc=True)
        labels = labels[ts >= ts.max() - pd.Timedelta(days=days)].reset_index(drop=True)
    frame = repo.training_set(labels)
    log(f"retrain: {len(frame)} rows from Feast get_historical_features, {frame[TIMESTAMP].min()} .. {frame[TIMESTAMP].max()}, views {repo.versions()}")
    return frame


def retrain(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import os

    from workloads.settings import TrainJobSettings
    from workloads.training.__main__ import parse_overrides
    from workloads.training.config import apply_overrides

    p = argparse.ArgumentParser(prog="python -m workloads.pipeline retrain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--days", type=float, help="train on the labels of the last DAYS days (default: all)")
    p.add_argument("--config", type=Path, help="training config (default: SAHAB_TRAIN_CONFIG, else defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--alias", default=CHALLENGER, help="alias of the new version (default: challenger)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint (checkpoint.uri)")
    args = p.parse_args(argv)
    settings, job = SahabSettings(), TrainJobSettings()
    overrides = parse_overrides(args.overrides)
    if job.checkpoint_uri:
        overrides.setdefault("checkpoint.uri", job.checkpoint_uri)
    path = args.config or job.config
    cfg = TrainConfig.from_file(path, overrides) if path else TrainConfig.model_validate(apply_overrides({}, overrides))
    repo = FeatureRepo(settings.home, FeatureStoreSettings())
    data = prepare(retraining_set(repo, args.days), cfg.data.val_fraction, feature_views=repo.versions())
    tags = {
        "sahab.retrain.reason": os.environ.get("SAHAB_RETRAIN_REASON", "manual"),
        "sahab.retrain.key": os.environ.get("SAHAB_RETRAIN_KEY", ""),
        "sahab.retrain.windows": os.environ.get("SAHAB_RETRAIN_WINDOWS", "")[:5000],
    }

    def log(line: str) -> None:
        print(line, flush=True)

    if int(os.environ.get("RANK", "0")) != 0:
        # Under the DeepSpeed launcher the other ranks train with rank 0, which alone registers.
        result = train(cfg, data, resume=args.resume, log=lambda line: None)
        return EXIT_INTERRUPTED if result.interrupted else 0
    outcome = train_and_register(cfg, data, settings=settings, alias=args.alias, tags=tags, resume=args.resume, log=log)
    if outcome is None:
        return EXIT_INTERRUPTED
    print(
        json.dumps(
            {
                "model": settings.model_name,
                "version": outcome.version,
                "run_id": outcome.run_id,
                "alias": args.alias,
                "rows": len(data.train) + len(data.val),
                **tags,
            }
        ),
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "retrain":
        print("usage: python -m workloads.pipeline retrain [--help]", file=sys.stderr)
        return 2
    return retrain(argv[1:])


if __name__ == "__main__":
    import sys

    from workloads.settings import run_cli

    sys.exit(run_cli(main))
