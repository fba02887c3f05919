"""MLflow tracking and model registry server: PostgreSQL (the foundation's RDS) as the backend
store, S3 for artifacts, both reached with the `mlflow` workload's IAM role through EKS Pod
Identity. The database password is read from Secrets Manager at start (scripts/with_secrets.py)
and never stored in Kubernetes."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes import _objects as obj
from components.kubernetes._pod import SCRIPTS_DIR, container_security, env, labels, pod_security, resources, script_volume, tmp_volume
from components.kubernetes.cloud import ClusterCloud

PORT = 5000
# RDS rotates its managed master secret (every 7 days by default) while MLflow reads it once: the
# secrets wrapper re-reads it this often and restarts the server with the new password when it
# changed (existing connections survive a password change; new ones need the new one).
SECRET_REFRESH_SECONDS = 60
_ABFSS = re.compile(r"abfss://(?P<container>[^@/]+)@(?P<account>[^./]+)\.dfs\.core\.windows\.net(?P<path>/.*)?")


def artifact_uri(uri: str) -> str:
    """MLflow's spelling of an object-store URI. Azure's `abfss://<container>@<account>.dfs.core.windows.net/<path>`
    (stacks/cloud.py) becomes `wasbs://<container>@<account>.blob.core.windows.net/<path>`, the same blobs through
    the Blob endpoint: MLflow's AzureBlobArtifactRepository (azure-storage-blob; AZURE_STORAGE_CONNECTION_STRING,
    else azure-identity's DefaultAzureCredential, i.e. workload identity on AKS), where its abfss:// store would
    need the Data Lake SDK too (checked: mlflow 3.17.2 mlflow/store/artifact/azure_blob_artifact_repo.py and
    artifact_repository_registry.py). s3:// and the rest stay as they are."""
    match = _ABFSS.fullmatch(uri)
    if match is None:
        return uri
    return f"wasbs://{match['container']}@{match['account']}.blob.core.windows.net{match['path'] or ''}"


def allowed_hosts(service: str, namespace: str, port: int = PORT) -> list[str]:
    """The Host headers MLflow (>= 3.5 checks them; the default admits only localhost and private
    IPs) must accept: every in-cluster DNS name of its Service, with and without the port. Health
    probes are exempt (mlflow/server/security_utils.py is_health_endpoint)."""
    names = [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]
    return [h for n in names for h in (n, f"{n}:{port}")]


@dataclass(frozen=True, kw_only=True)
class MlflowArgs:
    namespace: str
    """Namespace (the platform namespace)."""
    service_account: str
    """Service account bound to the `mlflow` IAM role (components/workloads.py)."""
    image: pulumi.Input[str]
    """Pinned MLflow image from the in-region registry."""
    database_endpoint: pulumi.Input[str]
    """`host:port` of the registry PostgreSQL."""
    database_secret: pulumi.Input[str]
    """Secrets Manager ARN of the database credentials (JSON with username, password)."""
    artifact_root: pulumi.Input[str]
    """`s3://bucket/prefix` (or `wasbs://container@account.blob.core.windows.net/prefix`, see `artifact_uri`)
    for run artifacts and registered models."""
    region: str
    """AWS region (S3 and Secrets Manager clients)."""
    vpc_cidr: str
    """Where the database lives (egress rule)."""
    client_namespaces: tuple[str, ...] = ()
    """Namespaces whose pods may call the server."""
    replicas: int = 2
    """Server replicas (stateless; spread over nodes)."""
    cloud: ClusterCloud
    """What is cloud-specific under the cluster (region variables, workload identity); from the stack's adapter (required: no cloud is assumed)."""


class Mlflow(pulumi.ComponentResource):
    tracking_uri: pulumi.Output[str]

    def __init__(self, name: str, args: MlflowArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:kubernetes:Mlflow", name, None, opts)
        if args.replicas < 1:
            raise ValueError(f"replicas: must be >= 1, got {args.replicas}")
        if not args.service_account:
            raise ValueError("service_account: required (Pod Identity binds the IAM role to it)")
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace
        app = labels("mlflow", "tracking-server", **args.cloud.pod_labels)
        selector = {"app.kubernetes.io/name": "mlflow"}
        sa = obj.service_account(f"{name}-sa", ns, args.service_account, child, annotations=args.cloud.account_annotations(args.service_account))
        scripts = obj.scripts_config_map(f"{name}-scripts", ns, "mlflow-scripts", ("with_secrets.py",), child)
        volume, mount = script_volume("mlflow-scripts")
        secret_env = pulumi.Output.json_dumps(
            {
                "MLFLOW_BACKEND_STORE_URI": {
                    "arn": args.database_secret,
                    "template": pulumi.Output.format("postgresql://{{username_url}}:{{password_url}}@{0}/mlflow?sslmode=require", args.database_endpoint),
                }
            }
        )
        k8s.apps.v1.Deployment(
            f"{name}-server",
            metadata={"name": "mlflow", "namespace": ns, "labels": app},
            spec={
                "replicas": args.replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": app},
                    "spec": {
                        "serviceAccountName": args.service_account,
                        "automountServiceAccountToken": False,
                        "securityContext": pod_security(),
                        "topologySpreadConstraints": [
                            {
                                "maxSkew": 1,
                                "topologyKey": "topology.kubernetes.io/zone",
                                "whenUnsatisfiable": "ScheduleAnyway",
                                "labelSelector": {"matchLabels": selector},
                            }
                        ],
                        "containers": [
                            {
                                "name": "mlflow",
                                "image": args.image,
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["python", f"{SCRIPTS_DIR}/with_secrets.py", "mlflow", "server"],
                                "args": ["--host", "0.0.0.0", "--port", str(PORT), "--serve-artifacts", "--workers", "2"],
                                "env": env(
                                    {
                                        "SAHAB_SECRET_ENV": secret_env,
                                        "SAHAB_SECRET_REFRESH_SECONDS": str(SECRET_REFRESH_SECONDS),
                                        # The variable of `mlflow server --allowed-hosts` (checked: mlflow 3.17.2
                                        # mlflow/utils/cli_args.py ALLOWED_HOSTS envvar); releases before 3.5 ignore it.
                                        "MLFLOW_SERVER_ALLOWED_HOSTS": ",".join(allowed_hosts("mlflow", ns)),
                                        "MLFLOW_ARTIFACTS_DESTINATION": args.artifact_root,
                                        **args.cloud.region_env(args.region),
                                        "HOME": "/tmp",
                                    }
                                ),
                                "ports": [{"name": "http", "containerPort": PORT}],
                                "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10},
                                "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "initialDelaySeconds": 30, "periodSeconds": 20},
                                "resources": resources("250m", "1Gi", cpu_limit="1", memory_limit="1Gi"),
                                "securityContext": container_security(),
                                "volumeMounts": [mount, {"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [volume, tmp_volume()],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[sa, scripts]),
        )
        svc = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "mlflow", "namespace": ns, "labels": app},
            spec={"type": "ClusterIP", "selector": selector, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
            opts=child,
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb", metadata={"name": "mlflow", "namespace": ns}, spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}}, opts=child
        )
        obj.network_policy(
            f"{name}-netpol",
            ns,
            "mlflow",
            selector,
            child,
            ingress=[{"from": obj.from_namespaces(*args.client_namespaces), "ports": [{"protocol": "TCP", "port": PORT}]}],
            egress=[{"to": [{"ipBlock": {"cidr": args.vpc_cidr}}], "ports": [{"protocol": "TCP", "port": 5432}]}],
        )
        self.tracking_uri = pulumi.Output.format("http://{0}.{1}.svc:{2}", svc.metadata["name"], ns, PORT)
        self.register_outputs({"tracking_uri": self.tracking_uri})
