"""Helpers for breaking one object of a plan's Context (the catalogue of broken variants)."""

from __future__ import annotations

from typing import Any


def doc(ctx: Any, rel: str) -> dict[str, Any]:
    """The manifest at `rel` (relative to manifests/), to mutate in place."""
    for path, d in ctx.manifests:
        if path == rel:
            return d
    raise KeyError(f"no manifest {rel}; have {sorted(p for p, _ in ctx.manifests)[:20]}...")


def release(ctx: Any, chart: str) -> dict[str, Any]:
    for _, r in ctx.releases:
        if str(r.get("chart", "")).endswith(chart):
            return r
    raise KeyError(f"no Helm release of chart {chart}")


def resource(ctx: Any, type_: str, name_part: str = "") -> Any:
    for r in ctx.plan.resources:
        if r.type == type_ and name_part in r.name:
            return r
    raise KeyError(f"no {type_} named like {name_part!r}")


def policies(findings: list[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in findings:
        out.setdefault(f.policy, []).append(f.message)
    return out


def statements(r: Any) -> list[dict[str, Any]]:
    import json

    return json.loads(r.inputs["policy"])["Statement"]


def set_statements(r: Any, statements: list[dict[str, Any]]) -> None:
    import json

    r.inputs["policy"] = json.dumps({"Version": "2012-10-17", "Statement": statements})


def workload(ctx: Any, kind: str, app: str) -> tuple[str, dict[str, Any]]:
    """(manifest path, document) of the first `kind` whose pods carry app.kubernetes.io/name=`app`."""
    for path, d in ctx.manifests:
        if d.get("kind") != kind:
            continue
        spec = d.get("spec") or {}
        template = (spec.get("jobTemplate") or {}).get("spec", {}).get("template") if kind == "CronJob" else spec.get("template")
        if ((template or {}).get("metadata") or {}).get("labels", {}).get("app.kubernetes.io/name") == app:
            return path, d
    raise KeyError(f"no {kind} of app.kubernetes.io/name={app}")


def edit_statement(r: Any, sid: str, change: Any) -> None:
    """Apply `change(statement)` to the statement `sid` of resource `r`'s policy (KeyError if absent)."""
    st = statements(r)
    target = next((s for s in st if s.get("Sid") == sid), None)
    if target is None:
        raise KeyError(f"{r.name}: no statement {sid}; have {[s.get('Sid') for s in st]}")
    change(target)
    set_statements(r, st)
