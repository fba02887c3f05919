"""`python -m workloads.local.bootstrap`: leave one project of a fresh local platform able to serve.

Runs in the project's environment (SAHAB_PROJECT and the `SAHAB_*` variables `sahab local up`
gives its services) and uses the workloads' own code, as the cluster's Jobs do:

1. builds every settings model the project's services read (serving with the project's A/B
   settings, the monitoring job, the feature store), so a bad variable stops here with its name
   rather than in a service's log later;
2. when the registry already resolves a verified `champion` (an embedded platform brought up
   again), nothing is trained;
3. example data: the project's generator (`sources.generator`) into its offline store, unless the
   store already holds labels (workloads.local.projects.example_data: `--rows` over `--days`,
   default the training window plus the holdout, ending `experiment.max_label_delay` ago);
4. the Feast definitions applied and the online store materialized;
5. the pipeline (`workloads.pipeline.run_project`: ingest, frozen frames, train, export, the gate,
   register): the first version becomes `champion`; with `--challenger` a second one, on the same
   data with `training.seed + 1`, becomes `challenger`, so serving runs an A/B test at once.

Exit status: 0 served (or reused), 2 bad settings or data, 3 the gate refused the first version.
The last line printed is JSON: `{"project", "champion", "challenger", "trained", "data"}` (`data`: the
example rows generated, their seed and time range; null when none were).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from workloads.settings import FeatureStoreSettings, SahabSettings, run_cli


def validate_settings(project) -> None:
    """Build each settings model the project's services read (errors name the variable)."""
    from workloads.monitoring.job import DriftJobSettings
    from workloads.serving.settings import ServingSettings, ab_config

    SahabSettings()
    FeatureStoreSettings()
    ab_config(project.spec, ServingSettings())
    DriftJobSettings()


def main(argv: list[str] | None = None) -> int:
    from workloads.pipeline import parse_overrides

    p = argparse.ArgumentParser(prog="python -m workloads.local.bootstrap", description=__doc__.split("\n\n")[0])
    p.add_argument("--project", help="the project's folder or name (default: SAHAB_PROJECT)")
    p.add_argument("--rows", type=int, default=20_000, help="example rows to generate")
    p.add_argument("--days", type=float, help="days the example rows span (default: the training window plus the holdout)")
    p.add_argument("--seed", type=int, default=0, help="the generator's seed")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override training.config (repeatable)")
    p.add_argument(
        "--challenger",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also register a challenger (training.seed + 1), so serving runs an A/B test at once",
    )
    args = p.parse_args(argv)

    from workloads.project.project import Project, from_env, resolve

    project = resolve(args.project) if args.project else from_env()
    overrides = parse_overrides(args.overrides)
    validate_settings(project)

    from workloads.features.store import FeatureRepo
    from workloads.local.projects import example_data
    from workloads.pipeline import run_project
    from workloads.registry.client import CHALLENGER, CHAMPION, verify
    from workloads.registry.client import resolve as resolve_alias

    spec = project.spec
    settings = SahabSettings().for_project(project)
    try:
        existing = resolve_alias(CHAMPION, name=spec.name, settings=settings)
        verify(existing)
    except Exception:  # noqa: BLE001 (no registry yet, no alias, or artifacts gone: build it)
        existing = None
    if existing is not None:
        print(f"bootstrap: {spec.name}@{CHAMPION} is v{existing.version}; nothing to train", flush=True)
        print(json.dumps({"project": spec.name, "champion": existing.version, "challenger": None, "trained": False}))
        return 0

    def log(line: str) -> None:
        print(line, flush=True)

    repo = FeatureRepo(project, settings.home, FeatureStoreSettings())
    data = None
    if spec.sources.generator and not repo.labels.files():
        frame = example_data(project, repo, rows=args.rows, seed=args.seed, days=args.days)
        times = frame[spec.timestamp]
        data = {"rows": len(frame), "seed": args.seed, "start": times.min().isoformat(), "end": times.max().isoformat()}
        log(f"bootstrap: {len(frame)} example rows of {spec.name} ({data['start']} .. {data['end']}) in the {repo.settings.mode} offline store ({repo.root})")
    repo.apply()
    start, end = repo.materialize_all()
    log(f"bootstrap: {spec.name}'s features materialized online ({start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M})")

    stamp = f"bootstrap-{datetime.now(UTC):%Y%m%dt%H%M%S}"
    first = run_project(project, key=stamp, overrides=overrides, alias=CHALLENGER, reason="bootstrap", settings=settings, log=log)
    if first.status == "gate_failed" or first.alias != CHAMPION:
        print(
            f"error: {spec.name} v{first.version}: the gate refused the first version ({first.gate.describe() if first.gate else first.status}). "
            "Fix: more example rows (--rows), another training config (--set), or a gate the data can pass (evaluation.gate in project.yaml)",
            file=sys.stderr,
        )
        return 3
    challenger = None
    if args.challenger:
        # The same data, another seed: a challenger that is a real second version, judged on the same holdout.
        reseeded = Project(spec.model_copy(update={"training": spec.training.model_copy(update={"seed": spec.training.seed + 1})}), project.folder)
        second = run_project(reseeded, key=f"{stamp}-challenger", overrides=overrides, alias=CHALLENGER, reason="bootstrap", settings=settings, log=log)
        challenger = second.version if second.alias == CHALLENGER else None
    log(f"bootstrap: {spec.name}@{CHAMPION} = v{first.version}" + (f", @{CHALLENGER} = v{challenger}" if challenger else ""))
    print(json.dumps({"project": spec.name, "champion": first.version, "challenger": challenger, "trained": True, "data": data}))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
