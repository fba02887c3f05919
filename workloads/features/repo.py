"""The Feast feature repository: entity, feature views, feature service and both configurations.

Two configurations, one set of definitions:
- local: SQLite online store and Parquet offline store under `<SAHAB_HOME>/feast/`;
- aws: Redis online store (the foundation's ElastiCache), Parquet offline store and registry in
  the foundation's S3 bucket, in me-central-1 (refused elsewhere by FeatureStoreSettings).
"""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.types import Float64, String

from workloads.data.schema import ENTITY, TIMESTAMP
from workloads.settings import FeatureStoreSettings

SOURCE_FILE = "transactions.parquet"
LABELS_FILE = "labels.parquet"
FEATURE_SERVICE = "transaction_risk"

TRANSACTION_FEATURES = (
    "amount", "amount_zscore_30d", "distance_from_home_km", "hours_since_last_txn",
    "merchant_category", "channel", "country", "device_type",
)
ACCOUNT_FEATURES = ("txn_count_24h", "txn_count_7d", "account_age_days", "avg_amount_30d")
# A feature row older than this is not joined: stale account activity must not pass as current.
TTL = timedelta(days=2)


def offline_root(settings: FeatureStoreSettings, home: Path) -> str:
    """Folder (local path or s3:// URI) holding the offline Parquet data."""
    return f"{settings.s3_uri}/offline" if settings.mode == "aws" else str((home / "feast" / "offline").resolve())


def repo_config(settings: FeatureStoreSettings, home: Path) -> RepoConfig:
    """The RepoConfig for `settings.mode`; building it touches no network."""
    local = (home / "feast").resolve()
    if settings.mode == "local":
        return RepoConfig(
            project=settings.project,
            provider="local",
            registry=str(local / "registry.db"),
            online_store={"type": "sqlite", "path": str(local / "online.db")},
            offline_store={"type": "file"},
            repo_path=local,
            entity_key_serialization_version=3,
        )
    if not settings.s3_uri:
        raise ValueError("SAHAB_FEAST_MODE=aws needs SAHAB_FEAST_S3_URI (and SAHAB_FEAST_REDIS_URL for the online store)")
    # Without Redis only the offline store is usable (the retrain Job builds training sets and
    # never reads online features); a local SQLite stands in so the config is complete.
    online = ({"type": "redis", "redis_type": "redis", "connection_string": settings.redis_url.get_secret_value()}
              if settings.redis_url is not None else {"type": "sqlite", "path": str(local / "online.db")})
    return RepoConfig(
        project=settings.project,
        provider="aws",
        registry={"registry_type": "file", "path": f"{settings.s3_uri}/registry.pb"},
        online_store=online,
        offline_store={"type": "file"},
        repo_path=local,
        entity_key_serialization_version=3,
    )


def definitions(settings: FeatureStoreSettings, home: Path) -> tuple[Entity, list[FeatureView], FeatureService]:
    account = Entity(name="account", join_keys=[ENTITY], value_type=ValueType.INT64,
                     description="A customer account; transactions are keyed by it.")
    source = FileSource(
        name="transactions",
        path=f"{offline_root(settings, home)}/{SOURCE_FILE}",
        timestamp_field=TIMESTAMP,
        s3_endpoint_override=settings.s3_endpoint_override if settings.mode == "aws" else None,
    )

    def schema(names: tuple[str, ...]) -> list[Field]:
        categorical = {"merchant_category", "channel", "country", "device_type"}
        return [Field(name=n, dtype=String if n in categorical else Float64) for n in names]

    views = [
        FeatureView(name="transaction_features", entities=[account], ttl=TTL, schema=schema(TRANSACTION_FEATURES),
                    source=source, online=True, tags={"team": "risk"}),
        FeatureView(name="account_activity", entities=[account], ttl=TTL, schema=schema(ACCOUNT_FEATURES),
                    source=source, online=True, tags={"team": "risk"}),
    ]
    service = FeatureService(name=FEATURE_SERVICE, features=views,
                             description="Every feature the transaction-risk model reads.")
    return account, views, service


def view_fingerprint(view: FeatureView) -> str:
    """A content hash of a view's definition (fields, types, ttl, source), stable across applies."""
    body = {
        "name": view.name,
        "fields": [(f.name, str(f.dtype)) for f in view.schema],
        "ttl": view.ttl.total_seconds() if view.ttl else 0,
        "source": getattr(view.batch_source, "path", ""),
        "entities": sorted(view.entities),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
