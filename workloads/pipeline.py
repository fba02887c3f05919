"""The retraining pipeline of a project: ingest -> frozen frames -> train -> export -> judge -> register.

    python -m workloads.pipeline retrain [--project DIR] [--key KEY] [--resume] [--set k=v] [--alias challenger]

1. ingest (workloads/features/ingest.py): the prediction log's new live rows, the declared batch
   sources and label files into the project's offline store (idempotent);
2. frames, frozen per run key (`--key`, else SAHAB_RETRAIN_KEY, else a new one;
   workloads/features/frames.py): reused as they are when the key's training set exists, so a
   resume after a spot reclaim trains on the same rows even when new labels arrived; else built
   from the sliding window (`training.window`) before the common holdout (`evaluation.holdout`);
3. the project's training function (workloads/training/runtime.py `run_training`; one MLflow run,
   rank 0), export to ONNX with its parity gate (workloads/export), the new version and the
   current champion scored on the same frozen holdout, the project's gate (`evaluation.judge`);
4. registration: `champion` when there is none and the gate passes; else `challenger` (`--alias`),
   unless an experiment is running (`workloads.serving.evaluator.experiment_running`): then the
   version is registered with tag `sahab.queued=true` and no alias (the evaluator makes it the
   next challenger). A refused gate registers the version with tags `sahab.gate.result=failed` and
   `sahab.gate.checks`, no alias, and exits 3 printing the failed checks.

These are the steps of workloads/pipelines (ingest, training-set, train, export, evaluate,
register), run here in one process and on the cluster one Argo step each, with step caching: a
step whose inputs (code, project, config, the outputs of the steps before it) hash as a stored
entry's is skipped and its outputs reused, so a second run on the same data and settings skips
every step and registers nothing new (`--no-cache` runs them all); each step's inputs and outputs
hashes are tagged on the MLflow run and the version (`sahab.lineage.<step>.inputs` / `.outputs`).

Exit status: 0 registered (or queued), 2 bad settings or data, 3 the gate (or export parity)
refused, 143 stopped by SIGTERM after a checkpoint: run it again with the same key and `--resume`.
The last line printed is one JSON object (the version, its alias, the run key, rows, hashes,
windows, holdout metrics of both versions, the gate, the retrain reason).

Settings: the project (`--project` or SAHAB_PROJECT); SAHAB_HOME and SAHAB_MLFLOW_*
(SahabSettings); SAHAB_FEAST_* (the project's Feast root); SAHAB_TRAIN_CHECKPOINT_URI (the
project's checkpoint root; one folder per run key under it; local default
`<home>/projects/<name>/checkpoints`); SAHAB_SERVING_PREDICTION_LOG_URI (the project's prediction
log; local default `<home>/projects/<name>/serving-log`); SAHAB_RETRAIN_KEY / _REASON / _WINDOWS
(set by the drift trigger: tags of the version). `run_project(project, home, ...)` does the same
in-process (local runs, `sahab project run`, tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from workloads.features import frames as frozen

# The run's settings and helpers live with the steps (workloads/pipelines/context.py); re-exported here.
from workloads.pipelines.context import (
    PREDICTION_LOG_VARIABLE,
    TAG_GATE_CHECKS,
    TAG_GATE_RESULT,
    TAG_RUN_KEY,
    check_config,
    checkpoint_root,
    local_settings,
    parse_overrides,
    prediction_log_uri,
    retrain_tags,
)
from workloads.pipelines.graph import EXIT_GATE, EXIT_INTERRUPTED, EXIT_OK
from workloads.project.project import Project, from_env, resolve
from workloads.settings import FeatureStoreSettings, SahabSettings, run_cli

if TYPE_CHECKING:
    from workloads.features.ingest import IngestReport

__all__ = [
    "PREDICTION_LOG_VARIABLE",
    "TAG_GATE_CHECKS",
    "TAG_GATE_RESULT",
    "TAG_RUN_KEY",
    "RetrainOutcome",
    "check_config",
    "checkpoint_root",
    "local_settings",
    "parse_overrides",
    "prediction_log_uri",
    "retrain_tags",
    "run_project",
]
Log = Callable[[str], None]
Status = Literal["registered", "queued", "gate_failed", "interrupted", "follower"]


@dataclass(frozen=True)
class RetrainOutcome:
    """What one run of the pipeline did (`exit_code` is the CLI's status)."""

    status: Status
    project: str
    key: str
    frames: frozen.TrainingFrames
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    holdout: dict[str, float] = field(default_factory=dict)
    """The new version on the frozen holdout (through its exported fp32 graph)."""
    champion_version: str | None = None
    champion_holdout: dict[str, float] | None = None
    """The champion on the same holdout (None without a champion)."""
    gate: Any = None
    """workloads.evaluation.GateResult (None when training was interrupted)."""
    ingested: IngestReport | None = None
    step: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each step of workloads/pipelines: skipped (cache) or not, its inputs and outputs hashes, seconds."""

    @property
    def exit_code(self) -> int:
        return {"gate_failed": EXIT_GATE, "interrupted": EXIT_INTERRUPTED}.get(self.status, EXIT_OK)

    @property
    def skipped(self) -> list[str]:
        """The steps skipped because the cache held their inputs."""
        return [name for name, s in self.steps.items() if s["skipped"]]

    def summary(self) -> dict[str, Any]:
        """The JSON line the CLI prints last."""
        lineage = self.frames.lineage
        return {
            "project": self.project,
            "model": self.project,
            "status": self.status,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "key": self.key,
            "frames_reused": self.frames.reused,
            "rows": lineage["rows"],
            "data_sha256": lineage["data_sha256"],
            "holdout_sha256": lineage["holdout_sha256"],
            "training_window": self.frames.training_window,
            "holdout_window": self.frames.holdout_window,
            "holdout": self.holdout,
            "champion_version": self.champion_version,
            "champion_holdout": self.champion_holdout,
            "gate": self.gate.to_dict() if self.gate is not None else None,
            "step": self.step,
            "steps": self.steps,
            **{k: v for k, v in self.tags.items() if k.startswith("sahab.retrain.")},
        }


def run_project(
    project: Project,
    home: str | Path | None = None,
    *,
    key: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    resume: bool = False,
    alias: str | None = "challenger",
    reason: str | None = None,
    windows: str | None = None,
    settings: SahabSettings | None = None,
    features: FeatureStoreSettings | None = None,
    prediction_log: str | None = None,
    checkpoint_uri: str | None = None,
    as_of: datetime | None = None,
    post_drift_since: datetime | None = None,
    use_cache: bool = True,
    log: Log = print,
) -> RetrainOutcome:
    """The whole pipeline for `project` (module docstring), in this process, on the steps of
    workloads/pipelines with their cache (`use_cache=False` runs every step).

    `home` defaults to SAHAB_HOME; `settings` to local ones under `home` when `home` is given, else
    SahabSettings() (the environment's); `features` to FeatureStoreSettings() (SAHAB_FEAST_*).
    `as_of` freezes the labels known at that time (default: now); `post_drift_since` adds the share
    of training rows after that time to the frames' lineage."""
    from workloads.features.ingest import IngestReport
    from workloads.pipelines.context import PipelineRun
    from workloads.pipelines.runner import run_all
    from workloads.pipelines.steps import gate_result

    check_config(project, overrides)
    run = PipelineRun(
        project,
        home,
        key=key,
        overrides=overrides,
        resume=resume,
        alias=alias,
        reason=reason,
        windows=windows,
        settings=settings,
        features=features,
        prediction_log=prediction_log,
        checkpoint_uri=checkpoint_uri,
        as_of=as_of,
        post_drift_since=post_drift_since,
        use_cache=use_cache,
        log=log,
    )
    try:
        was_frozen = frozen.load(run.repo, run.key) is not None
        result = run_all(run)
        frames = dataclasses.replace(run.frames(), reused=was_frozen)
        ingest = result.results.get("ingest")
        report = ingest.record.info.get("report") if ingest is not None and not ingest.skipped else None
        ingested = IngestReport(**report) if report else None
        steps = {name: r.as_dict() for name, r in result.results.items()}
        name = project.spec.name
        if result.status != "done":
            return RetrainOutcome(result.status, name, run.key, frames, ingested=ingested, step=result.stopped_at, tags=run.tags, steps=steps)
        trained, evaluated, registered = (result.results[s].record.values for s in ("train", "evaluate", "register"))
    finally:
        run.close()
    gate = gate_result(evaluated)
    holdout, champion, champion_version = evaluated["holdout"], evaluated["champion"], evaluated["champion_version"]
    primary = project.spec.primary_metric
    against = f" (champion v{champion_version}: {champion[primary]:.4f})" if champion is not None else ""
    status, version, chosen = registered["status"], str(registered["version"]), registered["alias"]
    verdict = {"registered": f"as {chosen}", "queued": "queued (an experiment is running)", "gate_failed": "without an alias: the gate refused it"}[status]
    again = " (the same inputs as before: nothing re-registered)" if result.results["register"].skipped else ""
    log(f"registered {name} v{version} {verdict}{again}; holdout {primary} {holdout[primary]:.4f}{against}; gate: {gate.describe()}")
    return RetrainOutcome(
        status,
        name,
        run.key,
        frames,
        version,
        chosen,
        str(trained["run_id"]),
        holdout,
        champion_version,
        champion,
        gate,
        ingested,
        int(trained["step"]),
        run.tags,
        steps,
    )


# --- the command line ---


def _print(line: str) -> None:
    print(line, flush=True)


def retrain(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workloads.pipeline retrain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--project", help="the project's folder, or its name under SAHAB_PROJECTS_DIR (default: SAHAB_PROJECT)")
    p.add_argument("--key", help="run key: names the frozen training set and the checkpoints (default: SAHAB_RETRAIN_KEY, else a new one)")
    p.add_argument("--resume", action="store_true", help="continue from the run key's latest checkpoint (the frames are the frozen ones)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override training.config (repeatable)")
    p.add_argument("--alias", default="challenger", choices=["challenger", "champion"], help="alias of the new version when the gate passes")
    p.add_argument("--prediction-log", help=f"prediction log to ingest (default: {PREDICTION_LOG_VARIABLE})")
    p.add_argument("--no-cache", action="store_true", help="run every step even when the cache holds its inputs")
    args = p.parse_args(argv)
    project = resolve(args.project) if args.project else from_env()
    outcome = run_project(
        project,
        key=args.key,
        overrides=parse_overrides(args.overrides),
        resume=args.resume,
        alias=args.alias,
        prediction_log=args.prediction_log,
        use_cache=not args.no_cache,
        log=_print,
    )
    if outcome.status == "gate_failed":
        print(f"error: {project.name} v{outcome.version}: the gate refused it: {outcome.gate.describe()}", file=sys.stderr, flush=True)
    if outcome.status != "follower":
        print(json.dumps(outcome.summary(), sort_keys=True, default=str), flush=True)
    return outcome.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "retrain":
        print("usage: python -m workloads.pipeline retrain [--help]", file=sys.stderr)
        return 2
    return retrain(argv[1:])


if __name__ == "__main__":
    sys.exit(run_cli(main))
