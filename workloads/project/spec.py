"""The project contract: `projects/<name>/project.yaml`, validated into a frozen `ProjectSpec`.

A project is everything the platform needs to take one team's model through the whole loop
(features, training, export, registry, serving, A/B, monitoring, retraining), declared once:

    name / team           the model's name (registry, MLflow experiment, Kubernetes names) and owner
    entity / timestamp    the join key of every row and its event time
    label                 the column to predict and the task (binary, multiclass, regression)
    features              typed columns (numeric / categorical, nullable), grouped into feature views
    sources               where batch features and labels come from (a path, s3://, abfss://), or a
                          generator for examples
    training              the framework and the team's `module:function`, its config and resources
    evaluation            the metrics and the promotion gate, judged on one common holdout
    serving / experiment  replicas and resources; the outcome the A/B test measures and its settings
    monitoring            drift and model-performance settings

Nothing here imports more than pydantic and PyYAML: the Pulumi program reads projects too.
`load_project(folder)` returns a `Project` or raises `ProjectError` with one line per bad field,
each naming the file, the field's path and what is allowed (the environment spec's style).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError, field_validator, model_validator

from workloads.errors import SahabError

Task = Literal["binary", "multiclass", "regression"]
Framework = Literal["torch", "lightgbm", "xgboost", "sklearn"]
PiiKind = Literal["emirates_id", "phone", "email", "name", "iban", "free_text"]
"""Personal-data kinds a feature or the entity may be marked with (acted on by the platform's
pseudonymisation; validated here)."""

PROJECT_FILE = "project.yaml"
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_COLUMN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_ENTRY_POINT = re.compile(r"^(?P<module>[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*):(?P<function>[A-Za-z_][A-Za-z0-9_]*)$")
_DURATION = re.compile(r"^(?P<n>\d+(\.\d+)?)\s*(?P<unit>s|min|h|d|w)$")
_UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86_400, "w": 604_800}
# Columns the platform adds to its own tables (prediction log, label store): a feature may not take them.
RESERVED_COLUMNS = frozenset(
    {
        "request_id",
        "record",
        "ts",
        "key",
        "experiment_id",
        "variant",
        "model_version",
        "score",
        "prediction",
        "probabilities",
        "mode",
        "label_arrival_ts",
        "source",
    }
)
METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "logloss", "ece", "brier", "precision", "recall", "positive_rate"),
    "multiclass": ("logloss", "accuracy", "macro_f1"),
    "regression": ("rmse", "mae", "r2"),
}
HIGHER_IS_BETTER = {"auc": True, "precision": True, "recall": True, "accuracy": True, "macro_f1": True, "r2": True}
"""Metrics not listed here are lower-is-better (logloss, ece, brier, rmse, mae, positive_rate)."""
DEFAULT_PRIMARY = {"binary": "auc", "multiclass": "logloss", "regression": "rmse"}


def parse_duration(value: Any) -> timedelta:
    """`30s`, `15min`, `1h`, `2d`, `1w` (or a number of seconds, or a timedelta) -> timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration; use a number and a unit: 30s, 15min, 1h, 2d, 1w")
    return timedelta(seconds=float(match.group("n")) * _UNITS[match.group("unit")])


def format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit in ("w", "d", "h", "min"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            "use 3-32 lower-case letters, digits or '-', starting with a letter (it names the model, its Kubernetes objects and its storage prefixes)"
        )
    return value


def _check_column(value: str) -> str:
    if not _COLUMN.match(value) or keyword.iskeyword(value):
        raise ValueError("a column name is 1-63 lower-case letters, digits or '_', starting with a letter or '_' (not a Python keyword)")
    return value


Name = Annotated[str, BeforeValidator(_check_name)]
Column = Annotated[str, BeforeValidator(_check_column)]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EntitySpec(Model):
    """What every row is about (an account, a courier): the join key of features, labels and the A/B unit."""

    name: Column = Field(description="Entity name in the feature store (e.g. `courier`).")
    key: Column = Field(description="Its key column in every source, label and request (e.g. `courier_id`).")
    dtype: Literal["int64", "string"] = Field(default="int64", description="Type of the key column.")
    description: str = ""
    pii: PiiKind | None = Field(default=None, description="The key is personal data of this kind (pseudonymised before it is stored).")


class FeatureSpec(Model):
    """One model input. Numeric features are float64 (NaN when missing), categorical ones strings (null when missing)."""

    name: Column
    type: Literal["numeric", "categorical"]
    nullable: bool = Field(default=True, description="Missing values may occur (served as null); false: a request without it is refused.")
    description: str = ""
    pii: PiiKind | None = Field(default=None, description="Personal data of this kind (pseudonymised before it is stored).")
    pii_exempt: str | None = Field(default=None, description="Why a column that looks like personal data is not (the gate asks for a reason).")
    pii_text: Literal["mask", "drop"] | None = Field(
        default=None,
        description="pii free_text only: mask (each UAE identifier found is replaced by its token; default) or drop (stored as null).",
    )


class FeatureViewSpec(Model):
    """Features that come from one source table and expire together."""

    name: Column
    features: tuple[Column, ...] = Field(min_length=1)
    ttl: Duration = Field(default=timedelta(days=2), description="A feature row older than this is not joined (stale values never pass as current).")
    description: str = ""


class LabelSpec(Model):
    column: Column = Field(description="The label column in the label source.")
    task: Task
    classes: tuple[str, ...] = Field(default=(), description="multiclass: every class, in the order of the model's outputs (at least 3). Unused otherwise.")
    description: str = ""

    @model_validator(mode="after")
    def _classes(self) -> LabelSpec:
        if self.task == "multiclass":
            if len(self.classes) < 3:
                raise ValueError("classes: a multiclass label needs its classes listed (at least 3, in output order); use task: binary for two")
            if len(set(self.classes)) != len(self.classes):
                raise ValueError(f"classes: listed twice: {sorted({c for c in self.classes if self.classes.count(c) > 1})}")
        elif self.classes:
            raise ValueError(f"classes: only a multiclass label lists classes (task is {self.task}); a binary label is 0/1")
        return self


class SourcesSpec(Model):
    """Where the project's data comes from. Ingestion copies it into the project's offline store."""

    features: str | None = Field(default=None, description="Batch feature rows (Parquet file or folder): a path relative to the project, s3:// or abfss://.")
    labels: str | None = Field(default=None, description="Label rows (entity key, event timestamp, label, optional arrival time): a path, s3:// or abfss://.")
    label_arrival: Column | None = Field(default=None, description="Column of the label source saying when each label became known; default: the event time.")
    generator: str | None = Field(default=None, description="`module:function` in the project folder that writes example data (examples and tests only).")

    @field_validator("generator")
    @classmethod
    def _entry(cls, value: str | None) -> str | None:
        if value is not None and not _ENTRY_POINT.match(value):
            raise ValueError(f"{value!r} is not `module:function` (e.g. `data:generate`, a function in data.py of the project folder)")
        return value


class ResourcesSpec(Model):
    cpu: float = Field(default=2, gt=0, le=256, description="CPU cores requested.")
    memory_gib: float = Field(default=8, gt=0, le=4096, description="Memory requested (GiB).")
    gpus: int = Field(default=0, ge=0, le=8, description="GPUs (nvidia.com/gpu); needs a GPU node pool.")


class TrainingSpec(Model):
    framework: Framework
    entry_point: str = Field(default="train:train", description="`module:function` in the project folder: `def train(ctx: TrainContext) -> model`.")
    config: dict[str, Any] = Field(default_factory=dict, description="Passed to the function as `ctx.config` (overridable: `--set key=value`).")
    window: Duration | None = Field(default=None, description="Train on the labels of this sliding window before the holdout (e.g. 14d); default: all of them.")
    val_fraction: float = Field(
        default=0.2, gt=0, lt=0.9, description="Newest share of the training window held out as `ctx.validation` (early stopping, tuning)."
    )
    seed: int = 0
    node_pool: str | None = Field(default=None, description="GPU node pool the training Job runs on (the environment's gpu_pools); default: CPU nodes.")
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    checkpoint_every_steps: int = Field(default=50, ge=1, description="Hint to the training function (`ctx.checkpoint.every_steps`).")

    @field_validator("entry_point")
    @classmethod
    def _entry(cls, value: str) -> str:
        if not _ENTRY_POINT.match(value):
            raise ValueError(f"{value!r} is not `module:function` (e.g. `train:train`, a function in train.py of the project folder)")
        return value

    @model_validator(mode="after")
    def _gpus(self) -> TrainingSpec:
        if self.resources.gpus and self.framework != "torch":
            raise ValueError(f"resources.gpus: {self.framework} trains on CPUs here; GPUs are for framework: torch")
        return self


class MetricBound(Model):
    metric: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _one_bound(self) -> MetricBound:
        if (self.min is None) == (self.max is None):
            raise ValueError(f"{self.metric}: give exactly one of min or max")
        return self


class GateSpec(Model):
    """What a new version must show on the common holdout before it may serve (as challenger or champion)."""

    primary: MetricBound
    guardrails: tuple[MetricBound, ...] = ()
    max_regression: float = Field(
        default=0.005, ge=0, description="The new version's primary metric may trail the champion's, on the same holdout, by at most this much."
    )
    max_int8_delta: float = Field(default=0.01, ge=0, description="int8 is kept only when its primary metric is within this of fp32's (else fp32 only).")


class EvaluationSpec(Model):
    holdout: Duration = Field(
        default=timedelta(days=2), description="The most recent labelled window: excluded from training, and every version compared on it."
    )
    metrics: tuple[str, ...] = Field(default=(), description="Metrics logged per version; default: the task's (see METRICS).")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="binary: decision threshold for precision / recall.")
    gate: GateSpec


class OutcomeSpec(Model):
    """The per-decision outcome the A/B test measures, reported through /feedback (higher is better)."""

    name: str = Field(default="outcome", min_length=1, max_length=64)
    description: str = ""
    min: float = 0.0
    max: float = 1.0

    @model_validator(mode="after")
    def _range(self) -> OutcomeSpec:
        if self.min >= self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class ServingSpec(Model):
    replicas: int = Field(default=2, ge=1, le=100, description="Pods at rest (HPA minimum); 2 or more keeps serving through a node loss.")
    max_replicas: int = Field(default=6, ge=1, le=500, description="Pods at peak (HPA maximum).")
    resources: ResourcesSpec = Field(default_factory=lambda: ResourcesSpec(cpu=1, memory_gib=2))
    precision: Literal["fp32", "int8"] = "fp32"
    outcome: OutcomeSpec = Field(default_factory=OutcomeSpec)

    @model_validator(mode="after")
    def _sizes(self) -> ServingSpec:
        if self.max_replicas < self.replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) is below replicas ({self.replicas})")
        if self.resources.gpus:
            raise ValueError("resources.gpus: serving runs on CPUs (onnxruntime); remove gpus")
        return self


class ExperimentSpec(Model):
    """The A/B test between champion and challenger (the key is the unit; see workloads/serving/abtest.py)."""

    challenger_weight: float = Field(default=0.1, ge=0.0, le=0.5, description="Share of keys routed to the challenger.")
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    min_units: int = Field(default=200, ge=2, description="Keys per arm before anything but `keep` is decided.")
    unit_window: Duration = Field(
        default=timedelta(days=1), description="A key's unit is the mean outcome of its events within this window after its first exposure."
    )
    max_label_delay: Duration = Field(
        default=timedelta(days=7), description="Longest an outcome may take to arrive; a unit is sealed after unit_window + this."
    )
    max_duration: Duration = Field(default=timedelta(days=30), description="An experiment still undecided after this ends as `keep champion`.")
    rollback: bool = Field(default=True, description="Roll back a significantly worse challenger (or one that breaks a guardrail) without asking.")
    max_error_rate_increase: float = Field(default=0.01, ge=0, le=1, description="Guardrail: challenger error rate above champion's + this stops it.")
    max_latency_ratio: float = Field(default=1.5, ge=1, description="Guardrail: challenger p99 latency above champion's x this stops it.")


class DriftSpec(Model):
    window: Duration = Field(default=timedelta(hours=1))
    reference: Literal["training", "seasonal", "rolling"] = Field(
        default="seasonal",
        description="Compare a window with the training rows of the same hour of day (seasonal), all training rows, or recent live windows (rolling).",
    )
    alpha: float = Field(default=0.05, gt=0, lt=0.5, description="False-alarm budget per `period` (spent over its windows).")
    period: Duration = Field(default=timedelta(days=30))
    min_psi: float = Field(default=0.1, ge=0, description="Effect-size gate: a significant shift below this PSI is not drift.")
    cooldown: Duration = Field(default=timedelta(hours=6))


class PerformanceSpec(Model):
    metric: str | None = Field(default=None, description="Metric watched per window once labels mature; default: the gate's primary.")
    window: Duration = Field(default=timedelta(days=1))
    label_maturity: Duration = Field(default=timedelta(days=2), description="A window is judged once this long has passed since it ended (labels arrive late).")
    min_labels: int = Field(default=200, ge=10)
    max_degradation: float = Field(default=0.05, ge=0, description="Retrain when the metric is worse than at registration (on the holdout) by more than this.")


class MonitoringSpec(Model):
    drift: DriftSpec = Field(default_factory=DriftSpec)
    performance: PerformanceSpec = Field(default_factory=PerformanceSpec)
    schedule: str = Field(default="0 * * * *", description="Cron schedule of the monitoring job.")


class ProjectSpec(Model):
    """One model project, as written in `projects/<name>/project.yaml`."""

    name: Name
    team: Name = Field(description="Owning team (its namespace `sahab-team-<team>`, quotas and roles).")
    description: str = ""
    entity: EntitySpec
    timestamp: Column = Field(default="event_timestamp", description="Event-time column of every source and label.")
    label: LabelSpec
    features: tuple[FeatureSpec, ...] = Field(min_length=1)
    feature_views: tuple[FeatureViewSpec, ...] = Field(min_length=1)
    sources: SourcesSpec = Field(default_factory=SourcesSpec)
    training: TrainingSpec
    evaluation: EvaluationSpec
    serving: ServingSpec = Field(default_factory=ServingSpec)
    experiment: ExperimentSpec = Field(default_factory=ExperimentSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)

    @model_validator(mode="after")
    def _cross_field(self) -> ProjectSpec:
        problems = list(_problems(self))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # --- what the runtime reads ---

    @property
    def numeric(self) -> tuple[str, ...]:
        """Numeric features, in declaration order (the model's `numeric` input)."""
        return tuple(f.name for f in self.features if f.type == "numeric")

    @property
    def categorical(self) -> tuple[str, ...]:
        """Categorical features, in declaration order (the model's `categorical` input)."""
        return tuple(f.name for f in self.features if f.type == "categorical")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    @property
    def metrics(self) -> tuple[str, ...]:
        return self.evaluation.metrics or METRICS[self.label.task]

    @property
    def primary_metric(self) -> str:
        return self.evaluation.gate.primary.metric

    @property
    def feast_project(self) -> str:
        """Feast project name (letters, digits and '_')."""
        return self.name.replace("-", "_")

    def feature(self, name: str) -> FeatureSpec:
        return next(f for f in self.features if f.name == name)


def _problems(spec: ProjectSpec) -> Iterator[str]:
    names = [f.name for f in spec.features]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        yield f"features: {dup!r} is declared twice"
    own = {spec.entity.key: "entity.key", spec.timestamp: "timestamp", spec.label.column: "label.column"}
    if len(set(own)) != len(own):
        yield f"entity.key, timestamp and label.column must be three different columns (got {list(own)})"
    for i, f in enumerate(spec.features):
        if f.name in own:
            yield f"features[{i}].name: {f.name!r} is the project's {own[f.name]}; a feature must be another column"
        if f.name in RESERVED_COLUMNS:
            yield f"features[{i}].name: {f.name!r} is a column the platform adds to its own tables; rename the feature (reserved: {sorted(RESERVED_COLUMNS)})"
        if f.pii and f.pii_exempt:
            yield f"features[{i}]: pii and pii_exempt contradict each other; keep one"
        if f.pii_text is not None and f.pii != "free_text":
            yield f"features[{i}].pii_text: only a `pii: free_text` feature is masked or dropped; remove pii_text or set pii: free_text"
    seen: dict[str, str] = {}
    for i, view in enumerate(spec.feature_views):
        for j, name in enumerate(view.features):
            if name not in names:
                yield f"feature_views[{i}].features[{j}]: {name!r} is not one of the features {names}"
            elif name in seen:
                yield f"feature_views[{i}].features[{j}]: {name!r} is already in view {seen[name]!r}; a feature belongs to one view"
            else:
                seen[name] = view.name
    missing = [n for n in names if n not in seen]
    if missing:
        yield f"feature_views: {missing} belong to no view; list each feature in one view"
    views = [v.name for v in spec.feature_views]
    for dup in sorted({v for v in views if views.count(v) > 1}):
        yield f"feature_views: {dup!r} is declared twice"
    task = spec.label.task
    allowed = METRICS[task]
    for path, metric in (
        ("evaluation.gate.primary.metric", spec.evaluation.gate.primary.metric),
        *((f"evaluation.gate.guardrails[{i}].metric", g.metric) for i, g in enumerate(spec.evaluation.gate.guardrails)),
        *((f"evaluation.metrics[{i}]", m) for i, m in enumerate(spec.evaluation.metrics)),
        *((("monitoring.performance.metric", spec.monitoring.performance.metric),) if spec.monitoring.performance.metric else ()),
    ):
        if metric not in allowed:
            yield f"{path}: {metric!r} is not a {task} metric; choose one of {list(allowed)}"
    if spec.training.window is not None and spec.training.window <= spec.evaluation.holdout:
        yield f"training.window: {format_duration(spec.training.window)} must be longer than evaluation.holdout ({format_duration(spec.evaluation.holdout)})"


class ProjectError(SahabError, ValueError):
    """A project that cannot be used: `problems` holds one '<file>: <path>: what is wrong' line each."""

    exit_code = 2

    def __init__(self, problems: list[str], source: str):
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is invalid ({len(problems)} problem{'s' * (len(problems) != 1)}):\n{lines}")


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-") or part in ("tagged-union", "[key]"):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def validate_project(raw: Any, source: str = PROJECT_FILE) -> ProjectSpec:
    """Validate a raw project object; raise ProjectError naming every bad field (source: the file, for messages)."""
    if not isinstance(raw, dict):
        raise ProjectError([f"expected a mapping of project settings, got {type(raw).__name__}"], source)
    try:
        return ProjectSpec.model_validate(raw)
    except ValidationError as exc:
        problems: list[str] = []
        for err in exc.errors(include_url=False):
            path = _path(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "value_error" and not err["loc"]:
                problems.extend(msg.splitlines())
                continue
            if err["type"] == "extra_forbidden":
                problems.append(f"{path}: unknown key; check the spelling (the fields are in workloads/project/spec.py and projects/README.md)")
                continue
            shown = err.get("input")
            value = "" if isinstance(shown, dict) or err["type"] == "missing" else f" (got {shown!r})"
            if err["type"] == "value_error" and "\n" not in msg and ":" in msg.split(" ", 1)[0]:
                problems.append(f"{path}.{msg}" if path else msg)  # a nested cross-field line names its own field
            else:
                problems.append(f"{path or '<root>'}: {msg}{value}")
        raise ProjectError(problems, source) from None
