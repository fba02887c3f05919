"""`python -m workloads.export`: export a trained run to ONNX (fp32 + int8) and register it.

Reads the run's `torch/model.pt`, rebuilds its validation rows from the run's data config,
checks ONNX parity, quantizes to int8 (refused beyond the AUC bound), logs `onnx/*` to the same
run and registers a model version tagged with each artifact's sha256 under an alias.
Exit status: 0 done, 2 bad arguments, 3 parity failed or int8 refused.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from workloads.settings import SahabSettings, run_cli

EXIT_GATE = 3


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workloads.export",
        description="Export an MLflow training run to ONNX, check parity, quantize to int8, register. "
        "Environment: SAHAB_HOME, SAHAB_MLFLOW_TRACKING_URI, SAHAB_MODEL_NAME.",
    )
    p.add_argument("--run-id", required=True, help="MLflow run written by `python -m workloads.training`")
    p.add_argument("--alias", default="challenger", help="alias for the new version (default: challenger; '' for none)")
    p.add_argument("--parity-tolerance", type=float, default=1e-4, help="max |torch - onnx| (default 1e-4)")
    p.add_argument("--max-int8-auc-delta", type=float, default=1.0, help="refuse int8 when it loses more AUC points than this (default 1.0)")
    p.add_argument("--exporter", choices=("dynamo", "torchscript"), default="dynamo")
    p.add_argument("--no-register", action="store_true", help="log artifacts to the run but register no version")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from workloads.export.onnx import ExportConfig, ParityError, QuantizationRefused, export_all
    from workloads.registry import tracking
    from workloads.registry.client import mlflow_client, register_version
    from workloads.training.data import Dataset, split_by_time
    from workloads.training.data_source import load_frame
    from workloads.training.trainer import load_model_bundle

    cfg = ExportConfig(parity_tolerance=args.parity_tolerance, max_int8_auc_delta_points=args.max_int8_auc_delta, exporter=args.exporter)
    settings = SahabSettings()
    client = mlflow_client(settings)
    run = client.get_run(args.run_id)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(client.download_artifacts(args.run_id, "torch/model.pt", tmp))
        model, train_cfg, spec = load_model_bundle(bundle)
        print(f"export: run {args.run_id} ({train_cfg.model.kind}); rebuilding validation rows", flush=True)
        frame, _ = load_frame(train_cfg.data)
        val = Dataset.from_frame(split_by_time(frame, train_cfg.data.val_fraction)[1], spec)
        out = Path(tmp) / "onnx"
        try:
            report = export_all(model, spec, val, out, cfg)
        except (ParityError, QuantizationRefused) as exc:
            tracking.set_tags(args.run_id, {"sahab.export.refused": str(exc)[:5000]}, settings=settings)
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_GATE
        print(
            f"parity max abs diff {report.parity_max_abs_diff:.3e}; AUC fp32 {report.fp32_auc:.4f}, "
            f"int8 {report.int8_auc:.4f} (delta {report.int8_auc_delta_points:+.3f} points)",
            flush=True,
        )
        tracking.log_metrics(args.run_id, 0, report.metrics(), settings=settings)
        tracking.log_artifacts(args.run_id, out, "onnx", settings=settings)
        if not args.no_register:
            version = register_version(
                args.run_id, out, alias=args.alias or None, settings=settings, tags={"sahab.data.sha256": run.data.tags.get(tracking.TAG_DATA_SHA, "")}
            )
            print(f"registered {settings.model_name} v{version}" + (f" as {args.alias}" if args.alias else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
