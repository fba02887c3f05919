"""Request and response schemas of the scoring service.

A record carries every feature of `workloads.data.schema` (null for a missing value), strictly
typed: numbers for numeric features, strings for categorical ones; unknown fields are refused.
A validation error becomes a 400 whose `detail[].loc` names the field
(`["requests", 0, "records", 3, "amount"]`); it never reaches the model.
"""
from __future__ import annotations

from typing import Annotated, Literal, Optional

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
    **{name: (Optional[Annotated[float, Field(ge=-1e12, le=1e12)]], Field(..., description="numeric feature"))
       for name in NUMERIC_FEATURES},
    **{name: (Optional[Annotated[str, Field(max_length=128)]], Field(..., description="categorical feature"))
       for name in CATEGORICAL_FEATURES},
)


class ScoreRequest(BaseModel):
    """A batch of feature records scored under one request key (the A/B assignment unit)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    key: str = Field(..., min_length=1, max_length=256, description="sticky A/B key, e.g. the account id")
    records: list[FeatureRecord] = Field(  # type: ignore[valid-type]
        ...,
        min_length=1,
        max_length=_SETTINGS.max_records,
        description=f"at most {_SETTINGS.max_records} records (SAHAB_SERVING_MAX_RECORDS)",
    )


class ScoreResponse(BaseModel):
    key: str
    variant: Variant
    """The variant whose scores these are (always the champion in shadow mode)."""
    model_name: str
    model_version: str
    precision: Literal["fp32", "int8"]
    scores: list[float]
    """Fraud probability per record, in request order."""


class Feedback(BaseModel):
    """An observed outcome for a key: higher is better (1 = the decision proved right)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    key: str = Field(..., min_length=1, max_length=256)
    outcome: float = Field(..., ge=-1e6, le=1e6, allow_inf_nan=False)
    variant: Optional[Variant] = None
    """The variant that served the key; derived from the sticky assignment when omitted."""


class FeedbackAck(BaseModel):
    accepted: int
    variants: dict[str, int]


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
    models: dict[str, ModelInfo]


class ExperimentStatus(BaseModel):
    ab_mode: str
    champion_version: Optional[str]
    challenger_version: Optional[str]
    decision: dict[str, object]


class PromotionResult(BaseModel):
    recommendation: str
    action: Literal["none", "promoted", "rolled_back"]
    detail: str
    decision: dict[str, object]
