"""One pipeline per project, defined once: its steps (graph.py, steps.py), step caching and the
hand-over between steps through the project's storage (cache.py), the in-process runner
(runner.py: `python -m workloads.pipeline retrain`, `run_project`) and one step in its own process
(`python -m workloads.pipelines step NAME --key KEY`: each Argo step, components/kubernetes/workflows.py).

Light at import: the graph only; the steps import the ML stack when they run.
"""

from workloads.pipelines.graph import EXIT_BAD_INPUT, EXIT_GATE, EXIT_INTERRUPTED, EXIT_OK, STEP_NAMES, STEPS, StepDef, step_argv

__all__ = ["EXIT_BAD_INPUT", "EXIT_GATE", "EXIT_INTERRUPTED", "EXIT_OK", "STEPS", "STEP_NAMES", "StepDef", "step_argv"]
