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
DEFAULT_MODEL = "transaction-risk"  # workloads/settings.py SahabSettings.model_name
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

        return cloud_checks(promises, outputs, Aws(region=outputs.region, scan_regions=tuple(ctx["scan_regions"]) if ctx.get("scan_regions") else None))
    if part == "local":
        return "the local part runs with `sahab verify local`"
    if not ctx.get("kubeconfig"):
        return "no kubeconfig: the stack outputs carry none and --kubeconfig was not given"
    cluster = _cluster(ctx["kubeconfig"], ctx.get("kube_context"))
    if part == "cluster":
        from sahab.ops.verify.cluster import cluster_checks

        return cluster_checks(promises, cluster)
    from sahab.ops.verify.workloads import ServiceProxy, Workloads, drift_cronjob_last_run, workload_checks

    missing = [s for s in ("mlflow", "serving") if s not in promises.services]
    if missing or not promises.drift_cronjob:
        return f"the plan has no {', '.join(missing) or 'drift CronJob'}: nothing to verify"
    ref = promises.drift_cronjob
    return workload_checks(
        Workloads(
            mlflow=ServiceProxy(cluster, promises.services["mlflow"]),
            serving=ServiceProxy(cluster, promises.services["serving"]),
            model_name=ctx.get("model_name") or DEFAULT_MODEL,
            drift_last_run=lambda: drift_cronjob_last_run(ref, cluster.list("CronJob"), cluster.list("Job")),
            drift_label=ref,
        )
    )


def _azure_cloud(ctx: dict[str, Any], outputs: StackOutputs) -> list[Check] | str:
    """The Azure cloud checks (Resource Manager), or why they cannot run here (no credentials)."""
    from sahab.ops.verify.cloud_azure import AzureUnavailable, arm_from_environment, azure_cloud_checks, azure_promises, subscription_of

    try:
        arm = arm_from_environment(subscription_of({**outputs.key_arns, **outputs.bucket_names}))
    except AzureUnavailable as e:
        return str(e)
    return azure_cloud_checks(azure_promises(_load(ctx["plan"])), arm)


def _local(part: str, ctx: dict[str, Any]) -> list[Check] | str:
    """`sahab verify local`: the workloads part and the local services (no cloud account, no cluster)."""
    if part in ("cloud", "cluster"):
        return f"the local platform has no {'cloud account' if part == 'cloud' else 'Kubernetes cluster'}: verify a deployed environment for this part"
    services = {s["name"]: s for s in ctx["local"]["services"]}
    env = ctx["local"]["env"]
    if part == "local":
        return local_service_checks(services)
    from sahab.ops.verify.workloads import DirectHttp, Workloads, drift_schedule_last_run, workload_checks

    for name in ("mlflow", "serving"):
        if name not in services:
            return f"the local platform runs no {name} service (`sahab local status`)"
    state_dir = Path(ctx["local"]["state_dir"])
    status_file = state_dir / "logs" / "drift.status.json"
    checks = workload_checks(
        Workloads(
            mlflow=DirectHttp(env.get("SAHAB_MLFLOW_TRACKING_URI") or services["mlflow"]["url"]),
            serving=DirectHttp(services["serving"]["url"]),
            model_name=env.get("SAHAB_MODEL_NAME") or DEFAULT_MODEL,
            drift_last_run=lambda: drift_schedule_last_run(status_file, state_dir / "logs" / "drift.log"),
            drift_label=f"drift ({status_file})",
        )
    )
    if "prometheus" in services:
        checks.append(
            Check(id="workloads-prometheus-targets-up", subject=services["prometheus"]["url"], run=lambda: _local_targets(services["prometheus"]["url"]))
        )
    return checks


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
    return [
        Check(
            id="local-service-healthy",
            subject=name,
            run=lambda s=s: (
                []
                if s.get("healthy")
                else [
                    problem(
                        s["name"],
                        "local service",
                        f"its health check fails ({s.get('reason') or 'unhealthy'})",
                        f"see {s.get('log') or 'its log'}; `sahab local down && sahab local up`",
                    )
                ]
            ),
        )
        for name, s in sorted(services.items())
    ]


def local_snapshot(state_dir: Path) -> dict[str, Any]:
    """What `sahab verify local` reads from the running platform (workloads.local's Python API)."""
    from workloads import local

    try:
        env = local.platform_env(state_dir)
    except local.LocalError as e:
        raise VerifyError(str(e)) from None
    return {"state_dir": str(Path(state_dir).resolve()), "services": local.service_health(state_dir), "env": env}
