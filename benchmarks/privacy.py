"""Personal data and explanations (issue 22): tokenisation throughput and the cost of a reason code.

    .venv/bin/python benchmarks/privacy.py [--values 2000000] [--seconds 3] [--project NAME ...] [--skip-explain]

1. Tokenisation (workloads/privacy/tokens.py), values per second, on the CPUs this process may use:
   - `token()` one value at a time (what serving does per request);
   - `tokens()` on a column of distinct phone numbers, in this process and with one worker per CPU
     (what ingestion does per column; target >= 1 million values/s on 2 cores);
   - `tokens()` on a column of typical cardinality (each value repeated 20 times: one HMAC per
     distinct value, `pandas.factorize`).
2. Explanation overhead at batch 1, in-process through the scoring service's core (ScoringCore
   .score_many, no HTTP, no prediction log), per project (default: both shipped ones):
   - the first request asking for an explanation (the native model and its Explainer load lazily);
   - p50 / p99 of a one-record request without `explain` on a core that never explained, the same
     after explanations were served, and of one with `"explain": true` (target: p99 added <= 20 ms;
     0 added cost when none is asked for: the first two rows agree).
The versions are trained under .sahab/bench/privacy on first use (tests/serving/serving_models.py).
Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "tests" / "serving", REPO / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

TARGET_VALUES_S, TARGET_P99_ADDED_MS = 1_000_000, 20.0
HOME = REPO / ".sahab" / "bench" / "privacy"
"""Its own registry: versions registered with their native model (the serving benchmark's may predate it)."""
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _rate(fn, n: int, repeat: int = 3) -> tuple[float, float]:
    """(values per wall second, values per CPU second of this process), the best of `repeat` runs."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
    return n / best, n / best_cpu


def bench_tokens(n: int) -> list[tuple[str, int, tuple[float, float]]]:
    from workloads.privacy.tokens import Tokeniser, default_workers

    tokeniser = Tokeniser(os.urandom(32), 1)
    rng = np.random.default_rng(0)
    distinct = [f"+97150{v:07d}" for v in rng.permutation(10_000_000)[:n]]
    repeated = [distinct[i % (n // 20)] for i in range(n)]
    workers = default_workers()
    rows = [("token() one value at a time", 1, _rate(lambda: [tokeniser.token(v, "phone") for v in distinct[:200_000]], 200_000))]
    rows.append(("tokens() distinct values, in process", 1, _rate(lambda: tokeniser.tokens(distinct, "phone"), n)))
    if workers > 1:
        tokeniser.tokens(distinct[:300_000], "phone", workers=workers)  # start the pool outside the timing
        rows.append((f"tokens() distinct values, {workers} workers", workers, _rate(lambda: tokeniser.tokens(distinct, "phone", workers=workers), n)))
    rows.append(("tokens() each value 20 times, in process", 1, _rate(lambda: tokeniser.tokens(repeated, "phone"), n)))
    tokeniser.close()
    return rows


def _times(fn, seconds: float, min_calls: int = 200) -> list[float]:
    for _ in range(20):
        fn()
    out: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(out) < min_calls:
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def bench_explain(name: str, seconds: float) -> list[tuple[str, str, float, float]]:
    from serving import bench_env, ensure_versions  # benchmarks/serving.py (its registry)
    from serving_models import entity_keys, feature_records  # type: ignore[import-not-found]  # tests/serving, on sys.path above

    from workloads.project import resolve
    from workloads.serving.schemas import scoring_schemas
    from workloads.serving.service import ScoringCore
    from workloads.serving.settings import ServingSettings

    project = resolve(name)
    ensure_versions(project, HOME)
    os.environ.update(bench_env(HOME))
    os.environ.pop("SAHAB_SERVING_PREDICTION_LOG_URI", None)
    schemas = scoring_schemas(project.spec)
    core = ScoringCore(project, schemas, ServingSettings(ab_mode="off", intra_op_threads=1))
    record = schemas.record(**feature_records(project, 1, seed=3)[0])
    key = entity_keys(project, 1, "bench-")[0]
    plain = [schemas.request(key=key, records=[record])]
    explained = [schemas.request(key=key, records=[record], explain=True)]
    try:
        before = _times(lambda: core.score_many(plain), seconds)
        t = time.perf_counter()
        answer = core.score_many(explained)[0]
        first = time.perf_counter() - t
        if answer["explanation_error"]:
            raise RuntimeError(f"{name}: {answer['explanation_error']}")
        with_explain = _times(lambda: core.score_many(explained), seconds)
        after = _times(lambda: core.score_many(plain), seconds)
    finally:
        core.close()
    method = answer["explanations"][0]["method"]

    def row(label: str, t: list[float]) -> tuple[str, str, float, float]:
        return (label, method, statistics.median(t) * 1e3, float(np.percentile(t, 99)) * 1e3)

    return [
        row("score, never explained", before),
        row("score, after explanations", after),
        row("score + explain (top 5)", with_explain),
        (f"first explain (lazy load: native model, {method})", method, first * 1e3, first * 1e3),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=2_000_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--project", nargs="*", default=["delivery-time", "transaction-risk"])
    parser.add_argument("--skip-explain", action="store_true")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING)
    from workloads.privacy.tokens import default_workers

    print(f"\nTokenisation, HMAC-SHA256 -> tok:v1:<32 hex>, {args.values:,} values, {default_workers()} CPU(s) (target >= {TARGET_VALUES_S:,}/s)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (the machine's other work shares these CPUs)")
    print(f"{'how':<44} {'procs':>5} {'values/s':>14} {'per CPU-s (this process)':>26}")
    for how, procs, (rate, per_cpu) in bench_tokens(args.values):
        print(f"{how:<44} {procs:>5} {rate:>14,.0f} {per_cpu if procs == 1 else float('nan'):>26,.0f}")
    if args.skip_explain:
        return 0
    print(f"\nExplanation overhead at batch 1, in process (ScoringCore.score_many, no HTTP; target p99 added <= {TARGET_P99_ADDED_MS:.0f} ms)")
    print(f"{'project':<18} {'request':<48} {'p50 ms':>8} {'p99 ms':>8}")
    for name in args.project:
        rows = bench_explain(name, args.seconds)
        for label, _method, p50, p99 in rows:
            print(f"{name:<18} {label:<48} {p50:>8.3f} {p99:>8.3f}")
        added = rows[2][3] - rows[0][3]
        print(f"{name:<18} {'p99 added by explain':<48} {'':>8} {added:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
