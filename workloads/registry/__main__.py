"""`python -m workloads.registry`: resolve, verify, alias and promote registered versions."""

from __future__ import annotations

import argparse
import json
import sys

from workloads.settings import SahabSettings, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workloads.registry", description="Registry operations. Environment: SAHAB_HOME, SAHAB_MLFLOW_TRACKING_URI, SAHAB_MODEL_NAME."
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("resolve", help="download and verify the version behind an alias")
    r.add_argument("alias")
    a = sub.add_parser("set-alias", help="point an alias at a version")
    a.add_argument("alias")
    a.add_argument("version")
    pr = sub.add_parser("promote", help="challenger -> champion, if it passes the evaluation gate")
    pr.add_argument("--min-auc", type=float, default=0.80)
    pr.add_argument("--max-auc-regression", type=float, default=0.005)
    pr.add_argument("--max-ece", type=float, default=0.05)
    pr.add_argument("--max-int8-auc-delta", type=float, default=1.0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from workloads.registry.client import PromotionGate, PromotionRefused, promote, resolve, set_alias, verify

    settings = SahabSettings()
    if args.command == "resolve":
        resolved = resolve(args.alias, settings=settings)
        verify(resolved)
        print(
            json.dumps(
                {"version": resolved.version, "run_id": resolved.run_id, "paths": {k: str(v) for k, v in resolved.paths().items()}, "sha256": resolved.sha256},
                indent=2,
            )
        )
    elif args.command == "set-alias":
        set_alias(settings.model_name, args.alias, args.version, settings=settings)
        print(f"{settings.model_name}@{args.alias} -> v{args.version}")
    else:
        gate = PromotionGate(
            min_auc=args.min_auc, max_auc_regression=args.max_auc_regression, max_ece=args.max_ece, max_int8_auc_delta_points=args.max_int8_auc_delta
        )
        try:
            version = promote(gate=gate, settings=settings)
        except PromotionRefused as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 3
        print(f"{settings.model_name}@champion -> v{version}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
