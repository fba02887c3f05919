"""`python -m workloads.features`: manage the Feast repository (local, AWS or Azure configuration).

Environment: SAHAB_HOME, SAHAB_FEAST_MODE (local|aws|azure), SAHAB_FEAST_URI (s3:// in aws mode,
abfss:// in azure mode; aws mode also reads the old SAHAB_FEAST_S3_URI), SAHAB_FEAST_REDIS_URL,
SAHAB_FEAST_REGION (must be in the UAE), SAHAB_FEAST_PROJECT.
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workloads.features", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="generate transactions into the offline store (source + labels)")
    g.add_argument("--rows", type=int, default=20_000)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--days", type=int, default=30)
    sub.add_parser("apply", help="register entity, feature views and feature service")
    t = sub.add_parser("training-set", help="point-in-time correct training set from the offline store")
    t.add_argument("--out", required=True, help="Parquet file to write (plus <out>.lineage.json): a path, s3:// or abfss://")
    m = sub.add_parser("materialize", help="load features into the online store")
    m.add_argument("--start", type=_when, help="ISO time (default: earliest label)")
    m.add_argument("--end", type=_when, help="ISO time (default: latest label + 1 s)")
    o = sub.add_parser("online", help="read online features for account ids")
    o.add_argument("account_ids", type=int, nargs="+")
    s = sub.add_parser("serve", help="run the Feast feature server (HTTP: /health, /get-online-features)")
    s.add_argument("--host", default="127.0.0.1", help="bind address (the pod uses 0.0.0.0)")
    s.add_argument("--port", type=int, default=6566)
    s.add_argument("--workers", type=int, default=1)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = FeatureStoreSettings()
    from workloads.features.store import FeatureRepo

    repo = FeatureRepo(SahabSettings().home, settings)
    if args.command == "generate":
        from workloads.data.generator import generate

        df = generate(args.rows, seed=args.seed, days=args.days)
        repo.write_source(df)
        print(f"wrote {len(df)} transactions ({df['is_fraud'].mean():.2%} fraud) to the {settings.mode} offline store")
    elif args.command == "apply":
        repo.apply()
        print(f"applied {[v.name for v in repo.views]} and service {repo.service.name}: {repo.versions()}")
    elif args.command == "training-set":
        from workloads import storage
        from workloads.features.store import _write_parquet
        from workloads.training.data import frame_sha256
        from workloads.training.data_source import LINEAGE_SUFFIX

        print("point-in-time join over the offline store ...", flush=True)
        df = repo.training_set()
        _write_parquet(df, args.out)
        lineage = {"feature_views": repo.versions(), "rows": len(df), "sha256": frame_sha256(df)}
        storage.write_bytes(args.out + LINEAGE_SUFFIX, json.dumps(lineage, indent=2).encode(), "--out")
        print(f"wrote {len(df)} rows to {args.out} (sha256 {lineage['sha256'][:12]})")
    elif args.command == "materialize":
        labels = repo.labels()
        start = args.start or labels["event_timestamp"].min().to_pydatetime()
        end = args.end or labels["event_timestamp"].max().to_pydatetime() + timedelta(seconds=1)
        repo.materialize(start, end)
        print(f"materialized {start.isoformat()} .. {end.isoformat()} into the {settings.mode} online store")
    elif args.command == "serve":
        print(f"feature server on http://{args.host}:{args.port} ({settings.mode} online store)", flush=True)
        repo.store.serve(host=args.host, port=args.port, type_="http", no_access_log=True, workers=args.workers)
    else:
        print(repo.online(args.account_ids).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
