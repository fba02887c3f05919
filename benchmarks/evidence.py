"""How long `sahab evidence` takes, beside the gate it runs, against its 30 s target on uae-central.

    .venv/bin/python benchmarks/evidence.py [--runs N] [--env uae-central]

Rows, each a fresh process (as CI runs them), interleaved run by run so both see the same machine:
  * `sahab check <env>`: the gate alone;
  * `sahab evidence <env> --no-pdf`: the gate plus the assessment, OSCAL, pages, manifest and signature;
  * `sahab evidence <env>` with report.pdf through chromium (when installed);
  * `sahab evidence local`: no gate (the local platform has no plan).
`sahab evidence` reports its own phases (gate, inventory, pdf, total) on its last line; they are shown.
Timing is reported, never asserted: these machines are noisy (2 cores shared).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
SAHAB = str(REPO / ".venv/bin/sahab")
TARGET_S = 30.0


def run(args: list[str]) -> tuple[float, int, dict[str, float]]:
    started = time.perf_counter()
    done = subprocess.run([SAHAB, *args], cwd=REPO, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    wall = time.perf_counter() - started
    phases = {k: float(v) for k, v in re.findall(r"(gate|inventory|pdf|total) ([0-9.]+) s", done.stdout)}
    return wall, done.returncode, phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--env", default="uae-central")
    args = parser.parse_args()
    console = Console(width=150)
    with tempfile.TemporaryDirectory(prefix="sahab-bench-evidence-") as tmp:
        rows: dict[str, list[tuple[float, int, dict[str, float]]]] = {}
        commands = {
            f"sahab check {args.env}": ["check", args.env, "--out", f"{tmp}/check"],
            f"sahab evidence {args.env} --no-pdf": ["evidence", args.env, "--out", f"{tmp}/nopdf", "--state-dir", f"{tmp}/state", "--no-pdf"],
            "sahab evidence local --no-pdf": ["evidence", "local", "--out", f"{tmp}/local", "--state-dir", f"{tmp}/state", "--no-pdf"],
        }
        if shutil.which("chromium"):
            commands[f"sahab evidence {args.env} (with report.pdf)"] = ["evidence", args.env, "--out", f"{tmp}/pdf", "--state-dir", f"{tmp}/state", "--pdf"]
        for _ in range(args.runs):
            for name, argv in commands.items():
                rows.setdefault(name, []).append(run(argv))
    table = Table(title=f"sahab evidence vs the gate ({args.runs} runs each, fresh processes, interleaved; seconds)")
    for col in ("command", "exit", "median wall", "min", "max", "gate*", "pdf*", "evidence total*", "target", "within"):
        table.add_column(col, justify="left" if col == "command" else "right")
    for name, samples in rows.items():
        walls = [w for w, _, _ in samples]
        last = samples[-1][2]
        evidence = name.startswith("sahab evidence")
        med = statistics.median(walls)
        table.add_row(
            name,
            ",".join(sorted({str(c) for _, c, _ in samples})),
            f"{med:.1f}",
            f"{min(walls):.1f}",
            f"{max(walls):.1f}",
            f"{last['gate']:.1f}" if "gate" in last else "-",
            f"{last['pdf']:.1f}" if "pdf" in last else "-",
            f"{last['total']:.1f}" if "total" in last else "-",
            f"{TARGET_S:.0f}" if evidence else "",
            ("yes" if med <= TARGET_S else "no") if evidence else "",
        )
    console.print(table)
    console.print("* the phases `sahab evidence` reports for its last run (the gate runs as `sahab check` does, inside it).")


if __name__ == "__main__":
    main()
