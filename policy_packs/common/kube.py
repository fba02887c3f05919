"""Pod specs inside Kubernetes workload objects, their containers and images."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from policy_packs.common.values import as_list, as_map, dig

# Type tokens of objects that carry a pod template, and where the pod spec sits in each.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "PodTemplate": ("template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_CHART_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart", "kubernetes:helm.sh/v3:Chart")
GPU = "nvidia.com/gpu"
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def kind_of(type_token: str) -> str | None:
    """`kubernetes:apps/v1:Deployment` -> `Deployment` when it carries a pod template."""
    if not type_token.startswith("kubernetes:"):
        return None
    kind = type_token.rsplit(":", 1)[-1]
    return kind if kind in POD_SPEC_PATHS else None


def pod_spec(kind: str, props: dict[str, Any]) -> dict[str, Any]:
    return as_map(dig(props, *POD_SPEC_PATHS[kind]))


def containers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(field, container) for containers, initContainers and ephemeralContainers."""
    out = []
    for fieldname in ("initContainers", "containers", "ephemeralContainers"):
        for c in as_list(spec.get(fieldname)):
            if isinstance(c, dict):
                out.append((fieldname, c))
    return out


def namespace(props: dict[str, Any]) -> str:
    return str(as_map(props.get("metadata")).get("namespace") or "default")


def registry_host(image: str) -> str:
    """The registry an image reference pulls from (Docker Hub when none is written)."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def registry_allowed(image: str, patterns: list[str]) -> bool:
    """Matches `host` or `host/path` globs (`*.dkr.ecr.me-central-1.amazonaws.com`)."""
    host = registry_host(image)
    ref = image.split("@", 1)[0]
    for p in patterns:
        p = p.lower().rstrip("/")
        if "/" in p:
            if fnmatch.fnmatchcase(ref.lower(), p + "/*") or fnmatch.fnmatchcase(ref.lower(), p):
                return True
        elif fnmatch.fnmatchcase(host, p):
            return True
    return False


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository with host, tag, digest)."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    last = image.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest


def is_digest_pinned(image: str) -> bool:
    return bool(_DIGEST.search(image))


def helm_images(values: Any) -> list[tuple[str, str]]:
    """(values path, image reference) found in Helm values: `image: ref` strings,
    `{registry?, repository, tag?|digest?}` maps, and `image: {name, tag?}` maps (Zero to JupyterHub's
    shape: checked jupyterhub/zero-to-jupyterhub-k8s 4.4.0 values.yaml hub.image), the shapes charts use."""
    found: list[tuple[str, str]] = []

    def walk(v: Any, path: str) -> None:
        if isinstance(v, dict):
            repo = v.get("repository") if isinstance(v.get("repository"), str) else None
            if repo and (path.endswith("image") or "tag" in v or "digest" in v or "registry" in v):
                ref = f"{v['registry'].rstrip('/')}/{repo}" if isinstance(v.get("registry"), str) and v.get("registry") else repo
                if v.get("digest"):
                    ref += f"@{v['digest']}"
                elif v.get("tag"):
                    ref += f":{v['tag']}"
                found.append((path, ref))
                return
            name = v.get("name") if isinstance(v.get("name"), str) else None
            if name and path.endswith("image") and "repository" not in v:
                found.append((path, f"{name}:{v['tag']}" if isinstance(v.get("tag"), str) and v.get("tag") else name))
                return
            for k, child in v.items():
                if k in ("image", "imageName") and isinstance(child, str) and child:
                    found.append((f"{path}.{k}" if path else k, child))
                else:
                    walk(child, f"{path}.{k}" if path else str(k))
        elif isinstance(v, list):
            for i, child in enumerate(v):
                walk(child, f"{path}[{i}]")

    walk(values, "")
    return found
