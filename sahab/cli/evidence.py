"""`sahab evidence <env|local> [...]` (build a signed evidence pack) and `sahab evidence check PACK`
(verify one), registered on the main CLI. The work is sahab/evidence/pack.py's; this module parses
options and prints."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sahab.cli.errors import NotACheckout, exits
from workloads.errors import SahabError

console = Console()


class EvidenceUsage(SahabError):
    """`sahab evidence` called with options that do not go together. Exit 2."""


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EvidenceUsage(f"--at {value!r}: not an ISO 8601 time. Fix: e.g. --at 2026-12-01T00:00:00Z") from None


def _repo() -> Path:
    """The checkout above the working folder: sahab.cli.main._repo's rule (main imports this module,
    so it is not imported back)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").exists() and (folder / "environments").is_dir():
            return folder
    raise NotACheckout("run sahab inside a Sahab checkout (a folder with Pulumi.yaml and environments/)")


@exits
def evidence(
    target: Annotated[str, typer.Argument(help="Environment under environments/, `local`, or `check` to verify a pack.")],
    pack: Annotated[Path | None, typer.Argument(help="With `check`: the pack folder to verify.")] = None,
    stack: Annotated[str | None, typer.Option("--stack", "-s", help="Stack name (default: the environment's name).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Pack folder (default: .sahab/<env>/evidence).")] = None,
    verify_report: Annotated[
        Path | None, typer.Option("--verify-report", help="Folder of a `sahab verify --junit DIR/verify.xml --report DIR` run to include.")
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="The pack's time (ISO 8601); default SOURCE_DATE_EPOCH, else now.")] = None,
    registry: Annotated[str | None, typer.Option("--registry", help="MLflow tracking URI for the model inventory (local: the platform's).")] = None,
    drift_state: Annotated[str | None, typer.Option("--drift-state", help="Drift-state root (`<root>/<project>/state.json`) for monitoring history.")] = None,
    sign_key: Annotated[
        str | None, typer.Option("--sign-key", help="KMS key ARN or Key Vault key id to sign with (default: a local ed25519 key under --state-dir).")
    ] = None,
    state_dir: Annotated[Path | None, typer.Option("--state-dir", help="Where the local signing key lives (default: .sahab/local).")] = None,
    pdf: Annotated[bool | None, typer.Option("--pdf/--no-pdf", help="report.pdf through chromium (default: when chromium is installed).")] = None,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="With `check`: the pack must be signed by this public key (PEM).")] = None,
) -> None:
    """Build the environment's compliance evidence pack (gate + verify mapped to UAE law, OSCAL,
    reports, dashboard, signed manifest), or `check` one. Exit 1 when a control fails (the pack is
    still written) or a pack fails its check."""
    from sahab.evidence import pack as evidence_pack

    if target == "check":
        if pack is None:
            raise EvidenceUsage("sahab evidence check: which pack? Fix: sahab evidence check PACK_DIR")
        checked = evidence_pack.check(pack, public_key)
        console.print(
            f"[bold green]verified[/] {pack}: {checked.files} files match SHA256SUMS, signature {checked.signing.get('algorithm')} "
            f"by key {str(checked.signing.get('public_key_sha256', ''))[:16]}… ({checked.signing.get('method')})"
        )
        return
    if pack is not None or public_key is not None:
        raise EvidenceUsage(f"sahab evidence {target}: PACK and --public-key go with `check`. Fix: sahab evidence check PACK [--public-key FILE]")
    request = evidence_pack.PackRequest(
        repo=_repo(),
        target=target,
        stack=stack,
        out=out,
        verify_report=verify_report,
        at=_at(at),
        registry=registry,
        drift_state=drift_state,
        sign_key=sign_key,
        state_dir=state_dir,
        pdf=pdf,
    )
    with console.status(f"collecting evidence for {target}…"):
        result = evidence_pack.build(request)
    table = Table(title=f"Controls: {target}", show_lines=False)
    for col in ("law", "controls", "pass", "fail", "manual", "not assessed", "n/a"):
        table.add_column(col, justify="left" if col == "law" else "right")
    laws: dict[str, list] = {}
    for r in result.results:
        laws.setdefault(r.framework.title, []).append(r)
    for law, rs in laws.items():
        n = {s: sum(r.status == s for r in rs) for s in ("pass", "fail", "manual", "not-assessed", "not-applicable")}
        table.add_row(
            law, str(len(rs)), str(n["pass"]), f"[red]{n['fail']}[/]" if n["fail"] else "0", str(n["manual"]), str(n["not-assessed"]), str(n["not-applicable"])
        )
    console.print(table)
    for r in result.failing:
        console.print(f"[bold red]fail[/] {r.control.id} ({r.law}): {r.control.title}")
        for item in r.failing:
            for line in item.findings[:5]:
                console.print(f"    {line}", markup=False, highlight=False)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    console.print(f"wrote {result.out} ({len(result.files)} files, signed {result.signing['method']}); {timing}")
    raise typer.Exit(1 if result.failing else 0)
