"""From `sahab project new` to a served model on `sahab local up --embedded`, as a user types it.

    .venv/bin/python benchmarks/project.py [--framework lightgbm] [--task binary] [--rows 20000] [--no-validate]

Phases, each through the `sahab` command line in a temporary folder (SAHAB_PROJECTS_DIR pointing
at it): `sahab project new`, `sahab project validate` (the dry run), `sahab local up --embedded
--project <it>` (the bootstrap generates example data, trains, exports and registers the champion;
then serving, control plane, evaluator and the monitoring schedule start), the first `/score`
answered by the new model, and `sahab local down`. The target (issue 19): new -> served within
3 minutes on 2 cores, validation aside. Prints the table; never fails on timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 180.0


def _sahab(*args: str, env: dict[str, str], timeout: float = 1200) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "sahab", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise SystemExit(f"sahab {' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", default="lightgbm", choices=["torch", "lightgbm", "xgboost", "sklearn"])
    p.add_argument("--task", default="binary", choices=["binary", "multiclass", "regression"])
    p.add_argument("--rows", type=int, default=20_000, help="example rows the bootstrap generates")
    p.add_argument("--no-validate", dest="validate", action="store_false", help="leave `sahab project validate` out")
    args = p.parse_args(argv)

    import httpx

    from workloads.local.projects import request_for

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sahab-bench-project-") as tmp:
        projects, state = Path(tmp) / "projects", Path(tmp) / "local"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")} | {"SAHAB_PROJECTS_DIR": str(projects)}
        name = "bench-model"

        def phase(label: str, *cli: str, timeout: float = 1200) -> subprocess.CompletedProcess:
            started = time.monotonic()
            done = _sahab(*cli, env=env, timeout=timeout)
            seconds[label] = time.monotonic() - started
            return done

        phase("sahab project new", "project", "new", name, "--framework", args.framework, "--task", args.task, "--dir", str(projects))
        if args.validate:
            phase("sahab project validate", "project", "validate", str(projects / name))
        try:
            phase(
                "sahab local up --embedded (bootstrap + services)",
                "local",
                "up",
                "--embedded",
                "--state-dir",
                str(state),
                "--project",
                name,
                "--rows",
                str(args.rows),
                "--no-challenger",
                "--no-prometheus",
            )
            from workloads.local import served_projects as served
            from workloads.project import load_project

            spec = load_project(projects / name).spec
            url = served(state)[name]["serving"]
            data = load_project(projects / name).module("data").generate(3, seed=5, start=datetime.now(UTC), days=0.01)
            started = time.monotonic()
            reply = httpx.post(f"{url}/score", json={"requests": [request_for(spec, data)]}, timeout=60)
            seconds["first /score answered"] = time.monotonic() - started
            if reply.status_code != 200:
                raise SystemExit(f"/score answered {reply.status_code}: {reply.text[:500]}")
            answer = reply.json()[0]
        finally:
            started = time.monotonic()
            _sahab("local", "down", "--state-dir", str(state), env=env, timeout=300)
            seconds["sahab local down"] = time.monotonic() - started

    served_s = sum(v for k, v in seconds.items() if k not in ("sahab project validate", "sahab local down"))
    width = max(len(k) for k in seconds) + 2
    print(f"\nsahab project new -> served ({args.framework}, {args.task}, {args.rows} example rows; {os.cpu_count()} CPUs)")
    print(f"{'phase':<{width}}{'seconds':>9}")
    for label, value in seconds.items():
        print(f"{label:<{width}}{value:>9.1f}")
    print(f"{'new -> served (validate aside)':<{width}}{served_s:>9.1f}   target <= {TARGET_S:.0f} s: {'met' if served_s <= TARGET_S else 'missed'}")
    print(f"{'all phases':<{width}}{sum(seconds.values()):>9.1f}")
    print(json.dumps({"answer": {k: answer[k] for k in ("model_name", "model_version", "variant")}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
