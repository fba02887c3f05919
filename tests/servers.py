"""Session-scoped fixtures over real servers on loopback (Redis, PostgreSQL 15, moto's S3, Azurite).

A plain module, not a conftest, so any test folder can use them:

    from servers import azurite_server, postgres_server, redis_server, s3_server  # noqa: F401  (pytest fixtures)

Each yields a `workloads.local.servers.Server` (`name`, `url`, `pid`, `env`, `healthy()`, `stop()`); the
server runs for the whole session under a session temporary folder and is stopped at its end. A
missing server fails the test with the install hint (CI has them: `make servers`); it never skips.
"""

from __future__ import annotations

import pytest

from workloads.local import servers


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    with servers.start_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    with servers.start_postgres(tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    with servers.start_s3(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory):
    """Azurite's Blob service; `server.env` has AZURE_STORAGE_CONNECTION_STRING and friends."""
    with servers.start_azurite(tmp_path_factory.mktemp("azurite")) as server:
        yield server
