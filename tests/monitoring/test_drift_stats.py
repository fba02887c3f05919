"""The statistics under the drift detector, checked against scipy and by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workloads.monitoring.profile import ReferenceProfile
from workloads.monitoring.stats import benjamini_hochberg, chi2_counts, ks_sorted, missing_rate_test, psi


@pytest.mark.parametrize("n,m,shift", [(5_000, 3_000, 0.0), (2_000, 2_000, 0.1), (50_000, 20_000, 0.02)])
def test_ks_matches_scipy(n, m, shift):
    rng = np.random.default_rng(n)
    ref, cur = rng.normal(size=n), rng.normal(shift, 1.0, m)
    d, p = ks_sorted(np.sort(ref), cur)
    expected = stats.ks_2samp(ref, cur, method="asymp")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=0.02, abs=1e-4)


def test_ks_handles_ties_and_missing():
    rng = np.random.default_rng(0)
    ref = np.sort(rng.poisson(3, 4_000).astype(float))
    cur = np.append(rng.poisson(3, 4_000).astype(float), [np.nan] * 50)
    d, p = ks_sorted(ref, cur)
    assert d == pytest.approx(stats.ks_2samp(ref, cur[~np.isnan(cur)]).statistic)
    assert p > 0.01
    assert ks_sorted(ref, np.array([np.nan])) == (0.0, 1.0)


def test_chi2_matches_scipy_and_ignores_empty_categories():
    ref, cur = np.array([500, 300, 200, 0]), np.array([40, 35, 25, 0])
    chi2, p = chi2_counts(ref, cur)
    expected = stats.chi2_contingency(np.vstack((ref[:3], cur[:3])), correction=False)
    assert chi2 == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    # An unseen category in the current window is strong evidence.
    assert chi2_counts(np.array([1000, 1000, 0]), np.array([90, 90, 20]))[1] < 1e-10
    assert missing_rate_test(0, 1000, 0, 500) == (0.0, 1.0)


def test_benjamini_hochberg_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.20, 0.005])
    rejected, adjusted = benjamini_hochberg(p, 0.05)
    # sorted: .005 .01 .03 .04 .20 -> p*m/k = .025 .025 .05 .05 .20 -> step-up min from the right
    assert adjusted.tolist() == pytest.approx([0.025, 0.05, 0.05, 0.20, 0.025])
    assert rejected.tolist() == [True, True, True, False, True]
    assert benjamini_hochberg(np.array([]), 0.05)[0].size == 0


def test_psi_is_zero_on_equal_and_grows_with_shift():
    r = np.array([0.25, 0.25, 0.25, 0.25])
    assert psi(r, r) == 0.0
    assert 0 < psi(r, np.array([0.3, 0.3, 0.2, 0.2])) < psi(r, np.array([0.5, 0.3, 0.1, 0.1]))


def test_profile_round_trips_through_npz(tmp_path):
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=1000), "c": rng.choice(["a", "b", None], 1000)})
    df.loc[:9, "x"] = np.nan
    prof = ReferenceProfile.fit(df, ["x"], ["c"], meta={"model_version": "3"})
    loaded = ReferenceProfile.load(prof.save(tmp_path / "p.npz"))
    assert loaded.n_rows == 1000 and loaded.meta == {"model_version": "3"}
    assert loaded.numeric["x"].n_missing == 10 and np.array_equal(loaded.numeric["x"].sample, prof.numeric["x"].sample)
    assert np.all(np.diff(loaded.numeric["x"].sample) >= 0), "the reference sample must be stored sorted"
    assert loaded.categorical["c"].categories == prof.categorical["c"].categories
    assert loaded.categorical["c"].n_missing == int(df["c"].isna().sum())
    with pytest.raises(ValueError, match="missing"):
        ReferenceProfile.fit(df, ["x", "nope"], [])


def test_categorical_test_is_pearson_when_counts_allow_and_exact_when_they_do_not():
    from workloads.monitoring.stats import categorical_test

    ref, cur = np.array([5_000, 3_000, 2_000, 0]), np.array([160, 80, 60, 0])
    expected = stats.chi2_contingency(np.vstack((ref[:3], cur[:3])), correction=False)
    assert categorical_test(ref, cur) == pytest.approx((expected.statistic, expected.pvalue))
    # One unseen value in a 300-row window: Pearson says p ~ 1e-15, the exact test about 0.03.
    ref, cur = np.array([12_000, 5_000, 3_000, 0]), np.array([180, 75, 44, 1])
    assert chi2_counts(ref, cur)[1] < 1e-10, "Pearson's approximation fails on this table"
    _, p = categorical_test(ref, cur)
    pool = stats.fisher_exact([[0, 20_000], [1, 299]]).pvalue
    rest = stats.chi2_contingency(np.vstack((ref[:3], cur[:3])), correction=False).pvalue
    assert p == pytest.approx(min(1.0, 2 * min(pool, rest))) and p > 0.01, p
    # Fifteen unseen values in 300 rows are still overwhelming evidence.
    assert categorical_test(ref, np.array([170, 72, 43, 15]))[1] < 1e-8
    # Rare known categories are pooled rather than tested cell by cell.
    ref, cur = np.array([10_000, 9_000, 40, 30, 0]), np.array([150, 148, 1, 0, 1])
    assert categorical_test(ref, cur)[1] > 0.01


def test_missing_rate_test_is_fisher_exact_on_small_counts():
    _, p = missing_rate_test(0, 20_000, 1, 300)
    assert p == pytest.approx(stats.fisher_exact([[0, 20_000], [1, 299]]).pvalue) and p > 0.01
    chi2, p_big = missing_rate_test(200, 20_000, 150, 5_000)
    assert p_big == pytest.approx(stats.chi2_contingency([[200, 19_800], [150, 4_850]], correction=False).pvalue)
    assert p_big < 1e-10


def test_psi_counts_missing_values_as_their_own_bucket():
    from workloads.monitoring.stats import with_missing

    r = np.array([0.5, 0.5])
    assert with_missing(r, 0.1).tolist() == pytest.approx([0.45, 0.45, 0.1])
    # Same shape, 5% of values now missing: invisible to PSI on present values, visible with the bucket.
    assert psi(r, r) == 0.0 and psi(with_missing(r, 0.0), with_missing(r, 0.05)) > 0.2


def test_design_effect_is_one_for_distinct_keys_and_kish_for_identical_records():
    from workloads.monitoring.stats import design_effect, key_codes, kish_bound, numeric_indicators

    rng = np.random.default_rng(2)
    x = rng.normal(size=2_000)
    edges = np.quantile(x, np.linspace(0, 1, 11)[1:-1])
    distinct, n = key_codes(np.arange(2_000).astype(str), 2_000)
    assert design_effect(numeric_indicators(x, edges), distinct, n) == 1.0, "one record per key: independent rows"
    # 16 identical records per key: 2,000 rows carry 125 keys' worth of information.
    keys = np.repeat(np.arange(125), 16).astype(str)
    codes, k = key_codes(keys, 2_000)
    same = np.repeat(rng.normal(size=125), 16)
    assert kish_bound(codes, k) == pytest.approx(16.0)
    assert design_effect(numeric_indicators(same, edges), codes, k) == pytest.approx(16.0), "identical records: Kish's bound"
    # Independent records under repeated keys: close to 1 (the estimate's upper bound, a little above).
    assert 1.0 <= design_effect(numeric_indicators(x, edges), codes, k) < 2.0


def test_ks_and_chi_squared_take_the_effective_sample_size():
    from workloads.monitoring.stats import effective_counts

    rng = np.random.default_rng(3)
    ref, cur = np.sort(rng.normal(size=20_000)), rng.normal(0.1, 1.0, 3_000)
    d, p = ks_sorted(ref, cur)
    d16, p16 = ks_sorted(ref, cur, 1.0, 16.0)
    assert d16 == d and p16 > p, "the statistic is the rows'; the p-value the effective sample's"
    assert p16 == pytest.approx(stats.kstwo.sf(d, round(20_000 * (3_000 / 16) / (20_000 + 3_000 / 16))), rel=1e-6)
    assert effective_counts(np.array([1_600, 320, 80]), 16.0).tolist() == [100.0, 20.0, 5.0]


def test_jackknife_matches_the_standard_error_of_a_mean_and_groups_keys_stably():
    from workloads.monitoring.stats import jackknife, key_groups

    rng = np.random.default_rng(4)
    keys = np.arange(4_000).astype(str)
    groups = key_groups(keys)
    assert set(groups) == set(range(20)) and np.array_equal(groups, key_groups(keys)), "20 groups, the same every run"
    x = rng.normal(size=4_000)
    est, se, dof = jackknife(lambda m: float(x[m].mean()), groups)
    assert est == pytest.approx(x.mean()) and dof == 19
    assert se == pytest.approx(x.std(ddof=1) / np.sqrt(4_000), rel=0.4), f"jackknife se {se} vs analytic {x.std() / 63.2}"
    # Records of one key land in one group: a key's records are left out together.
    repeated = np.repeat(np.arange(50), 3).astype(str)
    assert all(len(set(key_groups(repeated)[i * 3 : i * 3 + 3])) == 1 for i in range(50))


def test_seasonal_profile_round_trips_with_its_slots(tmp_path):
    rng = np.random.default_rng(5)
    n = 24 * 4 * 60
    ts = pd.Timestamp("2026-11-02", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 4 * 86_400, n)), unit="s")
    df = pd.DataFrame(
        {"ts": ts, "k": rng.integers(0, 500, n).astype(str), "x": rng.normal(size=n) + np.sin(ts.hour.to_numpy() / 24 * 6.28), "hour": ts.hour + ts.minute / 60}
    )
    df["c"] = rng.choice(["a", "b"], n)
    prof = ReferenceProfile.fit_seasonal(df, ["x", "hour"], ["c"], timestamp="ts", key="k", meta={"model_version": "2"})
    assert prof.season == "hour" and len(prof.slots) == 24 and list(prof.clock_features) == ["hour"], (prof.season, prof.clock_features)
    loaded = ReferenceProfile.load(prof.save(tmp_path / "s.npz"))
    assert loaded.season == "hour" and set(loaded.slots) == set(prof.slots) and loaded.clock_features == prof.clock_features
    name, slot = loaded.for_window(pd.Timestamp("2026-12-01T07:00:00Z"))
    assert name == "h07" and np.array_equal(slot.numeric["x"].sample, prof.slots["h07"].numeric["x"].sample)
    assert slot.numeric["x"].deff == pytest.approx(prof.slots["h07"].numeric["x"].deff)
    old = tmp_path / "old.npz"
    np.savez(old, header=np.array('{"format_version": 1}'))
    with pytest.raises(ValueError, match="profile the reference again"):
        ReferenceProfile.load(old)
