"""Custom resources against their CRD's schema, offline: the schemas vendored from the pinned charts
(sahab/gate/crds/, written by scripts/vendor_crd_schemas.py; SOURCES says from where).

The check is strict as `argo lint` is: a field the schema does not name is an error (the API server
would prune it silently, and the controller would run something other than what was written),
except under `x-kubernetes-preserve-unknown-fields`. Kinds without a vendored schema return None:
the caller decides (schemas.py skips custom resources whose CRD ships with their chart).
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

CRD_DIR = Path(__file__).parent / "crds"


def _strict(node: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists its properties."""
    if isinstance(node, list):
        return [_strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if "properties" in out and "additionalProperties" not in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def schema_file(api_version: str, kind: str) -> Path:
    group, _, version = api_version.rpartition("/")
    return CRD_DIR / f"{group}_{version}_{kind}.json.gz"


@lru_cache(maxsize=16)
def validator(api_version: str, kind: str) -> Any:
    """A jsonschema validator of `kind` at `api_version`, or None when no schema is vendored."""
    import jsonschema

    path = schema_file(api_version, kind)
    if not path.is_file():
        return None
    schema = _strict(json.loads(gzip.decompress(path.read_bytes())))
    return jsonschema.Draft7Validator(schema)


def errors(doc: dict[str, Any], placeholders: tuple[str, ...] = ()) -> list[str] | None:
    """`path: message` of each schema error of a custom resource (at most 20), or None without a schema."""
    v = validator(str(doc.get("apiVersion") or ""), str(doc.get("kind") or ""))
    if v is None:
        return None
    found = [e for e in v.iter_errors(doc) if e.instance not in placeholders]
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in sorted(found, key=lambda e: list(map(str, e.absolute_path)))[:20]]
