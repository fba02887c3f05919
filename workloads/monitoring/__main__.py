"""Monitoring entry point (what the project's monitoring CronJob runs).

    python -m workloads.monitoring profile [--project DIR] --data train.parquet --out reference.npz
    python -m workloads.monitoring check [--project DIR] --reference reference.npz --current live.parquet \
        --out-dir reports/ [--window 1h | --window-rows 5000] [--alpha 0.05] [--key key]

    python -m workloads.monitoring run [--project DIR] [--out-dir reports/] [--now 2026-12-01T15:10:00Z]

The columns come from the project (`--project`, else SAHAB_PROJECT): its features, the model's
`score` (and `prediction` for multiclass); `--numeric` / `--categorical` name them instead.

`check` writes report.json, report.html, metrics.prom and event.json into --out-dir, prints the
event, and exits 0 when there is no drift, 3 when there is (the retraining trigger: a failed Job
or an event consumer reacts to it) and 2 when the inputs are unusable.

`run` is the scheduled job (settings: the project's `monitoring:`, overridden by `SAHAB_DRIFT_*`;
see workloads/monitoring/job.py and the README): it tests the prediction log's windows not tested
yet against the champion's reference, judges the performance windows whose labels matured, starts
one retraining per episode (waiting while an experiment runs), prints a JSON summary and exits 0
(whatever it found: the metrics and the trigger report that), 2 for unusable input or settings,
1 when the retrain command failed (the next run retries it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pandas as pd
from pydantic import ValidationError

from workloads.errors import SahabError
from workloads.monitoring.drift import DriftSettings, detect_drift
from workloads.monitoring.episodes import TriggerFailed
from workloads.monitoring.profile import ReferenceProfile
from workloads.monitoring.report import event, write_html, write_json, write_metrics
from workloads.settings import format_errors
from workloads.storage import is_remote, storage_options

EXIT_OK, EXIT_TRIGGER_FAILED, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3
SCORE_COLUMN = "score"
logger = logging.getLogger("workloads.monitoring")


def _suffix(uri: str) -> str:
    return PurePosixPath(urlparse(uri).path if is_remote(uri) else uri).suffix


def read_frame(uri: str) -> pd.DataFrame:
    """A local path or a URI (`s3://bucket/prefix/` or `abfss://...`: what the CronJob passes); CSV,
    Parquet, or a Parquet folder."""
    uri = str(uri)
    suffix = _suffix(uri)
    options = storage_options(uri) or None
    if suffix == ".csv":
        return pd.read_csv(uri, storage_options=options)
    # A remote URI without a suffix is a folder (prefix) of Parquet files.
    if suffix in (".parquet", ".pq") or (is_remote(uri) and not suffix) or Path(uri).is_dir():
        return pd.read_parquet(uri, storage_options=options)
    raise ValueError(f"{uri}: expected a .parquet / .csv file or a folder of Parquet files")


def _project(args: argparse.Namespace, required: bool = False):
    """The project named by --project, else SAHAB_PROJECT; None when neither (and not required)."""
    import os

    from workloads.project import PROJECT_VARIABLE, from_env, resolve

    if getattr(args, "project", None):
        return resolve(args.project)
    if required or os.environ.get(PROJECT_VARIABLE):
        return from_env()
    return None


def _columns(df: pd.DataFrame, args: argparse.Namespace) -> tuple[list[str], list[str]]:
    from workloads.monitoring.reference import monitored_columns

    if args.numeric is not None or args.categorical is not None:
        numeric, categorical = list(args.numeric or []), list(args.categorical or [])
    else:
        project = _project(args)
        if project is None:
            raise ValueError("which columns? Fix: --project DIR (or SAHAB_PROJECT), or --numeric / --categorical")
        numeric, categorical = monitored_columns(project)
        numeric = [c for c in numeric if c != SCORE_COLUMN]
        categorical = [c for c in categorical if c in df.columns]
    # The model's score is monitored like a feature when the data carries it.
    if args.score_column and args.score_column in df.columns and args.score_column not in numeric:
        numeric.append(args.score_column)
    return numeric, categorical


def cmd_profile(args: argparse.Namespace) -> int:
    df = read_frame(args.data)
    numeric, categorical = _columns(df, args)
    meta = dict(kv.split("=", 1) for kv in args.meta)
    if args.timestamp:
        profile = ReferenceProfile.fit_seasonal(
            df, numeric, categorical, timestamp=args.timestamp, key=args.key, season=args.season, max_rows=args.max_rows, meta=meta
        )
    else:
        profile = ReferenceProfile.fit(df, numeric, categorical, key=args.key, max_rows=args.max_rows, meta=meta)
    profile.save(args.out)
    print(
        json.dumps(
            {
                "profile": str(args.out),
                "rows": len(df),
                "numeric": list(profile.numeric),
                "categorical": categorical,
                "season": profile.season,
                "clock_features": sorted(profile.clock_features),
            }
        )
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    overrides = {
        k: v
        for k, v in (
            ("alpha", args.alpha),
            ("window", args.window),
            ("window_rows", args.window_rows),
            ("min_window_rows", args.min_window_rows),
            ("key_column", args.key),
            ("timestamp_column", args.timestamp),
        )
        if v is not None
    }
    settings = DriftSettings(**overrides)
    current = read_frame(args.current)
    if _suffix(args.reference) == ".npz":
        profile = ReferenceProfile.load(args.reference)
    else:
        ref = read_frame(args.reference)
        numeric, categorical = _columns(ref, args)
        profile = ReferenceProfile.fit(ref, numeric, categorical, key=args.key if args.key in ref.columns else None, max_rows=settings.max_reference_rows)
    started = time.perf_counter()
    report = detect_drift(profile, current, settings)
    elapsed = time.perf_counter() - started
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    write_json(report, out / "report.json")
    write_html(report, profile, current, settings, out / "report.html")
    write_metrics(report, out / "metrics.prom", settings, project=getattr(_project(args), "name", ""))
    evt = event(report)
    (out / "event.json").write_text(json.dumps(evt, indent=2))
    logger.info("drift check of %d rows in %.2fs: %s", len(current), elapsed, report.reason)
    print(json.dumps(evt))
    return EXIT_DRIFT if report.drift_detected else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from workloads.monitoring.job import DriftJobSettings, run

    project = _project(args, required=True)
    job = DriftJobSettings(**({"log_uri": args.log} if args.log else {}))
    try:
        summary, _ = run(job, DriftSettings(), project, now=args.now, out_dir=args.out_dir)
    except TriggerFailed as exc:
        logger.error("%s", exc)
        return EXIT_TRIGGER_FAILED
    logger.info("monitoring run: %s; performance: %s", summary.reason, summary.performance.get("reason"))
    print(json.dumps(summary.as_dict(), default=str))
    return EXIT_OK


def _utc(value: str) -> datetime:
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).to_pydatetime()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workloads.monitoring", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--project", help="project folder or name (default: SAHAB_PROJECT): its features are the columns")
    common.add_argument("--numeric", nargs="*", help="numeric columns (default: the project's)")
    common.add_argument("--categorical", nargs="*", help="categorical columns (default: the project's)")
    common.add_argument("--score-column", default=SCORE_COLUMN, help="model score column, profiled when present")
    common.add_argument("--key", help="column naming each row's key (rows grouped by key count as fewer)")

    pr = sub.add_parser("profile", parents=[common], help="profile training data into a reference .npz")
    pr.add_argument("--data", required=True, help="training data: path or URI (s3://..., abfss://...)")
    pr.add_argument("--out", required=True, help="profile .npz: path or URI")
    pr.add_argument("--max-rows", type=int, default=100_000)
    pr.add_argument("--meta", nargs="*", default=[], metavar="KEY=VALUE", help="provenance (model version, run id, sahab.holdout.<metric>)")
    pr.add_argument("--timestamp", help="timestamp column: profile per hour of the day / week (a seasonal reference)")
    pr.add_argument(
        "--season", choices=["auto", "none", "hour", "week"], default="auto", help="with --timestamp: which season (default: the finest the data allows)"
    )
    pr.set_defaults(func=cmd_profile)

    ck = sub.add_parser("check", parents=[common], help="test live data against a reference")
    ck.add_argument("--reference", required=True, help="profile .npz, or reference data to profile (path or URI)")
    ck.add_argument("--current", required=True, help="live features: path or URI (s3://bucket/prefix/)")
    ck.add_argument("--out-dir", type=Path, required=True)
    ck.add_argument("--window", help="time window (pandas frequency, e.g. 1h, 1D) over the timestamp column")
    ck.add_argument("--window-rows", type=int, help="or windows of this many consecutive rows")
    ck.add_argument("--min-window-rows", type=int)
    ck.add_argument("--alpha", type=float, help="false-alarm level of the call (split over its windows)")
    ck.add_argument("--timestamp", help="timestamp column of --window (default: SAHAB_MONITORING_TIMESTAMP_COLUMN)")
    ck.set_defaults(func=cmd_check)

    rn = sub.add_parser("run", help="the scheduled job: drift and performance of new windows, one retraining per episode")
    rn.add_argument("--project", help="project folder or name (default: SAHAB_PROJECT)")
    rn.add_argument("--log", help="prediction log root (default: SAHAB_DRIFT_LOG_URI, else the project's local log)")
    rn.add_argument("--out-dir", type=Path, help="also keep this run's reports here")
    rn.add_argument("--now", type=_utc, help="the run's notion of now (ISO time; default: the clock)")
    rn.set_defaults(func=cmd_run)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ValidationError as exc:
        logger.error("%s", format_errors(exc))
        return EXIT_USAGE
    except SahabError as exc:
        logger.error("%s", exc)
        return exc.exit_code
    except (ValueError, LookupError, FileNotFoundError, OSError) as exc:
        logger.error("%s", exc)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
