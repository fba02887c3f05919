"""The Feast feature repository: entity, feature views, feature service and both configurations.

Three configurations, one set of definitions:
- local: SQLite online store and Parquet offline store under `<SAHAB_HOME>/feast/`;
- aws: Redis online store (the foundation's ElastiCache), Parquet offline store and registry in
  the foundation's S3 bucket, in me-central-1 (refused elsewhere by FeatureStoreSettings);
- azure: Redis online store (Azure Managed Redis), Parquet offline store and registry under
  `SAHAB_FEAST_URI=abfss://...` in uaenorth. Feast's file offline store reads the sources with
  dask through fsspec (adlfs: the account from the URI, azure-identity's DefaultAzureCredential, or
  AZURE_STORAGE_CONNECTION_STRING under the emulator). The registry is Feast's own Azure blob store
  (feast/infra/registry/contrib/azure, `AzBlobRegistryStore`: get/update/teardown of one blob)
  with the client made here (AzureBlobRegistryStore): Feast's parses an `https://<account>.blob...`
  URL and reads a key from REGISTRY_BLOB_KEY, which neither the abfss:// contract nor Azurite's
  path-style account URLs fit. checked: feast 0.67.0 feast/infra/registry/registry.py
  (`registry_store_type` takes a dotted class path) and contrib/azure/azure_registry_store.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.infra.registry.contrib.azure.azure_registry_store import AzBlobRegistryStore
from feast.types import Float64, String

from workloads import storage
from workloads.data.schema import ENTITY, TIMESTAMP
from workloads.settings import FeatureStoreSettings

SOURCE_FILE = "transactions.parquet"
LABELS_FILE = "labels.parquet"
FEATURE_SERVICE = "transaction_risk"

TRANSACTION_FEATURES = (
    "amount",
    "amount_zscore_30d",
    "distance_from_home_km",
    "hours_since_last_txn",
    "merchant_category",
    "channel",
    "country",
    "device_type",
)
ACCOUNT_FEATURES = ("txn_count_24h", "txn_count_7d", "account_age_days", "avg_amount_30d")
# A feature row older than this is not joined: stale account activity must not pass as current.
TTL = timedelta(days=2)


def offline_root(settings: FeatureStoreSettings, home: Path) -> str:
    """Folder (local path, s3:// or abfss:// URI) holding the offline Parquet data."""
    if settings.mode == "local":
        return str((home / "feast" / "offline").resolve())
    return storage.join(_store_uri(settings), "offline")


def _store_uri(settings: FeatureStoreSettings) -> str:
    uri = settings.store_uri()
    if not uri:
        form = "s3://bucket/prefix" if settings.mode == "aws" else "abfss://<container>@<account>.dfs.core.windows.net/<prefix>"
        raise ValueError(f"SAHAB_FEAST_MODE={settings.mode} needs {settings.uri_variable()}={form} (and SAHAB_FEAST_REDIS_URL for the online store)")
    return uri


class AzureBlobRegistryStore(AzBlobRegistryStore):
    """Feast's Azure blob registry store, its client made from an abfss:// registry path: the
    account's Blob endpoint with DefaultAzureCredential (workload identity on AKS), or the
    emulator's connection string under SAHAB_AZURE_BLOB_ENDPOINT (see workloads/storage.py)."""

    def __init__(self, registry_config, repo_path: Path) -> None:
        from urllib.parse import urlparse

        loc = storage.parse(registry_config.path, "registry path (SAHAB_FEAST_URI)")
        if loc.scheme != "abfss" or not loc.path:
            raise ValueError(f"registry path {registry_config.path!r}: expected abfss://<container>@<account>.dfs.core.windows.net/<path>")
        self._uri = urlparse(loc.uri)
        self._container, self._path = loc.container, loc.path
        self.blob = storage.blob_client(loc)


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
    uri = _store_uri(settings)
    # Without Redis only the offline store is usable (the retrain Job builds training sets and
    # never reads online features); a local SQLite stands in so the config is complete.
    online = (
        {"type": "redis", "redis_type": "redis", "connection_string": settings.redis_url.get_secret_value()}
        if settings.redis_url is not None
        else {"type": "sqlite", "path": str(local / "online.db")}
    )
    registry: dict[str, object] = {"registry_type": "file", "path": storage.join(uri, "registry.pb")}
    if settings.mode == "azure":
        registry["registry_store_type"] = f"{__name__}.{AzureBlobRegistryStore.__name__}"
    return RepoConfig(
        project=settings.project,
        # The provider only picks defaults: the stores are named explicitly (Feast has no azure provider).
        provider="aws" if settings.mode == "aws" else "local",
        registry=registry,
        online_store=online,
        offline_store={"type": "file"},
        repo_path=local,
        entity_key_serialization_version=3,
    )


def definitions(settings: FeatureStoreSettings, home: Path) -> tuple[Entity, list[FeatureView], FeatureService]:
    account = Entity(name="account", join_keys=[ENTITY], value_type=ValueType.INT64, description="A customer account; transactions are keyed by it.")
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
        FeatureView(
            name="transaction_features", entities=[account], ttl=TTL, schema=schema(TRANSACTION_FEATURES), source=source, online=True, tags={"team": "risk"}
        ),
        FeatureView(name="account_activity", entities=[account], ttl=TTL, schema=schema(ACCOUNT_FEATURES), source=source, online=True, tags={"team": "risk"}),
    ]
    service = FeatureService(name=FEATURE_SERVICE, features=views, description="Every feature the transaction-risk model reads.")
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
