"""`sahab local up | status | down` (mounted on the main CLI as the `local` sub-app): every model
project under `projects/` (or those `--project` names) served on one machine."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sahab.cli.errors import exits
from workloads.local.platform import DEFAULT_STATE_DIR, LocalOptions, LocalStateError, down, service_health, status, up

local_app = typer.Typer(no_args_is_help=True, help="The platform on one machine: real services on loopback.")
console = Console()
StateDir = Annotated[Path, typer.Option("--state-dir", help="Logs, data and state.json of the local platform.")]


@local_app.command("up")
@exits
def local_up(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    embedded: Annotated[bool, typer.Option("--embedded", help="SQLite, folders and the embedded A/B store: no PostgreSQL, Redis or S3 server.")] = False,
    project: Annotated[
        list[str] | None,
        typer.Option("--project", help="Serve this project (a name under SAHAB_PROJECTS_DIR or projects/, or a folder; repeatable). Default: every project."),
    ] = None,
    rows: Annotated[int, typer.Option("--rows", min=500, help="Example rows each project's bootstrap generates (sources.generator).")] = 20_000,
    days: Annotated[
        float | None, typer.Option("--days", min=0.0001, help="Days the example rows span (default: each project's training window + holdout).")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="training.config override of the bootstrapped versions (repeatable; with --project).")
    ] = None,
    challenger: Annotated[bool, typer.Option("--challenger/--no-challenger", help="Also bootstrap a challenger (an A/B test from the start).")] = True,
    feature_server: Annotated[bool, typer.Option("--feature-server/--no-feature-server", help="Run each project's Feast feature server.")] = True,
    prometheus: Annotated[bool, typer.Option("--prometheus/--no-prometheus", help="Run Prometheus with the shipped rules where the binary exists.")] = True,
    notebooks: Annotated[
        bool,
        typer.Option("--notebooks", help="Also run JupyterLab with the platform's environment set (URL and token: workloads.local.notebooks.notebook_server)."),
    ] = False,
    drift_every: Annotated[float, typer.Option("--drift-every", min=5, help="Seconds between monitoring job runs.")] = 300.0,
    evaluator_every: Annotated[float, typer.Option("--evaluator-every", min=1, help="Seconds between A/B evaluator looks.")] = 60.0,
    timeout: Annotated[float, typer.Option("--timeout", min=10, help="Seconds one service may take to become healthy.")] = 240.0,
) -> None:
    """Start the shared services and, per project, its bootstrap (a served champion), serving, control
    plane, evaluator and monitoring schedule; return once all are healthy (exit 1 otherwise: LocalError
    names the service that failed and stops what was started; 2 for an unknown project)."""
    from workloads.local.platform import chosen_projects
    from workloads.pipeline import parse_overrides

    try:
        parsed = parse_overrides(list(overrides or ()))
    except ValueError as exc:
        raise LocalStateError(str(exc)) from None
    options = LocalOptions(
        state_dir=state_dir,
        embedded=embedded,
        projects=tuple(project or ()),
        rows=rows,
        days=days,
        challenger=challenger,
        feature_server=feature_server,
        prometheus=prometheus,
        notebooks=notebooks,
        drift_every_s=drift_every,
        evaluator_every_s=evaluator_every,
        timeout_s=timeout,
    )
    if parsed:
        options = replace(options, overrides={p.name: parsed for p in chosen_projects(options)})
    up(options, progress=lambda line: console.print(f"[dim]local[/] {escape(line)}", markup=True, highlight=False))
    _table(state_dir)
    console.print(
        f'[bold green]up[/]: env for clients: python -c \'import workloads.local as l; print(l.project_env("{state_dir}", "<project>"))\'; stop with: sahab local down',
        markup=True,
        highlight=False,
    )


@local_app.command("status")
@exits
def local_status(
    state_dir: StateDir = DEFAULT_STATE_DIR,
    fmt: Annotated[Literal["text", "json"], typer.Option("--format", help="text or json")] = "text",
) -> None:
    """Each service, its URL, health and PID. Exit 0 when every recorded service is healthy, 1 when
    one is not or the platform is not up, 2 when its state file is unreadable (LocalStateError)."""
    report = status(state_dir)
    if fmt == "json":
        typer.echo(json.dumps(report))
    else:
        _table(state_dir)
    services = report["services"]
    raise typer.Exit(0 if services and all(s["healthy"] for s in services) else 1)


@local_app.command("down")
@exits
def local_down(state_dir: StateDir = DEFAULT_STATE_DIR) -> None:
    """Stop only what `up` started (by the recorded PIDs, while they are still those processes)."""
    stopped = down(state_dir, progress=lambda line: console.print(f"[dim]local[/] {escape(line)}", markup=True, highlight=False))
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
