"""Serving speed of any project, side by side: the generic BentoML service against a bare ASGI app
holding the same ONNX sessions, and onnxruntime against the framework's own model.

    .venv/bin/python benchmarks/serving.py [--project NAME ...] [--seconds 3]
        [--rate 100 200] [--servers scorer bare] [--skip-http] [--profile N]

Per project (`--project`, a name under projects/ or a folder; default: the first shipped project):
  * model only, batch 1 and 64: onnxruntime fp32 (and int8 where the version has it) against the
    native model (PyTorch eager, LightGBM, ...) on the same trained champion, one thread each;
  * HTTP on 127.0.0.1, one record per request, closed loop at concurrency 1 / 16 / 64:
    - `scorer`: `bentoml serve workloads.serving.service:Scorer` as a pod runs it (A/B split 50%,
      the prediction log on, exposures recorded), with its default settings;
    - `scorer, shadow`: the same in shadow mode (the champion answers, the challenger scores off
      the request path and its rows are logged): live latency should not move;
    - `scorer, BentoML API path`: the same with SAHAB_SERVING_FAST_PATH=false (/score through
      BentoML's own API machinery: what the fast path saves);
    - `bare ASGI`: uvicorn calling the same verified sessions (model.load, the same encoder and
      sticky routing) with no validation, batching, metrics or log;
    p50 / p99 latency, requests/s, non-200 answers and the share of the bare app's requests/s
    (targets, issue 19: >= 85% at concurrency 16 and 64, 0 non-200 up to 64, p99 <= 2x bare's);
  * open loop at fixed rates (default 100 and 200 requests/s), fresh servers, latency from the
    scheduled send time (target: p99 <= 25 ms at 200/s);
  * resident memory of each server's process group after its closed-loop run;
  * with --profile N: N /score calls through the service's ASGI app in this process under
    cProfile, the functions where the event loop's time goes.
The versions are trained by the platform's runtime on the project's own generator (or synthetic
rows) and registered under .sahab/bench/serving (first use only; tests/serving/serving_models.py).
The load generator is a minimal keep-alive HTTP/1.1 client on asyncio so that it takes as little of
the machine's CPU as possible; it still shares the cores with the servers. Timings are reported,
never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".sahab" / "bench" / "serving"
TARGET_SPEEDUP, TARGET_BARE_SHARE, TARGET_P99_RATIO, TARGET_P99_MS = 2.0, 0.85, 2.0, 25.0
logger = logging.getLogger("benchmarks.serving")

for path in (REPO, REPO / "tests" / "serving"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from serving_models import entity_keys, feature_records, register  # type: ignore[import-not-found]  # noqa: E402 (tests/serving, put on sys.path above)

from workloads.project import Project, resolve  # noqa: E402 (after the sys.path lines above)
from workloads.serving.settings import ServingSettings  # noqa: E402 (after the sys.path lines above)


def bench_env(home: Path = HOME) -> dict[str, str]:
    return {"SAHAB_HOME": str(home), "SAHAB_MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}"}


# --- the versions under test -------------------------------------------------------------------


def ensure_versions(project: Project, home: Path = HOME) -> None:
    """A champion and a challenger of `project` in the benchmark registry (trained on first use),
    and the champion's native model under <home>/native/<project>."""
    from workloads.registry.client import alias_versions
    from workloads.settings import SahabSettings

    home.mkdir(parents=True, exist_ok=True)
    settings = SahabSettings(home=home, mlflow_tracking_uri=bench_env(home)["SAHAB_MLFLOW_TRACKING_URI"])
    live = alias_versions(("champion", "challenger"), name=project.name, settings=settings)
    if live["champion"] is None:
        logger.warning("no %s champion under %s: training one (first use)", project.name, home)
        register(project, home, seed=0, rows=4_000, alias="champion", native_dir=home / "native" / project.name)
    if live["challenger"] is None:
        register(project, home, seed=1, rows=4_000, alias="challenger")


# --- model only --------------------------------------------------------------------------------


def time_calls(fn, seconds: float, min_calls: int = 50) -> list[float]:
    for _ in range(20):
        fn()
    out: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(out) < min_calls:
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench_model_only(project: Project, seconds: float) -> list[tuple]:
    from workloads.export.native import load_native
    from workloads.serving.model import load
    from workloads.training.frameworks import predict_native

    os.environ.update(bench_env())
    spec = project.spec
    models = {"onnxruntime fp32": load("champion", ServingSettings(intra_op_threads=1, precision="fp32"), spec)}
    int8 = load("champion", ServingSettings(intra_op_threads=1, precision="int8"), spec)
    if int8.precision == "int8":
        models["onnxruntime int8"] = int8
    native = load_native(project, HOME / "native" / project.name)
    if spec.training.framework == "torch":
        import torch

        torch.set_num_threads(1)
    elif hasattr(native, "set_params"):
        native.set_params(n_jobs=1)
    rows = []
    for batch in (1, 64):
        numeric, categorical = models["onnxruntime fp32"].encoder(feature_records(project, batch, seed=batch))
        timings = {
            f"{spec.training.framework} (native)": time_calls(
                lambda: predict_native(spec.label.task, native, numeric, categorical, spec.label.classes),  # noqa: B023 (called within this iteration)
                seconds,
            )
        }
        for name, model in models.items():
            timings[name] = time_calls(lambda m=model: m.predict_arrays(numeric, categorical), seconds)  # noqa: B023 (called within this iteration)
        base = statistics.median(next(iter(timings.values())))
        for engine, t in timings.items():
            med = statistics.median(t)
            rows.append((engine, batch, med * 1e6, float(np.percentile(t, 99)) * 1e6, batch / med, base / med))
    return rows


# --- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], port: int, log: Path, timeout_s: float = 180.0) -> subprocess.Popen:
    # Only our SAHAB_* variables: a shell's registry settings must not leak into the benchmark.
    base = {k: v for k, v in os.environ.items() if not k.startswith("SAHAB_")}
    proc = subprocess.Popen(
        cmd, cwd=REPO, env={**base, **env, "PYTHONPATH": str(REPO)}, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd} exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return proc
        except OSError:
            pass
        time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"{cmd} not ready: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def serve_bare(port: int) -> None:
    """A bare ASGI app (no validation, no batching, no metrics, no log) on the same verified
    sessions, encoder and sticky routing as the service."""
    import uvicorn

    from workloads.project import from_env
    from workloads.serving.model import load
    from workloads.serving.state import Experiment

    project = from_env()
    settings = ServingSettings(ab_mode="split", challenger_weight=0.5, intra_op_threads=1)
    models = {v: load(v, settings, project.spec) for v in ("champion", "challenger")}
    experiment = Experiment(project.name, models["champion"].version, models["challenger"].version, settings.ab_salt, 0.5)
    multiclass = project.spec.label.task == "multiclass"

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/readyz":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        body, more = b"", True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        out = []
        for req in json.loads(body)["requests"]:
            variant = experiment.variant(req["key"])
            model = models[variant]
            prediction = model.predict(req["records"])
            answer = {"key": req["key"], "variant": variant, "model_name": model.name, "model_version": model.version, "precision": model.precision}
            if multiclass and prediction.probabilities is not None:
                answer.update(probabilities=prediction.probabilities.tolist(), predictions=prediction.predictions, classes=list(model.classes))
            elif not multiclass and prediction.scores is not None:
                answer["scores"] = prediction.scores.tolist()
            else:
                raise RuntimeError(f"{model.name} v{model.version}: the model returned no {'probabilities' if multiclass else 'scores'}")
            out.append(answer)
        data = json.dumps(out).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]}
        )
        await send({"type": "http.response.body", "body": data})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# --- load generation ---------------------------------------------------------------------------


def request_bytes(port: int, record: dict[str, object], key: str) -> bytes:
    body = json.dumps({"requests": [{"key": key, "records": [record]}]}).encode()
    head = (f"POST /score HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n").encode()
    return head + body


async def _exchange(reader, writer, payload: bytes) -> int:
    writer.write(payload)
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return int(status_line.split()[1])


async def closed_loop(port: int, payloads: list[bytes], concurrency: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        j = i
        try:
            while time.perf_counter() < stop_at:
                t = time.perf_counter()
                status = await _exchange(reader, writer, payloads[j % len(payloads)])
                latencies.append(time.perf_counter() - t)
                errors += status != 200
                j += concurrency
        finally:
            writer.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return latencies, errors


async def open_loop(port: int, payloads: list[bytes], rate: float, seconds: float) -> tuple[list[float], int]:
    """Send at a fixed rate; latency counts from the scheduled time (no coordinated omission)."""
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float, payload: bytes) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            status = await _exchange(conn[0], conn[1], payload)
        finally:
            pool.put_nowait(conn)
        latencies.append(time.perf_counter() - scheduled)
        errors += status != 200

    start_at = time.perf_counter() + 0.05
    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = start_at + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        tasks.append(asyncio.create_task(one(scheduled, payloads[i % len(payloads)])))
    await asyncio.gather(*tasks)
    while not pool.empty():
        pool.get_nowait()[1].close()
    return latencies, errors


def group_rss_mib(pid: int) -> float:
    """Resident memory of every process in `pid`'s process group (the server and its workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pgrp = int(stat.rsplit(")", 1)[1].split()[2])
            if pgrp == pid:
                rss_pages = int((entry / "statm").read_text().split()[1])
                total += rss_pages * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            continue
    return total / 2**20


def summarize(latencies: list[float], seconds: float, errors: int) -> tuple[float, float, float, int]:
    ms = np.asarray(latencies) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(latencies) / seconds, errors


def servers(project: Project, log_root: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command, extra environment) of every server compared."""
    bento = [sys.executable, "-m", "bentoml", "serve", "workloads.serving.service:Scorer"]
    return {
        "scorer": (bento, {"SAHAB_SERVING_PREDICTION_LOG_URI": str(log_root / "split")}),
        "scorer, shadow": (bento, {"SAHAB_SERVING_AB_MODE": "shadow", "SAHAB_SERVING_PREDICTION_LOG_URI": str(log_root / "shadow")}),
        "scorer, BentoML API path": (bento, {"SAHAB_SERVING_FAST_PATH": "false", "SAHAB_SERVING_PREDICTION_LOG_URI": str(log_root / "api")}),
        "bare ASGI": ([sys.executable, str(Path(__file__)), "--serve-bare"], {}),
    }


def bench_http(
    project: Project, seconds: float, rates: list[float], open_seconds: float, log_dir: Path, only: list[str] | None, warmup_seconds: float, repeat: int
):
    """Closed- and open-loop cells of every server, `repeat` times with the servers interleaved (the
    machine's other load drifts over minutes: interleaving spreads it over all servers); each cell
    reports the median run by requests/s (closed) or p99 (open)."""
    records = feature_records(project, 512, seed=11)
    keys = entity_keys(project, 512, "bench-")
    env = {
        **bench_env(),
        "SAHAB_PROJECT": str(project.folder),
        "SAHAB_SERVING_AB_MODE": "split",
        "SAHAB_SERVING_CHALLENGER_WEIGHT": "0.5",
        "SAHAB_SERVING_INTRA_OP_THREADS": "1",
        "BENTOML_DO_NOT_TRACK": "True",
    }
    closed: dict[tuple[str, int], list[tuple]] = {}
    opened: dict[tuple[str, float], list[tuple]] = {}
    memory: dict[str, list[float]] = {}
    log_root = Path(tempfile.mkdtemp(prefix="sahab-bench-log-"))
    every = servers(project, log_root)
    # Exact names first (`--servers scorer "bare ASGI"`), else every server whose name contains one.
    names = [n for n in every if n in (only or ())] or [n for n in every if not only or any(o in n for o in only)]
    chosen = {n: every[n] for n in names}
    for _ in range(repeat):
        for name, (cmd, extra) in chosen.items():
            slug = name.replace(" ", "").replace(",", "-")

            def launch(tag: str, cmd=cmd, extra=extra, slug=slug) -> tuple[subprocess.Popen, int, list[bytes]]:
                port = free_port()
                full = [*cmd, "--port", str(port)] + (["--host", "127.0.0.1"] if cmd[1:3] == ["-m", "bentoml"] else [])
                proc = start(full, {**env, **extra}, port, log_dir / f"{project.name}-{slug}{tag}.log")
                order = random.Random(7).sample(range(len(records)), len(records))
                return proc, port, [request_bytes(port, records[i], keys[i]) for i in order]

            proc, port, payloads = launch("")
            try:
                asyncio.run(closed_loop(port, payloads, 4, warmup_seconds))  # warm-up
                for c in (1, 16, 64):
                    lat, err = asyncio.run(closed_loop(port, payloads, c, seconds))
                    closed.setdefault((name, c), []).append(summarize(lat, seconds, err))
                memory.setdefault(name, []).append(group_rss_mib(proc.pid))
            finally:
                stop(proc)
            # The open loop gets a fresh server: what the concurrency-64 phase left (queues, caches) is not
            # what a server at a steady rate sees.
            for rate in rates:
                proc, port, payloads = launch(f"-open-{rate:.0f}")
                try:
                    asyncio.run(open_loop(port, payloads, rate, warmup_seconds))
                    lat, err = asyncio.run(open_loop(port, payloads, rate, open_seconds))
                    opened.setdefault((name, rate), []).append(summarize(lat, open_seconds, err))
                finally:
                    stop(proc)

    def median(runs: list[tuple], by: int) -> tuple:
        return sorted(runs, key=lambda r: r[by])[len(runs) // 2]

    closed_rows = [(name, c, *median(runs, 2), len(runs)) for (name, c), runs in closed.items()]
    open_rows = [(name, rate, *median(runs, 1), len(runs)) for (name, rate), runs in opened.items()]
    memory_rows = [(name, statistics.median(v)) for name, v in memory.items()]
    return closed_rows, open_rows, memory_rows, _shadow_rows(log_root / "shadow")


def _shadow_rows(root: Path) -> dict[str, int]:
    """Rows per mode the shadow server logged (the shadow comparison exists)."""
    if not root.exists() or not any(root.rglob("*.parquet")):
        return {}
    import pyarrow.dataset as ds

    table = ds.dataset(root, format="parquet", partitioning="hive").to_table(columns=["mode"])
    modes = table.column("mode").to_pylist()
    return {m: modes.count(m) for m in sorted(set(modes))}


def profile_in_process(project: Project, calls: int) -> str:
    """cProfile of `calls` sequential /score calls through the service's ASGI app, driven in this
    thread's event loop (lifespan included), so the framework's own work is what is profiled; the
    model runs on the batcher's thread (its time shows as the wait for the answer)."""
    import cProfile
    import io
    import pstats

    import httpx

    os.environ.update({**bench_env(), "SAHAB_PROJECT": str(project.folder), "SAHAB_SERVING_AB_MODE": "split", "SAHAB_SERVING_CHALLENGER_WEIGHT": "0.5"})
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(HOME / "prometheus"))
    (HOME / "prometheus").mkdir(parents=True, exist_ok=True)
    from workloads.serving.service import build_service

    app = build_service(project).to_asgi()
    records = feature_records(project, 64, seed=3)
    keys = entity_keys(project, calls + 20, "profile-")
    prof = cProfile.Profile()

    async def run() -> float:
        inbox: asyncio.Queue = asyncio.Queue()
        started = asyncio.Event()
        await inbox.put({"type": "lifespan.startup"})

        async def send(msg):
            if msg["type"] == "lifespan.startup.complete":
                started.set()

        lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))
        await started.wait()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            for i in range(20):
                await client.post("/score", json={"requests": [{"key": keys[i], "records": records[i % 64 : i % 64 + 1]}]})
            t0 = time.perf_counter()
            prof.enable()
            for i in range(calls):
                await client.post("/score", json={"requests": [{"key": keys[20 + i], "records": records[i % 64 : i % 64 + 1]}]})
            prof.disable()
            elapsed = time.perf_counter() - t0
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(lifespan, 30)
        return elapsed

    per_call = asyncio.run(run()) / calls * 1e3
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    busy = stats.get_stats_profile().total_tt / calls * 1e3
    stats.sort_stats("tottime").print_stats(20)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    return f"{project.name}: {per_call:.2f} ms per call (wall, profiler on), of which {busy:.2f} ms on the event loop's thread\n" + "\n".join(lines[-22:])


# --- report ------------------------------------------------------------------------------------


def report(project: Project, args, console) -> None:
    from rich.table import Table

    ensure_versions(project)
    spec = project.spec
    title = f"{spec.name} ({spec.training.framework}, {spec.label.task}, {len(spec.numeric)} numeric + {len(spec.categorical)} categorical features)"
    table = Table(title=f"{title}: model only, one thread")
    for col in ("engine", "batch", "p50 us", "p99 us", "rows/s", "speed-up vs native"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for engine, batch, p50, p99, rps, speedup in bench_model_only(project, args.seconds):
        table.add_row(engine, str(batch), f"{p50:.1f}", f"{p99:.1f}", f"{rps:,.0f}", f"{speedup:.2f}x")
    console.print(table)
    if args.skip_http:
        return
    log_dir = HOME / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    closed, opened, memory, shadow_rows = bench_http(
        project, args.seconds, args.rate, args.open_seconds, log_dir, args.servers, args.warmup_seconds, args.repeat
    )
    bare = {c: (rps, p99) for name, c, _, p99, rps, _, _ in closed if name.startswith("bare")}
    runs = f", median of {args.repeat} interleaved runs" if args.repeat > 1 else ""
    table = Table(title=f"{spec.name}: HTTP on loopback, 1 record per request, closed loop, {args.seconds:.0f} s per cell{runs}")
    for col in ("server", "concurrency", "p50 ms", "p99 ms", "requests/s", "non-200", "share of bare", "p99 / bare's"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for name, c, p50, p99, rps, err, _ in closed:
        share = f"{rps / bare[c][0]:.0%}" if c in bare else "n/a"
        ratio = f"{p99 / bare[c][1]:.2f}x" if c in bare else "n/a"
        table.add_row(name, str(c), f"{p50:.2f}", f"{p99:.2f}", f"{rps:,.0f}", str(err), share, ratio)
    console.print(table)
    console.print(
        f"targets: scorer >= {TARGET_BARE_SHARE:.0%} of the bare app's requests/s at 16 and 64, 0 non-200 up to 64, p99 <= {TARGET_P99_RATIO:.0f}x the bare app's"
    )
    table = Table(title=f"{spec.name}: open loop at a fixed rate for {args.open_seconds:.0f} s (latency from the scheduled send)")
    for col in ("server", "rate", "p50 ms", "p99 ms", "achieved/s", "non-200", f"p99 <= {TARGET_P99_MS:.0f} ms"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for name, rate, p50, p99, rps, err, _ in opened:
        table.add_row(name, f"{rate:.0f}", f"{p50:.2f}", f"{p99:.2f}", f"{rps:,.0f}", str(err), "ok" if p99 <= TARGET_P99_MS and err == 0 else "MISSED")
    console.print(table)
    table = Table(title=f"{spec.name}: resident memory of the server's process group (champion and challenger loaded)")
    for col in ("server", "RSS MiB"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for name, rss in memory:
        table.add_row(name, f"{rss:,.0f}")
    console.print(table)
    if shadow_rows:
        console.print(f"shadow server's prediction log: {shadow_rows} rows per mode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", nargs="+", default=["transaction-risk"], help="project names under projects/ or folders")
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--rate", type=float, nargs="*", default=[100.0, 200.0], help="open-loop requests/s (none: skip the open loop)")
    parser.add_argument("--open-seconds", type=float, default=10.0)
    parser.add_argument("--warmup-seconds", type=float, default=10.0, help="traffic before each measurement on a fresh server")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every HTTP cell, servers interleaved; the median is reported")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--servers", nargs="+", help='only these servers (exact names, e.g. scorer "bare ASGI"), else those whose name contains one')
    parser.add_argument("--profile", type=int, metavar="N", help="only profile N in-process /score calls (cProfile)")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.serve_bare:
        serve_bare(args.port)
        return
    projects = [resolve(p) for p in args.project]
    if args.profile:
        for project in projects:
            ensure_versions(project)
            print(profile_in_process(project, args.profile), flush=True)
        return

    from rich.console import Console

    console = Console(width=160)
    console.print(f"cores visible: {os.cpu_count()} (shared with the load generator and other work), load average {os.getloadavg()[0]:.2f}")
    for project in projects:
        report(project, args, console)
    console.print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
