"""One place that turns a storage URI into a filesystem, for every workload.

Accepted forms (anything else is an error naming the variable and these forms):

    /a/folder, relative/folder, file:///a/folder     the local filesystem
    s3://<bucket>/<prefix>                           S3 (EKS) or an S3-compatible store (on-premises, moto)
    abfss://<container>@<account>.dfs.core.windows.net/<path>    Azure Storage (AKS), also abfs://
    az://<container>/<path>                          Azure, account from AZURE_STORAGE_ACCOUNT_NAME

pyarrow users get `filesystem(uri) -> (pyarrow FileSystem, path)`; fsspec users (pandas, dask:
Feast's file offline store reads the point-in-time join's sources with `dd.read_parquet(uri)`)
get `storage_options(uri)` (empty for s3://, which s3fs resolves from the environment; adlfs for
Azure, which also resolves the account name from an abfss:// URI by itself).

S3: `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (an S3-compatible endpoint: the on-premises store,
a moto server), `AWS_REGION` / `AWS_DEFAULT_REGION`, and the AWS credential chain (EKS Pod Identity on the cluster).

Azure credentials (the contract of issue 12): on the cluster the workload-identity webhook puts
AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST into the pod
and both clients use DefaultAzureCredential: pyarrow's AzureFileSystem the C++ one it bundles,
adlfs the Python one (azure-identity). The account name always comes from the URI.
checked: the C++ DefaultAzureCredential chain includes WorkloadIdentityCredential since
azure-identity-cpp 1.6.0 (Azure/azure-sdk-for-cpp sdk/identity/azure-identity/CHANGELOG.md,
"Add `WorkloadIdentityCredential` to the `DefaultAzureCredential`"); pyarrow 25.0.1's libarrow
links it (its symbols include `DefaultAzureCredential::DefaultAzureCredential(bool, ...)`
constructing a `WorkloadIdentityCredential`, read with `strings` on the wheel, 2026-12-02).
So pyarrow's own AzureFileSystem is used, not adlfs wrapped in a PyFileSystem: no Python on the
data path, and one client fewer to configure.

Emulator override (tests, `sahab local`; never set on the cluster): SAHAB_AZURE_BLOB_ENDPOINT
(`http://127.0.0.1:PORT`, Azurite's Blob service, accounts path-style under it) plus
AZURE_STORAGE_ACCOUNT_KEY; fsspec users also read AZURE_STORAGE_CONNECTION_STRING (built from
the two when unset). Azurite has no Data Lake (dfs) endpoint, so pyarrow's dfs authority points at
the Blob one too (without it pyarrow probes the real dfs host).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import pyarrow.fs as pafs

EMULATOR_ENDPOINT = "SAHAB_AZURE_BLOB_ENDPOINT"
ACCOUNT_KEY = "AZURE_STORAGE_ACCOUNT_KEY"
FORMS = ("a local folder or file:///folder", "s3://<bucket>/<prefix>", "abfss://<container>@<account>.dfs.core.windows.net/<path>")
_ABFS = re.compile(r"^abfss?://(?P<container>[^@/]*)@(?P<account>[^./]+)\.(?:dfs|blob)\.core\.windows\.net(?:/(?P<path>.*))?$")


@dataclass(frozen=True)
class Location:
    """A parsed storage URI. `container` is the S3 bucket or the Azure container."""

    scheme: Literal["file", "s3", "abfss"]
    path: str
    """Local: the absolute path. Remote: the key prefix inside the container (no slashes around)."""
    container: str = ""
    account: str = ""

    @property
    def uri(self) -> str:
        """The canonical URI (abfss:// for Azure, whatever form was given)."""
        tail = f"/{self.path}" if self.path else ""
        if self.scheme == "s3":
            return f"s3://{self.container}{tail}"
        if self.scheme == "abfss":
            return f"abfss://{self.container}@{self.account}.dfs.core.windows.net{tail}"
        return self.path

    @property
    def arrow_path(self) -> str:
        """The path pyarrow's filesystem of this location takes (`container/key` when remote)."""
        if self.scheme == "file":
            return self.path
        return f"{self.container}/{self.path}" if self.path else self.container


def _bad(variable: str, uri: str, why: str) -> ValueError:
    return ValueError(f"{variable}={uri!r}: {why}. Fix: use one of {', '.join(FORMS)}.")


def parse(uri: str | Path, variable: str = "uri") -> Location:
    """The Location of `uri`; ValueError naming `variable` and the accepted forms when unusable."""
    text = str(uri).strip()
    if not text:
        raise _bad(variable, text, "empty")
    if "://" not in text or text.startswith("file://"):
        return Location("file", os.path.abspath(text.removeprefix("file://")).rstrip("/") or "/")
    scheme = text.split("://", 1)[0].lower()
    if scheme == "s3":
        bucket, _, key = text[len("s3://") :].partition("/")
        if not bucket:
            raise _bad(variable, text, "names no bucket")
        return Location("s3", key.strip("/"), bucket)
    if scheme in ("abfs", "abfss"):
        match = _ABFS.match(text)
        if not match or not match["container"]:
            raise _bad(variable, text, "names no container and account (the form is <container>@<account>.dfs.core.windows.net)")
        return Location("abfss", (match["path"] or "").strip("/"), match["container"], match["account"])
    if scheme == "az":
        container, _, path = text[len("az://") :].partition("/")
        account = os.environ.get("AZURE_STORAGE_ACCOUNT_NAME", "")
        if not container or not account:
            raise _bad(variable, text, "az:// needs a container and AZURE_STORAGE_ACCOUNT_NAME; prefer abfss://")
        return Location("abfss", path.strip("/"), container, account)
    raise _bad(variable, text, f"unknown scheme {scheme}://")


def is_remote(uri: str | Path) -> bool:
    return isinstance(uri, str) and "://" in uri and not uri.startswith("file://")


def join(uri: str, *parts: str) -> str:
    """`uri/part/part`: slashes between, none doubled (URIs and local paths alike)."""
    return "/".join([str(uri).rstrip("/"), *(p.strip("/") for p in parts if p)])


def filesystem(uri: str | Path, variable: str = "uri") -> tuple[pafs.FileSystem, str]:
    """(pyarrow FileSystem, path on it) for `uri`; see the module docstring for credentials."""
    loc = parse(uri, variable)
    if loc.scheme == "s3":
        return _s3(*_s3_env()), loc.arrow_path
    if loc.scheme == "abfss":
        return _azure(loc.account, *_azure_env()), loc.arrow_path
    return pafs.LocalFileSystem(), loc.path


def _s3_env() -> tuple[str | None, str | None]:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return endpoint, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")


@lru_cache(maxsize=8)
def _s3(endpoint: str | None, region: str | None) -> pafs.S3FileSystem:
    kwargs: dict[str, object] = {}
    if endpoint:
        scheme, _, rest = endpoint.partition("://")
        kwargs.update(endpoint_override=rest or scheme, scheme=scheme if rest else "https")
    if region:
        kwargs["region"] = region
    return pafs.S3FileSystem(**kwargs)


def _azure_env() -> tuple[str | None, str | None]:
    endpoint = os.environ.get(EMULATOR_ENDPOINT) or None
    return endpoint, (os.environ.get(ACCOUNT_KEY) or None) if endpoint else None


@lru_cache(maxsize=8)
def _azure(account: str, endpoint: str | None, key: str | None) -> pafs.FileSystem:
    if endpoint is None:
        return pafs.AzureFileSystem(account)  # DefaultAzureCredential (workload identity on AKS)
    if not key:
        raise ValueError(
            f"{EMULATOR_ENDPOINT}={endpoint} (the emulator override) needs {ACCOUNT_KEY}. "
            f"Fix: set {ACCOUNT_KEY} to the emulator account's key, or unset {EMULATOR_ENDPOINT} on the cluster."
        )
    scheme, _, authority = endpoint.rstrip("/").partition("://")
    if not authority:
        raise ValueError(f"{EMULATOR_ENDPOINT}={endpoint!r} is not a URL. Fix: set it to http://HOST:PORT (Azurite's Blob service).")
    return pafs.AzureFileSystem(
        account, account_key=key, blob_storage_authority=authority, blob_storage_scheme=scheme, dfs_storage_authority=authority, dfs_storage_scheme=scheme
    )


def storage_options(uri: str | Path) -> dict[str, object]:
    """fsspec storage options for `uri` (pandas' / dask's `storage_options=`): adlfs' for Azure
    URIs; none for the rest (s3fs resolves S3 from the environment; fsspec's own protocols such as
    memory:// need none), so this never refuses a URI: `parse` and `filesystem` do."""
    if not str(uri).lower().startswith(("abfs://", "abfss://", "az://")):
        return {}
    loc = parse(uri)
    if not is_emulated():
        return {"account_name": loc.account, "anon": False}  # adlfs: azure-identity's DefaultAzureCredential
    return {"account_name": loc.account, "connection_string": connection_string(loc.account)}


def connection_string(account: str) -> str:
    """The emulator's connection string (AZURE_STORAGE_CONNECTION_STRING when set)."""
    given = os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if given:
        return given
    endpoint = os.environ.get(EMULATOR_ENDPOINT)
    key = os.environ.get(ACCOUNT_KEY)
    if not endpoint or not key:
        raise ValueError(f"no Azure connection string: set AZURE_STORAGE_CONNECTION_STRING, or {EMULATOR_ENDPOINT} and {ACCOUNT_KEY}")
    return f"DefaultEndpointsProtocol={endpoint.split('://')[0]};AccountName={account};AccountKey={key};BlobEndpoint={endpoint.rstrip('/')}/{account};"


# --- small whole-object helpers (state files, markers, profiles) ---


def read_bytes(uri: str | Path, variable: str = "uri") -> bytes | None:
    """The object's bytes, or None when there is none."""
    fs, path = filesystem(uri, variable)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as fh:
        return fh.read()


def write_bytes(uri: str | Path, data: bytes, variable: str = "uri") -> None:
    """Write one object whole: readers see the old or the new content, never half of it (a local
    file is written beside and renamed; an object store's PUT is atomic per object).

    Azure objects go up through the Blob API (azure-storage-blob: Put Blob, or blocks and Put Block
    List), which needs nothing but write access to that blob's own path. pyarrow's AzureFileSystem
    first probes the account for a hierarchical namespace with Get Access Control on the container's
    root (checked: apache/arrow cpp/src/arrow/filesystem/azurefs.cc CheckIfHierarchicalNamespaceIsEnabled,
    fetched 2026-12-02); a workload whose role is conditioned to a prefix (serving: serving-log/,
    components/azure/identity.py path_condition) gets 403 there and could not write at all."""
    loc = parse(uri, variable)
    if loc.scheme == "abfss":
        blob_client(loc).upload_blob(data, overwrite=True)
        return
    fs, path = filesystem(uri, variable)
    if isinstance(fs, pafs.LocalFileSystem):  # object stores need (and get) no directory markers
        fs.create_dir(path.rsplit("/", 1)[0] or "/", recursive=True)
        tmp = f"{path}.tmp"
        with fs.open_output_stream(tmp) as fh:
            fh.write(data)
        os.replace(tmp, path)
    else:
        with fs.open_output_stream(path) as fh:
            fh.write(data)


def blob_client(loc: Location):
    """azure-storage-blob's client of one blob: DefaultAzureCredential (workload identity on AKS), or
    the emulator's connection string under the override. (Feast's registry store uses it too.)"""
    from azure.storage.blob import BlobClient

    if is_emulated():
        return BlobClient.from_connection_string(connection_string(loc.account), container_name=loc.container, blob_name=loc.path)
    return BlobClient(f"https://{loc.account}.blob.core.windows.net", container_name=loc.container, blob_name=loc.path, credential=_default_credential())


@lru_cache(maxsize=1)
def _default_credential():
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def make_dirs(fs: pafs.FileSystem, path: str) -> None:
    """Create a local folder; nothing for object stores (no directory markers needed)."""
    if isinstance(fs, pafs.LocalFileSystem):
        fs.create_dir(path, recursive=True)


def is_emulated() -> bool:
    """Whether the emulator override (SAHAB_AZURE_BLOB_ENDPOINT) is set."""
    return _azure_env()[0] is not None
