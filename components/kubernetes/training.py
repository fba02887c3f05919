"""Training: the `retrain` Job template (a suspended CronJob: `kubectl create job --from=cronjob/retrain`,
or the drift job's trigger) on the GPU pool, and the `export` template that turns the trained
model into ONNX.

The retrain Job runs `python -m workloads.pipeline retrain --resume`: a fresh point-in-time
training set from the Feast offline store, training, export, and the new version registered as
`challenger` (without `feature_store_uri` it trains on `data_path` with `python -m workloads.training`).
PID 1 is `tini`, which forwards SIGTERM; with several GPUs it starts `workloads.training.launch`,
which forwards SIGTERM to every rank and waits for their checkpoints (the `deepspeed` launcher
kills its ranks 30 s after SIGTERM and its runner ignores nothing and dies at once).

The training pod tolerates the GPU taint, selects its GPU pool, requests whole GPUs, checkpoints to
S3 under its own Job name, and gets `grace_seconds` after SIGTERM to write a checkpoint before a
spot reclaim (the trainer exits 143 and the Job's next pod resumes with --resume). Disruptions do
not count against the retry budget; configuration errors (exit 2) fail the Job at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import _objects as obj
from components.kubernetes._pod import GPU_NODE_LABEL, GPU_TOLERATION, container_security, env, labels, pod_security, resources, tmp_volume
from components.kubernetes.cloud import EKS, ClusterCloud

SUSPENDED_SCHEDULE = "0 0 1 1 *"  # never runs while suspended; the CronJob is a template
TINI = "/usr/bin/tini"  # Debian / Ubuntu package `tini` in the training image (IMAGES.md)
SPOT_NOTICE_SECONDS = 120


@dataclass(frozen=True)
class TrainingArgs:
    namespace: str
    """Training namespace."""
    service_account: str
    """Service account bound to the `training` IAM role."""
    training_image: pulumi.Input[str]
    """Pinned `sahab/training` image (torch, DeepSpeed)."""
    export_image: pulumi.Input[str]
    """Pinned `sahab/export` image (ONNX export, int8)."""
    gpu_pool: str
    """Node label value `sahab.ae/pool` of the GPU pool to run on."""
    checkpoint_prefix: pulumi.Input[str]
    """`s3://bucket/prefix`; each Job checkpoints under `<prefix>/<job name>`."""
    data_path: pulumi.Input[str]
    """`s3://...` training set written by the features job."""
    tracking_uri: pulumi.Input[str]
    """MLflow tracking URI."""
    artifact_location: pulumi.Input[str]
    """MLflow artifact root for new experiments (`s3://...`)."""
    region: str
    """Region of the cloud (named in the variables `cloud.region_variables` lists)."""
    gpus: int = 1
    """GPUs per Job; >1 starts the DeepSpeed launcher with one process per GPU."""
    grace_seconds: int = 110
    """Time to checkpoint after SIGTERM; must fit in the 2-minute spot notice."""
    cpu: str = "8"
    """CPU request (and limit) of the trainer."""
    memory: str = "64Gi"
    """Memory request (and limit) of the trainer."""
    export_cpu: str = "2"
    """CPU request (and limit) of the export Job (any CPU node)."""
    export_memory: str = "8Gi"
    """Memory request (and limit) of the export Job."""
    backoff_limit: int = 6
    """Failed pods (other than disruptions) before the Job gives up."""
    feature_store_uri: pulumi.Input[str] | None = None
    """The Feast offline store and registry (`s3://<offline-features>/feast`) the retrain Job builds
    its training set from; None: it trains on `data_path`."""
    cloud: ClusterCloud = EKS
    """What is cloud-specific under the cluster (region variables, workload identity); from the stack's adapter."""


class Training(pulumi.ComponentResource):
    template_name: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:Training", name, None, opts)
        _validate(args)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace
        sa = obj.service_account(f"{name}-sa", ns, args.service_account, child, annotations=args.cloud.account_annotations(args.service_account))
        after = pulumi.ResourceOptions(parent=self, depends_on=[sa])
        common_env = {
            "SAHAB_MLFLOW_TRACKING_URI": args.tracking_uri,
            "SAHAB_MLFLOW_ARTIFACT_LOCATION": args.artifact_location,
            "SAHAB_HOME": "/tmp/sahab",
            **args.cloud.region_env(args.region),
            "HOME": "/tmp",
        }
        job_name_env = {"name": "SAHAB_JOB_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}}}
        if args.feature_store_uri is not None:
            command = ["python", "-m", "workloads.pipeline", "retrain", "--resume"]
        else:
            command = ["python", "-m", "workloads.training", "--resume"]
        if args.gpus > 1:
            command = ["python", "-m", "workloads.training.launch", "--nproc", str(args.gpus), "--", *command, "--set", "deepspeed.enabled=true"]
        command = [TINI, "--", *command]  # PID 1 that forwards SIGTERM (and reaps)
        feast_env = args.cloud.feast_env(args.feature_store_uri, args.region) if args.feature_store_uri is not None else {}
        train_labels = labels("trainer", "training", **{"sahab.ae/pool": args.gpu_pool}, **args.cloud.pod_labels)
        trainer = {
            "name": "trainer",
            "image": args.training_image,
            "imagePullPolicy": "IfNotPresent",
            "command": command,
            # SAHAB_JOB_NAME first: later values refer to it with $(...).
            "env": [job_name_env]
            + env(
                {
                    **common_env,
                    "SAHAB_TRAIN_CHECKPOINT_URI": pulumi.Output.format("{0}/$(SAHAB_JOB_NAME)", args.checkpoint_prefix),
                    "SAHAB_TRAIN_DATA_PATH": args.data_path,
                    **feast_env,
                    "NCCL_DEBUG": "WARN",
                }
            ),
            "resources": resources(args.cpu, args.memory, gpus=args.gpus),
            "securityContext": container_security(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "shm", "mountPath": "/dev/shm"}],
        }
        self._template(
            f"{name}-retrain",
            ns,
            "retrain",
            train_labels,
            {
                "serviceAccountName": args.service_account,
                "automountServiceAccountToken": False,
                "securityContext": pod_security(),
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": args.grace_seconds,
                "nodeSelector": {**GPU_NODE_LABEL, "sahab.ae/pool": args.gpu_pool},
                "tolerations": [GPU_TOLERATION, *args.cloud.gpu_node_tolerations],
                "containers": [trainer],
                # NCCL and data loaders need shared memory beyond the runtime's 64 MiB default.
                "volumes": [tmp_volume(size="50Gi"), {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}],
            },
            args.backoff_limit,
            after,
            annotations={"karpenter.sh/do-not-disrupt": "true"},  # no consolidation mid-run; spot reclaims still checkpoint
            container="trainer",
        )
        export_labels = labels("export", "export", **args.cloud.pod_labels)
        self._template(
            f"{name}-export",
            ns,
            "export",
            export_labels,
            {
                "serviceAccountName": args.service_account,
                "automountServiceAccountToken": False,
                "securityContext": pod_security(),
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "export",
                        "image": args.export_image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-m", "workloads.export"],
                        "env": env(common_env),
                        "resources": resources(args.export_cpu, args.export_memory),
                        "securityContext": container_security(),
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }
                ],
                "volumes": [tmp_volume(size="20Gi")],
            },
            2,
            after,
            container="export",
        )
        self.template_name = pulumi.Output.from_input("retrain")
        self.register_outputs({"template_name": self.template_name})

    def _template(
        self,
        name: str,
        ns: str,
        job: str,
        pod_labels: dict,
        pod_spec: dict,
        backoff: int,
        opts: pulumi.ResourceOptions,
        *,
        container: str,
        annotations: dict | None = None,
    ) -> k8s.batch.v1.CronJob:
        return k8s.batch.v1.CronJob(
            name,
            metadata={
                "name": job,
                "namespace": ns,
                "labels": pod_labels,
                "annotations": {"sahab.ae/template": "create Jobs with kubectl create job --from=cronjob/" + job},
            },
            spec={
                "schedule": SUSPENDED_SCHEDULE,
                "suspend": True,
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "backoffLimit": backoff,
                        "ttlSecondsAfterFinished": 7 * 86400,
                        "podFailurePolicy": {
                            "rules": [
                                # Spot reclaims and evictions are not the job's fault: retry without counting.
                                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                                # Exit 2 is a configuration error: retrying cannot help.
                                {"action": "FailJob", "onExitCodes": {"containerName": container, "operator": "In", "values": [2]}},
                            ]
                        },
                        "template": {"metadata": {"labels": pod_labels, "annotations": annotations or {}}, "spec": pod_spec},
                    },
                },
            },
            opts=opts,
        )


def _validate(args: TrainingArgs) -> None:
    if not 1 <= args.gpus <= 8:
        raise ValueError(f"gpus: {args.gpus} is outside 1-8 (one node)")
    if not 30 <= args.grace_seconds < SPOT_NOTICE_SECONDS:
        raise ValueError(f"grace_seconds: {args.grace_seconds} must be 30-{SPOT_NOTICE_SECONDS - 1} to checkpoint within the spot notice")
    if not args.gpu_pool:
        raise ValueError("gpu_pool: required (training runs only on a GPU pool)")
    if args.backoff_limit < 0:
        raise ValueError(f"backoff_limit: must be >= 0, got {args.backoff_limit}")
