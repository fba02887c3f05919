"""`python -m workloads.export`: re-export a training run's model to ONNX and (optionally) register it.

    python -m workloads.export --project projects/<name> --run-id <run> [--alias challenger]

Reads the run's `native/` (the fitted model in its framework's format, its encoding and a
validation sample, written by `python -m workloads.training`), exports one ONNX graph with the
parity gate against the native model (and int8 where the framework allows it), logs `onnx/*` and
the export's metrics to the same run, and registers a version tagged with each artifact's sha256.
A version registered here carries no holdout evaluation: the promotion gate refuses it until the
pipeline (`python -m workloads.pipeline retrain`) scores it on the common holdout.
Exit status: 0 done, 2 bad arguments, 3 parity failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from workloads.errors import SahabError
from workloads.settings import SahabSettings, run_cli

NATIVE_DIR = "native"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workloads.export",
        description="Re-export an MLflow training run to ONNX (parity gate, int8 where it applies) and register it. "
        "Environment: SAHAB_PROJECT, SAHAB_HOME, SAHAB_MLFLOW_TRACKING_URI.",
    )
    p.add_argument("--project", help="the project folder (or its name); default SAHAB_PROJECT")
    p.add_argument("--run-id", required=True, help="MLflow run written by `python -m workloads.training`")
    p.add_argument("--alias", default="challenger", help="alias for the new version (default: challenger; '' for none)")
    p.add_argument("--parity-tolerance", type=float, default=1e-4, help="max |native - onnx| (default 1e-4)")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo", help="torch's exporter (default dynamo)")
    p.add_argument("--no-register", action="store_true", help="log artifacts to the run but register no version")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import pandas as pd

    from workloads.export.model import ExportConfig, ParityError, export_model
    from workloads.export.native import load_native
    from workloads.features.encoding import FeatureSpec
    from workloads.project import from_env, resolve
    from workloads.registry import tracking
    from workloads.registry.client import VersionRecord, mlflow_client, register_version
    from workloads.training.runtime import make_split

    project = resolve(args.project) if args.project else from_env()
    cfg = ExportConfig(parity_tolerance=args.parity_tolerance, exporter=args.exporter)
    settings = SahabSettings()
    client = mlflow_client(settings)
    run = client.get_run(args.run_id)
    with tempfile.TemporaryDirectory() as tmp:
        native = Path(client.download_artifacts(args.run_id, NATIVE_DIR, tmp))
        model = load_native(project, native)
        encoding = FeatureSpec.from_json((native / "feature_spec.json").read_text())
        sample = make_split(project, pd.read_parquet(native / "validation.parquet"), encoding)
        print(f"export: run {args.run_id} ({project.spec.training.framework}, {project.spec.label.task}), {len(sample)} sample rows", flush=True)
        out = Path(tmp) / "onnx"
        try:
            report = export_model(project, model, encoding, sample, out, cfg, log=lambda line: print(line, flush=True))
        except ParityError as exc:
            tracking.set_tags(args.run_id, {"sahab.export.refused": str(exc)[:5000]}, settings=settings)
            raise
        tracking.log_metrics(args.run_id, 0, report.metrics(), settings=settings)
        tracking.log_artifacts(args.run_id, out, "onnx", settings=settings)
        if not args.no_register:
            record = VersionRecord(data_sha256=run.data.tags.get(tracking.TAG_DATA_SHA, ""))
            version = register_version(args.run_id, out, name=project, record=record, alias=args.alias or None, settings=settings)
            print(f"registered {project.name} v{version}" + (f" as {args.alias}" if args.alias else ""), flush=True)
    return 0


def cli(argv: list[str] | None = None) -> int:
    try:
        return run_cli(main, argv)
    except SahabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(cli())
