"""Serving: one BentoML Deployment per variant (champion, challenger) on the CPU tier, each with
its HPA and PodDisruptionBudget, spread over zones, ready on `/readyz`, behind one Service.

The A/B weight splits replicas (and therefore requests, kube-proxy balancing evenly over ready
pods) between the variants; each variant serves its own registry alias. The Service is an
internal load balancer unless `public` is asked for explicitly, with source CIDRs.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import _objects as obj
from components.kubernetes.cloud import EKS, ClusterCloud
from components.kubernetes._pod import container_security, env, labels, pod_security, resources, tmp_volume

PORT = 3000
VARIANTS = ("champion", "challenger")


@dataclass(frozen=True)
class ServingArgs:
    namespace: str
    """Serving namespace."""
    service_account: str
    """Service account bound to the `serving` IAM role."""
    image: pulumi.Input[str]
    """Pinned `sahab/serving` image (BentoML service `workloads.serving`)."""
    tracking_uri: pulumi.Input[str]
    """MLflow registry the service resolves its alias from."""
    feature_server_url: pulumi.Input[str]
    """Feast feature server URL."""
    region: str
    """Region of the cloud (named in the variables `cloud.region_variables` lists)."""
    vpc_cidr: str
    """Load balancer and node addresses (ingress rule)."""
    node_selector: dict[str, str]
    """Labels of the CPU serving tier."""
    replicas: int = 3
    """Pods of both variants at rest."""
    max_replicas: int = 12
    """Pods of both variants at peak."""
    challenger_weight: float = 0.1
    """Share of traffic (and pods) for the challenger; 0 runs the champion only."""
    public: bool = False
    """Internet-facing load balancer (explicit opt-in); default internal."""
    public_source_cidrs: tuple[str, ...] = ()
    """Who may reach a public load balancer (required with `public`)."""
    cpu: str = "2"
    """CPU request and limit per pod (also onnxruntime's thread count)."""
    memory: str = "4Gi"
    """Memory request and limit per pod."""
    cloud: ClusterCloud = EKS
    """What is cloud-specific under the cluster (region variables, workload identity); from the stack's adapter."""


def split(total: int, weight: float) -> dict[str, int]:
    """Pods per variant for `total` pods and the challenger's `weight` (champion keeps >= 2)."""
    if weight <= 0:
        return {"champion": max(2, total)}
    challenger = max(1, round(total * weight))
    return {"champion": max(2, total - challenger), "challenger": challenger}


class Serving(pulumi.ComponentResource):
    service_name: pulumi.Output[str]

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:Serving", name, None, opts)
        _validate(args)
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace
        sa = obj.service_account(f"{name}-sa", ns, args.service_account, child, annotations=args.cloud.account_annotations(args.service_account))
        at_rest, at_peak = split(args.replicas, args.challenger_weight), split(args.max_replicas, args.challenger_weight)
        selector = {"app.kubernetes.io/name": "serving"}
        threads = str(max(1, math.floor(float(args.cpu))))
        for variant, replicas in at_rest.items():
            other = "challenger" if variant == "champion" else "champion"
            vlabels = labels("serving", "model-server", **{"sahab.ae/variant": variant}, **args.cloud.pod_labels)
            vselector = {**selector, "sahab.ae/variant": variant}
            weight = args.challenger_weight if variant == "challenger" else 1 - args.challenger_weight
            deployment = k8s.apps.v1.Deployment(
                f"{name}-{variant}",
                metadata={"name": f"serving-{variant}", "namespace": ns, "labels": vlabels, "annotations": {"sahab.ae/ab-weight": f"{weight:.3f}"}},
                spec={
                    "replicas": replicas,
                    "selector": {"matchLabels": vselector},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                    "template": {
                        "metadata": {"labels": vlabels},
                        "spec": {
                            "serviceAccountName": args.service_account,
                            "automountServiceAccountToken": False,
                            "securityContext": pod_security(),
                            "nodeSelector": dict(args.node_selector),
                            "topologySpreadConstraints": [
                                {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": vselector}},
                                {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": vselector}},
                            ],
                            "terminationGracePeriodSeconds": 30,
                            "containers": [
                                {
                                    "name": "bentoml",
                                    "image": args.image,
                                    "imagePullPolicy": "IfNotPresent",
                                    # The image's own entrypoint (bentoml containerize) serves the bento on :3000.
                                    "env": env(
                                        {
                                            "SAHAB_MLFLOW_TRACKING_URI": args.tracking_uri,
                                            "SAHAB_FEATURE_SERVER_URL": args.feature_server_url,
                                            # Each Deployment serves one variant; the split is done by replicas.
                                            "SAHAB_SERVING_AB_MODE": "off",
                                            "SAHAB_SERVING_CHAMPION_ALIAS": variant,
                                            "SAHAB_SERVING_CHALLENGER_ALIAS": other,
                                            "SAHAB_SERVING_INTRA_OP_THREADS": threads,
                                            "SAHAB_SERVING_CPU": args.cpu,
                                            "SAHAB_HOME": "/tmp/sahab",
                                            "BENTOML_HOME": "/tmp/bentoml",
                                            **args.cloud.region_env(args.region),
                                            "HOME": "/tmp",
                                        }
                                    ),
                                    "ports": [{"name": "http", "containerPort": PORT}],
                                    "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5, "failureThreshold": 3},
                                    "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"}, "initialDelaySeconds": 20, "periodSeconds": 10},
                                    "startupProbe": {"httpGet": {"path": "/livez", "port": "http"}, "periodSeconds": 5, "failureThreshold": 60},
                                    "resources": resources(args.cpu, args.memory),
                                    "securityContext": container_security(),
                                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                                }
                            ],
                            "volumes": [tmp_volume(size="4Gi")],
                        },
                    },
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[sa], ignore_changes=["spec.replicas"]),  # the HPA owns replicas
            )
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-{variant}-hpa",
                metadata={"name": f"serving-{variant}", "namespace": ns},
                spec={
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": deployment.metadata["name"]},
                    "minReplicas": replicas,
                    "maxReplicas": max(replicas, at_peak[variant]),
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
                },
                opts=child,
            )
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{variant}-pdb",
                metadata={"name": f"serving-{variant}", "namespace": ns},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": vselector}},
                opts=child,
            )
        if args.public:
            annotations = {**args.cloud.public_lb_annotations, "sahab.ae/public": "explicitly allowed by kubernetes.serving.allow_public"}
            source_ranges = list(args.public_source_cidrs)
        else:
            annotations, source_ranges = dict(args.cloud.internal_lb_annotations), [args.vpc_cidr]
        svc = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "serving", "namespace": ns, "labels": labels("serving", "model-server"), "annotations": annotations},
            spec={
                "type": "LoadBalancer",
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
                "loadBalancerSourceRanges": source_ranges,
                "externalTrafficPolicy": "Local",
            },
            opts=child,
        )
        peers = [{"ipBlock": {"cidr": c}} for c in ([args.vpc_cidr] + (list(args.public_source_cidrs) if args.public else []))]
        obj.network_policy(f"{name}-netpol", ns, "serving", selector, child, ingress=[{"from": peers, "ports": [{"protocol": "TCP", "port": PORT}]}])
        self.service_name = svc.metadata["name"]
        self.register_outputs({"service_name": self.service_name})


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
