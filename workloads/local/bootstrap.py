"""`python -m workloads.local.bootstrap`: leave a fresh local platform able to serve.

Runs in the platform's environment (the `SAHAB_*` variables `sahab local up` gives every service)
and uses the workloads' own code, as the cluster's Jobs do: generate transactions into the feature
store's offline store (S3 or a folder), `apply` the Feast definitions, materialize them into the
online store (Redis or SQLite), take the point-in-time training set, train, export and register a
version (`workloads.pipeline.train_and_register`), promote it to `champion` through the evaluation
gate and, with `--challenger`, register a second one (another seed) as `challenger`.

First it builds every settings model the services will read (serving, drift job, feature store),
so a bad variable stops here with its name rather than in a service's log later. When the registry
already resolves a verified `champion` (an embedded platform brought up again) nothing is retrained.
The last line printed is JSON: `{"champion", "challenger", "trained"}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta

from workloads.settings import FeatureStoreSettings, SahabSettings, run_cli


def validate_settings() -> None:
    """Build each settings model the platform's services read (errors name the variable)."""
    from workloads.serving.settings import ServingSettings

    SahabSettings()
    FeatureStoreSettings()
    ServingSettings()
    try:
        from workloads.monitoring.job import DriftJobSettings
    except ImportError:  # the drift job is not part of this checkout
        return
    DriftJobSettings()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workloads.local.bootstrap", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=20_000, help="transactions to generate")
    p.add_argument("--days", type=int, default=30, help="days the transactions span")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=200, help="training steps per version")
    p.add_argument(
        "--challenger",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also register a challenger (another seed), so serving runs an A/B test at once",
    )
    args = p.parse_args(argv)
    validate_settings()

    import torch

    from workloads.data.generator import generate
    from workloads.data.schema import TIMESTAMP
    from workloads.features.store import FeatureRepo
    from workloads.pipeline import train_and_register
    from workloads.registry.client import CHALLENGER, CHAMPION, PromotionRefused, promote, resolve, verify
    from workloads.training.config import TrainConfig
    from workloads.training.data import prepare

    settings = SahabSettings()
    try:
        existing = resolve(CHAMPION, settings=settings)
        verify(existing)
    except Exception:  # noqa: BLE001 (no registry yet, no alias, or artifacts gone: build it)
        existing = None
    if existing is not None:
        print(f"bootstrap: {settings.model_name}@{CHAMPION} is v{existing.version}; nothing to train", flush=True)
        print(json.dumps({"champion": existing.version, "challenger": None, "trained": False}))
        return 0

    torch.set_num_threads(min(2, torch.get_num_threads()))

    def log(line: str) -> None:
        print(line, flush=True)

    features = FeatureStoreSettings()
    repo = FeatureRepo(settings.home, features)
    df = generate(args.rows, seed=args.seed, days=args.days)
    repo.write_source(df)
    repo.apply()
    start, end = df[TIMESTAMP].min().to_pydatetime(), df[TIMESTAMP].max().to_pydatetime() + timedelta(seconds=1)
    repo.materialize(start, end)
    log(f"bootstrap: {len(df)} transactions in the {features.mode} feature store, materialized online")
    data = prepare(repo.training_set(), 0.2, feature_views=repo.versions())
    cfg = TrainConfig.model_validate(
        {
            "seed": args.seed,
            "steps": args.steps,
            "eval_every": args.steps,
            "log_every": max(1, args.steps // 4),
            "threads": 1,
            "optim": {"warmup_steps": min(20, args.steps - 1)},
        }
    )
    first = train_and_register(cfg, data, settings=settings, alias=CHALLENGER, log=log)
    try:
        champion = promote(settings=settings)
    except PromotionRefused as exc:
        print(f"error: {exc}. Fix: train longer or on more data (--steps, --rows).", file=sys.stderr)
        return 3
    challenger = None
    if args.challenger:
        challenger = train_and_register(cfg.model_copy(update={"seed": args.seed + 1}), data, settings=settings, alias=CHALLENGER, log=log).version
    log(f"bootstrap: {settings.model_name}@{CHAMPION} = v{champion} (run {first.run_id})" + (f", @{CHALLENGER} = v{challenger}" if challenger else ""))
    print(json.dumps({"champion": champion, "challenger": challenger, "trained": True}))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
