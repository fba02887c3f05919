"""Drives the suite from the run's context file (`--sahab-context FILE`, written by
sahab.ops.verify.runner): each part's module gets one test case per check, named
`<check id>[<resource>]`; a part that cannot run here is one skipped case saying why."""

from __future__ import annotations

import pytest

from sahab.ops.verify import parts


def pytest_addoption(parser):
    parser.addoption("--sahab-context", required=True, help="run context JSON written by `sahab verify`")


def pytest_generate_tests(metafunc):
    if "check" not in metafunc.fixturenames:
        return
    part = metafunc.module.PART
    found = parts.checks_for(part, parts.context(metafunc.config.getoption("--sahab-context")))
    if isinstance(found, str):
        metafunc.parametrize("check", [pytest.param(None, marks=pytest.mark.skip(reason=found), id=f"{part}-part")])
    else:
        metafunc.parametrize("check", found, ids=[c.name for c in found])


@pytest.fixture(scope="session")
def sahab_context(pytestconfig):
    return parts.context(pytestconfig.getoption("--sahab-context"))
