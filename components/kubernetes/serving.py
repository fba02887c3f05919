"""Serving of one model project: a BentoML Deployment `<project>-serving` whose every pod loads
champion and challenger and routes each key by its sticky hash (the same on every replica, whatever
the replica count or the HPA does), with its HPA and PodDisruptionBudget, spread over zones, ready
on `/readyz`, behind its own Service. Every object is named after the project and labelled with it
(`sahab.ae/project`); its pods read the project from `SAHAB_PROJECT` and run as the project's own
service account (its identity reaches only the project's model versions, prediction log and labels).

Each pod has a second container, the A/B control plane (`python -m workloads.serving.control`,
port 3001: `/feedback`, `/labels`, `/experiment`, `/promote`), behind its own ClusterIP Service and
reachable only from the namespaces named in `control_client_namespaces` (the scoring load balancer
only forwards port 3000), with a bearer token from the `<project>-serving-control-token` Secret
(generated here, mounted as a file); labels it receives go to the project's label store (its Feast root).
Experiment state lives in the platform's Redis (the online store's, under the `sahab:ab:<project>:`
key prefix), its AUTH token read from the secrets service at start by with_secrets.py; the evaluator
CronJob `<project>-evaluator` (`python -m workloads.serving.evaluator --once`, concurrencyPolicy
Forbid) is the project's one decision-maker. The Service is an internal load balancer unless `public` is asked for explicitly,
with source CIDRs.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kubernetes import _objects as obj
from components.kubernetes._pod import SCRIPTS_DIR, container_security, env, labels, pod_security, resources, script_volume, tmp_volume
from components.kubernetes.cloud import ClusterCloud
from components.kubernetes.project import PROJECT_LABEL, ProjectRef

PORT = 3000
CONTROL_PORT = 3001
CONTROL_TOKEN_SECRET = "serving-control-token"  # prefixed by the project: `<project>-serving-control-token`
TOKEN_DIR = "/var/run/sahab/control-token"
# The control plane is a small Starlette app: what it takes is subtracted from the pod's size.
CONTROL_CPU_M, CONTROL_MEMORY_MI = 100, 256


@dataclass(frozen=True, kw_only=True)
class ServingArgs:
    project: ProjectRef
    """The model project served: prefixes and labels every object, `SAHAB_PROJECT` of every container."""
    namespace: str
    """Serving namespace."""
    service_account: str
    """Service account bound to the project's serving identity (components/workloads.py `<project>-serving`)."""
    image: pulumi.Input[str]
    """Pinned `sahab/serving` image (BentoML service `workloads.serving`; the control plane and the
    evaluator run from it too)."""
    tracking_uri: pulumi.Input[str]
    """MLflow registry the service resolves its aliases from."""
    feature_server_url: pulumi.Input[str]
    """The project's Feast feature server URL."""
    region: str
    """Region of the cloud (named in the variables `cloud.region_variables` lists)."""
    vpc_cidr: str
    """Load balancer and node addresses (ingress rule); where Redis lives (egress rule)."""
    node_selector: dict[str, str]
    """Labels of the CPU serving tier."""
    redis_endpoint: pulumi.Input[str] | None = None
    """Host of the platform's Redis (the online store's): the shared experiment state. Required."""
    redis_secret: pulumi.Input[str] | None = None
    """Where with_secrets.py reads the Redis AUTH token (a Secrets Manager ARN, or `env:PREFIX_`). Required."""
    prediction_log_uri: pulumi.Input[str] | None = None
    """`s3://<offline-features>/serving-log/<project>/`: every scored record, for monitoring and retraining; None: no log."""
    feast_uri: pulumi.Input[str] | None = None
    """The project's Feast root (`.../feast/<project>`): the control plane appends labels to its label store; None: local mode."""
    replicas: int = 3
    """Pods at rest (each serves both variants)."""
    max_replicas: int = 12
    """Pods at peak."""
    challenger_weight: float = 0.1
    """Share of keys routed to the challenger; 0 runs the champion only."""
    ab_salt: str = "sahab-ab-1"
    """Base salt of the key hash (each experiment adds its versions); a new one starts a new, independent assignment."""
    allow_promotion: bool = False
    """Let the evaluator and `/promote` move the registry aliases on a decision."""
    evaluator_schedule: str = "*/5 * * * *"
    """Cron schedule of the evaluator's looks."""
    control_client_namespaces: tuple[str, ...] = ()
    """Namespaces (besides serving's own) whose pods may call the control plane."""
    public: bool = False
    """Internet-facing load balancer (explicit opt-in); default internal."""
    public_source_cidrs: tuple[str, ...] = ()
    """Who may reach a public load balancer (required with `public`)."""
    cpu: str = "2"
    """CPU request and limit per pod (whole cores; the model server's share is also onnxruntime's thread count)."""
    memory: str = "4Gi"
    """Memory request and limit per pod (both containers)."""
    cloud: ClusterCloud
    """What is cloud-specific under the cluster (region variables, workload identity); from the stack's adapter (required: no cloud is assumed)."""


def _millicores(cpu: str) -> int:
    return int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)


def _mebibytes(memory: str) -> int:
    for suffix, factor in (("Gi", 1024), ("Mi", 1)):
        if memory.endswith(suffix):
            return int(float(memory[: -len(suffix)]) * factor)
    raise ValueError(f"memory: {memory!r} must be in Gi or Mi")


class Serving(pulumi.ComponentResource):
    service_name: pulumi.Output[str]
    control_service_name: pulumi.Output[str]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:Serving", name, None, opts)
        _validate(args)
        child = pulumi.ResourceOptions(parent=self)
        ns, project = args.namespace, args.project
        app, token_name, scripts_name = project.named("serving"), project.named(CONTROL_TOKEN_SECRET), project.named("serving-scripts")
        sa = obj.service_account(f"{name}-sa", ns, args.service_account, child, annotations=args.cloud.account_annotations(args.service_account))
        scripts = obj.scripts_config_map(f"{name}-scripts", ns, scripts_name, ("with_secrets.py",), child)
        volume, mount = script_volume(scripts_name)
        token = random.RandomPassword(f"{name}-control-token", length=48, special=False, opts=child)
        token_secret = k8s.core.v1.Secret(
            f"{name}-control-token",
            metadata={"name": token_name, "namespace": ns, "labels": labels("serving", "control-plane", **project.labels)},
            type="Opaque",
            string_data={"token": token.result},
            opts=child,
        )
        selector = project.selector("serving")
        pod_labels = labels("serving", "model-server", **project.labels, **args.cloud.pod_labels)
        model_cpu = f"{_millicores(args.cpu) - CONTROL_CPU_M}m"
        model_memory = f"{_mebibytes(args.memory) - CONTROL_MEMORY_MI}Mi"
        threads = str(max(1, math.floor(_millicores(args.cpu) / 1000)))
        ab = {
            **project.env,
            "SAHAB_MLFLOW_TRACKING_URI": args.tracking_uri,
            "SAHAB_SERVING_AB_MODE": "split" if args.challenger_weight > 0 else "off",
            "SAHAB_SERVING_CHALLENGER_WEIGHT": f"{args.challenger_weight:.6g}",
            "SAHAB_SERVING_AB_SALT": args.ab_salt,
            "SAHAB_SERVING_ALLOW_PROMOTION": "true" if args.allow_promotion else "false",
            "SAHAB_HOME": "/tmp/sahab",
            **args.cloud.region_env(args.region),
            "HOME": "/tmp",
        }
        assert args.redis_secret is not None and args.redis_endpoint is not None  # _validate refused None above
        shared_state = args.cloud.ab_state_env(project.name, args.redis_secret, args.redis_endpoint)
        with_secrets = ["python", f"{SCRIPTS_DIR}/with_secrets.py", "python", "-m"]
        model_server = {
            "name": "bentoml",
            "image": args.image,
            "imagePullPolicy": "IfNotPresent",
            # The image's own entrypoint (bentoml containerize) serves the bento on :3000.
            "env": env(
                {
                    **ab,
                    "SAHAB_FEATURE_SERVER_URL": args.feature_server_url,
                    "SAHAB_SERVING_INTRA_OP_THREADS": threads,
                    "SAHAB_SERVING_CPU": threads,
                    "BENTOML_HOME": "/tmp/bentoml",
                    **({"SAHAB_SERVING_PREDICTION_LOG_URI": args.prediction_log_uri} if args.prediction_log_uri is not None else {}),
                }
            ),
            "ports": [{"name": "http", "containerPort": PORT}],
            "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5, "failureThreshold": 3},
            "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"}, "initialDelaySeconds": 20, "periodSeconds": 10},
            "startupProbe": {"httpGet": {"path": "/livez", "port": "http"}, "periodSeconds": 5, "failureThreshold": 60},
            "resources": resources(model_cpu, model_memory),
            "securityContext": container_security(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
        control = {
            "name": "control",
            "image": args.image,
            "imagePullPolicy": "IfNotPresent",
            "command": [*with_secrets, "workloads.serving.control"],
            "env": env(
                {
                    **ab,
                    **shared_state,
                    "SAHAB_SERVING_CONTROL_HOST": "0.0.0.0",
                    "SAHAB_SERVING_CONTROL_PORT": str(CONTROL_PORT),
                    # The token is a file (a mounted Secret), not an environment variable.
                    "SAHAB_SERVING_CONTROL_TOKEN_FILE": f"{TOKEN_DIR}/token",
                    # The label store (/feedback with a label, /labels) under the project's Feast root.
                    **(args.cloud.feast_env(args.feast_uri, args.region) if args.feast_uri is not None else {}),
                }
            ),
            "ports": [{"name": "control", "containerPort": CONTROL_PORT}],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "control"}, "periodSeconds": 10},
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "control"}, "initialDelaySeconds": 20, "periodSeconds": 20},
            "resources": resources(f"{CONTROL_CPU_M}m", f"{CONTROL_MEMORY_MI}Mi"),
            "securityContext": container_security(),
            "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}, {"name": "control-token", "mountPath": TOKEN_DIR, "readOnly": True}],
        }
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": app, "namespace": ns, "labels": pod_labels, "annotations": {"sahab.ae/ab-weight": f"{args.challenger_weight:.3f}"}},
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {
                        "serviceAccountName": args.service_account,
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(),
                        "nodeSelector": dict(args.node_selector),
                        "topologySpreadConstraints": [
                            {
                                "maxSkew": 1,
                                "topologyKey": "topology.kubernetes.io/zone",
                                "whenUnsatisfiable": "DoNotSchedule",
                                "labelSelector": {"matchLabels": selector},
                            },
                            {
                                "maxSkew": 1,
                                "topologyKey": "kubernetes.io/hostname",
                                "whenUnsatisfiable": "ScheduleAnyway",
                                "labelSelector": {"matchLabels": selector},
                            },
                        ],
                        "terminationGracePeriodSeconds": 30,
                        "containers": [model_server, control],
                        "volumes": [
                            volume,
                            tmp_volume(size="4Gi"),
                            {"name": "control-token", "secret": {"secretName": token_name, "defaultMode": 0o440}},
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sa, scripts, token_secret], ignore_changes=["spec.replicas"]),  # the HPA owns replicas
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata={"name": app, "namespace": ns, "labels": labels("serving", "model-server", **project.labels)},
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment.metadata["name"]},
                "minReplicas": args.replicas,
                "maxReplicas": args.max_replicas,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
            },
            opts=child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata={"name": app, "namespace": ns, "labels": labels("serving", "model-server", **project.labels)},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            opts=child,
        )
        evaluator_labels = labels("serving-evaluator", "ab-evaluator", **project.labels, **args.cloud.pod_labels)
        k8s.batch.v1.CronJob(
            f"{name}-evaluator",
            metadata={"name": project.named("evaluator"), "namespace": ns, "labels": evaluator_labels},
            spec={
                "schedule": args.evaluator_schedule,
                "concurrencyPolicy": "Forbid",  # one decision-maker: never two looks at once
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 1,
                        "activeDeadlineSeconds": 600,
                        "template": {
                            "metadata": {"labels": evaluator_labels},
                            "spec": {
                                "serviceAccountName": args.service_account,
                                "automountServiceAccountToken": False,
                                "securityContext": pod_security(),
                                "nodeSelector": dict(args.node_selector),
                                "restartPolicy": "Never",
                                "containers": [
                                    {
                                        "name": "evaluator",
                                        "image": args.image,
                                        "imagePullPolicy": "IfNotPresent",
                                        "command": [*with_secrets, "workloads.serving.evaluator", "--once"],
                                        "env": env({**ab, **shared_state}),
                                        "resources": resources("250m", "512Mi"),
                                        "securityContext": container_security(),
                                        "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}],
                                    }
                                ],
                                "volumes": [volume, tmp_volume(size="1Gi")],
                            },
                        },
                    }
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sa, scripts]),
        )
        if args.public:
            annotations = {**args.cloud.public_lb_annotations, "sahab.ae/public": "explicitly allowed by kubernetes.serving.allow_public"}
            source_ranges = list(args.public_source_cidrs)
        else:
            annotations, source_ranges = dict(args.cloud.internal_lb_annotations), [args.vpc_cidr]
        svc = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": app, "namespace": ns, "labels": labels("serving", "model-server", **project.labels), "annotations": annotations},
            spec={
                "type": "LoadBalancer",
                "selector": selector,
                # Only the scoring port: the control plane is never behind the load balancer.
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
                "loadBalancerSourceRanges": source_ranges,
                "externalTrafficPolicy": "Local",
            },
            opts=child,
        )
        control_svc = k8s.core.v1.Service(
            f"{name}-control-service",
            metadata={"name": project.named("serving-control"), "namespace": ns, "labels": labels("serving", "control-plane", **project.labels)},
            spec={"type": "ClusterIP", "selector": selector, "ports": [{"name": "control", "port": CONTROL_PORT, "targetPort": "control", "protocol": "TCP"}]},
            opts=child,
        )
        peers = [{"ipBlock": {"cidr": c}} for c in ([args.vpc_cidr] + (list(args.public_source_cidrs) if args.public else []))]
        redis_egress = [{"to": [{"ipBlock": {"cidr": args.vpc_cidr}}], "ports": [{"protocol": "TCP", "port": args.cloud.redis_port}]}]
        obj.network_policy(
            f"{name}-netpol", ns, app, selector, child, ingress=[{"from": peers, "ports": [{"protocol": "TCP", "port": PORT}]}], egress=redis_egress
        )
        obj.network_policy(
            f"{name}-control-netpol",
            ns,
            project.named("serving-control"),
            selector,
            child,
            # Its own pods in the serving namespace (never another project's), and the client namespaces.
            ingress=[
                {
                    "from": [{**peer, "podSelector": {"matchLabels": {PROJECT_LABEL: project.name}}} for peer in obj.from_namespaces(ns)]
                    + obj.from_namespaces(*args.control_client_namespaces),
                    "ports": [{"protocol": "TCP", "port": CONTROL_PORT}],
                }
            ],
        )
        obj.network_policy(f"{name}-evaluator-netpol", ns, project.named("evaluator"), project.selector("serving-evaluator"), child, egress=redis_egress)
        self.service_name = svc.metadata["name"]
        self.control_service_name = control_svc.metadata["name"]
        self.register_outputs({"service_name": self.service_name, "control_service_name": self.control_service_name})


def _validate(args: ServingArgs) -> None:
    if args.replicas < 2:
        raise ValueError(f"replicas: at least 2 to survive a node or zone loss, got {args.replicas}")
    if args.max_replicas < args.replicas:
        raise ValueError(f"max_replicas: {args.max_replicas} is below replicas {args.replicas}")
    if not 0 <= args.challenger_weight <= 0.5:
        raise ValueError(f"challenger_weight: {args.challenger_weight} must be in [0, 0.5]")
    if not args.node_selector:
        raise ValueError("node_selector: serving must be pinned to the CPU serving tier")
    if args.public:
        if not args.public_source_cidrs:
            raise ValueError("public_source_cidrs: a public load balancer needs the CIDRs allowed to reach it")
        for cidr in args.public_source_cidrs:
            if ipaddress.ip_network(cidr, strict=False).prefixlen == 0:
                raise ValueError(f"public_source_cidrs: {cidr} opens serving to the whole internet")
    elif args.public_source_cidrs:
        raise ValueError("public_source_cidrs: only meaningful with public=True")
    if len(args.evaluator_schedule.split()) != 5:
        raise ValueError(f"evaluator_schedule: {args.evaluator_schedule!r} is not a 5-field cron expression")
    if _millicores(args.cpu) < 1000 or _mebibytes(args.memory) < 1024:
        raise ValueError(f"cpu/memory: a serving pod needs at least 1 CPU and 1Gi (both variants and the control plane), got {args.cpu} / {args.memory}")
    if args.redis_endpoint is None or args.redis_secret is None:
        raise ValueError(
            "redis_endpoint, redis_secret: the control plane and the evaluator share the experiment state in the "
            "platform's Redis; pass the online store's endpoint and AUTH secret"
        )
