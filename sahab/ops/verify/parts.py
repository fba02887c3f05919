"""From a run's context (written by the runner, read by the suite) to the checks of each part.

`checks_for(part, ctx)` returns the part's checks, or a string: why the part cannot run here
(the suite reports it skipped with that reason, and the evidence summary says so).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from sahab.ops.verify.base import Check, problem
from sahab.ops.verify.context import Promises, StackOutputs, VerifyError, promises_from_plan

PARTS = ("cloud", "cluster", "workloads", "local")
CLOUD_NOT_CHECKED = {
    "kubernetes": "cloud: kubernetes deploys into a cluster of your own, with no cloud account to check: the cluster and workloads parts verify it",
}


@functools.cache
def _load(path: str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def context(path: str) -> dict[str, Any]:
    return _load(path)


@functools.cache
def _promises(plan_path: str) -> Promises:
    return promises_from_plan(_load(plan_path))


@functools.cache
def _cluster(kubeconfig: str, kube_context: str | None) -> Any:
    from sahab.ops.verify.cluster import Cluster

    return Cluster(kubeconfig, kube_context)


def checks_for(part: str, ctx: dict[str, Any]) -> list[Check] | str:
    if part not in ctx.get("parts", PARTS):
        return f"the {part} part was not asked for (--part)"
    if ctx["target"] == "local":
        return _local(part, ctx)
    promises = _promises(ctx["plan"])
    outputs = StackOutputs.model_validate(ctx["outputs"])
    if part == "cloud" and promises.cloud == "azure":
        return _azure_cloud(ctx, outputs)
    if part == "cloud" and promises.cloud != "aws":
        return CLOUD_NOT_CHECKED.get(promises.cloud, f"cloud {promises.cloud!r} has no cloud checks")
    if part == "cloud":
        from sahab.ops.verify.cloud import Aws, cloud_checks
        from sahab.ops.verify.privacy import cloud_privacy_checks

        aws = Aws(region=outputs.region, scan_regions=tuple(ctx["scan_regions"]) if ctx.get("scan_regions") else None)
        # issue 22: each project's offline store, prediction log and lake prefix hold no UAE personal data in clear
        return cloud_checks(promises, outputs, aws) + cloud_privacy_checks(_load(ctx["plan"]), outputs.bucket_names, outputs.region)
    if part == "local":
        return "the local part runs with `sahab verify local`"
    if not ctx.get("kubeconfig"):
        return "no kubeconfig: the stack outputs carry none and --kubeconfig was not given"
    cluster = _cluster(ctx["kubeconfig"], ctx.get("kube_context"))
    if part == "cluster":
        from sahab.ops.verify.cluster import cluster_checks

        return cluster_checks(promises, cluster)
    from sahab.ops.verify.workloads import ServiceProxy, Workloads, drift_cronjob_last_run, fixture_record, workload_checks

    if "mlflow" not in promises.services or not promises.drift_cronjob:
        return f"the plan has no {'mlflow' if 'mlflow' not in promises.services else 'drift CronJob'}: nothing to verify"
    ref = promises.drift_cronjob
    served = _planned_projects(ctx, promises.services)
    if not served:
        return "the plan serves no project of this checkout (no `<project>-serving` Service): nothing to verify"
    checks: list[Check] = []
    for project, service in served:
        checks += workload_checks(
            Workloads(
                mlflow=ServiceProxy(cluster, promises.services["mlflow"]),
                serving=ServiceProxy(cluster, service),
                model_name=project.name,
                drift_last_run=lambda: drift_cronjob_last_run(ref, cluster.list("CronJob"), cluster.list("Job")),
                drift_label=ref,
                record=fixture_record(project.spec),
                task=project.spec.label.task,
            )
        )
    return _unique(checks)


def _planned_projects(ctx: dict[str, Any], services: dict[str, str]) -> list[tuple[Any, str]]:
    """(project, its serving Service) for each project of the checkout's projects/ (or the one
    --model-name names) that the plan serves, as `<project>-serving` (or a lone `serving`)."""
    from workloads.project import discover

    root = Path(ctx.get("repo") or Path.cwd()) / "projects"
    out = []
    for project in discover(root):
        if ctx.get("model_name") and project.name != ctx["model_name"]:
            continue
        service = services.get(f"{project.name}-serving") or services.get("serving")
        if service:
            out.append((project, service))
    return out


def _unique(checks: list[Check]) -> list[Check]:
    """One check per name: the projects share MLflow (and, on the cluster, one drift CronJob check per ref)."""
    seen: set[str] = set()
    out = []
    for check in checks:
        if check.name not in seen:
            seen.add(check.name)
            out.append(check)
    return out


def _azure_cloud(ctx: dict[str, Any], outputs: StackOutputs) -> list[Check] | str:
    """The Azure cloud checks (Resource Manager), or why they cannot run here (no credentials)."""
    from sahab.ops.verify.cloud_azure import AzureUnavailable, arm_from_environment, azure_cloud_checks, azure_promises, subscription_of

    try:
        arm = arm_from_environment(subscription_of({**outputs.keys, **outputs.bucket_names}))
    except AzureUnavailable as e:
        return str(e)
    from sahab.ops.verify.privacy import cloud_privacy_checks

    # issue 22: the stored data scanned with DefaultAzureCredential (workloads/storage.py's abfss:// reader)
    return azure_cloud_checks(azure_promises(_load(ctx["plan"])), arm) + cloud_privacy_checks(_load(ctx["plan"]), outputs.bucket_names)


def _local(part: str, ctx: dict[str, Any]) -> list[Check] | str:
    """`sahab verify local`: the workloads part and the local services (no cloud account, no cluster)."""
    if part in ("cloud", "cluster"):
        return f"the local platform has no {'cloud account' if part == 'cloud' else 'Kubernetes cluster'}: verify a deployed environment for this part"
    services = {s["name"]: s for s in ctx["local"]["services"]}
    env = ctx["local"]["env"]
    if part == "local":
        from sahab.ops.verify.privacy import privacy_checks

        # issue 22: each served project's offline store and prediction log hold no UAE personal data in clear
        return local_service_checks(services) + privacy_checks(_project_envs(Path(ctx["local"]["state_dir"]), ctx["local"].get("projects") or {}, env))
    from sahab.ops.verify.workloads import DirectHttp, Workloads, drift_schedule_last_run, fixture_record, workload_checks
    from workloads.local.platform import monitoring_status_file
    from workloads.project import load_project

    if "mlflow" not in services:
        return "the local platform runs no mlflow service (`sahab local status`)"
    served = ctx["local"].get("projects") or {}
    if not served:
        return "the local platform serves no project (`sahab local status`)"
    state_dir = Path(ctx["local"]["state_dir"])
    checks: list[Check] = []
    for name, info in sorted(served.items()):
        serving = services.get(f"serving-{name}")
        if serving is None:
            return f"the local platform runs no serving-{name} service (`sahab local status`)"
        spec = load_project(info["folder"]).spec
        status_file = monitoring_status_file(state_dir, name)
        checks += workload_checks(
            Workloads(
                mlflow=DirectHttp(env.get("SAHAB_MLFLOW_TRACKING_URI") or services["mlflow"]["url"]),
                serving=DirectHttp(serving["url"]),
                model_name=name,
                drift_last_run=functools.partial(drift_schedule_last_run, status_file, state_dir / "logs" / f"monitoring-{name}.log"),
                drift_label=f"monitoring-{name} ({status_file})",
                record=fixture_record(spec),
                task=spec.label.task,
            )
        )
    checks = _unique(checks)
    if "prometheus" in services:
        checks.append(
            Check(id="workloads-prometheus-targets-up", subject=services["prometheus"]["url"], run=lambda: _local_targets(services["prometheus"]["url"]))
        )
    return checks


def _project_envs(state_dir: Path, served: dict[str, Any], env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each served project's environment (its storage locations), the platform's when it has none of its own."""
    from workloads.local.platform import LocalError, project_env

    out = {}
    for name in served:
        try:
            out[name] = project_env(state_dir, name)
        except LocalError:
            out[name] = dict(env)
    return out


def _local_targets(url: str) -> list[str]:
    from sahab.ops.verify.cluster import prometheus_targets_up
    from sahab.ops.verify.workloads import DirectHttp

    status, body = DirectHttp(url).request("GET", "/api/v1/targets?state=active")
    if status != 200:
        return [problem(url, "Prometheus", f"/api/v1/targets answered {status or 'nothing'}: {body[:200]}", "see its log under .sahab/local/logs/")]
    return prometheus_targets_up(json.loads(body))


def local_service_checks(services: dict[str, dict[str, Any]]) -> list[Check]:
    """Each recorded service: healthy by its own health check, its process alive, its port
    listening (the latter two through testinfra's local host, run by the suite)."""
    return [Check(id="local-service-healthy", subject=name, run=functools.partial(_service_healthy, s)) for name, s in sorted(services.items())]


def _service_healthy(s: dict[str, Any]) -> list[str]:
    if s.get("healthy"):
        return []
    return [
        problem(
            s["name"],
            "local service",
            f"its health check fails ({s.get('reason') or 'unhealthy'})",
            f"see {s.get('log') or 'its log'}; `sahab local down && sahab local up`",
        )
    ]


def local_snapshot(state_dir: Path) -> dict[str, Any]:
    """What `sahab verify local` reads from the running platform (workloads.local's Python API)."""
    from workloads import local

    try:
        env = local.platform_env(state_dir)
        served = local.served_projects(state_dir)
    except local.LocalError as e:
        raise VerifyError(str(e)) from None
    return {"state_dir": str(Path(state_dir).resolve()), "services": local.service_health(state_dir), "env": env, "projects": served}
