"""The gate's project rules (issue 22; sahab/gate/deployability/project.py), on the project files an
environment deploys: a project that forgets a `pii` marking is refused naming the file and each
column; a marking that would let a column reach a store or the model in clear is refused; an
sklearn project is told it serves no reason codes; both shipped projects pass."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from sahab.gate.deployability import Context, project, run_checks
from sahab.gate.model import MANDATORY

HERE = Path(__file__).resolve().parent
UNMARKED = "tests/privacy/unmarked-contacts"


def _ctx(*bindings: dict) -> Context:
    return Context(plan=SimpleNamespace(resources=[]), manifests=[], releases=[], spec={"kubernetes": {"projects": list(bindings)}})


def _variant(tmp_path: Path, name: str, edit) -> dict:
    """pii-churn (every column marked) copied under another name, with `edit(spec_dict)` applied."""
    folder = tmp_path / name
    shutil.copytree(HERE / "pii-churn", folder, ignore=shutil.ignore_patterns("__pycache__"))
    spec = yaml.safe_load((folder / "project.yaml").read_text())
    spec["name"] = name
    edit(spec)
    (folder / "project.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return {"name": name, "path": str(folder)}


def test_a_project_that_forgets_its_markings_fails_naming_the_file_and_each_column():
    found = run_checks(_ctx({"name": "unmarked-contacts", "path": UNMARKED}), checks=[project.check])
    marked = [f for f in found if f.policy == "project-pii-marked"]
    assert all(f.enforcement == MANDATORY and f.file == f"{UNMARKED}/project.yaml" for f in marked), [(f.enforcement, f.file) for f in marked]
    by_column = {col: [f.message for f in marked if f"{col!r}" in f.message] for col in ("customer_ref", "mobile", "contact", "note_en")}
    assert by_column["customer_ref"] and "hold an Emirates ID" in by_column["customer_ref"][0], f"the key holds Emirates IDs by value: {by_column}"
    assert by_column["mobile"] and "its name suggests phone" in by_column["mobile"][0], f"mobile by its name: {by_column}"
    assert by_column["contact"] and "hold an e-mail address" in by_column["contact"][0], f"contact by value: {by_column}"
    assert not by_column["note_en"], f"an exemption with a reason passes: {by_column['note_en']}"
    assert len(marked) == 3, "\n".join(f.message for f in found)
    assert all("Fix:" in f.message for f in marked), "every finding says how to fix it"


def test_both_shipped_projects_and_the_marked_test_project_pass():
    found = project.check(_ctx({"name": "transaction-risk"}, {"name": "delivery-time"}, {"name": "pii-churn", "path": "tests/privacy/pii-churn"}))
    assert found == [], "\n".join(f"{f.policy}: {f.message}" for f in found)


@pytest.mark.parametrize(
    ("edit", "policy", "words"),
    [
        (lambda s: s["features"][0].update(pii="phone"), "project-pii-tokenised", "'amount' is marked pii: phone but declared numeric"),
        (lambda s: s["entity"].update(dtype="int64"), "project-pii-tokenised", "has dtype int64; a token is a string"),
        (lambda s: s["features"][3].pop("pii"), "project-pii-marked", "features[3] 'email' looks like personal data"),
        (lambda s: s["features"][2].update(pii=None, pii_exempt="n/a"), "project-pii-marked", "has pii_exempt 'n/a', not a reason"),
        (lambda s: s["training"].update(framework="sklearn"), "project-explanations", "explanations are not available for framework sklearn"),
    ],
    ids=["numeric-pii", "int-key", "unmarked-email", "empty-exemption", "sklearn"],
)
def test_each_rule_names_what_is_wrong(tmp_path, edit, policy, words):
    name = f"pii-{policy.split('-')[-1]}"
    found = project.check(_ctx(_variant(tmp_path, name, edit)))
    mine = [f for f in found if f.policy == policy]
    assert mine and any(words in f.message for f in mine), f"{policy}: {[f.message for f in found]}"
    if policy == "project-explanations":
        assert mine[0].enforcement == "advisory", "an sklearn project deploys; the review is told it has no reason codes"
    assert {f.policy for f in found} == {policy}, f"only {policy}: {[f.message for f in found]}"


def test_the_evidence_reads_the_three_rules_as_implemented():
    from sahab.evidence.catalogue import PROJECT_RULES
    from sahab.evidence.registry import deployability_policies

    assert set(PROJECT_RULES) <= deployability_policies(), (
        f"rules the deployability checks emit: {sorted(set(PROJECT_RULES) - deployability_policies())} missing"
    )
