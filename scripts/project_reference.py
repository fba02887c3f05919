#!/usr/bin/env python3
"""The field reference of projects/README.md, generated from the contract's pydantic model
(`ProjectSpec` in workloads/project/spec.py); the prose around it stays hand-written.

    .venv/bin/python scripts/project_reference.py           print the reference
    .venv/bin/python scripts/project_reference.py --write   rewrite it in projects/README.md, between the markers
    .venv/bin/python scripts/project_reference.py --check   exit 1 when projects/README.md differs (what the test checks)

Every field of every section: its path in project.yaml, its type, its default (or "required"), what
it means (the field's description, else its model's docstring) and an example: the value one of the
shipped projects gives it (in the order of their names), else a scaffold's (`sahab project new`),
else the default.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import PydanticUndefined

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from workloads.project.spec import ProjectSpec, format_duration  # noqa: E402 (the checkout on sys.path first: the script runs from anywhere)

README = REPO / "projects" / "README.md"
BEGIN = "<!-- BEGIN reference: generated from workloads/project/spec.py by scripts/project_reference.py --write; do not edit -->"
END = "<!-- END reference -->"

NOTES = {
    # What a field means where the model gives it no description of its own (model.field -> text).
    "ProjectSpec.name": "The model's name: the registered model, its MLflow experiment, its Kubernetes objects and storage prefixes; the folder's name.",
    "ProjectSpec.description": "One line for people.",
    "ProjectSpec.entity": "What every row is about.",
    "ProjectSpec.label": "What the model predicts.",
    "ProjectSpec.features": "The model's inputs, in the order of its `numeric` and `categorical` inputs.",
    "ProjectSpec.feature_views": "Each feature in exactly one view.",
    "ProjectSpec.sources": "Where the data comes from.",
    "ProjectSpec.training": "The framework and the team's function.",
    "ProjectSpec.evaluation": "Offline metrics and the promotion gate.",
    "ProjectSpec.serving": "Replicas, resources and the A/B outcome.",
    "ProjectSpec.experiment": "The A/B test's settings.",
    "ProjectSpec.monitoring": "Drift and performance monitoring.",
    "EntitySpec.description": "For people.",
    "LabelSpec.task": "binary (0/1 labels; the model gives P(1)), multiclass (labels among `classes`) or regression (a number).",
    "LabelSpec.description": "For people.",
    "FeatureSpec.name": "The column in sources, requests and the prediction log.",
    "FeatureSpec.type": "numeric (float64, NaN when missing) or categorical (string, null when missing).",
    "FeatureSpec.description": "For people.",
    "FeatureViewSpec.name": "The Feast feature view.",
    "FeatureViewSpec.features": "Its features (each declared under `features`).",
    "FeatureViewSpec.description": "For people.",
    "TrainingSpec.framework": "What the function returns a model of; decides the export (torch.onnx, onnxmltools, skl2onnx).",
    "TrainingSpec.seed": "`ctx.seed`.",
    "TrainingSpec.resources": "The training Job's requests.",
    "EvaluationSpec.gate": "What a new version must show on the common holdout.",
    "GateSpec.primary": "The primary metric and its bound.",
    "GateSpec.guardrails": "Further metrics, each with one bound.",
    "MetricBound.metric": "A metric of the task (see METRICS in workloads/project/spec.py).",
    "MetricBound.min": "Lowest acceptable value (give min or max).",
    "MetricBound.max": "Highest acceptable value (give min or max).",
    "ServingSpec.resources": "Each serving pod's requests (CPUs only).",
    "ServingSpec.precision": "Which exported graph serves; a version without int8 serves fp32.",
    "ServingSpec.outcome": "The outcome the A/B test measures.",
    "OutcomeSpec.name": "Its name (metrics, dashboards).",
    "OutcomeSpec.description": "For people: when and how a client reports it.",
    "OutcomeSpec.min": "Lowest possible outcome (feedback outside the range is refused).",
    "OutcomeSpec.max": "Highest possible outcome.",
    "ExperimentSpec.alpha": "False-decision level of the sequential test.",
    "MonitoringSpec.drift": "Drift of the served features.",
    "MonitoringSpec.performance": "The champion's metric once labels mature.",
    "DriftSpec.window": "Rows of the prediction log are tested per window of this length.",
    "DriftSpec.period": "The false-alarm budget `alpha` is spent over this period.",
    "DriftSpec.cooldown": "No two retrainings within this time.",
    "PerformanceSpec.window": "Live rows are judged per window of this length.",
    "PerformanceSpec.min_labels": "A window with fewer matured labels is skipped.",
}


def _examples() -> list[dict[str, Any]]:
    from workloads.project.scaffold import render_project

    out = [yaml.safe_load(path.read_text()) for path in sorted((REPO / "projects").glob("*/project.yaml"))]
    out.append(yaml.safe_load(render_project("my-model", "torch", "multiclass", "data-science", "projects/my-model")))
    return out


def _lookup(raw: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(raw, list):
            raw = raw[0] if raw else None
        if not isinstance(raw, dict) or part not in raw:
            return None
        raw = raw[part]
    return raw[0] if isinstance(raw, list) and raw and isinstance(raw[0], dict) else raw


def _field_type(field: Any) -> str:
    """A field's type; pydantic keeps an Annotated field's validators in `field.metadata`."""
    names = " ".join(getattr(getattr(m, "func", None), "__name__", "") for m in field.metadata)
    plain = [a for a in (field.annotation, *typing.get_args(field.annotation)) if a is not type(None)]
    nullable = " or null" if type(None) in typing.get_args(field.annotation) else ""
    if "parse_duration" in names or timedelta in plain:
        return "duration (`30s`, `15min`, `1h`, `2d`, `1w`)" + nullable
    if "_check_name" in names:
        return "name (3-32 of `a-z 0-9 -`)"
    if "_check_column" in names:
        return "column (`a-z 0-9 _`)" + nullable
    return _type(field.annotation)


def _type(annotation: Any) -> str:
    """A reader's name for a type."""
    meta = getattr(annotation, "__metadata__", ())
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base = typing.get_args(annotation)[0]
        validators = " ".join(getattr(getattr(m, "func", None), "__name__", "") for m in meta)
        if base is timedelta:
            return "duration (`30s`, `15min`, `1h`, `2d`, `1w`)"
        if "_check_name" in validators:
            return "name (3-32 of `a-z 0-9 -`)"
        if "_check_column" in validators:
            return "column (`a-z 0-9 _`)"
        return _type(base)
    if origin is typing.Literal:
        return " \\| ".join(f"`{v}`" for v in typing.get_args(annotation))
    if origin in (types.UnionType, typing.Union):
        parts = [_type(a) for a in typing.get_args(annotation) if a is not type(None)]
        return " \\| ".join(parts) + (" or null" if type(None) in typing.get_args(annotation) else "")
    if origin in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    if annotation is timedelta:
        return "duration"
    return getattr(annotation, "__name__", str(annotation))


def _value(value: Any) -> str:
    if isinstance(value, timedelta):
        return f"`{format_duration(value)}`"
    if isinstance(value, BaseModel):
        return "(its defaults)"
    if isinstance(value, (list, tuple, dict)) and not value:
        return "`[]`" if not isinstance(value, dict) else "`{}`"
    if value is None:
        return "`null`"
    if isinstance(value, str) and not value:
        return '`""`'
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()
    return f"`{text}`".replace("|", "\\|")


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return _value(field.default_factory())
    return _value(field.default) if field.default is not PydanticUndefined else "required"


def _models(model: type[BaseModel], seen: list[type[BaseModel]]) -> list[type[BaseModel]]:
    if model in seen:
        return seen
    seen.append(model)
    for field in model.model_fields.values():
        for sub in _nested(field.annotation):
            _models(sub, seen)
    return seen


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _nested(a)]


def _paths(model: type[BaseModel], prefix: str, out: dict[type[BaseModel], list[str]]) -> None:
    """Each model's paths in project.yaml (`serving.resources`, `training.resources`, `features[]`)."""
    for name, field in model.model_fields.items():
        for sub in _nested(field.annotation):
            many = typing.get_origin(field.annotation) in (tuple, list)
            path = f"{prefix}{name}{'[]' if many else ''}"
            out.setdefault(sub, []).append(path)
            _paths(sub, path + ".", out)


def render() -> str:
    examples = _examples()
    paths: dict[type[BaseModel], list[str]] = {ProjectSpec: [""]}
    _paths(ProjectSpec, "", paths)
    sections = []
    for model in _models(ProjectSpec, []):
        where = paths.get(model, [""])
        title = "top level" if where == [""] else ", ".join(f"`{p}`" for p in where)
        doc = " ".join((model.__doc__ or "").split())
        lines = [f"### {model.__name__}", "", f"At {title}." + (f" {doc}" if doc and model is not ProjectSpec else ""), ""]
        lines += ["| field | type | default | description | example |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            base = where[0]
            path = [p.removesuffix("[]") for p in (base.split(".") if base else [])] + [name]
            example = next((v for raw in examples if (v := _lookup(raw, path)) is not None), None)
            if isinstance(example, dict) or _nested(field.annotation):
                shown = "see its section" if _nested(field.annotation) else _value(example)
            else:
                shown = _value(example) if example is not None else _default(field)
            description = " ".join((field.description or NOTES.get(f"{model.__name__}.{name}", "")).split()).replace("|", "\\|")
            lines.append(f"| `{name}` | {_field_type(field)} | {_default(field)} | {description} | {shown} |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def _replace(text: str, body: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{README}: the markers are missing; put {BEGIN!r} and {END!r} where the reference goes")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{body}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="rewrite the reference in projects/README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when projects/README.md differs from the model")
    args = p.parse_args(argv)
    body = render()
    if not (args.write or args.check):
        print(body)
        return 0
    current = README.read_text()
    wanted = _replace(current, body)
    if args.check:
        if current != wanted:
            print(f"{README} is out of date with workloads/project/spec.py. Fix: .venv/bin/python scripts/project_reference.py --write", file=sys.stderr)
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
