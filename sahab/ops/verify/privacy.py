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
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial

from sahab.ops.verify.base import Check, problem

CHECK_ID = "local-privacy-no-clear-personal-data"
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


def scan_problems(uri: str, what: str, env: Mapping[str, str] | None = None, max_objects: int = MAX_OBJECTS) -> list[str]:
    """The clear personal data under `uri` (one problem per object and column); [] when none."""
    from workloads.privacy.scan import scan_uri

    try:
        with _client_env(env or {}):
            report = scan_uri(uri, max_objects=max_objects)
    except Exception as exc:  # noqa: BLE001 (an unreadable location fails the check with the reason)
        return [
            problem(uri, what, f"cannot be read to look for personal data ({type(exc).__name__}: {exc})", "check the platform is up and the location exists")
        ]
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
