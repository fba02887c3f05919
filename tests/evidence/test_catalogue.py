"""The control catalogue (compliance/controls/*.yaml): every control cites its source, every automated
control points at checks that exist, and a bad file is refused naming the file and the field.

"Exist" is read from the code that runs them: the packs' registered policy names (each pack's
PolicyPack name and policies.POLICIES), the finding names the deployability CHECKS emit, and the ids
of the verify suite's checks as it builds them from the shipped plans (AWS uae-central: cloud,
cluster, workloads; Azure uae-north: cloud; the local platform's services).
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from sahab.evidence.catalogue import PROJECT_RULES, CatalogueError, load_catalogue, load_file
from sahab.evidence.registry import deployability_policies, gate_policies

CATALOGUE = load_catalogue()
FRAMEWORKS = {"uae-pdpl", "ict-health-law", "cbuae-outsourcing", "difc-dp-law", "adgm-dpr", "uae-ia-regulation", "iso-27001-2022"}


@pytest.fixture(scope="module")
def north_plan(repo):
    from sahab.engine.offline import plan_environment

    return plan_environment(repo, "uae-north")


def verify_check_ids(uae_plan, north_plan) -> set[str]:
    """Every check id the verify suite builds for the shipped plans (construction reads nothing)."""
    from sahab.ops.verify import suite
    from sahab.ops.verify.cloud import Aws, cloud_checks
    from sahab.ops.verify.cloud_azure import Arm, azure_cloud_checks, azure_promises
    from sahab.ops.verify.cluster import cluster_checks
    from sahab.ops.verify.context import StackOutputs, promises_from_plan
    from sahab.ops.verify.parts import local_service_checks
    from sahab.ops.verify.privacy import cloud_privacy_checks, privacy_checks
    from sahab.ops.verify.workloads import Workloads, workload_checks

    aws = promises_from_plan(uae_plan.to_json())
    outputs = StackOutputs(
        environment="uae-central",
        region="me-central-1",
        bucket_names={b.purpose: f"uae-central-{b.purpose}" for b in aws.buckets},
        keys={p: f"arn:aws:kms:me-central-1:111122223333:key/{p}" for p in ("data", "logs", "cluster")},
        registry_database_endpoint="registry.abc.me-central-1.rds.amazonaws.com",
        online_store_endpoint="master.online.abc.mec1.cache.amazonaws.com",
        registry_database_secret="arn:aws:secretsmanager:me-central-1:111122223333:secret:registry",
        online_store_secret="arn:aws:secretsmanager:me-central-1:111122223333:secret:online",
    )
    http = SimpleNamespace(label="svc")
    checks = cloud_checks(aws, outputs, Aws(region="me-central-1", scan_regions=("me-central-1",)))
    checks += cluster_checks(aws, SimpleNamespace())
    checks += workload_checks(Workloads(mlflow=http, serving=http, model_name="m", drift_last_run=lambda: [], drift_label="drift"))
    checks += azure_cloud_checks(azure_promises(north_plan.to_json()), Arm(subscription="sub", credential=None))
    checks += local_service_checks({"mlflow": {"name": "mlflow", "healthy": True}})
    checks += cloud_privacy_checks(uae_plan.to_json(), outputs.bucket_names, "me-central-1")
    checks += privacy_checks({"p": {"SAHAB_FEAST_URI": "/tmp/feast", "SAHAB_SERVING_PREDICTION_LOG_URI": "/tmp/log"}})
    ids = {c.id for c in checks} | {"workloads-prometheus-targets-up", "cluster-prometheus-targets-up"}
    # The suite's plain tests, as runner.read_junit names them (`<part>-<test name>`).
    for module in Path(suite.__file__).parent.glob("test_*.py"):
        part = module.stem.removeprefix("test_")
        ids |= {f"{part}-{n.replace('_', '-')}" for n in re.findall(r"^def test_(\w+)\(", module.read_text(), re.M) if n != "check"}
    return ids


def test_the_catalogue_holds_one_file_per_framework():
    assert {f.framework.id for f in CATALOGUE.frameworks} == FRAMEWORKS, "compliance/controls/: one file per framework of the brief"
    assert CATALOGUE.frameworks[0].framework.id == "uae-pdpl", "reports list the UAE PDPL first (framework.order)"
    assert len(CATALOGUE.controls()) >= 20, "the catalogue maps the laws to their controls"


@pytest.mark.parametrize(("framework", "control"), CATALOGUE.controls(), ids=[c.id for _, c in CATALOGUE.controls()])
def test_every_control_cites_its_source(framework, control):
    src = control.source
    assert src.article.strip(), f"{framework.id}/{control.id}: source.article is empty"
    assert src.citation.startswith("https://"), f"{framework.id}/{control.id}: source.citation {src.citation!r} is not the official text's address"
    assert re.search(r"\d{4}-\d{2}-\d{2}", src.checked), f"{framework.id}/{control.id}: source.checked must say when the citation was checked"
    assert framework.official_text.startswith("https://") and re.search(r"\d{4}-\d{2}-\d{2}", framework.checked), f"{framework.id}: framework citation"


def test_gate_evidence_names_policies_the_packs_register():
    registered = {f"{pack}/{p}" for pack, policies in gate_policies().items() for p in policies}
    assert {"uae-residency", "security-baseline", "kubernetes-baseline"} <= set(gate_policies()), gate_policies().keys()
    missing = {f"{c.id}: {ref}" for _, c in CATALOGUE.controls() for ref in c.evidence.gate if ref not in registered}
    assert not missing, f"compliance/controls: gate evidence naming no registered policy: {sorted(missing)}"


def test_deployability_evidence_names_findings_the_checks_emit():
    emitted = deployability_policies()
    assert {"iam-secret-isolation", "connectivity-team-isolation", "pins-image-tag", "rules-unit-tested"} <= emitted, sorted(emitted)
    missing = {f"{c.id}: {n}" for _, c in CATALOGUE.controls() for n in c.evidence.deployability if n not in emitted}
    assert not missing, f"compliance/controls: deployability evidence naming no finding a check emits: {sorted(missing)}"


def test_verify_evidence_names_checks_the_suite_builds(uae_plan, north_plan):
    ids = verify_check_ids(uae_plan, north_plan)
    assert {"cloud-s3-replication-in-region", "cloud-azure-storage-cmk", "cluster-default-deny", "local-service-healthy"} <= ids, sorted(ids)
    missing = {f"{c.id}: {n}" for _, c in CATALOGUE.controls() for n in c.evidence.verify if n not in ids}
    assert not missing, f"compliance/controls: verify evidence naming no check of the suite: {sorted(missing)}"


def test_project_rules_are_issue_22s_and_a_check_emits_them():
    cited = {r for _, c in CATALOGUE.controls() for r in c.evidence.project}
    assert cited == set(PROJECT_RULES), f"the controls cite issue 22's rules: {sorted(cited)}"
    assert cited <= deployability_policies(), f"sahab/gate/deployability/project.py emits them: {sorted(cited - deployability_policies())} missing"
    for _, c in CATALOGUE.controls():
        if c.evidence.project and not c.evidence.automated:
            assert c.evidence.manual, f"{c.id}: a control proven only by planned rules says what the operator shows meanwhile"


def test_a_control_nothing_proves_is_manual_with_what_to_show():
    manual_only = [c for _, c in CATALOGUE.controls() if not c.evidence.automated and not c.evidence.project]
    assert manual_only, "some controls only the operator can show (breach procedure, impact assessment)"
    assert all(c.evidence.manual and len(c.evidence.manual) > 20 for c in manual_only), [c.id for c in manual_only]


GOOD = """\
framework:
  id: {id}
  title: Test law
  law: Test Law No. 1 of 2026
  official_text: https://example.ae/law
  checked: "2026-12-06: test"
controls:
  - id: {cid}
    title: A control
    source: {{article: Art. 1, citation: "https://example.ae/law", checked: "2026-12-06: test"}}
    requirement: The law asks for this.
    implementation: The platform does that.
    evidence: {evidence}
"""


def test_a_bad_file_is_refused_naming_the_file_and_each_field(tmp_path):
    path = tmp_path / "test-law.yaml"
    path.write_text(
        GOOD.format(id="test-law", cid="t-1", evidence="{gate: [uae-residency], verify: [Not_A_Name]}").replace(
            'citation: "https://example.ae/law"', "citation: http://x"
        )
    )
    with pytest.raises(CatalogueError) as e:
        load_file(path)
    msg = str(e.value)
    assert str(path) in msg, msg
    assert "controls[0].source.citation" in msg, msg
    assert "controls[0].evidence.gate" in msg and "<pack>/<policy>" in msg, msg
    assert "controls[0].evidence.verify" in msg, msg


def test_a_control_without_evidence_is_refused(tmp_path):
    path = tmp_path / "test-law.yaml"
    path.write_text(GOOD.format(id="test-law", cid="t-1", evidence="{}"))
    with pytest.raises(CatalogueError, match=r"controls\[0\]\.evidence: .*needs evidence"):
        load_file(path)


def test_ids_are_unique_and_the_file_names_its_framework(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD.format(id="a", cid="same", evidence="{manual: The operator shows the register.}"))
    (tmp_path / "b.yaml").write_text(GOOD.format(id="b", cid="same", evidence="{manual: The operator shows the register.}"))
    with pytest.raises(CatalogueError, match=r"control id 'same' is used by a and b"):
        load_catalogue(tmp_path)
    (tmp_path / "b.yaml").write_text(GOOD.format(id="other", cid="x", evidence="{manual: The operator shows the register.}"))
    with pytest.raises(CatalogueError, match=r"b\.yaml: framework.id 'other' differs from the file name"):
        load_catalogue(tmp_path)
