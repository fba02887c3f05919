"""The one base of every user-facing error, in the lowest layer every package may import (stacks and
sahab import workloads' leaf modules; this module imports nothing of ours).

`exit_code` says how a command ends on it, read in one place by each command line (`sahab`'s
`sahab/cli/errors.py`, the workloads' `workloads.settings.run_cli`):

    2  EXIT_INPUT   bad input or settings: the user must change something (the default)
    1  EXIT_FAILED  a check that ran and failed (an integrity check, a server that did not start)

The workload entry points keep the one status they always gave a gate that refused: 3 for a model
that did not pass (export parity, the promotion gate), so a pipeline can tell "refused" from
"broken"; those classes say `exit_code = 3` themselves.

Messages follow the house shape `<what>: what is wrong. Fix: how.`; pass `fix=` to have it
appended in that shape. A class keeps its historical second base (`class SpecError(SahabError,
ValueError)`) so `except ValueError` callers keep working.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_INPUT = 2


class SahabError(Exception):
    """An error a user can act on; its message says what is wrong and how to fix it."""

    exit_code: int = EXIT_INPUT

    def __init__(self, message: str = "", *, fix: str | None = None) -> None:
        if fix:
            message = f"{message.rstrip(' .')}. Fix: {fix.rstrip(' .')}."
        super().__init__(message)

    @property
    def fix(self) -> str | None:
        """The `Fix: ...` part of the message (None when it has none)."""
        _, sep, how = str(self).partition("Fix: ")
        return (how.strip() or None) if sep else None
