"""`sahab project new | validate | run` (mounted on the main CLI as the `project` sub-app).

The commands are thin: the scaffold is workloads/project/scaffold, validation and local runs are
workloads/local/projects.py. Exit status: 0 done; 2 a bad name, project or setting (the message
names the file, the field and the fix); 1 the dry run failed (validate: it says at which step);
3 the gate refused the version (run).
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape

from sahab.cli.errors import exits
from workloads.errors import SahabError

project_app = typer.Typer(no_args_is_help=True, help="Model projects: scaffold one, validate it offline, build a version locally.")
console = Console(highlight=False, soft_wrap=True)
Overrides = Annotated[list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="Override training.config for this run (repeatable; dotted keys).")]


def _quiet_libraries() -> None:
    """The libraries' deprecation notices and INFO logs (MLflow's database setup) would bury the
    progress lines. Some libraries reset the warning filters when imported, so the notices are
    dropped where they are shown; MLflow reads its level from MLFLOW_LOGGING_LEVEL when it
    configures its loggers (checked: mlflow 3.17.2 mlflow/utils/logging_utils.py)."""
    shown = warnings.showwarning

    def show(message, category, *args, **kwargs):
        if not issubclass(category, DeprecationWarning | FutureWarning | PendingDeprecationWarning):
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    for name in ("mlflow", "alembic", "feast"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _say(line: str) -> None:
    console.print(f"[dim]project[/] {escape(line)}", markup=True)


def _overrides(items: list[str] | None) -> dict:
    from workloads.pipeline import parse_overrides

    try:
        return parse_overrides(list(items or ()))
    except ValueError as exc:
        raise BadOverride(str(exc)) from None


class BadOverride(SahabError):
    """A `--set` that is not KEY=VALUE. Exit 2."""


@project_app.command("new")
@exits
def project_new(
    name: Annotated[str, typer.Argument(help="The project's name: 3-32 lower-case letters, digits or '-' (it names the model and its folder).")],
    framework: Annotated[Literal["torch", "lightgbm", "xgboost", "sklearn"], typer.Option("--framework", help="What train.py trains with.")] = "lightgbm",
    task: Annotated[Literal["binary", "multiclass", "regression"], typer.Option("--task", help="What the model predicts.")] = "binary",
    directory: Annotated[Path, typer.Option("--dir", help="Folder the project folder is created in.")] = Path("projects"),
    team: Annotated[str, typer.Option("--team", help="The owning team (its namespace, quotas and roles).")] = "data-science",
) -> None:
    """Scaffold a project (project.yaml with every section commented, train.py, data.py, README.md)
    that validates and runs as generated. Refuses an existing folder and a bad name."""
    from workloads.project.scaffold import new_project

    made = new_project(name, framework=framework, task=task, directory=directory, team=team)
    folder = directory / name
    console.print(f"[bold green]created[/] {folder}/ ({framework}, {task}): {', '.join(made.files)}", markup=True)
    console.print(f"next: sahab project validate {folder}\n      sahab project run {folder}\n      see {folder}/README.md", markup=False)


@project_app.command("validate")
@exits
def project_validate(
    folder: Annotated[Path, typer.Argument(help="The project folder (holding project.yaml).")],
    rows: Annotated[int, typer.Option("--rows", min=200, help="Rows of the dry run's sample.")] = 2_000,
    overrides: Overrides = None,
    fmt: Annotated[Literal["text", "json"], typer.Option("--format", help="text, or json: one object with the timings and metrics last")] = "text",
) -> None:
    """Offline: the schema, the entry point, the data, then a dry run on a small sample (training
    through the real runtime, export and parity, the holdout and gate, one request through the
    service in-process). Exit 0 valid, 2 a bad project, 1 the dry run failed (it says where)."""
    from workloads.local.projects import validate_folder

    _quiet_libraries()
    report = validate_folder(folder, rows=rows, overrides=_overrides(overrides), progress=_say)
    console.print(f"[bold green]valid[/]: {report.project.name} ({report.seconds['total']:.0f}s)", markup=True)
    if fmt == "json":
        typer.echo(
            json.dumps(
                {
                    "project": report.project.name,
                    "seconds": report.seconds,
                    "rows": report.rows,
                    "metrics": report.metrics,
                    "gate": report.gate.to_dict() if report.gate is not None else None,
                    "parity_max_abs_diff": report.parity,
                },
                sort_keys=True,
            )
        )


@project_app.command("run")
@exits
def project_run(
    folder: Annotated[Path, typer.Argument(help="The project folder (holding project.yaml).")],
    state_dir: Annotated[Path, typer.Option("--state-dir", help="The local platform's folder (`sahab local up` serves what lands here).")] = Path(
        ".sahab/local"
    ),
    rows: Annotated[int, typer.Option("--rows", min=500, help="Example rows generated on the first run (projects with sources.generator).")] = 20_000,
    overrides: Overrides = None,
    key: Annotated[str | None, typer.Option("--key", help="Run key (names the frozen training set); default: a new one.")] = None,
) -> None:
    """Locally: features -> train -> export -> register as challenger (champion when there is none),
    with progress; prints the version and its holdout metrics. Exit 3 when the gate refuses it."""
    from workloads.local.projects import run_folder

    _quiet_libraries()
    outcome = run_folder(folder, state_dir=state_dir, rows=rows, overrides=_overrides(overrides), key=key, progress=_say)
    shown = ", ".join(f"{k} {v:.4g}" for k, v in outcome.holdout.items())
    against = ", ".join(f"{k} {v:.4g}" for k, v in (outcome.champion_holdout or {}).items())
    if outcome.status == "gate_failed":
        console.print(f"[bold red]refused[/]: {outcome.project} v{outcome.version} (no alias): {escape(outcome.gate.describe())}", markup=True)
    else:
        where = outcome.alias or "queued (an experiment is running)"
        console.print(f"[bold green]registered[/] {outcome.project} v{outcome.version} as {where}", markup=True)
    console.print(f"holdout ({outcome.frames.lineage['rows']['holdout']} rows): {shown}", markup=False)
    if against:
        console.print(f"champion v{outcome.champion_version} on the same holdout: {against}", markup=False)
    raise typer.Exit(outcome.exit_code)
