"""Drift and performance monitoring: speed, power and false alarms, side by side with Evidently.

    .venv/bin/python benchmarks/drift.py [--runs 30] [--period-runs 10] [--rows 100000] [--project DIR] [--skip-evidently] [--json]

Tables:
  * speed: 100k reference x 100k current rows x 50 features (40 numeric, 10 categorical), Sahab
    (profile the reference, then test; and the test alone against a stored profile) against
    Evidently's DataDriftPreset on the same frames (target: 3 s, and >= 20x faster);
  * power and false alarms: one feature shifted by 0.2 standard deviations, 5,000-row windows,
    the share of runs in which that feature (and the run) is flagged at a window level of 0.05
    (target >= 90%) and at the scheduled job's level (0.05 spent over the 720 hourly windows of 30
    days), and the share of stationary runs flagged at all (target <= 5%); Evidently on a subset;
  * small windows: stationary 300-row windows given one missing value and one category never seen
    in training (what a live hour of a small shop holds), the share of runs flagged (target <= 5%);
  * keys repeated in a window: 1,600-row windows holding 1, 4 or 16 records of each account (the
    project's own generator: account-level values repeat within an account), stationary, flagged
    at level 0.05 with rows taken as independent (before) and with the key as the unit (now);
  * a daily cycle of +-0.25 sd, hourly windows: flagged against every training row (before) and
    against the training rows of the same hour (now), at 0.05 and at the job's spent level;
  * false retrainings per 30 simulated days: 720 stationary hourly windows of seasonal traffic,
    the share of periods in which any window opens a drift episode (each would start a retraining)
    with the old rule (training reference, every window at 0.05) and the shipped one (seasonal
    reference, alpha 0.05 spent over the period) (target <= 5%);
  * performance: a champion (logistic regression) on the project's generator, daily windows of
    2,000 matured labels; a concept drift that takes its AUC from ~0.87 to ~0.45 with unchanged
    features, and a doubled positive rate: the share of runs detected within the first two windows
    after the change (target >= 90%), and the share of runs with a degraded window before it.
The project (default: the first binary project under projects/) supplies the generator and the
columns. `MC se` is sqrt(r (1 - r) / runs). `--json` prints (to stdout; the tables go to stderr)
a list of `{"name", "runs", "rate", "mc_se"}` rows. Evidently is a benchmark-only dependency
(the `bench` extra); timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from workloads.monitoring.drift import DriftSettings, detect_drift
from workloads.monitoring.performance import PerformanceRules, join_labels, judge_window
from workloads.monitoring.profile import ReferenceProfile
from workloads.project import Project, discover, load_project

N_NUMERIC, N_CATEGORICAL = 40, 10
NUMERIC = [f"num_{i:02d}" for i in range(N_NUMERIC)]
CATEGORICAL = [f"cat_{i}" for i in range(N_CATEGORICAL)]
TARGET_S, TARGET_SPEEDUP, TARGET_POWER, TARGET_FALSE_ALARM = 3.0, 20.0, 0.90, 0.05
ALPHA, HOURS_PER_PERIOD = 0.05, 30 * 24
SPENT = ALPHA / HOURS_PER_PERIOD
"""The scheduled job's level of one hourly window: alpha spent over the windows of 30 days."""
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday


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


def rate_row(rows: list[dict], name: str, hits: int, runs: int) -> tuple[float, float]:
    rate = hits / runs if runs else math.nan
    se = math.sqrt(rate * (1 - rate) / runs) if runs else math.nan
    rows.append({"name": name, "runs": runs, "rate": rate, "mc_se": se})
    return rate, se


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


def power(runs: int, shift: float, ref_rows: int, window_rows: int, seed: int, level: float = ALPHA) -> tuple[int, int]:
    """(runs flagging num_00, runs flagging anything) at window level `level`."""
    rng = np.random.default_rng(seed)
    hit = alarm = 0
    for _ in range(runs):
        profile = ReferenceProfile.fit(frame(ref_rows, rng), NUMERIC, CATEGORICAL)
        report = detect_drift(profile, frame(window_rows, rng, shift), DriftSettings(), window_alpha=level)
        hit += "num_00" in report.drifted_features
        alarm += report.drift_detected
    return hit, alarm


def small_window_alarms(runs: int, seed: int, window_rows: int = 300) -> tuple[int, int]:
    """(runs flagging anything, runs flagging the two touched features) on stationary
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
    return alarm, touched


def evidently_power(runs: int, shift: float, ref_rows: int, window_rows: int, seed: int) -> tuple[int, int]:
    rng = np.random.default_rng(seed)
    hit = alarm = 0
    for _ in range(runs):
        _, drifted = evidently_run(frame(ref_rows, rng), frame(window_rows, rng, shift))
        hit += "num_00" in drifted
        alarm += bool(drifted)
    return hit, alarm


# --- the project's own data: rows grouped by key ---


def generator(project: Project):
    if not project.spec.sources.generator:
        raise SystemExit(f"{project.file}: sources.generator is not set; the benchmark draws its rows from the project's generator")
    return project.entry_point(project.spec.sources.generator, "sources.generator")


def keyed_alarms(project: Project, runs: int, seed: int) -> dict[int, tuple[int, int]]:
    """per records-per-key -> (windows flagged with rows as independent, with the key as the unit)."""
    spec = project.spec
    key = spec.entity.key
    data = generator(project)(100_000, seed=seed, start=START, days=30)
    accounts = data[key].unique()
    rng = np.random.default_rng(seed)
    live_keys = set(rng.choice(accounts, len(accounts) // 2, replace=False).tolist())
    in_live = data[key].isin(live_keys).to_numpy()
    reference, pool = data[~in_live], data[in_live]
    numeric, categorical = list(spec.numeric), list(spec.categorical)
    keyed = ReferenceProfile.fit(reference, numeric, categorical, key=key)
    naive = ReferenceProfile.fit(reference, numeric, categorical)
    sizes = pool.groupby(key).size()
    out = {}
    for per_key in (1, 4, 16):
        before = now = 0
        eligible = sizes.index[sizes >= per_key].to_numpy()
        for _ in range(runs):
            chosen = rng.choice(eligible, 1_600 // per_key, replace=False)
            picked = pool[pool[key].isin(chosen)].sample(frac=1.0, random_state=int(rng.integers(2**31)))
            window = picked[picked.groupby(key).cumcount() < per_key].assign(key=lambda f: f[key].astype(str))
            before += detect_drift(naive, window, DriftSettings(), window_alpha=ALPHA).drift_detected
            now += detect_drift(keyed, window, DriftSettings(key_column="key"), window_alpha=ALPHA).drift_detected
        out[per_key] = (before, now)
    return out


# --- a daily cycle ---


def cycle(hours: int, rows_per_hour: int, rng: np.random.Generator, start: datetime = START, amplitude: float = 0.25) -> pd.DataFrame:
    """Hourly traffic whose `x` mean moves +-`amplitude` sd over the day and whose channel mix
    follows the evening; `y` steady; one key per row."""
    n = hours * rows_per_hour
    ts = pd.Timestamp(start) + pd.to_timedelta(np.sort(rng.uniform(0, hours * 3600, n)), unit="s")
    phase = 2 * np.pi * (ts.hour.to_numpy() + ts.minute.to_numpy() / 60) / 24
    evening = (np.sin(phase) > 0).astype(float)
    return pd.DataFrame(
        {
            "ts": ts,
            "key": rng.integers(0, 10**12, n).astype(str),
            "x": rng.normal(amplitude * np.sin(phase), 1.0),
            "y": rng.normal(0.0, 1.0, n),
            "c": np.where(rng.uniform(size=n) < 0.3 + 0.2 * evening, "online", np.where(rng.uniform(size=n) < 0.5, "pos", "atm")).astype(object),
        }
    )


CYCLE_SETTINGS = DriftSettings(window="1h", timestamp_column="ts", key_column="key", min_window_rows=50)


def cycle_profiles(rng: np.random.Generator, rows_per_hour: int) -> tuple[ReferenceProfile, ReferenceProfile]:
    reference = cycle(14 * 24, rows_per_hour, rng)
    seasonal = ReferenceProfile.fit_seasonal(reference, ["x", "y"], ["c"], timestamp="ts", key="key")
    return ReferenceProfile.fit(reference, ["x", "y"], ["c"], key="key"), seasonal


def cycle_windows(runs: int, seed: int, rows_per_hour: int = 300) -> dict[str, tuple[int, int]]:
    """Share of stationary hourly windows flagged, per rule: (flagged, windows)."""
    rng = np.random.default_rng(seed)
    counts = {"training @0.05": [0, 0], "seasonal @0.05": [0, 0], "seasonal @spent": [0, 0]}
    for r in range(max(2, runs // 8)):  # days of hourly windows
        flat, seasonal = cycle_profiles(rng, rows_per_hour)
        live = cycle(24, rows_per_hour, rng, start=START + timedelta(days=14 + r))
        for name, profile, level in (("training @0.05", flat, ALPHA), ("seasonal @0.05", seasonal, ALPHA), ("seasonal @spent", seasonal, SPENT)):
            report = detect_drift(profile, live, CYCLE_SETTINGS, window_alpha=level)
            counts[name][0] += sum(w.drifted for w in report.windows)
            counts[name][1] += sum(w.tested for w in report.windows)
    return {k: (v[0], v[1]) for k, v in counts.items()}


def false_retrainings(runs: int, seed: int, rows_per_hour: int = 150) -> dict[str, int]:
    """30-day periods of stationary seasonal traffic in which some hourly window opens a drift
    episode (a retraining), per rule."""
    rng = np.random.default_rng(seed)
    out = {"before": 0, "now": 0}
    for _ in range(runs):
        flat, seasonal = cycle_profiles(rng, rows_per_hour)
        live = cycle(HOURS_PER_PERIOD, rows_per_hour, rng, start=START + timedelta(days=14))
        out["now"] += detect_drift(seasonal, live, CYCLE_SETTINGS, window_alpha=SPENT).drift_detected
        out["before"] += detect_drift(flat, live.iloc[: 48 * rows_per_hour], CYCLE_SETTINGS, window_alpha=ALPHA).drift_detected  # two days suffice
    return out


# --- performance ---


class Champion:
    """A logistic regression on the project's features (log1p on non-negative numerics, one-hot
    categoricals): the model whose scores the simulated log holds."""

    def __init__(self, spec, rows: pd.DataFrame) -> None:
        from sklearn.linear_model import LogisticRegression

        self.spec = spec
        self.positive = {f for f in spec.numeric if (rows[f].dropna() >= 0).all()}
        x = self._design(rows)
        self.columns = x.columns
        self.model = LogisticRegression(max_iter=2_000).fit(x, rows[spec.label.column])

    def _design(self, rows: pd.DataFrame) -> pd.DataFrame:
        num = {f: np.log1p(rows[f].clip(lower=0).fillna(0.0)) if f in self.positive else rows[f].fillna(0.0) for f in self.spec.numeric}
        cats = pd.get_dummies(rows[list(self.spec.categorical)].fillna("na").astype(str))
        return pd.concat([pd.DataFrame(num), cats], axis=1)

    def score(self, rows: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(self._design(rows).reindex(columns=self.columns, fill_value=0))[:, 1]


def performance_rows(project: Project, runs: int, seed: int, labels_per_day: int = 2_000) -> dict[str, tuple[int, int, float, float]]:
    """per scenario -> (runs detected within two windows of the change, runs with a degraded window
    before it, AUC before, AUC after)."""
    from workloads.evaluation import binary_metrics

    spec = project.spec
    gen = generator(project)
    n = 120_000
    base = gen(n, seed=seed, start=START, days=30)
    scenarios = {"concept (AUC ~0.87 -> ~0.45)": gen(n, seed=seed, start=START, days=30, drift={"concept": 0.9})}
    scenarios["positive rate doubled"] = gen(n, seed=seed, start=START, days=30, drift={"label_shift": float(base[spec.label.column].mean())})
    champion = Champion(spec, base.iloc[:20_000])
    holdout = base.iloc[20_000:30_000]
    baseline = binary_metrics(holdout[spec.label.column].to_numpy(float), champion.score(holdout), spec.evaluation.threshold)
    perf = spec.monitoring.performance
    rules = PerformanceRules(perf.metric or spec.primary_metric, perf.max_degradation, ALPHA / 30, perf.min_labels)
    pool = np.arange(30_000, n)
    scored_base = base.assign(score=champion.score(base))
    rng = np.random.default_rng(seed)
    out = {}
    for name, changed in scenarios.items():
        scored = changed.assign(score=champion.score(changed))
        detected = early = 0
        for _ in range(runs):
            days = [scored_base.iloc[rng.choice(pool, labels_per_day, replace=False)] for _ in range(2)]
            days += [scored.iloc[rng.choice(pool, labels_per_day, replace=False)] for _ in range(2)]
            flags = [_judge(spec, day, i, baseline, rules) for i, day in enumerate(days)]
            early += any(flags[:2])
            detected += any(flags[2:])
        after = binary_metrics(scored[spec.label.column].to_numpy(float)[pool], scored["score"].to_numpy()[pool], spec.evaluation.threshold)
        out[name] = (detected, early, baseline["auc"], after["auc"])
    return out


def _judge(spec, day: pd.DataFrame, i: int, baseline: dict, rules: PerformanceRules) -> bool:
    start = pd.Timestamp(START) + pd.Timedelta(days=i)
    rows = pd.DataFrame(
        {
            "request_id": [f"d{i}-{j}" for j in range(len(day))],
            "record": np.zeros(len(day), dtype=np.int32),
            "ts": start + pd.to_timedelta(np.linspace(0, 86_000, len(day)), unit="s"),
            "key": day[spec.entity.key].astype(str).to_numpy(),
            "score": day["score"].to_numpy(),
        }
    )
    labels = pd.DataFrame(
        {
            spec.entity.key: day[spec.entity.key].to_numpy(),
            spec.timestamp: rows["ts"],
            spec.label.column: day[spec.label.column].to_numpy(),
            "label_arrival_ts": rows["ts"] + pd.Timedelta(days=7),
            "request_id": rows["request_id"],
            "record": pd.array(np.zeros(len(day), dtype=np.int32), dtype="Int32"),
        }
    )
    joined = join_labels(spec, rows, labels, pd.Timedelta("10min"))
    return judge_window(spec, start.isoformat(), start, start + pd.Timedelta(days=1), len(rows), joined, baseline, rules).degraded


def pick_project(path: str | None) -> Project:
    if path:
        return load_project(path)
    binary = [p for p in discover() if p.spec.label.task == "binary" and p.spec.sources.generator]
    if not binary:
        raise SystemExit("no binary project with a generator under projects/: pass --project DIR")
    return binary[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30, help="Monte Carlo runs of the per-window rows")
    parser.add_argument("--period-runs", type=int, default=10, help="simulated 30-day periods (80 for a rate to +-2.5%%)")
    parser.add_argument("--evidently-power-runs", type=int, default=20)
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--project", help="project folder (default: the first binary project with a generator)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON on stdout (tables on stderr)")
    args = parser.parse_args()
    started = last = time.perf_counter()
    console = Console(width=150, file=sys.stderr if args.json else sys.stdout)

    def lap(what: str) -> None:
        nonlocal last
        now = time.perf_counter()
        console.print(f"({what}: {now - last:.0f} s)")
        last = now

    rows: list[dict] = []
    if not args.skip_evidently and importlib.util.find_spec("evidently") is None:
        console.print("Evidently is not installed (a benchmark-only dependency: pip install -e '.[bench]'); its rows are skipped.", markup=False)
        args.skip_evidently = True
    project = pick_project(args.project)
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

    runs = args.runs
    pw = Table(title="Detection power and false alarms, 5,000-row windows, reference 20,000 rows")
    for col in ("engine", "runs", "power @0.2 sd (feature)", "power @0.2 sd (any)", "power @0.2 sd, job level a/720", "false-alarm rate (stationary)"):
        pw.add_column(col, justify="right" if col != "engine" else "left")
    hit, alarm = power(runs, 0.2, 20_000, 5_000, seed=1)
    hit_spent, _ = power(runs, 0.2, 20_000, 5_000, seed=1, level=SPENT)
    _, false_alarm = power(runs, 0.0, 20_000, 5_000, seed=2)
    p_hit, _ = rate_row(rows, "power 0.2 sd, 5000-row window, level 0.05", hit, runs)
    p_spent, _ = rate_row(rows, "power 0.2 sd, 5000-row window, job level 0.05/720", hit_spent, runs)
    p_false, _ = rate_row(rows, "false alarm, stationary 5000-row window, level 0.05", false_alarm, runs)
    pw.add_row("sahab (KS/chi2/Fisher + BH, PSI >= 0.02)", str(runs), f"{p_hit:.0%}", f"{alarm / runs:.0%}", f"{p_spent:.0%}", f"{p_false:.1%}")
    if not args.skip_evidently and args.evidently_power_runs:
        ev_hit, ev_alarm = evidently_power(args.evidently_power_runs, 0.2, 20_000, 5_000, seed=1)
        _, ev_false = evidently_power(args.evidently_power_runs, 0.0, 20_000, 5_000, seed=2)
        n_ev = args.evidently_power_runs
        rate_row(rows, "evidently power 0.2 sd, 5000-row window", ev_hit, n_ev)
        rate_row(rows, "evidently false alarm, stationary 5000-row window", ev_false, n_ev)
        pw.add_row("evidently DataDriftPreset", str(n_ev), f"{ev_hit / n_ev:.0%}", f"{ev_alarm / n_ev:.0%}", "", f"{ev_false / n_ev:.1%}")
    console.print(pw)
    console.print(f"targets: power >= {TARGET_POWER:.0%}, false alarms <= {TARGET_FALSE_ALARM:.0%}")

    small = Table(title="Small windows: 300 stationary rows with one missing value and one unseen category")
    for col in ("engine", "runs", "runs flagged", "runs flagging the touched features", "MC se"):
        small.add_column(col, justify="right" if col != "engine" else "left")
    alarm, touched = small_window_alarms(runs, seed=3)
    r, se = rate_row(rows, "false alarm, 300-row window with one missing value and one unseen category", alarm, runs)
    small.add_row("sahab", str(runs), f"{r:.1%}", f"{touched / runs:.0%}", f"{se:.3f}")
    console.print(small)
    lap("speed, power, small windows")

    keyed = Table(title=f"Keys repeated in a window: 1,600 stationary rows of {project.name}'s accounts, level 0.05 (target <= 5%)")
    for col in ("records per key", "runs", "flagged, rows as independent (before)", "flagged, key as the unit (now)", "MC se (now)"):
        keyed.add_column(col, justify="right")
    for per_key, (before, now) in keyed_alarms(project, runs, seed=4).items():
        b, _ = rate_row(rows, f"false alarm, {per_key} records per key, rows as independent", before, runs)
        n, se = rate_row(rows, f"false alarm, {per_key} records per key, key as the unit", now, runs)
        keyed.add_row(str(per_key), str(runs), f"{b:.1%}", f"{n:.1%}", f"{se:.3f}")
    console.print(keyed)
    lap("keys repeated")

    daily = Table(title="A daily cycle of +-0.25 sd: stationary hourly windows of 300 rows flagged")
    for col in ("reference, window level", "windows", "flagged", "MC se"):
        daily.add_column(col, justify="right" if col != "reference, window level" else "left")
    for name, (flagged, windows) in cycle_windows(max(runs, 24), seed=5).items():
        r, se = rate_row(rows, f"daily cycle, hourly windows flagged, {name}", flagged, windows)
        daily.add_row(name, str(windows), f"{r:.1%}", f"{se:.4f}")
    console.print(daily)
    lap("daily cycle")

    periods = Table(title=f"False retrainings per 30 simulated days: 720 stationary seasonal hourly windows of 150 rows (target <= {TARGET_FALSE_ALARM:.0%})")
    for col in ("rule", "periods", "periods with a retraining", "MC se"):
        periods.add_column(col, justify="right" if col != "rule" else "left")
    found = false_retrainings(args.period_runs, seed=6)
    for name, label in (("before", "training reference, each window at 0.05 (first 2 days)"), ("now", "seasonal reference, alpha 0.05 spent over the period")):
        r, se = rate_row(rows, f"false retraining per 30 days, {label}", found[name], args.period_runs)
        periods.add_row(label, str(args.period_runs), f"{r:.1%}", f"{se:.3f}")
    console.print(periods)
    lap("30-day periods")

    perf = Table(title=f"Performance: {project.name}'s champion, daily windows of 2,000 matured labels, detected within two windows of the change")
    for col in ("scenario", "runs", "AUC before -> after", "detected in 2 windows", "MC se", "degraded before the change"):
        perf.add_column(col, justify="right" if col != "scenario" else "left")
    for name, (detected, early, auc_before, auc_after) in performance_rows(project, runs, seed=7).items():
        r, se = rate_row(rows, f"performance: {name}, detected within two windows", detected, runs)
        f, _ = rate_row(rows, f"performance: {name}, degraded window before the change", early, runs)
        perf.add_row(name, str(runs), f"{auc_before:.3f} -> {auc_after:.3f}", f"{r:.0%}", f"{se:.3f}", f"{f:.1%}")
    console.print(perf)
    lap("performance")
    console.print(f"{time.perf_counter() - started:.0f} s in all")
    if args.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
