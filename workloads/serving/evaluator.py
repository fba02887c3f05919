"""The one decision-maker of A/B experiments.

    python -m workloads.serving.evaluator [--once] [--interval S] [--apply | --no-apply]

Each look: resolve the aliases (`SAHAB_SERVING_CHAMPION_ALIAS` / `CHALLENGER_ALIAS`) to versions,
which names the experiment (salt + split + both versions, `state.experiment_id`); seal keys idle
for `TEST_KEY_IDLE_S`; replay the experiment's units from the shared store through
`abtest.SequentialTest`; store the decision (every replica's `/experiment` shows it); and, when
promotion is allowed (`SAHAB_SERVING_ALLOW_PROMOTION=true` or `--apply`), act on it **by version**:
claim the experiment in the store (exactly one claimant wins), then compare-and-set the registry
aliases (`registry.client.promote_tested`): the version promoted is the one tested, or nothing
moves. Serving replicas notice the moved aliases within `RELOAD_INTERVAL_S`.

On the cluster it runs as a CronJob (one look per run, `--once`, concurrencyPolicy Forbid); the
control plane's `/promote` calls the same `act()`. Exit status: 0, 2 on bad configuration.
The JSON line printed per look is `{"experiment_id", "decision", "action", "detail"}`.
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

from workloads.registry import client as registry
from workloads.serving.abtest import SequentialTest
from workloads.serving.settings import ServingSettings
from workloads.serving.state import Experiment, ExperimentStore, open_store
from workloads.settings import SahabSettings, run_cli

logger = logging.getLogger("workloads.serving.evaluator")


@dataclass(frozen=True)
class ActionResult:
    action: str
    """none | promoted | rolled_back | conflict | refused"""
    detail: str
    status: int
    """HTTP status the control plane answers with: 200, or 409 for conflict / refused."""


def current_experiment(settings: ServingSettings, sahab: SahabSettings) -> Experiment | None:
    """The experiment the registry's aliases define now; None without a challenger (or when off)."""
    if settings.ab_mode != "split" or not 0.0 < settings.challenger_weight < 1.0:
        return None
    versions = registry.alias_versions((settings.champion_alias, settings.challenger_alias), settings=sahab)
    champion, challenger = versions[settings.champion_alias], versions[settings.challenger_alias]
    if champion is None or challenger is None or champion == challenger:
        return None
    return Experiment(sahab.model_name, str(champion), str(challenger), settings.ab_salt, settings.challenger_weight)


def new_test(settings: ServingSettings, experiment: Experiment) -> SequentialTest:
    return SequentialTest(
        alpha=settings.test_alpha,
        min_samples=settings.test_min_samples,
        challenger_weight=experiment.challenger_weight,
        outcome_min=settings.outcome_min,
        outcome_max=settings.outcome_max,
        key_outcomes=settings.test_key_outcomes,
    )


def evaluate(store: ExperimentStore, experiment: Experiment, settings: ServingSettings, *, seal: bool = True, save: bool = True) -> dict:
    """Seal idle keys, replay every unit of the experiment, store and return the decision.

    The control plane reads with seal=False, save=False: a pure function of the shared store, so
    every replica answers the same."""
    if save:
        store.register(experiment)
    if seal:
        store.seal_idle(experiment.id, settings.test_key_idle_s)
    test = new_test(settings, experiment)
    variants, values = store.units(experiment.id)
    test.observe_units(variants, values)
    decision = test.decide().as_dict()
    decision.update(
        experiment_id=experiment.id,
        champion_version=experiment.champion_version,
        challenger_version=experiment.challenger_version,
        outcomes=store.outcome_counts(experiment.id),
    )
    if save:
        decision["evaluated_at"] = time.time()
        store.save_decision(experiment.id, decision)
    if decision["alert"]:
        logger.warning("experiment %s: %s", experiment.id, decision["alert"])
    return decision


def act(
    store: ExperimentStore, experiment: Experiment, decision: dict, settings: ServingSettings, sahab: SahabSettings, *, owner: str | None = None
) -> ActionResult:
    """Promote or roll back on `decision`, by version, at most once per experiment."""
    rec = decision["recommendation"]
    if rec == "keep":
        return ActionResult("none", decision["reason"], 200)
    owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    if not store.claim(experiment.id, owner):
        return ActionResult("conflict", f"experiment {experiment.id} is already being acted on by another caller", 409)
    name, version = experiment.model_name, experiment.challenger_version
    try:
        if rec == "promote":
            registry.promote_tested(
                tested_challenger=version,
                tested_champion=experiment.champion_version,
                name=name,
                from_alias=settings.challenger_alias,
                to_alias=settings.champion_alias,
                settings=sahab,
            )
            action, detail = "promoted", f"{settings.champion_alias} -> v{version}"
        else:
            now = registry.alias_versions((settings.challenger_alias,), name=name, settings=sahab)
            if now[settings.challenger_alias] != version:
                raise registry.PromotionConflict(f"{settings.challenger_alias} points at v{now[settings.challenger_alias]}, not the tested v{version}")
            registry.mlflow_client(sahab).delete_registered_model_alias(name, settings.challenger_alias)
            action, detail = "rolled_back", f"removed {settings.challenger_alias} from v{version}"
    except registry.PromotionConflict as exc:
        store.release(experiment.id, owner)
        return ActionResult("conflict", str(exc), 409)
    except registry.PromotionRefused as exc:
        store.release(experiment.id, owner)
        return ActionResult("refused", str(exc), 409)
    except Exception:
        store.release(experiment.id, owner)
        raise
    registry.mlflow_client(sahab).set_model_version_tag(name, version, "sahab.abtest.decision", json.dumps(decision, default=str, sort_keys=True))
    logger.info("experiment %s: %s (%s)", experiment.id, detail, decision["reason"])
    return ActionResult(action, detail, 200)


def look(store: ExperimentStore, settings: ServingSettings, sahab: SahabSettings, *, apply: bool) -> dict:
    experiment = current_experiment(settings, sahab)
    if experiment is None:
        return {
            "experiment_id": None,
            "decision": None,
            "action": "none",
            "detail": "no experiment: needs AB_MODE=split, 0 < CHALLENGER_WEIGHT < 1 and both aliases set",
        }
    decision = evaluate(store, experiment, settings)
    result = act(store, experiment, decision, settings, sahab) if apply else ActionResult("none", "promotion not applied", 200)
    return {"experiment_id": experiment.id, "decision": decision, "action": result.action, "detail": result.detail}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workloads.serving.evaluator", description=__doc__.split("\n")[1])
    parser.add_argument("--once", action="store_true", help="one look, then exit (the CronJob)")
    parser.add_argument("--interval", type=float, default=None, help="seconds between looks (SAHAB_SERVING_EVALUATOR_INTERVAL_S)")
    parser.add_argument("--apply", action=argparse.BooleanOptionalAction, default=None, help="act on the decision (default: SAHAB_SERVING_ALLOW_PROMOTION)")
    parser.add_argument("--max-looks", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings, sahab = ServingSettings(), SahabSettings()
    interval = args.interval if args.interval is not None else settings.evaluator_interval_s
    if interval <= 0:
        raise ValueError(f"--interval must be > 0, got {interval}")
    apply = settings.allow_promotion if args.apply is None else args.apply
    store = open_store(settings, sahab.home)
    looks = 0
    try:
        while True:
            print(json.dumps(look(store, settings, sahab, apply=apply), default=str, sort_keys=True), flush=True)
            looks += 1
            if args.once or (args.max_looks is not None and looks >= args.max_looks):
                return 0
            time.sleep(interval)
    finally:
        store.close()


if __name__ == "__main__":
    sys.exit(run_cli(main))
