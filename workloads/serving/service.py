"""BentoML service scoring transactions with the registry's champion (and challenger).

    bentoml serve workloads.serving.service:TransactionRisk --host 127.0.0.1 --port 3000

Endpoints (all POST, JSON):
- `/score`: `{"requests": [{"key": "acct-1", "records": [{...features...}]}]}` ->
  `[{"key", "variant", "model_name", "model_version", "precision", "scores": [...]}]`.
  Adaptive batching merges keyed requests from concurrent callers into one onnxruntime call per
  variant. The key picks the variant (sticky hash, `SAHAB_SERVING_CHALLENGER_WEIGHT`); in shadow
  mode the challenger scores everything too but only the champion's scores are returned.
  Each answer carries the keyed request's `request_id` (given or generated) and the
  `experiment_id`; every scored record is appended to the prediction log (prediction_log.py).
- `/status`: readiness, its reason, the live versions with their sha256 and the experiment id.
- `GET /readyz`: 200 / 503 with the same live versions as JSON (ReadyInfo below); `/livez`,
  `/metrics` are BentoML's.
Feedback, experiment status and promotion are not here: they are the control plane's
(control.py, its own port and bearer token), over the shared experiment store (state.py).
Every pod loads both variants and watches the registry aliases: when one moves, the pod reloads
within SAHAB_SERVING_RELOAD_INTERVAL_S.

Bad input is a 400 naming the field (pydantic, before any model code runs); oversized requests
are refused by the same validation; overload is shed with 503 + Retry-After (LoadShedding beyond
SAHAB_SERVING_MAX_CONCURRENCY requests in flight, and the batcher cancelling what cannot meet
max_latency_ms) instead of queueing without bound.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from typing import Annotated

import bentoml
from bentoml.exceptions import ServiceUnavailable
from pydantic import Field

from workloads.serving.abtest import Variant, assign
from workloads.serving.overload import LoadShedding
from workloads.serving.schemas import ModelInfo, ScoreRequest, ScoreResponse, ServiceStatus
from workloads.serving.settings import ServingSettings

with bentoml.importing():
    import numpy as np

    from workloads.registry import client as registry
    from workloads.serving.metrics import serving_metrics
    from workloads.serving.model import AliasNotFound, LoadedModel, ModelUnavailable, load
    from workloads.serving.prediction_log import PredictionLog
    from workloads.serving.state import Experiment
    from workloads.settings import SahabSettings

logger = logging.getLogger("workloads.serving")
# Read once at import for what BentoML fixes at import (traffic, batching); the instance re-reads
# the environment for the rest.
SETTINGS = ServingSettings()


_LIVE: list[TransactionRisk] = []
"""The worker's service instance, for the /readyz middleware."""


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
        self.sahab = SahabSettings()
        self._models: dict[Variant, LoadedModel] = {}
        self.experiment_id: str | None = None
        self._reason = "models not loaded yet"
        self._last_attempt = 0.0
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.prediction_log: PredictionLog | None = None
        if self.settings.prediction_log_uri:
            metrics = serving_metrics()
            self.prediction_log = PredictionLog(
                self.settings.prediction_log_uri,
                flush_s=self.settings.prediction_log_flush_s,
                max_rows=self.settings.prediction_log_max_rows,
                on_drop=metrics.log_dropped.inc,
                on_write=metrics.log_written.inc,
            )
        self._stop = threading.Event()
        self._load()
        self._watcher = threading.Thread(target=self._watch_aliases, name="alias-watcher", daemon=True)
        self._watcher.start()
        _LIVE[:] = [self]

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self._stop.set()
        if self.prediction_log is not None:
            self.prediction_log.close()

    # --- model lifecycle -----------------------------------------------------------------------

    def _load(self) -> bool:
        """(Re)load champion and challenger; on any integrity or load failure stay unready (or, when
        models are already live, keep serving them and say why on /status)."""
        with self._load_lock:
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
                    if self._models:
                        self._reason = f"serving the previous versions; reload failed: {exc}"
                    else:
                        self._models, self._reason = {}, str(exc)
                logger.error("service unready: %s" if not self._models else "reload failed: %s", exc)
                serving_metrics().ready.set(1 if self._models else 0)
                return bool(self._models)
            experiment = None
            if s.ab_mode == "split" and "challenger" in models and 0.0 < s.challenger_weight < 1.0:
                experiment = Experiment(models["champion"].name, models["champion"].version, models["challenger"].version, s.ab_salt, s.challenger_weight).id
            with self._lock:
                self._models, self.experiment_id = models, experiment
                self._reason = "verified: " + ", ".join(f"{v}=v{m.version}" for v, m in models.items())
            serving_metrics().ready.set(1)
            logger.info("service ready: %s (experiment %s)", self._reason, experiment)
            return True

    def _aliases_moved(self) -> bool:
        s = self.settings
        wanted = registry.alias_versions((s.champion_alias, s.challenger_alias), settings=self.sahab)
        if s.ab_mode == "off":
            wanted[s.challenger_alias] = None
        models = self._models
        live = {
            s.champion_alias: models["champion"].version if "champion" in models else None,
            s.challenger_alias: models["challenger"].version if "challenger" in models else None,
        }
        return {k: (str(v) if v else None) for k, v in wanted.items()} != live

    def _watch_aliases(self) -> None:
        """Reload within RELOAD_INTERVAL_S of an alias move (every second when it is 0)."""
        interval = self.settings.reload_interval_s or 1.0
        while not self._stop.wait(interval):
            try:
                if self._models and self._aliases_moved():
                    logger.info("registry aliases moved: reloading")
                    self._load()
            except Exception:  # the registry being down must not kill the watcher
                logger.exception("alias check failed")

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

    @bentoml.api(batchable=SETTINGS.adaptive_batching, max_batch_size=SETTINGS.max_batch_size, max_latency_ms=SETTINGS.max_latency_ms)
    def score(self, requests: Annotated[list[ScoreRequest], Field(min_length=1, max_length=SETTINGS.max_requests)]) -> list[ScoreResponse]:
        """Score keyed batches of records; see the module docstring for the shapes."""
        metrics = serving_metrics()
        models = self._models
        if not models:
            metrics.errors.labels(variant="none", reason="unready").inc(len(requests))
            raise ServiceUnavailable(f"no verified model loaded: {self._reason}")
        experiment_id = self.experiment_id if "challenger" in models else None
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
                req = requests[i]
                request_id = req.request_id or uuid.uuid4().hex
                values = scores[offset : offset + n].tolist()
                responses[i] = ScoreResponse(
                    request_id=request_id,
                    experiment_id=experiment_id,
                    key=req.key,
                    variant=variant,
                    model_name=model.name,
                    model_version=model.version,
                    precision=model.precision,
                    scores=values,
                )
                if self.prediction_log is not None:
                    self.prediction_log.append(
                        request_id=request_id,
                        key=req.key,
                        experiment_id=experiment_id,
                        variant=variant,
                        model_version=model.version,
                        scores=values,
                        records=[r.__dict__ for r in req.records],
                    )
                offset += n
        if self.settings.ab_mode == "shadow" and "challenger" in models:
            try:
                self._run(models["challenger"], "challenger", "shadow", requests)
            except Exception:  # the shadow must never fail what the champion answered
                logger.exception("shadow scoring failed")
                metrics.errors.labels(variant="challenger", reason="shadow").inc(len(requests))
        return responses  # type: ignore[return-value]  # every slot was filled above

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

    @bentoml.api
    def status(self) -> ServiceStatus:
        """Readiness with its reason, and what is loaded."""
        models = self._models
        return ServiceStatus(
            ready=bool(models),
            reason=self._reason,
            ab_mode=self.settings.ab_mode,
            challenger_weight=self.settings.challenger_weight,
            experiment_id=self.experiment_id if "challenger" in models else None,
            models={v: ModelInfo(alias=m.alias, version=m.version, precision=m.precision, sha256=m.sha256) for v, m in models.items()},
        )


class ReadyInfo:
    """`GET /readyz` answered from the worker's instance: 200 or 503, with the live versions."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/readyz" or not _LIVE:
            return await self.app(scope, receive, send)
        service = _LIVE[0]
        ready = service.__is_ready__()
        models = service._models
        body = json.dumps(
            {
                "ready": ready,
                "reason": service._reason,
                "experiment_id": service.experiment_id if "challenger" in models else None,
                "models": {v: m.version for v, m in models.items()},
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200 if ready else 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


# Budgets are per worker process (each has its own middleware): divide the pod's totals.
TransactionRisk.add_asgi_middleware(
    LoadShedding, max_in_flight=math.ceil(SETTINGS.max_concurrency / SETTINGS.workers), max_bytes=math.ceil(SETTINGS.max_inflight_bytes / SETTINGS.workers)
)
TransactionRisk.add_asgi_middleware(ReadyInfo)
# BentoML 1.4 derives the media type of a list (root-model) output from its JSON schema, and
# rebuilds that schema on every response: about 3 ms per /score call here. It is JSON, always.
TransactionRisk.apis["score"].output_spec.media_type = "application/json"
