"""The one decision-maker of A/B experiments, and their lifecycle.

    python -m workloads.serving.evaluator [--project DIR] [--once] [--interval S] [--apply | --no-apply]

The project is `--project` or SAHAB_PROJECT; its settings (`experiment:`, `serving.outcome`) with
the SAHAB_SERVING_* overrides are `settings.ab_config`. Each look (`look()`):

1. The registry's aliases name the experiment (`state.Experiment`: salt, split, both versions).
   With no challenger, the newest queued version (tag `sahab.queued=true`: a retrain that finished
   while an experiment ran) becomes the challenger, which starts the next experiment.
2. `evaluate()`: seal the units due by now (first exposure + unit_window + max_label_delay, in
   order of first exposure), replay them through `abtest.SequentialTest`, read the guardrail
   counters (error rate, p99 latency per variant) and store the decision (every replica's
   `/experiment` shows it). The recommendation, in this order: a breached guardrail -> `rollback`;
   the test's `rollback` (never blocked by a reversal) or `promote`; past `max_duration` -> `end`
   (keep champion); else `keep`.
3. `act()` on it, by version, at most once per experiment (the store's claim, then
   compare-and-set on the aliases): `promote` (only when promotion is allowed:
   SAHAB_SERVING_ALLOW_PROMOTION or `--apply`; `registry.client.promote_tested`), `rollback`
   (experiment.rollback, true by default, or when promotion is allowed) and `end` remove the
   challenger alias only while it still points at the tested version. A promotion not allowed, or
   a rollback not allowed, at max_duration becomes `end`. Each action records the decision as tag
   `sahab.abtest.decision` on the challenger version, ends the experiment in the store, and makes
   the newest queued version the challenger. `--no-apply` only observes.

`experiment_running(project)` tells the retrain and monitoring triggers whether to wait: true while
both aliases define an experiment (split mode) that has not ended. Serving replicas notice moved
aliases within RELOAD_INTERVAL_S. On the cluster this runs as a CronJob (`--once`,
concurrencyPolicy Forbid); the control plane's `/promote` calls the same `act()`. Exit status: 0,
2 on bad configuration. The JSON line printed per look is `{"experiment_id", "decision", "action",
"detail"}`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Literal

from workloads.project import Project, from_env, resolve
from workloads.project.spec import ProjectSpec
from workloads.registry import client as registry
from workloads.serving.abtest import GuardrailCheck, SequentialTest, error_rate_guardrail, latency_guardrail
from workloads.serving.exposures import LATENCY_BOUNDS_S, parse_counters
from workloads.serving.settings import ABConfig, ServingSettings, ab_config
from workloads.serving.state import Experiment, ExperimentStore, open_store
from workloads.settings import SahabSettings, run_cli

logger = logging.getLogger("workloads.serving.evaluator")

QUEUED_TAG = "sahab.queued"
"""Set to `true` by the pipeline on a version registered while an experiment ran; `activated` once it
became the challenger, `superseded` when a newer queued version went first."""
DECISION_TAG = "sahab.abtest.decision"
Action = Literal["promote", "rollback", "end"]


@dataclass(frozen=True)
class ActionResult:
    action: str
    """none | promoted | rolled_back | ended | conflict | refused"""
    detail: str
    status: int
    """HTTP status the control plane answers with: 200, or 409 for conflict / refused."""


def _spec(project: Project | ProjectSpec) -> ProjectSpec:
    return project.spec if isinstance(project, Project) else project


def current_experiment(project: Project | ProjectSpec, settings: ServingSettings, sahab: SahabSettings, config: ABConfig | None = None) -> Experiment | None:
    """The experiment the registry's aliases define now; None without a challenger (or when not split)."""
    spec = _spec(project)
    config = config or ab_config(spec, settings)
    if settings.ab_mode != "split" or not 0.0 < config.challenger_weight < 1.0:
        return None
    versions = registry.alias_versions((settings.champion_alias, settings.challenger_alias), name=spec.name, settings=sahab)
    champion, challenger = versions[settings.champion_alias], versions[settings.challenger_alias]
    if champion is None or challenger is None or champion == challenger:
        return None
    return Experiment(spec.name, str(champion), str(challenger), config.salt, config.challenger_weight)


def new_test(config: ABConfig, experiment: Experiment) -> SequentialTest:
    return SequentialTest(
        alpha=config.alpha,
        min_samples=config.min_units,
        challenger_weight=experiment.challenger_weight,
        outcome_min=config.outcome_min,
        outcome_max=config.outcome_max,
    )


def guardrails(store: ExperimentStore, experiment: Experiment, config: ABConfig) -> list[GuardrailCheck]:
    counters = parse_counters(store.counters(experiment.id))
    return [
        error_rate_guardrail(counters.requests, counters.errors, config.max_error_rate_increase, config.guardrail_min_requests),
        latency_guardrail(counters.latency, LATENCY_BOUNDS_S, config.max_latency_ratio, config.guardrail_min_requests),
    ]


def evaluate(store: ExperimentStore, experiment: Experiment, config: ABConfig, *, now: float | None = None, save: bool = True) -> dict:
    """Seal the units due by `now`, replay every unit, check the guardrails; return (and with `save`,
    store) the decision. The control plane reads with save=False; sealing is a function of the
    clock and the store, so every replica reports the same units."""
    now = time.time() if now is None else now
    if save:
        store.register(experiment, now)
    ended = store.ended(experiment.id)
    if ended is None:
        store.seal(experiment.id, now, config.unit_window_s, config.max_label_delay_s)
    test = new_test(config, experiment)
    test.observe_units(*store.units(experiment.id))
    decision = test.decide().as_dict()
    checks = guardrails(store, experiment, config)
    started = store.started_at(experiment.id)
    ends_at = None if started is None else started + config.max_duration_s
    breached = [c for c in checks if c.breached]
    if breached:
        decision["recommendation"] = "rollback"
        decision["reason"] = "guardrail: " + "; ".join(f"{c.name}: {c.detail}" for c in breached)
    elif decision["recommendation"] == "keep" and ends_at is not None and now >= ends_at:
        decision["recommendation"] = "end"
        decision["reason"] = "maximum duration reached without a significant difference: keep champion"
    decision.update(
        experiment_id=experiment.id,
        champion_version=experiment.champion_version,
        challenger_version=experiment.challenger_version,
        counts=store.counts(experiment.id),
        guardrails=[c.as_dict() for c in checks],
        started_at=started,
        ends_at=ends_at,
        past_max_duration=ends_at is not None and now >= ends_at,
        ended=ended,
        evaluated_at=now,
    )
    if save:
        store.save_decision(experiment.id, decision)
    if decision["alert"]:
        logger.warning("experiment %s: %s", experiment.id, decision["alert"])
    return decision


def action_for(decision: dict, *, allow_promotion: bool, allow_rollback: bool) -> Action | None:
    """What to do on `decision` given the permissions: a recommendation not allowed waits, and at
    max_duration becomes `end` (keep champion)."""
    if decision.get("ended"):
        return None
    rec, past = decision["recommendation"], decision["past_max_duration"]
    if rec == "promote" and allow_promotion:
        return "promote"
    if rec == "rollback" and allow_rollback:
        return "rollback"
    if rec == "end" or past:
        return "end"
    return None


def _owner() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def act(
    store: ExperimentStore,
    experiment: Experiment,
    decision: dict,
    action: Action,
    settings: ServingSettings,
    sahab: SahabSettings,
    *,
    project: Project | ProjectSpec | None = None,
    owner: str | None = None,
    now: float | None = None,
) -> ActionResult:
    """Promote, roll back or end `experiment` by version, at most once; then start the queued one.
    `project`: its gate judges a promotion (else the gate recorded on the version, tag sahab.gate)."""
    owner = owner or _owner()
    if store.ended(experiment.id) is not None:
        return ActionResult("none", f"experiment {experiment.id} has ended already", 200)
    if not store.claim(experiment.id, owner):
        return ActionResult("conflict", f"experiment {experiment.id} is already being acted on by another caller", 409)
    name, version = experiment.model_name, experiment.challenger_version
    try:
        if action == "promote":
            registry.promote_tested(
                tested_challenger=version,
                tested_champion=experiment.champion_version,
                name=name,
                project=project,
                from_alias=settings.challenger_alias,
                to_alias=settings.champion_alias,
                settings=sahab,
            )
            done, detail = "promoted", f"{settings.champion_alias} -> v{version}"
        else:
            current = registry.alias_versions((settings.challenger_alias,), name=name, settings=sahab)[settings.challenger_alias]
            if current != version:
                raise registry.PromotionConflict(f"{settings.challenger_alias} points at {f'v{current}' if current else 'nothing'}, not the tested v{version}")
            registry.mlflow_client(sahab).delete_registered_model_alias(name, settings.challenger_alias)
            done = "rolled_back" if action == "rollback" else "ended"
            detail = f"removed {settings.challenger_alias} from v{version}" + (" (keep champion: maximum duration)" if action == "end" else "")
    except (registry.PromotionConflict, registry.PromotionRefused) as exc:
        store.release(experiment.id, owner)
        return ActionResult("conflict" if isinstance(exc, registry.PromotionConflict) else "refused", str(exc), 409)
    except Exception:
        store.release(experiment.id, owner)
        raise
    record = {"action": done, "reason": decision["reason"], "recommendation": decision["recommendation"], "detail": detail}
    store.end(experiment.id, record, now)
    client = registry.mlflow_client(sahab)
    client.set_model_version_tag(name, version, DECISION_TAG, json.dumps({**decision, "action": done}, default=str, sort_keys=True))
    logger.info("experiment %s: %s (%s)", experiment.id, detail, decision["reason"])
    activated = activate_queued(name, store, settings, sahab)
    if activated:
        detail += f"; queued v{activated} is the new {settings.challenger_alias}"
    return ActionResult(done, detail, 200)


def activate_queued(name: str, store: ExperimentStore, settings: ServingSettings, sahab: SahabSettings) -> str | None:
    """Make the newest `sahab.queued=true` version the challenger when none is set; older queued
    versions are marked superseded. Returns the version, or None when nothing moved."""
    if registry.alias_versions((settings.challenger_alias,), name=name, settings=sahab)[settings.challenger_alias] is not None:
        return None
    owner = _owner()
    lock = f"queue-{name}"
    if not store.claim(lock, owner, ttl_s=60.0):
        return None
    try:
        client = registry.mlflow_client(sahab)
        champion = registry.alias_versions((settings.champion_alias,), name=name, settings=sahab)[settings.champion_alias]
        # Filtered here, not in the query: tag filters of search_model_versions differ between
        # MLflow's stores, `name=` is supported by all (checked: mlflow 3.17.2
        # mlflow/store/model_registry/sqlalchemy_store.py search_model_versions, whose docstring
        # documents a `name` or `run_id` condition).
        queued = sorted(
            (mv for mv in client.search_model_versions(f"name='{name}'") if mv.tags.get(QUEUED_TAG) == "true"),
            key=lambda mv: int(mv.version),
        )
        if not queued:
            return None
        newest = queued[-1]
        for mv in queued[:-1]:
            client.set_model_version_tag(name, mv.version, QUEUED_TAG, "superseded")
        if str(newest.version) == champion:
            client.set_model_version_tag(name, newest.version, QUEUED_TAG, "superseded")
            return None
        client.set_registered_model_alias(name, settings.challenger_alias, newest.version)
        client.set_model_version_tag(name, newest.version, QUEUED_TAG, "activated")
        logger.info("%s: queued v%s is the new %s", name, newest.version, settings.challenger_alias)
        return str(newest.version)
    finally:
        store.release(lock, owner)


def experiment_running(
    project: Project | ProjectSpec, settings: ServingSettings | None = None, sahab: SahabSettings | None = None, *, store: ExperimentStore | None = None
) -> bool:
    """True while the aliases define an experiment (split mode, both aliases) that has not ended: a
    retrain then registers its version queued (`sahab.queued=true`) instead of moving the challenger,
    and the monitoring triggers wait."""
    settings = settings or ServingSettings()
    sahab = sahab or SahabSettings()
    experiment = current_experiment(project, settings, sahab)
    if experiment is None:
        return False
    own = store is None
    store = store or open_store(settings, sahab.home)
    try:
        return store.ended(experiment.id) is None
    finally:
        if own:
            store.close()


def look(
    store: ExperimentStore,
    project: Project | ProjectSpec,
    settings: ServingSettings,
    sahab: SahabSettings,
    *,
    apply: bool | None = None,
    now: float | None = None,
) -> dict:
    """One look: evaluate and act (see the module docstring). `apply`: True also promotes, False only
    observes, None (default) promotes when SAHAB_SERVING_ALLOW_PROMOTION is set."""
    spec = _spec(project)
    config = ab_config(spec, settings)
    experiment = current_experiment(spec, settings, sahab, config)
    if experiment is None:
        activated = activate_queued(spec.name, store, settings, sahab) if apply is not False and settings.ab_mode == "split" else None
        detail = "no experiment: needs AB_MODE=split, 0 < challenger weight < 1 and both aliases set"
        return {
            "experiment_id": None,
            "decision": None,
            "action": "activated" if activated else "none",
            "detail": f"queued v{activated} is the new {settings.challenger_alias}" if activated else detail,
        }
    decision = evaluate(store, experiment, config, now=now)
    if decision["ended"]:
        detail = (
            f"experiment {experiment.id} ended ({decision['ended'].get('action')}) but {settings.challenger_alias} points at its "
            f"challenger v{experiment.challenger_version} again; to test the same pair again, change SAHAB_SERVING_AB_SALT"
        )
        return {"experiment_id": experiment.id, "decision": decision, "action": "none", "detail": detail}
    allow_promotion = settings.allow_promotion if apply is None else apply
    action = action_for(decision, allow_promotion=allow_promotion, allow_rollback=config.rollback or allow_promotion) if apply is not False else None
    if action is None:
        return {"experiment_id": experiment.id, "decision": decision, "action": "none", "detail": decision["reason"]}
    result = act(store, experiment, decision, action, settings, sahab, project=spec, now=now)
    return {"experiment_id": experiment.id, "decision": decision, "action": result.action, "detail": result.detail}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.serving.evaluator", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--project", default=None, help="the project folder or name (default SAHAB_PROJECT)")
    parser.add_argument("--once", action="store_true", help="one look, then exit (the CronJob)")
    parser.add_argument("--interval", type=float, default=None, help="seconds between looks (SAHAB_SERVING_EVALUATOR_INTERVAL_S)")
    parser.add_argument(
        "--apply",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--apply: also promote; --no-apply: only observe (default: roll back / end per the project, promote per SAHAB_SERVING_ALLOW_PROMOTION)",
    )
    parser.add_argument("--max-looks", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    project = resolve(args.project) if args.project else from_env()
    settings, sahab = ServingSettings(), SahabSettings()
    ab_config(project.spec, settings)  # a configuration that cannot run is exit 2 before any look
    interval = args.interval if args.interval is not None else settings.evaluator_interval_s
    if interval <= 0:
        raise ValueError(f"--interval must be > 0, got {interval}")
    store = open_store(settings, sahab.home)
    looks = 0
    try:
        while True:
            print(json.dumps(look(store, project, settings, sahab, apply=args.apply), default=str, sort_keys=True), flush=True)
            looks += 1
            if args.once or (args.max_looks is not None and looks >= args.max_looks):
                return 0
            time.sleep(interval)
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(run_cli(main))
