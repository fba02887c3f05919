"""The one place the `sahab` commands turn a user-facing error into a message and an exit status.

Every command is decorated with `@exits`: a `SahabError` (workloads/errors.py) escaping it is
printed as `error: <message>` on stderr and ends the command with the class's `exit_code`
(2 bad input or settings, 1 a check that ran and failed). Anything else is a bug and keeps its
traceback. tests/stacks/test_sahab_cli.py proves every registered command carries it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from workloads.errors import SahabError

P = ParamSpec("P")
R = TypeVar("R")
err = Console(stderr=True)


class NotACheckout(SahabError):
    """`sahab` ran outside a Sahab checkout (no Pulumi.yaml and environments/ above the working folder). Exit 2."""

    exit_code = 2


def exits(command: Callable[P, R]) -> Callable[P, R]:
    """Run `command`; on a SahabError print its message and exit with its class's `exit_code`.

    functools.wraps keeps the signature typer reads the options from (inspect.signature and
    typing.get_type_hints follow `__wrapped__`)."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SahabError as exc:
            # escape(): a message quoting `[secret]` or a list prints as written, not as markup;
            # soft_wrap: no line breaks inserted at the terminal's width (logs and grep see one line).
            err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None

    run.__sahab_exits__ = True  # type: ignore[attr-defined]  # the marker the CLI test looks for
    return run
