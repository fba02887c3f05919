"""Column names of the transaction-risk use case: the one place training, features, export,
serving and monitoring take them from.

Every feature is nullable-tolerant: numeric columns may hold NaN, categorical columns None.
"""

from __future__ import annotations

ENTITY = "account_id"
TIMESTAMP = "event_timestamp"
LABEL = "is_fraud"

NUMERIC_FEATURES: tuple[str, ...] = (
    "amount",
    "amount_zscore_30d",
    "txn_count_24h",
    "txn_count_7d",
    "account_age_days",
    "avg_amount_30d",
    "distance_from_home_km",
    "hours_since_last_txn",
)
CATEGORICAL_FEATURES: tuple[str, ...] = (
    "merchant_category",
    "channel",
    "country",
    "device_type",
)
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES

# The categories the generator draws from (before drift adds unseen ones).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "merchant_category": (
        "grocery",
        "restaurants",
        "fuel",
        "electronics",
        "travel",
        "online_services",
        "jewelry",
        "gaming",
    ),
    "channel": ("pos", "online", "mobile", "atm"),
    "country": ("AE", "SA", "OM", "QA", "KW", "BH", "IN", "GB", "US"),
    "device_type": ("terminal", "ios", "android", "web"),
}
