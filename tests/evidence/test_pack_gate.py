"""`sahab evidence` on the shipped environments, through the real gate (plan, packs, schemas, checkov,
deployability: sahab.gate.gate_environment, as `sahab check` runs it).

uae-central twice gives byte-identical packs; the same plan with one property changed (the data lake
replicated to a bucket outside the stack, which the residency pack cannot place in the UAE) fails
exactly the controls that cite that policy, each named by its law and article, and nothing else
changes; the other environments give verifiable packs.
"""

from __future__ import annotations

import json

import pytest
from evidence_helpers import AT, REPO, oscal_errors

from sahab.evidence import pack as evidence_pack
from sahab.evidence.catalogue import load_catalogue
from sahab.evidence.pack import PackRequest, build

pytestmark = pytest.mark.slow

POLICY = "uae-residency/aws-s3-replication-in-region"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"


def request(tmp, env: str, name: str) -> PackRequest:
    return PackRequest(repo=REPO, target=env, out=tmp / name, state_dir=tmp / "state", at=AT, pdf=False)


def statuses(pack_dir) -> dict[str, str]:
    return {c["id"]: c["status"] for c in json.loads((pack_dir / "controls.json").read_text())["controls"]}


@pytest.fixture(scope="module")
def central(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("central")
    return tmp, build(request(tmp, "uae-central", "a")), build(request(tmp, "uae-central", "b"))


def with_replication(plan_environment):
    """plan_environment, with the data lake replicated to a bucket that is not the stack's."""
    from sahab.engine.offline import PlannedResource

    def planned(repo, env, stack=None):
        plan = plan_environment(repo, env, stack)
        lake = next(r for r in plan.resources if r.type.startswith("aws:s3/bucket") and r.name.endswith("data-lake"))
        name = f"{lake.name}-replication"
        plan.resources.append(
            PlannedResource(
                urn=f"urn:pulumi:{plan.stack}::{plan.project}::{REPLICATION}::{name}",
                type=REPLICATION,
                name=name,
                parent=lake.parent,
                provider=lake.provider,
                provider_inputs=lake.provider_inputs,
                inputs={
                    "bucket": lake.inputs.get("bucket") or lake.name,
                    "role": "arn:aws:iam::111122223333:role/replication",
                    "rules": [{"id": "to-ireland", "status": "Enabled", "destination": {"bucket": "arn:aws:s3:::uae-central-data-lake-eu-west-1"}}],
                },
                options={},
                custom=True,
            )
        )
        return plan

    return planned


def test_two_runs_give_byte_identical_packs(central):
    _, a, b = central
    files_a = {p.relative_to(a.out).as_posix(): p.read_bytes() for p in sorted(a.out.rglob("*")) if p.is_file()}
    files_b = {p.relative_to(b.out).as_posix(): p.read_bytes() for p in sorted(b.out.rglob("*")) if p.is_file()}
    assert set(files_a) == set(files_b), set(files_a) ^ set(files_b)
    assert [k for k in files_a if files_a[k] != files_b[k]] == [], "every file of the pack is the same bytes"
    assert {"gate/plan.json", "gate/report.json", "gate/report.md", "gate/report.sarif", "cost.json"} <= set(files_a), sorted(files_a)


def test_the_pack_carries_the_gates_evidence_and_verifies(central):
    _, a, _ = central
    evidence_pack.check(a.out)
    st = statuses(a.out)
    assert "fail" not in st.values(), f"uae-central passes its gate: {[k for k, v in st.items() if v == 'fail']}"
    assert st["pdpl-transfer"] == "pass" and st["iso-8.20"] == "pass" and st["health-localisation"] == "not-applicable", st
    report = json.loads((a.out / "gate" / "report.json").read_text())
    assert report["timings"] == {}, "the pack's gate report leaves out the timings (they vary between runs)"
    assert "### Compliance controls" in (a.out / "gate" / "report.md").read_text(), "report.md carries the control summary"
    assert oscal_errors(json.loads((a.out / "assessment-results.json").read_text())) == [], "OSCAL 1.2.1"
    cost = json.loads((a.out / "cost.json").read_text())
    assert cost["monthly"]["max"] > cost["monthly"]["min"] > 0 and "USD a month" in (a.out / "index.html").read_text(), "the dashboard's cost range"


def test_a_replicated_bucket_fails_exactly_the_controls_citing_it(central, tmp_path, monkeypatch):
    import sahab.engine.offline as offline

    _, baseline, _ = central
    monkeypatch.setattr(offline, "plan_environment", with_replication(offline.plan_environment))
    broken = build(request(tmp_path, "uae-central", "replicated"))
    before, after = statuses(baseline.out), statuses(broken.out)
    changed = {k for k in after if after[k] != before[k]}
    citing = {c.id for fw, c in load_catalogue().controls() if POLICY in c.evidence.gate and fw.applies("confidential")}
    assert changed == citing and all(after[k] == "fail" for k in changed), f"changed {sorted(changed)}, expected exactly {sorted(citing)} to fail"
    assert "pdpl-transfer" in changed, "the UAE PDPL's cross-border transfer control"
    controls = {c["id"]: c for c in json.loads((broken.out / "controls.json").read_text())["controls"]}
    item = next(e for e in controls["pdpl-transfer"]["evidence"] if e["check"] == POLICY)
    assert item["status"] == "fail" and "to-ireland" in item["findings"][0] and "uae-central-data-lake-eu-west-1" in item["findings"][0], item
    html = (broken.out / "report.html").read_text()
    for cid in sorted(changed):
        r = controls[cid]
        assert f"{cid} (" in html and r["article"] in html, f"report.html names {cid} with its law and article"
    assert "pdpl-transfer (UAE PDPL Art. 22 and Art. 23)" in (broken.out / "index.html").read_text(), "the dashboard's failing banner"
    evidence_pack.check(broken.out)


@pytest.mark.parametrize("env", ["smb", "uae-north", "smb-onprem"])
def test_every_environment_gives_a_verifiable_pack(env, tmp_path):
    pack = build(request(tmp_path, env, env))
    evidence_pack.check(pack.out)
    st = statuses(pack.out)
    assert st and "fail" not in st.values(), f"{env}: {[k for k, v in st.items() if v == 'fail']}"
    assert st["pdpl-transfer"] == "pass", f"{env}: the residency controls are assessed by the gate"
    assert oscal_errors(json.loads((pack.out / "assessment-results.json").read_text())) == [], env
