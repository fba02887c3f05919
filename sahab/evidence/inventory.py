"""Model governance for the pack: every project deployed, and for each what the registry and the
monitoring state say about it.

Projects: the environment spec's `kubernetes.projects` when it lists them, else the folders under
projects/ (each one's project.yaml). With a registry (`--registry URI`, or the local platform's
MLflow), per project: its versions (created, run, status), aliases, the data hash each was trained on
(`sahab.data.sha256`), the holdout metrics (`sahab.holdout.*`), A/B decisions with their statistics
(`sahab.abtest.decision`), who promoted what and when (`sahab.promotion.*`), and a model card when
the version's run holds one (issue 22 writes them). With a drift-state root (`--drift-state URI`, or
the local platform's), each project's monitoring state: drift and performance episodes, triggers and
the promotions it saw. Offline with neither, the inventory says so and lists the projects only.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

TAG_DATA_SHA = "sahab.data.sha256"  # workloads/registry/client.py TAG_DATA_SHA
TAG_DECISION = "sahab.abtest.decision"  # workloads/serving/evaluator.py DECISION_TAG
PROMOTION = "sahab.promotion."  # workloads/registry/client.py _promote: gate, checks, previous, at
HOLDOUT = "sahab.holdout."
CARD_NAMES = ("model_card.html", "model_card.md", "model-card.html", "model-card.md")


def _project(repo: Path, folder: str) -> dict[str, Any]:
    path = repo / folder / "project.yaml"
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        doc = {}
    return {
        "name": str(doc.get("name") or Path(folder).name),
        "team": doc.get("team"),
        "description": doc.get("description"),
        "task": (doc.get("label") or {}).get("task"),
        "framework": (doc.get("training") or {}).get("framework"),
        "folder": folder if path.is_file() else None,
    }


def projects_of(repo: Path, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The projects deployed: `kubernetes.projects` of the spec (name, team, path), else every
    projects/*/project.yaml."""
    k8s = spec.get("kubernetes")
    listed = k8s.get("projects") if isinstance(k8s, Mapping) else None
    if listed:
        out = []
        for binding in listed:
            b = {"name": binding} if isinstance(binding, str) else dict(binding or {})
            project = _project(repo, str(b.get("path") or f"projects/{b.get('name')}"))
            out.append({**project, "name": str(b.get("name")), "team": b.get("team") or project["team"], "source": "spec kubernetes.projects"})
        return out
    return [{**_project(repo, f"projects/{p.parent.name}"), "source": "projects/"} for p in sorted((repo / "projects").glob("*/project.yaml"))]


def _iso_ms(ms: Any) -> str | None:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (TypeError, ValueError):
        return None


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def _reachable(uri: str) -> str | None:
    """Why an http(s) tracking server cannot be used (None when it answers /health)."""
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5) as response:
            return None if response.status == 200 else f"/health answered {response.status}"
    except (urllib.error.URLError, OSError) as e:
        return str(getattr(e, "reason", e))


def _version(client: Any, mv: Any, aliases: dict[str, str]) -> dict[str, Any]:
    tags = dict(mv.tags or {})
    card = tags.get("sahab.model_card")
    if not card and mv.run_id:
        try:
            card = next((a.path for a in client.list_artifacts(mv.run_id) if a.path.rsplit("/", 1)[-1] in CARD_NAMES), None)
        except Exception:  # noqa: BLE001 a run whose artifacts cannot be listed simply has no card here
            card = None
    return {
        "version": str(mv.version),
        "created": _iso_ms(mv.creation_timestamp),
        "run_id": mv.run_id,
        "status": str(mv.status),
        "aliases": sorted(a for a, v in aliases.items() if str(v) == str(mv.version)),
        "data_sha256": tags.get(TAG_DATA_SHA),
        "training_window": tags.get("sahab.training.window"),
        "holdout": {k.removeprefix(HOLDOUT): _json_or_text(v) for k, v in sorted(tags.items()) if k.startswith(HOLDOUT)},
        "abtest_decision": _json_or_text(tags[TAG_DECISION]) if TAG_DECISION in tags else None,
        "promotion": {k.removeprefix(PROMOTION): _json_or_text(v) for k, v in sorted(tags.items()) if k.startswith(PROMOTION)},
        "model_card": card,
    }


def registry_inventory(uri: str, names: list[str]) -> dict[str, Any]:
    """What the MLflow registry at `uri` holds for each project name."""
    why = _reachable(uri)
    if why:
        return {"uri": uri, "reachable": False, "error": why, "models": {}}
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    models: dict[str, Any] = {}
    # MLflow's REST client retries for minutes by default; an inventory asks once.
    with _environment({"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        for name in names:
            try:
                rm = client.get_registered_model(name)
            except MlflowException as e:
                if getattr(e, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                    models[name] = {"registered": False}
                    continue
                return {"uri": uri, "reachable": False, "error": str(e)[:300], "models": {}}
            aliases = {str(k): str(v) for k, v in dict(rm.aliases or {}).items()}
            versions = sorted(client.search_model_versions(f"name = '{name}'"), key=lambda mv: int(mv.version))
            models[name] = {"registered": True, "aliases": dict(sorted(aliases.items())), "versions": [_version(client, mv, aliases) for mv in versions]}
    return {"uri": uri, "reachable": True, "models": models}


def monitoring_history(states: Mapping[str, str]) -> dict[str, Any]:
    """Each project's drift-job state (project -> its state URI, holding state.json)."""
    from workloads.monitoring.job import JobState

    out: dict[str, Any] = {}
    for name, uri in sorted(states.items()):
        try:
            state = asdict(JobState.load(uri))
        except Exception as e:  # noqa: BLE001 unreadable state is reported, not fatal to the pack
            out[name] = {"state_uri": uri, "error": f"{type(e).__name__}: {e}"[:300]}
            continue
        keep = ("model_version", "watermark", "performance_watermark", "episode", "performance_episode", "last_performance", "triggers", "promotions")
        out[name] = {"state_uri": uri, **{k: state.get(k) for k in keep}}
    return out


@contextmanager
def _environment(env: Mapping[str, str]):
    """`env` set in this process while a block runs (the local platform's S3 endpoint and keys while
    its stores are read; MLflow's retry settings), then put back."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build_inventory(
    repo: Path,
    spec: Mapping[str, Any],
    registry: str | None,
    drift_state: str | None,
    env: Mapping[str, str] | None = None,
    local_states: Callable[[Mapping[str, str], list[str]], dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The pack's inventory. `drift_state`: a root holding `<project>/state.json`; `env` and
    `local_states`: the local platform's variables and how its drift job places each project's state."""
    projects = projects_of(repo, spec)
    names = [p["name"] for p in projects]
    doc: dict[str, Any] = {"projects": projects}
    states = {n: f"{drift_state.rstrip('/')}/{n}" for n in names} if drift_state else (local_states(env or {}, names) if local_states else {})
    client_env = {k: v for k, v in (env or {}).items() if k.startswith(("AWS_", "MLFLOW_", "SAHAB_AZURE_"))}
    with _environment(client_env):
        if registry:
            doc["registry"] = registry_inventory(registry, names)
        else:
            doc["registry"] = None
            doc["registry_note"] = "offline: no registry was given (--registry URI) or reachable, so the inventory lists the projects only"
        if states:
            doc["monitoring"] = monitoring_history(states)
        else:
            doc["monitoring"] = None
            doc["monitoring_note"] = "no drift state was given (--drift-state URI) or found: drift and performance history not included"
    return doc
