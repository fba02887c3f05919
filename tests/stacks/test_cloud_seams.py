"""The Kubernetes layer is cluster-agnostic: what is cloud-specific reaches it only through the
cloud adapter (stacks/cloud.py) and `components.kubernetes.cloud.ClusterCloud`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from components.kubernetes.cloud import EKS, ClusterCloud

REPO = Path(__file__).resolve().parents[2]
# Spellings that belong to one cloud; only the adapters (and the cloud's own components) may use them.
CLOUD_WORDS = ("ebs.csi.aws.com", "aws-load-balancer", "azure-load-balancer", "disk.csi.azure.com", "azure.workload.identity", '"AWS_REGION"', "AZURE_LOCATION")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }


def test_kubernetes_stack_imports_no_cloud_module():
    mods = _imports(REPO / "stacks" / "kubernetes.py")
    cloudy = sorted(m for m in mods if m.startswith(("components.aws", "components.azure", "stacks.aws", "stacks.azure", "pulumi_aws", "pulumi_azure")))
    assert not cloudy, f"stacks/kubernetes.py imports {cloudy}; ask cloud.adapter instead"


@pytest.mark.parametrize("module", ["tenancy", "serving", "mlflow", "feast", "training", "drift", "_objects"])
def test_workload_components_spell_no_cloud(module):
    text = (REPO / "components" / "kubernetes" / f"{module}.py").read_text()
    found = [w for w in CLOUD_WORDS if w in text]
    assert not found, f"components/kubernetes/{module}.py spells {found}; take it from ClusterCloud"


def test_storage_key_goes_under_the_drivers_parameter():
    assert EKS.storage_class_parameters("arn:aws:kms:me-central-1:1:key/k")["kmsKeyId"] == "arn:aws:kms:me-central-1:1:key/k"
    keyless = ClusterCloud(
        name="kubernetes",
        storage_provisioner="x",
        storage_parameters={},
        storage_key_parameter=None,
        internal_lb_annotations={},
        public_lb_annotations={},
        region_variables=(),
    )
    assert keyless.storage_class_parameters(None) == {}
    with pytest.raises(ValueError, match="volume_key_arn"):
        EKS.storage_class_parameters(None)


def test_region_variables_and_identity_wiring():
    assert EKS.region_env("me-central-1") == {"AWS_REGION": "me-central-1", "AWS_DEFAULT_REGION": "me-central-1"}
    assert EKS.account_annotations("trainer") == {}, "EKS Pod Identity binds roles on the AWS side: no SA annotation"
