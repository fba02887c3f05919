"""A loaded project: its validated spec, its folder, and the team's code in it.

    project = load_project("projects/delivery-time")        # or resolve("delivery-time")
    project.spec.label.task                                  # "regression"
    train = project.entry_point(project.spec.training.entry_point)

The team's modules are imported from the project folder under a package name of their own
(`sahab_project_<name>`), so two projects may both have a `train.py` and neither shadows the
platform's modules. `SAHAB_PROJECT` (a folder, or a name under `SAHAB_PROJECTS_DIR`, default
`projects/`) names the project of a workload process; `from_env()` reads it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from workloads.project.spec import _ENTRY_POINT, PROJECT_FILE, ProjectError, ProjectSpec, validate_project

PROJECT_VARIABLE = "SAHAB_PROJECT"
PROJECTS_DIR_VARIABLE = "SAHAB_PROJECTS_DIR"
DEFAULT_PROJECTS_DIR = Path("projects")


@dataclass(frozen=True)
class Project:
    spec: ProjectSpec
    folder: Path
    """The project folder (absolute): project.yaml and the team's code."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def file(self) -> Path:
        return self.folder / PROJECT_FILE

    @property
    def package(self) -> str:
        """The import package of the team's modules (`sahab_project_<name>`)."""
        return "sahab_project_" + self.spec.name.replace("-", "_")

    def module(self, dotted: str) -> ModuleType:
        """Import `dotted` (e.g. `train`, `models.mlp`) from the project folder."""
        if self.package not in sys.modules:
            spec = importlib.util.spec_from_file_location(self.package, self.folder / "__init__.py", submodule_search_locations=[str(self.folder)])
            if spec is None or spec.loader is None:
                raise ProjectError([f"cannot make an import package of {self.folder}"], str(self.file))
            package = importlib.util.module_from_spec(spec)
            sys.modules[self.package] = package
            if (self.folder / "__init__.py").exists():
                spec.loader.exec_module(package)
        name = f"{self.package}.{dotted}"
        path = self.folder.joinpath(*dotted.split(".")).with_suffix(".py")
        if not path.exists():
            raise ProjectError(
                [f"module {dotted!r}: no file {path.relative_to(self.folder)} in the project folder. Fix: create it or correct the entry point"], str(self.file)
            )
        try:
            return importlib.import_module(name)
        except Exception as exc:
            raise ProjectError([f"module {dotted!r} ({path.relative_to(self.folder)}) fails to import: {type(exc).__name__}: {exc}"], str(self.file)) from exc

    def entry_point(self, reference: str, field: str = "training.entry_point") -> Callable[..., Any]:
        """The function `module:function` names, imported from the project folder."""
        match = _ENTRY_POINT.match(reference)
        if not match:
            raise ProjectError([f"{field}: {reference!r} is not `module:function`"], str(self.file))
        module = self.module(match.group("module"))
        function = getattr(module, match.group("function"), None)
        if not callable(function):
            raise ProjectError(
                [
                    f"{field}: {module.__name__.removeprefix(self.package + '.')}.py has no function {match.group('function')!r}. Fix: define it or correct {field}"
                ],
                str(self.file),
            )
        return function


def load_project(folder: str | Path) -> Project:
    """Read and validate `<folder>/project.yaml`; ProjectError names the file and every bad field."""
    folder = Path(folder).expanduser().resolve()
    file = folder / PROJECT_FILE
    if not file.is_file():
        hint = " (it is a file: give its folder)" if folder.is_file() else ""
        raise ProjectError([f"no {PROJECT_FILE} in {folder}{hint}. Fix: point at a project folder, or create one with `sahab project new NAME`"], str(file))
    try:
        raw = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ProjectError([f"not valid YAML: {exc}"], str(file)) from None
    spec = validate_project(raw, source=str(file))
    if spec.name != folder.name:
        raise ProjectError([f"name: {spec.name!r} differs from the folder's name {folder.name!r}. Fix: rename one so they agree"], str(file))
    return Project(spec, folder)


def projects_dir() -> Path:
    return Path(os.environ.get(PROJECTS_DIR_VARIABLE) or DEFAULT_PROJECTS_DIR)


def resolve(name_or_folder: str | Path) -> Project:
    """A project by folder, or by name under SAHAB_PROJECTS_DIR (default `projects/`)."""
    candidate = Path(name_or_folder).expanduser()
    if (candidate / PROJECT_FILE).is_file():
        return load_project(candidate)
    by_name = projects_dir() / str(name_or_folder)
    if (by_name / PROJECT_FILE).is_file():
        return load_project(by_name)
    known = ", ".join(p.name for p in discover()) or "none"
    raise ProjectError(
        [f"no project {str(name_or_folder)!r} (a folder with {PROJECT_FILE}, or a name under {projects_dir()}/; known: {known})"], str(name_or_folder)
    )


def discover(root: str | Path | None = None) -> list[Project]:
    """Every project under `root` (default SAHAB_PROJECTS_DIR or `projects/`), sorted by name."""
    root = Path(root) if root is not None else projects_dir()
    if not root.is_dir():
        return []
    return [load_project(p.parent) for p in sorted(root.glob(f"*/{PROJECT_FILE}"))]


def from_env() -> Project:
    """The project of this workload process: SAHAB_PROJECT (a folder or a name)."""
    value = os.environ.get(PROJECT_VARIABLE)
    if not value:
        raise ProjectError([f"{PROJECT_VARIABLE} is not set. Fix: set it to the project's folder (projects/<name>) or its name"], PROJECT_VARIABLE)
    return resolve(value)
