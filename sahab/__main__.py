"""`python -m sahab ...` is the `sahab` command."""

from sahab.cli import app

app()
