"""Findings to controls: each control of the catalogue gets a status and the evidence behind it.

Evidence comes from a gate run (`GateEvidence`: the policies the packs registered, the findings, and
whether the deployability checks ran) and from a verify run (`VerifyEvidence`: every check's outcome,
read from the JUnit XML `sahab verify --junit` writes). Each item a control cites is:

    pass           the check ran and found nothing (a gate policy registered and not disabled; a
                   verify check with outcomes, none failed)
    fail           it found something: the findings (or failed outcomes) are listed
    not-assessed   it did not run here (no verify report, a disabled policy, a part skipped)
    planned        a project rule of issue 22 that no check emits yet
    manual         what the operator must show

A control fails when any item fails, passes when none fails and at least one passed, is `manual`
when only the operator can show it, `not-assessed` when nothing ran, and `not-applicable` when its
framework does not apply to the environment (the ICT Health Law outside data class `health`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sahab.evidence.catalogue import Catalogue, Control, Framework
from sahab.evidence.registry import deployability_policies
from workloads.errors import SahabError

if TYPE_CHECKING:  # the gate and verify load when evidence is read (a pull request's report.md needs no verify)
    from sahab.gate.model import Finding, GateResult
    from sahab.ops.verify.runner import Outcome

PASS, FAIL, NOT_ASSESSED, MANUAL, NOT_APPLICABLE, PLANNED = "pass", "fail", "not-assessed", "manual", "not-applicable", "planned"
STATUSES = (FAIL, PASS, MANUAL, NOT_ASSESSED, NOT_APPLICABLE)  # the order reports list them in
DEPLOYABILITY = "deployability"
DISABLED = "disabled"  # sahab.gate.model.DISABLED


class EvidenceError(SahabError):
    """Evidence cannot be read (a verify report folder without JUnit XML, a bad baseline). Exit 2."""


@dataclass(frozen=True)
class GateEvidence:
    policies: Mapping[str, str]
    """`<pack>/<policy>` -> its enforcement level in this run (`disabled`: not evaluated)."""
    findings: tuple[Finding, ...]
    deployability: bool
    """Whether the deployability checks ran (`sahab check` runs them)."""
    source: str = ""

    @classmethod
    def of(cls, result: GateResult, source: str = "") -> GateEvidence:
        policies = {f"{p.name}/{name}": str(info.get("enforcement", "")) for p in result.packs for name, info in p.policies.items()}
        return cls(policies, tuple(result.findings), DEPLOYABILITY in result.checks, source)

    @classmethod
    def from_report(cls, doc: Mapping[str, Any], source: str = "") -> GateEvidence:
        """From a `report.json` of `sahab check` (a baseline, or the pack's own copy)."""
        from sahab.gate.model import Finding

        try:
            policies = {
                f"{p['name']}/{name}": str(info.get("enforcement", "")) for p in doc.get("packs") or [] for name, info in (p.get("policies") or {}).items()
            }
            findings = tuple(Finding(**f) for f in doc.get("findings") or [])
        except (TypeError, KeyError, AttributeError) as e:
            raise EvidenceError(f"{source or 'report.json'}: not a report.json of `sahab check` ({e}). Fix: pass the report.json the gate wrote") from None
        checks = doc.get("checks") or list(doc.get("timings") or {})
        ran = DEPLOYABILITY in checks or any(f.pack == DEPLOYABILITY for f in findings)
        return cls(policies, findings, ran, source)


@dataclass(frozen=True)
class VerifyEvidence:
    outcomes: tuple[Outcome, ...]
    files: tuple[Path, ...] = ()

    @classmethod
    def read(cls, directory: Path) -> VerifyEvidence:
        """Every JUnit XML of `sahab verify --junit` in `directory` (the evidence summary
        verify-report.md sits beside it and goes into the pack as it is)."""
        from sahab.ops.verify.runner import read_junit

        directory = Path(directory)
        files = tuple(sorted(p for p in directory.glob("*.xml") if p.is_file())) if directory.is_dir() else ()
        outcomes = tuple(o for f in files for o in read_junit(f))
        if not outcomes:
            raise EvidenceError(
                f"--verify-report {directory}: no JUnit XML of a verify run in it. "
                f"Fix: run `sahab verify <env> --junit {directory}/verify.xml --report {directory}` and pass that folder"
            )
        return cls(outcomes, files)


@dataclass(frozen=True)
class Item:
    """One piece of evidence behind a control."""

    kind: str  # gate | deployability | verify | project | manual
    name: str
    status: str
    detail: str = ""
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ControlResult:
    framework: Framework
    control: Control
    status: str
    items: tuple[Item, ...]
    note: str = ""

    @property
    def law(self) -> str:
        """`UAE PDPL Art. 22 and Art. 23`: the law and article, as every report names them."""
        return f"{self.framework.title} {self.control.source.article}"

    @property
    def failing(self) -> list[Item]:
        return [i for i in self.items if i.status == FAIL]


@dataclass(frozen=True)
class Facts:
    """What the catalogue's applicability and notes read from the environment's spec."""

    environment: str = ""
    data_classification: str | None = None
    transfer_basis: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_spec(cls, environment: str, spec: Mapping[str, Any]) -> Facts:
        return cls(
            environment=environment,
            data_classification=((spec.get("tags") or {}).get("data_classification")),
            transfer_basis=((spec.get("residency") or {}).get("transfer_basis")),
        )


def _finding_line(f: Finding) -> str:
    return f"{f.enforcement} {f.pack}/{f.policy} {f.resource or f.urn or 'stack'}: {f.message}"


def _gate_item(ref: str, gate: GateEvidence | None) -> Item:
    if gate is None:
        return Item("gate", ref, NOT_ASSESSED, "no gate run (the target has no plan)")
    level = gate.policies.get(ref)
    if level is None:
        return Item("gate", ref, NOT_ASSESSED, "the pack did not register this policy in this run (--pack chose others?)")
    if level == DISABLED:
        return Item("gate", ref, NOT_ASSESSED, "disabled in the environment's policy.yaml")
    pack, policy = ref.split("/", 1)
    found = tuple(_finding_line(f) for f in gate.findings if f.pack == pack and f.policy == policy)
    return Item("gate", ref, FAIL if found else PASS, f"{len(found)} finding(s)" if found else "no finding", found)


def _deployability_item(name: str, gate: GateEvidence | None, kind: str = "deployability") -> Item:
    if gate is None or not gate.deployability:
        return Item(kind, name, NOT_ASSESSED, "the deployability checks did not run")
    found = tuple(_finding_line(f) for f in gate.findings if f.pack == DEPLOYABILITY and f.policy == name)
    return Item(kind, name, FAIL if found else PASS, f"{len(found)} finding(s)" if found else "no finding", found)


def _verify_item(name: str, verify: VerifyEvidence | None, kind: str = "verify") -> Item:
    if verify is None:
        return Item(kind, name, NOT_ASSESSED, "no verify run given (--verify-report)")
    mine = [o for o in verify.outcomes if o.check == name]
    if not mine:
        return Item(kind, name, NOT_ASSESSED, "not run by this verify (another cloud, or its part was not asked for)")
    failed = tuple(f"{o.subject}: {o.detail}" for o in mine if o.outcome == "failed")
    if failed:
        return Item(kind, name, FAIL, f"{len(failed)} of {len(mine)} failed", failed)
    if all(o.outcome == "skipped" for o in mine):
        return Item(kind, name, NOT_ASSESSED, "skipped: " + "; ".join(sorted({o.detail for o in mine if o.detail}))[:300])
    passed = sum(o.outcome == "passed" for o in mine)
    return Item(kind, name, PASS, f"{passed} passed" + (f", {len(mine) - passed} skipped" if passed < len(mine) else ""))


def _project_item(rule: str, gate: GateEvidence | None, verify: VerifyEvidence | None) -> Item:
    if rule in deployability_policies():
        return _deployability_item(rule, gate, "project")
    if verify is not None and any(o.check == rule for o in verify.outcomes):
        return _verify_item(rule, verify, "project")
    return Item("project", rule, PLANNED, "planned (issue 22): no check emits this rule yet")


def _status(items: Sequence[Item]) -> str:
    kinds = {i.status for i in items}
    if FAIL in kinds:
        return FAIL
    if PASS in kinds:
        return PASS
    if MANUAL in kinds:
        return MANUAL
    return NOT_ASSESSED


def _note(control: Control, facts: Facts) -> str:
    if control.evidence.manual and "residency.transfer_basis" in control.evidence.manual:
        if facts.transfer_basis:
            return f"recorded transfer basis: {facts.transfer_basis}"
        return "no transfer basis is recorded in the spec (residency.transfer_basis): a DIFC or ADGM entity must record one"
    return ""


def assess_control(framework: Framework, control: Control, gate: GateEvidence | None, verify: VerifyEvidence | None, facts: Facts) -> ControlResult:
    ev = control.evidence
    items = [_gate_item(ref, gate) for ref in ev.gate]
    items += [_deployability_item(name, gate) for name in ev.deployability]
    items += [_verify_item(name, verify) for name in ev.verify]
    items += [_project_item(rule, gate, verify) for rule in ev.project]
    if ev.manual:
        items.append(Item("manual", "operator", MANUAL, ev.manual))
    if not framework.applies(facts.data_classification):
        classes = ", ".join(framework.applies_to.data_classification) if framework.applies_to else ""
        here = f"this environment is {facts.data_classification}" if facts.data_classification else "this target declares no data classification"
        return ControlResult(framework, control, NOT_APPLICABLE, tuple(items), f"applies to data classification {classes}; {here}")
    status, note = _status(items), _note(control, facts)
    if status == PASS and note.startswith("no transfer basis"):
        status = MANUAL  # the checks passed, but the basis the control requires is not on record
    return ControlResult(framework, control, status, tuple(items), note)


def assess(catalogue: Catalogue, gate: GateEvidence | None, verify: VerifyEvidence | None, facts: Facts) -> list[ControlResult]:
    """Every control of the catalogue, in catalogue order."""
    return [assess_control(fw, c, gate, verify, facts) for fw, c in catalogue.controls()]


def counts(results: Sequence[ControlResult]) -> dict[str, int]:
    return {s: sum(r.status == s for r in results) for s in STATUSES}
