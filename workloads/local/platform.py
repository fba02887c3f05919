"""`sahab local up | status | down`: the platform's services as processes on one machine, for every
model project under `projects/` (or the ones `--project` names).

The same services the cluster runs, on loopback, configured through the same `SAHAB_*` settings
the stacks give the pods (`platform_env()` the shared ones, `project_env()` a project's own):

    postgres, redis, s3     real servers (workloads.local.servers); absent with --embedded
    mlflow                  tracking server + registry on PostgreSQL (--embedded: SQLite), artifacts
                            in the S3-compatible store (--embedded: a folder); one registered model
                            and one experiment per project
    prometheus              scraping every project's serving with the shipped alert rules (where
                            the binary exists)
  per project <p>:
    bootstrap-<p> (one-shot)  example data -> features -> train -> export -> champion (+ challenger)
                            (workloads.local.bootstrap; an `--embedded` platform brought up again
                            reuses a verified champion)
    serving-<p>             the generic BentoML service (SAHAB_PROJECT), its own port, both variants,
                            A/B state in Redis (--embedded: SQLite), the prediction log in the store
                            (--embedded: a folder)
    control-<p>             its A/B control plane (feedback, labels, experiment, promote; bearer token
                            SAHAB_SERVING_CONTROL_TOKEN, generated per project, in the state file)
    evaluator-<p>           its A/B evaluator (the one decision-maker), every EVALUATOR_EVERY_S
    monitoring-<p>          its monitoring job on a schedule (workloads.local.schedule, like its
                            CronJob); the trigger runs `python -m workloads.pipeline retrain`
    feast-<p>               its Feast feature server on the Redis online store (--embedded: SQLite)

A project's storage follows the contract's layout: `<home>/projects/<p>/` locally; on the servers,
`s3://sahab-local-offline-features/{feast,serving-log,drift-state}/<p>` (each URI names the
project, as the stacks render them).

Logs and state live under the state directory (default `.sahab/local/`): `state.json` lists every
service (name, url, pid, its start time and command, its health check, the env it was given) and
every project (folder, serving and control URLs, its variables, its bootstrap's summary),
`logs/<service>.log`, and the servers' data. `up` returns once every service is healthy, or stops
what it started and raises LocalError naming the service, why, and the tail of its log. `down`
stops only the processes `up` recorded, and only while they are still those processes (same PID
and start time), then any process still carrying this `up`'s run id in `SAHAB_LOCAL_RUN`
(workers in sessions of their own, detached retrainings).

moto's S3 store lives in memory: a platform on servers starts from fresh data on every `up` (the
bootstraps rebuild the registry); an `--embedded` platform keeps its SQLite and folders and is
reused (no retraining) when brought up again.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workloads.errors import SahabError
from workloads.local import servers
from workloads.local.servers import HealthCheck, ProcessIdentity, Server, ServerError, log_tail
from workloads.project.project import Project

DEFAULT_STATE_DIR = Path(".sahab/local")
STATE_FILE = "state.json"
STATE_FORMAT = 2
RUN_MARKER = "SAHAB_LOCAL_RUN"
"""Environment variable every service process (and what it starts) carries: the `up`'s run id."""
REPO = Path(__file__).resolve().parents[2]
REGION = "me-central-1"
BUCKETS = {
    # purpose -> bucket, named like the stacks' buckets (environment "local").
    "offline-features": "sahab-local-offline-features",
    "model-artifacts": "sahab-local-model-artifacts",
    "experiment-artifacts": "sahab-local-experiment-artifacts",
}
SERVING_NAMESPACE = "serving"
"""Label the local scrape target carries, so the shipped rules (which select the serving
namespace) apply unchanged."""

Progress = Callable[[str], None]


class LocalError(SahabError, RuntimeError):
    """`sahab local` could not do what was asked; the message says which service, why, and how to fix it. Exit 1."""

    exit_code = 1


class LocalStateError(LocalError):
    """The state file of the local platform is not one this Sahab reads. Exit 2."""

    exit_code = 2


@dataclass(frozen=True, kw_only=True)
class LocalOptions:
    """What `sahab local up` brings up and how fast its schedules run."""

    state_dir: Path = DEFAULT_STATE_DIR
    embedded: bool = False
    """SQLite, folders and the embedded A/B store instead of PostgreSQL, S3 and Redis."""
    projects: tuple[str, ...] = ()
    """Projects to serve, by name (under `projects_dir`) or folder; empty: every project under `projects_dir`."""
    projects_dir: Path | None = None
    """Where projects are found; default SAHAB_PROJECTS_DIR, else `projects/` of the checkout."""
    rows: int = 20_000
    """Example rows each project's bootstrap generates (projects with `sources.generator`)."""
    days: float | None = None
    """Days the example rows span; default the project's training window plus its holdout."""
    seed: int = 0
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per project name: training.config overrides of its bootstrapped versions (`--set`)."""
    challenger: bool = True
    """Bootstrap a challenger too (training.seed + 1 on the same frames): an A/B test at once."""
    feature_server: bool = True
    """Run each project's Feast feature server (`feast-<project>`)."""
    evaluator_every_s: float = 60.0
    drift_every_s: float = 300.0
    """Seconds between runs of each project's monitoring job."""
    prometheus: bool = True
    """Run Prometheus when /usr/bin/prometheus (or one on PATH) exists."""
    notebooks: bool = False
    """Run JupyterLab with the platform's environment set (workloads/local/notebooks.py)."""
    retrain_args: tuple[str, ...] = ()
    """Extra arguments of the monitoring trigger's `python -m workloads.pipeline retrain`."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra variables for every service (e.g. SAHAB_SERVING_TEST_MIN_SAMPLES, SAHAB_DRIFT_WINDOW)."""
    timeout_s: float = 240.0
    """Longest wait for one service to become healthy (the bootstrap gets its own, longer one)."""
    bootstrap_timeout_s: float = 900.0


@dataclass(kw_only=True)
class ServiceRecord:
    """One started process as the state file keeps it."""

    name: str
    url: str
    identity: ProcessIdentity
    log: str
    health: HealthCheck
    env: dict[str, str]
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.identity.pid

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "pid": self.pid,
            "identity": self.identity.as_dict(),
            "log": self.log,
            "health": self.health.as_dict(),
            "env": self.env,
            "stop_signal": int(self.stop_signal),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceRecord:
        return cls(
            name=data["name"],
            url=data["url"],
            identity=ProcessIdentity.from_dict(data["identity"]),
            log=data["log"],
            health=HealthCheck.from_dict(data["health"]),
            env=dict(data.get("env", {})),
            stop_signal=int(data.get("stop_signal", signal.SIGTERM)),
        )

    @classmethod
    def of(cls, server: Server) -> ServiceRecord:
        assert server.identity is not None
        return cls(
            name=server.name,
            url=server.url,
            identity=server.identity,
            log=str(server.log),
            health=server.check,
            env=dict(server.env),
            stop_signal=server.stop_signal,
        )

    def health_reason(self) -> str | None:
        if not self.identity.matches():
            return "not running"
        try:
            return self.health()
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"


# --- the state file ----------------------------------------------------------------------------


def state_path(state_dir: Path) -> Path:
    return Path(state_dir) / STATE_FILE


def read_state(state_dir: Path) -> dict[str, Any] | None:
    path = state_path(state_dir)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("format") != STATE_FORMAT:
        raise LocalStateError(
            f"{path} (state): format {data.get('format')!r}, this Sahab reads {STATE_FORMAT}. Fix: stop its processes by hand, then delete the file."
        )
    return data


def _write_state(state_dir: Path, state: dict[str, Any]) -> None:
    path = state_path(state_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.chmod(0o600)  # it holds the PostgreSQL password
    os.replace(tmp, path)


def _records(state: dict[str, Any] | None) -> list[ServiceRecord]:
    return [ServiceRecord.from_dict(s) for s in (state or {}).get("services", [])]


# --- the Python API (H14's `sahab verify local` reads these) -----------------------------------


def platform_env(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, str]:
    """The variables every service of the running local platform was given (`SAHAB_*`, AWS_* for
    the S3-compatible store, MLflow's S3 endpoint): what a client needs to talk to it. A project's
    own variables (its Feast root, prediction log, control plane): `project_env`."""
    state = read_state(state_dir)
    if state is None:
        raise LocalError(f"{Path(state_dir)} (local platform): not up. Fix: sahab local up.")
    return dict(state["env"])


def served_projects(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, dict[str, Any]]:
    """The projects the running platform serves: name -> {"folder", "serving", "control", "bootstrap"}."""
    state = read_state(state_dir)
    if state is None:
        raise LocalError(f"{Path(state_dir)} (local platform): not up. Fix: sahab local up.")
    return {name: {k: v for k, v in p.items() if k != "env"} for name, p in state.get("projects", {}).items()}


def project_env(state_dir: Path, name: str) -> dict[str, str]:
    """`platform_env` plus the project's own variables (SAHAB_PROJECT, its Feast root, prediction
    log, monitoring state, control plane port and token): what its services were given."""
    state = read_state(state_dir)
    if state is None:
        raise LocalError(f"{Path(state_dir)} (local platform): not up. Fix: sahab local up.")
    known = state.get("projects", {})
    if name not in known:
        raise LocalError(
            f"{name} (project): the local platform under {state_dir} does not serve it (it serves {sorted(known) or 'none'}). Fix: sahab local up --project {name}."
        )
    return {**state["env"], **known[name]["env"]}


def status(state_dir: Path = DEFAULT_STATE_DIR) -> dict[str, Any]:
    """`{"services": [{"name", "url", "healthy", "pid"}]}` for the services `up` recorded (an
    empty list when the platform is not up). URLs carry no passwords."""
    keys = ("name", "url", "healthy", "pid")
    return {"services": [{k: s[k] for k in keys} for s in service_health(state_dir)]}


def service_health(state_dir: Path = DEFAULT_STATE_DIR) -> list[dict[str, Any]]:
    """status() plus `reason` (why a service is unhealthy, None when healthy) and `log`."""
    out = []
    for record in _records(read_state(state_dir)):
        reason = record.health_reason()
        out.append({"name": record.name, "url": _redact(record.url), "healthy": reason is None, "pid": record.pid, "reason": reason, "log": record.log})
    return out


def _redact(url: str) -> str:
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def down(state_dir: Path = DEFAULT_STATE_DIR, progress: Progress = lambda line: None) -> list[str]:
    """Stop what `up` started (last started first), each only while it is still the recorded
    process; returns the names stopped. Removes the state file."""
    state = read_state(state_dir)
    stopped = []
    for record, was_running in _stop_records(_records(state)):
        if was_running:
            stopped.append(record.name)
            progress(f"{record.name}: stopped (pid {record.pid})")
        else:
            progress(f"{record.name}: was not running (pid {record.pid} is gone or another process)")
    if state is not None:
        for name in _stop_marked(state.get("run_id")):
            progress(f"{name}: stopped (it had outlived its service)")
        state_path(state_dir).unlink(missing_ok=True)
    return stopped


SERVERS = ("postgres", "redis", "s3")


def _stop_records(records: list[ServiceRecord]) -> list[tuple[ServiceRecord, bool]]:
    """Stop the services at once, then the servers they use at once (a graceful stop can take
    seconds each: MLflow's uvicorn, BentoML's arbiter); returns (record, was it running)."""
    out: list[tuple[ServiceRecord, bool]] = []
    for batch in ([r for r in records if r.name not in SERVERS], [r for r in records if r.name in SERVERS]):
        if not batch:
            continue
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            results = list(pool.map(lambda r: servers.stop_process(r.identity, sig=r.stop_signal), batch))
        out.extend(zip(batch, results, strict=False))
    return out


def _stop_marked(run_id: str | None, timeout: float = 15.0) -> list[str]:
    """Stop every process still carrying this platform's RUN_MARKER: workers that left their
    service's process group (BentoML starts its workers in sessions of their own) and outlived it,
    and retrainings the drift job started detached. The marker is a random id per `up`, so this
    reaches only what that `up` started."""
    import psutil

    if not run_id:
        return []
    marked = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid != os.getpid() and proc.environ().get(RUN_MARKER) == run_id:
                marked.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    names = []
    for proc in marked:
        try:
            names.append(" ".join(proc.cmdline()[:3]))
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(marked, timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    return names


# --- up ----------------------------------------------------------------------------------------


def _clean_environ() -> dict[str, str]:
    """The caller's environment minus every SAHAB_*/MLFLOW_*/AWS_*/FEAST_* variable and
    PROMETHEUS_MULTIPROC_DIR: the services get the platform's settings and nothing a shell (or a
    test session) happened to export."""
    drop = ("SAHAB_", "MLFLOW_", "AWS_", "FEAST_", "PROMETHEUS_MULTIPROC_DIR")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


class _Starter:
    """Starts services one after another, records each in the state file as soon as it runs, and
    stops them all (last first) if anything fails."""

    def __init__(self, options: LocalOptions, progress: Progress):
        self.options = options
        self.progress = progress
        self.state_dir = Path(options.state_dir).resolve()
        self.logs = self.state_dir / "logs"
        self.records: list[ServiceRecord] = []
        self.lock = threading.Lock()
        self.state: dict[str, Any] = {
            "format": STATE_FORMAT,
            "mode": "embedded" if options.embedded else "servers",
            "state_dir": str(self.state_dir),
            "started_at": time.time(),
            "env": {},
            "services": [],
            "run_id": secrets.token_hex(8),
        }

    def save(self) -> None:
        self.state["services"] = [r.as_dict() for r in self.records]
        _write_state(self.state_dir, self.state)

    def add(self, server: Server) -> Server:
        with self.lock:
            self.records.append(ServiceRecord.of(server))
            self.save()
        where = f"at {_redact(server.url)} " if server.url else ""
        self.progress(f"{server.name}: healthy {where}(pid {server.pid})")
        return server

    def server(self, name: str, start: Callable[[], Server]) -> Server:
        self.progress(f"{name}: starting")
        try:
            return self.add(start())
        except ServerError as exc:
            raise LocalError(str(exc)) from exc

    def service(self, name: str, argv: Sequence[str], *, env: dict[str, str], url: str, check: HealthCheck, timeout: float | None = None) -> Server:
        """A platform service: argv with the platform env (and nothing else from the caller's)."""
        full_env = {**_clean_environ(), **env, "PYTHONUNBUFFERED": "1", RUN_MARKER: self.state["run_id"]}
        return self.server(
            name,
            lambda: servers.spawn(
                name,
                argv,
                log=self.logs / f"{name}.log",
                url=url,
                check=check,
                env=full_env,
                replace_env=True,
                cwd=REPO,
                timeout=timeout or self.options.timeout_s,
                client_env=env,
            ),
        )

    def together(self, starts: list[Callable[[], Server]]) -> None:
        """Start services at once (each waits for its own health check); the first failure is
        raised once every start has finished, so nothing is left half-recorded."""
        with ThreadPoolExecutor(max_workers=len(starts) or 1) as pool:
            futures = [pool.submit(start) for start in starts]
        errors = [exc for f in futures if (exc := f.exception()) is not None]
        if errors:
            raise errors[0]

    def stop_all(self) -> None:
        _stop_records(self.records)
        _stop_marked(self.state["run_id"])
        self.records.clear()
        state_path(self.state_dir).unlink(missing_ok=True)


def up(options: LocalOptions = LocalOptions(), progress: Progress = print) -> dict[str, Any]:
    """Bring the platform up; returns status() once every service is healthy. On any failure the
    services already started are stopped and LocalError says which one failed and why."""
    state_dir = Path(options.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    running = [r.name for r in _records(read_state(state_dir)) if r.identity.matches()]
    if running:
        raise LocalError(f"{state_dir} (local platform): already up ({', '.join(running)} running). Fix: sahab local status, or sahab local down first.")
    state_path(state_dir).unlink(missing_ok=True)
    starter = _Starter(options, progress)
    try:
        _bring_up(starter)
    except BaseException:
        progress("stopping what was started")
        starter.stop_all()
        raise
    unhealthy = [s for s in service_health(state_dir) if not s["healthy"]]
    if unhealthy:
        starter.stop_all()
        first = unhealthy[0]
        raise LocalError(f"{first['name']} (local service): {first['reason']} right after start. Log {first['log']}:\n{log_tail(Path(first['log']))}")
    return status(state_dir)


def _projects_dir(options: LocalOptions) -> Path:
    from workloads.project.project import PROJECTS_DIR_VARIABLE

    chosen = options.projects_dir or os.environ.get(PROJECTS_DIR_VARIABLE) or REPO / "projects"
    return Path(chosen).expanduser().resolve()


def chosen_projects(options: LocalOptions) -> list[Project]:
    """The projects `up` serves: `options.projects` (names under the projects folder, or folders),
    else every project there. LocalError (exit 2) names an unknown one or an empty folder; a project
    that does not validate raises its ProjectError."""
    from workloads.project.project import PROJECT_FILE, discover, load_project

    root = _projects_dir(options)
    if not options.projects:
        found = discover(root)
        if not found:
            raise LocalStateError(f"{root} (projects): no project folder with {PROJECT_FILE}. Fix: sahab project new NAME --dir {root}, or --project FOLDER.")
        return found
    out: list[Project] = []
    for name in options.projects:
        for folder in (Path(name).expanduser(), root / name):
            if (folder / PROJECT_FILE).is_file():
                out.append(load_project(folder))
                break
        else:
            known = sorted(p.parent.name for p in root.glob(f"*/{PROJECT_FILE}"))
            raise LocalStateError(
                f"--project {name}: no such project under {root} (known: {', '.join(known) or 'none'}). Fix: a name from that list, or a project folder."
            )
    names = [p.name for p in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise LocalStateError(f"--project {', '.join(twice)}: given twice. Fix: name each project once.")
    return out


def _shared_env(starter: _Starter, home: Path) -> tuple[dict[str, str], str, dict[str, str], dict[str, Any]]:
    """The servers (servers mode) and the variables every service shares: (env, MLflow backend
    store, MLflow's own env, the storage layout each project's variables are derived from)."""
    options, state_dir = starter.options, starter.state_dir
    env: dict[str, str] = {
        "SAHAB_HOME": str(home),
        "SAHAB_FEAST_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        # A progress bar per artifact download fills the services' logs with carriage returns.
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    if options.embedded:
        env.update(SAHAB_FEAST_MODE="local", SAHAB_MLFLOW_ARTIFACT_LOCATION=(home / "mlartifacts").as_uri())
        return env, f"sqlite:///{home / 'mlflow.db'}", {"MLFLOW_ARTIFACTS_DESTINATION": (home / "mlartifacts").as_uri()}, {"embedded": True}
    for name in SERVERS:  # moto's S3 is in memory: start every server fresh
        shutil.rmtree(state_dir / name, ignore_errors=True)
    pg = starter.server("postgres", lambda: servers.start_postgres(state_dir / "postgres", timeout=options.timeout_s))
    backend = servers.create_database(pg, "mlflow")
    redis = starter.server("redis", lambda: servers.start_redis(state_dir / "redis", timeout=options.timeout_s))
    s3 = starter.server("s3", lambda: servers.start_s3(state_dir / "s3", timeout=options.timeout_s))
    _create_buckets(s3)
    redis_hostport = redis.url.removeprefix("redis://").rsplit("/", 1)[0]
    env.update(s3.env)
    env.update(
        AWS_ENDPOINT_URL=s3.url,
        MLFLOW_S3_ENDPOINT_URL=s3.url,
        FEAST_S3_ENDPOINT_URL=s3.url,
        SAHAB_MLFLOW_ARTIFACT_LOCATION=f"s3://{BUCKETS['experiment-artifacts']}/mlflow",
        SAHAB_FEAST_MODE="aws",
        SAHAB_FEAST_S3_ENDPOINT_OVERRIDE=s3.url,
        SAHAB_FEAST_REDIS_URL=redis_hostport,
        SAHAB_SERVING_AB_REDIS_URL=f"redis://{redis_hostport}/2",
    )
    mlflow_env = {"MLFLOW_S3_ENDPOINT_URL": s3.url, **s3.env, "MLFLOW_ARTIFACTS_DESTINATION": f"s3://{BUCKETS['model-artifacts']}/mlflow"}
    return env, backend, mlflow_env, {"embedded": False, "bucket": BUCKETS["offline-features"]}


def _project_env(project: Project, home: Path, layout: dict[str, Any], control_port: int, retrain: list[str]) -> dict[str, str]:
    """One project's own variables: its folder, its storage (each URI already naming the project,
    as the stack renders them: the workloads never append the name), its control plane and its
    monitoring trigger."""
    from workloads.project.paths import local_paths

    name = project.name
    paths = local_paths(home, project)
    env = {
        "SAHAB_PROJECT": str(project.folder),
        "SAHAB_PROJECTS_DIR": str(project.folder.parent),
        "SAHAB_SERVING_CONTROL_HOST": servers.LOOPBACK,
        "SAHAB_SERVING_CONTROL_PORT": str(control_port),
        "SAHAB_SERVING_CONTROL_TOKEN": secrets.token_urlsafe(24),
        "SAHAB_SERVING_AB_REDIS_PREFIX": f"sahab:ab:{name}:",
        "SAHAB_DRIFT_RETRAIN_COMMAND": subprocess.list2cmdline([*retrain, "--project", str(project.folder)]),
        "SAHAB_DRIFT_RETRAIN_DETACH": "true",
    }
    if layout["embedded"]:
        log = str(paths.serving_log)
        env.update(SAHAB_SERVING_AB_STATE_PATH=str(paths.root / "serving" / "ab-state.sqlite"))
    else:
        bucket = layout["bucket"]
        log = f"s3://{bucket}/serving-log/{name}/"
        env.update(SAHAB_FEAST_URI=f"s3://{bucket}/feast/{name}", SAHAB_DRIFT_STATE_URI=f"s3://{bucket}/drift-state/{name}/")
    env.update(SAHAB_SERVING_PREDICTION_LOG_URI=log, SAHAB_DRIFT_LOG_URI=log)
    return env


def _bring_up(starter: _Starter) -> None:
    options, state_dir = starter.options, starter.state_dir
    chosen = chosen_projects(options)
    starter.progress(f"projects: {', '.join(f'{p.name} ({p.spec.training.framework}, {p.spec.label.task})' for p in chosen)}")
    home = state_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env, backend, mlflow_env, layout = _shared_env(starter, home)

    ports = {"mlflow": servers.free_port(), "prometheus": servers.free_port()}
    for p in chosen:
        for role in ("serving", "control", "feast"):
            ports[f"{role}-{p.name}"] = servers.free_port()
    mlflow_url = f"http://{servers.LOOPBACK}:{ports['mlflow']}"
    env.update(
        SAHAB_MLFLOW_TRACKING_URI=mlflow_url,
        SAHAB_SERVING_ALLOW_PROMOTION="true",
        SAHAB_SERVING_RELOAD_INTERVAL_S="10",
        SAHAB_SERVING_EVALUATOR_INTERVAL_S=str(options.evaluator_every_s),
    )
    env.update(options.env)
    retrain = [sys.executable, "-m", "workloads.pipeline", "retrain", *options.retrain_args]
    starter.state["env"] = env
    starter.state["projects"] = {
        p.name: {
            "folder": str(p.folder),
            "serving": f"http://{servers.LOOPBACK}:{ports[f'serving-{p.name}']}",
            "control": f"http://{servers.LOOPBACK}:{ports[f'control-{p.name}']}",
            "env": _project_env(p, home, layout, ports[f"control-{p.name}"], retrain),
        }
        for p in chosen
    }
    starter.save()

    # The MLflow server reads its stores from the environment, as its Deployment does (the
    # database URL carries the password: it stays out of the process list). checked: mlflow 3.17.2
    # mlflow/cli/__init__.py (envvar= of --backend-store-uri and --artifacts-destination) and
    # mlflow/environment_variables.py (MLFLOW_SERVER_ENABLE_JOB_EXECUTION); Feast's S3 registry
    # reads FEAST_S3_ENDPOINT_URL (feast 0.67.0 feast/infra/registry/s3.py).
    starter.service(
        "mlflow",
        [sys.executable, "-m", "mlflow", "server", "--host", servers.LOOPBACK, "--port", str(ports["mlflow"]), "--serve-artifacts", "--workers", "1"],
        env={
            **env,
            **mlflow_env,
            "MLFLOW_BACKEND_STORE_URI": backend,
            # MLflow 3's job runner (GenAI evaluation) starts eight huey consumers: ~2 GB
            # and CPU the platform does not use.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
        url=mlflow_url,
        check=HealthCheck(kind="http", port=ports["mlflow"], path="/health", status=200),
    )
    starter.records[-1].env = env  # the state keeps what clients need, not the database password
    starter.save()

    # One bootstrap after another: each trains, and the machine's cores are better spent on one.
    for p in chosen:
        _bootstrap(starter, p, {**env, **starter.state["projects"][p.name]["env"]})

    starts: list[Callable[[], Server]] = []
    for p in chosen:
        starts.extend(_project_services(starter, p, {**env, **starter.state["projects"][p.name]["env"]}, ports))
    prometheus = servers.which("prometheus", "SAHAB_LOCAL_PROMETHEUS", ("/usr/bin/prometheus",))
    if options.prometheus and prometheus:
        config = _prometheus_config(state_dir, {p.name: ports[f"serving-{p.name}"] for p in chosen})
        starts.append(
            lambda: starter.service(
                "prometheus",
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={state_dir / 'prometheus' / 'data'}",
                    f"--web.listen-address={servers.LOOPBACK}:{ports['prometheus']}",
                    "--storage.tsdb.retention.time=2d",
                ],
                env={},
                url=f"http://{servers.LOOPBACK}:{ports['prometheus']}",
                check=HealthCheck(kind="http", port=ports["prometheus"], path="/-/ready", status=200),
            )
        )
    elif options.prometheus:
        starter.progress("prometheus: not found (install Debian's prometheus or set SAHAB_LOCAL_PROMETHEUS); skipped")
    # The services need only the registry and the stores: start them at once.
    starter.together(starts)
    if options.notebooks:
        from workloads.local import jupyter

        jupyter.start(starter, env, chosen)


def _project_services(starter: _Starter, project: Project, env: dict[str, str], ports: dict[str, int]) -> list[Callable[[], Server]]:
    """The starts of one project's services: serving, control plane, evaluator, the monitoring
    schedule and (optionally) its Feast feature server, each named `<role>-<project>`."""
    options, state_dir, name = starter.options, starter.state_dir, project.name
    python = sys.executable
    bentoml = str(Path(python).with_name("bentoml"))
    serving, control, feast = ports[f"serving-{name}"], ports[f"control-{name}"], ports[f"feast-{name}"]
    # Importing feast points PROMETHEUS_MULTIPROC_DIR at a temporary folder it deletes at exit; the
    # monitoring job's detached retraining inherits the variable and would find the folder gone. A
    # folder of the platform's own outlives the job.
    metrics_dir = state_dir / "monitoring-metrics" / name
    metrics_dir.mkdir(parents=True, exist_ok=True)
    starts: list[Callable[[], Server]] = [
        lambda: starter.service(
            f"serving-{name}",
            [bentoml, "serve", "workloads.serving.service:Scorer", "--host", servers.LOOPBACK, "--port", str(serving)],
            env=env,
            url=f"http://{servers.LOOPBACK}:{serving}",
            check=HealthCheck(kind="http", port=serving, path="/readyz", status=200),
        ),
        lambda: starter.service(
            f"control-{name}",
            [python, "-m", "workloads.serving.control"],
            env=env,
            url=f"http://{servers.LOOPBACK}:{control}",
            check=HealthCheck(kind="http", port=control, path="/healthz", status=200),
        ),
        lambda: starter.service(f"evaluator-{name}", [python, "-m", "workloads.serving.evaluator"], env=env, url="", check=HealthCheck(kind="alive")),
        lambda: starter.service(
            f"monitoring-{name}",
            [
                python,
                "-m",
                "workloads.local.schedule",
                "--every",
                str(options.drift_every_s),
                "--status",
                str(monitoring_status_file(state_dir, name)),
                "--",
                python,
                "-m",
                "workloads.monitoring",
                "run",
            ],
            env={**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
            url="",
            check=HealthCheck(kind="alive"),
        ),
    ]
    if options.feature_server:
        starts.append(
            lambda: starter.service(
                f"feast-{name}",
                [python, "-m", "workloads.features", "serve", "--host", servers.LOOPBACK, "--port", str(feast)],
                env=env,
                url=f"http://{servers.LOOPBACK}:{feast}",
                check=HealthCheck(kind="http", port=feast, path="/health", status=200),
            )
        )
    return starts


def monitoring_status_file(state_dir: Path, project: str) -> Path:
    """The monitoring schedule's last run of `project` (workloads.local.schedule --status)."""
    return Path(state_dir) / "logs" / f"monitoring-{project}.status.json"


def _bootstrap(starter: _Starter, project: Project, env: dict[str, str]) -> None:
    """Run `python -m workloads.local.bootstrap` for `project` in its env; raise LocalError with its log."""
    options, name = starter.options, project.name
    log = starter.logs / f"bootstrap-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "workloads.local.bootstrap", "--rows", str(options.rows), "--seed", str(options.seed)]
    if options.days is not None:
        argv += ["--days", str(options.days)]
    for key, value in (options.overrides.get(name) or {}).items():
        argv += ["--set", f"{key}={json.dumps(value)}"]
    argv.append("--challenger" if options.challenger else "--no-challenger")
    starter.progress(f"bootstrap-{name}: data -> features -> train -> register ({options.rows} example rows)")
    started = time.monotonic()
    with open(log, "ab") as out:
        try:
            done = subprocess.run(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                timeout=options.bootstrap_timeout_s,
                env={**_clean_environ(), **env, "PYTHONUNBUFFERED": "1", RUN_MARKER: starter.state["run_id"]},
            )
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = None
    if code != 0:
        why = f"timed out after {options.bootstrap_timeout_s:.0f}s" if code is None else f"exited with status {code}"
        raise LocalError(
            f"bootstrap-{name} (local job): {why}. Log {log}:\n{log_tail(log, 30)}\n"
            "Fix: see the log (it checks every service's SAHAB_* settings first, then generates data and trains); `sahab project validate` checks the project alone."
        )
    lines = log.read_text(errors="replace").strip().splitlines()
    summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    starter.state["projects"][name]["bootstrap"] = summary
    starter.save()
    reused = "" if summary.get("trained", True) else ", reused from the last run (nothing trained)"
    starter.progress(
        f"bootstrap-{name}: champion v{summary.get('champion')}"
        + (f", challenger v{summary['challenger']}" if summary.get("challenger") else "")
        + f"{reused} ({time.monotonic() - started:.0f}s)"
    )


def _create_buckets(s3: Server) -> None:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=s3.url, region_name=REGION, aws_access_key_id=s3.env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=s3.env["AWS_SECRET_ACCESS_KEY"]
    )
    for bucket in BUCKETS.values():
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})


def _prometheus_config(state_dir: Path, serving_ports: Mapping[str, int]) -> Path:
    """prometheus.yml scraping every project's serving (label `project`), with the platform's own
    alert rules (the ones the cluster's PrometheusRule carries, from workloads/monitoring/alerts.py)."""
    import yaml

    from workloads.monitoring.alerts import AlertSettings, alert_groups

    folder = state_dir / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    # No GPUs and no Karpenter on one machine: those alerts could never fire.
    args = AlertSettings(serving_namespace=SERVING_NAMESPACE, gpu_alerts=False, spot_alerts=False)
    rules = folder / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": alert_groups(args)}, sort_keys=False))
    config = folder / "prometheus.yml"
    targets = [
        {"targets": [f"{servers.LOOPBACK}:{port}"], "labels": {"namespace": SERVING_NAMESPACE, "project": name}} for name, port in sorted(serving_ports.items())
    ]
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
                "rule_files": [str(rules)],
                "scrape_configs": [{"job_name": "sahab-serving", "metrics_path": "/metrics", "static_configs": targets}],
            },
            sort_keys=False,
        )
    )
    return config
