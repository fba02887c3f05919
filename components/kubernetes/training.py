"""Training of one model project: the `<project>-retrain` Job template (a suspended CronJob: `kubectl
create job --from=cronjob/<project>-retrain`, or the project's monitoring trigger) and the
`<project>-export` template that re-exports a registered version as ONNX.

The retrain Job runs `python -m workloads.pipeline retrain --resume` for the project its pods name
in `SAHAB_PROJECT`: ingest (the project's prediction log and sources into its Feast root), the
training set frozen per run key, the project's training function, export, evaluation on the common
holdout and registration. The run key is the Job's name unless the trigger sets one
(`SAHAB_RETRAIN_KEY`), so every pod of one Job, a spot reclaim's retry included, resumes the same
frozen frames and checkpoints under `<checkpoint root>/<run key>`. It asks the A/B store (the
online store's Redis) whether an experiment runs before it names a challenger.

A project that trains on GPUs (`gpu_pool`): the pod tolerates the GPU taint, selects its GPU pool,
requests whole GPUs, and gets `grace_seconds` after SIGTERM to checkpoint before a spot reclaim
(the trainer exits 143 and the Job's next pod resumes). PID 1 is `tini`, which forwards SIGTERM;
with several GPUs it starts `workloads.training.launch`, which forwards SIGTERM to every rank and
waits for their checkpoints (the `deepspeed` launcher kills its ranks 30 s after SIGTERM). A
project that trains on CPUs (LightGBM, XGBoost, sklearn, or torch where the environment has no
GPUs) selects the CPU nodes `node_selector` names. Disruptions do not count against the retry
budget; configuration errors (exit 2) fail the Job at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import _objects as obj
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

SUSPENDED_SCHEDULE = "0 0 1 1 *"  # never runs while suspended; the CronJob is a template
TINI = "/usr/bin/tini"  # Debian / Ubuntu package `tini` in the training image (IMAGES.md)
SPOT_NOTICE_SECONDS = 120


@dataclass(frozen=True, kw_only=True)
class TrainingArgs:
    project: ProjectRef
    """The model project trained: prefixes and labels every object, `SAHAB_PROJECT` of every container."""
    namespace: str
    """Training namespace."""
    service_account: str
    """Service account bound to the project's training identity (components/workloads.py `<project>-training`)."""
    training_image: pulumi.Input[str]
    """Pinned `sahab/training` image (torch, DeepSpeed, LightGBM, XGBoost, sklearn)."""
    export_image: pulumi.Input[str]
    """Pinned `sahab/export` image (ONNX export, int8)."""
    checkpoint_prefix: pulumi.Input[str]
    """The project's checkpoint root (`.../checkpoints/<project>`); the pipeline writes each run under `<root>/<run key>`."""
    feature_store_uri: pulumi.Input[str]
    """The project's Feast root (`.../feast/<project>`): offline store, labels, frozen training sets."""
    prediction_log_uri: pulumi.Input[str]
    """The project's prediction log (`.../serving-log/<project>/`), ingested before each training."""
    tracking_uri: pulumi.Input[str]
    """MLflow tracking URI."""
    artifact_location: pulumi.Input[str]
    """The project's MLflow artifact location (`.../mlflow/<project>`): where its experiment keeps runs and model versions."""
    region: str
    """Region of the cloud (named in the variables `cloud.region_variables` lists)."""
    vpc_cidr: str
    """Where the online store's Redis lives (egress rule: the pipeline reads the A/B state)."""
    redis_endpoint: pulumi.Input[str]
    """Host of the platform's Redis (the A/B store the pipeline asks whether an experiment runs)."""
    redis_secret: pulumi.Input[str]
    """Where with_secrets.py reads the Redis AUTH token (a Secrets Manager ARN, Key Vault secret id or `env:PREFIX_`)."""
    gpu_pool: str | None = None
    """Node label value `sahab.ae/pool` of the GPU pool to run on; None: CPU nodes (`node_selector`)."""
    node_selector: dict[str, str] = field(default_factory=dict)
    """Labels of the CPU nodes a CPU-trained project runs on (required without `gpu_pool`)."""
    gpus: int = 0
    """GPUs per Job (with `gpu_pool`); >1 starts the DeepSpeed launcher with one process per GPU."""
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
    cloud: ClusterCloud
    """What is cloud-specific under the cluster (region variables, workload identity); from the stack's adapter (required: no cloud is assumed)."""


class Training(pulumi.ComponentResource):
    template_name: pulumi.Output[str]

    def __init__(self, name: str, args: TrainingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:Training", name, None, opts)
        _validate(args)
        child = pulumi.ResourceOptions(parent=self)
        ns, project = args.namespace, args.project
        retrain, scripts_name = project.named("retrain"), project.named("training-scripts")
        sa = obj.service_account(f"{name}-sa", ns, args.service_account, child, annotations=args.cloud.account_annotations(args.service_account))
        scripts = obj.scripts_config_map(f"{name}-scripts", ns, scripts_name, ("with_secrets.py",), child)
        volume, mount = script_volume(scripts_name)
        after = pulumi.ResourceOptions(parent=self, depends_on=[sa, scripts])
        common_env = {
            **project.env,
            "SAHAB_MLFLOW_TRACKING_URI": args.tracking_uri,
            "SAHAB_MLFLOW_ARTIFACT_LOCATION": args.artifact_location,
            "SAHAB_HOME": "/tmp/sahab",
            **args.cloud.region_env(args.region),
            "HOME": "/tmp",
        }
        job_name_env = {"name": "SAHAB_JOB_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['batch.kubernetes.io/job-name']"}}}
        command = ["python", "-m", "workloads.pipeline", "retrain", "--resume"]
        if args.gpus > 1:
            command = ["python", "-m", "workloads.training.launch", "--nproc", str(args.gpus), "--", *command, "--set", "deepspeed.enabled=true"]
        # PID 1 that forwards SIGTERM (and reaps); with_secrets.py replaces itself with the command (exec).
        command = [TINI, "--", "python", f"{SCRIPTS_DIR}/with_secrets.py", *command]
        train_labels = labels("trainer", "training", **project.labels, **({"sahab.ae/pool": args.gpu_pool} if args.gpu_pool else {}), **args.cloud.pod_labels)
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
                    "SAHAB_TRAIN_CHECKPOINT_URI": args.checkpoint_prefix,
                    # One run key per Job, so every pod of it (a reclaimed one's retry) resumes the same run; the
                    # monitoring trigger replaces it with the episode's key (scripts/retrain_trigger.py).
                    "SAHAB_RETRAIN_KEY": "$(SAHAB_JOB_NAME)",
                    **args.cloud.feast_env(args.feature_store_uri, args.region),
                    "SAHAB_SERVING_PREDICTION_LOG_URI": args.prediction_log_uri,
                    **args.cloud.ab_state_env(project.name, args.redis_secret, args.redis_endpoint),
                    **({"NCCL_DEBUG": "WARN"} if args.gpu_pool else {}),
                }
            ),
            "resources": resources(args.cpu, args.memory, gpus=args.gpus if args.gpu_pool else 0),
            "securityContext": container_security(),
            "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}, {"name": "shm", "mountPath": "/dev/shm"}],
        }
        if args.gpu_pool:
            placement = {"nodeSelector": {**GPU_NODE_LABEL, "sahab.ae/pool": args.gpu_pool}, "tolerations": [GPU_TOLERATION, *args.cloud.gpu_node_tolerations]}
            shm = "16Gi"  # NCCL and data loaders need shared memory beyond the runtime's 64 MiB default
        else:
            placement, shm = {"nodeSelector": dict(args.node_selector)}, "1Gi"
        self._template(
            f"{name}-retrain",
            ns,
            retrain,
            train_labels,
            {
                "serviceAccountName": args.service_account,
                "automountServiceAccountToken": False,
                "securityContext": pod_security(),
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": args.grace_seconds,
                **placement,
                "containers": [trainer],
                "volumes": [volume, tmp_volume(size="50Gi"), {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": shm}}],
            },
            args.backoff_limit,
            after,
            annotations={"karpenter.sh/do-not-disrupt": "true"},  # no consolidation mid-run; spot reclaims still checkpoint
            container="trainer",
        )
        export_labels = labels("export", "export", **project.labels, **args.cloud.pod_labels)
        self._template(
            f"{name}-export",
            ns,
            project.named("export"),
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
        # The pipeline reads the A/B state in the online store's Redis (in the VPC / data subnets).
        redis_egress = [{"to": [{"ipBlock": {"cidr": args.vpc_cidr}}], "ports": [{"protocol": "TCP", "port": args.cloud.redis_port}]}]
        obj.network_policy(f"{name}-retrain-netpol", ns, retrain, project.selector("trainer"), child, egress=redis_egress)
        self.template_name = pulumi.Output.from_input(retrain)
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
    if not 0 <= args.gpus <= 8:
        raise ValueError(f"gpus: {args.gpus} is outside 0-8 (one node)")
    if args.gpu_pool and args.gpus < 1:
        raise ValueError(f"gpus: training on the GPU pool {args.gpu_pool!r} needs at least 1 GPU (or no gpu_pool: CPU nodes)")
    if not args.gpu_pool and args.gpus:
        raise ValueError(f"gpu_pool: {args.gpus} GPUs asked for but no GPU pool named (training runs on a GPU pool's nodes)")
    if not args.gpu_pool and not args.node_selector:
        raise ValueError("node_selector: a project trained on CPUs must be pinned to CPU nodes (or name a gpu_pool)")
    if not 30 <= args.grace_seconds < SPOT_NOTICE_SECONDS:
        raise ValueError(f"grace_seconds: {args.grace_seconds} must be 30-{SPOT_NOTICE_SECONDS - 1} to checkpoint within the spot notice")
    if args.backoff_limit < 0:
        raise ValueError(f"backoff_limit: must be >= 0, got {args.backoff_limit}")
