"""Real backing servers on loopback: Redis, PostgreSQL 15 and an S3-compatible store (moto).

Each `start_*` returns a `Server` handle (`name`, `url`, `pid`, `healthy()`, `stop()`) once the
server answers its health check, with its log and data under the directory it is given. Ports are
free loopback ports (bound to 0 and read back); a start that loses the race for its port is retried
on another. Servers run in their own session, so they survive the process that started them (the
`sahab local` CLI records them and `down` stops them by PID) and a Ctrl-C in a terminal does not
reach them.

Which binaries: Debian's `redis-server` and PostgreSQL 15 (`/usr/lib/postgresql/15/bin`), found on
PATH or in the usual places (`SAHAB_LOCAL_REDIS_SERVER`, `SAHAB_LOCAL_PG_BIN` override them), and
moto's server mode (`python -m moto.server`, pip `moto[server]`). PostgreSQL refuses to run as
root: when the effective uid is 0, initdb and postgres run as the unprivileged system user
`sahab-pg` (created idempotently with `useradd`), which owns the data directory; if that directory's
parents are not reachable by the user (pytest's 0700 temporary folders), the data goes to
`/var/tmp/sahab-pg/<hash of the directory>` instead (`Server.data_dir` says where) and is removed
when the server stops, since nothing could find it again.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from workloads.errors import SahabError

LOOPBACK = "127.0.0.1"
PG_USER = "sahab-pg"
"""The unprivileged OS user PostgreSQL runs as when Sahab is started as root."""
PG_SUPERUSER = "postgres"
"""The database superuser initdb creates (password auth over TCP, password in the data folder)."""
_PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


class ServerError(SahabError, RuntimeError):
    """A server could not be started or did not become healthy; the message names it, says why
    (with the tail of its log) and how to fix it. Exit 1."""

    exit_code = 1


# Listening ports are drawn below 55536 and outside the kernel's ephemeral range: Redis Cluster
# listens on port + 10000 too (its bus), and a port from the ephemeral range may be taken at any time
# by an outgoing connection of another test. (Asking the kernel for port 0 draws from exactly that
# range: about one CI run in five got a port above 55535 and the clustered Redis could not start.)
PORT_FLOOR, PORT_CEILING = 10_000, 55_535
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`), Linux's default where unreadable."""
    try:
        low, high = (int(v) for v in EPHEMERAL_RANGE_FILE.read_text().split())
        return low, high
    except (OSError, ValueError):
        return 32_768, 60_999


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_port(*, also: Sequence[int] = ()) -> int:
    """A free loopback port every server can listen on: at most 55535, outside the ephemeral range,
    and with `port + offset` free too for each offset in `also` (Redis Cluster's bus: `also=(10000,)`).
    Random, so parallel test workers rarely meet; a start that loses the race retries (`_with_port_retries`)."""
    low, high = ephemeral_range()
    candidates = [p for p in range(PORT_FLOOR, PORT_CEILING + 1 - max(also, default=0)) if not low <= p <= high]
    if not candidates:
        raise ServerError(f"no listening port left outside the ephemeral range {low}-{high} below {PORT_CEILING}. Fix: narrow net.ipv4.ip_local_port_range")
    draw = secrets.SystemRandom()
    for _ in range(200):
        port = draw.choice(candidates)
        if all(_bindable(port + offset) for offset in (0, *also)):
            return port
    raise ServerError(f"no free loopback port found in 200 draws between {PORT_FLOOR} and {PORT_CEILING} outside {low}-{high}")


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


@dataclass(frozen=True, kw_only=True)
class ProcessIdentity:
    """What identifies a process beyond its PID (PIDs are reused): its start time. The command line
    is recorded for people reading the state file, not compared: servers rewrite their process title
    (redis-server shows `redis-server 127.0.0.1:PORT`). `matches()` is how `sahab local down` makes
    sure it only signals what `up` started."""

    pid: int
    create_time: float
    cmdline: tuple[str, ...]

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        import psutil

        proc = psutil.Process(pid)
        return cls(pid=pid, create_time=proc.create_time(), cmdline=tuple(proc.cmdline()))

    def matches(self) -> bool:
        """True while the same process is alive (not a zombie, same start time)."""
        import psutil

        try:
            proc = psutil.Process(self.pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return False
            return abs(proc.create_time() - self.create_time) < 0.01
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False

    def as_dict(self) -> dict:
        return {"pid": self.pid, "create_time": self.create_time, "cmdline": list(self.cmdline)}

    @classmethod
    def from_dict(cls, data: dict) -> ProcessIdentity:
        return cls(pid=int(data["pid"]), create_time=float(data["create_time"]), cmdline=tuple(data["cmdline"]))


def stop_process(identity: ProcessIdentity, *, sig: int = signal.SIGTERM, timeout: float = 15.0) -> bool:
    """Stop the process (and its process group, which it leads) if it is still the one recorded:
    `sig`, then SIGKILL after `timeout`. Returns False when it was already gone or is another
    process now (then nothing is signalled)."""
    import psutil

    if not identity.matches():
        return False
    try:
        proc = psutil.Process(identity.pid)
        children = proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return False
    _signal_group(identity.pid, sig)
    for child in children:  # workers that left the group (BentoML/gunicorn do not, but be sure)
        try:
            child.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    gone, alive = psutil.wait_procs([proc, *children], timeout=timeout)
    for survivor in alive:
        try:
            survivor.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except ProcessLookupError:
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


@dataclass(frozen=True, kw_only=True)
class HealthCheck:
    """How to tell a service is healthy, as data (so `sahab local status` can rebuild it from the
    state file in another process): `http` (GET `path` answers below 500, or exactly `status` when
    set), `redis` (PING answers PONG), `postgres` (pg_isready), `alive` (the process runs)."""

    kind: Literal["http", "redis", "postgres", "alive"]
    port: int | None = None
    path: str = "/"
    status: int | None = None

    def __post_init__(self) -> None:
        if self.kind != "alive" and self.port is None:
            raise ValueError(f"HealthCheck(kind={self.kind!r}) has no port to check. Fix: pass port=<the service's port>")

    def __call__(self) -> str | None:
        if self.kind == "alive" or self.port is None:  # the port is None only for "alive" (__post_init__)
            return None
        if self.kind == "http":
            return _http_check(self.port, self.path, self.status)
        if self.kind == "redis":
            return _redis_ping(self.port)
        if self.kind == "postgres":
            return _pg_ready(self.port)
        return None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "port": self.port, "path": self.path, "status": self.status}

    @classmethod
    def from_dict(cls, data: dict) -> HealthCheck:
        return cls(**data)


@dataclass(kw_only=True, eq=False)
class Server:
    """A running server: `url` is what clients are given; `stop()` ends it (idempotent)."""

    name: str
    url: str
    pid: int
    log: Path
    data_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Variables a client needs besides the URL (e.g. AWS_* for the S3 store)."""
    identity: ProcessIdentity | None = None
    stop_signal: int = signal.SIGTERM
    check: HealthCheck = field(default_factory=lambda: HealthCheck(kind="alive"))
    process: subprocess.Popen | None = field(default=None, repr=False)
    on_stop: Callable[[], None] | None = field(default=None, repr=False)
    """Run once the process is gone (PostgreSQL removes a fallback data folder)."""

    def health(self) -> str | None:
        """None when the server is running and answers its check, else the reason."""
        if self.process is not None and self.process.poll() is not None:
            return f"exited with status {self.process.returncode}"
        if self.identity is not None and not self.identity.matches():
            # It may have exited between the poll above and this look (a zombie no longer
            # matches): its own exit status says more than "gone".
            if self.process is not None and self.process.poll() is not None:
                return f"exited with status {self.process.returncode}"
            return "process is gone"
        try:
            return self.check()
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"

    def healthy(self) -> bool:
        return self.health() is None

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        reason = self.health()
        while reason is not None:
            if self.process is not None and self.process.poll() is not None:
                reason = self.health()  # its exit status, now that it has been reaped
                break
            if time.monotonic() > deadline:
                reason = f"not healthy after {timeout:.0f}s ({reason})"
                break
            time.sleep(0.1)
            reason = self.health()
        if reason is not None:
            self.stop()
            raise ServerError(
                f"{self.name} (server): {reason}. Log {self.log}:\n{log_tail(self.log)}\nFix: see the log above; `make servers` installs the Debian servers."
            )

    def stop(self, timeout: float = 15.0) -> None:
        if self.identity is not None:
            stop_process(self.identity, sig=self.stop_signal, timeout=timeout)
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.on_stop is not None:
            on_stop, self.on_stop = self.on_stop, None
            on_stop()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _run_as(user: str | None) -> tuple[int | None, int | None, list[int] | None]:
    """subprocess's (user, group, extra_groups): `user`'s ids without supplementary groups, or
    (None, None, None) for this process's own (subprocess's defaults)."""
    if user is None:
        return None, None, None
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid, []


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log: Path,
    url: str,
    check: HealthCheck,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
    timeout: float = 60.0,
    client_env: dict[str, str] | None = None,
    data_dir: Path | None = None,
    on_stop: Callable[[], None] | None = None,
    replace_env: bool = False,
) -> Server:
    """Start `argv` in its own session with stdout and stderr appended to `log`, wait until `check`
    passes (or raise ServerError with the log's tail, having stopped it). `env` is added to this
    process's environment, or is the whole environment with `replace_env`. Used for every service
    `sahab local` runs, not only the servers here."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        out.flush()
        uid, gid, groups = _run_as(user)
        try:
            process = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env or {}) if replace_env else {**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        except OSError as exc:
            raise ServerError(f"{name} (server): cannot run {argv[0]}: {exc}. Fix: install it (`make servers`).") from exc
    try:
        identity = ProcessIdentity.of(process.pid)
    except Exception:  # noqa: BLE001 (exited at once: the health wait reports it with the log)
        identity = None
    server = Server(
        name=name,
        url=url,
        pid=process.pid,
        log=log,
        identity=identity,
        check=check,
        process=process,
        stop_signal=stop_signal,
        env=dict(client_env or {}),
        data_dir=data_dir,
        on_stop=on_stop,
    )
    server.wait_healthy(timeout)
    return server


def _with_port_retries(start: Callable[[int], Server], attempts: int = 3, also: Sequence[int] = ()) -> Server:
    last: ServerError | None = None
    for _ in range(attempts):
        try:
            return start(free_port(also=also))
        except ServerError as exc:
            if "in use" not in str(exc).lower():
                raise
            last = exc
    assert last is not None
    raise last


def _folder(directory: Path) -> Path:
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def which(name: str, override_var: str, candidates: Sequence[str] = ()) -> str | None:
    """A binary from `$override_var`, PATH, or one of `candidates`."""
    if os.environ.get(override_var):
        return os.environ[override_var]
    found = shutil.which(name)
    if found:
        return found
    return next((c for c in candidates if os.access(c, os.X_OK)), None)


# --- Redis -------------------------------------------------------------------------------------

CLUSTER_BUS_OFFSET = 10_000
"""A cluster-enabled redis-server also listens on port + 10000 (the cluster bus; redis.io cluster spec)."""


def redis_binary() -> str | None:
    return which("redis-server", "SAHAB_LOCAL_REDIS_SERVER", ("/usr/bin/redis-server", "/usr/local/bin/redis-server"))


def _redis_command(port: int, *args: str) -> bytes:
    """One RESP command on a fresh connection; the raw answer (enough for +OK and bulk strings)."""
    request = f"*{len(args)}\r\n".encode() + b"".join(f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args)
    with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def _redis_ping(port: int) -> str | None:
    answer = _redis_command(port, "PING")
    return None if answer.startswith(b"+PONG") else f"PING answered {answer!r}"


def _own_every_slot(server: Server, port: int, timeout: float) -> None:
    """Make a cluster-enabled node a one-node cluster owning all 16384 hash slots (so a plain
    client works and the slot rules, CROSSSLOT, are enforced), and wait for cluster_state:ok."""
    answer = _redis_command(port, "CLUSTER", "ADDSLOTSRANGE", "0", "16383")  # Redis >= 7.0
    if answer.startswith(b"-ERR unknown subcommand"):
        answer = _redis_command(port, "CLUSTER", "ADDSLOTS", *map(str, range(16384)))
    deadline = time.monotonic() + timeout
    while not answer.startswith(b"+OK") or b"cluster_state:ok" not in (info := _redis_command(port, "CLUSTER", "INFO")):
        if not answer.startswith(b"+OK") or time.monotonic() > deadline:
            server.stop()
            why = answer if not answer.startswith(b"+OK") else info
            raise ServerError(
                f"redis (server): cluster mode did not come up ({why[:200]!r}). Log {server.log}:\n"
                f"{log_tail(server.log)}\nFix: redis-server must support cluster mode (Redis >= 7.0 for ADDSLOTSRANGE)."
            )
        time.sleep(0.05)


def start_redis(directory: Path, *, persist: bool = False, cluster: bool = False, timeout: float = 30.0) -> Server:
    """redis-server on a free loopback port, data (if `persist`: RDB snapshots) and log under
    `directory`. URL: `redis://127.0.0.1:PORT/0`. With `cluster`, a cluster-enabled node that owns
    every hash slot: multi-key commands and scripts over keys of different slots fail with CROSSSLOT,
    as on Azure Managed Redis (always clustered) and ElastiCache in cluster mode."""
    binary = redis_binary()
    if binary is None:
        raise ServerError(
            "redis (server): redis-server not found on PATH. Fix: `make servers` (Debian redis-server) "
            "or set SAHAB_LOCAL_REDIS_SERVER to a redis-server binary."
        )
    directory = _folder(directory)

    def start(port: int) -> Server:
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            LOOPBACK,
            "--dir",
            str(directory),
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--appendonly",
            "no",
            "--save",
            "60 1" if persist else "",
        ]
        if cluster:
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", str(directory / f"nodes-{port}.conf")]
        server = spawn(
            "redis",
            argv,
            log=directory / "redis.log",
            url=f"redis://{LOOPBACK}:{port}/0",
            check=HealthCheck(kind="redis", port=port),
            timeout=timeout,
            data_dir=directory,
        )
        if cluster:
            _own_every_slot(server, port, timeout)
        return server

    return _with_port_retries(start, also=(CLUSTER_BUS_OFFSET,) if cluster else ())


# --- PostgreSQL --------------------------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    override = os.environ.get("SAHAB_LOCAL_PG_BIN")
    if override:
        return Path(override)
    for candidate in _PG_BIN_DIRS:
        if os.access(Path(candidate) / "postgres", os.X_OK):
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def ensure_pg_user() -> str:
    """The unprivileged user PostgreSQL runs as under root; created (system, no login) if absent."""
    try:
        pwd.getpwnam(PG_USER)
    except KeyError:
        result = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER], capture_output=True, text=True)
        if result.returncode not in (0, 9):  # 9: created meanwhile by someone else
            raise ServerError(
                f"postgres (server): cannot create the OS user {PG_USER}: {result.stderr.strip()}. "
                f"Fix: create it (`useradd --system {PG_USER}`) or run Sahab as a non-root user."
            ) from None
    return PG_USER


def _reachable_by(path: Path, user: str) -> bool:
    """Whether `user` can traverse every parent of `path` (so postgres can open its data dir)."""
    entry = pwd.getpwnam(user)
    for parent in path.resolve().parents:
        st = parent.stat()
        if st.st_uid == entry.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == entry.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


def _pg_data_dir(directory: Path, user: str | None) -> Path:
    wanted = directory / "data"
    if user is None or _reachable_by(directory, user):
        return wanted
    digest = hashlib.sha256(str(directory).encode()).hexdigest()[:16]
    base = Path("/var/tmp/sahab-pg")
    base.mkdir(mode=0o711, exist_ok=True)
    os.chmod(base, 0o711)
    return base / digest


def start_postgres(directory: Path, *, timeout: float = 60.0) -> Server:
    """PostgreSQL on a free loopback port (TCP only, no Unix socket), initialised on first use with
    a superuser `postgres` whose generated password is kept in `directory/password` (0600).
    URL: `postgresql://postgres:PASSWORD@127.0.0.1:PORT/postgres`. `create_database()` adds one."""
    bindir = postgres_bin_dir()
    if bindir is None:
        raise ServerError(
            "postgres (server): PostgreSQL binaries not found (looked in /usr/lib/postgresql/15/bin). "
            "Fix: `make servers` (Debian postgresql-15) or set SAHAB_LOCAL_PG_BIN to its bin folder."
        )
    directory = _folder(directory)
    user = ensure_pg_user() if os.geteuid() == 0 else None
    data = _pg_data_dir(directory, user)
    password_file = directory / "password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(18))
        password_file.chmod(0o600)
    password = password_file.read_text().strip()
    log = directory / "postgres.log"

    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)
        # initdb reads the password from a file the postgres user can read; removed right after.
        pwfile = data.parent / f".{data.name}.pw"
        pwfile.write_text(password)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(data, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        pwfile.chmod(0o600)
        uid, gid, groups = _run_as(user)
        with open(log, "ab") as out:
            result = subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    PG_SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(data, ignore_errors=True)
            raise ServerError(
                f"postgres (server): initdb failed (status {result.returncode}). Log {log}:\n{log_tail(log)}\n"
                f"Fix: see the log; run as a non-root user or let Sahab create {PG_USER}."
            )

    cleanup = None if data.is_relative_to(directory) else (lambda: shutil.rmtree(data, ignore_errors=True))

    def start(port: int) -> Server:
        argv = [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-h",
            LOOPBACK,
            "-p",
            str(port),
            "-k",
            "",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=100",
        ]
        url = f"postgresql://{PG_SUPERUSER}:{password}@{LOOPBACK}:{port}/postgres"
        return spawn(
            "postgres",
            argv,
            log=log,
            url=url,
            user=user,
            cwd=Path("/"),
            stop_signal=signal.SIGINT,
            check=HealthCheck(kind="postgres", port=port),
            timeout=timeout,
            data_dir=data,
            client_env={"PGPASSWORD": password},
            on_stop=cleanup,
        )

    return _with_port_retries(start)


def _pg_ready(port: int) -> str | None:
    bindir = postgres_bin_dir()
    if bindir is None:
        return "pg_isready not found"
    result = subprocess.run([str(bindir / "pg_isready"), "-h", LOOPBACK, "-p", str(port), "-t", "2"], capture_output=True, text=True)
    return None if result.returncode == 0 else (result.stdout.strip() or f"pg_isready status {result.returncode}")


def create_database(server: Server, name: str) -> str:
    """Create database `name` on a `start_postgres` server if absent; returns its URL."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"database name {name!r}: only letters, digits and '_'")
    bindir = postgres_bin_dir()
    if bindir is None:
        raise ServerError("postgres (server): psql not found. Fix: `make servers` (Debian postgresql-15) or set SAHAB_LOCAL_PG_BIN to its bin folder.")
    base = server.url.rsplit("/", 1)[0]
    psql = [str(bindir / "psql"), server.url, "-v", "ON_ERROR_STOP=1", "-tAc"]
    env = {**os.environ, **server.env}
    exists = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"], capture_output=True, text=True, env=env)
    if exists.returncode != 0:
        raise ServerError(f"postgres (server): cannot query {server.url.split('@')[-1]}: {exists.stderr.strip()}")
    if exists.stdout.strip() != "1":
        created = subprocess.run([*psql, f'CREATE DATABASE "{name}"'], capture_output=True, text=True, env=env)
        if created.returncode != 0:
            raise ServerError(f"postgres (server): CREATE DATABASE {name} failed: {created.stderr.strip()}")
    return f"{base}/{name}"


# --- S3 (moto) ---------------------------------------------------------------------------------

S3_CREDENTIALS = {
    # moto accepts any credentials; these keep boto3 from looking for real ones (and never match any).
    "AWS_ACCESS_KEY_ID": "sahab-local",
    "AWS_SECRET_ACCESS_KEY": "sahab-local-secret",
    "AWS_DEFAULT_REGION": "me-central-1",
}


def _http_check(port: int, path: str, status: int | None = None) -> str | None:
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    ok = response.status == status if status is not None else response.status < 500
    return None if ok else f"GET {path} answered {response.status}"


def start_s3(directory: Path, *, timeout: float = 60.0) -> Server:
    """moto's server mode (an S3-compatible API, in memory) on a free loopback port, its log under
    `directory`. URL: `http://127.0.0.1:PORT` (the endpoint for boto3, MLflow's
    MLFLOW_S3_ENDPOINT_URL, s3fs); `Server.env` holds the AWS_* variables clients need."""
    try:
        import moto.server  # noqa: F401 (probing that moto[server] is installed)
    except ImportError as exc:
        raise ServerError("s3 (server): moto's server mode is not installed. Fix: pip install 'moto[server]' (it is in Sahab's dev extra).") from exc
    directory = _folder(directory)

    def start(port: int) -> Server:
        # checked: moto 5.2.5 moto/moto_api/_internal/urls.py (the /moto-api/ dashboard answers 200)
        argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
        url = f"http://{LOOPBACK}:{port}"
        return spawn(
            "s3",
            argv,
            log=directory / "s3.log",
            url=url,
            check=HealthCheck(kind="http", port=port, path="/moto-api/"),
            timeout=timeout,
            env=S3_CREDENTIALS,
            client_env={**S3_CREDENTIALS, "AWS_ENDPOINT_URL_S3": url},
            data_dir=directory,
        )

    return _with_port_retries(start)


# --- Azure Blob Storage (Azurite) --------------------------------------------------------------

# Azurite's well-known development account (checked: Azure/Azurite README "Default Storage Account",
# the key is public and only opens the emulator).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_VERSION = "3.37.0"  # checked: `npm view azurite version` (registry.npmjs.org), 2026-12-02


def azurite_binary() -> str | None:
    here = Path(__file__).resolve().parents[2] / ".node" / "node_modules" / ".bin" / "azurite-blob"
    return which("azurite-blob", "SAHAB_LOCAL_AZURITE_BLOB", (str(here),))


def azurite_connection_string(url: str) -> str:
    return f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={url}/{AZURITE_ACCOUNT};"


def start_azurite(directory: Path, *, timeout: float = 60.0) -> Server:
    """Azurite's Blob service (Microsoft's Azure Storage emulator, npm `azurite`) on a free loopback
    port, data under `directory`. URL: `http://127.0.0.1:PORT` (the account is at
    `<url>/devstoreaccount1`); `Server.env` holds AZURE_STORAGE_CONNECTION_STRING (what adlfs, MLflow's
    wasbs:// store and azure-storage-blob read) and SAHAB_AZURE_BLOB_ENDPOINT/AZURE_STORAGE_ACCOUNT_KEY
    for pyarrow's AzureFileSystem. Azurite has no Data Lake (dfs) endpoint: abfss:// URIs reach it
    through the Blob API, as pyarrow and adlfs do on a flat-namespace account."""
    binary = azurite_binary()
    if binary is None:
        raise ServerError(
            "azurite (server): azurite-blob not found. Fix: `make servers` (npm install --prefix .node "
            f"azurite@{AZURITE_VERSION}) or set SAHAB_LOCAL_AZURITE_BLOB to an azurite-blob binary."
        )
    directory = _folder(directory)

    def start(port: int) -> Server:
        # --skipApiVersionCheck: the Azure SDKs (C++ in pyarrow, Python) may send a newer x-ms-version
        # than this Azurite release knows; --loose accepts headers it does not implement.
        argv = [
            binary,
            "--blobHost",
            LOOPBACK,
            "--blobPort",
            str(port),
            "--location",
            str(directory / "data"),
            "--debug",
            str(directory / "debug.log"),
            "--skipApiVersionCheck",
            "--loose",
            "--disableProductStyleUrl",
        ]
        url = f"http://{LOOPBACK}:{port}"
        client_env = {
            "AZURE_STORAGE_CONNECTION_STRING": azurite_connection_string(url),
            "AZURE_STORAGE_ACCOUNT_NAME": AZURITE_ACCOUNT,
            "AZURE_STORAGE_ACCOUNT_KEY": AZURITE_KEY,
            "SAHAB_AZURE_BLOB_ENDPOINT": url,
        }
        # SIGKILL: on SIGTERM or SIGINT Azurite waits for its clients' keep-alive connections to close
        # (15 s and more, measured); what it holds is an emulator's test data.
        return spawn(
            "azurite",
            argv,
            log=directory / "azurite.log",
            url=url,
            check=HealthCheck(kind="http", port=port, path=f"/{AZURITE_ACCOUNT}?comp=list"),
            timeout=timeout,
            client_env=client_env,
            data_dir=directory,
            stop_signal=signal.SIGKILL,
        )

    return _with_port_retries(start)
