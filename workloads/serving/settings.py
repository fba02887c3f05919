"""Serving runtime settings: environment variables with the prefix `SAHAB_SERVING_`.

The registry location and model name come from the shared `SAHAB_*` settings
(workloads/settings.py); these are the knobs of the service itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
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
    """Kept for compatibility (the mSPRT's mixture scale); the betting test does not use it."""
    test_min_samples: int = Field(200, ge=2)
    """Units (keys) per arm before a decision other than `keep` may be reported."""
    test_key_outcomes: int = Field(10, ge=1, le=10_000)
    """The key is the unit of analysis: a key enters the test once, with the mean of its first
    this-many outcomes (or of those it has when the evaluator seals it after TEST_KEY_IDLE_S)."""
    test_key_idle_s: float = Field(3600.0, ge=0.0)
    """A key with fewer than TEST_KEY_OUTCOMES outcomes and none for this long is sealed as it is."""
    outcome_min: float = Field(0.0, ge=-1e6, le=1e6)
    """Declared range of a feedback outcome: anything outside [OUTCOME_MIN, OUTCOME_MAX] is a 400."""
    outcome_max: float = Field(1.0, ge=-1e6, le=1e6)

    ab_redis_url: SecretStr | None = None
    """Experiment state in Redis (`redis://host:6379/2`, `rediss://:password@host:6379/0` for
    ElastiCache with TLS); unset: the embedded SQLite store at AB_STATE_PATH (local mode)."""
    ab_redis_prefix: str = Field("sahab:ab:", min_length=1, max_length=64)
    """Prefix of every experiment key in Redis (the online store shares the instance)."""
    ab_state_path: Path | None = None
    """Embedded store file; default `<SAHAB_HOME>/serving/ab-state.sqlite`."""
    evaluator_interval_s: float = Field(60.0, gt=0.0)
    """`python -m workloads.serving.evaluator`: seconds between looks (without --once)."""

    control_host: str = "127.0.0.1"
    """Address of the control plane (`python -m workloads.serving.control`); 0.0.0.0 in a pod."""
    control_port: int = Field(3001, ge=0, le=65535)
    """Port of the control plane (/feedback, /promote, /experiment): never behind the scoring LB."""
    control_token: SecretStr | None = None
    """Bearer token of the control plane; unset (and no CONTROL_TOKEN_FILE): every control call is refused (401)."""
    control_token_file: Path | None = None
    """A file holding the token (a mounted Kubernetes Secret); read at start, wins over CONTROL_TOKEN."""

    prediction_log_uri: str | None = None
    """Where every scored record is appended as Parquet (a folder or `s3://bucket/prefix/`);
    unset: no prediction log. Layout and columns: workloads/serving/prediction_log.py."""
    prediction_log_flush_s: float = Field(10.0, gt=0.0)
    """Seconds between flushes of the prediction log (also flushed on shutdown)."""
    prediction_log_max_rows: int = Field(200_000, ge=1)
    """Rows buffered at most; beyond it records are dropped and counted
    (sahab_serving_prediction_log_dropped_total) rather than growing memory."""
    max_inflight_bytes: int = Field(64 * 2**20, ge=1024)
    """Request bytes in flight per pod (divided by WORKERS), next to MAX_CONCURRENCY: beyond it, 503.
    A maximal call (64 x 256 records) is about 6 MB of JSON and parses into roughly ten times that,
    so 64 MiB admits about 11 of them (well under 1 GiB parsed) where 128 small ones would pass."""
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
    """Seconds between checks of the registry aliases: a moved alias is reloaded within it (and,
    while unready, the load is retried at most this often)."""

    @field_validator("prediction_log_uri")
    @classmethod
    def _log_uri(cls, value: str | None) -> str | None:
        if value:
            from workloads.storage import parse

            parse(value, "SAHAB_SERVING_PREDICTION_LOG_URI")  # a folder, s3:// or abfss:// (workloads/storage.py)
        return value or None

    @field_validator("ab_redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("SAHAB_SERVING_AB_REDIS_URL must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _aliases_differ(self) -> ServingSettings:
        if self.champion_alias == self.challenger_alias:
            raise ValueError("SAHAB_SERVING_CHALLENGER_ALIAS must differ from SAHAB_SERVING_CHAMPION_ALIAS")
        if self.outcome_min >= self.outcome_max:
            raise ValueError(f"SAHAB_SERVING_OUTCOME_MIN ({self.outcome_min}) must be below SAHAB_SERVING_OUTCOME_MAX ({self.outcome_max})")
        return self

    def token(self) -> str | None:
        """The control plane's bearer token: CONTROL_TOKEN_FILE's content, else CONTROL_TOKEN."""
        if self.control_token_file is not None:
            try:
                value = self.control_token_file.read_text().strip()
            except OSError as exc:
                raise ValueError(f"SAHAB_SERVING_CONTROL_TOKEN_FILE={self.control_token_file}: cannot read it ({exc})") from exc
            if not value:
                raise ValueError(f"SAHAB_SERVING_CONTROL_TOKEN_FILE={self.control_token_file} is empty")
            return value
        return self.control_token.get_secret_value() if self.control_token else None

    def state_path(self, home: Path) -> Path:
        """The embedded experiment store's file under `home` (SAHAB_HOME) unless AB_STATE_PATH is set."""
        return self.ab_state_path or home / "serving" / "ab-state.sqlite"
