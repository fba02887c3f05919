"""The control catalogue: `compliance/controls/<framework>.yaml`, one file per law or standard,
validated into frozen models before anything is assessed.

A control names its source (law, article, the official text it cites and where that citation was
checked), what the law requires, what the platform does about it, and its evidence: gate policies
(`<pack>/<policy>`, the names the packs register), deployability finding names, verify check ids,
project rules (issue 22's names; `planned` until a check emits them) and, where nothing automated
proves it, `manual`: what the operator must show. A bad file stops with one line per problem,
naming the file and the field path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from workloads.errors import SahabError

# The checkout (sahab.gate.model.REPO's rule; not imported: the gate imports this package for its report section).
REPO = Path(__file__).resolve().parents[2]
CONTROLS_DIR = REPO / "compliance" / "controls"

# Issue 22's rule names (personal-data marking and tokenisation, explanations): a control may cite
# them before they exist; the assessment reports them `planned` until a check of that name runs.
PROJECT_RULES = ("project-pii-marked", "project-pii-tokenised", "project-explanations")
ProjectRule = Literal["project-pii-marked", "project-pii-tokenised", "project-explanations"]
DataClass = Literal["public", "internal", "confidential", "restricted", "health"]  # stacks/spec/common.py DataClass

_ID = r"^[a-z][a-z0-9.-]*$"
_NAME = r"^[a-z][a-z0-9-]*$"
_GATE_REF = r"^[a-z][a-z0-9-]*/[a-z][a-z0-9-]*$"


class CatalogueError(SahabError):
    """The control catalogue does not load (bad YAML, a missing field, a duplicate id). Exit 2."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Model):
    """Where a control comes from."""

    article: str = Field(min_length=1, description="Article, section or Annex control (`Art. 22 and Art. 23`).")
    citation: str = Field(pattern=r"^https://", description="The official text (an https address).")
    checked: str = Field(min_length=10, description="When and how the citation was checked.")


class Evidence(_Model):
    """What proves a control: automated checks by kind, or what the operator must show."""

    gate: tuple[str, ...] = ()
    deployability: tuple[str, ...] = ()
    verify: tuple[str, ...] = ()
    project: tuple[ProjectRule, ...] = ()
    manual: str | None = Field(default=None, min_length=10)

    @field_validator("gate")
    @classmethod
    def _gate_refs(cls, refs: tuple[str, ...]) -> tuple[str, ...]:
        import re

        for ref in refs:
            if not re.match(_GATE_REF, ref):
                raise ValueError(f"{ref!r} is not `<pack>/<policy>` (e.g. uae-residency/aws-region-allowed)")
        return refs

    @field_validator("deployability", "verify")
    @classmethod
    def _names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        import re

        for name in names:
            if not re.match(_NAME, name):
                raise ValueError(f"{name!r} is not a check name (lower-case words joined by '-')")
        if len(set(names)) != len(names):
            raise ValueError(f"listed twice: {sorted({n for n in names if names.count(n) > 1})}")
        return names

    @model_validator(mode="after")
    def _something(self) -> Evidence:
        if not (self.automated or self.project or self.manual):
            raise ValueError("a control needs evidence: gate, deployability, verify or project checks, or `manual` (what the operator must show)")
        return self

    @property
    def automated(self) -> tuple[str, ...]:
        return self.gate + self.deployability + self.verify


class Control(_Model):
    id: str = Field(pattern=_ID, description="Unique across the catalogue (`pdpl-transfer`).")
    title: str = Field(min_length=5)
    source: Source
    requirement: str = Field(min_length=10, description="What the law asks, paraphrased.")
    implementation: str = Field(min_length=10, description="What the platform does about it.")
    evidence: Evidence


class Applicability(_Model):
    """Which environments a framework applies to (absent: all)."""

    data_classification: tuple[DataClass, ...] = Field(min_length=1)


class Framework(_Model):
    id: str = Field(pattern=_NAME, description="The file's name without .yaml.")
    order: int = Field(default=100, ge=0, description="Where reports list it (the UAE PDPL first).")
    title: str = Field(min_length=2, description="Short name shown in reports (`UAE PDPL`).")
    law: str = Field(min_length=5, description="The instrument's full name.")
    official_text: str = Field(pattern=r"^https://")
    checked: str = Field(min_length=10)
    applies_to: Applicability | None = None

    def applies(self, data_classification: str | None) -> bool:
        return self.applies_to is None or data_classification in self.applies_to.data_classification


class FrameworkFile(_Model):
    framework: Framework
    controls: tuple[Control, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> FrameworkFile:
        ids = [c.id for c in self.controls]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"control ids used twice: {dupes}")
        return self


class Catalogue(_Model):
    frameworks: tuple[FrameworkFile, ...]

    def controls(self) -> list[tuple[Framework, Control]]:
        return [(f.framework, c) for f in self.frameworks for c in f.controls]

    def control(self, control_id: str) -> tuple[Framework, Control]:
        for framework, control in self.controls():
            if control.id == control_id:
                return framework, control
        raise KeyError(control_id)


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_file(path: Path) -> FrameworkFile:
    """One framework file, validated; CatalogueError names the file and each bad field."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise CatalogueError(f"{path}: cannot be read as YAML: {e}") from None
    try:
        parsed = FrameworkFile.model_validate(doc)
    except ValidationError as e:
        lines = [f"  - {_path(err['loc']) or '(top level)'}: {err['msg']}" for err in e.errors()]
        raise CatalogueError(f"{path}: the control catalogue is invalid ({len(lines)} problem(s)):\n" + "\n".join(lines)) from None
    if parsed.framework.id != path.stem:
        raise CatalogueError(
            f"{path}: framework.id {parsed.framework.id!r} differs from the file name. Fix: name the file {parsed.framework.id}.yaml or change the id"
        )
    return parsed


def load_catalogue(directory: Path = CONTROLS_DIR) -> Catalogue:
    """Every `<framework>.yaml` under `directory`, in name order; control ids unique across all."""
    files = sorted(Path(directory).glob("*.yaml"))
    if not files:
        raise CatalogueError(f"{directory}: no control catalogue (*.yaml). Fix: run from a Sahab checkout (compliance/controls/)")
    frameworks = tuple(sorted((load_file(p) for p in files), key=lambda f: (f.framework.order, f.framework.id)))
    seen: dict[str, str] = {}
    for f in frameworks:
        for c in f.controls:
            if c.id in seen:
                raise CatalogueError(f"{directory}: control id {c.id!r} is used by {seen[c.id]} and {f.framework.id}. Fix: make control ids unique")
            seen[c.id] = f.framework.id
    return Catalogue(frameworks=frameworks)
