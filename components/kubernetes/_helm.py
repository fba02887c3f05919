"""One way to install a chart: a pinned `helm.v3.Release` whose values are the whole contract."""

from __future__ import annotations

import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

_SEMVER = re.compile(r"^v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")


def release(
    name: str, *, release_name: str, chart: str, version: str, repo: str | None, namespace: str, values: dict[str, Any], opts: pulumi.ResourceOptions
) -> k8s.helm.v3.Release:
    """A Helm release of `chart` at exactly `version` from `repo`, into an existing namespace."""
    if not _SEMVER.match(version):
        raise ValueError(f"version: chart {chart!r} must be pinned to an exact version, got {version!r}")
    return k8s.helm.v3.Release(
        name,
        name=release_name,
        chart=chart,
        version=version,
        repository_opts={"repo": repo} if repo else None,  # OCI charts carry their registry in `chart`
        namespace=namespace,
        create_namespace=False,  # Tenancy owns namespaces (labels, policies, quotas)
        atomic=True,
        cleanup_on_fail=True,
        timeout=600,
        values=values,
        opts=opts,
    )
