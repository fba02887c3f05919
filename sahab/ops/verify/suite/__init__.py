"""The pytest-testinfra suite `sahab verify` runs (one module per part; see conftest.py)."""

from __future__ import annotations

import pytest


def run_check(check) -> None:
    """Fail with the check's findings (the message names each resource and says how to fix it)."""
    try:
        found = check.run()
    except Exception as e:  # noqa: BLE001 an API that does not answer is a failed check, said plainly
        pytest.fail(f"{check.subject}: the check could not run ({type(e).__name__}: {e})", pytrace=False)
    if found:
        pytest.fail("\n".join(found), pytrace=False)
