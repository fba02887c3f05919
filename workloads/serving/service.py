"""The generic BentoML scoring service: any project's registered champion (and challenger).

    SAHAB_PROJECT=projects/delivery-time bentoml serve workloads.serving.service:Scorer --host 127.0.0.1 --port 3000

The project comes from `SAHAB_PROJECT` (workloads.project.from_env) when BentoML imports `Scorer`:
BentoML fixes a service's API at import, so the request schema (the project's typed features),
the answer (per task) and the service name (`<project name with _>`) are built then, by
`build_service(project)` (tests and the benchmark call it directly).

Endpoints (all POST, JSON):
- `/score`: `{"requests": [{"key": "<entity key>", "request_id"?: "...", "records": [{...features...}]}]}`
  -> one answer per keyed request: binary `scores` (P(positive)), regression `scores` (the value),
  multiclass `probabilities` (class order), `predictions` and `classes`; each with `request_id`
  (given, or generated with the experiment and served time in it: exposures.new_request_id),
  `experiment_id`, `served_at`, `key`, `variant`, `model_name`, `model_version`, `precision`.
  The key picks the variant (sticky hash of the experiment's salt); in shadow mode only the
  champion answers and the challenger scores the same records later, off the request path
  (shadow.py). Concurrent calls are merged into one onnxruntime call per variant with no timer
  (batching.py). Every scored record is appended to the prediction log (prediction_log.py); each
  keyed request of an experiment is an exposure and each model call a guardrail count
  (exposures.py, flushed off the request path).
- `/status`: readiness, its reason, the live versions with their sha256 and the experiment id.
- `GET /readyz`: 200 / 503 with the same live versions as JSON (ReadyInfo below); `/livez`,
  `/metrics` are BentoML's.
Personal data and explanations (issue 22): a project's `pii` key and features are tokenised
(workloads/privacy) before anything routes, scores, logs or answers with them; a request with
`"explain": true` also gets reason codes per record (workloads/explain: TreeSHAP for trees,
integrated gradients for torch) computed on the version's native model, which loads on the first
such request. A request without it takes exactly the path it took before.
Feedback, labels, experiment status and promotion are the control plane's (control.py, its own
port and bearer token), over the shared experiment store (state.py). Every pod loads both
variants and watches the registry aliases: when one moves, the pod reloads within
SAHAB_SERVING_RELOAD_INTERVAL_S.

Bad input is a 400 naming the field (pydantic, before any model code runs); oversized requests
are refused by the same validation; overload is shed with 503 + Retry-After (LoadShedding beyond
SAHAB_SERVING_MAX_CONCURRENCY calls in flight, and a call that waited MAX_LATENCY_MS for the
model) instead of queueing without bound.

Where the time went, and what changed (benchmarks/serving.py, issue 19; README "The request
path"): BentoML's adaptive batcher held lone requests and shed with 503 under load (batching.py:
batching without a timer, small calls on the event loop); BentoML's API machinery cost more than
the model per one-record request (FastScore below answers JSON /score with the API's own input
model, inside BentoML's middlewares); full garbage collections of the whole heap stalled every
request in flight for 0.6-0.9 s (gc.freeze after loading), and under load the requests in flight,
promoted by young collections every few hundred microseconds, still set off full ones (a young
threshold of 50,000 allocations, SAHAB_SERVING_GC_YOUNG_THRESHOLD; the prediction log buffers no
object the collector tracks); OpenTelemetry spans and the access log per request are off unless asked for
(SAHAB_SERVING_TRACE_REQUESTS, _ACCESS_LOG); the metrics of the scoring path are added up and
written once a second (metrics.Tally).
"""

import gc
import json
import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import bentoml
from bentoml.exceptions import ServiceUnavailable
from pydantic import Field, ValidationError

from workloads.serving.abtest import Variant
from workloads.serving.overload import LoadShedding
from workloads.serving.schemas import ModelInfo, ScoringSchemas, ServiceStatus, scoring_schemas
from workloads.serving.settings import ServingSettings, ab_config

with bentoml.importing():
    from workloads.project import Project, from_env
    from workloads.registry import client as registry
    from workloads.serving.batching import MicroBatcher, Overloaded
    from workloads.serving.exposures import ExposureRecorder, new_request_id, served_now
    from workloads.serving.metrics import Tally, serving_metrics
    from workloads.serving.model import AliasNotFound, ExplanationUnavailable, LoadedModel, ModelUnavailable, Prediction, load
    from workloads.serving.prediction_log import PredictionLog
    from workloads.serving.shadow import ShadowScorer
    from workloads.serving.state import Experiment, open_store
    from workloads.settings import SahabSettings

logger = logging.getLogger("workloads.serving")


def service_name(project: Project) -> str:
    """BentoML's service name of a project (`delivery-time` -> `delivery_time`)."""
    return project.spec.name.replace("-", "_")


@dataclass(frozen=True)
class Live:
    """What serves now, swapped as one object on a (re)load so a request never sees a mix."""

    models: dict[Variant, LoadedModel]
    experiment: Experiment | None = None
    experiment_id: str | None = None


class ScoringCore:
    """What a worker's service instance holds and does, apart from BentoML: the loaded variants,
    the experiment, the batcher, the prediction log, exposures and shadow. The BentoML class below
    wraps it (its methods are the API)."""

    def __init__(self, project: Project, schemas: ScoringSchemas, settings: ServingSettings | None = None) -> None:
        self.project, self.spec, self.schemas = project, project.spec, schemas
        self.settings = settings or ServingSettings()
        self.sahab = SahabSettings()
        # Personal data (issue 22): None when the project marks none (then nothing below costs anything).
        from workloads.privacy import for_project

        self.privacy = for_project(project, self.sahab.home)
        # A/B (issue 20): the project's experiment settings; every keyed request of an experiment is an
        # exposure, every model call a guardrail count, both queued to the recorder (flushed off the
        # request path, workloads/serving/exposures.py).
        self.ab = ab_config(self.spec, self.settings)
        self.exposures = ExposureRecorder(open_store(self.settings, self.sahab.home)) if self.settings.ab_mode == "split" else None
        self.live = Live({})
        self.tally = Tally()
        self._reason = "models not loaded yet"
        self._last_attempt = 0.0
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        metrics = serving_metrics()
        self.prediction_log: PredictionLog | None = None
        if self.settings.prediction_log_uri:
            self.prediction_log = PredictionLog(
                self.settings.prediction_log_uri,
                self.spec,
                flush_s=self.settings.prediction_log_flush_s,
                max_rows=self.settings.prediction_log_max_rows,
                on_drop=metrics.log_dropped.inc,
                on_write=metrics.log_written.inc,
            )
        self.shadow: ShadowScorer | None = None
        if self.settings.ab_mode == "shadow":
            self.shadow = ShadowScorer(
                self.prediction_log,
                max_batches=self.settings.shadow_queue,
                on_scored=self._observe_shadow,
                on_drop=metrics.shadow_dropped.inc,
                on_error=metrics.errors.labels(variant="challenger", reason="shadow").inc,
            )
        batch = self.settings.max_batch_size if self.settings.adaptive_batching else 1
        self.batcher = MicroBatcher(
            self.score_many, max_items=batch, inline_records=self.settings.inline_records, max_wait_s=self.settings.max_latency_ms / 1000
        )
        self._stop = threading.Event()
        self._load()
        self._watcher = threading.Thread(target=self._watch_aliases, name="alias-watcher", daemon=True)
        self._watcher.start()
        # Everything alive now (BentoML, MLflow, pyarrow, the sessions: a few hundred thousand objects)
        # lives as long as the process: move it out of the collector's view. Without this a full
        # collection, which request garbage triggers every few seconds under load, walks all of it
        # with the GIL held: measured 580-900 ms stalls of every request in flight (p99 at concurrency
        # 64: 811 ms, against 142 ms with it). The Instagram recipe; checked: CPython docs, gc.freeze.
        gc.collect()
        gc.freeze()
        # Fewer young collections, so a request's objects die before one sees them: promoted objects of the
        # requests in flight would set off full collections, each a stop of every request (settings.py).
        _threshold, middle, old = gc.get_threshold()
        gc.set_threshold(self.settings.gc_young_threshold, max(middle, 20), old)

    def close(self) -> None:
        self._stop.set()
        self.batcher.close()
        if self.shadow is not None:
            self.shadow.close()
        if self.prediction_log is not None:
            self.prediction_log.close()
        if self.exposures is not None:
            self.exposures.close()
        self.tally.close()

    # --- model lifecycle -----------------------------------------------------------------------

    def _load(self) -> bool:
        """(Re)load champion and challenger; on any integrity or load failure stay unready (or, when
        models are already live, keep serving them and say why on /status)."""
        with self._load_lock:
            self._last_attempt = time.monotonic()
            s = self.settings
            try:
                models: dict[Variant, LoadedModel] = {"champion": load(s.champion_alias, s, self.spec, self.sahab)}
                if s.ab_mode != "off":
                    try:
                        models["challenger"] = load(s.challenger_alias, s, self.spec, self.sahab)
                    except AliasNotFound:
                        logger.warning("no %r alias in the registry: serving the champion only", s.challenger_alias)
            except ModelUnavailable as exc:
                with self._lock:
                    if self._models:
                        self._reason = f"serving the previous versions; reload failed: {exc}"
                    else:
                        self.live, self._reason = Live({}), str(exc)
                logger.error("service unready: %s" if not self._models else "reload failed: %s", exc)
                serving_metrics().ready.set(1 if self._models else 0)
                return bool(self._models)
            experiment = None
            if s.ab_mode == "split" and "challenger" in models and 0.0 < self.ab.challenger_weight < 1.0:
                experiment = Experiment(
                    models["champion"].name, models["champion"].version, models["challenger"].version, self.ab.salt, self.ab.challenger_weight
                )
                if self.exposures is not None:
                    self.exposures.register(experiment)
            with self._lock:
                self.live = Live(models, experiment, experiment.id if experiment else None)
                notes = [f"{v}=v{m.version} {m.precision}" + (f" ({m.reason})" if m.reason else "") for v, m in models.items()]
                self._reason = "verified: " + ", ".join(notes)
            gc.freeze()  # the new sessions are long-lived too (no collection here: that would be the stall)
            serving_metrics().ready.set(1)
            logger.info("service ready: %s (experiment %s)", self._reason, experiment)
            return True

    @property
    def _models(self) -> dict[Variant, LoadedModel]:
        return self.live.models

    @property
    def experiment_id(self) -> str | None:
        """The running experiment (None when only the champion serves)."""
        return self.live.experiment_id

    def _aliases_moved(self) -> bool:
        s = self.settings
        wanted = registry.alias_versions((s.champion_alias, s.challenger_alias), name=self.spec.name, settings=self.sahab)
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

    def is_ready(self) -> bool:
        if self._models:
            return True
        if time.monotonic() - self._last_attempt >= self.settings.reload_interval_s:
            return self._load()
        return False

    # --- scoring (on the batcher's worker thread) ------------------------------------------------

    def score_many(self, requests: list[Any]) -> list[dict[str, Any]]:
        """Answers (JSON-ready dicts of the project's answer model) for keyed requests of one or several
        HTTP calls, in order: one model call per variant. Raises ServiceUnavailable when nothing is loaded."""
        live = self.live
        models, experiment, experiment_id = live.models, live.experiment, live.experiment_id
        if not models:
            serving_metrics().errors.labels(variant="none", reason="unready").inc(len(requests))
            raise ServiceUnavailable(f"no verified model loaded: {self._reason}")
        served = served_now()
        served_at = datetime.fromtimestamp(served, UTC)
        served_text = served_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # as pydantic writes an aware UTC datetime
        records = [[rec.__dict__ for rec in req.records] for req in requests]
        keys = [req.key for req in requests]
        if self.privacy is not None:  # tokens before the key routes, the model scores or anything is logged
            keys = [self.privacy.key(k) for k in keys]
            records = [self.privacy.records(r) for r in records]
        groups: dict[Variant, list[int]] = {}
        for i, key in enumerate(keys):
            groups.setdefault(experiment.variant(key) if experiment is not None else "champion", []).append(i)
        answers: list[Any] = [None] * len(requests)
        request_ids = [req.request_id or new_request_id(experiment_id, served) for req in requests]
        self.tally.observe(("batch_records",), sum(len(r) for r in records))
        multiclass = self.spec.label.task == "multiclass"
        log, exposures = self.prediction_log, self.exposures if experiment_id is not None else None
        for variant, idx in groups.items():
            model = models[variant]
            prediction = self._run(model, variant, [records[i] for i in idx], len(idx), experiment_id)
            scores = prediction.scores.tolist()
            probabilities, predictions = _multiclass(model, prediction) if multiclass else (None, None)
            tail = {"variant": variant, "model_name": model.name, "model_version": model.version, "precision": model.precision}
            parts, offset = {}, 0
            for i in idx:
                parts[i] = slice(offset, offset + len(records[i]))
                offset += len(records[i])
            explained = self._explain(model, variant, [i for i in idx if requests[i].explain], requests, records, parts, scores, probabilities)
            for i in idx:
                part = parts[i]
                # The answer model's field order (schemas._Answer), so both paths write the same bytes.
                answer = {"request_id": request_ids[i], "experiment_id": experiment_id, "served_at": served_text, "key": keys[i], **tail}
                if probabilities is not None and predictions is not None:  # multiclass
                    answer.update(classes=list(model.classes), probabilities=probabilities[part], predictions=predictions[part])
                else:
                    answer["scores"] = scores[part]
                explanations, error = explained.get(i, (None, None))
                answer.update(explanations=explanations, explanation_error=error)
                answers[i] = answer
                if exposures is not None and experiment_id is not None:
                    exposures.record(experiment_id, keys[i], variant, served, request_ids[i])
                if log is not None:
                    log.append(
                        request_id=request_ids[i],
                        key=keys[i],
                        experiment_id=experiment_id,
                        variant=variant,
                        model_version=model.version,
                        scores=scores[part],
                        predictions=predictions[part] if predictions is not None else None,
                        probabilities=probabilities[part] if probabilities is not None else None,
                        records=records[i],
                        ts=served_at,
                        reasons=[e["reasons"] for e in explanations] if explanations else None,
                    )
        if self.shadow is not None and "challenger" in models:
            self.shadow.offer(models["challenger"], served_at, [(request_ids[i], keys[i], records[i]) for i in range(len(requests))])
        return answers

    def _explain(
        self, model: LoadedModel, variant: Variant, wanted: list[int], requests: list[Any], records: list, parts: dict, scores: list, probabilities: list | None
    ) -> dict[int, tuple[list | None, str | None]]:
        """Reason codes of the requests in `wanted` (indices): {i: (one explanation per record, None)},
        or (None, why) when the version cannot explain. Never raises: a failed explanation must not
        fail the scores of the other requests merged into this batch."""
        if not wanted:
            return {}
        import numpy as np

        from workloads.explain import served_differences

        try:
            explainer = model.explainer(self.project)
            flat = [r for i in wanted for r in records[i]]
            started = time.perf_counter()
            numeric, categorical = model.encoder(flat)
            attributions = explainer.explain(numeric, categorical)
            served = np.asarray([s for i in wanted for s in scores[parts[i]]], dtype=np.float64)
            probs = np.asarray([p for i in wanted for p in probabilities[parts[i]]], dtype=np.float64) if probabilities is not None else None
            diffs = served_differences(attributions, served, probs)
            self.tally.observe(("explain", variant), time.perf_counter() - started)
        except ExplanationUnavailable as exc:
            return {i: (None, str(exc)) for i in wanted}
        except Exception as exc:  # an attribution that failed is reported in the answer, the scores still go out
            logger.exception("explanation failed (%s v%s)", model.name, model.version)
            return {i: (None, f"explanation failed: {type(exc).__name__}: {exc}") for i in wanted}
        out: dict[int, tuple[list | None, str | None]] = {}
        row = 0
        for i in wanted:
            k = requests[i].top_k
            items = []
            for _ in records[i]:
                diff = diffs[row]
                items.append(attributions.record(row, k, None if math.isnan(diff) else diff))
                row += 1
            out[i] = (items, None)
        return out

    def _run(self, model: LoadedModel, variant: Variant, records: Sequence[Sequence[dict]], requests: int, experiment_id: str | None) -> Prediction:
        flat = [r for recs in records for r in recs]
        started = time.perf_counter()
        try:
            prediction = model.predict(flat)
        except Exception:
            serving_metrics().errors.labels(variant=variant, reason="inference").inc(requests)
            if experiment_id is not None and self.exposures is not None:
                self.exposures.observe(experiment_id, variant, requests=requests, errors=requests)
            raise
        elapsed = time.perf_counter() - started
        if experiment_id is not None and self.exposures is not None:
            self.exposures.observe(experiment_id, variant, requests=requests, latency_s=elapsed)
        self._observe(model, variant, "live", requests, len(flat), elapsed, prediction)
        return prediction

    def _observe(self, model: LoadedModel, variant: str, mode: str, requests: int, records: int, elapsed: float, prediction: Prediction) -> None:
        tally = self.tally
        tally.observe(("latency", variant, mode), elapsed)
        tally.count(("requests", variant, mode), requests)
        tally.count(("records", variant, mode), records)
        if model.task != "regression":
            tally.observe_many(("scores", variant, mode), prediction.scores.tolist())

    def _observe_shadow(self, model: LoadedModel, requests: int, records: int, elapsed: float, prediction: Prediction) -> None:
        self._observe(model, "challenger", "shadow", requests, records, elapsed, prediction)

    def status(self) -> ServiceStatus:
        models = self._models
        return ServiceStatus(
            ready=bool(models),
            reason=self._reason,
            ab_mode=self.settings.ab_mode,
            challenger_weight=self.ab.challenger_weight,
            experiment_id=self.experiment_id,
            models={v: ModelInfo(alias=m.alias, version=m.version, precision=m.precision, sha256=m.sha256) for v, m in models.items()},
        )


class ReadyInfo:
    """`GET /readyz` answered from the worker's instance: 200 or 503, with the live versions."""

    def __init__(self, app, live: list[ScoringCore]) -> None:
        self.app, self.live = app, live

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/readyz" or not self.live:
            return await self.app(scope, receive, send)
        core = self.live[0]
        ready = core.is_ready()
        models = core._models
        body = json.dumps(
            {
                "ready": ready,
                "reason": core._reason,
                "project": core.spec.name,
                "experiment_id": core.experiment_id,
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


def _reply(status: int, body: bytes, *, retry: bool = False) -> tuple[dict, dict]:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if retry:
        headers.append((b"retry-after", b"1"))
    return {"type": "http.response.start", "status": status, "headers": headers}, {"type": "http.response.body", "body": body}


class FastScore:
    """`POST /score` with a JSON body, answered from the worker's ScoringCore: the API's own input
    model (`service.apis["score"].input_spec`, so the same validation and the same 400 body
    `{"error", "detail": [{"loc", "msg", "type"}]}`), the answers as the API path writes them (a
    test holds both paths' JSON equal).

    Why: BentoML's API path costs more than the model on a one-record request (a Starlette Request
    and router, a context per request, serde, `inspect.signature` binding per call, a streamed
    response with background tasks: about 1,000 Python calls per request, profiled with
    benchmarks/serving.py). This middleware runs inside BentoML's own (request metrics, tracing,
    timeout, max concurrency) and LoadShedding, so those still apply; anything else (another
    content type, another path) goes to BentoML unchanged. SAHAB_SERVING_FAST_PATH=false sends
    /score through BentoML's API path too."""

    def __init__(self, app, live: list[ScoringCore], input_spec: Any) -> None:
        self.app, self.live, self.input_spec = app, live, input_spec

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != "/score" or scope["method"] != "POST" or not self.live or not _json_body(scope):
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        start, body = await self._answer(b"".join(chunks))
        await send(start)
        await send(body)

    async def _answer(self, body: bytes) -> tuple[dict, dict]:
        try:
            requests = self.input_spec.model_validate_json(body or b"{}").requests
        except ValidationError as exc:
            detail = exc.errors(include_context=False, include_input=False, include_url=False)
            logger.info("/score refused: %s", "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in detail[:5]))
            return _reply(400, json.dumps({"error": f"{exc.error_count()} validation error for Input", "detail": detail}).encode())
        core = self.live[0]
        try:
            if not core._models:
                serving_metrics().errors.labels(variant="none", reason="unready").inc(len(requests))
                raise ServiceUnavailable(f"no verified model loaded: {core._reason}")
            answers = await core.batcher.submit(requests, records=sum(len(r.records) for r in requests))
        except Overloaded as exc:
            serving_metrics().errors.labels(variant="none", reason="overloaded").inc(len(requests))
            return _reply(503, json.dumps({"error": str(exc)}).encode(), retry=True)
        except ServiceUnavailable as exc:
            return _reply(503, json.dumps({"error": str(exc)}).encode(), retry=True)
        except Exception:  # the API path's answer to anything else: a 500 that names nothing internal
            logger.exception("/score failed")
            return _reply(500, b'{"error":"An unexpected error has occurred, please check the server log."}')
        return _reply(200, json.dumps(answers, separators=(",", ":")).encode())


def _multiclass(model: LoadedModel, prediction: Prediction) -> tuple[list[list[float]], list[str]]:
    """(probabilities, predicted classes) of a multiclass project's answer."""
    if prediction.probabilities is None or prediction.predictions is None:
        raise ModelUnavailable(
            f"{model.name} v{model.version} answers as a {model.task} model, but the project's label.task is multiclass. "
            "Fix: register a version trained on this project (or correct label.task in project.yaml)"
        )
    return prediction.probabilities.tolist(), prediction.predictions


def _records_in(requests: Sequence[Any]) -> int:
    """Records in keyed requests (the `/score` body's models, built per project)."""
    return sum(len(r.records) for r in requests)


def _json_body(scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";")[0].strip() == b"application/json"
    return True  # BentoML reads a body without a content type as JSON too


def build_service(project: Project, settings: ServingSettings | None = None) -> Any:
    """The BentoML service of `project` (what `Scorer` is for SAHAB_PROJECT's project)."""
    settings = settings or ServingSettings()
    schemas = scoring_schemas(project.spec, max_records=settings.max_records)
    request_type, response_type = schemas.request, schemas.response
    live: list[ScoringCore] = []
    """The worker's instance, for the /readyz middleware."""

    config: dict[str, Any] = {
        "resources": {"cpu": settings.cpu},
        "workers": settings.workers,
        # BentoML's own limit (429) is only a backstop; LoadShedding answers 503 first (see below).
        "traffic": {"timeout": settings.timeout_s, "max_concurrency": 2 * settings.max_concurrency},
    }
    if not settings.trace_requests:
        # BentoML's OpenTelemetry middleware opens six spans per request: more than the model costs, for no
        # one to read unless a tracing exporter is configured (then set SAHAB_SERVING_TRACE_REQUESTS=true).
        config["tracing"] = {"excluded_urls": ["/score", "/status", "/readyz", "/livez", "/metrics"]}
    if not settings.access_log:
        # One log line per request costs more than the model; sahab_serving_* and BentoML's request metrics count them.
        config["logging"] = {"access": {"enabled": False}}

    class Scorer:
        live_cores = live
        """The worker's ScoringCore once BentoML built the instance (`service.inner.live_cores[0]`: tests, the benchmark)."""

        def __init__(self) -> None:
            self.core = ScoringCore(project, schemas, ServingSettings())
            live[:] = [self.core]

        @bentoml.on_shutdown
        def _shutdown(self) -> None:
            self.core.close()

        def __is_ready__(self) -> bool:
            return self.core.is_ready()

        @bentoml.api
        async def score(
            self,
            requests: Annotated[list[request_type], Field(min_length=1, max_length=settings.max_requests)],  # type: ignore[valid-type]  # built from the project
        ) -> list[response_type]:  # type: ignore[valid-type]  # built from the project
            """Score keyed batches of records; see the module docstring for the shapes."""
            if not self.core._models:
                serving_metrics().errors.labels(variant="none", reason="unready").inc(len(requests))
                raise ServiceUnavailable(f"no verified model loaded: {self.core._reason}")
            try:
                answers = await self.core.batcher.submit(requests, records=_records_in(requests))
                return [response_type.model_validate(a) for a in answers]
            except Overloaded as exc:
                serving_metrics().errors.labels(variant="none", reason="overloaded").inc(len(requests))
                raise ServiceUnavailable(str(exc)) from exc

        @bentoml.api
        def status(self) -> ServiceStatus:
            """Readiness with its reason, and what is loaded."""
            return self.core.status()

    Scorer.__name__ = Scorer.__qualname__ = "Scorer"
    Scorer.__module__ = __name__
    service = bentoml.service(name=service_name(project), **config)(Scorer)
    # Budgets are per worker process (each has its own middleware): divide the pod's totals.
    service.add_asgi_middleware(
        LoadShedding, max_in_flight=math.ceil(settings.max_concurrency / settings.workers), max_bytes=math.ceil(settings.max_inflight_bytes / settings.workers)
    )
    service.add_asgi_middleware(ReadyInfo, live=live)
    if settings.fast_path:
        service.add_asgi_middleware(FastScore, live=live, input_spec=service.apis["score"].input_spec)
    # BentoML 1.4 derives the media type of a list (root-model) output from its JSON schema, and
    # rebuilds that schema on every response: about 3 ms per /score call. It is JSON, always.
    service.apis["score"].output_spec.media_type = "application/json"
    return service


_BUILD_LOCK = threading.Lock()


def __getattr__(name: str) -> Any:
    """`Scorer`: the service of SAHAB_PROJECT's project, built on first access (BentoML's import of
    `workloads.serving.service:Scorer`), so importing this module needs no project."""
    if name != "Scorer":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _BUILD_LOCK:
        if "Scorer" not in globals():
            # A module-level name: BentoML finds a service's import string among its module's variables.
            globals()["Scorer"] = build_service(from_env())
        return globals()["Scorer"]
