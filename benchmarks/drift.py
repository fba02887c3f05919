"""Drift detection speed and power, side by side with Evidently's data-drift preset.

    .venv/bin/python benchmarks/drift.py [--rows 100000] [--power-runs 100] [--skip-evidently]

Tables:
  * speed: 100k reference x 100k current rows x 50 features (40 numeric, 10 categorical), Sahab
    (profile the reference, then test; and the test alone against a stored profile) against
    Evidently's DataDriftPreset on the same frames (target: 3 s, and >= 20x faster);
  * power and false alarms: one feature shifted by 0.2 standard deviations, 5,000-row windows,
    the share of runs in which that feature (and the run) is flagged (target >= 90%), and the
    share of stationary runs flagged at all (target <= 5%); Evidently on a subset of the runs;
  * small windows: stationary 300-row windows given one missing value and one category never seen
    in training (what a live hour of a small shop holds), the share of runs flagged (target <= 5%).
Evidently is a benchmark-only dependency (the `bench` extra); timings are reported, never
asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from workloads.monitoring.drift import DriftSettings, detect_drift
from workloads.monitoring.profile import ReferenceProfile

N_NUMERIC, N_CATEGORICAL = 40, 10
NUMERIC = [f"num_{i:02d}" for i in range(N_NUMERIC)]
CATEGORICAL = [f"cat_{i}" for i in range(N_CATEGORICAL)]
TARGET_S, TARGET_SPEEDUP, TARGET_POWER, TARGET_FALSE_ALARM = 3.0, 20.0, 0.90, 0.05


def frame(n: int, rng: np.random.Generator, shift: float = 0.0) -> pd.DataFrame:
    """Mixed data: normal, lognormal and count numerics; categoricals of 3 to 30 levels; some NaN.
    `shift` moves num_00 by that many standard deviations."""
    cols: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        kind = i % 3
        if kind == 0:
            x = rng.normal(0.0, 1.0, n) + (shift if i == 0 else 0.0)
        elif kind == 1:
            x = rng.lognormal(3.0, 0.8, n)
        else:
            x = rng.poisson(4.0, n).astype(np.float64)
        x[rng.uniform(size=n) < 0.01] = np.nan
        cols[name] = x
    for i, name in enumerate(CATEGORICAL):
        levels = np.array([f"v{j}" for j in range(3 + 3 * i)], dtype=object)
        p = 1.0 / np.arange(1, levels.size + 1)  # skewed, Zipf-like level frequencies
        p /= p.sum()
        cols[name] = rng.choice(levels, n, p=p)
    return pd.DataFrame(cols)


def sahab_speed(ref: pd.DataFrame, cur: pd.DataFrame, repeats: int) -> dict[str, float]:
    fit, test = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        profile = ReferenceProfile.fit(ref, NUMERIC, CATEGORICAL)
        t1 = time.perf_counter()
        report = detect_drift(profile, cur)
        t2 = time.perf_counter()
        fit.append(t1 - t0)
        test.append(t2 - t1)
    return {"fit": min(fit), "test": min(test), "total": min(f + t for f, t in zip(fit, test, strict=False)), "drifted": len(report.drifted_features)}


def evidently_run(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[float, list[str]]:
    """Seconds for DataDriftPreset on the frames, and the columns it calls drifted."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    t0 = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    elapsed = time.perf_counter() - t0
    drifted = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        value, threshold = float(metric["value"]), float(config["threshold"])
        # Evidently picks a p-value test on small samples and a distance on large ones.
        is_p_value = "p_value" in str(config.get("method", ""))
        if (value < threshold) if is_p_value else (value >= threshold):
            drifted.append(config["column"])
    return elapsed, drifted


def power(runs: int, shift: float, ref_rows: int, window_rows: int, seed: int) -> tuple[float, float]:
    """(share of runs flagging num_00, share of runs flagging anything)."""
    rng = np.random.default_rng(seed)
    hit = alarm = 0
    for _ in range(runs):
        profile = ReferenceProfile.fit(frame(ref_rows, rng), NUMERIC, CATEGORICAL)
        report = detect_drift(profile, frame(window_rows, rng, shift), DriftSettings())
        hit += "num_00" in report.drifted_features
        alarm += report.drift_detected
    return hit / runs, alarm / runs


def small_window_alarms(runs: int, seed: int, window_rows: int = 300) -> tuple[float, float]:
    """(share of runs flagging anything, share flagging the two touched features) on stationary
    `window_rows`-row windows with one missing value in cat_0 and one unseen category in cat_1."""
    rng = np.random.default_rng(seed)
    alarm = touched = 0
    for _ in range(runs):
        profile = ReferenceProfile.fit(frame(20_000, rng), NUMERIC, CATEGORICAL)
        window = frame(window_rows, rng)
        window.loc[0, "cat_0"] = None
        window.loc[1, "cat_1"] = "never-seen"
        report = detect_drift(profile, window, DriftSettings(min_window_rows=window_rows))
        alarm += report.drift_detected
        touched += bool({"cat_0", "cat_1"} & set(report.drifted_features))
    return alarm / runs, touched / runs


def evidently_power(runs: int, shift: float, ref_rows: int, window_rows: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    hit = alarm = 0
    for _ in range(runs):
        _, drifted = evidently_run(frame(ref_rows, rng), frame(window_rows, rng, shift))
        hit += "num_00" in drifted
        alarm += bool(drifted)
    return hit / runs, alarm / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--power-runs", type=int, default=100)
    parser.add_argument("--evidently-power-runs", type=int, default=20)
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()
    console = Console(width=150)
    if not args.skip_evidently and importlib.util.find_spec("evidently") is None:
        console.print("Evidently is not installed (a benchmark-only dependency: pip install -e '.[bench]'); its rows are skipped.")
        args.skip_evidently = True
    rng = np.random.default_rng(0)
    ref, cur = frame(args.rows, rng), frame(args.rows, rng, shift=0.05)

    sahab = sahab_speed(ref, cur, args.repeats)
    speed = Table(title=f"Drift: {args.rows:,} reference x {args.rows:,} current rows x {N_NUMERIC + N_CATEGORICAL} features")
    for col in ("engine", "seconds", "vs target 3 s", "speed-up vs Evidently", "features flagged"):
        speed.add_column(col, justify="right" if col != "engine" else "left")
    ev_s = None
    ev_drifted: list[str] = []
    if not args.skip_evidently:
        ev_s, ev_drifted = evidently_run(ref, cur)
    ratio = (lambda s: f"{ev_s / s:.1f}x") if ev_s else (lambda s: "n/a")
    speed.add_row(
        "sahab: profile + test", f"{sahab['total']:.2f}", "ok" if sahab["total"] <= TARGET_S else "MISSED", ratio(sahab["total"]), str(sahab["drifted"])
    )
    speed.add_row(
        "sahab: test (stored profile)", f"{sahab['test']:.2f}", "ok" if sahab["test"] <= TARGET_S else "MISSED", ratio(sahab["test"]), str(sahab["drifted"])
    )
    if ev_s is not None:
        speed.add_row("evidently DataDriftPreset", f"{ev_s:.2f}", "", "1.0x", str(len(ev_drifted)))
    console.print(speed)
    console.print(f"(current data: num_00 shifted by 0.05 sd; best of {args.repeats} runs for sahab, one for Evidently)")

    pw = Table(title="Detection power and false alarms, 5,000-row windows, reference 20,000 rows")
    for col in ("engine", "runs", "power @0.2 sd (feature)", "power @0.2 sd (any)", "false-alarm rate (stationary)"):
        pw.add_column(col, justify="right" if col != "engine" else "left")
    hit, alarm = power(args.power_runs, 0.2, 20_000, 5_000, seed=1)
    _, false_alarm = power(args.power_runs, 0.0, 20_000, 5_000, seed=2)
    pw.add_row("sahab (KS/chi2/Fisher + BH q=0.05, PSI >= 0.02)", str(args.power_runs), f"{hit:.0%}", f"{alarm:.0%}", f"{false_alarm:.1%}")
    if not args.skip_evidently and args.evidently_power_runs:
        ev_hit, ev_alarm = evidently_power(args.evidently_power_runs, 0.2, 20_000, 5_000, seed=1)
        _, ev_false = evidently_power(args.evidently_power_runs, 0.0, 20_000, 5_000, seed=2)
        pw.add_row("evidently DataDriftPreset", str(args.evidently_power_runs), f"{ev_hit:.0%}", f"{ev_alarm:.0%}", f"{ev_false:.1%}")
    console.print(pw)
    console.print(f"targets: power >= {TARGET_POWER:.0%}, false alarms <= {TARGET_FALSE_ALARM:.0%}")

    small = Table(title="Small windows: 300 stationary rows with one missing value and one unseen category")
    for col in ("engine", "runs", "runs flagged", "runs flagging the touched features"):
        small.add_column(col, justify="right" if col != "engine" else "left")
    alarm, touched = small_window_alarms(args.power_runs, seed=3)
    small.add_row("sahab", str(args.power_runs), f"{alarm:.0%}", f"{touched:.0%}")
    console.print(small)
    console.print(f"target: runs flagged <= {TARGET_FALSE_ALARM:.0%}")


if __name__ == "__main__":
    main()
