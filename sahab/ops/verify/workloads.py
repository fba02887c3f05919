"""Workloads part of `sahab verify`, per project: MLflow answers and holds the project's champion, its
serving is ready and scores a record of the project's features, its monitoring job's last run succeeded.

The same checks run on the cluster (HTTP through the Kubernetes API's service proxy, the drift
CronJob's Jobs) and on the local platform (its loopback URLs, the drift schedule's status file).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sahab.ops.verify.base import Check, problem

VERIFY_KEY = "sahab-verify"


def fixture_record(spec: Any) -> dict[str, Any]:
    """One record for any project (a ProjectSpec): every numeric feature 1.0, every categorical one
    a value no model has seen (encoded as unknown): what serving must answer for whatever it serves."""
    return {name: 1.0 for name in spec.numeric} | {name: VERIFY_KEY for name in spec.categorical}


CHAMPION = "champion"


class Http(Protocol):
    """An HTTP service: `request` answers (status, body); status 0 when nothing answered."""

    @property
    def label(self) -> str: ...

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, str]: ...


@dataclass(frozen=True)
class DirectHttp:
    """A service reached at its URL (the local platform's loopback services)."""

    url: str
    timeout_s: float = 30.0

    @property
    def label(self) -> str:
        return self.url

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        import httpx

        try:
            r = httpx.request(method, self.url.rstrip("/") + path, json=body, timeout=self.timeout_s)
        except httpx.HTTPError as e:
            return 0, f"{type(e).__name__}: {e}"
        return r.status_code, r.text


@dataclass(frozen=True)
class ServiceProxy:
    """A cluster Service reached through the API server's proxy (no port-forward, no ingress)."""

    cluster: Any  # sahab.ops.verify.cluster.Cluster
    ref: str  # namespace/name:port

    @property
    def label(self) -> str:
        return f"service {self.ref}"

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, str]:
        namespace, rest = self.ref.split("/", 1)
        name, port = rest.split(":", 1)
        return self.cluster.request(method, f"/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy{path}", body)


@dataclass(frozen=True, kw_only=True)
class Workloads:
    mlflow: Http
    serving: Http
    model_name: str
    drift_last_run: Callable[[], list[str]]
    drift_label: str
    record: dict[str, Any] = field(default_factory=dict)
    """A record of the project's features (`fixture_record(spec)`)."""
    task: str = "binary"


def workload_checks(w: Workloads) -> list[Check]:
    return [
        Check(id="workloads-mlflow-answers", subject=w.mlflow.label, run=lambda: mlflow_answers(w.mlflow)),
        Check(id="workloads-mlflow-champion", subject=w.model_name, run=lambda: mlflow_champion(w.mlflow, w.model_name)),
        Check(id="workloads-serving-ready", subject=w.serving.label, run=lambda: serving_ready(w.serving)),
        Check(id="workloads-serving-scores", subject=w.serving.label, run=lambda: serving_scores(w.serving, w.model_name, w.record, w.task)),
        Check(id="workloads-drift-last-run", subject=w.drift_label, run=w.drift_last_run),
    ]


def mlflow_answers(mlflow: Http) -> list[str]:
    status, body = mlflow.request("GET", "/health")
    return (
        []
        if status == 200
        else [problem(mlflow.label, "MLflow", f"/health answered {status or 'nothing'}: {body[:200]}", "check the MLflow Deployment's logs and its database")]
    )


def mlflow_champion(mlflow: Http, model: str) -> list[str]:
    status, body = mlflow.request("GET", f"/api/2.0/mlflow/registered-models/alias?name={model}&alias={CHAMPION}")
    if status != 200:
        return [
            problem(
                f"{model}@{CHAMPION}",
                "MLflow registered model",
                f"the registry has no {CHAMPION} ({status or 'no answer'}: {body[:200]})",
                f"register a model and promote it (`python -m workloads.registry set-alias {CHAMPION} VERSION`)",
            )
        ]
    version = (json.loads(body).get("model_version") or {}).get("version")
    return (
        []
        if version
        else [problem(f"{model}@{CHAMPION}", "MLflow registered model", "the alias points at no version", "set the alias to a registered version")]
    )


def serving_ready(serving: Http) -> list[str]:
    status, body = serving.request("GET", "/readyz")
    return (
        []
        if status == 200
        else [
            problem(
                serving.label,
                "serving",
                f"/readyz answered {status or 'nothing'}: {body[:200]}",
                "see /status for why the models are not loaded (alias, artifact integrity)",
            )
        ]
    )


def serving_scores(serving: Http, model: str, record: dict[str, Any], task: str = "binary") -> list[str]:
    """One record of the project's features is answered with the task's shape: binary one
    probability, regression one finite value, multiclass one distribution over the classes."""
    status, body = serving.request("POST", "/score", {"requests": [{"key": VERIFY_KEY, "records": [record]}]})
    if status != 200:
        return [
            problem(
                serving.label,
                "serving",
                f"/score answered {status or 'nothing'} for the fixture record: {body[:300]}",
                "see the serving logs; a 400 names the field the model expects",
            )
        ]
    try:
        answer = json.loads(body)[0]
        values = answer["probabilities"] if task == "multiclass" else answer["scores"]
    except (ValueError, LookupError, TypeError):
        return [problem(serving.label, "serving", f"/score answered an unexpected body: {body[:300]}", "check the serving image is the one the plan pins")]
    if len(values) != 1 or not _shaped(values[0], task):
        return [problem(serving.label, "serving", f"{values} is not one {task} answer for one record", "check the exported model's output contract")]
    if answer.get("model_name") not in (None, model):
        return [problem(serving.label, "serving", f"it serves {answer.get('model_name')}, not {model}", "point SAHAB_PROJECT at the project of this service")]
    return []


def _shaped(value: Any, task: str) -> bool:
    if task == "multiclass":
        return isinstance(value, list) and len(value) >= 2 and all(isinstance(p, int | float) and 0.0 <= p <= 1.0 for p in value) and abs(sum(value) - 1) < 1e-3
    if task == "regression":
        return isinstance(value, int | float) and math.isfinite(value)
    return isinstance(value, int | float) and 0.0 <= value <= 1.0


# --- the drift job ---------------------------------------------------------------------------------


def drift_cronjob_last_run(ref: str, cronjobs: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> list[str]:
    """The latest finished Job of the drift CronJob completed."""
    namespace, name = ref.split("/", 1)
    if not any((c.get("metadata") or {}).get("name") == name and (c.get("metadata") or {}).get("namespace") == namespace for c in cronjobs):
        return [problem(ref, "CronJob", "the plan has it but the cluster does not", "deploy it with `sahab up`")]
    owned = [
        j
        for j in jobs
        if (j.get("metadata") or {}).get("namespace") == namespace
        and any(o.get("kind") == "CronJob" and o.get("name") == name for o in (j.get("metadata") or {}).get("ownerReferences") or [])
    ]
    finished = [j for j in owned if _condition(j, "Complete") or _condition(j, "Failed")]
    if not finished:
        return [
            problem(
                ref,
                "CronJob",
                "it has not finished a run yet",
                f"run it once: `kubectl -n {namespace} create job --from=cronjob/{name} {name}-verify`, then verify again",
            )
        ]
    last = max(finished, key=lambda j: (j.get("status") or {}).get("startTime") or (j.get("metadata") or {}).get("creationTimestamp") or "")
    cond = _condition(last, "Failed")
    if cond:
        return [
            problem(
                f"{namespace}/{last['metadata']['name']}",
                "Job",
                f"the drift job's last run failed ({cond.get('reason')}: {cond.get('message')})",
                f"`kubectl -n {namespace} logs job/{last['metadata']['name']}`",
            )
        ]
    return []


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (job.get("status") or {}).get("conditions") or [] if c.get("type") == kind and c.get("status") == "True"), None)


def drift_schedule_last_run(status_file: Path, log: Path | None = None) -> list[str]:
    """A local monitoring schedule's last run exited 0 (`workloads.local.schedule --status FILE`)."""
    label = f"monitoring ({status_file})"
    try:
        status = json.loads(Path(status_file).read_text())
    except OSError:
        return [problem(label, "local monitoring job", "it has not finished a run yet", "wait for its first run (`sahab local status`), then verify again")]
    except ValueError as e:
        return [problem(label, "local monitoring job", f"its status file is not JSON ({e})", "restart the platform (`sahab local down && sahab local up`)")]
    if status.get("last_exit") != 0:
        when = datetime.fromtimestamp(status.get("last_start") or 0, UTC).isoformat(timespec="seconds")
        return [
            problem(label, "local monitoring job", f"its last run (started {when}) exited {status.get('last_exit')}", f"see its log{f' {log}' if log else ''}")
        ]
    return []
