"""The tokenise hook of the ingest step (issue 22): proof that what ingestion just wrote holds no
personal data in clear, and which key version made its tokens.

Tokenisation itself happens before anything is written, in the one place every writer of the
offline store goes through (`FeatureRepo.write_rows`, `LabelStore.table`: generated rows, declared
sources, label files, the prediction log's served rows, /labels and /feedback), so no object ever
holds a clear value, even for a moment. This hook reads back the marked columns of each object the
ingestion wrote and refuses the run (exit 2) if any value is neither null nor a token of the
current key version: a writer that bypassed tokenisation is a bug to stop on, not to repair
silently. Its result (the key version, the objects and columns checked) goes into the step's
record and the version's tags (`sahab.privacy.key_version`).

VERSION is hashed into the ingest step's inputs: changing the scheme reruns every cached ingest.
"""

from __future__ import annotations

import io
from typing import Any

from workloads.errors import SahabError

VERSION = "hmac-sha256-128/v1"


class ClearPersonalData(SahabError):
    """An object of the offline store holds a marked column's value in clear."""


def tokenise(project: Any, repo: Any, written: list[str]) -> dict[str, Any]:
    """Check the objects ingest just wrote (`written`: their URIs); returns what it checked."""
    import pyarrow.parquet as pq

    from workloads import storage
    from workloads.privacy import pii_columns

    columns = pii_columns(repo.spec)
    if not columns:
        return {"version": VERSION, "key_version": None, "objects": 0, "columns": [], "note": "the project marks no personal data"}
    privacy = repo.labels.privacy
    names = [c.name for c in columns]
    checked = 0
    for uri in written:
        data = storage.read_bytes(uri)
        if data is None:
            continue
        table = pq.read_table(io.BytesIO(data))
        for name in (n for n in names if n in table.column_names):
            kind = next(c for c in columns if c.name == name)
            for value in table.column(name).to_pylist():
                if value is None or privacy.tokeniser.is_token(str(value)):
                    continue
                if kind.kind == "free_text" and _masked(str(value)):
                    continue
                raise ClearPersonalData(
                    f"{uri}: column {name!r} (pii: {kind.kind}) holds a value that is not a token of key version {privacy.key_version}",
                    fix="report it: every writer of the offline store must go through FeatureRepo.write_rows / LabelStore; delete the object",
                )
        checked += 1
    return {"version": VERSION, "key_version": privacy.key_version, "objects": checked, "columns": names}


def _masked(text: str) -> bool:
    """A masked free text: whatever it holds, no identifier the patterns recognise is left."""
    from workloads.privacy.patterns import scan_text

    return not scan_text(text)
