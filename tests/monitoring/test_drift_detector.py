"""Drift detector: false alarms on stationary data, detection of injected shifts, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from drift_data import profile_of, reference_and_current

from workloads.data.generator import DriftSpec
from workloads.monitoring.__main__ import EXIT_DRIFT, EXIT_OK, EXIT_USAGE, main
from workloads.monitoring.drift import DriftSettings, detect_drift
from workloads.monitoring.profile import ReferenceProfile


def test_false_alarm_rate_on_stationary_gaussian_windows():
    # Exact null: iid data, 10 features x 2 tests x 4 windows = 80 tests per run, 200 runs.
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
    runs = 40
    for seed in range(runs):
        ref, cur = reference_and_current(16_000, seed=100 + seed)
        report = detect_drift(profile_of(ref), cur, DriftSettings(window_rows=2_000))
        alarms += report.drift_detected
    assert alarms / runs <= 0.05, f"false-alarm rate {alarms / runs:.3f} > 0.05 over {runs} runs"


def test_power_at_a_fifth_of_a_standard_deviation_with_5000_row_windows():
    runs, hits = 20, 0
    for seed in range(runs):
        ref, cur = reference_and_current(20_000, seed=300 + seed, drift=DriftSpec(mean_shift={"amount_zscore_30d": 0.2}))
        hits += "amount_zscore_30d" in detect_drift(profile_of(ref), cur.iloc[:5_000]).drifted_features
    assert hits / runs >= 0.9, f"detection power {hits / runs:.2f} < 0.9"


@pytest.mark.parametrize(
    "drift,feature",
    [
        (DriftSpec(mean_shift={"amount": 0.3}), "amount"),
        (DriftSpec(variance_scale={"hours_since_last_txn": 1.5}), "hours_since_last_txn"),
        (DriftSpec(new_categories={"merchant_category": 0.05}), "merchant_category"),
        (DriftSpec(missing_rate={"txn_count_24h": 0.05}), "txn_count_24h"),
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
    # A model score column is profiled and tested like a numeric feature.
    rng = np.random.default_rng(0)
    ref, cur = ref.assign(score=rng.beta(1, 30, len(ref))), cur.assign(score=rng.beta(1, 30, len(cur)))
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_parquet(tmp_path / "cur.parquet")
    profile = tmp_path / "reference.npz"
    assert main(["profile", "--data", str(tmp_path / "ref.parquet"), "--out", str(profile), "--meta", "model_version=7"]) == 0

    out = tmp_path / "ok"
    code = main(["check", "--reference", str(profile), "--current", str(tmp_path / "cur.parquet"), "--out-dir", str(out), "--window", "10D"])
    assert code == EXIT_OK
    report = json.loads((out / "report.json").read_text())
    assert report["drift_detected"] is False and report["reference"]["model_version"] == "7"
    assert {t["feature"] for t in report["tests"]} >= {"score", "amount", "channel"}
    assert "sahab_drift_detected 0.0" in (out / "metrics.prom").read_text()
    assert json.loads((out / "event.json").read_text())["type"].endswith("drift.none")

    drifted = cur.copy()
    drifted["amount"] = drifted["amount"] * 1.5
    drifted["score"] = drifted["score"] * 2
    drifted["channel"] = np.where(np.arange(len(drifted)) % 10 == 0, "crypto", drifted["channel"])
    drifted.to_parquet(tmp_path / "drifted.parquet")
    out = tmp_path / "drift"
    code = main(["check", "--reference", str(profile), "--current", str(tmp_path / "drifted.parquet"), "--out-dir", str(out), "--window-rows", "5000"])
    assert code == EXIT_DRIFT
    event = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert event["type"] == "ai.sahab.monitoring.drift.detected"
    assert {"amount", "channel", "score"} <= set(event["data"]["drifted_features"])
    html = (out / "report.html").read_text()
    assert "DRIFT DETECTED" in html and html.count("data:image/png;base64,") >= 3
    assert 'sahab_drift_feature_drifted{feature="amount"} 1.0' in (out / "metrics.prom").read_text()

    assert main(["check", "--reference", str(profile), "--current", str(tmp_path / "nope.parquet"), "--out-dir", str(out)]) == EXIT_USAGE


def test_cli_reads_and_writes_object_storage_uris(tmp_path, stationary_pair):
    """The CronJob passes s3:// URIs; any fsspec URI works the same way (memory:// here, no S3 needed)."""
    import fsspec

    ref, cur = stationary_pair
    fs = fsspec.filesystem("memory")
    with fs.open("/sahab-test/reference/part-0.parquet", "wb") as fh:
        ref.to_parquet(fh)
    with fs.open("/sahab-test/live/part-0.parquet", "wb") as fh:
        cur.to_parquet(fh)
    assert main(["profile", "--data", "memory://sahab-test/reference/part-0.parquet", "--out", "memory://sahab-test/profiles/reference.npz"]) == EXIT_OK
    assert fs.exists("/sahab-test/profiles/reference.npz"), "profile not written to the URI"
    code = main(
        [
            "check",
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
        code = main(["check", "--reference", str(profile), "--current", str(tmp_path / f"{name}.parquet"), "--out-dir", str(tmp_path / "out")])
        assert code == EXIT_USAGE, f"{name}: exit {code}"
        assert message in caplog.text, f"{name}: {caplog.text}"
    # A few unparsable values in a numeric column are missing values, not a schema problem.
    few = cur.astype({"amount": object})
    few.loc[few.index[:3], "amount"] = "n/a"
    assert detect_drift(profile_of(ref), few, DriftSettings(window="10D")).n_tests > 0
