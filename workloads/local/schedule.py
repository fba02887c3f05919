"""`python -m workloads.local.schedule --every SECONDS -- COMMAND ...`: the local stand-in for a
Kubernetes CronJob with `concurrencyPolicy: Forbid`.

Runs COMMAND now and then every SECONDS seconds (counted from each run's start; a run that takes
longer delays the next, never overlaps it), until SIGTERM or SIGINT, which is forwarded to a run in
progress. Each run's start, exit status and duration are printed (the service's log), and the
last one is written as JSON to `--status FILE` (`{"runs", "last_exit", "last_start", "last_seconds"}`)
so `sahab local status` and tests can see the job is working, not only alive.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workloads.local.schedule", description=__doc__.split("\n\n")[0])
    p.add_argument("--every", type=float, required=True, help="seconds between run starts")
    p.add_argument("--status", type=Path, help="write the last run's outcome here (JSON)")
    p.add_argument("--max-runs", type=int, help="stop after this many runs (tests)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.every <= 0:
        p.error("give --every > 0 and a command after --")

    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runs = 0
    while not stopping and (args.max_runs is None or runs < args.max_runs):
        start = time.time()
        print(f"schedule: run {runs + 1} starts: {' '.join(command)}", flush=True)
        child = subprocess.Popen(command, env=os.environ.copy())
        code = child.wait()
        child = None
        runs += 1
        seconds = time.time() - start
        print(f"schedule: run {runs} exited {code} after {seconds:.1f}s", flush=True)
        if args.status:
            tmp = args.status.with_suffix(".tmp")
            tmp.write_text(json.dumps({"runs": runs, "last_exit": code, "last_start": start, "last_seconds": seconds}))
            os.replace(tmp, args.status)
        while not stopping and time.time() < start + args.every and (args.max_runs is None or runs < args.max_runs):
            time.sleep(min(0.5, max(0.0, start + args.every - time.time())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
