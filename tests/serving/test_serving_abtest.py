"""Sticky A/B assignment and the mSPRT sequential test: split accuracy, stickiness, simulated
type-I error under continuous monitoring, and power."""
from __future__ import annotations

import numpy as np
import pytest

from workloads.serving.abtest import SequentialTest, assign, bucket

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
    assert all(w == "challenger" for f, w in zip(first, wider) if f == "challenger")


def test_bucket_is_uniform():
    u = np.array([bucket(k) for k in KEYS])
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    assert counts.min() > 900 and counts.max() < 1100, f"decile counts {counts.tolist()}"


def test_assign_rejects_bad_weight():
    with pytest.raises(ValueError, match="challenger_weight"):
        assign("k", 1.5)


def _simulate(p_champion, p_challenger, *, runs, looks=100, per_look=20, seed=0, binary=True):
    """Feed outcomes in looks of `per_look` per arm, asking for a decision after every look;
    return the share of runs whose first non-`keep` decision was each recommendation."""
    rng = np.random.default_rng(seed)
    first = {"promote": 0, "rollback": 0}
    for _ in range(runs):
        test = SequentialTest(alpha=0.05, tau=0.05, min_samples=200)
        for _ in range(looks):
            if binary:
                test.observe("champion", rng.uniform(size=per_look) < p_champion)
                test.observe("challenger", rng.uniform(size=per_look) < p_challenger)
            else:
                test.observe("champion", rng.normal(p_champion, 1.0, per_look))
                test.observe("challenger", rng.normal(p_challenger, 1.0, per_look))
            rec = test.decide().recommendation
            if rec != "keep":
                first[rec] += 1
                break
    return {k: v / runs for k, v in first.items()}


@pytest.mark.parametrize("binary,p", [(True, 0.1), (False, 0.0)], ids=["bernoulli", "normal"])
def test_type_one_error_under_continuous_monitoring_is_at_most_alpha(binary, p):
    # 400 runs x 100 looks (2,000 outcomes per arm), a decision asked for after every look.
    rates = _simulate(p, p, runs=400, seed=11, binary=binary)
    false_alarm = rates["promote"] + rates["rollback"]
    assert false_alarm <= 0.05, f"simulated type-I error {false_alarm:.3f} > alpha 0.05"


def test_detects_a_better_and_a_worse_challenger():
    better = _simulate(0.10, 0.14, runs=100, looks=150, seed=3)
    assert better["promote"] >= 0.8, f"power to promote a +4pt challenger: {better}"
    assert better["rollback"] == 0.0
    worse = _simulate(0.14, 0.10, runs=100, looks=150, seed=4)
    assert worse["rollback"] >= 0.8, f"power to roll back a -4pt challenger: {worse}"


def test_decision_reports_statistics_and_waits_for_min_samples():
    test = SequentialTest(alpha=0.05, tau=0.05, min_samples=50)
    test.observe("champion", np.zeros(40))
    test.observe("challenger", np.ones(40))
    d = test.decide()
    assert d.recommendation == "keep" and "fewer than 50" in d.reason
    test.observe("champion", np.zeros(10))
    test.observe("challenger", np.ones(10))
    d = test.decide()
    assert d.recommendation == "promote", d
    assert d.p_value <= 0.05 and d.ci_low > 0 and d.effect == pytest.approx(1.0)
    assert d.n_champion == 50 and d.n_challenger == 50
    test.reset()
    assert test.decide().n_champion == 0


def test_observe_rejects_unknown_variant_and_non_finite():
    test = SequentialTest()
    with pytest.raises(ValueError, match="variant"):
        test.observe("shadow", 1.0)
    with pytest.raises(ValueError, match="finite"):
        test.observe("champion", float("nan"))
