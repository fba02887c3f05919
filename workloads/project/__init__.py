"""Model projects: the contract (`project.yaml`, spec.py), loading them and the team's code
(project.py), and what a training function receives (context.py). The runtime reads a project,
never constants: see projects/README.md for the field reference."""

from workloads.project.context import CheckpointHook, Interrupted, Split, TrainContext
from workloads.project.project import PROJECT_VARIABLE, Project, discover, from_env, load_project, resolve
from workloads.project.spec import METRICS, PROJECT_FILE, ProjectError, ProjectSpec, parse_duration, validate_project

__all__ = [
    "METRICS",
    "PROJECT_FILE",
    "PROJECT_VARIABLE",
    "CheckpointHook",
    "Interrupted",
    "Project",
    "ProjectError",
    "ProjectSpec",
    "Split",
    "TrainContext",
    "discover",
    "from_env",
    "load_project",
    "parse_duration",
    "resolve",
    "validate_project",
]
