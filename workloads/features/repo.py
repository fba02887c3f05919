"""A project's Feast repository: definitions generated from project.yaml, and its configurations.

From the project (workloads/project/spec.py): the entity (its name, join key and value type from
`entity.dtype`), one FeatureView per `feature_views` entry (its TTL; Float64 for a numeric feature,
String for a categorical one) over the project's one feature source, and one FeatureService named
after the project. The Feast project is `spec.feast_project` (SAHAB_FEAST_PROJECT overrides it).

The feature source is the Parquet dataset `<feast root>/offline/sources/features/` (batch/: ingested
sources and generated rows; served/: live rows copied from the prediction log; see ingest.py).
Feast's file offline store reads the whole folder with dask (subfolders included; checked on
feast 0.67.0 feast/infra/offline_stores/dask.py `_read_datasource`: `dd.read_parquet(path)`).

Three configurations, one set of definitions, one Feast root per project:
- local: SQLite online store, registry.db and the offline data under
  `<SAHAB_HOME>/projects/<name>/feast/` (workloads/project/paths.py);
- aws: Redis online store (the foundation's ElastiCache), registry and offline data under the
  project's `SAHAB_FEAST_URI` (or the old `SAHAB_FEAST_S3_URI`) in me-central-1;
- azure: Redis online store (Azure Managed Redis), registry and offline data under the project's
  `SAHAB_FEAST_URI=abfss://...` in uaenorth. Feast's file offline store reads the sources with
  dask through fsspec (adlfs). The registry is Feast's own Azure blob store
  (feast/infra/registry/contrib/azure, `AzBlobRegistryStore`) with the client made here
  (AzureBlobRegistryStore): Feast's parses an `https://<account>.blob...` URL and reads a key from
  REGISTRY_BLOB_KEY, which neither the abfss:// contract nor Azurite's path-style account URLs fit.
  checked: feast 0.67.0 feast/infra/registry/registry.py (`registry_store_type` takes a dotted
  class path) and contrib/azure/azure_registry_store.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.feast_object import FeastObject
from feast.infra.registry.contrib.azure.azure_registry_store import AzBlobRegistryStore
from feast.types import Float64, Int64, String

from workloads import storage
from workloads.features.tables import FEATURES_DIR
from workloads.project.paths import local_paths
from workloads.project.spec import ProjectSpec
from workloads.settings import FeatureStoreSettings


def feast_root(spec: ProjectSpec, settings: FeatureStoreSettings, home: Path) -> str:
    """The project's Feast root: a local folder in local mode, else the URI as given (never suffixed)."""
    if settings.mode == "local":
        return str(local_paths(home, spec.name).feast)
    uri = settings.store_uri()
    if not uri:
        form = "s3://bucket/feast/<project>" if settings.mode == "aws" else "abfss://<container>@<account>.dfs.core.windows.net/feast/<project>"
        raise ValueError(
            f"SAHAB_FEAST_MODE={settings.mode} needs {settings.uri_variable()}={form}, the project's Feast root "
            "(and SAHAB_FEAST_REDIS_URL for the online store)"
        )
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


def feast_project(spec: ProjectSpec, settings: FeatureStoreSettings) -> str:
    return settings.project or spec.feast_project


def repo_config(spec: ProjectSpec, settings: FeatureStoreSettings, home: Path) -> RepoConfig:
    """The RepoConfig of the project for `settings.mode`; building it touches no network."""
    local = local_paths(home, spec.name).feast
    if settings.mode == "local":
        return RepoConfig(
            project=feast_project(spec, settings),
            provider="local",
            registry=str(local / "registry.db"),
            online_store={"type": "sqlite", "path": str(local / "online.db")},
            offline_store={"type": "file"},
            repo_path=local,
            entity_key_serialization_version=3,
        )
    uri = feast_root(spec, settings, home)
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
        project=feast_project(spec, settings),
        # The provider only picks defaults: the stores are named explicitly (Feast has no azure provider).
        provider="aws" if settings.mode == "aws" else "local",
        registry=registry,
        online_store=online,
        offline_store={"type": "file"},
        repo_path=local,
        entity_key_serialization_version=3,
    )


@dataclass(frozen=True)
class Definitions:
    entity: Entity
    source: FileSource
    views: tuple[FeatureView, ...]
    service: FeatureService

    def objects(self) -> list[FeastObject]:
        return [self.entity, *self.views, self.service]


def definitions(spec: ProjectSpec, settings: FeatureStoreSettings, home: Path) -> Definitions:
    """Entity, source, feature views and feature service of the project (see the module docstring)."""
    root = feast_root(spec, settings, home)
    key_type, key_dtype = (ValueType.INT64, Int64) if spec.entity.dtype == "int64" else (ValueType.STRING, String)
    entity = Entity(name=spec.entity.name, join_keys=[spec.entity.key], value_type=key_type, description=spec.entity.description or f"{spec.name}'s entity")
    source = FileSource(
        name=f"{spec.feast_project}_features",
        path=storage.join(root, FEATURES_DIR),
        timestamp_field=spec.timestamp,
        s3_endpoint_override=settings.s3_endpoint_override if settings.mode == "aws" else None,
    )
    tags = {"team": spec.team, "project": spec.name}
    views = tuple(
        FeatureView(
            name=view.name,
            entities=[entity],
            ttl=view.ttl,
            schema=[
                Field(name=spec.entity.key, dtype=key_dtype),
                *(Field(name=f, dtype=Float64 if spec.feature(f).type == "numeric" else String) for f in view.features),
            ],
            source=source,
            online=True,
            description=view.description,
            tags=tags,
        )
        for view in spec.feature_views
    )
    service = FeatureService(name=spec.name, features=list(views), description=f"Every feature the {spec.name} model reads.", tags=tags)
    return Definitions(entity, source, views, service)


def view_fingerprint(view: FeatureView) -> str:
    """A content hash of a view's definition (fields, types, ttl, entities, timestamp), stable across
    applies and across machines (the source's root is left out: the same view under another home or
    bucket is the same view)."""
    body = {
        "name": view.name,
        "fields": [(f.name, str(f.dtype)) for f in view.schema],
        "ttl": view.ttl.total_seconds() if view.ttl else 0,
        "timestamp": getattr(view.batch_source, "timestamp_field", ""),
        "entities": sorted(view.entities),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
