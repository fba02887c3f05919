"""The generator's contract (determinism, columns, fraud rate, drift) and the shared encoding."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workloads.data.generator import DriftSpec, generate
from workloads.data.schema import CATEGORICAL_FEATURES, ENTITY, LABEL, NUMERIC_FEATURES, TIMESTAMP
from workloads.features.encoding import OOV_INDEX, FeatureSpec, encode


def test_generate_is_deterministic_and_has_the_contract_columns():
    a, b = generate(3_000, seed=11), generate(3_000, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == [ENTITY, TIMESTAMP, *NUMERIC_FEATURES, *CATEGORICAL_FEATURES, LABEL]
    assert str(a[TIMESTAMP].dt.tz) == "UTC", "timestamps must be tz-aware UTC"
    assert a[TIMESTAMP].is_monotonic_increasing
    assert not generate(3_000, seed=12).equals(a), "another seed must give other data"


def test_fraud_rate_and_learnable_signal():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    df = generate(20_000, seed=0)
    assert 0.02 <= df[LABEL].mean() <= 0.05, f"fraud rate {df[LABEL].mean():.3f} outside 2-5%"
    x = df[list(NUMERIC_FEATURES)].fillna(0).to_numpy()
    x = np.sign(x) * np.log1p(np.abs(x))
    model = LogisticRegression(max_iter=500).fit(x[:15_000], df[LABEL][:15_000])
    auc = roc_auc_score(df[LABEL][15_000:], model.predict_proba(x[15_000:])[:, 1])
    assert auc > 0.8, f"a linear model on numerics reaches only AUC {auc:.3f}"


def test_drift_moves_only_what_it_names():
    base = generate(20_000, seed=3)
    drifted = generate(
        20_000,
        seed=3,
        drift=DriftSpec(
            mean_shift={"amount_zscore_30d": 1.0},
            variance_scale={"hours_since_last_txn": 2.0},
            new_categories={"channel": 0.3},
            label_shift=0.03,
            missing_rate={"country": 0.2},
        ),
    )
    std = base["amount_zscore_30d"].std()
    shift = (drifted["amount_zscore_30d"].mean() - base["amount_zscore_30d"].mean()) / std
    assert shift == pytest.approx(1.0, abs=0.01)
    ratio = drifted["hours_since_last_txn"].std() / base["hours_since_last_txn"].std()
    assert 1.7 < ratio < 2.1, f"variance_scale 2 gave std ratio {ratio:.2f}"
    unseen = drifted["channel"].astype(str).str.contains("unseen").mean()
    assert unseen == pytest.approx(0.3, abs=0.02)
    assert drifted["country"].isna().mean() == pytest.approx(0.2, abs=0.02)
    assert drifted[LABEL].mean() > base[LABEL].mean() + 0.02, "label_shift must raise the fraud rate"
    pd.testing.assert_series_equal(drifted["account_age_days"], base["account_age_days"])


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"mean_shift": {"nope": 1.0}}, "mean_shift"),
        ({"variance_scale": {"amount": 0.0}}, "variance_scale"),
        ({"new_categories": {"amount": 0.1}}, "new_categories"),
        ({"missing_rate": {"country": 1.5}}, "missing_rate"),
        ({"label_shift": 0.99}, "label_shift"),
    ],
)
def test_bad_drift_spec_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        DriftSpec(**kwargs)


def test_encode_handles_missing_unknown_and_records():
    df = generate(2_000, seed=5)
    spec = FeatureSpec.fit(df)
    records = [
        {"amount": None, "channel": "carrier-pigeon", "country": None},  # every other key absent
        {**df.iloc[0].to_dict()},
    ]
    numeric, categorical = encode(records, spec)
    assert numeric.dtype == np.float32 and categorical.dtype == np.int64
    assert numeric.shape == (2, len(NUMERIC_FEATURES)) and categorical.shape == (2, len(CATEGORICAL_FEATURES))
    assert numeric[0].tolist() == pytest.approx([spec.numeric_means[n] for n in spec.numeric])
    assert categorical[0].tolist() == [OOV_INDEX] * len(CATEGORICAL_FEATURES)
    frame_num, frame_cat = encode(df.iloc[:1], spec)
    assert np.array_equal(frame_num, numeric[1:]) and np.array_equal(frame_cat, categorical[1:])
    assert (categorical[1] > 0).all() or df.iloc[0][list(CATEGORICAL_FEATURES)].isna().any()


def test_feature_spec_json_round_trip_and_stats():
    df = generate(2_000, seed=5)
    spec = FeatureSpec.fit(df)
    assert FeatureSpec.from_json(spec.to_json()) == spec
    assert spec.numeric_means["amount"] == pytest.approx(df["amount"].mean())
    assert spec.cardinalities[spec.categorical.index("channel")] == 5  # 4 channels + OOV
    assert all(not math.isnan(v) for v in spec.numeric_stds.values())
