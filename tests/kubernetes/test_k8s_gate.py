"""The rendered manifests of both shipped environments validate against the Kubernetes JSON
schemas of the spec's cluster version, and checkov's Kubernetes checks find nothing that is not
suppressed with a written reason (sahab.gate.SUPPRESSIONS or a `checkov.io/skip` annotation)."""

from __future__ import annotations

import pytest
import yaml

from sahab import gate

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("plan", "manifests"), [("uae_plan", "uae_manifests"), ("smb_plan", "smb_manifests")])
def test_manifests_validate_against_the_cluster_version_schemas(plan, manifests, request):
    p, out = request.getfixturevalue(plan), request.getfixturevalue(manifests)
    version = p.config["sahab:platform"]["cluster"]["kubernetes_version"] if "cluster" in p.config["sahab:platform"] else "1.33"
    findings = gate.validate_schemas(out, version)
    errors = [f.message for f in findings if f.enforcement == gate.MANDATORY]
    assert not errors, "\n".join(errors)
    unvalidated = {f.resource.split("/")[0] for f in findings}
    # Only the charts' CRDs lack a built-in schema.
    assert unvalidated <= {"PrometheusRule", "ServiceMonitor", "NodePool", "EC2NodeClass"}, unvalidated
    assert len(gate.manifest_files(out)) >= 60


def test_checkov_finds_no_unexplained_failure(uae_manifests):
    findings = gate.run_checkov(uae_manifests)
    assert not findings, "\n".join(f"{f.policy}: {f.message}" for f in findings)
    for path in gate.manifest_files(uae_manifests):
        doc = yaml.safe_load(path.read_text())
        for key, value in ((doc.get("metadata") or {}).get("annotations") or {}).items():
            if key.startswith("checkov.io/skip"):
                check, _, reason = value.partition("=")
                assert len(reason.strip()) > 20, f"{path}: suppression of {check} without a written reason"
