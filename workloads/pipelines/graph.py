"""The pipeline every project runs, as a graph: its steps in order, what each takes from the steps
before it, and the exit status a step's process ends with.

Standard library only: the in-process runner (runner.py, behind `python -m workloads.pipeline
retrain` and `run_project`) and the Argo rendering (components/kubernetes/workflows.py: one
WorkflowTemplate per project, one Argo step per step here) read the same table, so the two can
never disagree on the steps, their order or how one is started.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK, EXIT_BAD_INPUT, EXIT_GATE, EXIT_INTERRUPTED = 0, 2, 3, 143
STEP_MODULE = "workloads.pipelines"
"""`python -m workloads.pipelines step NAME --key KEY`: one step in its own process (an Argo pod)."""


@dataclass(frozen=True)
class StepDef:
    name: str
    """The step's name: its Argo template and step, its cache folder, its lineage tags."""
    title: str
    """What it does, in a few words (the Argo UI's display name, progress lines)."""
    after: tuple[str, ...]
    """The steps whose outputs it takes (hashed into its inputs)."""
    trains: bool = False
    """The step that runs the project's training function: the GPU pool when the project asks for one,
    retried after a spot reclaim (resuming from its checkpoint with the same run key)."""


STEPS: tuple[StepDef, ...] = (
    StepDef("ingest", "ingest and tokenise", ()),
    StepDef("training-set", "frozen training set and common holdout", ("ingest",)),
    StepDef("train", "the project's training function", ("training-set",), trains=True),
    StepDef("export", "export to ONNX and parity", ("train",)),
    StepDef("evaluate", "evaluate on the common holdout, the gate", ("training-set", "export")),
    StepDef("register", "register the version and its alias", ("training-set", "train", "export", "evaluate")),
)
STEP_NAMES = tuple(s.name for s in STEPS)


def step(name: str) -> StepDef:
    for s in STEPS:
        if s.name == name:
            return s
    raise KeyError(f"no pipeline step {name!r}; steps: {', '.join(STEP_NAMES)}")


def step_argv(name: str, key: str, *, resume: bool = False) -> list[str]:
    """The command line of one step in its own process (what each Argo step runs, and the tests)."""
    step(name)
    return ["python", "-m", STEP_MODULE, "step", name, "--key", key, *(["--resume"] if resume else [])]


def _check_graph() -> None:
    seen: set[str] = set()
    for s in STEPS:
        unknown = [a for a in s.after if a not in seen]
        if unknown:
            raise ValueError(f"pipeline step {s.name!r}: after {unknown} must name earlier steps")
        seen.add(s.name)
    if sum(s.trains for s in STEPS) != 1:
        raise ValueError("pipeline: exactly one step trains")


_check_graph()
