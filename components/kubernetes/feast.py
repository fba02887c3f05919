"""Feast of one model project: its feature server `<project>-feature-server` (online features from the
platform's Redis) and the materialization CronJob `<project>-feast-materialize` that loads its
offline store (Parquet under its Feast root) into Redis. `python -m workloads.features` serves the
one project `SAHAB_PROJECT` names (its Feast project, feature views and feature service), so each
project has its own server; the Redis is shared (keys are per Feast project). The Redis AUTH token
is read from the secrets service at start with the project's `features` identity. Only the
project's own pods (serving, training) and its team's namespace may call its server."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import _objects as obj
from components.kubernetes._pod import SCRIPTS_DIR, container_security, env, labels, pod_security, resources, script_volume, tmp_volume
from components.kubernetes.cloud import ClusterCloud
from components.kubernetes.project import PROJECT_LABEL, ProjectRef

PORT = 6566


@dataclass(frozen=True, kw_only=True)
class FeatureStoreArgs:
    project: ProjectRef
    """The model project whose features are served: prefixes and labels every object, `SAHAB_PROJECT` of its pods."""
    namespace: str
    """Namespace (the platform namespace)."""
    service_account: str
    """Service account bound to the project's features identity (components/workloads.py `<project>-features`)."""
    image: pulumi.Input[str]
    """Pinned `sahab/features` image."""
    redis_endpoint: pulumi.Input[str]
    """Primary endpoint host of the online store (TLS, AUTH)."""
    redis_secret: pulumi.Input[str]
    """Secrets Manager ARN of the Redis AUTH token."""
    offline_uri: pulumi.Input[str]
    """The project's Feast root (`s3://bucket/feast/<project>`): its offline store and registry."""
    region: str
    """AWS region (must be in the UAE; the features workload refuses others)."""
    vpc_cidr: str
    """Where Redis lives (egress rule)."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces whose every pod may read online features (the project's team)."""
    project_client_namespaces: tuple[str, ...] = ()
    """Namespaces whose pods of this project (label `sahab.ae/project`) may read them (serving, training)."""
    materialize_schedule: str = "*/30 * * * *"
    """Cron schedule of materialization."""
    replicas: int = 2
    """Feature server replicas."""
    cloud: ClusterCloud
    """What is cloud-specific under the cluster (region variables, workload identity); from the stack's adapter (required: no cloud is assumed)."""


class FeatureStore(pulumi.ComponentResource):
    url: pulumi.Output[str]

    def __init__(self, name: str, args: FeatureStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:FeatureStore", name, None, opts)
        if args.replicas < 1:
            raise ValueError(f"replicas: must be >= 1, got {args.replicas}")
        if not args.client_namespaces and not args.project_client_namespaces:
            raise ValueError("client_namespaces, project_client_namespaces: name who may read the features (an empty `from` would admit every pod)")
        if len(args.materialize_schedule.split()) != 5:
            raise ValueError(f"materialize_schedule: {args.materialize_schedule!r} is not a 5-field cron expression")
        child = pulumi.ResourceOptions(parent=self)
        ns, project = args.namespace, args.project
        server, materialize, scripts_name = project.named("feature-server"), project.named("feast-materialize"), project.named("feast-scripts")
        sa = obj.service_account(f"{name}-sa", ns, args.service_account, child, annotations=args.cloud.account_annotations(args.service_account))
        scripts = obj.scripts_config_map(f"{name}-scripts", ns, scripts_name, ("with_secrets.py",), child)
        volume, mount = script_volume(scripts_name)
        after = pulumi.ResourceOptions(parent=self, depends_on=[sa, scripts])
        variables = env(
            {
                **project.env,
                **args.cloud.feast_env(args.offline_uri, args.region),
                "SAHAB_FEAST_REGION": args.region,
                "SAHAB_HOME": "/tmp/sahab",
                **args.cloud.region_env(args.region),
                "SAHAB_SECRET_ENV": pulumi.Output.json_dumps(
                    {
                        "SAHAB_FEAST_REDIS_URL": {
                            "arn": args.redis_secret,
                            "template": pulumi.Output.format(
                                "{0}:{1},ssl=true,password={{" + args.cloud.redis_secret_field + "}}", args.redis_endpoint, args.cloud.redis_port
                            ),
                        }
                    }
                ),
            }
        )

        def container(name: str, argv: list[str], res: dict, **extra) -> dict:
            return {
                "name": name,
                "image": args.image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python", f"{SCRIPTS_DIR}/with_secrets.py", "python", "-m", "workloads.features"],
                "args": argv,
                "env": variables,
                "resources": res,
                "securityContext": container_security(),
                "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}],
                **extra,
            }

        def pod(containers: list[dict], **extra) -> dict:
            return {
                "serviceAccountName": args.service_account,
                "automountServiceAccountToken": False,
                "securityContext": pod_security(),
                "containers": containers,
                "volumes": [volume, tmp_volume(size="4Gi")],
                **extra,
            }

        server_labels = labels("feature-server", "online-features", **project.labels, **args.cloud.pod_labels)
        selector = project.selector("feature-server")
        probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10}
        k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata={"name": server, "namespace": ns, "labels": server_labels},
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": server_labels},
                    "spec": pod(
                        [
                            container(
                                "feature-server",
                                ["serve", "--host", "0.0.0.0", "--port", str(PORT)],
                                resources("250m", "1Gi", cpu_limit="1", memory_limit="1Gi"),
                                ports=[{"name": "http", "containerPort": PORT}],
                                readinessProbe=probe,
                                livenessProbe={**probe, "initialDelaySeconds": 30},
                            )
                        ],
                        topologySpreadConstraints=[
                            {
                                "maxSkew": 1,
                                "topologyKey": "topology.kubernetes.io/zone",
                                "whenUnsatisfiable": "ScheduleAnyway",
                                "labelSelector": {"matchLabels": selector},
                            }
                        ],
                    ),
                },
            },
            opts=after,
        )
        svc = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": server, "namespace": ns, "labels": server_labels},
            spec={"type": "ClusterIP", "selector": selector, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
            opts=child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata={"name": server, "namespace": ns, "labels": project.labels},
            spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            opts=child,
        )
        job_labels = labels("feast-materialize", "materialization", **project.labels, **args.cloud.pod_labels)
        k8s.batch.v1.CronJob(
            f"{name}-materialize",
            metadata={"name": materialize, "namespace": ns, "labels": job_labels},
            spec={
                "schedule": args.materialize_schedule,
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 600,
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 2,
                        "activeDeadlineSeconds": 3600,
                        "ttlSecondsAfterFinished": 86400,
                        "template": {
                            "metadata": {"labels": job_labels},
                            "spec": pod(
                                [container("materialize", ["materialize"], resources("500m", "2Gi", cpu_limit="2", memory_limit="2Gi"))], restartPolicy="Never"
                            ),
                        },
                    }
                },
            },
            opts=after,
        )
        # Its team's namespace, and only this project's pods of the platform's serving and training namespaces.
        clients = obj.from_namespaces(*args.client_namespaces) + [
            {**peer, "podSelector": {"matchLabels": {PROJECT_LABEL: project.name}}} for peer in obj.from_namespaces(*args.project_client_namespaces)
        ]
        redis_egress = [{"to": [{"ipBlock": {"cidr": args.vpc_cidr}}], "ports": [{"protocol": "TCP", "port": args.cloud.redis_port}]}]
        obj.network_policy(
            f"{name}-server-netpol",
            ns,
            server,
            selector,
            child,
            ingress=[{"from": clients, "ports": [{"protocol": "TCP", "port": PORT}]}],
            egress=redis_egress,
        )
        obj.network_policy(f"{name}-materialize-netpol", ns, materialize, project.selector("feast-materialize"), child, egress=redis_egress)
        self.url = pulumi.Output.format("http://{0}.{1}.svc:{2}", svc.metadata["name"], ns, PORT)
        self.register_outputs({"url": self.url})
