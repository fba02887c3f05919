"""projects/README.md's field reference is generated from the contract's pydantic model and kept
current: every field of every section of `ProjectSpec` is in it, with its default and an example."""

from __future__ import annotations

import re
import subprocess
import sys
import typing
from pathlib import Path

from pydantic import BaseModel

from workloads.project.spec import ProjectSpec

REPO = Path(__file__).resolve().parents[2]
README = REPO / "projects" / "README.md"


def _models(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> dict[str, type[BaseModel]]:
    seen[model.__name__] = model
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            a = stack.pop()
            if isinstance(a, type) and issubclass(a, BaseModel) and a.__name__ not in seen:
                _models(a, seen)
            stack.extend(typing.get_args(a))
    return seen


def _cells(line: str) -> list[str]:
    """A Markdown table row's cells (an escaped `\\|` stays inside its cell)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_the_reference_is_what_the_model_generates():
    done = subprocess.run([sys.executable, "scripts/project_reference.py", "--check"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"projects/README.md is stale: {done.stderr or done.stdout}"


def test_every_field_has_a_row_with_a_default_and_an_example():
    text = README.read_text()
    for name, model in _models(ProjectSpec, {}).items():
        assert f"### {name}" in text, f"projects/README.md: no section for {name}"
        section = text.split(f"### {name}", 1)[1].split("\n### ", 1)[0]
        rows = {_cells(line)[0].strip("`"): line for line in section.splitlines() if line.startswith("| `")}
        for field in model.model_fields:
            assert field in rows, f"projects/README.md {name}: no row for field {field!r}"
            cells = _cells(rows[field])
            assert len(cells) == 5 and all(cells[i] for i in (1, 2, 4)), f"projects/README.md {name}.{field}: type, default or example missing: {rows[field]}"
