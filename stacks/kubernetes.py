"""The Kubernetes platform layer on the cluster the cloud layer built: one provider from its
kubeconfig, the spec's `kubernetes:` settings turned into components, stack outputs as the
workloads' environment (never hard-coded cloud names). Whatever is cloud-specific (storage class,
load balancers, region variables, workload identity, object-store URIs, cluster access, node
autoscaling) comes from `cloud.adapter` (stacks/cloud.py): this module never branches on the cloud."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import kubernetes as kc
from components.kubernetes import images
from components.kubernetes.mlflow import artifact_uri
from components.kubernetes.tenancy import GROUPS
from components.workloads import NAMESPACES, team_namespace, workload
from stacks.cloud import CloudPlatform
from stacks.offerings import CAPACITY, allocatable
from stacks.spec import PlatformSpec

# The device plugin mounts the kubelet's device-plugin socket directory and DCGM the pod-resources
# socket: hostPath volumes, which only the `privileged` level admits.
GPU_NAMESPACE_REASON = "NVIDIA device plugin and DCGM exporter mount kubelet hostPath sockets (device-plugins, pod-resources)"


def build_kubernetes(spec: PlatformSpec, cloud: CloudPlatform) -> None:
    layer, env = spec.kubernetes, spec.name
    provider = k8s.Provider(f"{env}-k8s", kubeconfig=cloud.kubeconfig, context=cloud.kube_context, enable_server_side_apply=True)
    opts = pulumi.ResourceOptions(providers=[provider])
    adapter = cloud.adapter
    on = adapter.cluster  # what the components need to know about the cluster's cloud
    host, cidr, release = cloud.registry_host, spec.network.cidr, layer.release
    data_key = cloud.key_arns.apply(lambda k: k.get("data"))  # none on an existing cluster (its disks' own encryption)
    bucket_uri = adapter.object_uri
    # MLflow's own spelling of the artifact store (wasbs:// on Azure), for its server and new experiments.
    mlflow_artifacts = bucket_uri("experiment-artifacts", "mlflow").apply(artifact_uri)

    ns = NAMESPACES
    teams = [team_namespace(t.name) for t in layer.teams]
    tenancy = kc.Tenancy(
        f"{env}-tenancy",
        kc.TenancyArgs(
            namespaces=(
                kc.NamespaceSpec(ns["platform"]),
                kc.NamespaceSpec(ns["training"], ml_engineers=True),
                kc.NamespaceSpec(ns["serving"]),
                kc.NamespaceSpec(ns["monitoring"]),
                kc.NamespaceSpec(ns["autoscaling"]),
                kc.NamespaceSpec(ns["gpu"], pod_security="privileged", reason=GPU_NAMESPACE_REASON),
                *(
                    kc.NamespaceSpec(
                        team_namespace(t.name), ml_engineers=True, gpu_quota=t.gpu_quota, cpu_quota=t.cpu_quota, memory_quota_gib=t.memory_quota_gib
                    )
                    for t in layer.teams
                ),
            ),
            vpc_cidr=cidr,
            volume_key_arn=data_key,
            monitoring_namespace=ns["monitoring"],
            groups={**GROUPS, **on.kubernetes_groups},
            cloud=on,
        ),
        opts,
    )
    after_tenancy = pulumi.ResourceOptions(providers=[provider], depends_on=[tenancy])
    for in_cluster in cloud.in_cluster:  # an existing cluster's data services (stacks/onprem.py)
        in_cluster(spec, after_tenancy)
    access = layer.access
    role_groups = {
        arn: (GROUPS[role],)
        for role, arns in (
            ("platform-admin", access.platform_admin_role_arns),
            ("ml-engineer", access.ml_engineer_role_arns),
            ("auditor", access.auditor_role_arns),
        )
        for arn in arns
    }
    adapter.cluster_access(spec, role_groups)

    monitoring = kc.Monitoring(
        f"{env}-monitoring",
        kc.MonitoringArgs(
            namespace=ns["monitoring"],
            registry_host=host,
            storage_class=tenancy.storage_class,
            serving_namespace=ns["serving"],
            retention_days=layer.monitoring.retention_days,
            prometheus_storage_gib=layer.monitoring.prometheus_storage_gib,
            alertmanager_storage_gib=layer.monitoring.alertmanager_storage_gib,
            grafana_storage_gib=layer.monitoring.grafana_storage_gib,
            # Alerts only where their metrics exist: dcgm-exporter runs with GPU pools, and the
            # interruption metric comes from Karpenter, which only the EKS adapter installs.
            gpu_alerts=bool(spec.gpu_pools),
            spot_alerts=layer.autoscaler == "karpenter" and on.name == "eks",
        ),
        after_tenancy,
    )
    # CRD users (ServiceMonitors of the charts, Karpenter's own) wait for the Prometheus operator's CRDs.
    after_crds = pulumi.ResourceOptions(providers=[provider], depends_on=[tenancy, monitoring.stack])
    if spec.gpu_pools:
        kc.GpuSupport(f"{env}-gpu", kc.GpuSupportArgs(namespace=ns["gpu"], registry_host=host, cloud=on), after_crds)
    adapter.node_autoscaling(spec, after_crds)

    mlflow_wl, features_wl = workload("mlflow"), workload("features")
    mlflow = kc.Mlflow(
        f"{env}-mlflow",
        kc.MlflowArgs(
            namespace=mlflow_wl.namespace,
            service_account=mlflow_wl.service_account,
            image=images.workload_ref(host, "mlflow", release),
            database_endpoint=cloud.database_endpoint,
            database_secret_arn=cloud.database_secret_arn,
            artifact_root=mlflow_artifacts,
            region=cloud.region,
            vpc_cidr=cidr,
            client_namespaces=(ns["platform"], ns["training"], ns["serving"], ns["monitoring"], *teams),
            cloud=on,
        ),
        after_tenancy,
    )
    feast = kc.FeatureStore(
        f"{env}-feast",
        kc.FeatureStoreArgs(
            namespace=features_wl.namespace,
            service_account=features_wl.service_account,
            image=images.workload_ref(host, "features", release),
            redis_endpoint=cloud.cache_endpoint,
            redis_secret_arn=cloud.cache_secret_arn,
            offline_uri=bucket_uri("offline-features", "feast"),
            region=cloud.region,
            vpc_cidr=cidr,
            client_namespaces=(ns["serving"], ns["training"], *teams),
            materialize_schedule=layer.monitoring.materialize_schedule,
            cloud=on,
        ),
        after_tenancy,
    )
    training_wl = workload("training")
    if spec.gpu_pools:
        pool = layer.training.gpu_pool or spec.gpu_pools[0].name
        kc.Training(
            f"{env}-training",
            kc.TrainingArgs(
                namespace=training_wl.namespace,
                service_account=training_wl.service_account,
                training_image=images.workload_ref(host, "training", release),
                export_image=images.workload_ref(host, "export", release),
                gpu_pool=f"{env}-{pool}",
                checkpoint_prefix=bucket_uri("experiment-artifacts", "checkpoints"),
                data_path=bucket_uri("offline-features", "training-sets/current.parquet"),
                feature_store_uri=bucket_uri("offline-features", "feast"),  # the retrain Job's training set: Feast, point in time
                tracking_uri=mlflow.tracking_uri,
                artifact_location=mlflow_artifacts,
                region=cloud.region,
                gpus=layer.training.gpus,
                grace_seconds=layer.training.checkpoint_grace_seconds,
                **_sized(next(p.instance_types for p in spec.gpu_pools if p.name == pool), cpu=8, memory_gib=64, gpu_node=True),
                **{f"export_{k}": v for k, v in _sized(tuple(t for tier in spec.inference_tiers for t in tier.instance_types), cpu=2, memory_gib=8).items()},
                cloud=on,
            ),
            after_tenancy,
        )
    serving_wl, serving = workload("serving"), layer.serving
    kc.Serving(
        f"{env}-serving",
        kc.ServingArgs(
            namespace=serving_wl.namespace,
            service_account=serving_wl.service_account,
            image=images.workload_ref(host, "serving", release),
            tracking_uri=mlflow.tracking_uri,
            feature_server_url=feast.url,
            region=cloud.region,
            vpc_cidr=cidr,
            node_selector=_serving_tier(spec),
            **_sized(_serving_tier_types(spec), cpu=2, memory_gib=4),
            replicas=serving.replicas,
            max_replicas=serving.max_replicas,
            challenger_weight=serving.challenger_weight,
            redis_endpoint=cloud.cache_endpoint,
            redis_secret_arn=cloud.cache_secret_arn,
            prediction_log_uri=bucket_uri("offline-features", "serving-log/"),
            control_client_namespaces=(ns["platform"], *teams),
            public=serving.load_balancer == "internet-facing" and serving.allow_public,
            public_source_cidrs=serving.public_source_cidrs,
            cloud=on,
        ),
        after_tenancy,
    )
    drift_wl = workload("drift")
    kc.DriftMonitor(
        f"{env}-drift",
        kc.DriftMonitorArgs(
            namespace=drift_wl.namespace,
            service_account=drift_wl.service_account,
            image=images.workload_ref(host, "drift", release),
            reference_uri=None,  # the champion's, resolved from the registry on every run
            tracking_uri=mlflow.tracking_uri,
            current_uri=bucket_uri("offline-features", "serving-log/"),
            pushgateway_url=monitoring.pushgateway_url,
            training_namespace=ns["training"],
            retrain_template="retrain",
            region=cloud.region,
            schedule=layer.monitoring.drift_schedule,
            cloud=on,
        ),
        after_tenancy,
    )


def _serving_tier(spec: PlatformSpec) -> dict[str, str]:
    """Node labels of the serving tier: the tier labelled `sahab.ae/workload: serving`, else the first
    (an existing cluster without tiers: any Linux node, the well-known label every kubelet sets)."""
    if not spec.inference_tiers:
        return {"kubernetes.io/os": "linux"}
    for tier in spec.inference_tiers:
        if tier.labels.get("sahab.ae/workload") == "serving":
            return {"sahab.ae/workload": "serving"}
    return {"sahab.ae/pool": f"{spec.name}-{spec.inference_tiers[0].name}"}


def _serving_tier_types(spec: PlatformSpec) -> tuple[str, ...]:
    """Instance types of the tier `_serving_tier` selects (none on an existing cluster)."""
    tiers = [t for t in spec.inference_tiers if t.labels.get("sahab.ae/workload") == "serving"] or list(spec.inference_tiers[:1])
    return tiers[0].instance_types if tiers else ()


# What the DaemonSets take on every node before a pod lands (vpc-cni, kube-proxy, the Pod Identity
# agent, the EBS CSI node plugin; on GPU nodes also the device plugin and the DCGM exporter).
NODE_DAEMONS = (250, 512)  # (CPU millicores, MiB)
GPU_NODE_DAEMONS = (150, 320)


def _sized(instance_types: tuple[str, ...], *, cpu: int, memory_gib: int, gpu_node: bool = False) -> dict[str, str]:
    """Requests of a pod that wants `cpu` cores and `memory_gib` GiB, cut down (whole cores, whole
    GiB) to what one node of the smallest of `instance_types` leaves after kube-reserved, eviction
    and the DaemonSets: otherwise it never schedules and the autoscaler never adds a node for it.
    Types outside stacks/offerings.CAPACITY (an existing cluster's nodes) keep the wanted size."""
    if not instance_types or any(t not in CAPACITY for t in instance_types):
        return {"cpu": str(cpu), "memory": f"{memory_gib}Gi"}
    node = min((allocatable(t) for t in instance_types), key=lambda a: (a.cpu_millicores, a.memory_mib))
    daemons = [NODE_DAEMONS, GPU_NODE_DAEMONS] if gpu_node else [NODE_DAEMONS]
    free_cpu = node.cpu_millicores - sum(d[0] for d in daemons)
    free_mib = node.memory_mib - sum(d[1] for d in daemons)
    cores, gib = min(cpu, free_cpu // 1000), min(memory_gib, free_mib // 1024)
    if cores < 1 or gib < 1:
        raise pulumi.RunError(
            f"instance types {list(instance_types)}: a node leaves {free_cpu}m CPU / {free_mib}Mi for pods, too little for one; use a larger instance type"
        )
    return {"cpu": str(cores), "memory": f"{gib}Gi"}
