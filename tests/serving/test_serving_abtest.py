"""Sticky A/B assignment and the betting sequential test: split accuracy, stickiness, simulated
type-I error under continuous monitoring (rare failures, unequal split), power, key units and
inconsistent evidence. The full false-decision table is benchmarks/abtest.py."""

from __future__ import annotations

import numpy as np
import pytest

from workloads.serving.abtest import GRID, SequentialTest, assign, betting_increments, bucket

KEYS = [f"acct-{i}" for i in range(10_000)]


@pytest.mark.parametrize("weight", [0.1, 0.2, 0.5])
def test_split_within_one_point_of_weight_over_10k_keys(weight):
    share = sum(assign(k, weight, salt="exp-1") == "challenger" for k in KEYS) / len(KEYS)
    assert abs(share - weight) <= 0.01, f"challenger share {share:.4f} vs weight {weight}"


def test_assignment_is_sticky_per_key_and_changes_with_salt():
    first = [assign(k, 0.3, salt="exp-1") for k in KEYS[:2000]]
    again = [assign(k, 0.3, salt="exp-1") for k in KEYS[:2000]]
    assert first == again, "the same key must always get the same variant"
    other = [assign(k, 0.3, salt="exp-2") for k in KEYS[:2000]]
    assert first != other, "a new salt must reshuffle keys"
    # Raising the weight only moves champion keys to challenger, never the other way round.
    wider = [assign(k, 0.5, salt="exp-1") for k in KEYS[:2000]]
    assert all(w == "challenger" for f, w in zip(first, wider, strict=False) if f == "challenger")


def test_bucket_is_uniform():
    u = np.array([bucket(k) for k in KEYS])
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    assert counts.min() > 900 and counts.max() < 1100, f"decile counts {counts.tolist()}"


def test_assign_rejects_bad_weight():
    with pytest.raises(ValueError, match="challenger_weight"):
        assign("k", 1.5)


def _streams(runs, n, p, success_a, success_b, seed):
    rng = np.random.default_rng(seed)
    is_b = rng.uniform(size=(runs, n)) < p
    x = (rng.uniform(size=(runs, n)) < np.where(is_b, success_b, success_a)).astype(np.float64)
    return x, is_b


def _crossed(x, is_b, p, alpha=0.05):
    inc_pos, inc_neg, _ = betting_increments(x, is_b, p, 0.0)
    thr = np.log(2 / alpha)
    return np.cumsum(inc_pos, axis=-1).max(axis=-1) >= thr, np.cumsum(inc_neg, axis=-1).max(axis=-1) >= thr


def test_the_test_object_replays_exactly_the_vectorised_martingales():
    x, is_b = _streams(1, 5000, 0.1, 0.9, 0.93, seed=1)
    test = SequentialTest(challenger_weight=0.1, min_samples=50)
    for lo in range(0, 5000, 700):  # in looks, as the evaluator would
        test.observe_units(np.where(is_b[0, lo : lo + 700], "challenger", "champion"), x[0, lo : lo + 700])
    inc_pos, inc_neg, _ = betting_increments(x[0], is_b[0], 0.1, 0.0)
    d = test.decide()
    assert d.log_wealth_promote == pytest.approx(max(0.0, np.cumsum(inc_pos).max()), rel=1e-9)
    assert d.log_wealth_rollback == pytest.approx(max(0.0, np.cumsum(inc_neg).max()), rel=1e-9)
    assert d.n_champion + d.n_challenger == 5000 and GRID[200] == 0.0


@pytest.mark.parametrize("success,p", [(0.99, 0.1), (0.999, 0.5), (0.5, 0.1)])
def test_false_decisions_stay_below_alpha_with_rare_failures_and_unequal_splits(success, p):
    # 1,000 null runs of 20,000 units, watched continuously (every unit is a look).
    x, is_b = _streams(1000, 20_000, p, success, success, seed=7)
    up, down = _crossed(x, is_b, p)
    rate = float(np.mean(up | down))
    se = max(np.sqrt(rate * (1 - rate) / 1000), 1e-3)
    assert rate <= 0.05 + 2 * se, f"false-decision rate {rate:.3f} at success {success}, split {p}"


def test_detects_a_better_and_a_worse_challenger():
    up, down = _crossed(*_streams(200, 20_000, 0.5, 0.90, 0.92, seed=3), 0.5)
    assert up.mean() >= 0.8 and down.mean() == 0.0, f"power to promote +2 points: {up.mean():.2f}"
    up, down = _crossed(*_streams(200, 20_000, 0.1, 0.92, 0.88, seed=4), 0.1)
    assert down.mean() >= 0.8 and up.mean() == 0.0, f"power to roll back -4 points at 10%: {down.mean():.2f}"


def test_promote_after_min_samples_with_statistics():
    rng = np.random.default_rng(5)
    test = SequentialTest(min_samples=100, challenger_weight=0.5)
    is_b = rng.uniform(size=150) < 0.5
    test.observe_units(np.where(is_b, "challenger", "champion"), is_b.astype(float))
    d = test.decide()
    assert d.recommendation == "keep" and "fewer than 100" in d.reason, d
    is_b = rng.uniform(size=400) < 0.5
    test.observe_units(np.where(is_b, "challenger", "champion"), is_b.astype(float))
    d = test.decide()
    assert d.recommendation == "promote", d
    assert d.p_value <= 0.05 and 0.0 < d.ci_low <= d.ci_high and d.effect == pytest.approx(1.0) and d.alert is None
    test.reset()
    assert test.decide().n_champion == 0


def test_a_reversal_keeps_with_an_alert_never_promotes():
    rng = np.random.default_rng(6)
    test = SequentialTest(min_samples=50, challenger_weight=0.5)
    for better in (True, False):  # strongly better, then strongly worse
        is_b = rng.uniform(size=600) < 0.5
        test.observe_units(np.where(is_b, "challenger", "champion"), (is_b == better).astype(float))
    d = test.decide()
    # Promotion had crossed in the first phase; the contradicting second phase empties the running
    # confidence sequence (or crosses the other way): either is an alert, and the answer is keep.
    assert d.log_wealth_promote >= np.log(2 / 0.05), "the first phase alone would have promoted"
    assert d.recommendation == "keep" and d.reason.startswith("inconsistent evidence"), d
    assert d.alert and ("reversal" in d.alert or "empty confidence sequence" in d.alert), d


def test_a_key_is_one_unit_of_its_first_outcomes():
    test = SequentialTest(min_samples=2, key_outcomes=3)
    test.observe("challenger", [1.0, 0.0], key="acct-1")
    assert test.decide().n_challenger == 0, "a key enters only with key_outcomes outcomes"
    test.observe("challenger", [1.0, 1.0, 1.0], key="acct-1")  # the 4th and 5th are not new units
    d = test.decide()
    assert d.n_challenger == 1 and d.mean_challenger == pytest.approx(2 / 3)
    test.observe("champion", [0.5], key="acct-2")
    assert test.seal() == 1 and test.decide().n_champion == 1
    with pytest.raises(ValueError, match="served by champion"):
        test.observe("challenger", [1.0], key="acct-2")


def test_observe_rejects_unknown_variant_non_finite_and_out_of_range():
    test = SequentialTest(outcome_min=0.0, outcome_max=1.0)
    with pytest.raises(ValueError, match="variant"):
        test.observe("shadow", 1.0)
    with pytest.raises(ValueError, match="finite"):
        test.observe("champion", float("nan"))
    with pytest.raises(ValueError, match="declared range"):
        test.observe("champion", 2.0)
    with pytest.raises(ValueError, match="challenger_weight"):
        SequentialTest(challenger_weight=1.0)
