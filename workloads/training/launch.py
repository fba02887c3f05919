"""One process per GPU for a training command, with SIGTERM handled the way a spot reclaim needs.

    python -m workloads.training.launch --nproc 4 -- python -m workloads.pipeline retrain --resume \
        --set deepspeed.enabled=true

Each rank gets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (what
`deepspeed.init_distributed` reads). Why not the `deepspeed` launcher: on SIGTERM it gives its
ranks 30 s before SIGKILL and exits 1, and its outer runner has no handler at all, so under a
PID 1 that forwards signals the container ends before the ranks have checkpointed. Here SIGTERM
(and SIGINT) is forwarded to every rank once and the launcher then waits for all of them, however
long: the pod's terminationGracePeriodSeconds is the only deadline. Exit status: 0 when every
rank succeeded; 143 when stopped by a signal and a rank exited 143 (checkpoint written: run again
with --resume); otherwise the first failing rank's status (the other ranks are stopped).

In the image it runs under `tini` as PID 1 (reaps zombies, forwards SIGTERM to this process):
the Job's command is `/usr/bin/tini -- python -m workloads.training.launch ...`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

EXIT_INTERRUPTED = 143


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank: int, world: int, port: int, base: dict[str, str]) -> dict[str, str]:
    return {
        **base,
        "RANK": str(rank),
        "LOCAL_RANK": str(rank),
        "WORLD_SIZE": str(world),
        "LOCAL_WORLD_SIZE": str(world),
        "MASTER_ADDR": base.get("MASTER_ADDR", "127.0.0.1"),
        "MASTER_PORT": str(port),
    }


def launch(command: list[str], nproc: int, *, poll_s: float = 0.2) -> int:
    port = int(os.environ.get("MASTER_PORT") or _free_port())
    procs = [subprocess.Popen(command, env=rank_env(r, nproc, port, dict(os.environ))) for r in range(nproc)]
    stopping = {"signal": None}

    def forward(signum, frame):
        if stopping["signal"] is None:
            stopping["signal"] = signum
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        failed: int | None = None
        while [p.poll() for p in procs].count(None):  # poll every rank: any() would stop at the first live one
            if failed is None and stopping["signal"] is None:
                codes = [p.returncode for p in procs if p.returncode not in (None, 0)]
                if codes:
                    # A rank crashed: the others would wait forever in their next collective.
                    failed = codes[0]
                    print(f"launch: a rank exited {failed}; stopping the others", file=sys.stderr, flush=True)
                    for p in procs:
                        if p.poll() is None:
                            p.terminate()
            time.sleep(poll_s)
        codes = [p.returncode for p in procs]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if failed is not None:
        return failed
    if stopping["signal"] is not None and EXIT_INTERRUPTED in codes:
        return EXIT_INTERRUPTED
    return next((c if c > 0 else 128 - c for c in codes if c != 0), 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workloads.training.launch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nproc", type=int, required=True, help="ranks (one per GPU)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command every rank runs")
    args = p.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.nproc < 1:
        p.error("give --nproc N >= 1 and a command after --")
    return launch(command, args.nproc)


if __name__ == "__main__":
    sys.exit(main())
