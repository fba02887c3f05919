"""`python -m workloads.training`: one training of a project on a frozen training set, logged to MLflow.

    python -m workloads.training --project projects/<name> --data training-set.parquet \
        [--set steps=50] [--checkpoint-uri s3://.../checkpoints/<project>/<key>] [--resume]

The run (one per training, rank 0 only, in the project's experiment) holds the metrics, the
config, and `native/`: the fitted model in its framework's format, its encoding, the project and a
validation sample, which `python -m workloads.export --run-id` turns into a registered version.
The whole loop (frames, training, export, holdout evaluation, registration) is
`python -m workloads.pipeline retrain`; this is its training step alone.

Environment: SAHAB_PROJECT, SAHAB_TRAIN_DATA_PATH, SAHAB_TRAIN_CHECKPOINT_URI, SAHAB_HOME,
SAHAB_MLFLOW_TRACKING_URI, SAHAB_MLFLOW_ARTIFACT_LOCATION; RANK / WORLD_SIZE under a launcher.
Exit status: 0 done, 2 bad project / config / data, 143 stopped by SIGTERM after writing a
checkpoint (run the same command with --resume to continue; a Kubernetes Job with restarts does).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from workloads.errors import SahabError
from workloads.settings import SahabSettings, TrainJobSettings, run_cli

EXIT_INTERRUPTED = 143
SAMPLE_ROWS = 4096
NATIVE_DIR = "native"
SAMPLE_FILE = "validation.parquet"


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
        description="Train a project's model on a training set (its own function, any framework) and log it to MLflow. "
        "Environment: SAHAB_PROJECT, SAHAB_TRAIN_DATA_PATH, SAHAB_TRAIN_CHECKPOINT_URI, SAHAB_HOME, SAHAB_MLFLOW_TRACKING_URI.",
    )
    p.add_argument("--project", help="the project folder (or its name under SAHAB_PROJECTS_DIR); default SAHAB_PROJECT")
    p.add_argument("--data", help="the training set: Parquet, a local path, s3:// or abfss:// (default SAHAB_TRAIN_DATA_PATH)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training.config field, dotted (repeatable): --set steps=50",
    )
    p.add_argument("--checkpoint-uri", help="where checkpoints go (default SAHAB_TRAIN_CHECKPOINT_URI; none: no checkpoints)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint under --checkpoint-uri")
    p.add_argument("--no-track", action="store_true", help="do not log to MLflow")
    p.add_argument("--print-config", action="store_true", help="print the run's validated training config and exit")
    return p


def read_frame(uri: str) -> Any:
    import pandas as pd

    from workloads import storage

    data = storage.read_bytes(uri, "--data")
    if data is None:
        raise FileNotFoundError(f"--data {uri} does not exist (a training set written by the pipeline: training-sets/<key>/frame.parquet)")
    return pd.read_parquet(io.BytesIO(data))


def run_config(project: Any, overrides: dict[str, object]) -> dict[str, Any]:
    """training.config with the overrides, validated by the function's `config_model` when it declares one."""
    from workloads.training.runtime import apply_overrides

    config = apply_overrides(project.spec.training.config, overrides)
    model = getattr(project.entry_point(project.spec.training.entry_point), "config_model", None)
    return model.model_validate(config).model_dump(mode="json") if model is not None else config


def log_native(handle: Any, project: Any, outcome: Any) -> None:
    """The fitted model, its encoding, the project and a validation sample under `native/`."""
    from workloads.export.native import save_native

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / NATIVE_DIR
        save_native(project.spec.training.framework, outcome.model, folder)
        (folder / "feature_spec.json").write_text(outcome.encoding.to_json())
        (folder / "project.json").write_text(project.spec.model_dump_json(indent=2))
        outcome.validation.frame.head(SAMPLE_ROWS).to_parquet(folder / SAMPLE_FILE, index=False)
        handle.log_artifacts(folder, NATIVE_DIR)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from workloads.project import from_env, resolve

    job = TrainJobSettings()
    project = resolve(args.project) if args.project else from_env()
    overrides = parse_overrides(args.overrides)
    config = run_config(project, overrides)
    if args.print_config:
        print(json.dumps(config, indent=2, sort_keys=True))
        if config.get("deepspeed", {}).get("enabled"):
            from workloads.training.tabular import TabularConfig, deepspeed_json

            print(json.dumps(deepspeed_json(TabularConfig.model_validate(config)), indent=2))
        return 0
    data = args.data or job.data_path
    if not data:
        raise ValueError("no training set: give --data PATH (Parquet) or set SAHAB_TRAIN_DATA_PATH")
    frame = read_frame(data)

    from workloads.registry.tracking import training_run
    from workloads.training.runtime import prepare_frame, run_training

    _, sha = prepare_frame(project, frame)
    settings = SahabSettings()

    def log(line: str) -> None:
        print(line, flush=True)

    if args.no_track:
        outcome = run_training(project, frame, overrides=overrides, resume=args.resume, checkpoint_uri=args.checkpoint_uri or job.checkpoint_uri, log=log)
        return EXIT_INTERRUPTED if outcome.interrupted else 0
    with training_run(project.name, config, data_sha256=sha, run_name=f"{project.name}-train", settings=settings) as handle:
        outcome = run_training(
            project,
            frame,
            overrides=overrides,
            resume=args.resume,
            checkpoint_uri=args.checkpoint_uri or job.checkpoint_uri,
            log=log,
            on_metrics=handle.log_metrics if handle else None,
        )
        if handle is None:  # another rank: rank 0 logs and keeps the model
            return EXIT_INTERRUPTED if outcome.interrupted else 0
        if outcome.interrupted:
            handle.interrupted = True
            handle.set_tags({"sahab.interrupted_at_step": str(outcome.step)})
            return EXIT_INTERRUPTED
        log_native(handle, project, outcome)
        print(f"run_id={handle.run_id}", flush=True)
    return 0


def cli(argv: list[str] | None = None) -> int:
    try:
        return run_cli(main, argv)
    except SahabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(cli())
