"""Argo Workflows on the cluster (components/kubernetes/workflows.py), each component on its own under
the mocks:

- the engine: the pinned chart, its images from the in-region mirror at the pinned tags, the minimal
  CRDs (no download from outside the region), the controller watching the team namespaces only with
  `templateReferencing: Secure`, the executor's containers sized (team quotas), ml-engineers and
  auditors bound in each team namespace;
- a project's WorkflowTemplate: valid against the Workflow CRD's schema of the pinned chart (strict,
  as `argo lint`), one task per pipeline step with the graph's dependencies, each running the same
  command the in-process tests run (`workloads.pipelines.graph.step_argv`), every parameter it uses
  declared; the train step alone on the GPU pool (for a project that asks for GPUs) and retried on a
  spot reclaim (exit 143, or the pod lost) but not on bad input or a refused gate; the steps without a
  Kubernetes token, the executor with only `workflowtaskresults`; the trigger may create Workflows of
  this template and no other;
- the trigger's Workflow (components/kubernetes/scripts/retrain_trigger.py): one name per episode,
  only a template reference and parameters, valid against the Workflow CRD's schema.
"""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from components.kubernetes import pins
from components.kubernetes._pod import GPU_RESOURCE, GPU_TOLERATION
from components.kubernetes.cloud import EKS
from components.kubernetes.project import ProjectRef
from components.kubernetes.workflows import (
    EXECUTOR_RESOURCES,
    KEY_EXPRESSION,
    ProjectPipeline,
    ProjectPipelineArgs,
    WorkflowEngine,
    WorkflowEngineArgs,
)
from sahab.gate import crd_schemas
from tests.components.component_helpers import build, prop, refused
from workloads.pipelines.graph import STEPS, step_argv

REPO = Path(__file__).resolve().parents[2]
PROJECT = ProjectRef(name="churn", team="growth", folder="projects/churn")
TEAMS = ("sahab-team-growth", "sahab-team-risk")
WFT = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"


def _pipeline(**over) -> ProjectPipelineArgs:
    base = dict(
        project=PROJECT,
        namespace="sahab-team-growth",
        service_account="churn-pipeline",
        training_image="reg/sahab/training:1.0.0",
        step_image="reg/sahab/export:1.0.0",
        checkpoint_prefix="s3://b/checkpoints/churn",
        feature_store_uri="s3://b/feast/churn",
        prediction_log_uri="s3://b/serving-log/churn/",
        tracking_uri="http://mlflow.sahab-platform.svc:5000",
        artifact_location="s3://b/mlflow/churn",
        region="me-central-1",
        vpc_cidr="10.0.0.0/16",
        redis_endpoint="redis.example",
        redis_secret="arn:aws:secretsmanager:me-central-1:1:secret:redis",
        node_selector={"sahab.ae/workload": "platform"},
        gpu_pool="uae-gpu",
        gpus=1,
        train_cpu="8",
        train_memory="32Gi",
        trigger_namespace="sahab-monitoring",
        trigger_service_account="churn-monitoring",
        cloud=EKS,
    )
    return ProjectPipelineArgs(**{**base, **over})


def _template(built) -> dict:
    found = [r for r in built.resources if r.type == WFT]
    assert len(found) == 1, f"one WorkflowTemplate per project: {[r.urn for r in found]}"
    return found[0].inputs


@pytest.fixture(scope="module")
def gpu_pipeline():
    return build(lambda: ProjectPipeline("uae-churn-pipeline", _pipeline()))


def _steps(doc: dict) -> dict[str, dict]:
    return {t["name"]: t for t in doc["spec"]["templates"] if "container" in t}


def test_the_workflow_template_is_valid_against_the_pinned_crd_schema(gpu_pipeline):
    doc = _template(gpu_pipeline)
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]["namespace"]) == ("argoproj.io/v1alpha1", "WorkflowTemplate", "sahab-team-growth"), doc["metadata"]
    problems = crd_schemas.errors(doc, ("[secret]", "[unknown]"))
    assert problems == [], f"WorkflowTemplate churn-pipeline against argoproj.io_v1alpha1_WorkflowTemplate (argo-workflows 1.0.18 CRD): {problems}"
    broken = json.loads(json.dumps(doc))
    broken["spec"]["templates"][1]["container"]["imagePullPolcy"] = "Always"
    broken["spec"]["templates"][2]["retryStrategy"]["retryPolicy"] = 3
    found = crd_schemas.errors(broken)
    assert any("imagePullPolcy" in p for p in found) and any("retryStrategy/retryPolicy" in p for p in found), (
        f"the schema check catches a typo and a wrong type: {found}"
    )


def test_one_task_per_step_with_the_graphs_dependencies_and_every_reference_resolved(gpu_pipeline):
    spec = _template(gpu_pipeline)["spec"]
    names = {t["name"] for t in spec["templates"]}
    dag = next(t for t in spec["templates"] if t["name"] == spec["entrypoint"])["dag"]["tasks"]
    assert [(t["name"], tuple(t.get("dependencies", ()))) for t in dag] == [(s.name, s.after) for s in STEPS], f"DAG of {spec['entrypoint']}: {dag}"
    assert all(t["template"] in names for t in dag), f"every task's template exists: {[t['template'] for t in dag]} vs {sorted(names)}"
    declared = {p["name"] for p in spec["arguments"]["parameters"]}
    used = set(re.findall(r"workflow\.parameters\.([a-z_]+)", json.dumps(spec)))
    assert used <= declared and {"key", "reason", "windows", "alias"} <= declared, f"parameters used {sorted(used)}, declared {sorted(declared)}"
    for s in STEPS:
        command = _steps({"spec": spec})[s.name]["container"]["command"]
        expected = step_argv(s.name, KEY_EXPRESSION, resume=s.trains)
        assert command[-len(expected) :] == expected or command[-len(expected) - 2 : -2] == expected, f"step {s.name}: {command} runs {expected}"
        assert command[:2] == ["python", "/opt/sahab/with_secrets.py"], f"step {s.name}: the Redis token through with_secrets.py: {command}"


def test_only_the_train_step_runs_on_the_gpu_pool_and_retries_after_a_reclaim(gpu_pipeline):
    steps = _steps(_template(gpu_pipeline))
    train = steps["train"]
    assert train["nodeSelector"] == {"sahab.ae/accelerator": "nvidia", "sahab.ae/pool": "uae-gpu"}, f"train nodeSelector: {train['nodeSelector']}"
    assert GPU_TOLERATION in train["tolerations"], f"train tolerations: {train['tolerations']}"
    assert train["container"]["resources"]["limits"][GPU_RESOURCE] == "1", f"train resources: {train['container']['resources']}"
    assert json.loads(train["podSpecPatch"]) == {"terminationGracePeriodSeconds": 110}, "the checkpoint's grace period within the spot notice"
    retry = train["retryStrategy"]
    assert retry["retryPolicy"] == "Always" and "143" in retry["expression"] and "'Error'" in retry["expression"], f"train retryStrategy: {retry}"
    assert "2" not in re.findall(r"\d+", retry["expression"].split("in", 1)[1].split("]")[0]), "exit 2 (bad input) is not retried"
    assert "--resume" in train["container"]["command"], "a retry resumes from the run key's checkpoint"
    for name, step in steps.items():
        if name == "train":
            continue
        assert step["nodeSelector"] == {"sahab.ae/workload": "platform"} and "tolerations" not in step, (
            f"step {name} runs on CPU nodes: {step.get('nodeSelector')}"
        )
        assert GPU_RESOURCE not in step["container"]["resources"]["limits"], f"step {name} asks for no GPU"
        assert step["retryStrategy"]["retryPolicy"] == "OnError", f"step {name}: only lost pods are retried"
        assert step["container"]["image"] == "reg/sahab/export:1.0.0", f"step {name}: the CPU image"


def test_a_cpu_project_trains_on_cpu_nodes():
    doc = _template(build(lambda: ProjectPipeline("uae-churn-pipeline", _pipeline(gpu_pool=None, gpus=0))))
    train = _steps(doc)["train"]
    assert train["nodeSelector"] == {"sahab.ae/workload": "platform"} and "tolerations" not in train, f"train: {train['nodeSelector']}"
    assert GPU_RESOURCE not in train["container"]["resources"]["limits"], f"train resources: {train['container']['resources']}"
    assert crd_schemas.errors(doc, ("[secret]", "[unknown]")) == [], "valid against the CRD schema too"


def test_several_gpus_start_the_launcher():
    doc = _template(build(lambda: ProjectPipeline("uae-churn-pipeline", _pipeline(gpus=4))))
    command = _steps(doc)["train"]["container"]["command"]
    assert command[2:7] == ["python", "-m", "workloads.training.launch", "--nproc", "4"] and command[-2:] == ["--set", "deepspeed.enabled=true"], command


def test_the_steps_run_without_a_token_and_the_executor_holds_only_its_results(gpu_pipeline):
    spec = _template(gpu_pipeline)["spec"]
    assert (spec["serviceAccountName"], spec["automountServiceAccountToken"], spec["executor"]) == (
        "churn-pipeline",
        False,
        {"serviceAccountName": "churn-pipeline-executor"},
    ), "steps as the project's pipeline identity without a Kubernetes token; the executor's own account"
    roles = {r.name: r for r in gpu_pipeline.resources if r.type == "kubernetes:rbac.authorization.k8s.io/v1:Role"}
    executor = roles["uae-churn-pipeline-executor-role"]
    assert prop(executor, "rules") == [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}], executor.urn
    trigger = roles["uae-churn-pipeline-trigger-role"]
    assert prop(trigger, "rules") == [{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]}], trigger.urn
    policy = next(r for r in gpu_pipeline.resources if r.type.endswith("ValidatingAdmissionPolicy"))
    expression = prop(policy, "spec.validations.0.expression")
    assert "workflowTemplateRef.name == 'churn-pipeline'" in expression, f"{policy.urn}: {expression}"
    assert "system:serviceaccount:sahab-monitoring:churn-monitoring" in prop(policy, "spec.matchConditions.0.expression"), policy.urn


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"gpu_pool": None, "gpus": 1}, "gpu_pool"),
        ({"gpus": 0}, "gpus"),
        ({"trigger_service_account": None}, "trigger_namespace and trigger_service_account"),
        ({"node_selector": {}}, "node_selector"),
        ({"grace_seconds": 300}, "grace_seconds"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(over, field):
    refusal = refused(lambda: ProjectPipeline("p", _pipeline(**over)))
    assert refusal.message.startswith(field) and refusal.children == (), f"{over}: {refusal.message}"


@pytest.fixture(scope="module")
def engine():
    groups = {"ml-engineer": "sahab:ml-engineers", "auditor": "sahab:auditors"}
    return build(
        lambda: WorkflowEngine(
            "uae-workflows",
            WorkflowEngineArgs(namespace="sahab-platform", registry_host="reg.example", workflow_namespaces=TEAMS, node_selector={"a": "b"}, groups=groups),
        )
    )


def test_the_engine_installs_the_pinned_chart_from_the_mirror_watching_the_teams_only(engine):
    chart = pins.chart("argo-workflows")
    helm = next(r for r in engine.resources if r.type == "kubernetes:helm.sh/v3:Release")
    assert (prop(helm, "chart"), prop(helm, "version"), prop(helm, "repositoryOpts.repo")) == (chart.name, chart.version, chart.repo), helm.urn
    values = prop(helm, "values")
    for path, key in (("controller", "argo-workflow-controller"), ("executor", "argo-exec"), ("server", "argo-server")):
        image = values[path]["image"]
        assert (image["registry"], image["repository"], image["tag"]) == (
            "reg.example",
            f"sahab/mirror/argoproj/{pins.image(key).name.rsplit('/', 1)[1]}",
            pins.image(key).version,
        ), f"{helm.urn}: values.{path}.image {image}"
    assert values["crds"]["full"] is False, f"{helm.urn}: values.crds.full: the full CRDs' hook Job downloads them from GitHub"
    assert values["controller"]["workflowNamespaces"] == list(TEAMS), f"{helm.urn}: values.controller.workflowNamespaces"
    assert values["controller"]["workflowRestrictions"] == {"templateReferencing": "Secure"}, f"{helm.urn}: values.controller.workflowRestrictions"
    assert values["executor"]["resources"] == EXECUTOR_RESOURCES, f"{helm.urn}: values.executor.resources (team quotas need them)"
    assert values["server"]["authModes"] == ["client"], f"{helm.urn}: values.server.authModes: the user's own token, so RBAC decides"
    bindings = sorted((prop(r, "metadata.namespace"), prop(r, "subjects.0.name")) for r in engine.resources if r.type.endswith("v1:RoleBinding"))
    assert bindings == sorted((ns, g) for ns in TEAMS for g in ("sahab:ml-engineers", "sahab:auditors")), f"workflow RBAC per team namespace: {bindings}"


def _trigger():
    spec = importlib.util.spec_from_file_location("retrain_trigger", REPO / "components/kubernetes/scripts/retrain_trigger.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_trigger_submits_one_workflow_per_episode_from_the_template():
    mod = _trigger()
    lineage = {"SAHAB_RETRAIN_KEY": "20261201T1400Z", "SAHAB_RETRAIN_WINDOWS": "w1,w2"}
    first = mod.workflow_from_template(
        "churn-pipeline", "sahab-team-growth", "drift", datetime(2026, 12, 1, 17, tzinfo=UTC), key="20261201T1400Z", lineage=lineage
    )
    again = mod.workflow_from_template(
        "churn-pipeline", "sahab-team-growth", "drift", datetime(2026, 12, 1, 18, tzinfo=UTC), key="20261201T1400Z", lineage=lineage
    )
    assert first["metadata"]["name"] == again["metadata"]["name"] == "churn-pipeline-drift-20261201t1400z", "one Workflow name per episode: a retry meets 409"
    assert set(first["spec"]) == {"workflowTemplateRef", "arguments"}, f"only what templateReferencing: Secure allows: {sorted(first['spec'])}"
    params = {p["name"]: p["value"] for p in first["spec"]["arguments"]["parameters"]}
    assert params == {"key": "20261201t1400z", "reason": "drift", "windows": "w1,w2"}, f"the episode's run key and lineage: {params}"
    from workloads.features.frames import check_run_key

    assert check_run_key(params["key"]) == params["key"], "the parameter is a valid run key"
    assert crd_schemas.errors(first) == [], f"the trigger's Workflow against the Workflow CRD schema: {crd_schemas.errors(first)}"


def test_the_gate_sees_one_pod_per_step_with_the_executor_beside_it(gpu_pipeline):
    """sahab/gate/deployability/pods.py: the pods Argo creates from the template, as the scheduling,
    connectivity and workload-settings checks judge them; workload_env knows the step's entry point."""
    from sahab.gate.deployability.pods import ARGO_WAIT, templates_of
    from sahab.gate.deployability.workload_env import entry_points

    doc = _template(gpu_pipeline)
    found = dict(templates_of(doc))
    assert sorted(found) == sorted(f"churn-pipeline/{s.name}" for s in STEPS), f"one pod per step: {sorted(found)}"
    train = found["churn-pipeline/train"]["spec"]
    assert [c["name"] for c in train["containers"]] == ["main", ARGO_WAIT] and train["containers"][1]["resources"] == EXECUTOR_RESOURCES, train["containers"]
    assert train["serviceAccountName"] == "churn-pipeline" and train["nodeSelector"]["sahab.ae/pool"] == "uae-gpu", train
    labels = found["churn-pipeline/ingest"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "pipeline" and labels["sahab.ae/project"] == "churn", (
        f"the connectivity check finds the project's pipeline pods: {labels}"
    )
    assert entry_points(train["containers"][0]) == ["python -m workloads.pipelines step"], "the workload-settings check probes the step's settings"
