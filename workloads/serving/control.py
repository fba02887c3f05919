"""The A/B control plane: feedback, experiment status and promotion, on its own port.

    python -m workloads.serving.control        # SAHAB_SERVING_CONTROL_HOST / _PORT (default 127.0.0.1:3001)

Separate from the scoring service on purpose: on the cluster it is a second container of every
serving pod, on `SAHAB_SERVING_CONTROL_PORT`, reachable only through its own ClusterIP Service
(never the scoring load balancer), and every call but `/healthz` needs
`Authorization: Bearer <token>` (SAHAB_SERVING_CONTROL_TOKEN_FILE, a mounted Kubernetes Secret,
or SAHAB_SERVING_CONTROL_TOKEN; 401 otherwise, and 401 for every call when no token is configured). It holds no state: everything is in the shared
experiment store (state.py), so any replica answers the same.

- `POST /feedback` `{"outcomes": [{"request_id", "key", "outcome", "experiment_id"?, "variant"?}]}`:
  outcomes outside [OUTCOME_MIN, OUTCOME_MAX] are a 400 naming `outcomes.<i>.outcome`; the
  experiment is the one named (late feedback for an old experiment goes to the old one; an
  unknown id is a 400) or the current one; the variant is the key's assignment in it (a
  different `variant` is a 400). Idempotent by request id. Answer `{"experiment_id", "accepted",
  "duplicates", "sealed"}`.
- `GET /experiment`: the current experiment's decision, replayed from the shared store.
- `POST /promote` `{"apply": bool, "experiment_id"?}`: the decision, and with `apply` (and
  `SAHAB_SERVING_ALLOW_PROMOTION=true`) the evaluator's `act()`: 200 `promoted`/`rolled_back`/
  `none`, 409 when another promotion holds the experiment, the registry no longer points at the
  tested versions, or the gate refuses.
"""

from __future__ import annotations

import hmac
import json
import logging
import sys
import threading
import time

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from workloads.serving import evaluator
from workloads.serving.abtest import assign
from workloads.serving.schemas import FeedbackBatch, PromoteRequest
from workloads.serving.settings import ServingSettings
from workloads.serving.state import Experiment, ExperimentStore, Outcome, open_store
from workloads.settings import SahabSettings, run_cli

logger = logging.getLogger("workloads.serving.control")


class CurrentExperiment:
    """The experiment the aliases define, re-read from the registry at most every RELOAD_INTERVAL_S."""

    def __init__(self, settings: ServingSettings, sahab: SahabSettings) -> None:
        self.settings, self.sahab = settings, sahab
        self._value: Experiment | None = None
        self._at = -float("inf")
        self._lock = threading.Lock()

    def get(self) -> Experiment | None:
        with self._lock:
            if time.monotonic() - self._at >= self.settings.reload_interval_s:
                self._value = evaluator.current_experiment(self.settings, self.sahab)
                self._at = time.monotonic()
            return self._value


def _error(status: int, message: str, detail: list | None = None) -> JSONResponse:
    body: dict[str, object] = {"error": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status)


def create_app(settings: ServingSettings | None = None, sahab: SahabSettings | None = None, store: ExperimentStore | None = None) -> Starlette:
    settings = settings or ServingSettings()
    sahab = sahab or SahabSettings()
    store = store or open_store(settings, sahab.home)
    current = CurrentExperiment(settings, sahab)
    token = value.encode() if (value := settings.token()) else None

    def authorised(request: Request) -> JSONResponse | None:
        if token is None:
            return _error(401, "control plane has no token configured: set SAHAB_SERVING_CONTROL_TOKEN (a Secret)")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token):
            return _error(401, "missing or wrong bearer token (Authorization: Bearer <SAHAB_SERVING_CONTROL_TOKEN>)")
        return None

    async def body_of(request: Request, model):
        try:
            raw = await request.body()
            return model.model_validate_json(raw or b"{}"), None
        except ValidationError as exc:
            detail = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
            return None, _error(400, "invalid request body", detail)

    def _feedback(batch: FeedbackBatch):
        bad = [
            {"loc": ["outcomes", i, "outcome"], "msg": f"outcome {o.outcome} outside the declared range [{settings.outcome_min}, {settings.outcome_max}]"}
            for i, o in enumerate(batch.outcomes)
            if not settings.outcome_min <= o.outcome <= settings.outcome_max
        ]
        if bad:
            return _error(400, "outcomes out of range (SAHAB_SERVING_OUTCOME_MIN / _MAX)", bad)
        groups: dict[str, tuple[Experiment, list[Outcome]]] = {}
        now = current.get()
        for i, o in enumerate(batch.outcomes):
            exp = now if o.experiment_id is None or (now and o.experiment_id == now.id) else store.experiment(o.experiment_id)
            if exp is None:
                where = "experiment_id" if o.experiment_id else "(root)"
                msg = f"unknown experiment {o.experiment_id!r}" if o.experiment_id else "no experiment is running (needs AB_MODE=split and both aliases)"
                return _error(400, msg, [{"loc": ["outcomes", i, where], "msg": msg}])
            variant = assign(o.key, exp.challenger_weight, exp.salt)
            if o.variant is not None and o.variant != variant:
                msg = f"key {o.key!r} was served by {variant} in experiment {exp.id}, not {o.variant}"
                return _error(400, msg, [{"loc": ["outcomes", i, "variant"], "msg": msg}])
            groups.setdefault(exp.id, (exp, []))[1].append(Outcome(o.request_id, o.key, variant, o.outcome))
        answer = {"experiment_id": now.id if now else None, "accepted": 0, "duplicates": 0, "sealed": 0}
        for exp, outcomes in groups.values():
            store.register(exp)
            result = store.record(exp.id, outcomes, settings.test_key_outcomes)
            answer["accepted"] += result.accepted
            answer["duplicates"] += result.duplicates
            answer["sealed"] += result.sealed
        if len(groups) > 1 or (groups and now and next(iter(groups)) != now.id):
            answer["experiments"] = sorted(groups)
        return JSONResponse(answer)

    async def feedback(request: Request) -> JSONResponse:
        if (denied := authorised(request)) is not None:
            return denied
        batch, err = await body_of(request, FeedbackBatch)
        return err or await run_in_threadpool(_feedback, batch)

    def _status(experiment: Experiment | None) -> dict:
        if experiment is None:
            return {"experiment_id": None, "decision": None, "reason": "no experiment running"}
        return {"experiment_id": experiment.id, "decision": evaluator.evaluate(store, experiment, settings, seal=False, save=False)}

    async def experiment(request: Request) -> JSONResponse:
        if (denied := authorised(request)) is not None:
            return denied
        return JSONResponse(json.loads(json.dumps(await run_in_threadpool(lambda: _status(current.get())), default=str)))

    def _promote(req: PromoteRequest) -> JSONResponse:
        exp = current.get()
        if req.experiment_id is not None:
            exp = store.experiment(req.experiment_id)
            if exp is None:
                return _error(400, f"unknown experiment {req.experiment_id!r}", [{"loc": ["experiment_id"], "msg": "no such experiment in the store"}])
        if exp is None:
            return _error(409, "no experiment is running: nothing to promote")
        decision = evaluator.evaluate(store, exp, settings, seal=False, save=False)
        body = {"experiment_id": exp.id, "recommendation": decision["recommendation"], "decision": decision}
        if not req.apply or decision["recommendation"] == "keep":
            return JSONResponse(json.loads(json.dumps({**body, "action": "none", "detail": decision["reason"]}, default=str)))
        if not settings.allow_promotion:
            return _error(409, "promotion is disabled here (SAHAB_SERVING_ALLOW_PROMOTION=false)")
        result = evaluator.act(store, exp, decision, settings, sahab)
        return JSONResponse(json.loads(json.dumps({**body, "action": result.action, "detail": result.detail}, default=str)), status_code=result.status)

    async def promote(request: Request) -> JSONResponse:
        if (denied := authorised(request)) is not None:
            return denied
        req, err = await body_of(request, PromoteRequest)
        return err or await run_in_threadpool(_promote, req)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/feedback", feedback, methods=["POST"]),
            Route("/experiment", experiment, methods=["GET"]),
            Route("/promote", promote, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m workloads.serving.control", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=None, help="default SAHAB_SERVING_CONTROL_HOST")
    parser.add_argument("--port", type=int, default=None, help="default SAHAB_SERVING_CONTROL_PORT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ServingSettings()
    if settings.token() is None:
        logger.warning("SAHAB_SERVING_CONTROL_TOKEN is not set: every control call will be refused with 401")
    uvicorn.run(
        create_app(settings), host=args.host or settings.control_host, port=settings.control_port if args.port is None else args.port, log_level="warning"
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
