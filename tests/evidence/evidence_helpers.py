"""What the evidence tests share: a verify run's JUnit XML written as `sahab verify` writes it, and a
pack of the local target built without the gate (seconds, not a minute)."""

from __future__ import annotations

import functools
import hashlib
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sahab.evidence.pack import PackRequest, PackResult, build

REPO = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 1, tzinfo=UTC)


def write_junit(directory: Path, outcomes: list[tuple[str, str, str, str, str]]) -> Path:
    """`verify.xml` in `directory`, pytest's xunit2 shape as the verify suite writes it: one testcase
    `test_check[<check>[<subject>]]` of module `test_<part>` per (part, check, subject, outcome, detail)."""
    directory.mkdir(parents=True, exist_ok=True)
    suites = ET.Element("testsuites")
    suite = ET.SubElement(suites, "testsuite", name="pytest", tests=str(len(outcomes)))
    for part, check, subject, outcome, detail in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"test_{part}", name=f"test_check[{check}[{subject}]]", time="0.010")
        if outcome == "failed":
            ET.SubElement(case, "failure", message=detail).text = detail
        elif outcome == "skipped":
            ET.SubElement(case, "skipped", message=detail)
    path = directory / "verify.xml"
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    (directory / "verify-report.md").write_text("# Sahab verification evidence\n\n(test fixture)\n")
    return path


def local_pack(tmp: Path, name: str = "pack", verify: Path | None = None, pdf: bool = False, at: datetime = AT, **kw) -> PackResult:
    """A pack of the local target (no gate run), signed with a key under `tmp/state`."""
    return build(PackRequest(repo=REPO, target="local", out=tmp / name, state_dir=tmp / "state", verify_report=verify, at=at, pdf=pdf, **kw))


OSCAL_SCHEMA = Path(__file__).with_name("oscal_assessment-results_schema.json")
OSCAL_SCHEMA_SHA256 = "4f9e277a177adbcca9527612ce450a33dc6096773fa229d413d801d196c61985"  # see test_oscal.py for its source


def _python_patterns(node: Any) -> Any:
    """The schema with ECMA-262's \\p{L} / \\p{N} (the token pattern) in Python `re`'s terms."""
    if isinstance(node, dict):
        return {
            k: (v.replace(r"\p{L}", r"[^\W\d_]").replace(r"\p{N}", r"\d") if k == "pattern" and isinstance(v, str) else _python_patterns(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


@functools.cache
def oscal_validator() -> Any:
    import jsonschema

    assert hashlib.sha256(OSCAL_SCHEMA.read_bytes()).hexdigest() == OSCAL_SCHEMA_SHA256, f"{OSCAL_SCHEMA} is not the vendored NIST OSCAL 1.2.1 schema"
    return jsonschema.Draft7Validator(_python_patterns(json.loads(OSCAL_SCHEMA.read_text())), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def oscal_errors(doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"[:300] for e in oscal_validator().iter_errors(doc)]
