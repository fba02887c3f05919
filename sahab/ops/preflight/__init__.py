"""`sahab preflight <env>`: what the offline gate cannot know, asked live before `sahab up`.

    results = run(repo, env)        plan offline, then the environment's cloud's checks, live

The gate proves the plan against tables the project keeps (pins, offerings, capacities); preflight
asks the real services whether those tables still hold, with the deployer's credentials:

    aws         every Helm chart version exists (`helm show chart`), every node pool's instance
                types are offered in the plan's availability zones (describe-instance-type-offerings),
                every VPC endpoint service exists in the region (describe-vpc-endpoint-services)
    kubernetes  the existing cluster offers what `onprem.minimum` asks (sahab/ops/preflight/onprem.py)

Without credentials (or without a route to the cloud) it refuses and says what it needs: offline
there is nothing for it to check, and `sahab check` is the offline gate.

Adding a cloud: write a module here with `def preflight(ctx: PreflightContext) -> list[Result]` and add it to
`PROVIDERS` below (one module per cloud; each imports only base.py); a check that cannot ask the cloud at all raises `PreflightError` with the fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sahab.ops.preflight import aws, azure, onprem
from sahab.ops.preflight.base import Level, PreflightContext, PreflightError, Result, check_charts, helm_show_chart


def preflight_kubernetes(ctx: PreflightContext) -> list[Result]:
    from stacks.spec import load_spec

    return onprem.preflight(load_spec(ctx.spec))


# The one registry: cloud (the spec's `cloud`) -> its preflight.
PROVIDERS: dict[str, Callable[[PreflightContext], list[Result]]] = {"aws": aws.preflight, "azure": azure.preflight, "kubernetes": preflight_kubernetes}


def context(repo: Path, env: str, stack: str | None = None) -> PreflightContext:
    from sahab.engine.offline import plan_environment
    from sahab.gate.deployability import platform_spec

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
            f"{env}: no preflight for cloud {cloud!r} yet (known: {', '.join(sorted(PROVIDERS))}). Fix: add one to sahab/ops/preflight/ PROVIDERS."
        )
    return provider(ctx)


def write(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"passed": not any(r.level == "fail" for r in results), "results": [r.__dict__ for r in results]}, indent=1))


__all__ = ["PROVIDERS", "Level", "PreflightContext", "PreflightError", "Result", "check_charts", "context", "helm_show_chart", "run", "write"]
