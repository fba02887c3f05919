"""Preflight on AWS: instance types offered in the plan's zones, VPC endpoint services of the region,
chart versions (base.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sahab.ops.preflight.base import PreflightContext, PreflightError, Result, check_charts


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


def preflight(ctx: PreflightContext) -> list[Result]:
    session = aws_session(ctx.region)
    ec2 = session.client("ec2", region_name=ctx.region)
    return check_instance_offerings(ctx, ec2) + check_endpoint_services(ctx, ec2) + check_charts(ctx)
