"""Components of the platform layer refuse bad arguments with a ValueError naming the field, and
the environment spec refuses insecure or inconsistent `kubernetes:` settings by path."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pulumi
import pytest
import yaml

from components import kubernetes as kc
from components.aws.autoscaling import KarpenterIdentity, KarpenterIdentityArgs
from components.aws.cluster_access import ClusterAccess, ClusterAccessArgs
from components.kubernetes import images
from components.kubernetes._helm import release
from components.kubernetes.cloud import EKS
from stacks.spec import SpecError, load_spec

REPO = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("unit_mocks")
PROJECT = kc.ProjectRef(name="churn", team="growth", folder="projects/churn")


def _serving(**over) -> kc.ServingArgs:
    base = dict(
        project=PROJECT,
        namespace="s",
        service_account="sa",
        image="i",
        tracking_uri="u",
        feature_server_url="f",
        region="me-central-1",
        vpc_cidr="10.0.0.0/16",
        node_selector={"a": "b"},
        cloud=EKS,
    )
    return kc.ServingArgs(**{**base, **over})


def _training(**over) -> kc.TrainingArgs:
    base = dict(
        project=PROJECT,
        namespace="t",
        service_account="sa",
        training_image="i",
        export_image="e",
        gpu_pool="p",
        gpus=1,
        checkpoint_prefix="s3://b/checkpoints/churn",
        feature_store_uri="s3://b/feast/churn",
        prediction_log_uri="s3://b/serving-log/churn/",
        tracking_uri="u",
        artifact_location="s3://b/mlflow/churn",
        region="me-central-1",
        vpc_cidr="10.0.0.0/16",
        redis_endpoint="r",
        redis_secret="s",
        cloud=EKS,
    )
    return kc.TrainingArgs(**{**base, **over})


def _autoscaling(**over) -> kc.AutoscalingArgs:
    base = dict(
        kind="karpenter",
        namespace="a",
        cluster_name="c",
        region="me-central-1",
        registry_host="h",
        node_role_name="r",
        interruption_queue="q",
        volume_key_arn="k",
    )
    return kc.AutoscalingArgs(**{**base, **over})


def _tenancy(**over) -> kc.TenancyArgs:
    base = dict(namespaces=(kc.NamespaceSpec("m"),), vpc_cidr="10.0.0.0/16", volume_key="k", monitoring_namespace="m", cloud=EKS)
    return kc.TenancyArgs(**{**base, **over})


def _mlflow(**over) -> kc.MlflowArgs:
    base = dict(
        namespace="p",
        service_account="sa",
        image="i",
        database_endpoint="e",
        database_secret="s",
        artifact_root="s3://b",
        region="me-central-1",
        vpc_cidr="10.0.0.0/16",
        cloud=EKS,
    )
    return kc.MlflowArgs(**{**base, **over})


def _feast(**over) -> kc.FeatureStoreArgs:
    base = dict(
        project=PROJECT,
        project_client_namespaces=("s",),
        namespace="p",
        service_account="sa",
        image="i",
        redis_endpoint="r",
        redis_secret="s",
        offline_uri="s3://b",
        region="me-central-1",
        vpc_cidr="10.0.0.0/16",
        cloud=EKS,
    )
    return kc.FeatureStoreArgs(**{**base, **over})


def _drift(**over) -> kc.DriftMonitorArgs:
    base = dict(
        project=PROJECT,
        namespace="m",
        service_account="sa",
        image="i",
        reference_uri="r",
        current_uri="c",
        pushgateway_url="p",
        training_namespace="t",
        training_service_account="churn-training",
        retrain_template="churn-retrain",
        region="me-central-1",
        vpc_cidr="10.0.0.0/16",
        redis_endpoint="r",
        redis_secret="s",
        cloud=EKS,
    )
    return kc.DriftMonitorArgs(**{**base, **over})


def _monitoring(**over) -> kc.MonitoringArgs:
    return kc.MonitoringArgs(**{**dict(namespace="m", registry_host="h", storage_class="sc", serving_namespace="s"), **over})


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: kc.Serving("s", _serving(public=True)), "public_source_cidrs"),
        (lambda: kc.Serving("s", _serving(public=True, public_source_cidrs=("0.0.0.0/0",))), "public_source_cidrs"),
        (lambda: kc.Serving("s", _serving(public_source_cidrs=("1.2.3.0/24",))), "public_source_cidrs"),
        (lambda: kc.Serving("s", _serving(replicas=1)), "replicas"),
        (lambda: kc.Serving("s", _serving(challenger_weight=0.7)), "challenger_weight"),
        (lambda: kc.Serving("s", _serving(node_selector={})), "node_selector"),
        (lambda: kc.Training("t", _training(grace_seconds=130)), "grace_seconds"),
        (lambda: kc.Training("t", _training(gpus=16)), "gpus"),
        (lambda: kc.Training("t", _training(gpu_pool=None)), "gpu_pool"),
        (lambda: kc.Training("t", _training(gpu_pool=None, gpus=0)), "node_selector"),
        (lambda: kc.Training("t", _training(gpus=0)), "gpus"),
        (lambda: kc.ProjectRef(name="Churn", team="growth", folder="projects/churn"), "project.name"),
        (lambda: kc.ProjectRef(name="churn", team="growth", folder="/app/projects/churn"), "project.folder"),
        (lambda: kc.NodeAutoscaling("a", _autoscaling(kind="keda")), "kind"),
        (lambda: kc.NodeAutoscaling("a", _autoscaling(ami_alias="al2023@latest")), "ami_alias"),
        (lambda: kc.NodeAutoscaling("a", _autoscaling(node_role_name=None)), "node_role_name"),
        (lambda: kc.NodeAutoscaling("a", _autoscaling(gpu_pools=(kc.GpuPoolSpec("p", ("m5.large",), "spot", 1),))), "instance_types"),
        (lambda: kc.Tenancy("t", _tenancy(namespaces=(kc.NamespaceSpec("m"), kc.NamespaceSpec("g", pod_security="privileged")))), "namespaces[g].reason"),
        (lambda: kc.Tenancy("t", _tenancy(namespaces=(kc.NamespaceSpec("m"), kc.NamespaceSpec("m")))), "namespaces"),
        (lambda: kc.Tenancy("t", _tenancy(monitoring_namespace="x")), "monitoring_namespace"),
        (lambda: kc.Monitoring("m", _monitoring(retention_days=0)), "retention_days"),
        (lambda: kc.Monitoring("m", _monitoring(slo=kc.monitoring.SloTargets(availability=1.0))), "slo.availability"),
        (lambda: kc.Mlflow("m", _mlflow(service_account="")), "service_account"),
        (lambda: kc.FeatureStore("f", _feast(materialize_schedule="hourly")), "materialize_schedule"),
        (lambda: kc.FeatureStore("f", _feast(project_client_namespaces=())), "client_namespaces"),
        (lambda: kc.DriftMonitor("d", _drift(schedule="@daily")), "schedule"),
        (
            lambda: release("r", release_name="r", chart="c", version="latest", repo="https://x", namespace="n", values={}, opts=pulumi.ResourceOptions()),
            "version",
        ),
        (lambda: images.workload_ref("h", "serving", "latest"), "release"),
        (
            lambda: KarpenterIdentity("k", KarpenterIdentityArgs("c", "me-central-1", "1", "a", "karpenter", "k", queue_retention_seconds=10)),
            "queue_retention_seconds",
        ),
        (lambda: ClusterAccess("a", ClusterAccessArgs("c", {"arn:aws:iam::111122223333:role/x": ("system:masters",)})), "role_groups"),
    ],
)
def test_bad_arguments_name_the_field(build, field):
    with pytest.raises(ValueError) as err:
        build()
    assert str(err.value).startswith(field), f"expected an error naming {field!r}, got: {err.value}"


def _raw() -> dict:
    doc = yaml.safe_load((REPO / "environments/uae-central/Pulumi.uae-central.yaml").read_text())
    return copy.deepcopy(doc["config"]["sahab:platform"])


def _problems(**kubernetes) -> list[str]:
    raw = _raw()
    raw["kubernetes"] = {**raw["kubernetes"], **kubernetes}
    with pytest.raises(SpecError) as err:
        load_spec(raw)
    return err.value.problems


def test_shipped_specs_load_with_internal_serving():
    spec = load_spec(_raw())
    assert spec.kubernetes.serving.load_balancer == "internal" and spec.kubernetes.serving.allow_public is False


def test_public_serving_needs_the_explicit_flag():
    problems = _problems(serving={"load_balancer": "internet-facing", "public_source_cidrs": ["203.0.113.0/24"]})
    assert any(p.startswith("kubernetes.serving") and "allow_public" in p for p in problems), problems
    problems = _problems(serving={"load_balancer": "internet-facing", "allow_public": True})
    assert any("public_source_cidrs" in p for p in problems), problems
    ok = _raw()
    ok["kubernetes"]["serving"] = {"load_balancer": "internet-facing", "allow_public": True, "public_source_cidrs": ["203.0.113.0/24"]}
    assert load_spec(ok).kubernetes.serving.public_source_cidrs == ("203.0.113.0/24",)


@pytest.mark.parametrize(
    ("kubernetes", "path"),
    [
        ({"release": "latest"}, "kubernetes.release"),
        ({"autoscaler": "keda"}, "kubernetes.autoscaler"),
        ({"training": {"gpu_pool": "nope"}}, "kubernetes.training.gpu_pool"),
        ({"training": {"checkpoint_grace_seconds": 300}}, "kubernetes.training.checkpoint_grace_seconds"),
        ({"teams": [{"name": "risk"}, {"name": "risk"}]}, "kubernetes.teams"),
        ({"teams": [{"name": "risk", "gpu_quota": -1}]}, "kubernetes.teams[0].gpu_quota"),
        ({"access": {"auditor_role_arns": ["arn:aws:iam::111122223333:role/platform-admin"]}}, "kubernetes.access.auditor_role_arns"),
        ({"access": {"auditor_role_arns": ["not-an-arn"]}}, "kubernetes.access.auditor_role_arns"),
        ({"monitoring": {"materialize_schedule": "hourly"}}, "kubernetes.monitoring.materialize_schedule"),
        ({"serving": {"replicas": 5}}, "kubernetes.serving.replicas"),
        ({"projects": [{"name": "transaction-risk", "serving": {"replicas": 5, "max_replicas": 3}}]}, "kubernetes.projects[0].serving.max_replicas"),
        ({"projects": [{"name": "transaction-risk", "path": "../elsewhere"}]}, "kubernetes.projects[0].path"),
        ({"surprise": 1}, "kubernetes.surprise"),
    ],
)
def test_bad_kubernetes_settings_name_their_path(kubernetes, path):
    problems = _problems(**kubernetes)
    assert any(p.startswith(path) for p in problems), f"no problem at {path}: {problems}"


def test_with_secrets_renders_templates_from_secret_fields():
    import importlib.util

    spec = importlib.util.spec_from_file_location("with_secrets", REPO / "components/kubernetes/scripts/with_secrets.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    secrets = {"arn:db": '{"username": "mlflow", "password": "p@ss/word"}', "arn:redis": "tok en"}
    env = mod.render(
        {
            "DB": {"arn": "arn:db", "template": "postgresql://{username_url}:{password_url}@h:5432/mlflow"},
            "REDIS": {"arn": "arn:redis", "template": "h:6379,ssl=true,password={value}"},
        },
        secrets.__getitem__,
    )
    assert env == {"DB": "postgresql://mlflow:p%40ss%2Fword@h:5432/mlflow", "REDIS": "h:6379,ssl=true,password=tok en"}


def test_retrain_trigger_copies_the_template_and_marks_the_reason():
    import importlib.util

    spec = importlib.util.spec_from_file_location("retrain_trigger", REPO / "components/kubernetes/scripts/retrain_trigger.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cronjob = {
        "metadata": {"name": "churn-retrain", "namespace": "sahab-training"},
        "spec": {"jobTemplate": {"metadata": {"labels": {"a": "b"}}, "spec": {"backoffLimit": 6, "template": {"spec": {"containers": []}}}}},
    }
    job = mod.job_from_cronjob(cronjob, "drift", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert job["metadata"]["name"] == "churn-retrain-drift-20250102030405" and job["metadata"]["namespace"] == "sahab-training"
    assert job["metadata"]["labels"] == {"a": "b", "sahab.ae/trigger": "drift"}
    assert job["spec"] == cronjob["spec"]["jobTemplate"]["spec"]


def test_retrain_trigger_replaces_the_templates_run_key():
    """The template's SAHAB_RETRAIN_KEY is its Job's name; the trigger's episode key replaces it (one
    entry, not two: a duplicate name would leave the kubelet's choice to the order)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("retrain_trigger", REPO / "components/kubernetes/scripts/retrain_trigger.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    env = [{"name": "SAHAB_JOB_NAME", "valueFrom": {}}, {"name": "SAHAB_RETRAIN_KEY", "value": "$(SAHAB_JOB_NAME)"}]
    cronjob = {
        "metadata": {"name": "churn-retrain", "namespace": "sahab-training"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "trainer", "env": env}]}}}}},
    }
    job = mod.job_from_cronjob(cronjob, "drift", datetime(2025, 1, 2, tzinfo=UTC), key="20250102t0000z", extra_env={"SAHAB_RETRAIN_KEY": "20250102t0000z"})
    got = job["spec"]["template"]["spec"]["containers"][0]["env"]
    keys = [e for e in got if e["name"] == "SAHAB_RETRAIN_KEY"]
    assert keys == [{"name": "SAHAB_RETRAIN_KEY", "value": "20250102t0000z"}], f"job env SAHAB_RETRAIN_KEY: {got}"
    assert job["metadata"]["name"] == "churn-retrain-drift-20250102t0000z", job["metadata"]["name"]
