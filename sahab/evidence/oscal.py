"""The assessment as OSCAL assessment results (NIST OSCAL 1.2.1, `assessment-results` model).

One result for the run: every control of the catalogue in `reviewed-controls` (a not-applicable one
excluded), one observation per piece of evidence that was assessed (a gate policy, a deployability
check, a verify check; method TEST) and one finding per control, whose target status is `satisfied`
only for a control that passed; a failing, manual or not-assessed control is `not-satisfied` with
its Sahab status as the reason. Every uuid is a uuid5 of what it identifies, so the same inputs give
the same document. Validated in tests against NIST's JSON schema for 1.2.1
(tests/evidence/oscal_assessment-results_schema.json, with its source).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sahab.evidence.assess import FAIL, NOT_APPLICABLE, PASS, PLANNED, ControlResult

OSCAL_VERSION = "1.2.1"
NAMESPACE = uuid.UUID("0b6c6f4e-5a4f-5e1a-9a54-736168616220")  # Sahab's uuid5 namespace for evidence
PROPS_NS = "https://sahab.ae/ns/oscal"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def _prop(name: str, value: str) -> dict[str, str]:
    return {"name": name, "ns": PROPS_NS, "value": value}


def assessment_results(results: Sequence[ControlResult], *, environment: str, at: str, version: str, tool: str, remarks: str) -> dict[str, Any]:
    """The OSCAL document (a dict ready for sorted-keys JSON)."""
    run = _uuid("result", environment, at)
    observations: list[dict[str, Any]] = []
    findings: list[dict[str, Any]] = []
    for r in results:
        related = []
        for item in r.items:
            if item.kind == "manual" or item.status == PLANNED or item.status not in (PASS, FAIL):
                continue
            oid = _uuid("observation", environment, at, r.control.id, item.kind, item.name)
            related.append({"observation-uuid": oid})
            text = item.detail + ("".join(f"\n- {f}" for f in item.findings) if item.findings else "")
            observations.append(
                {
                    "uuid": oid,
                    "title": f"{item.kind} {item.name}: {item.status}",
                    "description": text or item.status,
                    "methods": ["TEST"],
                    "types": ["finding" if item.status == FAIL else "control-objective"],
                    "props": [_prop("evidence-kind", item.kind), _prop("check", item.name), _prop("status", item.status)],
                    "collected": at,
                }
            )
        if r.status == NOT_APPLICABLE:
            continue
        finding: dict[str, Any] = {
            "uuid": _uuid("finding", environment, at, r.control.id),
            "title": f"{r.control.id}: {r.control.title}",
            "description": f"{r.law} ({r.framework.law}). {r.control.implementation}",
            "props": [_prop("framework", r.framework.id), _prop("article", r.control.source.article), _prop("status", r.status)],
            "target": {
                "type": "objective-id",
                "target-id": r.control.id,
                "status": {"state": "satisfied" if r.status == PASS else "not-satisfied", "reason": r.status},
            },
        }
        manual = [i.detail for i in r.items if i.kind == "manual"]
        notes = [n for n in (r.note, *(f"Operator evidence: {m}" for m in manual)) if n]
        if notes:
            finding["remarks"] = "\n\n".join(notes)
        if related:
            finding["related-observations"] = related
        findings.append(finding)
    included = [{"control-id": r.control.id} for r in results if r.status != NOT_APPLICABLE]
    excluded = [{"control-id": r.control.id} for r in results if r.status == NOT_APPLICABLE]
    selection: dict[str, Any] = {"include-controls": included}
    if excluded:
        selection["exclude-controls"] = excluded
    result: dict[str, Any] = {
        "uuid": run,
        "title": f"Sahab evidence for {environment}",
        "description": f"The gate's and verify's evidence for {environment}, mapped to the controls of compliance/controls/.",
        "start": at,
        "end": at,
        "reviewed-controls": {"control-selections": [selection]},
        "findings": findings,
    }
    if observations:
        result["observations"] = observations
    document = {
        "uuid": _uuid("assessment-results", environment, at, *(f"{r.control.id}={r.status}" for r in results), *(o["uuid"] for o in observations)),
        "metadata": {
            "title": f"Sahab compliance evidence: {environment}",
            "last-modified": at,
            "version": version,
            "oscal-version": OSCAL_VERSION,
            "props": [_prop("tool", tool)],
            "remarks": remarks,
        },
        "import-ap": {
            "href": "catalogue/",
            "remarks": "No separate OSCAL assessment plan: the plan is the control catalogue copied under catalogue/ (each control's checks) and the gate and verify suites it names.",
        },
        "results": [result],
    }
    return {"assessment-results": document}
