"""What every cloud's preflight shares: the result and context types, the error that stops a run,
and the one cloud-neutral check (every Helm chart version exists where the plan says it comes from)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from workloads.errors import SahabError

Level = Literal["pass", "warn", "fail"]


class PreflightError(SahabError, RuntimeError):
    """Preflight cannot run (no credentials, no route to the cloud): the message says what it needs. Exit 2."""

    exit_code = 2


@dataclass(frozen=True)
class Result:
    check: str
    level: Level
    message: str
    """What was found and, unless it passed, `Fix: how`."""


@dataclass(frozen=True)
class PreflightContext:
    repo: Path
    env: str
    plan: Any
    spec: dict[str, Any]
    region: str

    def resources(self, type_: str) -> list[Any]:
        return [r for r in self.plan.resources if r.type == type_]


def helm_show_chart(chart: str, version: str, repo: str | None, helm: str | None = None, timeout: float = 60) -> dict[str, Any]:
    """Chart.yaml of `chart` at `version` as the chart repository (or OCI registry) serves it."""
    helm = helm or shutil.which("helm")
    if not helm:
        raise PreflightError("checking chart versions needs helm on PATH. Fix: install helm 3.8+ (OCI charts), then run preflight again.")
    args = [helm, "show", "chart", chart, "--version", version] + (["--repo", repo] if repo else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise LookupError((proc.stderr or proc.stdout).strip()[-500:])
    return yaml.safe_load(proc.stdout) or {}


def check_charts(ctx: PreflightContext, helm: str | None = None) -> list[Result]:
    out = []
    for r in ctx.resources("kubernetes:helm.sh/v3:Release"):
        chart, version = str(r.inputs.get("chart") or ""), str(r.inputs.get("version") or "")
        repo = (r.inputs.get("repositoryOpts") or {}).get("repo")
        label = f"{r.name} (kubernetes:helm.sh/v3:Release)"
        try:
            doc = helm_show_chart(chart, version, repo, helm)
        except LookupError as e:
            out.append(
                Result(
                    "chart-versions",
                    "fail",
                    f"{label}: {chart} {version} is not served by {repo or 'its registry'}: {e}. Fix: pick a version the chart index lists and move its pin in components/kubernetes/pins.py.",
                )
            )
            continue
        if str(doc.get("version")) != version:
            out.append(
                Result(
                    "chart-versions",
                    "fail",
                    f"{label}: asked for {chart} {version}, the repository served {doc.get('version')}. Fix: pin an exact version that exists.",
                )
            )
        else:
            out.append(Result("chart-versions", "pass", f"{label}: {chart} {version} exists (appVersion {doc.get('appVersion', '?')})"))
    return out
