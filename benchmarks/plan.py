"""How long the offline plan and the unit tests take, side by side with their targets.

    .venv/bin/python benchmarks/plan.py [--runs N] [--skip-tests]

Rows:
  * `sahab plan uae-central` and `sahab plan uae-north` (Azure) as a user runs them (a fresh process:
    imports, program, plan.json, manifests);
  * the same plans in-process (the engine alone, imports already warm), for uae-central, smb, uae-north;
  * the unit-test suite (`pytest -m "not slow and not integration"`), once.
Timing is reported, never asserted: these machines are noisy. Beside wall time each row gives the
CPU seconds the plan used (its process, or the CLI child): on a shared machine the wall time
includes waiting for the cores, the CPU time does not.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
TARGET_PLAN_S = 10.0


def timed(fn, runs: int, cpu: list[float] | None = None) -> list[float]:
    """Wall seconds of each run; CPU seconds (this process and its children) appended to `cpu`."""
    out = []
    for _ in range(runs):
        c0, t = _cpu(), time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(_cpu() - c0)
    return out


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cli_plan(env: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([str(REPO / ".venv/bin/sahab"), "plan", env, "--out", tmp, "--quiet"], cwd=REPO, check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-tests", action="store_true", help="Skip timing the unit-test suite.")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from sahab.engine.offline import plan_environment

    console = Console(width=130)
    rows = []
    resources: dict[str, int] = {}
    for env in ("uae-central", "smb", "uae-north"):
        plan_environment(REPO, env)  # warm imports once
        cpu: list[float] = []
        samples = timed(lambda env=env: resources.__setitem__(env, len(plan_environment(REPO, env).resources)), args.runs, cpu)
        rows.append((f"plan {env} (in-process)", resources[env], samples, cpu, TARGET_PLAN_S))
    for i, env in enumerate(("uae-central", "uae-north")):
        cpu = []
        rows.insert(i, (f"sahab plan {env} (CLI, cold process)", resources[env], timed(lambda env=env: cli_plan(env), args.runs, cpu), cpu, TARGET_PLAN_S))

    table = Table(title=f"Offline plan on {os.cpu_count()} cores ({args.runs} runs each; load average {os.getloadavg()[0]:.1f} at the start)")
    for col in ("what", "resources", "median s", "min s", "max s", "CPU s (median)", "target s", "within target"):
        table.add_column(col, justify="left" if col == "what" else "right")
    for what, n, samples, cpu, target in rows:
        med = statistics.median(samples)
        table.add_row(
            what,
            str(n),
            f"{med:.2f}",
            f"{min(samples):.2f}",
            f"{max(samples):.2f}",
            f"{statistics.median(cpu):.2f}",
            f"{target:.0f}",
            "yes" if med <= target else "NO",
        )
    console.print(table)

    if not args.skip_tests:
        t = time.perf_counter()
        proc = subprocess.run(
            [str(REPO / ".venv/bin/python"), "-m", "pytest", "-q", "-m", "not slow and not integration", "-p", "no:cacheprovider"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - t
        summary = next((line for line in reversed(proc.stdout.splitlines()) if " passed" in line or " failed" in line), proc.stdout[-200:])
        tests = Table(title="Unit-test suite (not slow, not integration)")
        for col in ("suite", "wall s", "result"):
            tests.add_column(col)
        tests.add_row("pytest -m 'not slow and not integration'", f"{elapsed:.1f}", summary.strip())
        console.print(tests)


if __name__ == "__main__":
    main()
