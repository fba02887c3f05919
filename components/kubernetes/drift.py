"""The monitoring CronJob of one model project, `<project>-monitoring`: `python -m workloads.monitoring
run` tests the project's prediction log windows not tested yet (watermark in its `drift-state/<project>/`)
against the champion's reference profile from the registry, judges the model's performance once
labels mature (the log joined with the project's label store), pushes metrics to the Pushgateway
(alerts `SahabDriftDetected`, `SahabModelPerformanceDegraded`) and, once per episode, runs the
retraining trigger (scripts/retrain_trigger.py as SAHAB_DRIFT_RETRAIN_COMMAND): a Job from the
project's `<project>-retrain` template in the training namespace, named after the episode so a
retried trigger cannot start a second one. It waits while the project's A/B experiment runs (it
reads the A/B state in the online store's Redis). RBAC lets it read that one CronJob and create
Jobs there, nothing else; a ValidatingAdmissionPolicy lets those Jobs run only as the project's own
training service account (RBAC cannot say which service account a created pod uses, and the
training namespace holds every project's). Its settings come from the project's `monitoring:` (schedule, windows,
cooldown); the component overrides only what it is given."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import _objects as obj
from components.kubernetes._pod import SCRIPTS_DIR, container_security, env, labels, pod_security, resources, script_volume, tmp_volume
from components.kubernetes.cloud import ClusterCloud
from components.kubernetes.project import ProjectRef

EXIT_USAGE = 2  # unusable input or settings: retrying cannot help (exit 1, a failed trigger, is retried)
COMMAND = ["python", "-m", "workloads.monitoring", "run", "--out-dir", "/tmp/drift"]


@dataclass(frozen=True, kw_only=True)
class DriftMonitorArgs:
    project: ProjectRef
    """The model project monitored: prefixes and labels every object, `SAHAB_PROJECT` of the job."""
    namespace: str
    """Monitoring namespace."""
    service_account: str
    """Service account bound to the project's monitoring identity (components/workloads.py `<project>-monitoring`)."""
    image: pulumi.Input[str]
    """Pinned `sahab/drift` image."""
    reference_uri: pulumi.Input[str] | None
    """A fixed reference profile (`s3://.../reference.npz`); None: the champion's, from the registry."""
    current_uri: pulumi.Input[str]
    """The project's prediction log (`s3://<offline-features>/serving-log/<project>/`, hourly partitions)."""
    pushgateway_url: pulumi.Input[str]
    """Where the run pushes its metrics."""
    training_namespace: str
    """Namespace of the `retrain` template."""
    retrain_template: str
    """Name of the project's suspended training CronJob the trigger instantiates (`<project>-retrain`)."""
    training_service_account: str
    """The project's training service account: the only one a Job the trigger creates may run as (admission policy)."""
    region: str
    """Region of the cloud (named in the variables `cloud.region_variables` lists)."""
    vpc_cidr: str
    """Where the online store's Redis lives (egress rule: the job reads the A/B state)."""
    redis_endpoint: pulumi.Input[str]
    """Host of the platform's Redis (the A/B store: a running experiment holds retraining back)."""
    redis_secret: pulumi.Input[str]
    """Where with_secrets.py reads the Redis AUTH token (a Secrets Manager ARN, Key Vault secret id or `env:PREFIX_`)."""
    feast_uri: pulumi.Input[str] | None = None
    """The project's Feast root (`.../feast/<project>`): its label store, for performance; None: drift only."""
    schedule: str = "0 * * * *"
    """Cron schedule (the project's monitoring.schedule)."""
    window: str | None = None
    """Time window the job tests (each once); None: the project's monitoring.drift.window."""
    tracking_uri: pulumi.Input[str] | None = None
    """MLflow tracking URI, where the champion's reference profile is resolved (needed without `reference_uri`)."""
    state_uri: pulumi.Input[str] | None = None
    """Watermark, episodes and reports (`.../drift-state/<project>/`); None: beside the log."""
    cooldown: str | None = None
    """No two retrainings within this time; None: the project's monitoring.drift.cooldown."""
    retrain_workflow: str | None = None
    """The project's pipeline WorkflowTemplate (`<project>-pipeline`, components/kubernetes/workflows.py) in
    `retrain_namespace`: the trigger submits one Workflow from it per episode (the RBAC and admission policy
    that allow exactly that are ProjectPipeline's). None: a Job from `retrain_template`."""
    retrain_namespace: str | None = None
    """The team namespace of `retrain_workflow`."""
    cloud: ClusterCloud
    """What is cloud-specific under the cluster (region variables, workload identity); from the stack's adapter (required: no cloud is assumed)."""


class DriftMonitor(pulumi.ComponentResource):
    def __init__(self, name: str, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:DriftMonitor", name, None, opts)
        if len(args.schedule.split()) != 5:
            raise ValueError(f"schedule: {args.schedule!r} is not a 5-field cron expression")
        if not args.retrain_template:
            raise ValueError("retrain_template: required (the retraining trigger instantiates it)")
        if bool(args.retrain_workflow) != bool(args.retrain_namespace):
            raise ValueError("retrain_workflow and retrain_namespace: set both (the pipeline's WorkflowTemplate and its team namespace) or neither")
        if args.reference_uri is None and args.tracking_uri is None:
            raise ValueError("tracking_uri: required when reference_uri is None (the champion's reference comes from the registry)")
        child = pulumi.ResourceOptions(parent=self)
        ns, project = args.namespace, args.project
        job, scripts_name, trigger = project.named("monitoring"), project.named("monitoring-scripts"), f"sahab:{project.named('retrain-trigger')}"
        sa = obj.service_account(
            f"{name}-sa",
            ns,
            args.service_account,
            child,
            automount=True,
            reason="the retraining trigger creates a Workflow (or a Job) through the Kubernetes API",
            annotations=args.cloud.account_annotations(args.service_account),
        )
        scripts = obj.scripts_config_map(f"{name}-scripts", ns, scripts_name, ("retrain_trigger.py", "with_secrets.py"), child)
        if args.retrain_workflow:
            trigger_env = {"SAHAB_RETRAIN_NAMESPACE": args.retrain_namespace, "SAHAB_RETRAIN_WORKFLOW_TEMPLATE": args.retrain_workflow}
        else:
            trigger_env = {"SAHAB_RETRAIN_NAMESPACE": args.training_namespace, "SAHAB_RETRAIN_CRONJOB": args.retrain_template}
            self._job_trigger(name, args, ns, trigger)
        volume, mount = script_volume(scripts_name)
        self._cronjob(name, args, ns, job, sa, scripts, volume, mount, trigger_env)
        redis_egress = [{"to": [{"ipBlock": {"cidr": args.vpc_cidr}}], "ports": [{"protocol": "TCP", "port": args.cloud.redis_port}]}]
        obj.network_policy(f"{name}-netpol", ns, job, project.selector("drift"), child, egress=redis_egress)
        self.register_outputs({})

    def _job_trigger(self, name: str, args: DriftMonitorArgs, ns: str, trigger: str) -> None:
        """RBAC and admission for the Job path: get the one CronJob, create Jobs as the project's training account only."""
        project, child = args.project, pulumi.ResourceOptions(parent=self)
        role = k8s.rbac.v1.Role(
            f"{name}-trigger-role",
            metadata={"name": trigger, "namespace": args.training_namespace, "labels": project.labels},
            rules=[
                {"apiGroups": ["batch"], "resources": ["cronjobs"], "resourceNames": [args.retrain_template], "verbs": ["get"]},
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
            ],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-trigger-binding",
            metadata={"name": trigger, "namespace": args.training_namespace, "labels": project.labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": trigger},
            subjects=[{"kind": "ServiceAccount", "name": args.service_account, "namespace": ns}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )
        # Creating Jobs in the training namespace would let this identity run a pod as any project's
        # training service account there: admission refuses every Job it creates under another one.
        # checked: the Kubernetes 1.33 OpenAPI schemas kubernetes-validate ships (admissionregistration.k8s.io/v1
        # ValidatingAdmissionPolicySpec: matchConstraints, matchConditions, validations; the binding's
        # validationActions and matchResources), the version the gate validates manifests against.
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-trigger-policy",
            metadata={"name": f"sahab-{project.named('retrain-trigger')}", "labels": project.labels},
            spec={
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [{"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["jobs"]}]
                },
                "matchConditions": [
                    {"name": "created-by-the-trigger", "expression": f"request.userInfo.username == 'system:serviceaccount:{ns}:{args.service_account}'"}
                ],
                "validations": [
                    {
                        "expression": "has(object.spec.template.spec.serviceAccountName) && "
                        f"object.spec.template.spec.serviceAccountName == '{args.training_service_account}'",
                        "message": f"the {project.name} monitoring job may start retraining Jobs only as {args.training_service_account}",
                        "reason": "Forbidden",
                    }
                ],
            },
            opts=child,
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-trigger-policy-binding",
            metadata={"name": f"sahab-{project.named('retrain-trigger')}", "labels": project.labels},
            spec={
                "policyName": f"sahab-{project.named('retrain-trigger')}",
                "validationActions": ["Deny"],
                "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": args.training_namespace}}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

    def _cronjob(self, name: str, args: DriftMonitorArgs, ns: str, job: str, sa, scripts, volume: dict, mount: dict, trigger_env: dict) -> None:
        project = args.project
        job_labels = labels("drift", "drift-monitor", **project.labels, **args.cloud.pod_labels)
        k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata={
                "name": job,
                "namespace": ns,
                "labels": job_labels,
                # checkov's per-object suppression, with the reason reviewers read in the manifest.
                "annotations": {"checkov.io/skip1": "CKV_K8S_38=the retraining trigger calls the Kubernetes API (RBAC: get one CronJob, create Jobs)"},
            },
            spec={
                "schedule": args.schedule,
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 5,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 2,
                        "activeDeadlineSeconds": 3600,
                        "ttlSecondsAfterFinished": 86400,
                        "podFailurePolicy": {
                            # Unusable inputs will not get better by retrying.
                            "rules": [{"action": "FailJob", "onExitCodes": {"containerName": "drift", "operator": "In", "values": [EXIT_USAGE]}}]
                        },
                        "template": {
                            "metadata": {"labels": job_labels},
                            "spec": {
                                "serviceAccountName": args.service_account,
                                "automountServiceAccountToken": True,
                                "securityContext": pod_security(),
                                "restartPolicy": "Never",
                                "containers": [
                                    {
                                        "name": "drift",
                                        "image": args.image,
                                        "imagePullPolicy": "IfNotPresent",
                                        "command": ["python", f"{SCRIPTS_DIR}/with_secrets.py", *COMMAND],
                                        "env": env(
                                            {
                                                **project.env,
                                                "SAHAB_DRIFT_LOG_URI": args.current_uri,
                                                **({"SAHAB_DRIFT_REFERENCE_URI": args.reference_uri} if args.reference_uri is not None else {}),
                                                **({"SAHAB_DRIFT_STATE_URI": args.state_uri} if args.state_uri is not None else {}),
                                                **({"SAHAB_MLFLOW_TRACKING_URI": args.tracking_uri} if args.tracking_uri is not None else {}),
                                                **({"SAHAB_DRIFT_WINDOW": args.window} if args.window is not None else {}),
                                                **({"SAHAB_DRIFT_COOLDOWN": args.cooldown} if args.cooldown is not None else {}),
                                                **(args.cloud.feast_env(args.feast_uri, args.region) if args.feast_uri is not None else {}),
                                                **args.cloud.ab_state_env(project.name, args.redis_secret, args.redis_endpoint),
                                                "SAHAB_DRIFT_RETRAIN_COMMAND": f"python {SCRIPTS_DIR}/retrain_trigger.py",
                                                "SAHAB_HOME": "/tmp/sahab",
                                                "SAHAB_MONITORING_PUSHGATEWAY_URL": args.pushgateway_url,
                                                "SAHAB_MONITORING_JOB_NAME": "sahab-drift",
                                                **trigger_env,
                                                **args.cloud.region_env(args.region),
                                                "HOME": "/tmp",
                                                "MPLCONFIGDIR": "/tmp/matplotlib",
                                            }
                                        ),
                                        "resources": resources("1", "4Gi", cpu_limit="2", memory_limit="4Gi"),
                                        "securityContext": container_security(),
                                        "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}],
                                    }
                                ],
                                "volumes": [volume, tmp_volume(size="4Gi")],
                            },
                        },
                    }
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sa, scripts]),
        )
