#!/usr/bin/env python3
"""Vendor the OpenAPI schemas of the custom resources the platform renders, from the pinned charts' own
CRD files, for the gate's offline schema check (sahab/gate/crd_schemas.py): the `argo lint` of this
repository, since the argo CLI (a Go binary) is in no registry this project reaches.

    .venv/bin/python scripts/vendor_crd_schemas.py CRD.yaml [CRD.yaml ...] --source "argoproj/argo-helm argo-workflows-1.0.18"

Each CRD's served version's `openAPIV3Schema`, without its `description`s (they do not validate), is
written to sahab/gate/crds/<group>_<version>_<Kind>.json.gz with a SOURCE line beside it in
sahab/gate/crds/SOURCES. The argo-workflows CRDs: charts/argo-workflows/files/crds/full/ of
argoproj/argo-helm at the tag of the pinned chart (components/kubernetes/pins.py `argo-workflows`).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from pathlib import Path

import yaml

OUT = Path(__file__).resolve().parents[1] / "sahab/gate/crds"


def _strip(node, names: bool = False):
    """Without the `description` keyword of each schema; `names`: `node` maps property names to schemas
    (a property called `description` stays)."""
    if isinstance(node, dict):
        if names:
            return {k: _strip(v) for k, v in node.items()}
        return {k: _strip(v, names=k == "properties") for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def vendor(path: Path, source: str) -> list[str]:
    lines = []
    crd = yaml.safe_load(path.read_text())
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    for version in crd["spec"]["versions"]:
        if not version.get("served"):
            continue
        schema = _strip(version["schema"]["openAPIV3Schema"])
        name = f"{group}_{version['name']}_{kind}.json.gz"
        data = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
        (OUT / name).write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
        lines.append(f"{name}  {source} {path.name} (descriptions removed) sha256 of the JSON {hashlib.sha256(data).hexdigest()}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("crds", nargs="+", type=Path)
    p.add_argument("--source", required=True, help="where the CRD files come from (repository and tag)")
    args = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    sources = OUT / "SOURCES"
    kept = {line.split()[0]: line for line in sources.read_text().splitlines() if line.strip()} if sources.exists() else {}
    for path in args.crds:
        for line in vendor(path, args.source):
            kept[line.split()[0]] = line
    sources.write_text("\n".join(kept[k] for k in sorted(kept)) + "\n")
    print("\n".join(kept[k] for k in sorted(kept)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
