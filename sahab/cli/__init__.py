"""The `sahab` command line, thin on top of every other layer (nothing imports it): `main.py` holds the
commands (plan, check, cost, preflight, up/preview/destroy, bootstrap, verify, policy), `local.py`
`sahab local` (the single-machine platform of workloads/local), `errors.py` the one handler every
command carries (`@exits`): a SahabError (workloads/errors.py) ends it with `error: <message>` on
stderr and its class's exit code."""

from sahab.cli.main import app, main

__all__ = ["app", "main"]
