"""Drift detector: false alarms on stationary data (independent rows, rows grouped by key, a daily
cycle, hourly windows over a period), detection of injected shifts, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from drift_data import (
    CYCLE_START,
    PROJECTS,
    after,
    daily_cycle,
    features,
    keyed_population,
    keyed_window,
    profile_of,
    reference_and_current,
)

from workloads.monitoring.__main__ import EXIT_DRIFT, EXIT_OK, EXIT_USAGE, main
from workloads.monitoring.drift import DriftSettings, detect_drift
from workloads.monitoring.profile import ReferenceProfile


def mc_bound(rate: float, runs: int) -> float:
    """The nominal rate plus two Monte Carlo standard errors."""
    return rate + 2 * np.sqrt(rate * (1 - rate) / runs)


def test_false_alarm_rate_on_stationary_gaussian_windows():
    # Exact null: iid data, 10 features x 2 tests x 4 windows, alpha split over the windows of the call.
    rng = np.random.default_rng(20)
    cols = [f"x{i}" for i in range(10)]
    alarms = 0
    for _ in range(200):
        ref = pd.DataFrame({c: rng.normal(size=4_000) for c in cols})
        cur = pd.DataFrame({c: rng.normal(size=8_000) for c in cols})
        alarms += detect_drift(ReferenceProfile.fit(ref, cols, []), cur, DriftSettings(window_rows=2_000)).drift_detected
    assert alarms / 200 <= 0.05, f"false-alarm rate {alarms / 200:.3f} > 0.05"


def test_false_alarm_rate_on_stationary_generator_data():
    alarms = 0
    runs = 30
    for seed in range(runs):
        ref, cur = reference_and_current(16_000, seed=100 + seed)
        report = detect_drift(profile_of(ref), cur, DriftSettings(window_rows=2_000))
        alarms += report.drift_detected
    assert alarms / runs <= mc_bound(0.05, runs), f"false-alarm rate {alarms / runs:.3f} over {runs} runs"


@pytest.mark.parametrize("per_key", [4, 16])
def test_rows_grouped_by_key_hold_the_false_alarm_rate(per_key):
    """An hour of a busy log holds the same accounts again and again (account age, average amount,
    home country repeat within an account). Treating its rows as independent flags most windows;
    with the key as the unit the rate stays at the level."""
    reference, pool = keyed_population(100_000, seed=3)
    keyed, naive = profile_of(reference, keyed=True), profile_of(reference)
    rng = np.random.default_rng(per_key)
    runs, keyed_alarms, naive_alarms = 60, 0, 0
    for _ in range(runs):
        window = keyed_window(pool, per_key, 1_600 // per_key, rng)
        keyed_alarms += detect_drift(keyed, window, DriftSettings(key_column="key")).drift_detected
        naive_alarms += detect_drift(naive, window, DriftSettings()).drift_detected
    assert keyed_alarms / runs <= mc_bound(0.05, runs), f"{per_key} records per key: false-alarm rate {keyed_alarms / runs:.3f} with the key as the unit"
    assert naive_alarms / runs >= 0.25, f"{per_key} records per key: independent-row tests flagged only {naive_alarms / runs:.2f} (the clustering should show)"
    assert keyed.numeric["account_age_days"].deff > 10, "an account-level feature of ~25 rows per account carries a large design effect"


def test_the_key_as_unit_keeps_power_against_a_real_shift():
    reference, pool = keyed_population(100_000, seed=4)
    profile = profile_of(reference, keyed=True)
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(10):
        window = keyed_window(pool, 4, 500, rng)
        window["amount_zscore_30d"] = window["amount_zscore_30d"] + 0.5  # a transaction-level feature
        window["merchant_category"] = np.where(rng.uniform(size=len(window)) < 0.08, "crypto", window["merchant_category"])
        found = detect_drift(profile, window, DriftSettings(key_column="key")).drifted_features
        hits += {"amount_zscore_30d", "merchant_category"} <= set(found)
    assert hits >= 9, f"only {hits}/10 keyed windows flagged a 0.5-sd shift and 8% unseen categories"


def test_a_daily_cycle_is_compared_with_the_same_hour():
    """+-0.25 sd over the day: against every training row most hours drift; against the
    training rows of the same hour, the false-alarm rate holds."""
    reference = daily_cycle(14 * 24, 300, seed=1)
    seasonal = ReferenceProfile.fit_seasonal(reference, ["x", "y"], ["c"], timestamp="ts", key="key")
    flat = ReferenceProfile.fit(reference, ["x", "y"], ["c"], key="key")
    assert seasonal.season == "hour" and len(seasonal.slots) == 24, f"season {seasonal.season} with {len(seasonal.slots)} slots (no weekly pattern)"
    live = daily_cycle(72, 300, seed=2, start=after(CYCLE_START, 14 * 24))
    settings = DriftSettings(window="1h", timestamp_column="ts", key_column="key")
    kept = detect_drift(seasonal, live, settings, window_alpha=0.05)
    ignored = detect_drift(flat, live, settings, window_alpha=0.05)
    rate = np.mean([w.drifted for w in kept.windows])
    assert rate <= mc_bound(0.05, 72), f"seasonal reference: {rate:.3f} of 72 hourly windows flagged at level 0.05"
    assert np.mean([w.drifted for w in ignored.windows]) >= 0.5, "without seasonality most hours should drift (the defect this fixes)"
    assert {w.reference for w in kept.windows} == {f"h{h:02d}" for h in range(24)}, "each window meets its own hour"
    shifted = daily_cycle(24, 300, seed=3, start=after(CYCLE_START, 14 * 24), shift=0.5)
    assert np.mean([w.drifted for w in detect_drift(seasonal, shifted, settings, window_alpha=0.05 / 720).windows]) >= 0.8, (
        "a 0.5-sd shift on top of the cycle must still be caught at the 30-day alpha-spending level"
    )


def test_stationary_seasonal_traffic_raises_a_false_alarm_in_at_most_alpha_of_the_periods():
    """Alpha spending: each hourly window at alpha x window / period, so any alarm within a period
    (a false retraining) happens in at most alpha of the periods. Two-day periods keep it short."""
    reference = daily_cycle(14 * 24, 150, seed=10)
    profile = ReferenceProfile.fit_seasonal(reference, ["x", "y"], ["c"], timestamp="ts", key="key")
    settings = DriftSettings(window="1h", timestamp_column="ts", key_column="key", min_window_rows=50)
    periods, alarmed, windows_per_period = 40, 0, 48
    for p in range(periods):
        live = daily_cycle(windows_per_period, 150, seed=100 + p, start=after(CYCLE_START, 14 * 24 + p * windows_per_period))
        alarmed += detect_drift(profile, live, settings, window_alpha=0.05 / windows_per_period).drift_detected
    assert alarmed / periods <= mc_bound(0.05, periods), f"{alarmed} of {periods} periods raised an alarm"


def test_clock_features_are_left_out_and_the_week_is_used_when_it_matters():
    from drift_data import generate

    frame = generate(40_000, seed=2, name="delivery-time", days=14)
    numeric, categorical = features("delivery-time")
    profile = ReferenceProfile.fit_seasonal(frame, numeric, categorical, timestamp="order_ts", key="courier_id")
    assert set(profile.clock_features) == {"hour_of_day", "day_of_week"}, f"clock features: {profile.clock_features}"
    assert "hour_of_day" not in profile.numeric and "traffic_index" in profile.numeric
    assert profile.season == "week", f"weekend traffic follows the day of the week: season {profile.season}"
    name, slot = profile.for_window(pd.Timestamp("2026-12-04T15:00:00Z"))  # a Friday
    assert name == "d4h15" and slot.n_rows >= 200, f"slot {name} with {slot.n_rows} rows"


def test_power_at_a_fifth_of_a_standard_deviation_with_5000_row_windows():
    runs, hits = 15, 0
    for seed in range(runs):
        ref, cur = reference_and_current(20_000, seed=300 + seed, drift={"mean_shift": {"amount_zscore_30d": 0.2}})
        hits += "amount_zscore_30d" in detect_drift(profile_of(ref), cur.iloc[:5_000]).drifted_features
    assert hits / runs >= 0.9, f"detection power {hits / runs:.2f} < 0.9"


@pytest.mark.parametrize(
    "drift,feature",
    [
        ({"mean_shift": {"amount": 0.3}}, "amount"),
        ({"variance_scale": {"hours_since_last_txn": 1.5}}, "hours_since_last_txn"),
        ({"new_categories": {"merchant_category": 0.05}}, "merchant_category"),
        ({"missing_rate": {"txn_count_24h": 0.05}}, "txn_count_24h"),
    ],
    ids=["mean", "variance", "new-category", "missing"],
)
def test_detects_injected_shift_and_names_the_feature(drift, feature):
    ref, cur = reference_and_current(20_000, seed=42, drift=drift)
    report = detect_drift(profile_of(ref), cur, DriftSettings(window_rows=5_000))
    assert report.drift_detected, report.reason
    assert feature in report.drifted_features, f"{feature} not among {report.drifted_features}"
    assert all(w.drifted for w in report.windows if w.tested), "every window carries the shift"
    assert set(report.drifted_features) == {feature}, f"only {feature} was shifted: {report.drifted_features}"


def test_stationary_report_and_missing_column_error(stationary_pair):
    ref, cur = stationary_pair
    report = detect_drift(profile_of(ref), cur, DriftSettings(window="7D"))
    assert not report.drift_detected, report.reason
    assert len(report.windows) >= 4 and all(w.start for w in report.windows)
    assert report.n_tests == 2 * 12 * sum(w.tested for w in report.windows)
    with pytest.raises(ValueError, match="amount"):
        detect_drift(profile_of(ref), cur.drop(columns=["amount"]))


def test_cli_profile_then_check_writes_reports_and_exits_by_verdict(tmp_path, stationary_pair, capsys):
    ref, cur = stationary_pair
    # A model score column is profiled and tested like a numeric feature; the columns are the project's.
    rng = np.random.default_rng(0)
    ref, cur = ref.assign(score=rng.beta(1, 30, len(ref))), cur.assign(score=rng.beta(1, 30, len(cur)))
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    profile = tmp_path / "reference.npz"
    project = ["--project", str(PROJECTS / "transaction-risk")]
    assert main(["profile", *project, "--data", str(tmp_path / "ref.parquet"), "--out", str(profile), "--meta", "model_version=7"]) == 0

    out = tmp_path / "ok"
    code = main(["check", *project, "--reference", str(profile), "--current", str(tmp_path / "cur.parquet"), "--out-dir", str(out), "--window", "10D"])
    assert code == EXIT_OK
    report = json.loads((out / "report.json").read_text())
    assert report["drift_detected"] is False and report["reference"]["model_version"] == "7"
    assert {t["feature"] for t in report["tests"]} >= {"score", "amount", "channel"}
    assert 'sahab_drift_detected{project="transaction-risk"} 0.0' in (out / "metrics.prom").read_text()
    assert json.loads((out / "event.json").read_text())["type"].endswith("drift.none")

    drifted = cur.copy()
    drifted["amount"] = drifted["amount"] * 1.5
    drifted["score"] = drifted["score"] * 2
    drifted["channel"] = np.where(np.arange(len(drifted)) % 10 == 0, "crypto", drifted["channel"])
    drifted.to_parquet(tmp_path / "drifted.parquet")
    out = tmp_path / "drift"
    code = main(
        ["check", *project, "--reference", str(profile), "--current", str(tmp_path / "drifted.parquet"), "--out-dir", str(out), "--window-rows", "5000"]
    )
    assert code == EXIT_DRIFT
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["type"] == "ai.sahab.monitoring.drift.detected"
    assert {"amount", "channel", "score"} <= set(event["data"]["drifted_features"])
    html = (out / "report.html").read_text()
    assert "DRIFT DETECTED" in html and html.count("data:image/png;base64,") >= 3
    assert 'sahab_drift_feature_drifted{feature="amount",project="transaction-risk"} 1.0' in (out / "metrics.prom").read_text()

    assert main(["check", *project, "--reference", str(profile), "--current", str(tmp_path / "nope.parquet"), "--out-dir", str(out)]) == EXIT_USAGE


def test_cli_without_a_project_asks_for_one(tmp_path, stationary_pair, caplog, monkeypatch):
    monkeypatch.delenv("SAHAB_PROJECT", raising=False)
    ref, _ = stationary_pair
    ref.to_parquet(tmp_path / "ref.parquet")
    assert main(["profile", "--data", str(tmp_path / "ref.parquet"), "--out", str(tmp_path / "r.npz")]) == EXIT_USAGE
    assert "--project" in caplog.text, caplog.text
    assert (
        main(["profile", "--data", str(tmp_path / "ref.parquet"), "--out", str(tmp_path / "r.npz"), "--numeric", "amount", "--categorical", "channel"])
        == EXIT_OK
    )
    assert set(ReferenceProfile.load(tmp_path / "r.npz").numeric) == {"amount"}, "explicit columns win"


def test_cli_reads_and_writes_object_storage_uris(tmp_path, stationary_pair):
    """The CronJob passes s3:// URIs; any fsspec URI works the same way (memory:// here, no S3 needed)."""
    import fsspec

    ref, cur = stationary_pair
    fs = fsspec.filesystem("memory")
    with fs.open("/sahab-test/reference/part-0.parquet", "wb") as fh:
        ref.to_parquet(fh)
    with fs.open("/sahab-test/live/part-0.parquet", "wb") as fh:
        cur.to_parquet(fh)
    project = ["--project", str(PROJECTS / "transaction-risk")]
    assert (
        main(["profile", *project, "--data", "memory://sahab-test/reference/part-0.parquet", "--out", "memory://sahab-test/profiles/reference.npz"]) == EXIT_OK
    )
    assert fs.exists("/sahab-test/profiles/reference.npz"), "profile not written to the URI"
    code = main(
        [
            "check",
            *project,
            "--reference",
            "memory://sahab-test/profiles/reference.npz",
            "--current",
            "memory://sahab-test/live/",
            "--out-dir",
            str(tmp_path / "out"),
            "--window-rows",
            "5000",
        ]
    )
    assert code == EXIT_OK
    assert json.loads((tmp_path / "out" / "report.json").read_text())["drift_detected"] is False


def test_one_missing_value_or_unseen_category_in_a_300_row_window_raises_no_alarm():
    alarms = 0
    for seed in range(20):
        ref, cur = reference_and_current(24_000, seed=500 + seed)
        window = cur.iloc[:300].copy()
        window.loc[window.index[0], "amount"] = np.nan  # the reference has no missing amount
        window.loc[window.index[1], "channel"] = "satellite"  # never seen in training
        report = detect_drift(profile_of(ref), window, DriftSettings(min_window_rows=200))
        assert not {"amount", "channel"} & set(report.drifted_features), f"seed {seed}: {report.reason}"
        alarms += report.drift_detected
    assert alarms / 20 <= 0.05, f"false-alarm rate {alarms / 20:.2f} on 300-row windows"


def test_effect_size_gate_ignores_significant_but_tiny_shifts_in_huge_windows():
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"x": rng.normal(size=100_000)})
    cur = pd.DataFrame({"x": rng.normal(0.05, 1.0, 100_000)})  # 0.05 sd: significant at this size, PSI ~ 0.003
    profile = ReferenceProfile.fit(ref, ["x"], [])
    gated = detect_drift(profile, cur)
    assert not gated.drift_detected and any(t.significant for t in gated.tests), gated.reason
    assert "PSI" in gated.reason
    assert detect_drift(profile, cur, DriftSettings(min_psi=0.0)).drift_detected, "min_psi=0 turns the gate off"


def test_unusable_input_exits_2_with_a_message(tmp_path, stationary_pair, caplog):
    ref, cur = stationary_pair
    profile = tmp_path / "reference.npz"
    profile_of(ref).save(profile)
    cases = {
        "empty": (cur.iloc[:0], "no rows"),
        "strings": (cur.assign(amount=["n/a"] * len(cur)), "amount (numeric in the reference"),
        "numbers": (cur.assign(channel=np.arange(len(cur), dtype=float)), "channel (categorical"),
        "missing column": (cur.drop(columns=["country"]), "lacks the profiled columns ['country']"),
    }
    for name, (frame, message) in cases.items():
        frame.to_parquet(tmp_path / f"{name}.parquet")
        caplog.clear()
        code = main(
            [
                "check",
                "--project",
                str(PROJECTS / "transaction-risk"),
                "--reference",
                str(profile),
                "--current",
                str(tmp_path / f"{name}.parquet"),
                "--out-dir",
                str(tmp_path / "out"),
            ]
        )
        assert code == EXIT_USAGE, f"{name}: exit {code}"
        assert message in caplog.text, f"{name}: {caplog.text}"
    # A few unparsable values in a numeric column are missing values, not a schema problem.
    few = cur.astype({"amount": object})
    few.loc[few.index[:3], "amount"] = "n/a"
    assert detect_drift(profile_of(ref), few, DriftSettings(window="10D")).n_tests > 0
