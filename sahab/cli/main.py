"""The `sahab` command line.

sahab plan <env> [--stack S] [--out DIR] [--full]   offline plan: tree, counts, plan.json, manifests
sahab check <env>                                   plan + policy packs + checkov + schemas
sahab preflight <env>                               live: chart versions, instance offerings, endpoint services
sahab cost <env> [--format text|json|md]            monthly cost range from the dated price snapshot
sahab policy check PROGRAM_DIR [...]                policy packs on any Pulumi Python program
sahab up|preview|destroy <env> [--stack S]          the real thing, through the Pulumi CLI
sahab bootstrap <env>                               in-region state backend (S3 + KMS)
sahab local up|status|down [--embedded]             the platform on one machine, real services on loopback
sahab project new|validate|run                      model projects: scaffold, validate offline, build a version locally
sahab verify <env|local> [--junit F] [--report D]   the live platform is what the plan promised
sahab evidence <env|local> | check PACK             signed compliance evidence pack (UAE law -> controls)
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from sahab.cli.errors import NotACheckout, exits
from sahab.cli.evidence import evidence
from sahab.cli.local import local_app
from sahab.cli.project import project_app
from sahab.engine.offline import Plan, plan_environment, write_plan

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Sahab: a UAE-resident ML platform on Pulumi.")
policy_app = typer.Typer(no_args_is_help=True, help="Policy packs on any Pulumi Python program, offline.")
app.add_typer(policy_app, name="policy")
app.add_typer(local_app, name="local")
app.add_typer(project_app, name="project")
app.command("evidence")(evidence)
console = Console()
err = Console(stderr=True)


def _repo() -> Path:
    """The Sahab checkout: the nearest folder upwards holding Pulumi.yaml and environments/."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").exists() and (folder / "environments").is_dir():
            return folder
    raise NotACheckout("run sahab inside a Sahab checkout (a folder with Pulumi.yaml and environments/)")


def render_tree(plan: Plan, full: bool = False) -> Tree:
    """Components with their children; without `full`, same-type leaves fold into `Type ×N`."""
    children: dict[str, list] = defaultdict(list)
    for r in plan.resources:
        children[r.parent].append(r)
    stack = next((r for r in plan.resources if r.type == "pulumi:pulumi:Stack"), None)
    root = Tree(f"[bold]{plan.project}[/] / stack [bold cyan]{plan.stack}[/]  ({len(plan.resources)} resources)")

    def add(node: Tree, urn: str) -> None:
        kids = sorted(children.get(urn, []), key=lambda r: (not children.get(r.urn), r.type, r.name))
        leaves: dict[str, list] = defaultdict(list)
        for r in kids:
            if children.get(r.urn):
                add(node.add(f"[bold magenta]{r.type}[/] {r.name}"), r.urn)
            elif full:
                node.add(f"[green]{r.type}[/] {r.name}")
            else:
                leaves[r.type].append(r)
        for typ, rs in leaves.items():
            label = f"[green]{typ}[/] {rs[0].name}" if len(rs) == 1 else f"[green]{typ}[/] ×{len(rs)}"
            node.add(label)

    add(root, stack.urn if stack else "")
    return root


def counts_table(plan: Plan) -> Table:
    table = Table(title="Resources per type", show_lines=False)
    table.add_column("type")
    table.add_column("count", justify="right")
    for typ, n in sorted(Counter(r.type for r in plan.resources if r.custom).items()):
        table.add_row(typ, str(n))
    comps = sum(1 for r in plan.resources if not r.custom and r.type != "pulumi:pulumi:Stack")
    table.add_row("[bold]custom resources[/]", f"[bold]{sum(1 for r in plan.resources if r.custom)}[/]")
    table.add_row("[bold]components[/]", f"[bold]{comps}[/]")
    return table


@app.command()
@exits
def plan(
    env: Annotated[str, typer.Argument(help="Environment folder under environments/ (e.g. uae-central).")],
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="Stack name (default: the environment's name).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: .sahab/<env>/).")] = None,
    full: Annotated[bool, typer.Option("--full", help="List every resource in the tree instead of folding same-type leaves.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the summary line.")] = False,
) -> None:
    """Run the platform program offline (no credentials) and write plan.json and manifests."""
    repo = _repo()
    with err.status(f"planning {env} offline…"):
        result = plan_environment(repo, env, stack)
    out_dir = out or repo / ".sahab" / env
    path = write_plan(result, out_dir)
    manifests = sum(1 for _ in (out_dir / "manifests").rglob("*.yaml")) if (out_dir / "manifests").exists() else 0
    if not quiet:
        console.print(render_tree(result, full=full))
        console.print(counts_table(result))
    region = result.config.get("aws:region") or result.config.get("azure-native:location", "")
    console.print(
        f"[bold green]planned[/] {env} ({result.stack}, {region}): {len(result.resources)} resources in {result.seconds:.1f} s; "
        f"wrote {_rel(path, repo)} and {manifests} manifest(s)"
    )


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


ReportFormat = Literal["text", "json"]


@app.command()
@exits
def check(
    env: Annotated[str, typer.Argument(help="Environment folder under environments/.")],
    stack: Annotated[str | None, typer.Option("--stack", "-s")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Report folder (default: .sahab/<env>/).")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="text or json")] = "text",
    pack: Annotated[list[str] | None, typer.Option("--pack", help="Only this pack under policy_packs/ (repeatable; default: all).")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Base branch's report.json: report.md says which controls changed.")] = None,
) -> None:
    """Plan + every policy pack (with the environment's policy.yaml) + checkov + Kubernetes schemas."""
    from sahab import gate
    from sahab.evidence import summary  # noqa: F401 (registers report.md's control summary: sahab/evidence/summary.py)

    raise typer.Exit(gate.check_environment(_repo(), env, stack=stack, out=out, fmt=fmt, packs=pack or [], baseline=baseline))


@app.command()
@exits
def preflight(
    env: Annotated[str, typer.Argument(help="Environment folder under environments/.")],
    stack: Annotated[str | None, typer.Option("--stack", "-s")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where preflight.json goes (default: .sahab/<env>/).")] = None,
) -> None:
    """Ask the cloud what the offline gate cannot know (credentials needed). Exit 1 on a failed check."""
    from sahab.ops import preflight as pf

    repo = _repo()
    results = pf.run(repo, env, stack)
    table = Table(title=f"Preflight: {env}", show_lines=False)
    for col in ("result", "check", "what was found"):
        table.add_column(col, overflow="fold")
    colour = {"pass": "green", "warn": "yellow", "fail": "bold red"}
    for r in results:
        table.add_row(f"[{colour[r.level]}]{r.level}[/]", r.check, r.message)
    console.print(table)
    pf.write(results, (out or repo / ".sahab" / env) / "preflight.json")
    failed = sum(r.level == "fail" for r in results)
    console.print(
        f"{'[bold red]failed[/]' if failed else '[bold green]passed[/]'}: {failed} failed, {sum(r.level == 'warn' for r in results)} warnings, {len(results)} checks"
    )
    raise typer.Exit(1 if failed else 0)


@app.command()
@exits
def cost(
    env: Annotated[str, typer.Argument(help="Environment folder under environments/.")],
    stack: Annotated[str | None, typer.Option("--stack", "-s")] = None,
    fmt: Annotated[Literal["text", "json", "md"], typer.Option("--format", help="text, json or md")] = "text",
) -> None:
    """Monthly cost range of the environment, offline, from the dated price snapshot (USD and AED)."""
    import json

    from sahab import cost as sahab_cost
    from sahab.cost.render import markdown, text

    est = sahab_cost.estimate_environment(_repo(), env, stack)
    if fmt == "json":
        print(json.dumps(est.to_json(), indent=1))
    elif fmt == "md":
        print("\n".join(markdown(est, budget_usd=est.budget_usd)))
    else:
        console.print(text(est))


@policy_app.command("check")
@exits
def policy_check(
    program_dir: Annotated[Path, typer.Argument(help="Folder of a Pulumi Python program (Pulumi.yaml + program).")],
    stack: Annotated[str, typer.Option("--stack", "-s", help="Reads PROGRAM_DIR/Pulumi.<stack>.yaml for config.")] = "dev",
    pack: Annotated[list[str] | None, typer.Option("--pack", help="Pack name under policy_packs/ (repeatable; default: all).")] = None,
    policy_config: Annotated[Path | None, typer.Option("--policy-config", help="policy.yaml with per-pack config.")] = None,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="text or json")] = "text",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write report.json/.md/.sarif here.")] = None,
    kubernetes: Annotated[bool, typer.Option("--kubernetes", help="Also validate the program's Kubernetes manifests (schemas + checkov).")] = False,
) -> None:
    """Run the policy packs over any Pulumi Python program, offline. Exit 1 on mandatory violations."""
    from sahab import gate

    raise typer.Exit(gate.policy_check(program_dir, stack=stack, packs=pack or [], policy_config=policy_config, fmt=fmt, out=out, kubernetes=kubernetes))


def _cloud_of(repo: Path, env: str, stack: str | None) -> str:
    """`sahab:platform.cloud` of the environment (which credentials a deploy needs); aws when unreadable."""
    import yaml

    path = repo / "environments" / env / f"Pulumi.{stack or env}.yaml"
    try:
        return str(((yaml.safe_load(path.read_text()) or {}).get("config") or {}).get("sahab:platform", {}).get("cloud", "aws"))
    except (OSError, yaml.YAMLError, AttributeError):
        return "aws"  # build_request reports a missing or broken file with its own words


def _deploy(action: str, env: str, stack: str | None, backend_url: str | None, secrets_provider: str | None, policies: bool) -> None:
    from sahab.ops import deploy

    repo = _repo()
    deploy.check_prerequisites(_cloud_of(repo, env, stack))
    backend = deploy.read_backend(repo, env, backend_url, secrets_provider)
    request = deploy.build_request(repo, env, action, stack, backend=backend, with_policies=policies)
    console.print(f"[bold]{action}[/] {env} (stack {request.stack}) with {_rel(request.config_file, repo)}, state in {backend.url}")
    try:
        deploy.run(request, on_output=lambda line: console.print(line, end="", markup=False, highlight=False))
    except Exception as e:  # whatever the Automation API raises: the CLI's own error text is the useful part
        raise deploy.DeployFailed(f"pulumi {action} failed: {e}") from e


Stack = Annotated[str | None, typer.Option("--stack", "-s")]


@app.command()
@exits
def up(
    env: str,
    stack: Stack = None,
    backend_url: Annotated[str | None, typer.Option("--backend-url", help="s3://BUCKET?region=me-central-1 (default: environments/<env>/backend.yaml)")] = None,
    secrets_provider: Annotated[str | None, typer.Option("--secrets-provider", help="awskms://alias/NAME?region=me-central-1")] = None,
    no_policies: Annotated[bool, typer.Option("--no-policies", help="Skip the policy packs (not recommended).")] = False,
) -> None:
    """Deploy the environment with the Pulumi CLI (Automation API), policy packs enforced."""
    _deploy("up", env, stack, backend_url, secrets_provider, not no_policies)


@app.command()
@exits
def preview(
    env: str,
    stack: Stack = None,
    backend_url: Annotated[str | None, typer.Option("--backend-url")] = None,
    secrets_provider: Annotated[str | None, typer.Option("--secrets-provider")] = None,
    no_policies: Annotated[bool, typer.Option("--no-policies")] = False,
) -> None:
    """Preview the environment against the real cloud (needs the Pulumi CLI and credentials)."""
    _deploy("preview", env, stack, backend_url, secrets_provider, not no_policies)


@app.command()
@exits
def destroy(
    env: str,
    stack: Stack = None,
    backend_url: Annotated[str | None, typer.Option("--backend-url")] = None,
    secrets_provider: Annotated[str | None, typer.Option("--secrets-provider")] = None,
) -> None:
    """Destroy the environment (protected resources such as the cluster and database stop it)."""
    _deploy("destroy", env, stack, backend_url, secrets_provider, False)


@app.command()
@exits
def bootstrap(
    env: str,
    region: Annotated[str, typer.Option("--region", help="UAE region of the state bucket and key.")] = "me-central-1",
) -> None:
    """Create an in-region Pulumi state backend (S3 + KMS) and record it in environments/<env>/backend.yaml."""
    from sahab.ops import deploy

    repo = _repo()
    deploy.check_prerequisites("aws")
    backend = deploy.bootstrap(repo, env, region, on_output=lambda line: console.print(line, end="", markup=False, highlight=False))
    console.print(f"[bold green]state backend ready[/]: {backend.url}\nsecrets provider: {backend.secrets_provider}")


class VerifyPart(StrEnum):
    """The parts of `sahab verify` (sahab/ops/verify/parts.py PARTS; a test proves they agree).
    An Enum, not a Literal: typer takes no `list[Literal[...]]`."""

    cloud = "cloud"
    cluster = "cluster"
    workloads = "workloads"
    local = "local"


@app.command()
@exits
def verify(
    target: Annotated[str, typer.Argument(help="Environment under environments/ (after `sahab up`), or `local` (after `sahab local up`).")],
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="Stack name (default: the environment's name).")] = None,
    outputs: Annotated[
        Path | None, typer.Option("--outputs", help="Stack outputs JSON (`pulumi stack output --json --show-secrets`); default: read them with the Pulumi CLI.")
    ] = None,
    plan_file: Annotated[Path | None, typer.Option("--plan", help="plan.json holding the promises (default: plan the environment offline now).")] = None,
    kubeconfig: Annotated[Path | None, typer.Option("--kubeconfig", help="Kubeconfig for the cluster part (default: the stack's kubeconfig output).")] = None,
    kube_context: Annotated[str | None, typer.Option("--context", help="Kubeconfig context.")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the Markdown evidence summary (verify-report.md) into this folder.")] = None,
    part: Annotated[list[VerifyPart] | None, typer.Option("--part", help="Only this part (repeatable; default: all).")] = None,
    scan_region: Annotated[
        list[str] | None, typer.Option("--scan-region", help="Regions the tag scan covers (repeatable; default: every region enabled for the account).")
    ] = None,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="State folder of `sahab local up` (default: .sahab/local).")] = None,
) -> None:
    """Verify the live platform against the plan: cloud, cluster and workloads. Exit 1 on any failed check."""
    from sahab.ops.verify import runner

    request = runner.VerifyRequest(
        repo=_repo(),
        target=target,
        stack=stack,
        outputs_file=outputs,
        plan_file=plan_file,
        kubeconfig=kubeconfig,
        kube_context=kube_context,
        junit=junit,
        report=report,
        parts=tuple(p.value for p in part or ()) or runner.PARTS,
        scan_regions=tuple(scan_region or ()),
        local_state_dir=state_dir,
    )
    result = runner.run(request, on_output=lambda line: console.print(line, end="", markup=False, highlight=False))
    failed = sum(o.outcome == "failed" for o in result.outcomes)
    skipped = sum(o.outcome == "skipped" for o in result.outcomes)
    where = "".join(f"; wrote {_rel(p, request.repo)}" for p in (result.junit, result.report) if p)
    verdict = "[bold red]FAILED[/]" if result.exit_code else "[bold green]verified[/]"
    console.print(f"{verdict} {target}: {len(result.outcomes)} checks, {failed} failed, {skipped} skipped{where}")
    raise typer.Exit(result.exit_code)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
