"""How long the policy gate takes, side by side with its targets.

    .venv/bin/python benchmarks/gate.py [--runs N] [--resources 1000]

Rows:
  * `sahab check uae-central` and `sahab check uae-north` as CI runs them (a fresh process: plan,
    three packs, schemas, checkov, the deployability checks, reports), with the phases each reports
    in report.json;
  * each deployability check alone on each of those plans (connectivity through NCA, IAM with
    parliament, scheduling, pins, alert rules through promtool, issue 21's create-time, grants,
    combinations, single-writer and deployer checks, and any check registered later);
  * pack evaluation alone on a generated plan of N resources (the uae-central plan's resources
    cloned until N): each pack on its own (start-up, Configure, Analyze x N, AnalyzeStack), and
    all three in parallel as the gate runs them.
Timing is reported, never asserted: these machines are noisy (2 cores shared).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
TARGET_GATE_S = 20.0
TARGET_PACKS_S = 3.0
# The AWS main job and the Azure one (issue 21: `sahab check uae-north` within the same 20 s).
ENVIRONMENTS = ("uae-central", "uae-north")


def generated_plan(base, n: int):
    """`base` with its resources cloned (names, URNs and dependencies suffixed) up to `n`."""
    plan = copy.deepcopy(base)
    fixed = [r for r in base.resources if r.type == "pulumi:pulumi:Stack" or r.type.startswith("pulumi:providers:")]
    movable = [r for r in base.resources if r not in fixed]
    out = list(fixed)
    i = 0
    while len(out) < n:
        suffix = f"-g{i}"
        renamed = {r.urn: r.urn + suffix for r in movable}
        for r in movable:
            if len(out) >= n:
                break
            c = copy.deepcopy(r)
            c.urn, c.name = c.urn + suffix, c.name + suffix
            c.parent = renamed.get(c.parent, c.parent)
            if c.options.get("dependsOn"):
                c.options["dependsOn"] = [renamed.get(d, d) for d in c.options["dependsOn"]]
            out.append(c)
        i += 1
    plan.resources = out
    return plan


def cli_check(env: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        done = subprocess.run([str(REPO / ".venv/bin/sahab"), "check", env, "--out", tmp], cwd=REPO, capture_output=True, text=True)
        wall = time.perf_counter() - started
        report = json.loads((Path(tmp) / "report.json").read_text())
    return {"wall": wall, "exit": done.returncode, **report["timings"], "resources": report["resources"], "manifests": report["manifests"]}


def phases_table(env: str, checks: list[dict]) -> Table:
    phases = Table(title=f"sahab check {env} (fresh process each run; seconds)")
    for col in (
        "run",
        "exit",
        "resources",
        "manifests",
        "plan",
        "packs",
        "schemas",
        "checkov*",
        "deployability**",
        "gate total",
        "target",
        "within",
        "wall (with start-up)",
    ):
        phases.add_column(col, justify="right")
    for i, c in enumerate(checks, 1):
        phases.add_row(
            str(i),
            str(c["exit"]),
            str(c["resources"]),
            str(c["manifests"]),
            *(f"{c.get(k, 0):.2f}" for k in ("plan", "packs", "schemas", "checkov", "deployability", "total")),
            f"{TARGET_GATE_S:.0f}",
            "yes" if c["total"] <= TARGET_GATE_S else "no",
            f"{c['wall']:.2f}",
        )
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--no-packs", action="store_true", help="skip the pack evaluation on the generated plan")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from sahab import gate
    from sahab.engine.offline import plan_environment

    console = Console(width=140)

    by_env = {env: [cli_check(env) for _ in range(args.runs)] for env in ENVIRONMENTS}
    for env, runs in by_env.items():
        console.print(phases_table(env, runs))
    console.print("* checkov's import runs while the plan is computed; its column is the time from being handed the manifests.")
    console.print("** alongside the packs and checkov (its own thread); the column is its own duration, not added to the total.")
    checks = by_env["uae-central"]

    from sahab.gate import deployability

    bases = {env: plan_environment(REPO, env) for env in ENVIRONMENTS}
    base = bases["uae-central"]
    for env, plan_ in bases.items():
        per_check = Table(title=f"Deployability checks alone on {env} ({args.runs} runs, seconds; a fresh Context each run)")
        for col in ("check", "median", "min", "max", "findings"):
            per_check.add_column(col, justify="right" if col != "check" else "left")
        for check in deployability.CHECKS:
            samples: list[float] = []
            found = 0
            for _ in range(args.runs):
                ctx = deployability.Context.of(plan_, REPO / "environments" / env)
                t = time.perf_counter()
                found = len(check(ctx))
                samples.append(time.perf_counter() - t)
            per_check.add_row(
                f"{check.__module__.rsplit('.', 1)[-1]}.{check.__name__}",
                f"{statistics.median(samples):.2f}",
                f"{min(samples):.2f}",
                f"{max(samples):.2f}",
                str(found),
            )
        console.print(per_check)
    if args.no_packs:
        return
    plan = generated_plan(base, args.resources)
    packs = gate.discover_packs()
    rows: list[tuple[str, list[float], float | None]] = []
    for pack in packs:
        samples = []
        for _ in range(args.runs):
            t = time.perf_counter()
            gate.run_pack(pack, plan)
            samples.append(time.perf_counter() - t)
        rows.append((f"{pack.name} alone", samples, None))
    samples = []
    for _ in range(args.runs):
        t = time.perf_counter()
        gate.run_packs(plan, packs)
        samples.append(time.perf_counter() - t)
    rows.append(("all three packs in parallel (as the gate runs them)", samples, TARGET_PACKS_S))
    startup = []
    for _ in range(args.runs):
        t = time.perf_counter()
        with gate.PackSession(packs[0], project=plan.project, stack=plan.stack, config=plan.config) as s:
            s.handshake_and_info()
        startup.append(time.perf_counter() - t)
    rows.append((f"start-up only ({packs[0].name}: process, import, port, GetAnalyzerInfo)", startup, None))

    table = Table(title=f"Pack evaluation on a generated plan of {len(plan.resources)} resources (seconds, {args.runs} runs)")
    for col in ("measurement", "median", "min", "max", "target", "within"):
        table.add_column(col, justify="right" if col != "measurement" else "left")
    for name, times, target in rows:
        med = statistics.median(times)
        table.add_row(
            name,
            f"{med:.2f}",
            f"{min(times):.2f}",
            f"{max(times):.2f}",
            f"{target:.1f}" if target else "",
            ("yes" if med <= target else "no") if target else "",
        )
    gate_med = statistics.median(c["total"] for c in checks)
    table.add_row(
        "sahab check uae-central, gate total (from report.json)",
        f"{gate_med:.2f}",
        f"{min(c['total'] for c in checks):.2f}",
        f"{max(c['total'] for c in checks):.2f}",
        f"{TARGET_GATE_S:.1f}",
        "yes" if gate_med <= TARGET_GATE_S else "no",
    )
    console.print(table)


if __name__ == "__main__":
    main()
