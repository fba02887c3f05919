"""The pack's assessment-results.json validates against NIST's OSCAL JSON schema.

The schema is vendored beside this file: oscal_assessment-results_schema.json, NIST's OSCAL v1.2.1
assessment-results JSON schema (`$id` http://csrc.nist.gov/ns/oscal/1.2.1/oscal-ar-schema.json), a
release asset of https://github.com/usnistgov/OSCAL/releases/tag/v1.2.1. It was taken from
compliance-trestle's copy of that release (checked: oscal-compass/compliance-trestle 0e354a512f14,
release-schemas/oscal_assessment-results_schema.json; its release-schemas/README.md names "OSCAL
v1.2.1"), since NIST's repository carries no JSON schemas after 1.0.6 and no network reaches the
release here. tests/evidence/evidence_helpers.py loads it and pins its sha256.

One adaptation, for Python's `re`: the token pattern's Unicode classes \\p{L} and \\p{N} (ECMA-262
with the `u` flag) become [^\\W\\d_] and \\d before validating; everything else is the schema as published.
"""

from __future__ import annotations

import copy
import json

import pytest
from evidence_helpers import local_pack, oscal_errors, oscal_validator, write_junit

from sahab.evidence.assess import Facts, GateEvidence, assess
from sahab.evidence.catalogue import load_catalogue
from sahab.evidence.oscal import OSCAL_VERSION, assessment_results


@pytest.fixture(scope="module")
def validator():
    schema = oscal_validator().schema
    assert schema["$id"].endswith(f"/{OSCAL_VERSION}/oscal-ar-schema.json"), schema["$id"]
    return oscal_validator()


def errors(validator, doc) -> list[str]:
    return oscal_errors(doc)


def test_a_packs_assessment_results_validate(validator, tmp_path):
    write_junit(
        tmp_path / "verify",
        [
            ("cloud", "cloud-s3-replication-in-region", "b", "failed", "b (S3 bucket): replicates abroad. Fix: delete it."),
            ("cloud", "cloud-kms-key-rotation", "k", "passed", ""),
        ],
    )
    pack = local_pack(tmp_path, verify=tmp_path / "verify")
    doc = json.loads((pack.out / "assessment-results.json").read_text())
    assert errors(validator, doc) == [], "assessment-results.json must validate against the OSCAL 1.2.1 schema"
    result = doc["assessment-results"]["results"][0]
    states = {f["target"]["target-id"]: f["target"]["status"] for f in result["findings"]}
    assert states["pdpl-transfer"] == {"state": "not-satisfied", "reason": "fail"}, states["pdpl-transfer"]
    assert states["iso-5.23"] == {"state": "not-satisfied", "reason": "manual"}, "a manual control is not satisfied by the tool"
    assert {c["control-id"] for c in result["reviewed-controls"]["control-selections"][0]["exclude-controls"]} == {
        "health-localisation",
        "health-retention",
        "health-confidentiality",
    }
    failed = [o for o in result["observations"] if o["title"] == "verify cloud-s3-replication-in-region: fail"]
    assert failed and "replicates abroad" in failed[0]["description"], "the failing check's detail is the observation"


def test_a_gate_failure_validates_and_the_schema_rejects_a_broken_document(validator):
    from sahab.gate.model import Finding

    gate = GateEvidence(
        {"uae-residency/aws-s3-replication-in-region": "mandatory"},
        (Finding("policy", "uae-residency", "aws-s3-replication-in-region", "mandatory", "x: y. Fix: z."),),
        True,
    )
    results = assess(load_catalogue(), gate, None, Facts(environment="uae-central", data_classification="health"))
    doc = assessment_results(results, environment="uae-central", at="2026-12-01T00:00:00Z", version="1", tool="test", remarks="r")
    assert errors(validator, doc) == [], "gate findings map to valid OSCAL"
    again = assessment_results(results, environment="uae-central", at="2026-12-01T00:00:00Z", version="1", tool="test", remarks="r")
    assert again == doc, "uuid5 from content: the same assessment gives the same document"
    broken = copy.deepcopy(doc)
    broken["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] = "maybe"
    broken["assessment-results"]["uuid"] = "not-a-uuid"
    found = errors(validator, broken)
    assert any("state" in e for e in found) and any("uuid" in e for e in found), f"the validator must catch a bad document: {found}"
