"""Serving runtime settings: environment variables with the prefix `SAHAB_SERVING_`.

The registry location and model name come from the shared `SAHAB_*` settings
(workloads/settings.py); these are the knobs of the service itself.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from workloads.settings import StrictEnvSettings


class ServingSettings(StrictEnvSettings):
    model_config = SettingsConfigDict(env_prefix="SAHAB_SERVING_", frozen=True, extra="forbid")

    precision: Literal["fp32", "int8"] = "fp32"
    """Which exported ONNX file to run."""
    intra_op_threads: int = Field(1, ge=1, le=64)
    """onnxruntime threads inside one operator; set to the pod's CPU request."""
    inter_op_threads: int = Field(1, ge=1, le=64)
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"

    ab_mode: Literal["off", "split", "shadow"] = "split"
    """split: keys see the challenger with `challenger_weight`; shadow: the challenger scores every
    request but only the champion's scores are returned; off: champion only."""
    challenger_weight: float = Field(0.1, ge=0.0, le=1.0)
    ab_salt: str = "sahab-ab-1"
    """Changing the salt starts a new, independent assignment of keys."""
    test_alpha: float = Field(0.05, gt=0.0, lt=1.0)
    test_tau: float = Field(0.05, gt=0.0)
    """Standard deviation of the mSPRT's normal mixture over the effect (outcome units)."""
    test_min_samples: int = Field(200, ge=2)
    allow_promotion: bool = False
    """Let the `promote` endpoint move registry aliases (needs registry write access)."""

    max_records: int = Field(256, ge=1, le=10_000)
    """Records in one keyed request; larger requests are refused with 400."""
    max_requests: int = Field(64, ge=1, le=10_000)
    """Keyed requests in one HTTP call."""
    adaptive_batching: bool = True
    """Merge keyed requests of concurrent callers into one model call (BentoML's batcher)."""
    max_batch_size: int = Field(64, ge=2)
    """Adaptive batching: keyed requests merged into one model call."""
    max_latency_ms: int = Field(100, ge=1)
    """Adaptive batching's latency budget: the batcher never waits past it to fill a batch, and sheds
    (503) what it cannot serve within it. Measured on 2 cores (benchmarks/serving.py): 200 ms let
    the batcher hold requests (p50 41 ms at 100 req/s); 25 ms shed a third of the requests at
    concurrency 16; 100 ms gave p50 6 ms / p99 12 ms at 100 req/s with few 503s."""
    max_concurrency: int = Field(128, ge=1)
    """In-flight HTTP requests per service; beyond it BentoML answers 503 instead of queueing."""
    timeout_s: int = Field(10, ge=1)
    workers: int = Field(1, ge=1)
    cpu: str = "2"
    """CPU request declared to BentoML (and the container recipe)."""
    reload_interval_s: float = Field(30.0, ge=0.0)
    """While unready, retry loading the models at most this often (on readiness probes)."""

    @model_validator(mode="after")
    def _aliases_differ(self) -> ServingSettings:
        if self.champion_alias == self.challenger_alias:
            raise ValueError("SAHAB_SERVING_CHALLENGER_ALIAS must differ from SAHAB_SERVING_CHAMPION_ALIAS")
        return self
