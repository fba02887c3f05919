"""Serving speed, side by side: onnxruntime against PyTorch, BentoML against a bare ASGI app.

    .venv/bin/python benchmarks/serving.py [--seconds 3] [--rate 100 200] [--skip-http] [--profile N]

Tables:
  * model only, batch 1 and 64: onnxruntime fp32 and int8 against PyTorch eager on the same
    trained model (1 thread each; target: onnxruntime >= 2x PyTorch);
  * HTTP on 127.0.0.1, one record per request, closed loop at concurrency 1 / 16 / 64: the
    BentoML service, a bare ASGI app (uvicorn) calling the same onnxruntime session (target:
    BentoML >= 70% of its throughput) and the same BentoML service shape running PyTorch;
    p50 / p99 latency and requests/s;
  * open loop at fixed rates (default 100 and 200 requests/s) against the BentoML service and the
    bare app, latency measured from the scheduled send time (target: p99 <= 25 ms at 200/s);
  * resident memory of each server's process group after its closed-loop run;
  * with --profile N: N /score calls through the service's ASGI app in this process under cProfile
    (batching on and off), the functions where the time goes.
Both the BentoML service and the bare app load champion **and** challenger (issue 10: every pod
serves both) and route each key by its sticky hash, with the challenger at 50%; the BentoML
service is measured with its adaptive batcher on (the default) and off.
The model is the local pipeline's champion under .sahab/bench/serving (trained on first use).
The load generator is a minimal keep-alive HTTP/1.1 client on asyncio so that it takes as little
of the machine's CPU as possible; it still shares the cores with the servers. Timings are
reported, never asserted.
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
import time
from pathlib import Path

import bentoml
import numpy as np

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".sahab" / "bench" / "serving"
TARGET_SPEEDUP, TARGET_BARE_SHARE, TARGET_P99_MS = 2.0, 0.85, 25.0
logger = logging.getLogger("benchmarks.serving")

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from workloads.serving.schemas import ScoreRequest, ScoreResponse  # noqa: E402 (after the sys.path line above)
from workloads.serving.settings import ServingSettings  # noqa: E402 (after the sys.path line above)

_SETTINGS = ServingSettings()


# --- the model under test ----------------------------------------------------------------------


def ensure_champion(home: Path = HOME):
    """The champion of the benchmark registry, trained by the local pipeline on first use."""
    from workloads.pipeline import local_settings, run_local_pipeline
    from workloads.registry.client import resolve

    settings = local_settings(home)
    try:
        champion = resolve("champion", dst=home / "resolved", settings=settings)
    except LookupError:
        logger.info("no champion under %s: running the local pipeline once", home)
        run_local_pipeline(home, seed=0, log=logger.info)
        champion = resolve("champion", dst=home / "resolved", settings=settings)
    ensure_challenger(home)
    return champion


def ensure_challenger(home: Path = HOME) -> None:
    """A `challenger` alias for the benchmark: a second version of the champion's run (same
    artifacts and digests), so every server loads two sessions as a pod does in an experiment."""
    from workloads.pipeline import local_settings
    from workloads.registry.client import mlflow_client

    settings = local_settings(home)
    client = mlflow_client(settings)
    name = settings.model_name
    try:
        client.get_model_version_by_alias(name, "challenger")
        return
    except Exception:  # noqa: BLE001 (no challenger alias yet: make one)
        champion = client.get_model_version_by_alias(name, "champion")
    mv = client.create_model_version(name, source=champion.source, run_id=champion.run_id, tags=champion.tags)
    client.set_registered_model_alias(name, "challenger", mv.version)


def torch_model(home: Path = HOME):
    """The champion's PyTorch weights wrapped to output the probability, like the ONNX graph."""
    import torch

    from workloads.export.onnx import ScoreModel
    from workloads.pipeline import local_settings
    from workloads.registry.client import mlflow_client, resolve
    from workloads.training.trainer import load_model_bundle

    settings = local_settings(home)
    resolved = resolve("champion", dst=home / "resolved", settings=settings)
    local = mlflow_client(settings).download_artifacts(resolved.run_id, "torch", str(home / "torch"))
    model, _, spec = load_model_bundle(Path(local) / "model.pt")
    torch.set_num_threads(1)
    return ScoreModel(model).eval(), spec


def sample_records(n: int, seed: int = 0) -> list[dict[str, object]]:
    import math

    from workloads.data.generator import generate
    from workloads.data.schema import FEATURES

    df = generate(max(n, 10), seed=seed)[list(FEATURES)].head(n)
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in df.to_dict(orient="records")]


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


def bench_model_only(seconds: float) -> list[tuple]:
    import onnxruntime as ort
    import torch

    from workloads.features.encoding import FeatureSpec, encode
    from workloads.serving.model import session_options

    resolved = ensure_champion()
    spec = FeatureSpec.from_json(resolved.feature_spec.read_text())
    opts = session_options(ServingSettings(intra_op_threads=1))
    sessions = {
        p: ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]) for p, path in (("fp32", resolved.fp32_onnx), ("int8", resolved.int8_onnx))
    }
    model, _ = torch_model()
    rows = []
    for batch in (1, 64):
        num, cat = encode(sample_records(batch, seed=batch), spec)
        tn, tc = torch.from_numpy(num), torch.from_numpy(cat)

        def run_torch():
            with torch.inference_mode():
                model(tn, tc)  # noqa: B023 (called within this iteration)

        timings = {"pytorch eager": time_calls(run_torch, seconds)}
        for p, sess in sessions.items():
            timings[f"onnxruntime {p}"] = time_calls(lambda s=sess: s.run(["score"], {"numeric": num, "categorical": cat}), seconds)  # noqa: B023 (called within this iteration)
        base = statistics.median(timings["pytorch eager"])
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
    """A bare ASGI app (no validation, no batching, no metrics) on the same verified session."""
    import uvicorn

    from workloads.serving.abtest import assign
    from workloads.serving.model import load

    settings = ServingSettings(ab_mode="split", challenger_weight=0.5, intra_op_threads=1)
    models = {"champion": load("champion", settings), "challenger": load("challenger", settings)}

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
            variant = assign(req["key"], 0.5, settings.ab_salt)
            model = models[variant]
            scores = model.score_records(req["records"])
            out.append(
                {
                    "key": req["key"],
                    "variant": variant,
                    "model_name": model.name,
                    "model_version": model.version,
                    "precision": model.precision,
                    "scores": scores.tolist(),
                }
            )
        data = json.dumps(out).encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]}
        )
        await send({"type": "http.response.body", "body": data})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


@bentoml.service(
    name="transaction_risk_torch", resources={"cpu": _SETTINGS.cpu}, traffic={"timeout": _SETTINGS.timeout_s, "max_concurrency": 2 * _SETTINGS.max_concurrency}
)
class TorchRisk:
    """The same API shape as TransactionRisk (champion only), with PyTorch eager inside."""

    def __init__(self) -> None:
        self.model, self.spec = torch_model(Path(os.environ.get("SAHAB_HOME", HOME)))

    @bentoml.api(batchable=True, max_batch_size=_SETTINGS.max_batch_size, max_latency_ms=_SETTINGS.max_latency_ms)
    def score(self, requests: list[ScoreRequest]) -> list[ScoreResponse]:
        import torch

        from workloads.features.encoding import encode

        records = [rec.__dict__ for req in requests for rec in req.records]
        num, cat = encode(records, self.spec)
        with torch.inference_mode():
            scores = self.model(torch.from_numpy(num), torch.from_numpy(cat)).numpy()
        out, offset = [], 0
        for req in requests:
            n = len(req.records)
            out.append(
                ScoreResponse(
                    request_id="-",
                    experiment_id=None,
                    key=req.key,
                    variant="champion",
                    model_name="torch",
                    model_version="eager",
                    precision="fp32",
                    scores=scores[offset : offset + n].tolist(),
                )
            )
            offset += n
        return out


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
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(64):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float, payload: bytes) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            status = await _exchange(*conn, payload)
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


def bench_http(
    seconds: float,
    rates: list[float],
    open_seconds: float,
    log_dir: Path,
    only: list[str] | None = None,
    max_latency_ms: int | None = None,
    warmup_seconds: float = 10.0,
):
    ensure_champion()
    records = sample_records(512, seed=11)
    env = {
        "SAHAB_HOME": str(HOME),
        "SAHAB_SERVING_AB_MODE": "split",
        "SAHAB_SERVING_CHALLENGER_WEIGHT": "0.5",
        "SAHAB_SERVING_INTRA_OP_THREADS": "1",
        "SAHAB_SERVING_MAX_CONCURRENCY": "256",
        "BENTOML_DO_NOT_TRACK": "True",
    }
    if max_latency_ms:
        env["SAHAB_SERVING_MAX_LATENCY_MS"] = str(max_latency_ms)
    bento = [sys.executable, "-m", "bentoml", "serve", "workloads.serving.service:TransactionRisk"]
    servers = {
        "bentoml + onnxruntime": (bento, {}),
        "bentoml, no batcher + onnxruntime": (bento, {"SAHAB_SERVING_ADAPTIVE_BATCHING": "false"}),
        "bare ASGI + onnxruntime": ([sys.executable, str(Path(__file__)), "--serve-bare"], {}),
        "bentoml + pytorch": ([sys.executable, "-m", "bentoml", "serve", "benchmarks.serving:TorchRisk"], {}),
    }
    closed, opened, memory = [], [], []
    for name, (cmd, extra) in servers.items():
        if only and not any(o in name for o in only):
            continue
        port = free_port()
        full = [*cmd, "--port", str(port)] + (["--host", "127.0.0.1"] if cmd[1:3] == ["-m", "bentoml"] else [])
        slug = name.replace(" ", "").replace(",", "-").replace("+", "-")
        proc = start(full, {**env, **extra}, port, log_dir / f"{slug}.log")
        try:
            payloads = [request_bytes(port, r, f"acct-{random.Random(i).randrange(10**6)}") for i, r in enumerate(records)]
            asyncio.run(closed_loop(port, payloads, 4, warmup_seconds))  # warm-up (and the batcher's calibration)
            for c in (1, 16, 64):
                lat, err = asyncio.run(closed_loop(port, payloads, c, seconds))
                closed.append((name, c, *summarize(lat, seconds, err)))
            memory.append((name, group_rss_mib(proc.pid)))
        finally:
            stop(proc)
        # The open loop gets a fresh server: the adaptive batcher calibrates on what it has seen, and
        # a server just out of the concurrency-64 phase measures that history, not the rate at hand.
        for rate in rates if "pytorch" not in name else ():
            port = free_port()
            full = [*cmd, "--port", str(port)] + (["--host", "127.0.0.1"] if cmd[1:3] == ["-m", "bentoml"] else [])
            proc = start(full, {**env, **extra}, port, log_dir / f"{slug}-open-{rate:.0f}.log")
            try:
                payloads = [request_bytes(port, r, f"acct-{random.Random(i).randrange(10**6)}") for i, r in enumerate(records)]
                # Warm-up at the same rate: a fresh BentoML server answers its first ~10 s of traffic with
                # p99 near 1 s (measured: 935 ms, then 14 ms and 18 ms over the next two 10 s windows).
                asyncio.run(open_loop(port, payloads, rate, warmup_seconds))
                lat, err = asyncio.run(open_loop(port, payloads, rate, open_seconds))
                opened.append((name, rate, *summarize(lat, open_seconds, err)))
            finally:
                stop(proc)
    return closed, opened, memory


def profile_in_process(calls: int, batching: bool) -> str:
    """cProfile of `calls` sequential /score calls through the service's ASGI app, driven in this
    thread's event loop (lifespan included), so the framework's own work is what is profiled; the
    sync API body runs in BentoML's thread pool and the batcher's waits are idle time (wall clock)."""
    import cProfile
    import importlib
    import io
    import pstats

    import httpx

    ensure_champion()
    os.environ.update(
        {
            "SAHAB_HOME": str(HOME),
            "SAHAB_SERVING_AB_MODE": "split",
            "SAHAB_SERVING_CHALLENGER_WEIGHT": "0.5",
            "SAHAB_SERVING_ADAPTIVE_BATCHING": "true" if batching else "false",
        }
    )
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(HOME / "prometheus"))
    (HOME / "prometheus").mkdir(parents=True, exist_ok=True)
    from prometheus_client import REGISTRY

    for collector in list(REGISTRY._collector_to_names):  # one BentoML app per process, as it assumes
        if any(n.startswith("bentoml_") for n in REGISTRY._collector_to_names[collector]):
            REGISTRY.unregister(collector)
    import workloads.serving.service as service

    app = importlib.reload(service).TransactionRisk.to_asgi()
    records = sample_records(64, seed=3)
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
                await client.post("/score", json={"requests": [{"key": f"w{i}", "records": records[i % 64 : i % 64 + 1]}]})
            t0 = time.perf_counter()
            prof.enable()
            for i in range(calls):
                await client.post("/score", json={"requests": [{"key": f"acct-{i}", "records": records[i % 64 : i % 64 + 1]}]})
            prof.disable()
            elapsed = time.perf_counter() - t0
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(lifespan, 30)
        return elapsed

    per_call = asyncio.run(run()) / calls * 1e3
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    busy = stats.total_tt / calls * 1e3
    stats.sort_stats("tottime").print_stats(14)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    return (
        f"batching {'on' if batching else 'off'}: {per_call:.2f} ms per call (wall, profiler on), of which "
        f"{busy:.2f} ms on the event loop's thread\n" + "\n".join(lines[-16:])
    )


# --- report ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--rate", type=float, nargs="+", default=[100.0, 200.0], help="open-loop requests/s")
    parser.add_argument("--open-seconds", type=float, default=10.0)
    parser.add_argument("--warmup-seconds", type=float, default=10.0, help="traffic before each measurement on a fresh server")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--servers", nargs="+", help="only servers whose name contains one of these (e.g. bentoml bare)")
    parser.add_argument("--max-latency-ms", type=int, help="the BentoML batcher's latency budget (default: the service's)")
    parser.add_argument("--profile", type=int, metavar="N", help="only profile N in-process /score calls (cProfile)")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.serve_bare:
        serve_bare(args.port)
        return

    if args.profile:
        for batching in (True, False):
            print(profile_in_process(args.profile, batching), flush=True)
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    console.print(f"cores visible: {os.cpu_count()} (shared with the load generator and other work), load average {os.getloadavg()[0]:.2f}")
    table = Table(title="Model only (1 thread): onnxruntime vs PyTorch eager")
    for col in ("engine", "batch", "p50 us", "p99 us", "rows/s", "speed-up vs pytorch"):
        table.add_column(col, justify="left" if col == "engine" else "right")
    for engine, batch, p50, p99, rps, speedup in bench_model_only(args.seconds):
        table.add_row(engine, str(batch), f"{p50:.1f}", f"{p99:.1f}", f"{rps:,.0f}", f"{speedup:.2f}x")
    console.print(table)
    console.print(f"target: onnxruntime >= {TARGET_SPEEDUP:.0f}x pytorch eager")
    if args.skip_http:
        return

    log_dir = HOME / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    closed, opened, memory = bench_http(args.seconds, args.rate, args.open_seconds, log_dir, args.servers, args.max_latency_ms, args.warmup_seconds)
    bare = {c: rps for name, c, _, _, rps, _ in closed if name.startswith("bare")}
    table = Table(title=f"HTTP on loopback, 1 record per request, closed loop, {args.seconds:.0f} s per cell")
    for col in ("server", "concurrency", "p50 ms", "p99 ms", "requests/s", "non-200", "share of bare ASGI"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for name, c, p50, p99, rps, err in closed:
        table.add_row(name, str(c), f"{p50:.2f}", f"{p99:.2f}", f"{rps:,.0f}", str(err), f"{rps / bare[c]:.0%}" if c in bare else "n/a")
    console.print(table)
    console.print(f"target: bentoml + onnxruntime >= {TARGET_BARE_SHARE:.0%} of the bare app's requests/s")
    table = Table(title=f"Open loop at a fixed rate for {args.open_seconds:.0f} s (latency from the scheduled send)")
    for col in ("server", "rate", "p50 ms", "p99 ms", "achieved/s", "non-200", f"p99 <= {TARGET_P99_MS:.0f} ms"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for name, rate, p50, p99, rps, err in opened:
        table.add_row(name, f"{rate:.0f}", f"{p50:.2f}", f"{p99:.2f}", f"{rps:,.0f}", str(err), "ok" if p99 <= TARGET_P99_MS and err == 0 else "MISSED")
    console.print(table)
    table = Table(title="Resident memory of the server's process group (two models loaded where it says onnxruntime)")
    for col in ("server", "RSS MiB"):
        table.add_column(col, justify="left" if col == "server" else "right")
    for name, rss in memory:
        table.add_row(name, f"{rss:,.0f}")
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
