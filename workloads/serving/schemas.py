"""Request and response schemas of the scoring service, built from the project (`scoring_schemas`),
and the control plane's bodies.

A record carries the project's typed features (project.yaml `features:`), strictly: a number or
null for a numeric feature, a string or null for a categorical one; a feature declared
`nullable: false` must be present and not null, a nullable one may be left out (null). Unknown
fields are refused. A validation error becomes a 400 whose `detail[].loc` names the field
(`["requests", 0, "records", 3, "distance_km"]`); it never reaches the model.

A keyed request's `key` is the value of the project's entity key (`entity.key`) as a string: an
`int64` entity takes digits only, so the prediction log's `key` joins the project's labels.
Answers per task: binary `scores` (P(positive)), regression `scores` (the value), multiclass
`probabilities` (per record, in `classes` order), `predictions` (the most probable class) and
`classes`; every answer carries `request_id`, `experiment_id`, `served_at`, the variant, the model
name, version and precision.

Explanations (issue 22): a keyed request with `"explain": true` (and `"top_k"`, default 5) gets
`explanations`, one per record: the `top_k` features by |contribution| as `reasons: [{feature,
contribution}]`, the `baseline` they start from and the explained `output` (baseline + every
feature's contribution), in the model's output `units` (workloads/explain/attribution.py), with the
`method`, its `completeness_error` and, for trees, the `served_difference` from the served graph's
answer. A reason names a feature, never a value. Otherwise `explanations` is null;
`explanation_error` says why when one was asked for and could not be given. A project whose
framework has no attributions (sklearn) refuses `"explain": true` with a 400 naming it.

Personal data: the key and any `pii` feature are tokenised before scoring, logging and routing;
the answer's `key` is the stored form (the token of a marked key), which /feedback accepts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, field_validator

from workloads.serving.abtest import Variant

if TYPE_CHECKING:
    from workloads.project.spec import ProjectSpec

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)
# The bound keeps float32 finite inside the model; no real feature comes near it.
_NUMBER = Annotated[float, Field(ge=-1e12, le=1e12)]
_CATEGORY = Annotated[str, Field(max_length=256)]
_INT64_KEY = r"^-?[0-9]{1,19}$"


class _Answer(BaseModel):
    """What every answer carries, whatever the task."""

    request_id: str
    """Send it back with the outcome (`/feedback` on the control port)."""
    experiment_id: str | None
    """The experiment that routed the key (null when only the champion serves)."""
    served_at: datetime
    """When the request was scored (UTC): the prediction log's `ts`."""
    key: str
    variant: Variant
    """The variant whose answer this is (always the champion in shadow mode)."""
    model_name: str
    model_version: str
    precision: Literal["fp32", "int8"]


class Reason(BaseModel):
    """One feature's contribution to the explained output (model output units)."""

    feature: str
    contribution: float


class RecordExplanation(BaseModel):
    """Why a record got its score (module docstring; workloads/explain/attribution.py for the units)."""

    reasons: list[Reason]
    baseline: float
    output: float
    units: Literal["log_odds", "value", "class_margin", "logit"]
    method: Literal["tree_shap", "integrated_gradients"]
    explained_class: str | None = None
    completeness_error: float | None = None
    served_difference: float | None = None


class ScoreAnswer(_Answer):
    """binary: P(positive) per record; regression: the predicted value per record (request order)."""

    scores: list[float]
    explanations: list[RecordExplanation] | None = None
    """Per record when the request asked for them (`explain: true`), else null."""
    explanation_error: str | None = None
    """Why explanations were asked for and not given (a version registered without its native model)."""


class ClassAnswer(_Answer):
    """multiclass: the probabilities of every class per record (in `classes` order) and the most probable class."""

    classes: list[str]
    probabilities: list[list[float]]
    predictions: list[str]
    explanations: list[RecordExplanation] | None = None
    explanation_error: str | None = None


@dataclass(frozen=True)
class ScoringSchemas:
    """The `/score` body and answer of one project (`scoring_schemas`)."""

    record: type[BaseModel]
    request: type[BaseModel]
    response: type[_Answer]


def scoring_schemas(spec: ProjectSpec, *, max_records: int = 256) -> ScoringSchemas:
    """Strict request models from the project's typed features (see the module docstring)."""
    fields: dict[str, Any] = {}
    for feature in spec.features:
        kind = _NUMBER if feature.type == "numeric" else _CATEGORY
        text = f"{feature.type} feature" + (f": {feature.description}" if feature.description else "")
        if feature.nullable:
            fields[feature.name] = (kind | None, Field(None, description=text))
        else:
            fields[feature.name] = (kind, Field(..., description=f"{text} (required, never null)"))
    record = create_model(
        "FeatureRecord",
        __config__=_STRICT,
        __doc__=f"One {spec.entity.name} event's features ({spec.name}); nullable features may be null or left out.",
        **fields,
    )
    key_pattern = _INT64_KEY if spec.entity.dtype == "int64" else None
    framework = spec.training.framework

    def _explainable(cls, value: bool) -> bool:
        from workloads.explain.attribution import EXPLAINABLE, NOT_EXPLAINABLE

        if value and framework not in EXPLAINABLE:
            raise ValueError(NOT_EXPLAINABLE.get(framework, f"explanations are not available for framework {framework}"))
        return value

    request = create_model(
        "ScoreRequest",
        __config__=ConfigDict(extra="forbid", strict=True, frozen=True),
        __doc__=f"Records of one {spec.entity.name} scored together under its key (the A/B assignment unit).",
        request_id=(str | None, Field(None, min_length=1, max_length=128, description="echoed back (and logged); generated when absent")),
        key=(
            str,
            Field(
                ...,
                min_length=1,
                max_length=256,
                pattern=key_pattern,
                description=f"the {spec.entity.name}'s {spec.entity.key} as a string" + (" (digits: the key is an int64)" if key_pattern else ""),
            ),
        ),
        records=(
            list[record],  # a model class built by create_model
            Field(..., min_length=1, max_length=max_records, description=f"at most {max_records} records (SAHAB_SERVING_MAX_RECORDS)"),
        ),
        explain=(bool, Field(False, description="answer with reason codes per record (explanations)")),
        top_k=(int, Field(5, ge=1, le=64, description="reasons per record when explaining (the largest |contribution| first)")),
        __validators__={"explain_available": field_validator("explain")(_explainable)},
    )
    response = ClassAnswer if spec.label.task == "multiclass" else ScoreAnswer
    return ScoringSchemas(record, request, response)


class FeedbackItem(BaseModel):
    """One observed outcome, for the control plane's `/feedback` (higher is better), optionally with
    the label the event turned out to have (it goes to the project's label store too)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    request_id: str = Field(..., min_length=1, max_length=128, description="the /score answer's request_id (idempotency, attribution)")
    key: str = Field(..., min_length=1, max_length=256, description="the entity key the request was scored under")
    outcome: float = Field(..., allow_inf_nan=False, description="within the project's serving.outcome [min, max]")
    event_time: AwareDatetime | None = Field(
        None, description="when the event happened (ISO 8601 with a zone); default: the served time a generated request_id carries"
    )
    record: int | None = Field(None, ge=0, le=100_000, description="index of the record in its keyed request; omit for the request as a whole")
    experiment_id: str | None = Field(
        None, min_length=1, max_length=64, description="the /score answer's experiment_id; needed unless request_id is one serving generated"
    )
    variant: Variant | None = None
    """Checked against the key's assignment in that experiment when given."""
    label: bool | int | float | str | None = None
    """The event's label (binary 0/1, a class of label.classes, or a number): stored as a label too."""


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    outcomes: list[FeedbackItem] = Field(..., min_length=1, max_length=10_000)


class LabelItem(BaseModel):
    """One label for `/labels`: the project's label of the entity's event at `event_time`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    key: str = Field(..., min_length=1, max_length=256, description="the entity key")
    event_time: AwareDatetime = Field(..., description="when the labelled event happened (ISO 8601 with a zone)")
    label: bool | int | float | str
    request_id: str | None = Field(None, min_length=1, max_length=128, description="the served request, for the exact join with its features")
    record: int | None = Field(None, ge=0, le=100_000)


class LabelBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    labels: list[LabelItem] = Field(..., min_length=1, max_length=10_000)


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    apply: bool = False
    experiment_id: str | None = Field(None, min_length=1, max_length=64)
    """Act on this experiment (the one whose decision was read); default: the current one."""


class ModelInfo(BaseModel):
    alias: str
    version: str
    precision: str
    sha256: str


class ServiceStatus(BaseModel):
    ready: bool
    reason: str
    ab_mode: str
    challenger_weight: float
    experiment_id: str | None = None
    models: dict[str, ModelInfo]
