"""`sahab preflight <env>`: what the offline gate cannot know, asked live before `sahab up`.

    results = run(repo, env)        plan offline, then the environment's cloud's checks, live

The gate proves the plan against tables the project keeps (pins, offerings, capacities); preflight
asks the real services whether those tables still hold, with the deployer's credentials:

    aws         every Helm chart version exists (`helm show chart`), every node pool's instance
                types are offered in the plan's availability zones (describe-instance-type-offerings),
                every VPC endpoint service exists in the region (describe-vpc-endpoint-services)
    kubernetes  the existing cluster offers what `onprem.minimum` asks (sahab/preflight_onprem.py)

Without credentials (or without a route to the cloud) it refuses and says what it needs: offline
there is nothing for it to check, and `sahab check` is the offline gate.

Adding a cloud: write `def preflight_<cloud>(ctx: PreflightContext) -> list[Result]` and add it to
`PROVIDERS` below; a check that cannot ask the cloud at all raises `PreflightError` with the fix.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

Level = Literal["pass", "warn", "fail"]


class PreflightError(RuntimeError):
    """Preflight cannot run (no credentials, no route to the cloud): the message says what it needs."""


@dataclass(frozen=True)
class Result:
    check: str
    level: Level
    message: str
    """What was found and, unless it passed, `Fix: how`."""


@dataclass(frozen=True)
class PreflightContext:
    repo: Path
    env: str
    plan: Any
    spec: dict[str, Any]
    region: str

    def resources(self, type_: str) -> list[Any]:
        return [r for r in self.plan.resources if r.type == type_]


# ---------------------------------------------------------------------------------------------
# AWS
# ---------------------------------------------------------------------------------------------


def aws_session(region: str) -> Any:
    """A boto3 session with credentials, or PreflightError saying how to provide them."""
    try:
        import boto3
    except ImportError:
        raise PreflightError("preflight on AWS needs boto3. Fix: pip install -c constraints.txt -e '.[aws]'.") from None
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        raise PreflightError(
            "preflight asks AWS itself and found no credentials. Fix: run it where the deployer's credentials are "
            "available (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or an instance role); offline, `sahab check` is the gate."
        )
    return session


def _call(what: str, fn: Callable[[], Any]) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return fn()
    except ClientError:
        raise
    except BotoCoreError as e:
        raise PreflightError(f"cannot reach AWS for {what}: {e}. Fix: run preflight where the AWS APIs of the region are reachable.") from None


def check_instance_offerings(ctx: PreflightContext, ec2: Any) -> list[Result]:
    """Every node pool's instance types are offered in the availability zones the plan's subnets use."""
    zones = sorted({str(r.inputs.get("availabilityZone")) for r in ctx.resources("aws:ec2/subnet:Subnet") if r.inputs.get("availabilityZone")})
    pools: dict[str, tuple[str, ...]] = {}
    for r in ctx.resources("aws:eks/nodeGroup:NodeGroup"):
        pools[f"{r.name} (aws:eks/nodeGroup:NodeGroup)"] = tuple(r.inputs.get("instanceTypes") or ())
    for r in ctx.resources("kubernetes:karpenter.sh/v1:NodePool"):
        reqs = ((((r.inputs.get("spec") or {}).get("template") or {}).get("spec") or {}).get("requirements")) or []
        types = next((tuple(q.get("values") or ()) for q in reqs if q.get("key") == "node.kubernetes.io/instance-type"), ())
        if types:
            pools[f"{r.name} (karpenter.sh NodePool)"] = types
    wanted = sorted({t for ts in pools.values() for t in ts})
    if not wanted:
        return []
    offered: dict[str, set[str]] = {}
    paginator = ec2.get_paginator("describe_instance_type_offerings")
    filters = [{"Name": "instance-type", "Values": wanted}] + ([{"Name": "location", "Values": zones}] if zones else [])
    for page in _call("describe-instance-type-offerings", lambda: list(paginator.paginate(LocationType="availability-zone", Filters=filters))):
        for o in page.get("InstanceTypeOfferings", []):
            offered.setdefault(o["InstanceType"], set()).add(o["Location"])
    out = []
    for pool, types in sorted(pools.items()):
        for t in types:
            where = sorted(offered.get(t, ()))
            missing = [z for z in zones if z not in where]
            if not where:
                out.append(
                    Result(
                        "instance-offerings",
                        "fail",
                        f"{pool}: {t} is not offered in any of {', '.join(zones) or ctx.region}. Fix: choose another type in environments/{ctx.env}/Pulumi.{ctx.env}.yaml and update stacks/offerings.py.",
                    )
                )
            elif missing:
                out.append(
                    Result(
                        "instance-offerings",
                        "warn",
                        f"{pool}: {t} is offered in {', '.join(where)} but not {', '.join(missing)}; nodes launch only there. Fix: list a second type offered in every zone.",
                    )
                )
            else:
                out.append(Result("instance-offerings", "pass", f"{pool}: {t} offered in {', '.join(where)}"))
    return out


def check_endpoint_services(ctx: PreflightContext, ec2: Any) -> list[Result]:
    """Every VPC endpoint's service exists in the region."""
    from botocore.exceptions import ClientError

    out = []
    for r in ctx.resources("aws:ec2/vpcEndpoint:VpcEndpoint"):
        name = str(r.inputs.get("serviceName") or "")
        try:
            found = _call("describe-vpc-endpoint-services", lambda: ec2.describe_vpc_endpoint_services(ServiceNames=[name]))  # noqa: B023 (called at once)
            ok = any(d.get("ServiceName") == name for d in found.get("ServiceDetails", [])) or name in found.get("ServiceNames", [])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "InvalidServiceName":
                raise PreflightError(f"describe-vpc-endpoint-services was refused: {e}. Fix: grant ec2:DescribeVpcEndpointServices to the deployer.") from None
            ok = False
        label = f"{r.name} (aws:ec2/vpcEndpoint:VpcEndpoint)"
        out.append(
            Result(
                "endpoint-services",
                "pass" if ok else "fail",
                f"{label}: {name} exists"
                if ok
                else f"{label}: the endpoint service {name} does not exist in {ctx.region}. Fix: drop the endpoint or use the service name the region offers (components/aws/network.py).",
            )
        )
    return out


def helm_show_chart(chart: str, version: str, repo: str | None, helm: str | None = None, timeout: float = 60) -> dict[str, Any]:
    """Chart.yaml of `chart` at `version` as the chart repository (or OCI registry) serves it."""
    helm = helm or shutil.which("helm")
    if not helm:
        raise PreflightError("checking chart versions needs helm on PATH. Fix: install helm 3.8+ (OCI charts), then run preflight again.")
    args = [helm, "show", "chart", chart, "--version", version] + (["--repo", repo] if repo else [])
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise LookupError((proc.stderr or proc.stdout).strip()[-500:])
    return yaml.safe_load(proc.stdout) or {}


def check_charts(ctx: PreflightContext, helm: str | None = None) -> list[Result]:
    out = []
    for r in ctx.resources("kubernetes:helm.sh/v3:Release"):
        chart, version = str(r.inputs.get("chart") or ""), str(r.inputs.get("version") or "")
        repo = (r.inputs.get("repositoryOpts") or {}).get("repo")
        label = f"{r.name} (kubernetes:helm.sh/v3:Release)"
        try:
            doc = helm_show_chart(chart, version, repo, helm)
        except LookupError as e:
            out.append(
                Result(
                    "chart-versions",
                    "fail",
                    f"{label}: {chart} {version} is not served by {repo or 'its registry'}: {e}. Fix: pick a version the chart index lists and move its pin in components/kubernetes/images.py.",
                )
            )
            continue
        if str(doc.get("version")) != version:
            out.append(
                Result(
                    "chart-versions",
                    "fail",
                    f"{label}: asked for {chart} {version}, the repository served {doc.get('version')}. Fix: pin an exact version that exists.",
                )
            )
        else:
            out.append(Result("chart-versions", "pass", f"{label}: {chart} {version} exists (appVersion {doc.get('appVersion', '?')})"))
    return out


def preflight_aws(ctx: PreflightContext) -> list[Result]:
    session = aws_session(ctx.region)
    ec2 = session.client("ec2", region_name=ctx.region)
    return check_instance_offerings(ctx, ec2) + check_endpoint_services(ctx, ec2) + check_charts(ctx)


def preflight_kubernetes(ctx: PreflightContext) -> list[Result]:
    from sahab import preflight_onprem
    from stacks.spec import PlatformSpec

    return preflight_onprem.preflight(PlatformSpec.model_validate(ctx.spec))  # its Result and PreflightError are this module's


def preflight_azure(ctx: PreflightContext) -> list[Result]:
    from sahab import preflight_azure as azure

    return azure.preflight(ctx)


# The one registry: cloud (the spec's `cloud`) -> its preflight.
PROVIDERS: dict[str, Callable[[PreflightContext], list[Result]]] = {"aws": preflight_aws, "azure": preflight_azure, "kubernetes": preflight_kubernetes}


def context(repo: Path, env: str, stack: str | None = None) -> PreflightContext:
    from sahab.gate.deployability import platform_spec
    from sahab.offline import plan_environment

    plan = plan_environment(repo, env, stack)
    spec = platform_spec(plan)
    return PreflightContext(repo, env, plan, spec, str(spec.get("region") or plan.config.get("aws:region") or ""))


def run(repo: Path, env: str, stack: str | None = None) -> list[Result]:
    """Plan offline, then the cloud's live checks. Raises PreflightError when they cannot run."""
    ctx = context(repo, env, stack)
    cloud = str(ctx.spec.get("cloud") or "aws")
    provider = PROVIDERS.get(cloud)
    if provider is None:
        raise PreflightError(
            f"{env}: no preflight for cloud {cloud!r} yet (known: {', '.join(sorted(PROVIDERS))}). Fix: add one to sahab/preflight.py PROVIDERS."
        )
    return provider(ctx)


def write(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"passed": not any(r.level == "fail" for r in results), "results": [r.__dict__ for r in results]}, indent=1))
