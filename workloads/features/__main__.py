"""`python -m workloads.features`: a project's feature store (local, AWS or Azure configuration).

    python -m workloads.features [--project DIR] generate [--rows N --seed S --start ISO --days D --drift JSON]
    python -m workloads.features [--project DIR] ingest [--prediction-log URI]
    python -m workloads.features [--project DIR] apply
    python -m workloads.features [--project DIR] training-set --key KEY
    python -m workloads.features [--project DIR] materialize [--start ISO --end ISO]
    python -m workloads.features [--project DIR] online KEY [KEY ...]
    python -m workloads.features [--project DIR] serve [--host H --port P]

The project is `--project` (a folder, or a name under SAHAB_PROJECTS_DIR) or SAHAB_PROJECT.
Environment: SAHAB_HOME, SAHAB_FEAST_MODE (local|aws|azure), SAHAB_FEAST_URI (the project's Feast
root: s3:// in aws mode, abfss:// in azure mode; aws mode also reads the old SAHAB_FEAST_S3_URI),
SAHAB_FEAST_REDIS_URL, SAHAB_FEAST_REGION (must be in the UAE), SAHAB_FEAST_PROJECT (default:
the project's), SAHAB_SERVING_PREDICTION_LOG_URI (what `ingest` copies live rows from).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta

from workloads.settings import FeatureStoreSettings, SahabSettings, run_cli


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('expected a JSON object, e.g. {"concept": 1.0}')
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workloads.features", description=__doc__.split("\n\n")[0])
    p.add_argument("--project", help="the project's folder, or its name under SAHAB_PROJECTS_DIR (default: SAHAB_PROJECT)")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="run the project's sources.generator into the offline store (features + labels)")
    g.add_argument("--rows", type=int, default=20_000)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--start", type=_when, default=datetime(2025, 1, 1, tzinfo=UTC), help="ISO time of the first row (default 2025-01-01)")
    g.add_argument("--days", type=float, default=30)
    g.add_argument("--drift", type=_json, help='the generator\'s drift controls, JSON (e.g. {"concept": 1.0})')
    i = sub.add_parser("ingest", help="copy declared sources, label files and the prediction log's live rows into the offline store")
    i.add_argument("--prediction-log", help="prediction log URI (default: SAHAB_SERVING_PREDICTION_LOG_URI, else the local one)")
    sub.add_parser("apply", help="register entity, feature views and feature service")
    t = sub.add_parser("training-set", help="build (or show) the frozen training set of a run key")
    t.add_argument("--key", required=True, help="run key (training-sets/<key>/ under the Feast root)")
    m = sub.add_parser("materialize", help="load features into the online store")
    m.add_argument("--start", type=_when, help="ISO time (default: the earliest feature row)")
    m.add_argument("--end", type=_when, help="ISO time (default: the latest feature row + 1 s)")
    o = sub.add_parser("online", help="read online features of entity keys")
    o.add_argument("keys", nargs="+")
    s = sub.add_parser("serve", help="run the Feast feature server (HTTP: /health, /get-online-features)")
    s.add_argument("--host", default="127.0.0.1", help="bind address (the pod uses 0.0.0.0)")
    s.add_argument("--port", type=int, default=6566)
    s.add_argument("--workers", type=int, default=1)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from workloads.project.project import from_env, resolve

    project = resolve(args.project) if args.project else from_env()
    settings = FeatureStoreSettings()
    from workloads.features.store import FeatureRepo

    home = SahabSettings().home
    repo = FeatureRepo(project, home, settings)
    spec = project.spec
    if args.command == "generate":
        from workloads.features.ingest import generate

        df = generate(project, repo, rows=args.rows, seed=args.seed, start=args.start, days=args.days, drift=args.drift)
        print(f"generated {len(df)} rows of {spec.name} into the {settings.mode} offline store ({repo.root})")
    elif args.command == "ingest":
        from workloads.features.ingest import ingest
        from workloads.pipeline import prediction_log_uri

        report = ingest(project, repo, prediction_log=prediction_log_uri(project, home, args.prediction_log))
        print(f"ingested into {repo.root}: {report}")
    elif args.command == "apply":
        repo.apply()
        print(f"applied {[v.name for v in repo.views]} and service {repo.service.name} (Feast project {repo.config.project}): {repo.versions()}")
    elif args.command == "training-set":
        from workloads.features.frames import frames_for

        frames = frames_for(repo, args.key, log=lambda line: print(line, flush=True))
        print(json.dumps(frames.lineage, sort_keys=True))
    elif args.command == "materialize":
        start, end = args.start, args.end
        if start is None or end is None:
            first, last = repo.time_range()
            start, end = start or first, end or last + timedelta(seconds=1)
        repo.materialize(start, end)
        print(f"materialized {start.isoformat()} .. {end.isoformat()} into the {settings.mode} online store")
    elif args.command == "serve":
        print(f"feature server of {spec.name} on http://{args.host}:{args.port} ({settings.mode} online store)", flush=True)
        repo.store.serve(host=args.host, port=args.port, type_="http", no_access_log=True, workers=args.workers)
    else:
        print(repo.online(args.keys).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
