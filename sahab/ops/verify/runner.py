"""`sahab verify`: gather the run's context, run the shipped suite with pytest, write the evidence.

The suite runs as its own pytest process (`python -m pytest sahab/ops/verify/suite`), so a project's
own pytest configuration never changes what is verified. Results: JUnit XML (`--junit FILE`) and a
Markdown evidence summary (`--report DIR`/verify-report.md): what was checked, when, against which
stack and account, and the outcome of every check. Exit status: 0 all passed (skips allowed),
1 any check failed, 2 verification could not run.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sahab.ops.verify.context import StackOutputs, VerifyError, read_outputs_file, read_pulumi_outputs
from sahab.ops.verify.parts import PARTS, local_snapshot

SUITE = Path(__file__).resolve().parent / "suite"
REPORT_NAME = "verify-report.md"


@dataclass(frozen=True, kw_only=True)
class VerifyRequest:
    repo: Path
    target: str
    """An environment under environments/, or `local`."""
    stack: str | None = None
    outputs_file: Path | None = None
    plan_file: Path | None = None
    kubeconfig: Path | None = None
    kube_context: str | None = None
    junit: Path | None = None
    report: Path | None = None
    parts: tuple[str, ...] = PARTS
    scan_regions: tuple[str, ...] = ()
    local_state_dir: Path | None = None
    model_name: str | None = None


@dataclass
class Outcome:
    part: str
    check: str
    subject: str
    outcome: str  # passed | failed | skipped
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Result:
    exit_code: int
    outcomes: list[Outcome] = field(default_factory=list)
    junit: Path | None = None
    report: Path | None = None


def run(request: VerifyRequest, on_output: Callable[[str], None] = lambda line: None) -> Result:
    """Verify `request.target`; raise VerifyError when verification cannot start."""
    bad = [p for p in request.parts if p not in PARTS]
    if bad:
        raise VerifyError(f"--part {bad[0]!r} is not a part; parts: {list(PARTS)}")
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="sahab-verify-") as tmp:
        work = Path(tmp)
        ctx, about = _context(request, work)
        ctx_file = work / "context.json"
        ctx_file.write_text(json.dumps(ctx, default=str))
        junit = (request.junit or work / "junit.xml").resolve()
        junit.parent.mkdir(parents=True, exist_ok=True)
        code = _pytest(ctx_file, junit, work, on_output)
        finished = datetime.now(UTC)
        outcomes = read_junit(junit)
        if code not in (0, 1) or not outcomes:
            raise VerifyError(f"the verification suite did not run (pytest exit {code}); its output is above")
        if all(o.outcome == "skipped" for o in outcomes):
            reasons = sorted({f"{o.part}: {o.detail}" for o in outcomes if o.detail})
            raise VerifyError(
                "nothing was verified, every part was skipped ("
                + "; ".join(reasons)
                + "). Fix: give what the parts need (AWS or Azure credentials, a kubeconfig) or choose them with --part"
            )
        exit_code = 1 if any(o.outcome == "failed" for o in outcomes) else 0
        report = None
        if request.report:
            request.report.mkdir(parents=True, exist_ok=True)
            report = request.report / REPORT_NAME
            report.write_text(evidence_markdown(about, outcomes, started, finished, exit_code))
        return Result(exit_code=exit_code, outcomes=outcomes, junit=request.junit, report=report)


def _context(request: VerifyRequest, work: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The suite's context (what to check, against what) and the summary's header facts."""
    ctx: dict[str, Any] = {"target": request.target, "parts": list(request.parts), "model_name": request.model_name, "repo": str(request.repo)}
    if request.target == "local":
        from workloads.local import DEFAULT_STATE_DIR

        state_dir = request.local_state_dir or request.repo / DEFAULT_STATE_DIR
        ctx["local"] = local_snapshot(state_dir)
        return ctx, {"target": "the local platform (`sahab local up`)", "state": str(state_dir)}
    stack = request.stack or request.target
    plan_path = work / "plan.json"
    if request.plan_file:
        plan_path.write_bytes(Path(request.plan_file).read_bytes())
        plan_source = str(request.plan_file)
    else:
        from sahab.engine.offline import ProgramError, plan_environment

        try:
            plan = plan_environment(request.repo, request.target, stack)
        except ProgramError as e:
            raise VerifyError(f"the plan of {request.target} (the promises to verify) failed: {e}") from None
        plan_path.write_text(json.dumps(plan.to_json(), default=str))
        plan_source = f"offline plan of environments/{request.target}/Pulumi.{stack}.yaml"
    outputs: StackOutputs = read_outputs_file(request.outputs_file) if request.outputs_file else read_pulumi_outputs(stack, request.repo)
    if outputs.environment != request.target:
        raise VerifyError(f"the stack outputs are environment {outputs.environment!r}, not {request.target!r}. Fix: pass the outputs of stack {stack}.")
    kubeconfig = request.kubeconfig
    if kubeconfig is None and outputs.kubeconfig:
        kubeconfig = work / "kubeconfig"
        text = outputs.kubeconfig if isinstance(outputs.kubeconfig, str) else json.dumps(outputs.kubeconfig)
        kubeconfig.write_text(text)
        kubeconfig.chmod(0o600)
    ctx.update(
        plan=str(plan_path),
        outputs=outputs.model_dump(mode="json"),
        kubeconfig=str(kubeconfig) if kubeconfig else None,
        kube_context=request.kube_context,
        scan_regions=list(request.scan_regions) or None,
    )
    cloud = ((json.loads(plan_path.read_text()).get("config") or {}).get("sahab:platform") or {}).get("cloud")
    about = {
        "target": f"environment {request.target}, stack {stack}, region {outputs.region}",
        "outputs": str(request.outputs_file) if request.outputs_file else f"pulumi stack output --stack {stack}",
        "plan": f"{plan_source} (sha256 {hashlib.sha256(plan_path.read_bytes()).hexdigest()[:16]})",
        "deployed": f"cluster {outputs.cluster_name}; buckets {', '.join(sorted(outputs.bucket_names.values()))}; keys {', '.join(f'{k} {v}' for k, v in sorted(outputs.keys.items()))}; {len(outputs.registry_urls)} {'ACR' if cloud == 'azure' else 'ECR'} repositories",
    }
    if "cloud" in request.parts:
        about["account"] = _azure_subscription(outputs) if cloud == "azure" else _caller(outputs.region)
    return ctx, about


def _azure_subscription(outputs: StackOutputs) -> str:
    from sahab.ops.verify.cloud_azure import subscription_of

    sub = os.environ.get("AZURE_SUBSCRIPTION_ID") or subscription_of({**outputs.keys, **outputs.bucket_names})
    return f"Azure subscription {sub or 'unknown'}"


def _caller(region: str) -> str:
    try:
        import boto3

        me = boto3.client("sts", region_name=region).get_caller_identity()
        return f"{me['Account']} as {me['Arn']}"
    except Exception as e:  # noqa: BLE001 the cloud checks report the real failure
        return f"unknown ({type(e).__name__})"


def _pytest(ctx_file: Path, junit: Path, work: Path, on_output: Callable[[str], None]) -> int:
    ini = work / "pytest.ini"
    ini.write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITE),
        "-c",
        str(ini),
        "--rootdir",
        str(SUITE),
        "-q",
        "-rfEs",
        "--no-header",
        f"--sahab-context={ctx_file}",
        f"--junitxml={junit}",
        "-o",
        "junit_family=xunit2",
        "-o",
        "junit_logging=no",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=work)
    assert proc.stdout is not None
    for line in proc.stdout:
        on_output(line)
    return proc.wait()


def read_junit(path: Path) -> list[Outcome]:
    """The outcome of every check from pytest's JUnit XML (`test_check[<id>[<subject>]]`)."""
    if not path.exists():
        return []
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        part = module.removeprefix("test_")
        name = case.get("name", "")
        param = name[name.index("[") + 1 : -1] if "[" in name else name
        check, _, subject = param.partition("[")
        subject = subject[:-1] if subject.endswith("]") else subject
        if name.startswith("test_check[") and check == f"{part}-part":
            check, subject = f"{part} part", ""
        elif not name.startswith("test_check"):  # a plain test of the suite (testinfra's host tests)
            bare, _, host = name.partition("[")
            check, subject = f"{part}-{bare.removeprefix('test_').replace('_', '-')}", host.rstrip("]")
        outcome, detail = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                detail = (el.get("message") or el.text or "").strip().removeprefix("Failed: ")
                break
        out.append(Outcome(part=part, check=check, subject=subject, outcome=outcome, detail=detail, seconds=float(case.get("time") or 0)))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def evidence_markdown(about: dict[str, str], outcomes: Sequence[Outcome], started: datetime, finished: datetime, exit_code: int) -> str:
    """The evidence summary: the facts of the run, then every check with its outcome."""
    counts = {k: sum(o.outcome == k for o in outcomes) for k in ("passed", "failed", "skipped")}
    lines = [
        "# Sahab verification evidence",
        "",
        f"**Result: {'PASSED' if exit_code == 0 else 'FAILED'}**: {len(outcomes)} checks, {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped.",
        "",
        "| | |",
        "|---|---|",
        f"| checked | {started.isoformat(timespec='seconds')} to {finished.isoformat(timespec='seconds')} |",
        *(f"| {k} | {_cell(v)} |" for k, v in about.items()),
        "| tool | `sahab verify` (sahab/ops/verify/suite, pytest-testinfra) |",
        "",
    ]
    for part in PARTS:
        mine = [o for o in outcomes if o.part == part]
        if not mine:
            continue
        n = {k: sum(o.outcome == k for o in mine) for k in ("passed", "failed", "skipped")}
        lines += [
            f"## {part}: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped",
            "",
            "| check | resource | outcome | detail |",
            "|---|---|---|---|",
        ]
        order = {"failed": 0, "skipped": 1, "passed": 2}
        for o in sorted(mine, key=lambda o: (order[o.outcome], o.check, o.subject)):
            lines.append(f"| {o.check} | {_cell(o.subject)} | {o.outcome} | {_cell(o.detail)} |")
        lines.append("")
    return "\n".join(lines)
