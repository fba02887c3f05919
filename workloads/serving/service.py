"""BentoML service scoring transactions with the registry's champion (and challenger).

    bentoml serve workloads.serving.service:TransactionRisk --host 127.0.0.1 --port 3000

Endpoints (all POST, JSON):
- `/score`: `{"requests": [{"key": "acct-1", "records": [{...features...}]}]}` ->
  `[{"key", "variant", "model_name", "model_version", "precision", "scores": [...]}]`.
  Adaptive batching merges keyed requests from concurrent callers into one onnxruntime call per
  variant. The key picks the variant (sticky hash, `SAHAB_SERVING_CHALLENGER_WEIGHT`); in shadow
  mode the challenger scores everything too but only the champion's scores are returned.
- `/feedback`: `{"outcomes": [{"key", "outcome", "variant"?}]}` feeds the sequential test.
- `/experiment`: the mSPRT's recommendation (promote / keep / rollback) and statistics.
- `/promote`: `{"apply": true}` acts on the recommendation by moving the registry aliases
  (needs `SAHAB_SERVING_ALLOW_PROMOTION=true`), then reloads.
- `/status`: readiness, its reason and the loaded versions with their sha256.
- BentoML's own `/readyz` (503 until verified models are loaded), `/livez`, `/metrics`.

Bad input is a 400 naming the field (pydantic, before any model code runs); oversized requests
are refused by the same validation; overload is shed with 503 + Retry-After (LoadShedding beyond
SAHAB_SERVING_MAX_CONCURRENCY requests in flight, and the batcher cancelling what cannot meet
max_latency_ms) instead of queueing without bound.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from http import HTTPStatus
from typing import Annotated

import bentoml
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic import Field, Strict

from workloads.serving.abtest import SequentialTest, Variant, assign
from workloads.serving.overload import LoadShedding
from workloads.serving.schemas import (
    ExperimentStatus,
    Feedback,
    FeedbackAck,
    ModelInfo,
    PromotionResult,
    ScoreRequest,
    ScoreResponse,
    ServiceStatus,
)
from workloads.serving.settings import ServingSettings

with bentoml.importing():
    import numpy as np

    from workloads.registry import client as registry
    from workloads.serving.metrics import serving_metrics
    from workloads.serving.model import AliasNotFound, LoadedModel, ModelUnavailable, load

logger = logging.getLogger("workloads.serving")
# Read once at import for what BentoML fixes at import (traffic, batching); the instance re-reads
# the environment for the rest.
SETTINGS = ServingSettings()


class Conflict(BentoMLException):
    """The request is valid but the service's state refuses it (promotion disabled or gated)."""

    error_code = HTTPStatus.CONFLICT


@bentoml.service(
    name="transaction_risk",
    resources={"cpu": SETTINGS.cpu},
    workers=SETTINGS.workers,
    # BentoML's own limit (429) is only a backstop; LoadShedding answers 503 first (see below).
    traffic={"timeout": SETTINGS.timeout_s, "max_concurrency": 2 * SETTINGS.max_concurrency},
)
class TransactionRisk:
    def __init__(self) -> None:
        self.settings = ServingSettings()
        self.experiment = SequentialTest(
            alpha=self.settings.test_alpha, tau=self.settings.test_tau, min_samples=self.settings.test_min_samples
        )
        self._models: dict[Variant, LoadedModel] = {}
        self._reason = "models not loaded yet"
        self._last_attempt = 0.0
        self._lock = threading.Lock()
        self._load()

    # --- model lifecycle -----------------------------------------------------------------------

    def _load(self) -> bool:
        """(Re)load champion and challenger; on any integrity or load failure stay unready."""
        self._last_attempt = time.monotonic()
        s = self.settings
        try:
            models: dict[Variant, LoadedModel] = {"champion": load(s.champion_alias, s)}
            if s.ab_mode != "off":
                try:
                    models["challenger"] = load(s.challenger_alias, s)
                except AliasNotFound:
                    logger.warning("no %r alias in the registry: serving the champion only", s.challenger_alias)
        except ModelUnavailable as exc:
            with self._lock:
                self._models, self._reason = {}, str(exc)
            logger.error("service unready: %s", exc)
            serving_metrics().ready.set(0)
            return False
        with self._lock:
            self._models = models
            self._reason = "verified: " + ", ".join(f"{v}=v{m.version}" for v, m in models.items())
        serving_metrics().ready.set(1)
        logger.info("service ready: %s", self._reason)
        return True

    def __is_ready__(self) -> bool:
        if self._models:
            return True
        if time.monotonic() - self._last_attempt >= self.settings.reload_interval_s:
            return self._load()
        return False

    def _route(self, key: str, models: dict[Variant, LoadedModel]) -> Variant:
        if self.settings.ab_mode == "split" and "challenger" in models:
            return assign(key, self.settings.challenger_weight, self.settings.ab_salt)
        return "champion"

    # --- scoring -------------------------------------------------------------------------------

    @bentoml.api(batchable=SETTINGS.adaptive_batching, max_batch_size=SETTINGS.max_batch_size,
                 max_latency_ms=SETTINGS.max_latency_ms)
    def score(
        self, requests: Annotated[list[ScoreRequest], Field(min_length=1, max_length=SETTINGS.max_requests)]
    ) -> list[ScoreResponse]:
        """Score keyed batches of records; see the module docstring for the shapes."""
        metrics = serving_metrics()
        models = self._models
        if not models:
            metrics.errors.labels(variant="none", reason="unready").inc(len(requests))
            raise ServiceUnavailable(f"no verified model loaded: {self._reason}")
        groups: dict[Variant, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault(self._route(req.key, models), []).append(i)
        metrics.batch_records.observe(sum(len(r.records) for r in requests))
        responses: list[ScoreResponse | None] = [None] * len(requests)
        for variant, idx in groups.items():
            model = models[variant]
            scores = self._run(model, variant, "live", [requests[i] for i in idx])
            offset = 0
            for i in idx:
                n = len(requests[i].records)
                responses[i] = ScoreResponse(
                    key=requests[i].key, variant=variant, model_name=model.name, model_version=model.version,
                    precision=model.precision, scores=scores[offset : offset + n].tolist(),
                )
                offset += n
        if self.settings.ab_mode == "shadow" and "challenger" in models:
            try:
                self._run(models["challenger"], "challenger", "shadow", requests)
            except Exception:  # the shadow must never fail what the champion answered
                logger.exception("shadow scoring failed")
                metrics.errors.labels(variant="challenger", reason="shadow").inc(len(requests))
        return responses  # type: ignore[return-value]

    def _run(self, model: LoadedModel, variant: Variant, mode: str, requests: list[ScoreRequest]) -> np.ndarray:
        metrics = serving_metrics()
        records = [rec.__dict__ for req in requests for rec in req.records]
        started = time.perf_counter()
        try:
            scores = model.score_records(records)
        except Exception:
            metrics.errors.labels(variant=variant, reason="inference").inc(len(requests))
            raise
        metrics.latency.labels(variant=variant, mode=mode).observe(time.perf_counter() - started)
        metrics.requests.labels(variant=variant, mode=mode).inc(len(requests))
        metrics.records.labels(variant=variant, mode=mode).inc(len(records))
        hist = metrics.scores.labels(variant=variant, mode=mode)
        for value in scores.tolist():
            hist.observe(value)
        return scores

    # --- A/B experiment ------------------------------------------------------------------------

    @bentoml.api
    def feedback(self, outcomes: Annotated[list[Feedback], Field(min_length=1, max_length=10_000)]) -> FeedbackAck:
        """Record observed outcomes (higher is better) for the sequential test."""
        metrics = serving_metrics()
        models = self._models
        by_variant: dict[Variant, list[float]] = {}
        for fb in outcomes:
            variant = fb.variant or self._route(fb.key, models)
            by_variant.setdefault(variant, []).append(fb.outcome)
        for variant, values in by_variant.items():
            self.experiment.observe(variant, np.asarray(values))
            metrics.feedback.labels(variant=variant).inc(len(values))
        decision = self.experiment.decide()
        metrics.ab_p_value.set(decision.p_value)
        metrics.ab_effect.set(decision.effect)
        return FeedbackAck(accepted=len(outcomes), variants={v: len(x) for v, x in by_variant.items()})

    @bentoml.api
    def experiment_status(self) -> ExperimentStatus:
        """The sequential test's recommendation (promote / keep / rollback) with its statistics."""
        models = self._models
        return ExperimentStatus(
            ab_mode=self.settings.ab_mode,
            champion_version=models["champion"].version if "champion" in models else None,
            challenger_version=models["challenger"].version if "challenger" in models else None,
            decision=self.experiment.decide().as_dict(),
        )

    @bentoml.api
    def promote(self, apply: Annotated[bool, Strict()] = False) -> PromotionResult:
        """Act on the recommendation: promote moves `champion` to the challenger's version (through
        the registry's evaluation gate), rollback removes the `challenger` alias. Then reload."""
        decision = self.experiment.decide()
        stats = decision.as_dict()
        if not apply or decision.recommendation == "keep":
            return PromotionResult(recommendation=decision.recommendation, action="none",
                                   detail=decision.reason, decision=stats)
        if not self.settings.allow_promotion:
            raise Conflict("promotion is disabled here (SAHAB_SERVING_ALLOW_PROMOTION=false)")
        challenger = self._models.get("challenger")
        if challenger is None:
            raise Conflict("no challenger is loaded")
        client = registry.mlflow_client()
        name, version = challenger.name, challenger.version
        client.set_model_version_tag(name, version, "sahab.abtest.decision", json.dumps(stats, default=str))
        if decision.recommendation == "promote":
            try:
                registry.promote(name, from_alias=self.settings.challenger_alias, to_alias=self.settings.champion_alias)
            except registry.PromotionRefused as exc:
                raise Conflict(str(exc)) from exc
            action, detail = "promoted", f"{self.settings.champion_alias} -> v{version}"
        else:
            client.delete_registered_model_alias(name, self.settings.challenger_alias)
            action, detail = "rolled_back", f"removed {self.settings.challenger_alias} from v{version}"
        logger.info("A/B %s: %s (%s)", action, detail, decision.reason)
        self.experiment.reset()
        self._load()
        return PromotionResult(recommendation=decision.recommendation, action=action, detail=detail, decision=stats)

    @bentoml.api
    def status(self) -> ServiceStatus:
        """Readiness with its reason, and what is loaded."""
        models = self._models
        return ServiceStatus(
            ready=bool(models),
            reason=self._reason,
            ab_mode=self.settings.ab_mode,
            challenger_weight=self.settings.challenger_weight,
            models={v: ModelInfo(alias=m.alias, version=m.version, precision=m.precision, sha256=m.sha256)
                    for v, m in models.items()},
        )


TransactionRisk.add_asgi_middleware(LoadShedding, max_in_flight=SETTINGS.max_concurrency)
# BentoML 1.4 derives the media type of a list (root-model) output from its JSON schema, and
# rebuilds that schema on every response: about 3 ms per /score call here. It is JSON, always.
TransactionRisk.apis["score"].output_spec.media_type = "application/json"
