"""The `sahab` command line.

sahab plan <env> [--stack S] [--out DIR] [--full]   offline plan: tree, counts, plan.json, manifests
sahab check <env>                                   plan + policy packs + checkov + schemas
sahab preflight <env>                               live: chart versions, instance offerings, endpoint services
sahab cost <env> [--format text|json|md]            monthly cost range from the dated price snapshot
sahab policy check PROGRAM_DIR [...]                policy packs on any Pulumi Python program
sahab up|preview|destroy <env> [--stack S]          the real thing, through the Pulumi CLI
sahab bootstrap <env>                               in-region state backend (S3 + KMS)
sahab local up|status|down [--embedded]             the platform on one machine, real services on loopback
sahab verify <env|local> [--junit F] [--report D]   the live platform is what the plan promised
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from sahab.cli.local import local_app
from sahab.engine.offline import Plan, ProgramError, plan_environment, write_plan

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Sahab: a UAE-resident ML platform on Pulumi.")
policy_app = typer.Typer(no_args_is_help=True, help="Policy packs on any Pulumi Python program, offline.")
app.add_typer(policy_app, name="policy")
app.add_typer(local_app, name="local")
console = Console()
err = Console(stderr=True)


def _repo() -> Path:
    """The Sahab checkout: the nearest folder upwards holding Pulumi.yaml and environments/."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").exists() and (folder / "environments").is_dir():
            return folder
    err.print("[red]error:[/] run sahab inside a Sahab checkout (a folder with Pulumi.yaml and environments/)")
    raise typer.Exit(2)


def _fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/] {message}")
    raise typer.Exit(code)


def _short_type(token: str) -> str:
    return token.split(":")[-1] if token.count(":") >= 2 else token


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
def plan(
    env: str = typer.Argument(..., help="Environment folder under environments/ (e.g. uae-central)."),
    stack: str | None = typer.Option(None, "--stack", "-s", help="Stack name (default: the environment's name)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default: .sahab/<env>/)."),
    full: bool = typer.Option(False, "--full", help="List every resource in the tree instead of folding same-type leaves."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the summary line."),
) -> None:
    """Run the platform program offline (no credentials) and write plan.json and manifests."""
    repo = _repo()
    try:
        with err.status(f"planning {env} offline…"):
            result = plan_environment(repo, env, stack)
    except ProgramError as e:
        _fail(str(e))
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


@app.command()
def check(
    env: str = typer.Argument(..., help="Environment folder under environments/."),
    stack: str | None = typer.Option(None, "--stack", "-s"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Report folder (default: .sahab/<env>/)."),
    fmt: str = typer.Option("text", "--format", help="text or json"),
    pack: list[str] = typer.Option([], "--pack", help="Only this pack under policy_packs/ (repeatable; default: all)."),
) -> None:
    """Plan + every policy pack (with the environment's policy.yaml) + checkov + Kubernetes schemas."""
    from sahab import gate

    raise typer.Exit(gate.check_environment(_repo(), env, stack=stack, out=out, fmt=fmt, packs=pack))


@app.command()
def preflight(
    env: Annotated[str, typer.Argument(help="Environment folder under environments/.")],
    stack: Annotated[str | None, typer.Option("--stack", "-s")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Where preflight.json goes (default: .sahab/<env>/).")] = None,
) -> None:
    """Ask the cloud what the offline gate cannot know (credentials needed). Exit 1 on a failed check."""
    from sahab.ops import preflight as pf

    repo = _repo()
    try:
        results = pf.run(repo, env, stack)
    except (ProgramError, pf.PreflightError) as e:
        _fail(str(e))
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


class CostFormat(StrEnum):
    text = "text"
    json = "json"
    md = "md"


@app.command()
def cost(
    env: Annotated[str, typer.Argument(help="Environment folder under environments/.")],
    stack: Annotated[str | None, typer.Option("--stack", "-s")] = None,
    fmt: Annotated[CostFormat, typer.Option("--format", help="text, json or md")] = CostFormat.text,
) -> None:
    """Monthly cost range of the environment, offline, from the dated price snapshot (USD and AED)."""
    import json

    from sahab import cost as sahab_cost
    from sahab.cost.render import markdown, text

    try:
        est = sahab_cost.estimate_environment(_repo(), env, stack)
    except (ProgramError, sahab_cost.SnapshotError) as e:
        _fail(str(e))
    if fmt is CostFormat.json:
        print(json.dumps(est.to_json(), indent=1))
    elif fmt is CostFormat.md:
        print("\n".join(markdown(est, budget_usd=est.budget_usd)))
    else:
        console.print(text(est))


@policy_app.command("check")
def policy_check(
    program_dir: Path = typer.Argument(..., help="Folder of a Pulumi Python program (Pulumi.yaml + program)."),
    stack: str = typer.Option("dev", "--stack", "-s", help="Reads PROGRAM_DIR/Pulumi.<stack>.yaml for config."),
    pack: list[str] = typer.Option([], "--pack", help="Pack name under policy_packs/ (repeatable; default: all)."),
    policy_config: Path | None = typer.Option(None, "--policy-config", help="policy.yaml with per-pack config."),
    fmt: str = typer.Option("text", "--format", help="text or json"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Also write report.json/.md/.sarif here."),
    kubernetes: bool = typer.Option(False, "--kubernetes", help="Also validate the program's Kubernetes manifests (schemas + checkov)."),
) -> None:
    """Run the policy packs over any Pulumi Python program, offline. Exit 1 on mandatory violations."""
    from sahab import gate

    raise typer.Exit(gate.policy_check(program_dir, stack=stack, packs=pack, policy_config=policy_config, fmt=fmt, out=out, kubernetes=kubernetes))


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
    try:
        deploy.check_prerequisites(_cloud_of(repo, env, stack))
        backend = deploy.read_backend(repo, env, backend_url, secrets_provider)
        request = deploy.build_request(repo, env, action, stack, backend=backend, with_policies=policies)
    except deploy.DeployError as e:
        _fail(str(e))
    console.print(f"[bold]{action}[/] {env} (stack {request.stack}) with {_rel(request.config_file, repo)}, state in {backend.url}")
    try:
        deploy.run(request, on_output=lambda line: console.print(line, end="", markup=False, highlight=False))
    except Exception as e:  # noqa: BLE001 the CLI's own error text is the useful part
        _fail(f"pulumi {action} failed: {e}", code=1)


@app.command()
def up(
    env: str,
    stack: str | None = typer.Option(None, "--stack", "-s"),
    backend_url: str | None = typer.Option(None, "--backend-url", help="s3://BUCKET?region=me-central-1 (default: environments/<env>/backend.yaml)"),
    secrets_provider: str | None = typer.Option(None, "--secrets-provider", help="awskms://alias/NAME?region=me-central-1"),
    no_policies: bool = typer.Option(False, "--no-policies", help="Skip the policy packs (not recommended)."),
) -> None:
    """Deploy the environment with the Pulumi CLI (Automation API), policy packs enforced."""
    _deploy("up", env, stack, backend_url, secrets_provider, not no_policies)


@app.command()
def preview(
    env: str,
    stack: str | None = typer.Option(None, "--stack", "-s"),
    backend_url: str | None = typer.Option(None, "--backend-url"),
    secrets_provider: str | None = typer.Option(None, "--secrets-provider"),
    no_policies: bool = typer.Option(False, "--no-policies"),
) -> None:
    """Preview the environment against the real cloud (needs the Pulumi CLI and credentials)."""
    _deploy("preview", env, stack, backend_url, secrets_provider, not no_policies)


@app.command()
def destroy(
    env: str,
    stack: str | None = typer.Option(None, "--stack", "-s"),
    backend_url: str | None = typer.Option(None, "--backend-url"),
    secrets_provider: str | None = typer.Option(None, "--secrets-provider"),
) -> None:
    """Destroy the environment (protected resources such as the cluster and database stop it)."""
    _deploy("destroy", env, stack, backend_url, secrets_provider, False)


@app.command()
def bootstrap(
    env: str,
    region: str = typer.Option("me-central-1", "--region", help="UAE region of the state bucket and key."),
) -> None:
    """Create an in-region Pulumi state backend (S3 + KMS) and record it in environments/<env>/backend.yaml."""
    from sahab.ops import deploy

    repo = _repo()
    try:
        deploy.check_prerequisites("aws")
        backend = deploy.bootstrap(repo, env, region, on_output=lambda line: console.print(line, end="", markup=False, highlight=False))
    except deploy.DeployError as e:
        _fail(str(e))
    console.print(f"[bold green]state backend ready[/]: {backend.url}\nsecrets provider: {backend.secrets_provider}")


@app.command()
def verify(
    target: str = typer.Argument(..., help="Environment under environments/ (after `sahab up`), or `local` (after `sahab local up`)."),
    stack: str | None = typer.Option(None, "--stack", "-s", help="Stack name (default: the environment's name)."),
    outputs: Path | None = typer.Option(
        None, "--outputs", help="Stack outputs JSON (`pulumi stack output --json --show-secrets`); default: read them with the Pulumi CLI."
    ),
    plan_file: Path | None = typer.Option(None, "--plan", help="plan.json holding the promises (default: plan the environment offline now)."),
    kubeconfig: Path | None = typer.Option(None, "--kubeconfig", help="Kubeconfig for the cluster part (default: the stack's kubeconfig output)."),
    kube_context: str | None = typer.Option(None, "--context", help="Kubeconfig context."),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML here."),
    report: Path | None = typer.Option(None, "--report", help="Write the Markdown evidence summary (verify-report.md) into this folder."),
    part: list[str] = typer.Option([], "--part", help="Only this part: cloud, cluster, workloads, local (repeatable; default: all)."),
    scan_region: list[str] = typer.Option([], "--scan-region", help="Regions the tag scan covers (repeatable; default: every region enabled for the account)."),
    state_dir: Path | None = typer.Option(None, "--state-dir", help="State folder of `sahab local up` (default: .sahab/local)."),
) -> None:
    """Verify the live platform against the plan: cloud, cluster and workloads. Exit 1 on any failed check."""
    from sahab.ops.verify import runner
    from sahab.ops.verify.context import VerifyError

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
        parts=tuple(part) or runner.PARTS,
        scan_regions=tuple(scan_region),
        local_state_dir=state_dir,
    )
    try:
        result = runner.run(request, on_output=lambda line: console.print(line, end="", markup=False, highlight=False))
    except VerifyError as e:
        _fail(str(e))
    failed = sum(o.outcome == "failed" for o in result.outcomes)
    skipped = sum(o.outcome == "skipped" for o in result.outcomes)
    where = "".join(f"; wrote {_rel(p, request.repo)}" for p in (result.junit, result.report) if p)
    verdict = "[bold red]FAILED[/]" if result.exit_code else "[bold green]verified[/]"
    console.print(f"{verdict} {target}: {len(result.outcomes)} checks, {failed} failed, {skipped} skipped{where}")
    raise typer.Exit(result.exit_code)


def main() -> None:  # pragma: no cover - console entry
    sys.exit(app())
