"""Kubernetes resources of a plan -> manifests on disk.

Every `kubernetes:*` object becomes one YAML document as the API server would receive it; Helm
releases become a document of their chart pin and values (under helm/), so the gate and reviewers
see what a release installs without fetching the chart.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


def is_manifest(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:") and resource_type != HELM_RELEASE and not resource_type.startswith("kubernetes:helm")


def manifest(inputs: dict[str, Any]) -> dict[str, Any]:
    """A Kubernetes object from a resource's inputs: apiVersion and kind first, then the rest."""
    body = {k: v for k, v in inputs.items() if not k.startswith("__")}
    ordered: dict[str, Any] = {k: body.pop(k) for k in ("apiVersion", "kind", "metadata") if k in body}
    return {**ordered, **body}


def helm_release(inputs: dict[str, Any]) -> dict[str, Any]:
    repo = (inputs.get("repositoryOpts") or {}).get("repo")
    return {
        "release": inputs.get("name"),
        "namespace": inputs.get("namespace"),
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
        "repository": repo,
        "values": inputs.get("values") or {},
    }


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-").lower()


def manifests(resources: Iterable[Any]) -> list[tuple[str, dict[str, Any]]]:
    """(relative path, document) for every Kubernetes object and Helm release of the plan."""
    out = []
    for r in resources:
        if r.type == HELM_RELEASE:
            out.append((f"helm/{_slug(r.name)}.yaml", helm_release(r.outputs or r.inputs)))
        elif is_manifest(r.type):
            doc = manifest(r.outputs or r.inputs)
            if "kind" not in doc:
                continue
            meta = doc.get("metadata") or {}
            ns = meta.get("namespace") or "_cluster"
            out.append((f"{_slug(ns)}/{_slug(doc['kind'])}-{_slug(meta.get('name') or r.name)}.yaml", doc))
    return out


def write_manifests(plan: Any, out_dir: Path) -> list[Path]:
    """Replace `out_dir` with the plan's manifests (stale files from an older plan never linger)."""
    docs = manifests(plan.resources)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    written = []
    for rel, doc in docs:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        written.append(out_dir / rel)
    tmp.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.replace(out_dir)
    return written
