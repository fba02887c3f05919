"""The real servers `sahab local` and the tests run on: each answers its own protocol on loopback,
and stopping it leaves no process behind."""

from __future__ import annotations

import os
import subprocess

import psutil
import pytest
from servers import postgres_server, redis_server, s3_server  # noqa: F401  (pytest fixtures)

from workloads.local import servers

pytestmark = pytest.mark.slow


def test_redis_answers_set_get(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.set("sahab:probe", "1")
    assert client.get("sahab:probe") == b"1", f"{redis_server.url}: SET then GET lost the value"
    assert redis_server.healthy(), f"{redis_server.name}: {redis_server.health()}"
    assert redis_server.url.startswith("redis://127.0.0.1:"), f"{redis_server.url}: not on loopback"


def test_postgres_creates_a_database_and_answers_sql(postgres_server):
    url = servers.create_database(postgres_server, "probe")
    assert servers.create_database(postgres_server, "probe") == url, "create_database is not idempotent"
    psql = str(servers.postgres_bin_dir() / "psql")
    env = {**os.environ, **postgres_server.env}
    run = subprocess.run(
        [psql, url, "-tAc", "CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1); SELECT sum(x) FROM t"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.stdout.strip().splitlines()[-1] == "42", f"{url}: psql answered {run.stdout!r} {run.stderr!r}"
    if os.geteuid() == 0:
        owner = psutil.Process(postgres_server.pid).username()
        assert owner == servers.PG_USER, f"postgres pid {postgres_server.pid} runs as {owner}, not {servers.PG_USER}"


def test_postgres_refuses_a_wrong_password(postgres_server):
    psql = str(servers.postgres_bin_dir() / "psql")
    wrong = postgres_server.url.replace(postgres_server.env["PGPASSWORD"], "wrong")
    run = subprocess.run(
        [psql, wrong, "-tAc", "SELECT 1"], capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "PGPASSWORD"}, check=False
    )
    assert run.returncode != 0 and "password authentication failed" in run.stderr, f"wrong password accepted: {run.stderr!r}"


def test_s3_round_trips_an_object(s3_server):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_server.url,
        region_name="me-central-1",
        aws_access_key_id=s3_server.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_server.env["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket="probe", CreateBucketConfiguration={"LocationConstraint": "me-central-1"})
    client.put_object(Bucket="probe", Key="a/b.txt", Body=b"sahab")
    assert client.get_object(Bucket="probe", Key="a/b.txt")["Body"].read() == b"sahab", f"{s3_server.url}: object lost"


def test_stop_leaves_no_process(tmp_path):
    server = servers.start_redis(tmp_path / "redis")
    identity = server.identity
    assert identity is not None and identity.matches(), "redis identity not recorded"
    server.stop()
    assert not psutil.pid_exists(server.pid) or not identity.matches(), f"redis pid {server.pid} still running"
    assert not server.healthy(), "a stopped server reports healthy"


def test_a_server_that_cannot_start_names_itself_and_its_log(tmp_path, monkeypatch):
    monkeypatch.setenv("SAHAB_LOCAL_REDIS_SERVER", "/bin/false")
    with pytest.raises(servers.ServerError, match=r"redis \(server\): exited with status 1.*Log .*redis.log"):
        servers.start_redis(tmp_path / "redis", timeout=5)


def test_identity_refuses_a_reused_pid(tmp_path):
    server = servers.start_redis(tmp_path / "redis")
    try:
        forged = servers.ProcessIdentity(pid=server.pid, create_time=server.identity.create_time - 100, cmdline=server.identity.cmdline)
        assert not servers.stop_process(forged), "stop_process signalled a process whose start time differs"
        assert server.healthy(), "the real redis was hit by a forged identity"
    finally:
        server.stop()
