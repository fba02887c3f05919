"""The drift CronJob: `python -m workloads.monitoring run` tests the prediction log's windows not
tested yet (watermark in `drift-state/`) against the champion's reference profile from the
registry, pushes metrics to the Pushgateway (alert `SahabDriftDetected`) and, once per drift
episode, runs the retraining trigger (scripts/retrain_trigger.py as SAHAB_DRIFT_RETRAIN_COMMAND):
a Job from the training namespace's `retrain` template, named after the episode so a retried
trigger cannot start a second one. RBAC lets it read that one CronJob and create Jobs there,
nothing else."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import _objects as obj
from components.kubernetes._pod import SCRIPTS_DIR, container_security, env, labels, pod_security, resources, script_volume, tmp_volume
from components.kubernetes.cloud import EKS, ClusterCloud

EXIT_USAGE = 2  # unusable input or settings: retrying cannot help (exit 1, a failed trigger, is retried)
COMMAND = ["python", "-m", "workloads.monitoring", "run", "--out-dir", "/tmp/drift"]


@dataclass(frozen=True)
class DriftMonitorArgs:
    namespace: str
    """Monitoring namespace."""
    service_account: str
    """Service account bound to the `drift` IAM role."""
    image: pulumi.Input[str]
    """Pinned `sahab/drift` image."""
    reference_uri: pulumi.Input[str] | None
    """A fixed reference profile (`s3://.../reference.npz`); None: the champion's, from the registry."""
    current_uri: pulumi.Input[str]
    """The prediction log serving writes (`s3://<offline-features>/serving-log/`, hourly partitions)."""
    pushgateway_url: pulumi.Input[str]
    """Where the run pushes its metrics."""
    training_namespace: str
    """Namespace of the `retrain` template."""
    retrain_template: str
    """Name of the suspended training CronJob the trigger instantiates."""
    region: str
    """Region of the cloud (named in the variables `cloud.region_variables` lists)."""
    schedule: str = "0 * * * *"
    """Cron schedule."""
    window: str = "1h"
    """Time window the job tests (each once)."""
    tracking_uri: pulumi.Input[str] | None = None
    """MLflow tracking URI, where the champion's reference profile is resolved (needed without `reference_uri`)."""
    state_uri: pulumi.Input[str] | None = None
    """Watermark, episodes and reports; None: `drift-state/` beside the log."""
    cooldown: str = "6h"
    """No two retrainings within this time."""
    cloud: ClusterCloud = EKS
    """What is cloud-specific under the cluster (region variables, workload identity); from the stack's adapter."""


class DriftMonitor(pulumi.ComponentResource):
    def __init__(self, name: str, args: DriftMonitorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:DriftMonitor", name, None, opts)
        if len(args.schedule.split()) != 5:
            raise ValueError(f"schedule: {args.schedule!r} is not a 5-field cron expression")
        if not args.retrain_template:
            raise ValueError("retrain_template: required (the retraining trigger instantiates it)")
        if args.reference_uri is None and args.tracking_uri is None:
            raise ValueError("tracking_uri: required when reference_uri is None (the champion's reference comes from the registry)")
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace
        sa = obj.service_account(
            f"{name}-sa",
            ns,
            args.service_account,
            child,
            automount=True,
            reason="the retraining trigger creates a Job through the Kubernetes API",
            annotations=args.cloud.account_annotations(args.service_account),
        )
        scripts = obj.scripts_config_map(f"{name}-scripts", ns, "drift-scripts", ("retrain_trigger.py",), child)
        role = k8s.rbac.v1.Role(
            f"{name}-trigger-role",
            metadata={"name": "sahab:retrain-trigger", "namespace": args.training_namespace},
            rules=[
                {"apiGroups": ["batch"], "resources": ["cronjobs"], "resourceNames": [args.retrain_template], "verbs": ["get"]},
                {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]},
            ],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-trigger-binding",
            metadata={"name": "sahab:retrain-trigger", "namespace": args.training_namespace},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "sahab:retrain-trigger"},
            subjects=[{"kind": "ServiceAccount", "name": args.service_account, "namespace": ns}],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )
        volume, mount = script_volume("drift-scripts")
        job_labels = labels("drift", "drift-monitor", **args.cloud.pod_labels)
        k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata={
                "name": "drift",
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
                                        "command": COMMAND,
                                        "env": env(
                                            {
                                                "SAHAB_DRIFT_LOG_URI": args.current_uri,
                                                **({"SAHAB_DRIFT_REFERENCE_URI": args.reference_uri} if args.reference_uri is not None else {}),
                                                **({"SAHAB_DRIFT_STATE_URI": args.state_uri} if args.state_uri is not None else {}),
                                                **({"SAHAB_MLFLOW_TRACKING_URI": args.tracking_uri} if args.tracking_uri is not None else {}),
                                                "SAHAB_DRIFT_WINDOW": args.window,
                                                "SAHAB_DRIFT_COOLDOWN": args.cooldown,
                                                "SAHAB_DRIFT_RETRAIN_COMMAND": f"python {SCRIPTS_DIR}/retrain_trigger.py",
                                                "SAHAB_HOME": "/tmp/sahab",
                                                "SAHAB_MONITORING_PUSHGATEWAY_URL": args.pushgateway_url,
                                                "SAHAB_MONITORING_JOB_NAME": "sahab-drift",
                                                "SAHAB_RETRAIN_NAMESPACE": args.training_namespace,
                                                "SAHAB_RETRAIN_CRONJOB": args.retrain_template,
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
        self.register_outputs({})
