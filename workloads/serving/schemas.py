"""Request and response schemas of the scoring service.

A record carries every feature of `workloads.data.schema` (null for a missing value), strictly
typed: numbers for numeric features, strings for categorical ones; unknown fields are refused.
A validation error becomes a 400 whose `detail[].loc` names the field
(`["requests", 0, "records", 3, "amount"]`); it never reaches the model.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from workloads.data.schema import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from workloads.serving.abtest import Variant
from workloads.serving.settings import ServingSettings

_SETTINGS = ServingSettings()
_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

FeatureRecord = create_model(
    "FeatureRecord",
    __config__=_STRICT,
    __doc__="One transaction's features; every feature must be present, null when missing.",
    # The bound keeps float32 finite inside the model; no real feature comes near it.
    **{name: (Annotated[float, Field(ge=-1e12, le=1e12)] | None, Field(..., description="numeric feature")) for name in NUMERIC_FEATURES},
    **{name: (Annotated[str, Field(max_length=128)] | None, Field(..., description="categorical feature")) for name in CATEGORICAL_FEATURES},
)


class ScoreRequest(BaseModel):
    """A batch of feature records scored under one request key (the A/B assignment unit)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    request_id: str | None = Field(None, min_length=1, max_length=128, description="echoed back (and logged); generated when absent")

    key: str = Field(..., min_length=1, max_length=256, description="sticky A/B key, e.g. the account id")
    records: list[FeatureRecord] = Field(  # type: ignore[valid-type]  # a model class built by create_model
        ...,
        min_length=1,
        max_length=_SETTINGS.max_records,
        description=f"at most {_SETTINGS.max_records} records (SAHAB_SERVING_MAX_RECORDS)",
    )


class ScoreResponse(BaseModel):
    request_id: str
    """Send it back with the outcome (`/feedback` on the control port)."""
    experiment_id: str | None
    """The experiment that routed the key (null when only the champion serves)."""
    key: str
    variant: Variant
    """The variant whose scores these are (always the champion in shadow mode)."""
    model_name: str
    model_version: str
    precision: Literal["fp32", "int8"]
    scores: list[float]
    """Fraud probability per record, in request order."""


class Outcome(BaseModel):
    """One observed outcome, for the control plane's `/feedback` (higher is better)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    request_id: str = Field(..., min_length=1, max_length=128, description="the /score answer's request_id (idempotency)")
    key: str = Field(..., min_length=1, max_length=256)
    outcome: float = Field(..., allow_inf_nan=False, description="within [OUTCOME_MIN, OUTCOME_MAX]")
    experiment_id: str | None = Field(None, min_length=1, max_length=64, description="the /score answer's experiment_id; default: the current one")
    variant: Variant | None = None
    """Checked against the key's assignment in that experiment when given."""


class FeedbackBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    outcomes: list[Outcome] = Field(..., min_length=1, max_length=10_000)


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
