"""`python -m workloads.training`: train the transaction-risk model and log it to MLflow.

Exit status: 0 done, 2 bad config, 143 stopped by SIGTERM after writing a checkpoint (run the
same command with --resume to continue; a Kubernetes Job with restarts does exactly that).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from workloads.settings import SahabSettings, TrainJobSettings, run_cli

EXIT_INTERRUPTED = 143


def parse_overrides(items: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE, e.g. --set optim.lr=0.01")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw  # plain strings need no quotes
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workloads.training",
        description="Train the transaction-risk model (plain PyTorch, or DeepSpeed with deepspeed.enabled=true). "
        "Environment: SAHAB_TRAIN_CONFIG, SAHAB_TRAIN_CHECKPOINT_URI, SAHAB_TRAIN_DATA_PATH, "
        "SAHAB_HOME, SAHAB_MLFLOW_TRACKING_URI, SAHAB_MLFLOW_ARTIFACT_LOCATION.",
    )
    p.add_argument("--config", type=Path, help="JSON or YAML training config (default: SAHAB_TRAIN_CONFIG, else defaults)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, dotted (repeatable): --set model.kind=transformer",
    )
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in checkpoint.uri")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    p.add_argument("--print-config", action="store_true", help="print the validated config (and DeepSpeed JSON) and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    job = TrainJobSettings()
    overrides = parse_overrides(args.overrides)
    if job.checkpoint_uri:
        overrides.setdefault("checkpoint.uri", job.checkpoint_uri)
    if job.data_path:
        overrides.setdefault("data.source", "parquet")
        overrides.setdefault("data.path", job.data_path)

    from workloads.training.config import TrainConfig, apply_overrides, deepspeed_json, validate_deepspeed_json

    path = args.config or job.config
    cfg = TrainConfig.from_file(path, overrides) if path else TrainConfig.model_validate(apply_overrides({}, overrides))
    if cfg.deepspeed.enabled:
        validate_deepspeed_json(deepspeed_json(cfg))
    if args.print_config:
        print(cfg.model_dump_json(indent=2))
        if cfg.deepspeed.enabled:
            print(json.dumps(deepspeed_json(cfg), indent=2))
        return 0

    from workloads.training.data import prepare
    from workloads.training.data_source import load_frame
    from workloads.training.trainer import save_model_bundle, train

    frame, views = load_frame(cfg.data)
    data = prepare(frame, cfg.data.val_fraction, feature_views=views)
    print(f"data: {len(data.train)} train / {len(data.val)} validation rows, snapshot {data.snapshot_sha256[:12]}", flush=True)
    settings = SahabSettings()
    run_id = None
    if not args.no_track:
        from workloads.registry import tracking  # MLflow is imported only when it is used

        run_id = tracking.start_run(cfg.model_dump(mode="json"), data_sha256=data.snapshot_sha256, feature_views=data.feature_views, settings=settings)
        print(f"mlflow run {run_id} at {settings.tracking_uri()}", flush=True)

    def log_metrics(step: int, metrics: dict[str, float]) -> None:
        if run_id:
            tracking.log_metrics(run_id, step, metrics, settings=settings)

    try:
        result = train(cfg, data, resume=args.resume, on_metrics=log_metrics, log=lambda s: print(s, flush=True))
    except BaseException:
        if run_id:
            tracking.end_run(run_id, "FAILED", settings=settings)
        raise
    if result.interrupted:
        if run_id:
            tracking.set_tags(run_id, {"sahab.interrupted_at_step": str(result.step)}, settings=settings)
            tracking.end_run(run_id, "KILLED", settings=settings)
        return EXIT_INTERRUPTED
    if run_id:
        with tempfile.TemporaryDirectory() as tmp:
            save_model_bundle(Path(tmp) / "model.pt", result.model, cfg, data.spec)
            tracking.log_artifacts(run_id, Path(tmp), "torch", settings=settings)
        tracking.end_run(run_id, settings=settings)
        print(f"run_id={run_id}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
