"""The Kubernetes layer is cluster-agnostic: what is cloud-specific reaches it only through the
cloud adapter (stacks/cloud.py) and `components.kubernetes.cloud.ClusterCloud`, which every
component takes as a required argument; nothing outside an adapter branches on a cloud's name."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from components import kubernetes as kc
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
    with pytest.raises(ValueError, match="volume_key"):
        EKS.storage_class_parameters(None)


def test_region_variables_and_identity_wiring():
    assert EKS.region_env("me-central-1") == {"AWS_REGION": "me-central-1", "AWS_DEFAULT_REGION": "me-central-1"}
    assert EKS.account_annotations("trainer") == {}, "EKS Pod Identity binds roles on the AWS side: no SA annotation"


ADAPTER_ARGS = (kc.TenancyArgs, kc.GpuSupportArgs, kc.MlflowArgs, kc.FeatureStoreArgs, kc.TrainingArgs, kc.ServingArgs, kc.DriftMonitorArgs)


@pytest.mark.parametrize("args", ADAPTER_ARGS, ids=lambda a: a.__name__)
def test_components_take_the_adapter_as_a_required_argument(args):
    cloud = next(f for f in dataclasses.fields(args) if f.name == "cloud")
    assert cloud.default is dataclasses.MISSING and cloud.default_factory is dataclasses.MISSING, f"{args.__name__}.cloud has a default"
    with pytest.raises(TypeError, match="cloud"):
        args()  # a forgotten adapter is an error, never another cloud's settings


# The neutral layer: the Kubernetes wiring, the platform shape, the components that run the workloads.
NEUTRAL = (
    "stacks/kubernetes.py",
    "stacks/cloud.py",
    "stacks/capacity.py",
    *(f"components/kubernetes/{m}.py" for m in ("tenancy", "gpu", "mlflow", "feast", "training", "serving", "drift", "monitoring", "_pod", "_objects")),
)
CLOUD_BRANCH = re.compile(r"""["'](eks|aks)["']|\bcloud\s*[!=]=|\.name\s*[!=]=\s*["'](eks|aks|kubernetes)["']|\bas_aws\b""")


@pytest.mark.parametrize("path", NEUTRAL)
def test_no_branch_on_a_clouds_name_outside_its_adapter(path):
    found = [f"{i}: {line.strip()}" for i, line in enumerate((REPO / path).read_text().splitlines(), 1) if CLOUD_BRANCH.search(line)]
    assert not found, f"{path} asks which cloud it is; ask the adapter (stacks/cloud.py CloudAdapter / ClusterCloud) instead: {found}"


def test_nothing_still_calls_the_aws_named_tag_set():
    old = "as_" + "aws("
    users = [str(p.relative_to(REPO)) for d in ("stacks", "components", "sahab", "workloads") for p in (REPO / d).rglob("*.py") if old in p.read_text()]
    assert not users, f"{users} call tags.{old}): the neutral name is tags.resource_tags()"


def test_the_spec_patches_nothing_before_validation():
    patched = [p.name for p in (REPO / "stacks" / "spec").glob("*.py") if 'model_validator(mode="before")' in p.read_text()]
    assert not patched, f"stacks/spec/{patched} rewrite the raw spec before validation; declare the cloud's defaults on its model"


def _cluster(name: str) -> ClusterCloud:
    return ClusterCloud(
        name=name,
        storage_provisioner="x",
        storage_parameters={},
        storage_key_parameter=None,
        internal_lb_annotations={},
        public_lb_annotations={},
        region_variables=(),
    )


def test_pods_are_sized_against_each_clouds_nodes():
    from stacks.aws import EksAdapter
    from stacks.azure import AksAdapter
    from stacks.capacity import declared_node
    from stacks.kubernetes import _sized
    from stacks.onprem import ClusterAdapter

    # Only node_allocatable is asked here: the adapters' pulumi Outputs stay unset.
    eks = EksAdapter(bucket_names=None, cluster_name=None, account_id=None, data_key_arn=None, registry_host=None, provider=None, cluster=EKS)  # type: ignore[arg-type]  # no Outputs needed for sizing
    aks = AksAdapter(cluster=_cluster("aks"), account_name=None, container_names=None)  # type: ignore[arg-type]  # no Outputs needed for sizing
    onprem = ClusterAdapter(buckets={}, cluster=_cluster("kubernetes"), node=declared_node(1, 8, 32))
    # t3.large: 1930m, 7.2 GiB allocatable (EKS AMI formula) less the daemon budget -> 1 core, 6 GiB.
    assert _sized(eks, ("t3.large",), cpu=8, memory_gib=64) == {"cpu": "1", "memory": "6Gi"}, "EKS: cut to a t3.large"
    # Standard_D2ds_v5: 2000m - 100m, 8 GiB - 25 % - 100 MiB (AKS 1.29+), less the daemon budget -> 1 core, 5 GiB.
    assert _sized(aks, ("Standard_D2ds_v5",), cpu=8, memory_gib=64) == {"cpu": "1", "memory": "5Gi"}, "AKS: cut to a D2ds_v5"
    assert _sized(aks, ("Standard_NV6ads_A10_v5",), cpu=8, memory_gib=64) == {"cpu": "8", "memory": "64Gi"}, "no capacity: the wanted size"
    # An existing cluster: onprem.minimum's share, 8 cores / 32 GiB on one node, less the budget.
    assert _sized(onprem, (), cpu=16, memory_gib=64) == {"cpu": "7", "memory": "31Gi"}, "on-prem: cut to the declared node"
    assert _sized(eks, (), cpu=2, memory_gib=4) == {"cpu": "2", "memory": "4Gi"}, "no machine type on a cloud: the wanted size"


def test_only_karpenter_exports_interruption_metrics(repo):
    import yaml

    from stacks.aws import EksAdapter
    from stacks.azure import AksAdapter
    from stacks.spec import load_spec

    raw = yaml.safe_load((repo / "environments" / "uae-central" / "Pulumi.uae-central.yaml").read_text())["config"]["sahab:platform"]
    eks = EksAdapter(bucket_names=None, cluster_name=None, account_id=None, data_key_arn=None, registry_host=None, provider=None, cluster=EKS)  # type: ignore[arg-type]  # not registering
    assert eks.interruption_metrics(load_spec(raw)) is True, "uae-central: Karpenter exports karpenter_interruption_received_messages_total"
    raw["kubernetes"]["autoscaler"] = "cluster-autoscaler"
    assert eks.interruption_metrics(load_spec(raw)) is False, "the Cluster Autoscaler exports no interruption metric"
    aks = AksAdapter(cluster=_cluster("aks"), account_name=None, container_names=None)  # type: ignore[arg-type]  # not registering
    assert aks.interruption_metrics(None) is False, "AKS's managed autoscaler exports none"  # type: ignore[arg-type]  # the spec is not read
