"""Argo Workflows: the engine (controller and server, in the platform namespace) and, per model project,
its pipeline as a WorkflowTemplate in its team's namespace.

`WorkflowEngine`: the pinned argo-workflows chart (components/kubernetes/pins.py), its images from
the in-region mirror, the controller watching the team namespaces only, `templateReferencing:
Secure` (a Workflow may only run a WorkflowTemplate, and may not override its service account,
security context, volumes or templates: checked: argoproj/argo-workflows v4.0.6
docs/workflow-restrictions.md), the minimal CRDs rendered by the chart (the full ones come from a
hook Job that downloads them from GitHub: nothing is fetched from outside the region), the
executor's init/wait containers with requests and limits (team namespaces have quotas) and
restricted security, and the server in `client` auth mode (a user's own token, so RBAC decides:
ml-engineers run and watch workflows in their team namespaces, auditors read them).

`ProjectPipeline`: `<project>-pipeline`, one Argo task per step of workloads/pipelines/graph.py (a
DAG of the same dependencies), each `python -m workloads.pipelines step <name> --key <key>` with
the project's settings (the same as its retrain Job's): ingest, training set, export, evaluate and
register on CPU nodes (the `sahab/export` image), train on the project's GPU pool when it asks for
GPUs (else CPU nodes; the `sahab/training` image), retried after a spot reclaim (exit 143 after its
checkpoint, or the pod lost: `retryStrategy`), resuming with the same run key. Steps hand their
outputs over through the project's storage (its Feast root: workloads/pipelines/cache.py), never
Argo's artifact repository. Pods run as the project's pipeline service account (its cloud
identity, no Kubernetes token) with a separate executor account holding only what Argo's wait
container needs; one run per project at a time (a mutex). The drift and performance trigger (the
project's monitoring job) may create Workflows in that namespace that reference this template and
no other (RBAC plus an admission policy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import _objects as obj
from components.kubernetes import images, pins
from components.kubernetes._helm import release
from components.kubernetes._pod import (
    GPU_NODE_LABEL,
    GPU_TOLERATION,
    SCRIPTS_DIR,
    container_security,
    env,
    labels,
    pod_security,
    resources,
    script_volume,
    tmp_volume,
)
from components.kubernetes.cloud import ClusterCloud
from components.kubernetes.project import ProjectRef
from workloads.pipelines.graph import EXIT_INTERRUPTED, STEPS, step, step_argv

CHART = pins.chart("argo-workflows")
RELEASE = "argo-workflows"
API_VERSION = "argoproj.io/v1alpha1"
# Argo injects these beside every step's main container (init: inputs, wait: results); they count
# against the team's quota like any container (checked: argo-helm argo-workflows-1.0.18 values.yaml
# `executor.resources`, rendered into the controller's ConfigMap `executor:`).
EXECUTOR_RESOURCES = resources("100m", "128Mi", cpu_limit="500m", memory_limit="256Mi")
SERVER_PORT = 2746
KEY_EXPRESSION = "{{=workflow.parameters.key == '' ? workflow.name : workflow.parameters.key}}"
"""The run key of every step: the `key` parameter (the trigger's episode), else the Workflow's name.
checked: argoproj/argo-workflows v4.0.6 docs/variables.md (expression tags `{{=...}}`, workflow.name,
workflow.parameters.<NAME>; examples/expression-destructure-json.yaml reads workflow.parameters.config in one)."""
# Retried: SIGTERM after a checkpoint (143), killed after the grace period (137), or the pod lost with
# its node (status Error). Exit 2 (bad input) and 3 (a refused gate) are final. checked: argoproj/argo-workflows
# v4.0.6 docs/retries.md (`expression` with lastRetry.exitCode as a string and lastRetry.status; ANDed with retryPolicy).
TRAIN_RETRY = {
    "limit": 6,
    "retryPolicy": "Always",
    "expression": f"asInt(lastRetry.exitCode) in [{EXIT_INTERRUPTED}, 137] || lastRetry.status == 'Error'",
    "backoff": {"duration": "30s", "factor": 2, "maxDuration": "30m"},
}
STEP_RETRY = {"limit": 2, "retryPolicy": "OnError", "backoff": {"duration": "15s", "factor": 2}}
WORKFLOW_USER_VERBS = ["get", "list", "watch", "create", "delete", "patch", "update"]


@dataclass(frozen=True, kw_only=True)
class WorkflowEngineArgs:
    namespace: str
    """The platform namespace: controller and server."""
    registry_host: pulumi.Input[str]
    """In-region registry holding the mirrored Argo images."""
    workflow_namespaces: tuple[str, ...]
    """Where Workflows run: the team namespaces (the controller watches these only)."""
    node_selector: dict[str, str]
    """CPU nodes of the controller and the server."""
    groups: dict[str, str]
    """Kubernetes group of each platform role (`ml-engineer`, `auditor`): who may run and read workflows."""


class WorkflowEngine(pulumi.ComponentResource):
    release: k8s.helm.v3.Release

    def __init__(self, name: str, args: WorkflowEngineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:WorkflowEngine", name, None, opts)
        if not args.workflow_namespaces:
            raise ValueError("workflow_namespaces: at least one team namespace (Workflows run in the teams' namespaces)")
        missing = [role for role in ("ml-engineer", "auditor") if role not in args.groups]
        if missing:
            raise ValueError(f"groups: no Kubernetes group for roles {missing}")
        child = pulumi.ResourceOptions(parent=self)
        self.release = release(
            f"{name}-release",
            release_name=RELEASE,
            chart=CHART.name,
            version=CHART.version,
            repo=CHART.repo,
            namespace=args.namespace,
            values=engine_values(args),
            opts=child,
        )
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.release])
        user = k8s.rbac.v1.ClusterRole(
            f"{name}-workflow-user",
            metadata={"name": "sahab:workflow-user"},
            rules=[
                {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": WORKFLOW_USER_VERBS},
                {"apiGroups": ["argoproj.io"], "resources": ["workflowtemplates", "workflowtaskresults"], "verbs": ["get", "list", "watch"]},
            ],
            opts=after,
        )
        reader = k8s.rbac.v1.ClusterRole(
            f"{name}-workflow-reader",
            metadata={"name": "sahab:workflow-reader"},
            rules=[{"apiGroups": ["argoproj.io"], "resources": ["workflows", "workflowtemplates", "workflowtaskresults"], "verbs": ["get", "list", "watch"]}],
            opts=after,
        )
        for ns in args.workflow_namespaces:
            for role, cluster_role, group in (("user", user, args.groups["ml-engineer"]), ("reader", reader, args.groups["auditor"])):
                k8s.rbac.v1.RoleBinding(
                    f"{name}-{ns}-workflow-{role}",
                    metadata={"name": f"sahab:workflow-{role}", "namespace": ns},
                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"sahab:workflow-{role}"},
                    subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_role]),
                )
        self.register_outputs({})


def _argo_image(registry_host: pulumi.Input[str], key: str) -> dict[str, Any]:
    """The chart's image block (`registry`, `repository`, `tag`) of a mirrored Argo image."""
    return images.mirror(registry_host, key)


def engine_values(args: WorkflowEngineArgs) -> dict[str, Any]:
    """The argo-workflows chart's values (checked against argo-helm argo-workflows-1.0.18 values.yaml)."""
    secure = {"podSecurityContext": pod_security(), "securityContext": container_security(), "nodeSelector": dict(args.node_selector)}
    return {
        "images": {"pullPolicy": "IfNotPresent"},
        # Minimal CRDs from the chart itself: `full: true` installs them with a hook Job that downloads
        # them from GitHub, which nothing in the region may reach.
        "crds": {"install": True, "keep": True, "full": False},
        "singleNamespace": False,
        # Each project's pipeline brings its own service accounts and executor Role (ProjectPipeline).
        "workflow": {"serviceAccount": {"create": False}, "rbac": {"create": False}},
        "controller": {
            "image": _argo_image(args.registry_host, "argo-workflow-controller"),
            "workflowNamespaces": list(args.workflow_namespaces),
            "workflowRestrictions": {"templateReferencing": "Secure"},
            "workflowDefaults": {"spec": {"ttlStrategy": {"secondsAfterCompletion": 7 * 86400}, "podGC": {"strategy": "OnPodSuccess"}}},
            "resources": resources("100m", "256Mi", cpu_limit="1", memory_limit="512Mi"),
            "metricsConfig": {"enabled": True},
            "serviceMonitor": {"enabled": False},
            **secure,
        },
        "executor": {
            "image": _argo_image(args.registry_host, "argo-exec"),
            "resources": EXECUTOR_RESOURCES,
            "securityContext": container_security(),
        },
        "server": {
            "enabled": True,
            "image": _argo_image(args.registry_host, "argo-server"),
            "authModes": ["client"],
            "serviceType": "ClusterIP",
            "resources": resources("100m", "256Mi", cpu_limit="500m", memory_limit="512Mi"),
            **secure,
        },
    }


@dataclass(frozen=True, kw_only=True)
class ProjectPipelineArgs:
    project: ProjectRef
    """The model project: prefixes and labels every object, `SAHAB_PROJECT` of every step."""
    namespace: str
    """The project's team namespace (its quota holds the pipeline's pods)."""
    service_account: str
    """The project's pipeline service account, bound to its cloud identity (components/workloads.py `<project>-pipeline`)."""
    training_image: pulumi.Input[str]
    """`sahab/training`: the train step."""
    step_image: pulumi.Input[str]
    """`sahab/export` (the ML stack without CUDA): every other step."""
    checkpoint_prefix: pulumi.Input[str]
    """The project's checkpoint root (`.../checkpoints/<project>`)."""
    feature_store_uri: pulumi.Input[str]
    """The project's Feast root: offline store, frozen training sets, and the pipeline's cache and run records."""
    prediction_log_uri: pulumi.Input[str]
    """The project's prediction log, ingested first."""
    tracking_uri: pulumi.Input[str]
    """MLflow tracking URI."""
    artifact_location: pulumi.Input[str]
    """The project's MLflow artifact location."""
    region: str
    """Region of the cloud (the variables `cloud.region_variables` lists)."""
    vpc_cidr: str
    """Where the online store's Redis lives (egress: register asks the A/B state)."""
    redis_endpoint: pulumi.Input[str]
    """Host of the platform's Redis."""
    redis_secret: pulumi.Input[str]
    """Where with_secrets.py reads the Redis AUTH token."""
    node_selector: dict[str, str]
    """CPU nodes of every step but a GPU-trained train step."""
    gpu_pool: str | None = None
    """Node label value `sahab.ae/pool` of the GPU pool the train step runs on; None: CPU nodes."""
    gpus: int = 0
    """GPUs of the train step (with `gpu_pool`); >1 starts the DeepSpeed launcher with one process per GPU."""
    train_cpu: str = "4"
    """CPU request (and limit) of the train step."""
    train_memory: str = "16Gi"
    """Memory request (and limit) of the train step."""
    step_cpu: str = "2"
    """CPU request (and limit) of every other step."""
    step_memory: str = "8Gi"
    """Memory request (and limit) of every other step."""
    grace_seconds: int = 110
    """Time the train step gets after SIGTERM to checkpoint (within the 2-minute spot notice)."""
    trigger_namespace: str | None = None
    """Namespace of the project's monitoring job, which submits Workflows from this template (one per episode)."""
    trigger_service_account: str | None = None
    """Its service account: RBAC lets it create Workflows here; admission lets them reference only this template."""
    cloud: ClusterCloud
    """What is cloud-specific under the cluster (region variables, workload identity); from the stack's adapter."""


class ProjectPipeline(pulumi.ComponentResource):
    template_name: pulumi.Output[str]

    def __init__(self, name: str, args: ProjectPipelineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:ProjectPipeline", name, None, opts)
        _validate(args)
        child = pulumi.ResourceOptions(parent=self)
        ns, project = args.namespace, args.project
        template, executor, scripts_name = project.named("pipeline"), project.named("pipeline-executor"), project.named("pipeline-scripts")
        sa = obj.service_account(f"{name}-sa", ns, args.service_account, child, annotations=args.cloud.account_annotations(args.service_account))
        executor_sa = obj.service_account(
            f"{name}-executor-sa", ns, executor, child, automount=True, reason="Argo's wait container reports each step's results (workflowtaskresults)"
        )
        role = k8s.rbac.v1.Role(
            f"{name}-executor-role",
            metadata={"name": executor, "namespace": ns, "labels": project.labels},
            # What the executor needs and nothing more (checked: argo-helm argo-workflows-1.0.18 templates/controller/workflow-role.yaml).
            rules=[{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-executor-binding",
            metadata={"name": executor, "namespace": ns, "labels": project.labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": executor},
            subjects=[{"kind": "ServiceAccount", "name": executor, "namespace": ns}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )
        scripts = obj.scripts_config_map(f"{name}-scripts", ns, scripts_name, ("with_secrets.py",), child)
        wft = k8s.apiextensions.CustomResource(
            f"{name}-template",
            api_version=API_VERSION,
            kind="WorkflowTemplate",
            metadata={"name": template, "namespace": ns, "labels": {**project.labels, "app.kubernetes.io/part-of": "sahab"}},
            spec=workflow_template_spec(args, executor=executor, scripts=scripts_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sa, executor_sa, scripts]),
        )
        redis_egress = [{"to": [{"ipBlock": {"cidr": args.vpc_cidr}}], "ports": [{"protocol": "TCP", "port": args.cloud.redis_port}]}]
        obj.network_policy(f"{name}-netpol", ns, template, project.selector("pipeline"), child, ingress=[], egress=redis_egress)
        if args.trigger_service_account:
            self._trigger(name, args, template)
        self.template_name = pulumi.Output.from_input(template)
        self.register_outputs({"template_name": self.template_name, "template": wft.metadata})

    def _trigger(self, name: str, args: ProjectPipelineArgs, template: str) -> None:
        """The monitoring job's right to start this pipeline, one Workflow per episode, and only this one."""
        ns, project, child = args.namespace, args.project, pulumi.ResourceOptions(parent=self)
        who, account = args.trigger_namespace, args.trigger_service_account
        trigger = f"sahab:{project.named('pipeline-trigger')}"
        role = k8s.rbac.v1.Role(
            f"{name}-trigger-role",
            metadata={"name": trigger, "namespace": ns, "labels": project.labels},
            rules=[{"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]}],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-trigger-binding",
            metadata={"name": trigger, "namespace": ns, "labels": project.labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": trigger},
            subjects=[{"kind": "ServiceAccount", "name": account, "namespace": who}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )
        # RBAC cannot say which template a created Workflow runs, and a team namespace may hold several
        # projects' templates: admission refuses any other reference (templateReferencing: Secure refuses
        # Workflows without one, and overrides of the template's service account).
        # checked: kubernetes/website validating-admission-policy.md (admissionregistration.k8s.io/v1, GA in 1.30).
        policy_name = f"sahab-{project.named('pipeline-trigger')}"
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-trigger-policy",
            metadata={"name": policy_name, "labels": project.labels},
            spec={
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {"apiGroups": ["argoproj.io"], "apiVersions": ["v1alpha1"], "operations": ["CREATE", "UPDATE"], "resources": ["workflows"]}
                    ]
                },
                "matchConditions": [{"name": "created-by-the-trigger", "expression": f"request.userInfo.username == 'system:serviceaccount:{who}:{account}'"}],
                "validations": [
                    {
                        "expression": f"has(object.spec.workflowTemplateRef) && object.spec.workflowTemplateRef.name == '{template}'",
                        "message": f"the {project.name} monitoring job may start only the {template} WorkflowTemplate",
                        "reason": "Forbidden",
                    }
                ],
            },
            opts=child,
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-trigger-policy-binding",
            metadata={"name": policy_name, "labels": project.labels},
            spec={
                "policyName": policy_name,
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )


def step_env(args: ProjectPipelineArgs) -> dict[str, Any]:
    """The environment of every step: the project's settings as its retrain Job has them, and the
    trigger's lineage (reason, windows) from the Workflow's parameters."""
    project, cloud = args.project, args.cloud
    return {
        **project.env,
        "SAHAB_MLFLOW_TRACKING_URI": args.tracking_uri,
        "SAHAB_MLFLOW_ARTIFACT_LOCATION": args.artifact_location,
        "SAHAB_HOME": "/tmp/sahab",
        "HOME": "/tmp",
        "SAHAB_TRAIN_CHECKPOINT_URI": args.checkpoint_prefix,
        **cloud.feast_env(args.feature_store_uri, args.region),
        "SAHAB_SERVING_PREDICTION_LOG_URI": args.prediction_log_uri,
        **cloud.ab_state_env(project.name, args.redis_secret, args.redis_endpoint),
        "SAHAB_RETRAIN_REASON": "{{workflow.parameters.reason}}",
        "SAHAB_RETRAIN_WINDOWS": "{{workflow.parameters.windows}}",
        **cloud.region_env(args.region),
    }


def step_command(name: str, *, gpus: int = 0) -> list[str]:
    """The main container's command of one step: workloads/pipelines/graph.py's, through with_secrets.py
    (it fetches the Redis token, then execs); the train step with several GPUs under the launcher.
    Argo's emissary runs it as its child and forwards SIGTERM to it (no tini needed)."""
    trains = step(name).trains
    argv = step_argv(name, KEY_EXPRESSION, resume=trains)
    if name == "register":
        argv += ["--alias", "{{workflow.parameters.alias}}"]
    if trains and gpus > 1:
        argv = ["python", "-m", "workloads.training.launch", "--nproc", str(gpus), "--", *argv, "--set", "deepspeed.enabled=true"]
    return ["python", f"{SCRIPTS_DIR}/with_secrets.py", *argv]


def workflow_template_spec(args: ProjectPipelineArgs, *, executor: str, scripts: str) -> dict[str, Any]:
    """The WorkflowTemplate's spec (module docstring); validated against the Workflow CRD's schema of
    the pinned chart (sahab/gate/crd_schemas.py) and by the gate's pod checks."""
    project, cloud = args.project, args.cloud
    volume, mount = script_volume(scripts)
    environment = env(step_env(args))
    pod_labels = labels("pipeline", "pipeline", **project.labels, **cloud.pod_labels)
    templates: list[dict[str, Any]] = [
        {
            "name": "pipeline",
            "dag": {"tasks": [{"name": s.name, "template": s.name, **({"dependencies": list(s.after)} if s.after else {})} for s in STEPS]},
        }
    ]
    for s in STEPS:
        gpu = s.trains and args.gpu_pool is not None
        container = {
            "name": "main",
            "image": args.training_image if s.trains else args.step_image,
            "imagePullPolicy": "IfNotPresent",
            "command": step_command(s.name, gpus=args.gpus if gpu else 0),
            "env": [*environment, *([{"name": "NCCL_DEBUG", "value": "WARN"}] if gpu else [])],
            "resources": resources(args.train_cpu, args.train_memory, gpus=args.gpus if gpu else 0) if s.trains else resources(args.step_cpu, args.step_memory),
            "securityContext": container_security(),
            "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}, *([{"name": "shm", "mountPath": "/dev/shm"}] if s.trains else [])],
        }
        task: dict[str, Any] = {
            "name": s.name,
            "metadata": {"labels": {**pod_labels, "sahab.ae/pipeline-step": s.name, **({"sahab.ae/pool": args.gpu_pool} if gpu and args.gpu_pool else {})}},
            "container": container,
            "retryStrategy": TRAIN_RETRY if s.trains else STEP_RETRY,
        }
        if gpu:
            task["nodeSelector"] = {**GPU_NODE_LABEL, "sahab.ae/pool": str(args.gpu_pool)}
            task["tolerations"] = [GPU_TOLERATION, *cloud.gpu_node_tolerations]
        else:
            task["nodeSelector"] = dict(args.node_selector)
        if s.trains:
            # No consolidation mid-run; a spot reclaim still gets its checkpoint within the grace period.
            task["metadata"]["annotations"] = {"karpenter.sh/do-not-disrupt": "true"}
            task["podSpecPatch"] = json.dumps({"terminationGracePeriodSeconds": args.grace_seconds})
        templates.append(task)
    return {
        "entrypoint": "pipeline",
        "arguments": {
            "parameters": [
                {"name": "key", "value": "", "description": "run key (the trigger's episode); empty: the Workflow's name"},
                {"name": "reason", "value": "manual", "description": "why it runs (drift, performance, manual): a tag of the version"},
                {"name": "windows", "value": "", "description": "the drift windows that triggered it: a tag of the version"},
                {"name": "alias", "value": "challenger", "enum": ["challenger", "champion"], "description": "alias of the new version when the gate passes"},
            ]
        },
        "serviceAccountName": args.service_account,
        "automountServiceAccountToken": False,
        "executor": {"serviceAccountName": executor},
        "securityContext": pod_security(),
        "podMetadata": {"labels": pod_labels},
        "workflowMetadata": {"labels": project.labels},
        "volumes": [volume, tmp_volume(size="50Gi"), {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi" if args.gpu_pool else "1Gi"}}],
        "synchronization": {"mutexes": [{"name": project.named("pipeline")}]},
        "activeDeadlineSeconds": 24 * 3600,
        "ttlStrategy": {"secondsAfterCompletion": 7 * 86400},
        "podGC": {"strategy": "OnPodSuccess"},
        "templates": templates,
    }


def _validate(args: ProjectPipelineArgs) -> None:
    if not 0 <= args.gpus <= 8:
        raise ValueError(f"gpus: {args.gpus} is outside 0-8 (one node)")
    if args.gpu_pool and args.gpus < 1:
        raise ValueError(f"gpus: the train step on the GPU pool {args.gpu_pool!r} needs at least 1 GPU (or no gpu_pool: CPU nodes)")
    if not args.gpu_pool and args.gpus:
        raise ValueError(f"gpu_pool: {args.gpus} GPUs asked for but no GPU pool named")
    if not args.node_selector:
        raise ValueError("node_selector: the CPU steps must be pinned to CPU nodes")
    if not 30 <= args.grace_seconds < 120:
        raise ValueError(f"grace_seconds: {args.grace_seconds} must be 30-119 to checkpoint within the spot notice")
    if bool(args.trigger_namespace) != bool(args.trigger_service_account):
        raise ValueError("trigger_namespace and trigger_service_account: set both (the monitoring job that starts the pipeline) or neither")
    if args.service_account == args.project.named("pipeline-executor"):
        raise ValueError("service_account: must not be the executor's account (the steps run without a Kubernetes token)")
