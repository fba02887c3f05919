"""The Kubernetes platform layer on the cluster the cloud layer built: one provider from its
kubeconfig, the spec's `kubernetes:` settings turned into components, stack outputs as the
workloads' environment (never hard-coded cloud names). Whatever is cloud-specific (storage class,
load balancers, region variables, workload identity, object-store URIs, cluster access, node
autoscaling and what it exports, what a node leaves for pods) comes from `cloud.adapter`
(stacks/cloud.py): this module never branches on the cloud."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from components import kubernetes as kc
from components.kubernetes import images
from components.kubernetes._pod import GPU_NODE_LABEL, GPU_TOLERATION
from components.kubernetes.api_access import API_CLIENTS
from components.kubernetes.mlflow import artifact_uri
from components.kubernetes.notebooks import NodeOffer, Notebooks, NotebooksArgs, TeamNotebooks
from components.kubernetes.tenancy import GROUPS
from components.kubernetes.workflows import ProjectPipeline, ProjectPipelineArgs, WorkflowEngine, WorkflowEngineArgs
from components.workloads import NAMESPACES, PRIVACY_KEY, ProjectPrefixes, project_workloads, split_grant, team_namespace, workload
from stacks import prices
from stacks.capacity import Allocatable
from stacks.cloud import CloudAdapter, CloudPlatform
from stacks.spec import DeployedProject, PlatformSpec, deploy

# The device plugin mounts the kubelet's device-plugin socket directory and DCGM the pod-resources
# socket: hostPath volumes, which only the `privileged` level admits.
GPU_NAMESPACE_REASON = "NVIDIA device plugin and DCGM exporter mount kubelet hostPath sockets (device-plugins, pod-resources)"

Spec = TypeVar("Spec", bound=PlatformSpec)
"""One cloud's spec model, and the cloud layer built from it (its adapter reads that model)."""


def build_kubernetes(spec: Spec, cloud: CloudPlatform[Spec]) -> None:
    layer, env = spec.kubernetes, spec.name
    provider = k8s.Provider(f"{env}-k8s", kubeconfig=cloud.kubeconfig, context=cloud.kube_context, enable_server_side_apply=True)
    opts = pulumi.ResourceOptions(providers=[provider])
    adapter = cloud.adapter
    on = adapter.cluster  # what the components need to know about the cluster's cloud
    host, cidr, release = cloud.registry_host, spec.network.cidr, layer.release
    # The storage class's key where it takes one (EKS, AKS: the cloud layer's `data` key); an existing
    # cluster's has none (its disks' own encryption).
    data_key = cloud.keys.apply(lambda k: k["data"]) if on.storage_key_parameter else None
    bucket_uri = adapter.object_uri
    # MLflow's own spelling of the artifact store (wasbs:// on Azure), for its server and new experiments.
    mlflow_artifacts = bucket_uri("experiment-artifacts", "mlflow").apply(artifact_uri)

    ns = NAMESPACES
    teams = [team_namespace(t.name) for t in layer.teams]
    tenancy = kc.Tenancy(
        f"{env}-tenancy",
        kc.TenancyArgs(
            namespaces=(
                kc.NamespaceSpec(ns["platform"], api_clients=API_CLIENTS["platform"]),
                kc.NamespaceSpec(ns["training"], ml_engineers=True),
                kc.NamespaceSpec(ns["serving"]),
                kc.NamespaceSpec(ns["monitoring"], api_clients=API_CLIENTS["monitoring"]),
                kc.NamespaceSpec(ns["autoscaling"]),  # Karpenter / the cluster autoscaler run on EKS only, through the baseline's HTTPS
                kc.NamespaceSpec(ns["gpu"], pod_security="privileged", reason=GPU_NAMESPACE_REASON),
                *(
                    kc.NamespaceSpec(
                        team_namespace(t.name),
                        ml_engineers=True,
                        gpu_quota=t.gpu_quota,
                        cpu_quota=t.cpu_quota,
                        memory_quota_gib=t.memory_quota_gib,
                        api_clients=API_CLIENTS["team"],
                    )
                    for t in layer.teams
                ),
            ),
            vpc_cidr=cidr,
            volume_key=data_key,
            monitoring_namespace=ns["monitoring"],
            groups={**GROUPS, **on.kubernetes_groups},
            cloud=on,
        ),
        opts,
    )
    after_tenancy = pulumi.ResourceOptions(providers=[provider], depends_on=[tenancy])
    for in_cluster in cloud.in_cluster:  # an existing cluster's data services (stacks/onprem.py)
        in_cluster(spec, after_tenancy)
    adapter.cluster_access(spec)

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
            # interruption metric only where the adapter's node autoscaling exports it.
            gpu_alerts=bool(spec.gpu_pools),
            spot_alerts=adapter.interruption_metrics(spec),
        ),
        after_tenancy,
    )
    # CRD users (ServiceMonitors of the charts, Karpenter's own) wait for the Prometheus operator's CRDs.
    after_crds = pulumi.ResourceOptions(providers=[provider], depends_on=[tenancy, monitoring.stack])
    if spec.gpu_pools:
        kc.GpuSupport(f"{env}-gpu", kc.GpuSupportArgs(namespace=ns["gpu"], registry_host=host, cloud=on), after_crds)
    adapter.node_autoscaling(spec, after_crds)

    mlflow_wl = workload("mlflow")
    mlflow = kc.Mlflow(
        f"{env}-mlflow",
        kc.MlflowArgs(
            namespace=mlflow_wl.namespace,
            service_account=mlflow_wl.service_account,
            image=images.workload_ref(host, "mlflow", release),
            database_endpoint=cloud.database_endpoint,
            database_secret=cloud.database_secret,
            artifact_root=mlflow_artifacts,
            region=cloud.region,
            vpc_cidr=cidr,
            client_namespaces=(ns["platform"], ns["training"], ns["serving"], ns["monitoring"], *teams),
            cloud=on,
        ),
        after_tenancy,
    )
    shared = _Shared(
        env=env,
        adapter=adapter,
        host=host,
        release=release,
        cidr=cidr,
        region=cloud.region,
        tracking_uri=mlflow.tracking_uri,
        pushgateway_url=monitoring.pushgateway_url,
        redis_endpoint=cloud.cache_endpoint,
        redis_secret=cloud.cache_secret,
        opts=after_tenancy,
    )
    pools = [p.name for p in spec.gpu_pools]
    deployed = [deploy(binding, pools, layer.training.gpu_pool) for binding in layer.projects]
    groups = {**GROUPS, **on.kubernetes_groups}
    if teams:
        # Argo Workflows runs every project's pipeline in its team's namespace (components/kubernetes/workflows.py).
        WorkflowEngine(
            f"{env}-workflows",
            WorkflowEngineArgs(
                namespace=ns["platform"], registry_host=host, workflow_namespaces=tuple(teams), node_selector=_cpu_tier(spec, "platform"), groups=groups
            ),
            after_tenancy,
        )
        _notebooks(spec, cloud, deployed, mlflow.tracking_uri, tenancy.storage_class, after_tenancy)
    for project in deployed:
        build_project(spec, project, shared)


def _offer(adapter: CloudAdapter[Any], region: str, name: str, selector: dict[str, str], machine_types: tuple[str, ...], tolerations: tuple = ()) -> NodeOffer:
    """The nodes a notebook profile lands on: the smallest machine type's allocatable room and its price."""
    rooms: list[tuple[str | None, Allocatable | None]] = [(t, adapter.node_allocatable(t)) for t in machine_types]
    rooms = rooms or [(None, adapter.node_allocatable(None))]
    known = [(t, a) for t, a in rooms if a is not None]
    if not known:
        return NodeOffer(name, selector, tolerations)
    machine, room = min(known, key=lambda ta: (ta[1].cpu_millicores, ta[1].memory_mib))
    return NodeOffer(
        name,
        selector,
        tolerations,
        machine_type=machine,
        cpu=room.cpu_millicores // 1000,
        memory_gib=room.memory_mib // 1024,
        gpus=room.gpus,
        hourly_usd=prices.hourly_usd(region, machine),
    )


def _notebooks(spec: Spec, cloud: CloudPlatform[Spec], deployed: list[DeployedProject], tracking_uri, storage_class, opts: pulumi.ResourceOptions) -> None:
    """JupyterHub with one profile list from the teams' quotas and the GPU pools (components/kubernetes/notebooks.py)."""
    env, adapter, on, ns = spec.name, cloud.adapter, cloud.adapter.cluster, NAMESPACES
    feast = {p.name: adapter.object_uri(*split_grant(ProjectPrefixes(p.name).feast)).apply(lambda u: u.rstrip("/")) for p in deployed}
    teams = []
    for t in spec.kubernetes.teams:
        own = sorted((p for p in deployed if p.team == t.name), key=lambda p: p.name)
        first = own[0] if own else None
        # The images' working directory holds the repository's projects/ (IMAGES.md): a project by its name.
        team_env = {
            "SAHAB_MLFLOW_TRACKING_URI": tracking_uri,
            "SAHAB_PROJECTS_DIR": "/app/projects",
            **on.region_env(cloud.region),
            **({"SAHAB_PROJECT": first.name, **on.feast_env(feast[first.name], cloud.region)} if first else {}),
        }
        teams.append(TeamNotebooks(t.name, team_namespace(t.name), f"{t.name}-notebooks", t.cpu_quota, t.memory_quota_gib, t.gpu_quota, team_env))
    gpu_pools = tuple(
        _offer(
            adapter, cloud.region, p.name, {**GPU_NODE_LABEL, "sahab.ae/pool": f"{env}-{p.name}"}, p.machine_types, (GPU_TOLERATION, *on.gpu_node_tolerations)
        )
        for p in spec.gpu_pools
    )
    Notebooks(
        f"{env}-notebooks",
        NotebooksArgs(
            namespace=ns["platform"],
            registry_host=cloud.registry_host,
            notebook_image=images.workload_ref(cloud.registry_host, "notebook", spec.kubernetes.release),
            teams=tuple(teams),
            cpu_nodes=_offer(adapter, cloud.region, "cpu", _cpu_tier(spec, "platform"), _tier_types(spec, "platform")),
            gpu_pools=gpu_pools,
            storage_class=storage_class,
            vpc_cidr=spec.network.cidr,
            platform_namespaces=(ns["platform"], ns["serving"]),
            price_snapshot=prices.snapshot_name(cloud.region),
            cloud=on,
        ),
        opts,
    )


@dataclass(frozen=True, kw_only=True)
class _Shared:
    """What every project's components share: the cluster's adapter, images, MLflow, the Pushgateway, the online store."""

    env: str
    adapter: CloudAdapter[Any]
    """Only its spec-free answers (object URIs, node capacity) are asked here."""
    host: pulumi.Input[str]
    release: str
    cidr: str
    region: str
    tracking_uri: pulumi.Output[str]
    pushgateway_url: pulumi.Output[str]
    redis_endpoint: pulumi.Input[str]
    redis_secret: pulumi.Input[str]
    opts: pulumi.ResourceOptions


def build_project(spec: PlatformSpec, project: DeployedProject, shared: _Shared) -> None:
    """One model project's part of the layer, every object named `<project>-...` and labelled with it:
    its feature server and materialization, retrain and export templates, serving (Deployment, HPA,
    PDB, control plane, evaluator) and monitoring CronJob, each run by the project's own identity
    (components/workloads.py) over the project's own URIs (`ProjectPrefixes`)."""
    layer, env, adapter, on = spec.kubernetes, shared.env, shared.adapter, shared.adapter.cluster
    name, ns = project.name, NAMESPACES
    # One tokenisation key per environment (not per project): tokens of one environment join across its pods.
    privacy = on.privacy_env(adapter.object_uri(*split_grant(PRIVACY_KEY)), env)
    ref = kc.ProjectRef(name=name, team=project.team, folder=project.folder, privacy=privacy)
    roles = {w.role: w for w in project_workloads(name, project.team)}
    prefixes = ProjectPrefixes(name)

    def uri(grant: str, trailing: bool = False) -> pulumi.Output[str]:
        purpose, prefix = split_grant(grant)
        return adapter.object_uri(purpose, prefix if trailing else prefix.rstrip("/"))

    feast_uri, log_uri = uri(prefixes.feast), uri(prefixes.serving_log, trailing=True)
    # MLflow's own spelling of the experiment's artifact location (wasbs:// on Azure).
    artifacts = uri(prefixes.mlflow).apply(artifact_uri)
    image = lambda workload: images.workload_ref(shared.host, workload, shared.release)  # noqa: E731 (a one-line helper kept beside its uses)
    team_ns = team_namespace(project.team)
    feast = kc.FeatureStore(
        f"{env}-{name}-feast",
        kc.FeatureStoreArgs(
            project=ref,
            namespace=roles["features"].namespace,
            service_account=roles["features"].service_account,
            image=image("features"),
            redis_endpoint=shared.redis_endpoint,
            redis_secret=shared.redis_secret,
            offline_uri=feast_uri,
            region=shared.region,
            vpc_cidr=shared.cidr,
            client_namespaces=(team_ns,),
            project_client_namespaces=(ns["serving"], ns["training"]),
            materialize_schedule=layer.monitoring.materialize_schedule,
            cloud=on,
        ),
        shared.opts,
    )
    training = roles["training"]
    # Where training runs: a GPU pool (by its node label), or the platform's CPU tier (by its labels).
    gpu_pool: str | None = None
    gpus = 0
    node_selector: dict[str, str] = {}
    if project.training_pool is not None:
        pool = next(p for p in spec.gpu_pools if p.name == project.training_pool)
        gpu_pool, gpus = f"{env}-{pool.name}", project.training_gpus
        sized = _sized(adapter, pool.machine_types, cpu=project.training_cpu, memory_gib=project.training_memory_gib, gpu_node=True)
    else:
        node_selector = _cpu_tier(spec, "platform")
        sized = _sized(adapter, _tier_types(spec, "platform"), cpu=project.training_cpu, memory_gib=project.training_memory_gib)
    step = _sized(adapter, _tier_types(spec, "platform"), cpu=2, memory_gib=8)  # the export Job and the pipeline's CPU steps
    retrain = kc.Training(
        f"{env}-{name}-training",
        kc.TrainingArgs(
            project=ref,
            namespace=training.namespace,
            service_account=training.service_account,
            training_image=image("training"),
            export_image=image("export"),
            checkpoint_prefix=uri(prefixes.checkpoints),
            feature_store_uri=feast_uri,
            prediction_log_uri=log_uri,
            tracking_uri=shared.tracking_uri,
            artifact_location=artifacts,
            region=shared.region,
            vpc_cidr=shared.cidr,
            redis_endpoint=shared.redis_endpoint,
            redis_secret=shared.redis_secret,
            grace_seconds=layer.training.checkpoint_grace_seconds,
            gpu_pool=gpu_pool,
            gpus=gpus,
            node_selector=node_selector,
            **sized,
            export_cpu=step["cpu"],
            export_memory=step["memory"],
            cloud=on,
        ),
        shared.opts,
    )
    pipeline = roles["pipeline"]
    ProjectPipeline(
        f"{env}-{name}-pipeline",
        ProjectPipelineArgs(
            project=ref,
            namespace=pipeline.namespace,
            service_account=pipeline.service_account,
            training_image=image("training"),
            step_image=image("export"),
            checkpoint_prefix=uri(prefixes.checkpoints),
            feature_store_uri=feast_uri,
            prediction_log_uri=log_uri,
            tracking_uri=shared.tracking_uri,
            artifact_location=artifacts,
            region=shared.region,
            vpc_cidr=shared.cidr,
            redis_endpoint=shared.redis_endpoint,
            redis_secret=shared.redis_secret,
            node_selector=_cpu_tier(spec, "platform"),
            gpu_pool=gpu_pool,
            gpus=gpus,
            train_cpu=sized["cpu"],
            train_memory=sized["memory"],
            step_cpu=step["cpu"],
            step_memory=step["memory"],
            grace_seconds=layer.training.checkpoint_grace_seconds,
            trigger_namespace=roles["monitoring"].namespace,
            trigger_service_account=roles["monitoring"].service_account,
            cloud=on,
        ),
        shared.opts,
    )
    serving = roles["serving"]
    kc.Serving(
        f"{env}-{name}-serving",
        kc.ServingArgs(
            project=ref,
            namespace=serving.namespace,
            service_account=serving.service_account,
            image=image("serving"),
            tracking_uri=shared.tracking_uri,
            feature_server_url=feast.url,
            region=shared.region,
            vpc_cidr=shared.cidr,
            node_selector=_serving_tier(spec),
            **_sized(adapter, _serving_tier_types(spec), cpu=max(project.serving_cpu, 1), memory_gib=max(project.serving_memory_gib, 1)),
            replicas=project.replicas,
            max_replicas=project.max_replicas,
            challenger_weight=project.challenger_weight,
            redis_endpoint=shared.redis_endpoint,
            redis_secret=shared.redis_secret,
            prediction_log_uri=log_uri,
            feast_uri=feast_uri,
            control_client_namespaces=(ns["platform"], team_ns),
            public=layer.serving.load_balancer == "internet-facing" and layer.serving.allow_public,
            public_source_cidrs=layer.serving.public_source_cidrs,
            cloud=on,
        ),
        shared.opts,
    )
    watch = roles["monitoring"]
    kc.DriftMonitor(
        f"{env}-{name}-monitoring",
        kc.DriftMonitorArgs(
            project=ref,
            namespace=watch.namespace,
            service_account=watch.service_account,
            image=image("drift"),
            reference_uri=None,  # the champion's, resolved from the registry on every run
            tracking_uri=shared.tracking_uri,
            current_uri=log_uri,
            state_uri=uri(prefixes.drift_state, trailing=True),
            feast_uri=feast_uri,
            pushgateway_url=shared.pushgateway_url,
            training_namespace=training.namespace,
            training_service_account=training.service_account,
            retrain_template=ref.named("retrain"),
            # Each episode starts the project's Argo pipeline in its team's namespace (not a Job).
            retrain_workflow=ref.named("pipeline"),
            retrain_namespace=pipeline.namespace,
            region=shared.region,
            vpc_cidr=shared.cidr,
            redis_endpoint=shared.redis_endpoint,
            redis_secret=shared.redis_secret,
            schedule=project.project.spec.monitoring.schedule,
            cloud=on,
        ),
        pulumi.ResourceOptions.merge(shared.opts, pulumi.ResourceOptions(depends_on=[retrain])),
    )


def _serving_tier(spec: PlatformSpec) -> dict[str, str]:
    """Node labels of the serving tier: the tier labelled `sahab.ae/workload: serving`, else the first
    (an existing cluster without tiers: any Linux node, the well-known label every kubelet sets)."""
    return _cpu_tier(spec, "serving")


def _serving_tier_types(spec: PlatformSpec) -> tuple[str, ...]:
    """Machine types of the tier `_serving_tier` selects (none on an existing cluster)."""
    return _tier_types(spec, "serving")


def _tier(spec: PlatformSpec, workload: str):
    """The CPU tier for `workload` (`serving`, `platform`): the one labelled `sahab.ae/workload: <workload>`,
    else (for anything but serving) the first tier not labelled for serving, else the first; None without tiers."""
    tiers = list(spec.inference_tiers)
    if not tiers:
        return None
    labelled = [t for t in tiers if t.labels.get("sahab.ae/workload") == workload]
    if labelled:
        return labelled[0]
    if workload != "serving":
        others = [t for t in tiers if t.labels.get("sahab.ae/workload") != "serving"]
        if others:
            return others[0]
    return tiers[0]


def _cpu_tier(spec: PlatformSpec, workload: str) -> dict[str, str]:
    """Node labels that select `_tier(spec, workload)`'s nodes."""
    tier = _tier(spec, workload)
    if tier is None:
        return {"kubernetes.io/os": "linux"}
    if tier.labels.get("sahab.ae/workload") == workload:
        return {"sahab.ae/workload": workload}
    return {"sahab.ae/pool": f"{spec.name}-{tier.name}"}


def _tier_types(spec: PlatformSpec, workload: str) -> tuple[str, ...]:
    tier = _tier(spec, workload)
    return tier.machine_types if tier is not None else ()


# What the DaemonSets take on every node before a pod lands: the cluster's own (EKS: vpc-cni,
# kube-proxy, the Pod Identity agent, the EBS CSI node plugin; AKS: Cilium, the Azure Disk CSI node
# plugin, cloud-node-manager) and the platform's; on GPU nodes also the device plugin and the DCGM
# exporter. A budget the sizing keeps free; the gate checks the real sum (deployability/scheduling.py).
NODE_DAEMONS = (250, 512)  # (CPU millicores, MiB)
GPU_NODE_DAEMONS = (150, 320)


class PodSize(TypedDict):
    """A container's resource requests, in Kubernetes quantities (`cpu="7"`, `memory="31Gi"`)."""

    cpu: str
    memory: str


def _sized(adapter: CloudAdapter[Any], machine_types: tuple[str, ...], *, cpu: float, memory_gib: float, gpu_node: bool = False) -> PodSize:
    """Requests of a pod that wants `cpu` cores and `memory_gib` GiB, cut down (to whole cores, whole
    GiB) to what one node of the smallest of `machine_types` leaves after kube-reserved, eviction and
    the DaemonSets: otherwise it never schedules and the autoscaler never adds a node for it. No
    machine types (an existing cluster): any node of it. A type the adapter has no capacity for keeps
    the wanted size (the gate's scheduling check then says the capacity is unknown)."""
    want_m, want_mi = int(round(cpu * 1000)), int(round(memory_gib * 1024))
    rooms = [adapter.node_allocatable(t) for t in machine_types or (None,)]
    known = [r for r in rooms if r is not None]
    if not known or len(known) < len(rooms):
        return PodSize(cpu=_cpu(want_m), memory=_memory(want_mi))
    node = min(known, key=lambda a: (a.cpu_millicores, a.memory_mib))
    daemons = [NODE_DAEMONS, GPU_NODE_DAEMONS] if gpu_node else [NODE_DAEMONS]
    free_cpu = node.cpu_millicores - sum(d[0] for d in daemons)
    free_mib = node.memory_mib - sum(d[1] for d in daemons)
    cpu_m, mem_mi = min(want_m, free_cpu // 1000 * 1000), min(want_mi, free_mib // 1024 * 1024)
    if cpu_m <= 0 or mem_mi <= 0:
        where = f"machine types {list(machine_types)}" if machine_types else "the cluster's nodes (onprem.minimum)"
        raise pulumi.RunError(f"{where}: a node leaves {free_cpu}m CPU / {free_mib}Mi for pods, too little for one; use larger machines")
    return PodSize(cpu=_cpu(cpu_m), memory=_memory(mem_mi))


def _cpu(millicores: int) -> str:
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def _memory(mib: int) -> str:
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"
