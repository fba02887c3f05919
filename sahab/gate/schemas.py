"""Kubernetes manifests against the Kubernetes JSON schemas of the cluster's version, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from sahab.gate import crd_schemas
from sahab.gate.model import ADVISORY, MANDATORY, Finding, GateError

DEFAULT_KUBERNETES_VERSION = "1.33"


def manifest_files(manifest_dir: Path) -> list[Path]:
    """Kubernetes manifests under `manifest_dir` (helm/ holds chart pins + values, not objects)."""
    if not manifest_dir.is_dir():
        return []
    return sorted(p for p in manifest_dir.rglob("*.y*ml") if "helm" not in p.relative_to(manifest_dir).parts[:1])


_SCHEMA_CACHE: dict[str, Any] = {}
# The offline engine masks secrets and marks unknowns with these strings; they are not errors.
OFFLINE_PLACEHOLDERS = ("[secret]", "[unknown]")


def _schema_dir(kubernetes_version: str) -> tuple[Path, str]:
    import kubernetes_validate
    from packaging.version import Version

    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    want = Version(".".join(kubernetes_version.lstrip("v").split(".")[:2]))
    versions = sorted({Version(p.name[1:].split("-")[0]) for p in base.iterdir() if p.name.startswith("v") and p.name.endswith("-local-strict")})
    usable = [v for v in versions if Version(f"{v.major}.{v.minor}") <= want]
    if not usable:
        raise GateError(f"no Kubernetes schemas for {kubernetes_version} (have {versions[0]}..{versions[-1]})")
    chosen = usable[-1]
    return base / f"v{chosen}-local-strict", f"{chosen.major}.{chosen.minor}"


def _validator(schema_dir: Path, kind: str, api_version: str) -> Any:
    import re

    import jsonschema
    from referencing import Registry, Resource

    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = schema_dir / f"{kind.lower()}-{group}.json"
    key = str(path)
    if key not in _SCHEMA_CACHE:
        if not path.exists():
            _SCHEMA_CACHE[key] = None
        else:
            defs_key = str(schema_dir / "_definitions.json")
            if defs_key not in _SCHEMA_CACHE:
                _SCHEMA_CACHE[defs_key] = Resource.from_contents(json.loads((schema_dir / "_definitions.json").read_text()))
            schema = json.loads(path.read_text())
            registry = Resource.from_contents(schema) @ (_SCHEMA_CACHE[defs_key] @ Registry())
            _SCHEMA_CACHE[key] = jsonschema.Draft202012Validator(schema, registry=registry)
    return _SCHEMA_CACHE[key]


def validate_schemas(manifest_dir: Path, kubernetes_version: str = DEFAULT_KUBERNETES_VERSION, urns: dict[str, str] | None = None) -> list[Finding]:
    """Validate every manifest under `manifest_dir` (not helm/) against the Kubernetes JSON schemas of
    `kubernetes_version` (strict: unknown fields are errors), offline, from the kubernetes-validate
    package. Returns one mandatory Finding per error (kinds without a schema, such as CRDs, give an
    advisory Finding). `urns` maps a manifest's path relative to `manifest_dir` to its resource URN.
    """
    try:
        schema_dir, used = _schema_dir(kubernetes_version)
    except ImportError:
        return [
            Finding(
                "schema",
                "kubernetes-schemas",
                "schema-validation-available",
                MANDATORY,
                "Kubernetes schema validation cannot run: the kubernetes-validate package is missing. Fix: run scripts/setup.sh (or `.venv/bin/pip install kubernetes-validate`).",
            )
        ]
    findings = []
    for path in manifest_files(manifest_dir):
        rel = str(path.relative_to(manifest_dir))
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as e:
            findings.append(
                Finding(
                    "schema",
                    "kubernetes-schemas",
                    "manifest-parses",
                    MANDATORY,
                    f"{rel}: not valid YAML ({e}). Fix: correct the resource that renders it.",
                    file=rel,
                )
            )
            continue
        for doc in docs:
            kind, api = doc.get("kind"), doc.get("apiVersion")
            name = (doc.get("metadata") or {}).get("name", "?")
            label = f"{kind}/{name}"
            urn = (urns or {}).get(rel, "")
            if not kind or not api:
                findings.append(
                    Finding(
                        "schema",
                        "kubernetes-schemas",
                        "manifest-has-kind",
                        MANDATORY,
                        f"{rel}: object without apiVersion/kind. Fix: set both on the Kubernetes resource.",
                        urn=urn,
                        resource=rel,
                        file=rel,
                    )
                )
                continue
            validator = _validator(schema_dir, kind, api)
            group = api.split("/")[0] if "/" in api else ""
            if validator is None and "." in group and not group.endswith(".k8s.io"):
                # A custom resource: against its CRD's schema where one is vendored from the pinned chart
                # (sahab/gate/crd_schemas.py: Argo's WorkflowTemplates); else its CRD comes with its chart.
                for problem in crd_schemas.errors(doc, OFFLINE_PLACEHOLDERS) or []:
                    findings.append(
                        Finding(
                            "schema",
                            "kubernetes-schemas",
                            f"schema-{kind.lower()}",
                            MANDATORY,
                            f"{label} in {rel}: `{problem}` ({api} {kind} schema of the pinned chart's CRD, sahab/gate/crds). Fix: correct that field in the resource's inputs.",
                            urn=urn,
                            resource=label,
                            file=rel,
                        )
                    )
                continue
            if validator is None:
                findings.append(
                    Finding(
                        "schema",
                        "kubernetes-schemas",
                        "schema-known",
                        ADVISORY,
                        f"{label} in {rel}: no Kubernetes {used} schema for {api} {kind} (a CRD?), so it was not validated. Fix: nothing if it is a CRD installed by a chart; otherwise check apiVersion/kind.",
                        urn=urn,
                        resource=label,
                        file=rel,
                    )
                )
                continue
            errors = [e for e in validator.iter_errors(doc) if e.instance not in OFFLINE_PLACEHOLDERS]
            for error in sorted(errors, key=lambda e: list(e.absolute_path))[:10]:
                where = "/".join(str(p) for p in error.absolute_path) or "(root)"
                findings.append(
                    Finding(
                        "schema",
                        "kubernetes-schemas",
                        f"schema-{kind.lower()}",
                        MANDATORY,
                        f"{label} in {rel}: `{where}`: {error.message} (Kubernetes {used} schema). Fix: correct that field in the resource's inputs.",
                        urn=urn,
                        resource=label,
                        file=rel,
                    )
                )
    return findings
