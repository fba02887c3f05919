"""`sahab verify`: no UAE personal data in clear where the platform stores data (issue 22).

Each project's offline store (its Feast root: batch and served feature rows, labels, frozen
training sets) and its prediction log are read with `workloads.privacy.scan` (Parquet column by
column, SQLite table by table, anything else as text; the four UAE patterns with their checksums:
Emirates ID with its Luhn digit, +971 numbers, AE IBANs with mod-97, e-mail addresses; the
platform's own `tok:v<N>:` tokens taken out first). A check passes with 0 hits and fails naming
the object and the column of each hit, with a redacted sample (kind, length, last two characters:
the report must not leak what it found). At most `MAX_OBJECTS` objects per location, newest
partitions included (a prefix listing is sorted by key, and the scan reports what it skipped).

Local (`sahab verify local`, part `local`): the locations the running platform gave each project
(SAHAB_FEAST_URI, SAHAB_SERVING_PREDICTION_LOG_URI: folders, or the local S3-compatible store
with its endpoint and credentials from the platform's environment).

Cloud (`sahab verify <env> --part cloud`, AWS and Azure): the locations the plan renders into each
project's containers (`project_locations`: SAHAB_FEAST_URI / SAHAB_FEAST_S3_URI,
SAHAB_SERVING_PREDICTION_LOG_URI / SAHAB_DRIFT_LOG_URI, labelled `sahab.ae/project`) and the
project's prefix of the data lake (`data-lake/<project>/`, the prefix its identities are granted),
with the deployed bucket names of the stack outputs in place of the plan's. Read with the caller's
credentials: AWS's default chain in the stack's region, Azure's DefaultAzureCredential (what
workloads/storage.py opens abfss:// with).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from typing import Any

from components.workloads import DATA_LAKE, FEAST, SERVING_LOG
from sahab.ops.verify.base import Check, problem

CHECK_ID = "local-privacy-no-clear-personal-data"
CLOUD_CHECK_ID = "cloud-privacy-no-clear-personal-data"
PROJECT_LABEL = "sahab.ae/project"
UNKNOWN = "[unknown]"
"""How an offline plan marks a value known only after `up` (sahab/engine/offline.py UNKNOWN)."""
# The variables the plan renders into a project's containers for its stored data, and the bucket
# purpose each lives in (components/workloads.py: feast/ and serving-log/ in offline-features).
PLAN_VARIABLES = {
    "SAHAB_FEAST_URI": "offline store",
    "SAHAB_FEAST_S3_URI": "offline store",
    "SAHAB_SERVING_PREDICTION_LOG_URI": "prediction log",
    "SAHAB_DRIFT_LOG_URI": "prediction log",
}
PURPOSE = {"offline store": FEAST.split("/")[0], "prediction log": SERVING_LOG.split("/")[0], "lake": DATA_LAKE.strip("/")}
_ORDER = ("offline store", "prediction log", "lake")
MAX_OBJECTS = 500
_CLIENT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION")


@contextmanager
def _client_env(env: Mapping[str, str]) -> Iterator[None]:
    """The object store's endpoint and credentials of the platform's environment, for this scan only."""
    saved = {k: os.environ.get(k) for k in _CLIENT_VARIABLES}
    try:
        for k in _CLIENT_VARIABLES:
            if env.get(k):
                os.environ[k] = env[k]
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def scan_problems(
    uri: str,
    what: str,
    env: Mapping[str, str] | None = None,
    max_objects: int = MAX_OBJECTS,
    unreadable_fix: str = "check the platform is up and the location exists",
    need_container: bool = False,
) -> list[str]:
    """The clear personal data under `uri` (one problem per object and column); [] when none.
    `need_container`: a missing bucket/container fails (a cloud location: an empty prefix of an
    existing bucket is 0 hits, a bucket that is not there is a wrong name, never a pass)."""
    from workloads.privacy.scan import scan_uri

    try:
        with _client_env(env or {}):
            if need_container:
                _container_exists(uri)
            report = scan_uri(uri, max_objects=max_objects)
    except Exception as exc:  # noqa: BLE001 (an unreadable location fails the check with the reason)
        return [problem(uri, what, f"cannot be read to look for personal data ({type(exc).__name__}: {exc})", unreadable_fix)]
    return [
        problem(
            hit.object,
            what,
            f"column {hit.column!r} holds {hit.count} {hit.kind} value(s) in clear (e.g. {hit.sample})"
            if hit.column
            else f"holds {hit.count} {hit.kind} value(s) in clear (e.g. {hit.sample})",
            "mark the column `pii` in the project (sahab check names it), re-ingest from the sources and delete this object",
        )
        for hit in report.hits
    ]


def locations(name: str, env: Mapping[str, str], home: str | None) -> list[tuple[str, str]]:
    """(what, uri) of a project's stored data: its offline store and its prediction log."""
    from workloads.project.paths import local_paths

    paths = local_paths(home, name) if home else None
    out = []
    feast = env.get("SAHAB_FEAST_URI") or (str(paths.feast) if paths else None)
    log = env.get("SAHAB_SERVING_PREDICTION_LOG_URI") or (str(paths.serving_log) if paths else None)
    if feast:
        out.append(("offline store", feast))
    if log:
        out.append(("prediction log", log))
    return out


def privacy_checks(projects: Mapping[str, Mapping[str, str]], check_id: str = CHECK_ID) -> list[Check]:
    """One check per project location; `projects`: name -> the project's environment (SAHAB_*, AWS_*)."""
    checks = []
    for name, env in sorted(projects.items()):
        for what, uri in locations(name, env, env.get("SAHAB_HOME")):
            checks.append(Check(id=check_id, subject=f"{name} {what} {uri}", run=partial(scan_problems, uri, f"{name} {what}", env)))
    return checks


def _container_exists(uri: str) -> None:
    import pyarrow.fs as pafs

    from workloads import storage

    loc = storage.parse(uri)
    fs, _ = storage.filesystem(uri)
    if fs.get_file_info(loc.container).type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"{'bucket' if loc.scheme == 's3' else 'container'} {loc.container!r} does not exist (or the caller may not list it)")


def _env_entries(node: Any) -> Iterator[tuple[str, Any]]:
    """Every `{name, value}` environment entry anywhere in a manifest (containers, init containers,
    Argo templates, CronJob job templates)."""
    if isinstance(node, dict):
        if isinstance(node.get("name"), str) and "value" in node:
            yield node["name"], node["value"]
        for value in node.values():
            yield from _env_entries(value)
    elif isinstance(node, list):
        for value in node:
            yield from _env_entries(value)


def project_locations(plan: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """(what, uri) of each project's stored data in a deployed environment, from its plan.json: the
    offline store and prediction log URIs the plan renders into the project's containers (manifests
    labelled `sahab.ae/project`), and its prefix of the data lake when the plan has a `data-lake`
    bucket. Deduplicated, each URI ending in `/` (a prefix); URIs as the plan has them (bucket names
    may be the offline engine's: `deployed_uri` puts the stack's in)."""
    from workloads import storage

    found: dict[str, dict[str, str]] = {}
    for resource in plan.get("resources") or []:
        if not str(resource.get("type", "")).startswith("kubernetes:"):
            continue
        inputs = resource.get("inputs") or {}
        project = ((inputs.get("metadata") or {}).get("labels") or {}).get(PROJECT_LABEL)
        if not project:
            continue
        for name, value in _env_entries(inputs):
            what = PLAN_VARIABLES.get(name)
            if what and isinstance(value, str) and "://" in value:
                found.setdefault(project, {}).setdefault(value.rstrip("/") + "/", what)
    lake = ((plan.get("outputs") or {}).get("bucket_names") or {}).get(PURPOSE["lake"])
    out = {}
    for project, uris in sorted(found.items()):
        if lake:  # the lake is beside the project's other stores: their scheme and account, the lake's bucket
            near = storage.parse(next(iter(uris)))
            if near.scheme != "file":
                uris.setdefault(replace(near, container=lake, path=project).uri + "/", "lake")
        out[project] = sorted(((what, uri) for uri, what in uris.items()), key=lambda wu: (_ORDER.index(wu[0]), wu[1]))
    return out


def deployed_uri(uri: str, what: str, deployed_buckets: Mapping[str, str]) -> str:
    """`uri` with the deployed bucket (container) of its purpose from the stack outputs' `bucket_names`;
    ValueError (the reason the location cannot be checked) when neither the outputs nor the plan know it."""
    from workloads import storage

    loc = storage.parse(uri)
    container = deployed_buckets.get(PURPOSE[what]) or loc.container
    if UNKNOWN in (container, loc.account) or UNKNOWN in loc.path:
        raise ValueError(
            f"the plan does not know where the {what} lives ({uri}: unresolved before `up`) and the stack outputs' bucket_names have no {PURPOSE[what]!r}"
        )
    return replace(loc, container=container).uri + "/"


def cloud_privacy_checks(plan: Mapping[str, Any], deployed_buckets: Mapping[str, str], region: str | None = None) -> list[Check]:
    """`cloud-privacy-no-clear-personal-data`: one check per project location of a deployed
    environment (AWS or Azure), scanned with the caller's credentials (`region`: the stack's, for S3)."""
    checks = []
    for project, places in project_locations(plan).items():
        for what, planned in places:
            label = f"{project} {what}"
            try:
                uri = deployed_uri(planned, what, deployed_buckets)
            except ValueError as e:
                checks.append(Check(id=CLOUD_CHECK_ID, subject=f"{label} {planned}", run=partial(_not_runnable, planned, label, str(e))))
                continue
            env = {"AWS_REGION": region} if region and uri.startswith("s3://") else {}
            checks.append(
                Check(
                    id=CLOUD_CHECK_ID,
                    subject=f"{label} {uri}",
                    run=partial(scan_problems, uri, label, env, unreadable_fix=_read_grant(uri), need_container=True),
                )
            )
    return checks


def _not_runnable(uri: str, what: str, why: str) -> list[str]:
    return [problem(uri, what, f"cannot be checked for personal data: {why}", "pass the deployed stack's outputs (`--outputs FILE` or a logged-in Pulumi CLI)")]


def _read_grant(uri: str) -> str:
    """The permission the caller needs to read `uri`, in the fix of an unreadable location."""
    from workloads import storage

    loc = storage.parse(uri)
    if loc.scheme == "s3":
        return (
            f"grant the caller s3:ListBucket on arn:aws:s3:::{loc.container} and s3:GetObject on arn:aws:s3:::{loc.container}/{loc.path}/* "
            "(and kms:Decrypt on the stack's data key), with credentials for the stack's account; check the stack is deployed (`sahab up`)"
        )
    return (
        f"grant the caller the `Storage Blob Data Reader` role on storage account {loc.account} (or its container {loc.container}) and sign in "
        "(`az login`, or AZURE_CLIENT_ID/AZURE_TENANT_ID); check the stack is deployed (`sahab up`)"
    )
