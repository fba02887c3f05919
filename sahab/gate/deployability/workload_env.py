"""Workload environments: every container that runs a Sahab workload gets an environment its
workload accepts at start.

The workloads read their settings from the environment (workloads/settings.py and friends) and
exit at start on a value they refuse (a region outside the UAE, a URI scheme they cannot open, a
misspelt variable under their prefix); a plan can render such a value and pass every other check.
For every rendered container (init containers too) whose command runs a workload entry point,
`ENTRY_POINTS` names the settings classes that entry point constructs at start; those classes are
constructed, in a child process (workload_env_probe.py), from the container's environment as the
pod would see it, and so is the model project the entry point reads (`workloads.project.from_env`:
`SAHAB_PROJECT` must name a valid project folder, relative to the image's working directory, which
ships the repository's `projects/`; the probe runs from the repository root):

- `env` values with Kubernetes' `$(VAR)` expansion; `envFrom` and `configMapKeyRef` from the
  plan's ConfigMaps; `fieldRef` a placeholder name, `resourceFieldRef` "1";
- `python /opt/sahab/with_secrets.py ...`: SAHAB_SECRET_ENV rendered by that script's own
  `render()` with placeholder secret fields (the variables a secret fills are set, with the
  template's shape);
- values the offline plan does not know (unknown Outputs, secrets, Secret references) count as
  set: an error on a variable holding one is not reported, since the real value may be accepted.

Each refusal is a mandatory finding naming the manifest (kind/namespace/name), the container, the
entry point, the variable and the settings error. Helm charts run no Sahab workload and are not
read. `workload_env_section` shows, in report.md, what was checked.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import string
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sahab.gate.deployability.context import Context, finding
from sahab.gate.deployability.pins import split_image
from sahab.gate.deployability.pods import templates_of
from sahab.gate.model import Finding, GateResult

POLICY = "workload-env-accepted"
DESCRIPTION = "Every container running a Sahab workload gets an environment its settings accept at start."
REPO = Path(__file__).resolve().parents[3]
PROBE = Path(__file__).with_name("workload_env_probe.py")
WITH_SECRETS = REPO / "components" / "kubernetes" / "scripts" / "with_secrets.py"
PROBE_TIMEOUT_S = 120

SAHAB = "workloads.settings:SahabSettings"
FEAST = "workloads.settings:FeatureStoreSettings"
TRAIN = "workloads.settings:TrainJobSettings"
SERVING = "workloads.serving.settings:ServingSettings"
DRIFT = "workloads.monitoring.drift:DriftSettings"
DRIFT_JOB = "workloads.monitoring.job:DriftJobSettings"
PROJECT = "workloads.project:from_env"  # the project of SAHAB_PROJECT, loaded and validated
# Where the environment's tokenisation key is (SAHAB_PRIVACY_*): rendered wherever SAHAB_PROJECT is
# (components/kubernetes/project.py ProjectRef.env), read by every entry point that reads the project.
PRIVACY = "workloads.privacy.keys:PrivacySettings"
MLFLOW = "mlflow-server"  # workload_env_probe.MLFLOW_SERVER

# Entry point -> the settings classes it constructs at start (read from each main(): features/__main__.py
# main(), pipeline.py retrain() (ServingSettings: evaluator.experiment_running before it names a
# challenger), training/__main__.py, export/__main__.py, registry/__main__.py, monitoring/__main__.py
# cmd_run (DriftJobSettings, DriftSettings; job.run: SahabSettings, FeatureStoreSettings for the label
# store, ServingSettings for experiment_running) and cmd_check (DriftSettings), serving/control.py
# (FeatureStoreSettings: the label store) and evaluator.py main(), serving/service.py (what `bentoml
# serve` imports: ServingSettings at import, SahabSettings in the service). Every entry point but
# `monitoring check` and MLflow reads its project from SAHAB_PROJECT (PROJECT) and its tokenisation key (PRIVACY).
# `<module> <subcommand>` wins over `<module>`.
ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    "python -m workloads.features": (SAHAB, FEAST, PROJECT, PRIVACY),
    "python -m workloads.pipeline": (SAHAB, TRAIN, FEAST, SERVING, PROJECT, PRIVACY),
    "python -m workloads.pipelines step": (SAHAB, TRAIN, FEAST, SERVING, PROJECT, PRIVACY),
    "python -m workloads.training": (SAHAB, TRAIN, PROJECT, PRIVACY),
    "python -m workloads.export": (SAHAB, PROJECT, PRIVACY),
    "python -m workloads.registry": (SAHAB,),
    "python -m workloads.monitoring run": (SAHAB, DRIFT_JOB, DRIFT, FEAST, SERVING, PROJECT, PRIVACY),
    "python -m workloads.monitoring check": (DRIFT,),
    "python -m workloads.serving.control": (SAHAB, SERVING, FEAST, PROJECT, PRIVACY),
    "python -m workloads.serving.evaluator": (SAHAB, SERVING, PROJECT, PRIVACY),
    "bentoml serve": (SAHAB, SERVING, PROJECT, PRIVACY),
    "mlflow server": (MLFLOW,),
}
SERVING_IMAGE = "sahab/serving"
"""The scoring image (workloads/serving/bentofile.yaml): without a command it runs the bento's `bentoml serve`."""

_MODULE = re.compile(r"(?:^|\s)(?:-m|--module)\s+(workloads(?:\.[A-Za-z_]\w*)*)(?:\s+([A-Za-z][\w-]*))?")
_BENTOML = re.compile(r"(?:^|[\s/])bentoml\s+serve\b")
_MLFLOW = re.compile(r"(?:^|[\s/])mlflow\s+server\b")
_EXPAND = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
FIELD_PLACEHOLDER = "placeholder"


@lru_cache(maxsize=1)
def _markers() -> tuple[str, ...]:
    from sahab.engine.offline import SECRET, UNKNOWN

    return UNKNOWN, SECRET


def _unknown(value: Any) -> bool:
    return isinstance(value, str) and any(m in value for m in _markers())


@lru_cache(maxsize=1)
def _with_secrets() -> Any:
    spec = importlib.util.spec_from_file_location("sahab_with_secrets", WITH_SECRETS)
    if spec is None or spec.loader is None:
        raise ImportError(f"{WITH_SECRETS}: not loadable as a Python module. Fix: restore components/kubernetes/scripts/with_secrets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def entry_points(container: dict[str, Any]) -> list[str]:
    """The ENTRY_POINTS keys a container runs (a shell script may run more than one)."""
    tokens = [str(t) for t in (container.get("command") or []) + (container.get("args") or [])]
    text = " ".join(tokens)
    found = []
    for m in _MODULE.finditer(text):
        key = f"python -m {m.group(1)}"
        sub = f"{key} {m.group(2)}" if m.group(2) else ""
        key = sub if sub in ENTRY_POINTS else key
        if key in ENTRY_POINTS and key not in found:
            found.append(key)
    image = split_image(str(container.get("image") or ""))[0]
    if _BENTOML.search(text) or (not container.get("command") and (image == SERVING_IMAGE or image.endswith("/" + SERVING_IMAGE))):
        found.append("bentoml serve")
    if _MLFLOW.search(text):
        found.append("mlflow server")
    return found


def _objects(ctx: Context) -> dict[tuple[str, str, str], dict[str, Any]]:
    if "workload_env_objects" not in ctx.cache:
        ctx.cache["workload_env_objects"] = {
            (str(d.get("kind")), str((d.get("metadata") or {}).get("namespace") or "default"), str((d.get("metadata") or {}).get("name"))): d
            for _, d in ctx.objects("ConfigMap", "Secret")
        }
    return ctx.cache["workload_env_objects"]


def container_env(ctx: Context, namespace: str, container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as Kubernetes builds it (envFrom, then env in order, `$(VAR)` expanded)."""
    objects = _objects(ctx)
    unknown = _markers()[0]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        obj = objects.get((kind, namespace, str(ref.get("name"))))
        data = {**((obj or {}).get("data") or {}), **((obj or {}).get("stringData") or {})}
        for key, value in data.items():
            env[f"{source.get('prefix') or ''}{key}"] = str(value) if kind == "ConfigMap" else unknown
    for item in container.get("env") or []:
        name = str(item.get("name"))
        source = item.get("valueFrom")
        if source is None:
            raw = "" if item.get("value") is None else str(item["value"])
            env[name] = _EXPAND.sub(lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), raw)
        elif "fieldRef" in source:
            env[name] = FIELD_PLACEHOLDER
        elif "resourceFieldRef" in source:
            env[name] = "1"
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            obj = objects.get(("ConfigMap", namespace, str(ref.get("name"))))
            value = ((obj or {}).get("data") or {}).get(ref.get("key"))
            env[name] = unknown if value is None else str(value)
        else:
            env[name] = unknown  # secretKeyRef: set, value unknown
    return env


def _placeholder_fetch(spec: dict[str, Any]) -> Any:
    """A fetch for with_secrets.render: each secret's fields (those its templates use) as placeholders."""
    fields: dict[str, set[str]] = {}
    for item in spec.values():
        names = {f for _, f, _, _ in string.Formatter().parse(str(item.get("template", ""))) if f}
        fields.setdefault(str(item.get("arn")), set()).update(n.removesuffix("_url") for n in names)
    return lambda arn: json.dumps({f: f"{FIELD_PLACEHOLDER}-{f}" for f in sorted(fields.get(arn, ()))} or {"value": FIELD_PLACEHOLDER})


def with_secrets_env(env: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """`env` as with_secrets.py hands it to the command (placeholder secrets), or the error it stops with."""
    raw = env.get("SAHAB_SECRET_ENV", "{}")
    out = {k: v for k, v in env.items() if k != "SAHAB_SECRET_ENV"}
    if _unknown(raw):
        return out, None  # which variables it sets is not known offline
    try:
        spec = json.loads(raw)
        if not isinstance(spec, dict):
            raise ValueError("not a JSON object")
        out.update(_with_secrets().render(spec, _placeholder_fetch(spec)))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        return out, f"SAHAB_SECRET_ENV cannot be rendered by with_secrets.py ({type(exc).__name__}: {exc})"
    if out.pop("SAHAB_CA_PEM", None):
        out["SSL_CERT_FILE"] = "/tmp/sahab-ca.pem"
    return out, None


@dataclass(frozen=True)
class Job:
    file: str
    label: str  # Kind/namespace/name container c
    entry: str
    env: dict[str, str]
    argv: list[str]


def jobs(ctx: Context) -> tuple[list[Job], list[Finding]]:
    """Every (container, entry point) to probe, and the with_secrets.py failures found on the way."""
    out, refused = [], []
    for rel, doc in ctx.manifests:
        meta = doc.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        for pod_name, template in templates_of(doc):
            spec = template.get("spec") or {}
            for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                entries = entry_points(container)
                if not entries:
                    continue
                label = f"{doc.get('kind')}/{namespace}/{pod_name} container {container.get('name')}"
                argv = [str(t) for t in (container.get("command") or []) + (container.get("args") or [])]
                env = container_env(ctx, namespace, container)
                if any(t.endswith("with_secrets.py") for t in argv):
                    env, error = with_secrets_env(env)
                    if error:
                        refused.append(
                            finding(
                                POLICY,
                                f"{label}: {error}, so the container exits before {entries[0]} starts. Fix: make the component "
                                'render SAHAB_SECRET_ENV as a JSON object {"NAME": {"arn": ..., "template": ...}} whose '
                                "templates name the secret's fields.",
                                urn=ctx.urns.get(rel, ""),
                                resource=label,
                                file=rel,
                                description=DESCRIPTION,
                            )
                        )
                out += [Job(rel, label, entry, env, argv) for entry in entries]
    return out, refused


def probe(batch: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Run workload_env_probe.py over `batch` (env, classes, argv): one list of refusals per item."""
    result = subprocess.run(
        [sys.executable, str(PROBE)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"exit status {result.returncode}: {tail}")
    return json.loads(result.stdout)


def _class_file(cls: str) -> str:
    if cls == MLFLOW:
        return "MLflow's server start-up"
    if cls == PROJECT:
        return "workloads/project/project.py from_env, a folder with a valid project.yaml"
    return f"{cls.partition(':')[0].replace('.', '/')}.py {cls.partition(':')[2]}"


def check(ctx: Context) -> list[Finding]:
    todo, out = jobs(ctx)
    ctx.extras["workload_env"] = [{"container": j.label, "entry": j.entry, "classes": list(ENTRY_POINTS[j.entry])} for j in todo]
    if not todo:
        return out
    unique: dict[str, int] = {}
    batch: list[dict[str, Any]] = []
    for j in todo:
        item = {"env": j.env, "classes": list(ENTRY_POINTS[j.entry]), "argv": j.argv}
        key = json.dumps(item, sort_keys=True)
        if key not in unique:
            unique[key] = len(batch)
            batch.append(item)
    try:
        results = probe(batch)
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        return out + [
            finding(
                POLICY,
                f"workload settings (probe): the workloads' settings could not be constructed ({exc}), so no container's "
                f"environment was checked. Fix: make `{sys.executable} {PROBE.relative_to(REPO)}` run (the workloads "
                "and their dependencies importable from the repository root).",
                resource="workload settings (probe)",
                description=DESCRIPTION,
            )
        ]
    for j, extra in zip(todo, ctx.extras["workload_env"], strict=False):
        refusals = results[unique[json.dumps({"env": j.env, "classes": list(ENTRY_POINTS[j.entry]), "argv": j.argv}, sort_keys=True)]]
        extra["refused"] = 0
        for refusal in refusals:
            names = list(refusal.get("vars") or [])
            values = [j.env.get(n) for n in names] + ([refusal.get("input")] if refusal.get("input") is not None else [])
            if any(_unknown(v) for v in values):
                continue  # an unknown value counts as set: it may well be accepted
            extra["refused"] += 1
            cls = refusal["cls"].partition(":")[2] or refusal["cls"]
            shown = ", ".join(f"{n}={j.env[n]!r}" if n in j.env else f"{n} (unset)" for n in names) or "its environment"
            var = names[0] if names else "the variable"
            why = str(refusal["msg"]).removeprefix("Value error, ").rstrip(".")
            fix = (
                ""
                if "Fix:" in why
                else (
                    f". Fix: render {var} as {cls} ({_class_file(refusal['cls'])}) accepts it in the component "
                    f"that builds this container, or teach {cls} the new value"
                )
            )
            out.append(
                finding(
                    POLICY,
                    f"{j.label} ({j.entry}): {cls} refuses {shown}, so the workload exits at start: {why}{fix}.",
                    urn=ctx.urns.get(j.file, ""),
                    resource=j.label,
                    file=j.file,
                    description=DESCRIPTION,
                )
            )
    return out


def workload_env_section(result: GateResult) -> list[str]:
    """report.md: the containers whose workload settings were constructed, and how many refusals each had."""
    rows = result.extras.get("workload_env")
    if not rows:
        return []
    lines = [
        "<details><summary>Workload environments (settings constructed from each container's env)</summary>",
        "",
        "| container | entry point | settings | refused |",
        "|---|---|---|---|",
    ]
    for r in rows:
        classes = ", ".join(c.partition(":")[2] or c for c in r["classes"])
        lines.append(f"| {r['container']} | `{r['entry']}` | {classes} | {r.get('refused', '-')} |")
    return lines + ["", "</details>", ""]
