"""checkov (its own venv, .venv-checkov) on the rendered manifests, with Sahab's custom checks
(sahab/gate/checkov_checks, CKV_SAHAB_*) and the documented suppressions."""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sahab.gate.model import ADVISORY, MANDATORY, REPO, Finding
from sahab.gate.schemas import manifest_files

GATE_DIR = Path(__file__).resolve().parent
CHECKS_DIR = GATE_DIR / "checkov_checks"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

# checkov checks Sahab turns off everywhere, each with its reason (shown in every report).
SUPPRESSIONS: dict[str, str] = {
    "CKV_AWS_144": "wants S3 cross-region replication; residency forbids copies outside me-central-1 (uae-residency: aws-s3-replication-in-region)",
    "CKV_AWS_67": "wants CloudTrail multi-region coverage expressed as cross-region delivery; Sahab's trail is multi-region but delivers to the in-region bucket only",
    "CKV2_AWS_62": "wants S3 event notifications; not a security control and would add a cross-service data path",
    "CKV_AZURE_206": "wants geo-redundant (GRS) storage; residency allows GRS only uaenorth->uaecentral (uae-residency: azure-storage-replication-in-region)",
    "CKV_K8S_43": "wants image digests only; Sahab also accepts tags of IMMUTABLE in-region ECR repositories (kubernetes-baseline: kubernetes-images-pinned)",
    "CKV_K8S_15": "wants imagePullPolicy Always; with immutable in-region tags IfNotPresent is equivalent and avoids registry traffic",
}


@dataclass
class CheckovRun:
    """A checkov process started on a manifest folder; `result()` waits and parses its JSON."""

    proc: subprocess.Popen | None
    manifest_dir: Path
    skip: dict[str, str]
    mandatory_checks: tuple[str, ...]
    default_level: str
    urns: dict[str, str]
    missing: str = ""
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def result(self, timeout: float = 300) -> list[Finding]:
        if self.missing:
            return [Finding("checkov", "checkov", "checkov-available", MANDATORY, self.missing)]
        if self.proc is None:
            return []
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            return [
                Finding(
                    "checkov",
                    "checkov",
                    "checkov-finished",
                    MANDATORY,
                    f"checkov did not finish within {timeout:.0f} s on {self.manifest_dir}. Fix: run it by hand to see why.",
                )
            ]
        self.seconds = time.perf_counter() - self.started
        return parse_checkov(
            out.decode(errors="replace"), err.decode(errors="replace"), self.proc.returncode, self.mandatory_checks, self.default_level, self.urns
        )


def warm_checkov(checkov: Path = CHECKOV) -> subprocess.Popen | None:
    """Start checkov's interpreter now so its slow import overlaps the plan; `start_checkov(warm=...)`
    hands it the arguments later. None when checkov is not installed."""
    python = Path(checkov).parent / "python"
    if not python.exists():
        return None
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"}
    env.pop("PYTHONPATH", None)
    runner = GATE_DIR / "checkov_runner.py"
    return subprocess.Popen([str(python), str(runner)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def start_checkov(
    manifest_dir: Path,
    *,
    skip: dict[str, str] | None = None,
    mandatory_checks: Iterable[str] = ("CKV_SAHAB_*",),
    default_level: str = ADVISORY,
    allowed_registries: Iterable[str] = (),
    urns: dict[str, str] | None = None,
    checkov: Path = CHECKOV,
    warm: subprocess.Popen | None = None,
) -> CheckovRun:
    """Start checkov (its own venv) on the manifests with Sahab's custom checks and suppressions.
    With `warm` (from `warm_checkov`), the already-started interpreter runs the scan."""
    skip = {**SUPPRESSIONS, **(skip or {})}
    run = CheckovRun(None, manifest_dir, skip, tuple(mandatory_checks), default_level, urns or {})
    if not manifest_files(manifest_dir):
        _release(warm)
        return run
    if not Path(checkov).exists():
        _release(warm)
        run.missing = f"checkov is not installed at {checkov}. Fix: run scripts/setup.sh (it creates .venv-checkov; checkov cannot share .venv with pulumi)."
        return run
    args = [
        "-d",
        str(manifest_dir),
        "--framework",
        "kubernetes",
        "--external-checks-dir",
        str(CHECKS_DIR),
        "--skip-path",
        "helm",
        "-o",
        "json",
        "--quiet",
        "--compact",
        "--skip-download",
        "--skip-check",
        ",".join(sorted(skip)),
    ]
    registries = ",".join(allowed_registries)
    if warm is not None and warm.poll() is None and warm.stdin is not None:
        # The registry allow-list reaches the custom checks through the environment the runner sets.
        warm.stdin.write((json.dumps({"argv": args, "env": {"SAHAB_ALLOWED_REGISTRIES": registries}}) + "\n").encode())
        warm.stdin.flush()  # not close(): communicate() closes it when collecting the result
        run.proc = warm
        return run
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"}
    if registries:
        env["SAHAB_ALLOWED_REGISTRIES"] = registries
    run.proc = subprocess.Popen([str(checkov), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    return run


def _release(warm: subprocess.Popen | None) -> None:
    if warm is not None and warm.poll() is None:
        try:
            if warm.stdin is not None:
                warm.stdin.close()
        except OSError:
            pass
        warm.wait(timeout=30)


def run_checkov(manifest_dir: Path, **options: Any) -> list[Finding]:
    """Run checkov on `manifest_dir` (framework kubernetes, helm/ skipped) from .venv-checkov with
    Sahab's custom checks (sahab/gate/checkov_checks, CKV_SAHAB_*) and the documented SUPPRESSIONS.
    CKV_SAHAB_* failures are mandatory, checkov's own checks advisory (see `start_checkov`)."""
    return start_checkov(manifest_dir, **options).result()


def parse_checkov(
    stdout: str,
    stderr: str,
    returncode: int,
    mandatory_checks: Iterable[str] = ("CKV_SAHAB_*",),
    default_level: str = ADVISORY,
    urns: dict[str, str] | None = None,
) -> list[Finding]:
    try:
        doc = json.loads(stdout) if stdout.strip() else {}
    except json.JSONDecodeError:
        return [
            Finding(
                "checkov",
                "checkov",
                "checkov-output",
                MANDATORY,
                f"checkov exited {returncode} without JSON output: {(stderr or stdout)[-1500:]}. Fix: run checkov by hand on the manifests to see the error.",
            )
        ]
    reports = doc if isinstance(doc, list) else [doc]
    findings = []
    for report in reports:
        for check in ((report or {}).get("results") or {}).get("failed_checks") or []:
            cid = check.get("check_id", "?")
            level = MANDATORY if any(fnmatch.fnmatchcase(cid, p) for p in mandatory_checks) else default_level
            rel = str(check.get("file_path", "")).lstrip("/")
            guide = check.get("guideline") or ""
            fix = (
                f"see {guide}"
                if guide
                else "change the Kubernetes resource that renders this manifest, or suppress the check in policy.yaml `checkov.skip` with a reason"
            )
            findings.append(
                Finding(
                    "checkov",
                    "checkov",
                    cid,
                    level,
                    f"{check.get('resource')} in {rel}: {check.get('check_name')}. Fix: {fix}.",
                    urn=(urns or {}).get(rel, ""),
                    resource=str(check.get("resource", "")),
                    file=rel,
                    description=str(check.get("check_name", "")),
                )
            )
    return findings
