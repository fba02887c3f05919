"""`sahab evidence <env|local>`: build a signed evidence pack; `sahab evidence check PACK`: verify one.

A pack is a folder:

    index.html                  the governance dashboard (static: open it from the folder)
    report.html, report.pdf     every control, its status and the evidence behind it (PDF where
                                chromium is installed)
    assessment-results.json     the same as OSCAL 1.2.1 assessment results
    controls.json               each control's status and evidence items, for machines
    inventory.json              the projects, their model versions and monitoring history
    cost.json                   the monthly cost range (sahab.cost) of the plan
    meta.json                   what was assessed, when, from which inputs
    catalogue/<law>.yaml        the control catalogue the assessment used
    gate/plan.json, gate/report.{json,md,sarif}   the gate's run (its timings left out: they vary)
    verify/                     the verify run given (its JUnit XML and verify-report.md, as they were)
    public.pem, signing.json    the signing key's public half; how it was signed and how to check it
    SHA256SUMS                  the sha256 of every file above (`sha256sum -c SHA256SUMS`)
    SHA256SUMS.sig              the signature over SHA256SUMS

The same inputs give the same bytes: the time comes from `--at` or SOURCE_DATE_EPOCH (else now),
JSON is written with sorted keys, OSCAL uuids are uuid5 of their content, findings are sorted, and
the gate's timings are left out. (An ECDSA key's signature is random: with one, only SHA256SUMS.sig
differs between two runs.)
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sahab.evidence import signing, summary
from sahab.evidence.assess import FAIL, ControlResult, EvidenceError, Facts, GateEvidence, VerifyEvidence, assess, counts
from sahab.evidence.catalogue import CONTROLS_DIR, load_catalogue
from sahab.evidence.inventory import build_inventory
from sahab.evidence.oscal import assessment_results
from sahab.evidence.render import View, dashboard_html, report_html
from workloads.errors import EXIT_FAILED, SahabError

MANIFEST, SIGNATURE, PUBLIC_KEY, SIGNING = "SHA256SUMS", "SHA256SUMS.sig", "public.pem", "signing.json"
LOCAL = "local"
PACK_FORMAT = 1


class PackInvalid(SahabError):
    """A pack fails its check: a file changed, added or missing, or the signature does not verify. Exit 1."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True, kw_only=True)
class PackRequest:
    repo: Path
    target: str
    """An environment under environments/, or `local`."""
    stack: str | None = None
    out: Path | None = None
    verify_report: Path | None = None
    at: datetime | None = None
    registry: str | None = None
    drift_state: str | None = None
    sign_key: str | None = None
    state_dir: Path | None = None
    """Where the local signing key lives (default: .sahab/local, `sahab local`'s state directory)."""
    pdf: bool | None = None
    """None: print report.pdf when chromium is installed."""
    packs: tuple[str, ...] = ()


@dataclass
class PackResult:
    out: Path
    results: list[ControlResult]
    files: list[str]
    signing: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)
    gate_timings: dict[str, float] = field(default_factory=dict)

    @property
    def failing(self) -> list[ControlResult]:
        return [r for r in self.results if r.status == FAIL]


def pack_time(at: datetime | None) -> datetime:
    """`--at`, else SOURCE_DATE_EPOCH (reproducible-builds.org), else now; UTC, whole seconds."""
    if at is None and os.environ.get("SOURCE_DATE_EPOCH"):
        try:
            at = datetime.fromtimestamp(int(os.environ["SOURCE_DATE_EPOCH"]), UTC)
        except ValueError:
            raise EvidenceError(f"SOURCE_DATE_EPOCH={os.environ['SOURCE_DATE_EPOCH']!r} is not a number of seconds. Fix: unset it or give --at") from None
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).replace(microsecond=0)


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=False, default=str) + "\n")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _run_gate(request: PackRequest, work: Path) -> tuple[Any, Any]:
    """The gate exactly as `sahab check` runs it (sahab.gate.gate_environment), into a scratch folder."""
    from sahab.gate import gate_environment

    summary.register()  # the pack's gate/report.md carries the control summary, as `sahab check`'s does
    plan, result, _ = gate_environment(request.repo, request.target, request.stack, work / "gate-run", request.packs)
    return plan, result


def _gate_files(plan_dir: Path, result: Any, dest: Path) -> None:
    """plan.json and the reports, without what varies between identical runs (timings, finding order)."""
    from sahab.gate.reports import write_reports

    dest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(plan_dir / "plan.json", dest / "plan.json")
    result.findings.sort(key=lambda f: (f.pack, f.policy, f.urn, f.resource, f.message))
    write_reports(replace(result, timings={}), dest)


def _local_platform(state_dir: Path) -> dict[str, str]:
    from workloads.local import platform_env
    from workloads.local.platform import LocalError

    try:
        return platform_env(state_dir)
    except LocalError:
        return {}


def _drift_states(state_dir: Path, env: Mapping[str, str], names: list[str]) -> dict[str, str]:
    """Each project's drift-state URI on the local platform, by the drift job's own rule
    (workloads.monitoring.job: the project's SAHAB_DRIFT_STATE_URI, else default_state_uri of its
    log root, else its local default under SAHAB_HOME)."""
    from workloads.local.platform import LocalError, project_env
    from workloads.monitoring.job import default_state_uri
    from workloads.project.paths import local_paths

    out = {}
    for name in names:
        try:
            mine = {**env, **project_env(state_dir, name)}
        except LocalError:
            mine = dict(env)
        if mine.get("SAHAB_DRIFT_STATE_URI"):
            out[name] = mine["SAHAB_DRIFT_STATE_URI"].rstrip("/")
        elif mine.get("SAHAB_DRIFT_LOG_URI"):
            out[name] = default_state_uri(mine["SAHAB_DRIFT_LOG_URI"].rstrip("/"), name)
        elif mine.get("SAHAB_HOME"):
            out[name] = str(local_paths(mine["SAHAB_HOME"], name).drift_state)
    return out


def build(request: PackRequest) -> PackResult:
    """Gate (and verify, when given) -> controls -> the signed pack in `request.out`."""
    started = time.perf_counter()
    at = pack_time(request.at)
    catalogue = load_catalogue()
    local = request.target == LOCAL
    state_dir = request.state_dir or request.repo / ".sahab" / "local"
    out = request.out or request.repo / ".sahab" / request.target / "evidence"
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise EvidenceError(f"--out {out}: the folder holds files and is not an evidence pack. Fix: choose an empty or new folder")
    verify = VerifyEvidence.read(request.verify_report) if request.verify_report else None
    signer = signing.signer_for(request.sign_key, state_dir)
    timings: dict[str, float] = {}
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".evidence-", dir=out.parent))
    try:
        pack = work / "pack"
        pack.mkdir()
        gate, spec, cost, gate_timings = None, {}, None, {}
        about: dict[str, str] = {}
        if local:
            env = _local_platform(state_dir)
            about["target"] = f"the local platform (`sahab local up`, state {state_dir})"
            registry = request.registry or env.get("SAHAB_MLFLOW_TRACKING_URI")
        else:
            from sahab.gate.deployability import platform_spec

            t0 = time.perf_counter()
            plan, result = _run_gate(request, work)
            timings["gate"] = time.perf_counter() - t0
            gate_timings = dict(result.timings)
            _gate_files(work / "gate-run", result, pack / "gate")
            gate = GateEvidence.of(result, "gate/report.json")
            spec = platform_spec(plan)
            est = result.extras.get("cost")
            cost = est.to_json() if est is not None and hasattr(est, "to_json") else None
            about["target"] = f"environment {request.target}, stack {plan.stack}, {spec.get('cloud', 'aws')} {spec.get('region', '')}".strip()
            about["gate"] = (
                f"sahab check: {result.resources} resources, {result.manifests} manifests, {result.mandatory} mandatory and {result.advisory} advisory finding(s)"
            )
            env = {}
            registry = request.registry
        facts = Facts.of_spec(request.target, spec) if spec else Facts(environment=request.target)
        if spec:
            about["data classification"] = str(facts.data_classification)
            about["transfer basis"] = facts.transfer_basis or "not recorded"
        if verify is not None and request.verify_report is not None:
            dest = pack / "verify"
            dest.mkdir()
            for f in sorted(request.verify_report.iterdir()):
                if f.is_file() and f.suffix in (".xml", ".md"):
                    shutil.copyfile(f, dest / f.name)
            n = counts_outcomes(verify)
            about["verify"] = f"{len(verify.outcomes)} check outcome(s) from {request.verify_report}: {n}"
        else:
            about["verify"] = "none given (--verify-report): verify checks are not assessed"
        results = assess(catalogue, gate, verify, facts)
        t0 = time.perf_counter()
        inventory = build_inventory(request.repo, spec, registry, request.drift_state, env, functools.partial(_drift_states, state_dir) if local else None)
        timings["inventory"] = time.perf_counter() - t0
        about["collected"] = iso(at)
        for f in sorted(CONTROLS_DIR.glob("*.yaml")):
            (pack / "catalogue").mkdir(exist_ok=True)
            shutil.copyfile(f, pack / "catalogue" / f.name)
        public = signer.public_key_pem()
        sign_info = {
            "method": signer.method,
            "key": signer.key if signer.method != "local-ed25519" else f"local ed25519 key ({signing.LOCAL_KEY} in the state directory)",
            "algorithm": signer.algorithm,
            "public_key": PUBLIC_KEY,
            "public_key_sha256": signing.fingerprint(public),
            "signed": MANIFEST,
            "signature": SIGNATURE,
            "verify": signing.OPENSSL[signer.algorithm],
        }
        (pack / PUBLIC_KEY).write_bytes(public)
        _json(pack / SIGNING, sign_info)
        _json(
            pack / "controls.json", {"environment": request.target, "at": iso(at), "counts": counts(results), "controls": [_control_json(r) for r in results]}
        )
        _json(pack / "inventory.json", inventory)
        if cost is not None:
            _json(pack / "cost.json", cost)
        version = hashlib.sha256(json.dumps([_control_json(r) for r in results], sort_keys=True).encode()).hexdigest()[:12]
        _json(
            pack / "assessment-results.json",
            assessment_results(results, environment=request.target, at=iso(at), version=version, tool="sahab evidence", remarks=_remarks(about)),
        )
        want_pdf = request.pdf if request.pdf is not None else _has_chromium()
        reproducible_pdf = None
        files = [*_files(pack), "report.html", "meta.json", MANIFEST, SIGNATURE] + (["report.pdf"] if want_pdf else [])
        view = View(
            environment=request.target,
            at=iso(at),
            about=about,
            results=results,
            gate=gate,
            verify=verify,
            inventory=inventory,
            cost=cost,
            signing=sign_info,
            files=sorted(set(files)),
        )
        (pack / "report.html").write_text(report_html(view))
        (pack / "index.html").write_text(dashboard_html(view))
        if want_pdf:
            from sahab.evidence.pdf import print_pdf

            t0 = time.perf_counter()
            try:
                reproducible_pdf = print_pdf(pack / "report.html", pack / "report.pdf", at)
            except (RuntimeError, OSError) as e:
                raise EvidenceError(f"report.pdf: {e}. Fix: install chromium (scripts/servers.sh) or pass --no-pdf") from None
            timings["pdf"] = time.perf_counter() - t0
        _json(
            pack / "meta.json",
            {
                "format": PACK_FORMAT,
                "environment": request.target,
                "at": iso(at),
                "about": about,
                "counts": counts(results),
                "pdf": None if reproducible_pdf is None else {"reproducible": reproducible_pdf},
            },
        )
        manifest = "".join(f"{_sha256(pack / rel)}  {rel}\n" for rel in _files(pack))
        (pack / MANIFEST).write_text(manifest)
        (pack / SIGNATURE).write_bytes(signer.sign(manifest.encode()))
        if out.exists():
            shutil.rmtree(out)
        pack.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    timings["total"] = time.perf_counter() - started
    return PackResult(out=out, results=results, files=_files(out), signing=sign_info, timings=timings, gate_timings=gate_timings)


def counts_outcomes(verify: VerifyEvidence) -> str:
    n = {k: sum(o.outcome == k for o in verify.outcomes) for k in ("passed", "failed", "skipped")}
    return ", ".join(f"{v} {k}" for k, v in n.items())


def _has_chromium() -> bool:
    from sahab.evidence.pdf import chromium

    return chromium() is not None


def _remarks(about: Mapping[str, str]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in about.items())


def _control_json(r: ControlResult) -> dict[str, Any]:
    return {
        "id": r.control.id,
        "framework": r.framework.id,
        "law": r.framework.law,
        "article": r.control.source.article,
        "citation": r.control.source.citation,
        "title": r.control.title,
        "status": r.status,
        "note": r.note,
        "evidence": [{"kind": i.kind, "check": i.name, "status": i.status, "detail": i.detail, "findings": list(i.findings)} for i in r.items],
    }


@dataclass
class CheckResult:
    pack: Path
    files: int
    signing: dict[str, Any]


def check(pack: Path, public_key: Path | None = None) -> CheckResult:
    """Every file's sha256 against SHA256SUMS, no file added, and the signature over SHA256SUMS;
    PackInvalid names each file that fails. With `public_key`, the pack must be signed by that key."""
    pack = Path(pack)
    if not (pack / MANIFEST).is_file():
        raise PackInvalid(f"{pack}: no {MANIFEST}: not an evidence pack (or its manifest was removed). Fix: pass the folder `sahab evidence` wrote")
    problems: list[str] = []
    listed: dict[str, str] = {}
    for n, line in enumerate((pack / MANIFEST).read_text().splitlines(), 1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or rel in listed or rel.startswith("/") or ".." in Path(rel).parts:
            problems.append(f"{MANIFEST} line {n}: not `<sha256>  <path>` ({line[:80]!r})")
            continue
        listed[rel] = digest
    for rel, digest in listed.items():
        path = pack / rel
        if not path.is_file():
            problems.append(f"{rel}: missing (listed in {MANIFEST})")
        elif _sha256(path) != digest:
            problems.append(f"{rel}: changed (sha256 {_sha256(path)[:16]}… is not the {digest[:16]}… {MANIFEST} lists)")
    for rel in _files(pack):
        if rel not in listed and rel not in (MANIFEST, SIGNATURE):
            problems.append(f"{rel}: added (not in {MANIFEST})")
    info: dict[str, Any] = {}
    try:
        info = json.loads((pack / SIGNING).read_text())
        public = (pack / PUBLIC_KEY).read_bytes()
        signature = (pack / SIGNATURE).read_bytes()
    except (OSError, json.JSONDecodeError) as e:
        problems.append(f"{SIGNING}/{PUBLIC_KEY}/{SIGNATURE}: unreadable ({e})")
    else:
        try:
            if public_key is not None and signing.fingerprint(Path(public_key).read_bytes()) != signing.fingerprint(public):
                problems.append(f"{PUBLIC_KEY}: not the key given with --public-key {public_key} (the pack was signed by another key)")
            elif not signing.verify(public, str(info.get("algorithm")), (pack / MANIFEST).read_bytes(), signature):
                problems.append(
                    f"{SIGNATURE}: the signature over {MANIFEST} does not verify with {PUBLIC_KEY} ({info.get('algorithm')}): {MANIFEST} was changed or signed by another key"
                )
        except (OSError, ValueError, TypeError) as e:  # an unreadable or non-PEM key file
            problems.append(f"{PUBLIC_KEY}{' or --public-key ' + str(public_key) if public_key else ''}: not a PEM public key ({e})")
    if problems:
        raise PackInvalid(f"{pack}: the evidence pack fails its check ({len(problems)} problem(s)):\n" + "\n".join(f"  - {p}" for p in problems))
    return CheckResult(pack=pack, files=len(listed), signing=info)
