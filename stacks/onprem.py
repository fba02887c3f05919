"""`cloud: kubernetes`: the platform layer on an existing conformant cluster (k3s on a server in the
customer's premises is the reference), from its kubeconfig.

There is no cloud layer to build: the cluster, its nodes and its disks are the customer's. What a
cloud would provide runs in the cluster instead (components/kubernetes/data_services.py):
PostgreSQL for MLflow, Redis for the Feast online store and an S3-compatible object store, on
volumes of the platform's StorageClass (the customer's provisioner). Images come from the registry
the customer names; nothing leaves the cluster, which is how residency holds by construction.
`sahab preflight` checks the minimum hardware (`onprem.minimum`) before a long install.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pulumi

from components.kubernetes.cloud import ClusterCloud
from components.kubernetes.data_services import ONLINE_STORE_ENV, REGISTRY_DB_ENV, DataServicesArgs, InClusterDataServices, workload_env
from components.workloads import NAMESPACES, platform_workloads, team_namespace
from stacks.capacity import Allocatable, declared_node
from stacks.cloud import CloudPlatform
from stacks.spec import KubernetesPlatformSpec

DATA_SERVICES_NAMESPACE = NAMESPACES["platform"]
S3_URL = f"http://object-store.{DATA_SERVICES_NAMESPACE}.svc:8333"  # the in-cluster store's Service (data_services.py)


def bucket_names(env: str, projects: tuple[str, ...] = ()) -> dict[str, str]:
    """One bucket per purpose the workloads use (components/workloads.py), named after the environment."""
    # Grants may name a prefix (`experiment-artifacts/mlflow/`): the bucket is its first segment.
    table = platform_workloads(projects)
    purposes = sorted({b.split("/", 1)[0] for w in table for b in (*w.read_buckets, *w.write_buckets)} | {"audit", "data-lake", "offline-features"})
    return {p: f"{env}-{p}" for p in purposes}


def cluster_cloud(spec: KubernetesPlatformSpec) -> ClusterCloud:
    """What the components need to know about an existing cluster."""
    return ClusterCloud(
        name="kubernetes",
        storage_provisioner=spec.onprem.storage_provisioner,
        storage_parameters={},
        storage_key_parameter=None,  # at rest, the nodes' encrypted disks (onprem.disks_encrypted)
        internal_lb_annotations={},  # k3s ServiceLB / MetalLB: a LoadBalancer on the cluster's own network
        public_lb_annotations={},
        # The S3 SDKs sign for a region; the in-cluster store accepts any, so it is the site's name.
        region_variables=("AWS_REGION", "AWS_DEFAULT_REGION"),
        workload_env=workload_env(S3_URL),
        # kube-router judges egress after the `kubernetes` Service's DNAT: the API server is the endpoint
        # itself (onprem.api_server), the kubelets are on the nodes (components/kubernetes/api_access.py).
        api_server_cidrs=(f"{spec.onprem.api_server.address}/{32 if ':' not in spec.onprem.api_server.address else 128}",),
        api_server_port=spec.onprem.api_server.port,
        node_cidrs=spec.onprem.node_cidrs,
    )


@dataclass(frozen=True)
class ClusterAdapter:
    """The `stacks.cloud.CloudAdapter` of an existing cluster: s3:// on the in-cluster store, nothing
    to map (the cluster's own authentication binds users to the platform's groups), no autoscaler,
    every node its share of the declared hardware (`onprem.minimum`)."""

    buckets: dict[str, str]
    cluster: ClusterCloud
    node: Allocatable

    def object_uri(self, purpose: str, prefix: str) -> pulumi.Output[str]:
        return pulumi.Output.from_input(f"s3://{self.buckets[purpose]}/{prefix}")

    def cluster_access(self, spec: KubernetesPlatformSpec) -> None:
        return None  # users are bound to the sahab:* groups in the cluster's own authentication

    def node_autoscaling(self, spec: KubernetesPlatformSpec, k8s_opts: pulumi.ResourceOptions) -> None:
        return None  # the customer's nodes: nothing scales them

    def interruption_metrics(self, spec: KubernetesPlatformSpec) -> bool:
        return False

    def node_allocatable(self, machine_type: str | None) -> Allocatable | None:
        return self.node  # machine types mean nothing here: every node is the declared share


def build_onprem(spec: KubernetesPlatformSpec) -> CloudPlatform[KubernetesPlatformSpec]:
    onprem = spec.onprem
    env, ns = spec.name, DATA_SERVICES_NAMESPACE
    projects = tuple(b.name for b in spec.kubernetes.projects)
    buckets = bucket_names(env, projects)
    # No cloud identities here: each project's pods run as its own service accounts (components/workloads.py),
    # and every workload namespace gets the in-cluster store's credentials.
    table = platform_workloads((b.name, b.team or b.load().spec.team) for b in spec.kubernetes.projects)
    workload_namespaces = sorted(
        {w.namespace for w in table}
        | {NAMESPACES[n] for n in ("platform", "training", "serving", "monitoring")}
        | {team_namespace(t.name) for t in spec.kubernetes.teams}
    )
    data = onprem.data_services

    def data_services(spec: KubernetesPlatformSpec, opts: pulumi.ResourceOptions) -> None:
        InClusterDataServices(
            f"{env}-data",
            DataServicesArgs(
                namespace=ns,
                registry_host=onprem.registry_host,
                storage_class="sahab-encrypted",  # components/kubernetes/tenancy.py STORAGE_CLASS, on the customer's provisioner
                buckets=buckets,
                object_store_clients=tuple(workload_namespaces),
                # Serving's A/B state; training (and the pipelines' steps) and monitoring ask it whether an experiment runs.
                # The team namespaces too: each project's pipeline steps run there (components/kubernetes/workflows.py).
                cache_clients=(
                    NAMESPACES["serving"],
                    NAMESPACES["training"],
                    NAMESPACES["monitoring"],
                    *(team_namespace(t.name) for t in spec.kubernetes.teams),
                ),
                postgres_storage_gib=data.postgres_storage_gib,
                redis_storage_gib=data.redis_storage_gib,
                object_store_storage_gib=data.object_store_storage_gib,
            ),
            opts,
        )

    nothing: pulumi.Output[dict[str, str]] = pulumi.Output.from_input({})
    return CloudPlatform(
        cluster_name=pulumi.Output.from_input(onprem.context or env),
        kubeconfig=pulumi.Output.from_input(os.path.expanduser(onprem.kubeconfig)),
        bucket_names=pulumi.Output.from_input(buckets),
        keys=nothing,
        registry_urls=pulumi.Output.from_input({}),
        registry_host=pulumi.Output.from_input(onprem.registry_host),
        database_endpoint=pulumi.Output.from_input(f"registry-db.{ns}.svc:5432"),
        database_secret=pulumi.Output.from_input(f"env:{REGISTRY_DB_ENV}"),
        cache_endpoint=pulumi.Output.from_input(f"online-store.{ns}.svc"),
        cache_secret=pulumi.Output.from_input(f"env:{ONLINE_STORE_ENV}"),
        identities=nothing,
        region=spec.region,
        account_id=pulumi.Output.from_input(""),
        provider=None,
        adapter=ClusterAdapter(
            buckets=buckets, cluster=cluster_cloud(spec), node=declared_node(onprem.minimum.nodes, onprem.minimum.cpu_cores, onprem.minimum.memory_gib)
        ),
        kube_context=onprem.context,
        in_cluster=(data_services,),
    )
