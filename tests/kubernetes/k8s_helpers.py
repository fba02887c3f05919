"""Walkers over a plan's Kubernetes objects and Helm values, shared by the Kubernetes tests.

A module of its own (not conftest.py): `from conftest import ...` resolves to whichever conftest
pytest imported first, so it broke when tests/policy was collected before tests/kubernetes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sahab.engine.offline import Plan, PlannedResource

HELM = "kubernetes:helm.sh/v3:Release"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def k8s_objects(plan: Plan, kind: str | None = None) -> list[PlannedResource]:
    """Kubernetes objects of the plan (not Helm releases), optionally of one kind."""
    return [r for r in plan.resources if r.type.startswith("kubernetes:") and r.type != HELM and r.custom and (kind is None or r.inputs.get("kind") == kind)]


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template spec of a workload object, whatever its kind."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    if kind in WORKLOAD_KINDS:
        return spec["template"]["spec"]
    if kind == "Pod":
        return spec
    return None


def pods(plan: Plan) -> Iterator[tuple[PlannedResource, dict[str, Any]]]:
    for r in k8s_objects(plan):
        spec = pod_spec(r.inputs)
        if spec is not None:
            yield r, spec


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def helm_images(values: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, image reference) for every image in Helm values: `image` strings,
    {registry?, repository, tag} mappings or {name, tag} ones (Zero to JupyterHub)."""
    if isinstance(values, dict):
        for key, value in values.items():
            here = f"{path}.{key}" if path else key
            if key == "image" and isinstance(value, dict) and "repository" in value:
                repo = value["repository"]
                ref = f"{value['registry']}/{repo}" if value.get("registry") else repo
                yield here, f"{ref}:{value.get('tag', '')}"
            elif key == "image" and isinstance(value, dict) and isinstance(value.get("name"), str):
                # Zero to JupyterHub's shape: {name: <registry>/<repository>, tag}
                yield here, f"{value['name']}:{value.get('tag', '')}"
            elif key == "image" and isinstance(value, str):
                yield here, value
            else:
                yield from helm_images(value, here)
    elif isinstance(values, list):
        for i, value in enumerate(values):
            yield from helm_images(value, f"{path}[{i}]")
