"""The runner: a step with caching, and the whole pipeline in this process.

`execute(run, name)`: hash the step's inputs; when the cache holds an entry for them (and it is
still valid), skip the step and take its outputs; else run it and store what it produced. Either
way the run records which entry it used (the next step, maybe in another pod, reads it there),
and once the run has an MLflow run, every step that ran sets the lineage tags on it
(`sahab.lineage.<step>.inputs` / `.outputs`). Only rank 0 writes (under a launcher every rank
runs the same command; the others read).

`run_all(run)`: the steps of graph.py in order; stops at an interrupted training (the caller
exits 143 and the same key resumes) or, on a rank other than 0, after training.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Literal

from workloads.pipelines.cache import digest
from workloads.pipelines.context import PipelineRun, StepResult
from workloads.pipelines.graph import STEP_NAMES
from workloads.pipelines.steps import STEPS, Follower, StepInterrupted

Status = Literal["done", "interrupted", "follower"]


def inputs_hash(name: str, inputs: dict) -> str:
    return digest({"step": name, "inputs": inputs})


def _rank_zero() -> bool:
    from workloads.registry.tracking import is_rank_zero

    return is_rank_zero()


def execute(run: PipelineRun, name: str) -> StepResult:
    """Run (or skip) one step of `run`; see the module docstring."""
    step = STEPS[name]
    started = time.monotonic()
    inputs = step.inputs(run)
    key = inputs_hash(name, inputs)
    record = run.cache.lookup(name, key) if run.use_cache else None
    if record is not None and step.valid is not None and not step.valid(run, record):
        run.log(f"step {name}: the cache entry {key[:12]} no longer holds (what it points at is gone): running it again")
        record = None
    writer = _rank_zero()
    if record is not None:
        if step.on_hit is not None:
            step.on_hit(run, record)
        origin = record.info.get("key", "?")
        result = StepResult(record, True, f"cache: inputs {key[:12]} done by run {origin} at {record.info.get('stored_at', '?')}", time.monotonic() - started)
        run.log(f"step {name}: skipped, same inputs as run {origin} (inputs {key[:12]}, outputs {record.outputs_hash[:12]})")
    else:
        out = run.scratch / "out" / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        values, info = step.execute(run, inputs, out)
        info = {**info, "key": run.key}
        if writer:
            record = run.cache.store(name, key, inputs, values, out, info)
            if step.fixed_point is not None:
                run.cache.alias(record, inputs_hash(name, step.fixed_point(inputs, values)))
        else:
            from workloads.pipelines.cache import StepRecord

            record = StepRecord(name, key, values, {}, info)
        result = StepResult(record, False, "", time.monotonic() - started)
        run.log(f"step {name}: done in {result.seconds:.1f} s (inputs {key[:12]}, outputs {record.outputs_hash[:12]})")
    run.results[name] = result
    if writer:
        run.cache.mark_run(run.key, record)
        if not result.skipped:
            _tag_lineage(run)
    return result


def _tag_lineage(run: PipelineRun) -> None:
    run_id = run.run_id()
    if run_id is None:
        return
    from workloads.registry import tracking

    tracking.set_tags(run_id, run.lineage_tags(), settings=run.settings)


@dataclass
class PipelineResult:
    status: Status
    results: dict[str, StepResult] = field(default_factory=dict)
    stopped_at: int = 0
    """The training step the function reached (interrupted, or a follower rank)."""

    @property
    def skipped(self) -> list[str]:
        return [name for name, r in self.results.items() if r.skipped]

    @property
    def ran(self) -> list[str]:
        return [name for name, r in self.results.items() if not r.skipped]


def run_all(run: PipelineRun, steps: tuple[str, ...] = STEP_NAMES) -> PipelineResult:
    """The steps in order (module docstring)."""
    result = PipelineResult("done", run.results)
    for name in steps:
        try:
            execute(run, name)
        except StepInterrupted as stopped:
            result.status, result.stopped_at = "interrupted", stopped.step
            return result
        except Follower as follower:
            result.status, result.stopped_at = "follower", int(follower.args[0]) if follower.args else 0
            return result
    if result.skipped:
        run.log(f"pipeline {run.spec.name} run {run.key}: {len(result.skipped)} of {len(steps)} steps skipped (cache): {', '.join(result.skipped)}")
    return result
