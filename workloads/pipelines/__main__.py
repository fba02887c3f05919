"""`python -m workloads.pipelines`: one step of a project's pipeline in its own process, as each step
of the project's Argo WorkflowTemplate runs it (components/kubernetes/workflows.py).

    python -m workloads.pipelines step NAME --key KEY [--project DIR] [--resume] [--set k=v] [--alias challenger]
    python -m workloads.pipelines steps          the steps, in order, as JSON

The step reads what the steps before it produced from the run's records under the project's
storage (`<feast root>/pipeline-runs/<key>/`), skips itself when its cache holds the same inputs,
and records what it used for the next one. Run the steps in order with the same key; the train
step again with the same key (and `--resume`) continues from its checkpoint.

Exit status: 0 done (or skipped), 2 bad settings or data (or an earlier step has not run), 3 the
gate (register) or the export's parity refused, 143 training stopped by SIGTERM after a
checkpoint. The last line printed is one JSON object: the step, skipped or not, its inputs and
outputs hashes and its output values.
"""

from __future__ import annotations

import argparse
import json
import sys

from workloads.pipelines.graph import EXIT_GATE, EXIT_INTERRUPTED, STEP_NAMES, STEPS
from workloads.settings import run_cli


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m workloads.pipelines", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    one = sub.add_parser("step", help="run (or skip) one step of a run")
    one.add_argument("name", choices=STEP_NAMES)
    one.add_argument("--key", required=True, help="the run key: the same for every step of one run")
    one.add_argument("--project", help="the project's folder, or its name under SAHAB_PROJECTS_DIR (default: SAHAB_PROJECT)")
    one.add_argument("--resume", action="store_true", help="train: continue from the run key's latest checkpoint")
    one.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="train: override training.config")
    one.add_argument("--alias", default="challenger", choices=["challenger", "champion"], help="register: the alias when the gate passes")
    one.add_argument("--prediction-log", help="ingest: the prediction log (default: SAHAB_SERVING_PREDICTION_LOG_URI)")
    one.add_argument("--no-cache", action="store_true", help="run the step even when its cache holds the same inputs")
    sub.add_parser("steps", help="the steps in order, as JSON")
    return p


def _print(line: str) -> None:
    print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "steps":
        print(json.dumps([{"name": s.name, "title": s.title, "after": list(s.after), "trains": s.trains} for s in STEPS]))
        return 0
    from workloads.pipelines.context import PipelineRun, check_config, parse_overrides
    from workloads.pipelines.runner import execute
    from workloads.pipelines.steps import Follower, StepInterrupted, gate_result
    from workloads.project.project import from_env, resolve

    project = resolve(args.project) if args.project else from_env()
    overrides = parse_overrides(args.overrides)
    if args.name == "train":
        check_config(project, overrides)
    run = PipelineRun(
        project,
        key=args.key,
        overrides=overrides,
        resume=args.resume,
        alias=args.alias,
        prediction_log=args.prediction_log,
        use_cache=not args.no_cache,
        log=_print,
    )
    try:
        result = execute(run, args.name)
    except StepInterrupted as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Follower:
        return 0
    finally:
        run.close()
    record = result.record
    print(json.dumps({"project": project.name, "key": run.key, "step": args.name, **result.as_dict(), "values": record.values}, sort_keys=True, default=str))
    if args.name == "register" and record.values.get("status") == "gate_failed":
        gate = gate_result(run.record("evaluate").values)
        print(f"error: {project.name} v{record.values.get('version')}: the gate refused it: {gate.describe()}", file=sys.stderr, flush=True)
        return EXIT_GATE
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
