"""`python -m workloads.registry`: resolve, verify, alias and promote a project's registered versions.

    python -m workloads.registry --project projects/<name> promote
    python -m workloads.registry card --project projects/<name> --version 3 [--out card.html]

The registered model is the project's (its name); `promote` judges the challenger with the
project's gate on the versions' holdout tags (workloads/registry/client.py).
Exit status: 0 done, 2 bad arguments, 3 the gate refused the promotion.
"""

from __future__ import annotations

import argparse
import json
import sys

from workloads.errors import SahabError
from workloads.settings import SahabSettings, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m workloads.registry",
        description="Registry operations on a project's model. Environment: SAHAB_PROJECT, SAHAB_HOME, SAHAB_MLFLOW_TRACKING_URI.",
    )
    p.add_argument("--project", help="the project folder (or its name); default SAHAB_PROJECT")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("resolve", help="download and verify the version behind an alias")
    r.add_argument("alias")
    a = sub.add_parser("set-alias", help="point an alias at a version")
    a.add_argument("alias")
    a.add_argument("version")
    sub.add_parser("promote", help="challenger -> champion, if it passes the project's gate on the common holdout")
    c = sub.add_parser("card", help="regenerate a version's model card (card/model_card.html on its run; workloads/explain/card.py)")
    c.add_argument("--project", default=argparse.SUPPRESS, help="the project folder (or its name); default SAHAB_PROJECT")
    c.add_argument("--version", required=True, help="the registered version")
    c.add_argument("--out", help="also write the HTML to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from workloads.project import from_env
    from workloads.project import resolve as resolve_project
    from workloads.registry.client import promote, resolve, set_alias, verify

    project = resolve_project(args.project) if args.project else from_env()
    settings = SahabSettings()
    if args.command == "card":
        from pathlib import Path

        from workloads.explain.card import ARTIFACT_DIR, ARTIFACT_FILE, write_card

        write_card(project, args.version, settings, Path(args.out) if args.out else None)
        print(f"{project.name} v{args.version}: model card logged as {ARTIFACT_DIR}/{ARTIFACT_FILE}" + (f" and written to {args.out}" if args.out else ""))
    elif args.command == "resolve":
        resolved = resolve(args.alias, name=project, settings=settings)
        verify(resolved)
        print(
            json.dumps(
                {
                    "model": resolved.name,
                    "version": resolved.version,
                    "run_id": resolved.run_id,
                    "int8": resolved.has_int8,
                    "paths": {k: str(v) for k, v in resolved.paths().items()},
                    "sha256": resolved.sha256,
                    "holdout": resolved.holdout_metrics(),
                },
                indent=2,
            )
        )
    elif args.command == "set-alias":
        set_alias(project.name, args.alias, args.version, settings=settings)
        print(f"{project.name}@{args.alias} -> v{args.version}")
    else:
        version = promote(project, settings=settings)
        print(f"{project.name}@champion -> v{version}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    try:
        return run_cli(main, argv)
    except SahabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(cli())
