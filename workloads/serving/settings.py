"""Serving runtime settings: environment variables with the prefix `SAHAB_SERVING_`.

The registry location and model name come from the shared `SAHAB_*` settings
(workloads/settings.py); these are the knobs of the service itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from workloads.settings import StrictEnvSettings

if TYPE_CHECKING:
    from workloads.project.spec import ProjectSpec


class ServingSettings(StrictEnvSettings):
    model_config = SettingsConfigDict(env_prefix="SAHAB_SERVING_", frozen=True, extra="forbid")

    precision: Literal["fp32", "int8"] | None = None
    """Which exported ONNX file to run; unset: the project's serving.precision. A version without an
    int8 graph (tree models) runs fp32 and says so."""
    intra_op_threads: int = Field(1, ge=1, le=64)
    """onnxruntime threads inside one operator; set to the pod's CPU request."""
    inter_op_threads: int = Field(1, ge=1, le=64)
    gc_young_threshold: int = Field(50_000, ge=700, le=10_000_000)
    """Allocations between two young garbage collections (CPython's default is 700). Under load a
    default young collection runs every few hundred microseconds and promotes whatever requests are in
    flight, which then set off full collections that stop every request (the shipped torch project at
    concurrency 64: 59% of the bare app's requests/s and p99 4.1x its; 50,000: 102% and 1.07x,
    benchmarks/serving.py). Young objects then take a few MB more before they are collected."""
    champion_alias: str = "champion"
    challenger_alias: str = "challenger"

    ab_mode: Literal["off", "split", "shadow"] = "split"
    """split: keys see the challenger with `challenger_weight`; shadow: the challenger scores every
    request but only the champion's scores are returned; off: champion only."""
    # --- A/B: unset (None) takes the project's value (project.yaml `experiment:` and `serving.outcome`);
    # a variable set here overrides it (tests, an operator's emergency change). `ab_config()` merges them.
    challenger_weight: float | None = Field(None, ge=0.0, le=1.0)
    """Share of keys routed to the challenger (project: experiment.challenger_weight)."""
    ab_salt: str = "sahab-ab-1"
    """Base salt: each experiment assigns keys with `<AB_SALT>:<champion>:<challenger>`; changing it
    starts new experiments with a new, independent assignment of keys."""
    test_alpha: float | None = Field(None, gt=0.0, lt=1.0)
    """Type-I error of the sequential test (project: experiment.alpha)."""
    test_min_samples: int | None = Field(None, ge=2)
    """Units (keys) per arm before a decision other than `keep` (project: experiment.min_units)."""
    unit_window_s: float | None = Field(None, gt=0.0)
    """A key's unit: its outcomes with event time within this after its first exposure (project: experiment.unit_window)."""
    max_label_delay_s: float | None = Field(None, ge=0.0)
    """A unit is sealed UNIT_WINDOW_S + this after the first exposure (project: experiment.max_label_delay)."""
    max_duration_s: float | None = Field(None, gt=0.0)
    """An undecided experiment ends as `keep champion` after this (project: experiment.max_duration)."""
    rollback: bool | None = None
    """Roll back a significantly worse challenger, or one breaking a guardrail, without asking (project: experiment.rollback)."""
    max_error_rate_increase: float | None = Field(None, ge=0.0, le=1.0)
    """Guardrail: the challenger's error rate may exceed the champion's by this (project: experiment.max_error_rate_increase)."""
    max_latency_ratio: float | None = Field(None, ge=1.0)
    """Guardrail: the challenger's p99 latency may be this times the champion's (project: experiment.max_latency_ratio)."""
    guardrail_min_requests: int = Field(500, ge=10)
    """Requests (and timed calls) per variant before a guardrail may stop the challenger."""
    outcome_min: float | None = Field(None, ge=-1e6, le=1e6)
    """Declared range of a feedback outcome (project: serving.outcome.min / max); outside it, a 400."""
    outcome_max: float | None = Field(None, ge=-1e6, le=1e6)

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
    """Let the evaluator (and `/promote`) promote a significantly better challenger (needs registry
    write access). Rollback, guardrail stops and the maximum duration act without it (ROLLBACK)."""

    max_records: int = Field(256, ge=1, le=10_000)
    """Records in one keyed request; larger requests are refused with 400."""
    max_requests: int = Field(64, ge=1, le=10_000)
    """Keyed requests in one HTTP call."""
    adaptive_batching: bool = True
    """Merge the keyed requests of concurrent callers into one model call. No timer: a call starts as
    soon as the model is free, with everything that arrived meanwhile (one request alone waits for
    nothing); off: one model call per HTTP call."""
    max_batch_size: int = Field(64, ge=1)
    """Keyed requests merged into one model call at most (one HTTP call's requests are never split)."""
    inline_records: int = Field(64, ge=0)
    """Calls of at most this many records are scored on the event loop (no thread hand-off, which
    costs more than the model for small calls); larger ones on the model thread (0: always)."""
    max_latency_ms: int = Field(1000, ge=1)
    """Queueing budget: a call that waited this long for the model is answered 503 (+ Retry-After)
    instead of being scored late; under steady overload the queue stays bounded by it."""
    shadow_queue: int = Field(256, ge=1)
    """AB_MODE=shadow: scored batches waiting for the challenger (off the request path); beyond it
    a batch is dropped and counted (sahab_serving_shadow_dropped_total), never the answer delayed."""
    max_concurrency: int = Field(128, ge=1)
    """In-flight /score calls per pod (divided by WORKERS); beyond it LoadShedding answers 503 instead of queueing."""
    fast_path: bool = True
    """Answer JSON `POST /score` from the service's own ASGI handler (service.FastScore: the API's
    models, BentoML's middlewares around it) instead of BentoML's API machinery, which costs more
    than the model per one-record request; false: everything through BentoML."""
    trace_requests: bool = False
    """OpenTelemetry spans for /score (BentoML's tracing middleware): only useful with a tracing
    exporter configured; off, /score, /status and the probes are excluded from tracing."""
    access_log: bool = False
    """BentoML's access log line per request: off by default (it cost more than the model per
    one-record request); the sahab_serving_* and bentoml_service_* metrics count every request."""
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
        if self.outcome_min is not None and self.outcome_max is not None and self.outcome_min >= self.outcome_max:
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


@dataclass(frozen=True)
class ABConfig:
    """The A/B settings in force: the project's `experiment:` and `serving.outcome`, overridden by
    the SAHAB_SERVING_* variables that are set (`ab_config`)."""

    challenger_weight: float
    salt: str
    alpha: float
    min_units: int
    unit_window_s: float
    max_label_delay_s: float
    max_duration_s: float
    rollback: bool
    max_error_rate_increase: float
    max_latency_ratio: float
    guardrail_min_requests: int
    outcome_min: float
    outcome_max: float

    @property
    def seal_after_s(self) -> float:
        """A key's unit is sealed this long after its first exposure."""
        return self.unit_window_s + self.max_label_delay_s


def ab_config(spec: ProjectSpec, settings: ServingSettings) -> ABConfig:
    """Merge the project's A/B settings with the SAHAB_SERVING_* overrides; ValueError names the
    field (and its variable) when the result cannot run an experiment."""
    exp, outcome = spec.experiment, spec.serving.outcome

    def pick(override, value):
        return value if override is None else override

    config = ABConfig(
        challenger_weight=pick(settings.challenger_weight, exp.challenger_weight),
        salt=settings.ab_salt,
        alpha=pick(settings.test_alpha, exp.alpha),
        min_units=pick(settings.test_min_samples, exp.min_units),
        unit_window_s=pick(settings.unit_window_s, exp.unit_window.total_seconds()),
        max_label_delay_s=pick(settings.max_label_delay_s, exp.max_label_delay.total_seconds()),
        max_duration_s=pick(settings.max_duration_s, exp.max_duration.total_seconds()),
        rollback=pick(settings.rollback, exp.rollback),
        max_error_rate_increase=pick(settings.max_error_rate_increase, exp.max_error_rate_increase),
        max_latency_ratio=pick(settings.max_latency_ratio, exp.max_latency_ratio),
        guardrail_min_requests=settings.guardrail_min_requests,
        outcome_min=pick(settings.outcome_min, outcome.min),
        outcome_max=pick(settings.outcome_max, outcome.max),
    )
    if config.outcome_min >= config.outcome_max:
        raise ValueError(
            f"{spec.name}: the outcome range [{config.outcome_min}, {config.outcome_max}] is empty "
            "(serving.outcome.min / max, or SAHAB_SERVING_OUTCOME_MIN / _MAX). Fix: min below max"
        )
    if config.max_duration_s <= config.seal_after_s:
        from workloads.project.spec import format_duration

        def shown(seconds: float) -> str:
            return format_duration(timedelta(seconds=seconds))

        raise ValueError(
            f"{spec.name}: experiment.max_duration ({shown(config.max_duration_s)}) must be longer than experiment.unit_window + "
            f"experiment.max_label_delay ({shown(config.seal_after_s)}): no unit would be sealed before the experiment ends as keep champion "
            "(or SAHAB_SERVING_MAX_DURATION_S / UNIT_WINDOW_S / MAX_LABEL_DELAY_S). Fix: a longer max_duration, or a shorter window or delay"
        )
    return config
