"""`sahab local up | status | down` (mounted on the main CLI as the `local` sub-app)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from workloads.local.platform import DEFAULT_STATE_DIR, LocalError, LocalOptions, down, service_health, status, up

local_app = typer.Typer(no_args_is_help=True, help="The platform on one machine: real services on loopback.")
console = Console()
StateDir = Annotated[Path, typer.Option("--state-dir", help="Logs, data and state.json of the local platform.")]


class StatusFormat(StrEnum):
    text = "text"
    json = "json"


@local_app.command("up")
def local_up(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    embedded: Annotated[bool, typer.Option("--embedded", help="SQLite, folders and the embedded A/B store: no PostgreSQL, Redis or S3 server.")] = False,
    rows: Annotated[int, typer.Option("--rows", min=1000, help="Transactions the bootstrap generates.")] = 20_000,
    steps: Annotated[int, typer.Option("--steps", min=10, help="Training steps per bootstrapped version.")] = 200,
    challenger: Annotated[bool, typer.Option("--challenger/--no-challenger", help="Also bootstrap a challenger (an A/B test from the start).")] = True,
    prometheus: Annotated[bool, typer.Option("--prometheus/--no-prometheus", help="Run Prometheus with the shipped rules where the binary exists.")] = True,
    drift_every: Annotated[float, typer.Option("--drift-every", min=5, help="Seconds between drift job runs.")] = 300.0,
    evaluator_every: Annotated[float, typer.Option("--evaluator-every", min=1, help="Seconds between A/B evaluator looks.")] = 60.0,
    timeout: Annotated[float, typer.Option("--timeout", min=10, help="Seconds one service may take to become healthy.")] = 240.0,
) -> None:
    """Start every service, bootstrap a served champion, return once all are healthy (exit 1 otherwise)."""
    options = LocalOptions(
        state_dir=state_dir,
        embedded=embedded,
        rows=rows,
        steps=steps,
        challenger=challenger,
        prometheus=prometheus,
        drift_every_s=drift_every,
        evaluator_every_s=evaluator_every,
        timeout_s=timeout,
    )
    try:
        up(options, progress=lambda line: console.print(f"[dim]local[/] {line}", markup=True, highlight=False))
    except LocalError as exc:
        console.print(f"[bold red]error[/]: {exc}", markup=True, highlight=False)
        raise typer.Exit(1) from None
    _table(state_dir)
    console.print(
        f"[bold green]up[/]: env for clients: python -c 'import workloads.local as l; print(l.platform_env(\"{state_dir}\"))'; stop with: sahab local down",
        markup=True,
        highlight=False,
    )


@local_app.command("status")
def local_status(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    fmt: Annotated[StatusFormat, typer.Option("--format", help="text or json")] = StatusFormat.text,
) -> None:
    """Each service, its URL, health and PID. Exit 0 when every recorded service is healthy, 1 when
    one is not or the platform is not up."""
    try:
        report = status(state_dir)
    except LocalError as exc:
        console.print(f"[bold red]error[/]: {exc}", markup=True, highlight=False)
        raise typer.Exit(2) from None
    if fmt is StatusFormat.json:
        typer.echo(json.dumps(report))
    else:
        _table(state_dir)
    services = report["services"]
    raise typer.Exit(0 if services and all(s["healthy"] for s in services) else 1)


@local_app.command("down")
def local_down(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Stop only what `up` started (by the recorded PIDs, while they are still those processes)."""
    stopped = down(state_dir, progress=lambda line: console.print(f"[dim]local[/] {line}", markup=True, highlight=False))
    console.print(f"stopped {len(stopped)} service(s)")


def _table(state_dir: Path) -> None:
    rows = service_health(state_dir)
    if not rows:
        console.print(f"no local platform under {state_dir} (sahab local up starts one)")
        return
    table = Table("service", "url", "pid", "health", title=f"local platform ({state_dir})")
    for row in rows:
        health = "[green]healthy[/]" if row["healthy"] else f"[red]{row['reason']}[/]"
        table.add_row(row["name"], row["url"] or "-", str(row["pid"]), health)
    console.print(table)
