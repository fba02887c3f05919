"""One run of a project's pipeline: its settings, its run key, its Feast root and cache, and what its
steps produced so far (in this process, or, for a step started alone in an Argo pod, read back from
the run's records in the project's storage).

Settings: the project (`--project` or SAHAB_PROJECT); SAHAB_HOME and SAHAB_MLFLOW_* (SahabSettings);
SAHAB_FEAST_* (the project's Feast root); SAHAB_TRAIN_CHECKPOINT_URI (the checkpoint root; one
folder per run key under it; local default `<home>/projects/<name>/checkpoints`);
SAHAB_SERVING_PREDICTION_LOG_URI (the prediction log to ingest; local default
`<home>/projects/<name>/serving-log`); SAHAB_RETRAIN_KEY / _REASON / _WINDOWS (set by the drift
trigger: the run key, and tags of the version).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workloads import storage
from workloads.features import frames as frozen
from workloads.pipelines.cache import CacheError, StepCache, StepRecord
from workloads.pipelines.graph import STEP_NAMES
from workloads.project.paths import local_paths
from workloads.settings import FeatureStoreSettings, SahabSettings, TrainJobSettings

if TYPE_CHECKING:
    from workloads.features.store import FeatureRepo
    from workloads.project.project import Project

Log = Callable[[str], None]
PREDICTION_LOG_VARIABLE = "SAHAB_SERVING_PREDICTION_LOG_URI"
TAG_RUN_KEY = "sahab.retrain.key"
TAG_GATE_RESULT = "sahab.gate.result"
TAG_GATE_CHECKS = "sahab.gate.checks"
TAG_LINEAGE = "sahab.lineage"
"""`sahab.lineage.<step>.inputs` / `.outputs`: the hashes of each step's cache entry (cache.py)."""


def local_settings(home: str | Path) -> SahabSettings:
    """Local-mode settings under `home`, whatever SAHAB_MLFLOW_* variables the caller's shell holds."""
    return SahabSettings(home=Path(home), mlflow_tracking_uri=None, mlflow_artifact_location=None)


def prediction_log_uri(project: Project, home: Path, given: str | None = None) -> str | None:
    """The prediction log to ingest: `given`, else SAHAB_SERVING_PREDICTION_LOG_URI (the project's
    own, as the stack renders it), else the local default when it exists."""
    uri = given or os.environ.get(PREDICTION_LOG_VARIABLE)
    if uri:
        storage.parse(uri, PREDICTION_LOG_VARIABLE)
        return uri
    local = local_paths(home, project).serving_log
    return str(local) if local.is_dir() else None


def checkpoint_root(project: Project, home: Path, given: str | None = None) -> str:
    """The project's checkpoint root: `given`, else SAHAB_TRAIN_CHECKPOINT_URI, else the local default."""
    return given or TrainJobSettings().checkpoint_uri or str(local_paths(home, project).checkpoints)


def retrain_tags(reason: str | None = None, windows: str | None = None, key: str = "") -> dict[str, str]:
    return {
        "sahab.retrain.reason": reason or os.environ.get("SAHAB_RETRAIN_REASON") or "manual",
        TAG_RUN_KEY: key,
        "sahab.retrain.windows": (windows if windows is not None else os.environ.get("SAHAB_RETRAIN_WINDOWS", ""))[:5000],
    }


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs (dotted keys reach into training.config); values are YAML scalars."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--set {item!r}: expected KEY=VALUE (e.g. --set steps=100)")
        out[name.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def check_config(project: Project, overrides: Mapping[str, Any] | None) -> None:
    """Validate training.config with the run's overrides by the function's `config_model` (when it
    declares one) before any data is read: a misspelt `--set` fails in a second, not after ingestion."""
    from workloads.training.runtime import apply_overrides

    function = project.entry_point(project.spec.training.entry_point)
    config_model = getattr(function, "config_model", None)
    if config_model is not None:
        config_model.model_validate(apply_overrides(project.spec.training.config, overrides or {}))


@dataclass(frozen=True)
class StepResult:
    """How one step of this run went: the entry it used, and whether it was skipped."""

    record: StepRecord
    skipped: bool
    reason: str = ""
    """Why it was skipped: the cache entry it reused (which run produced it)."""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "skipped": self.skipped,
            "reason": self.reason,
            "inputs": self.record.inputs_hash,
            "outputs": self.record.outputs_hash,
            "seconds": round(self.seconds, 3),
        }


class PipelineRun:
    """The state of one run (module docstring). `close()` removes its scratch folder."""

    def __init__(
        self,
        project: Project,
        home: str | Path | None = None,
        *,
        key: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        resume: bool = False,
        alias: str | None = "challenger",
        reason: str | None = None,
        windows: str | None = None,
        settings: SahabSettings | None = None,
        features: FeatureStoreSettings | None = None,
        prediction_log: str | None = None,
        checkpoint_uri: str | None = None,
        as_of: datetime | None = None,
        post_drift_since: datetime | None = None,
        use_cache: bool = True,
        log: Log = print,
    ) -> None:
        from workloads.features.store import FeatureRepo

        if settings is None:
            settings = local_settings(home) if home is not None else SahabSettings()
        self.project = project
        self.spec = project.spec
        self.home = Path(home) if home is not None else settings.home
        self.settings = settings.for_project(project)
        self.key = frozen.check_run_key(key or os.environ.get("SAHAB_RETRAIN_KEY") or frozen.new_run_key())
        self.overrides = dict(overrides or {})
        self.resume = resume
        self.alias = alias
        self.tags = retrain_tags(reason, windows, self.key)
        self.prediction_log = prediction_log
        self.checkpoint_uri = checkpoint_uri
        self.as_of = as_of
        self.post_drift_since = post_drift_since
        self.use_cache = use_cache
        self.log = log
        self.repo: FeatureRepo = FeatureRepo(project, self.home, features or FeatureStoreSettings())
        self.cache = StepCache(self.repo.uri())
        self.results: dict[str, StepResult] = {}
        self._local_files: dict[str, Path] = {}
        self._scratch = tempfile.TemporaryDirectory(prefix=f"sahab-pipeline-{self.spec.name}-")

    @property
    def scratch(self) -> Path:
        return Path(self._scratch.name)

    def close(self) -> None:
        self._scratch.cleanup()

    def record(self, step: str) -> StepRecord:
        """What `step` produced in this run: from this process, else the run's record in storage."""
        if step in self.results:
            return self.results[step].record
        record = self.cache.run_record(self.key, step)
        if record is None:
            raise CacheError(
                f"{self.spec.name}: step {step!r} of run {self.key} has not run (no {self.cache.run_uri(self.key, step)}). "
                f"Fix: run the steps in order with the same --key (python -m workloads.pipelines step {step} --key {self.key})"
            )
        return record

    def files(self, step: str) -> Path:
        """A local folder holding `step`'s files (fetched from its cache entry unless this process wrote them)."""
        if step not in self._local_files:
            self._local_files[step] = self.cache.fetch(self.record(step), self.scratch / "fetched" / step)
        return self._local_files[step]

    def keep_local(self, step: str, folder: Path) -> None:
        self._local_files[step] = folder

    def frames(self) -> frozen.TrainingFrames:
        """The run key's frozen training set (the training-set step wrote or copied it)."""
        frames = frozen.load(self.repo, self.key)
        if frames is None:
            raise CacheError(f"{self.spec.name}: run {self.key} has no frozen training set. Fix: run the training-set step with --key {self.key} first")
        return frames

    def run_id(self) -> str | None:
        """The MLflow run of this run's training (None before the train step)."""
        try:
            return str(self.record("train").values["run_id"])
        except CacheError:
            return None

    def known_records(self) -> dict[str, StepRecord]:
        """The records of every step of this run so far (this process's, then the run's in storage)."""
        out = {}
        for name in STEP_NAMES:
            try:
                out[name] = self.record(name)
            except CacheError:
                continue
        return out

    def lineage_tags(self) -> dict[str, str]:
        """`sahab.lineage.<step>.inputs` / `.outputs` of every step of this run so far, and where the cache is."""
        tags = {f"{TAG_LINEAGE}.cache": self.cache.cache_uri, f"{TAG_LINEAGE}.run": self.cache.run_folder(self.key)}
        for name, record in self.known_records().items():
            tags[f"{TAG_LINEAGE}.{name}.inputs"] = record.inputs_hash
            tags[f"{TAG_LINEAGE}.{name}.outputs"] = record.outputs_hash
        return tags
