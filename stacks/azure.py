"""The Azure cloud layer: the spec's cloud half on AKS in the UAE (pulumi-azure-native v3), in
dependency order, and the AKS adapter the Kubernetes layer asks for what is Azure-specific
(stacks/cloud.py). Its spec is `AzurePlatformSpec`; it returns the same `CloudPlatform` shape as stacks/aws.py."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as azure_native
from pulumi_azure_native import authorization

from components import azure as c
from components.aws.registry import WORKLOAD_REPOSITORIES
from components.azure.data_services import REDIS_PORT
from components.kubernetes.cloud import ClusterCloud
from components.workloads import platform_workloads
from stacks.azure_offerings import AZURE_REGIONS, VM_CAPACITY, aks_allocatable
from stacks.capacity import Allocatable
from stacks.cloud import CloudPlatform
from stacks.spec import AksGpuPoolSpec, AksTierSpec, AzurePlatformSpec

# Azure workload identity: the webhook injects the federated token into pods with this label,
# for the identity the service account's annotation names (checked: azure.github.io/azure-workload-identity
# docs "Service Account Labels and Annotations", fetched 2026-12).
WORKLOAD_IDENTITY_USE = {"azure.workload.identity/use": "true"}
WORKLOAD_IDENTITY_CLIENT_ID = "azure.workload.identity/client-id"
# The Azure Disk CSI driver takes the disk encryption set as `diskEncryptionSetID` (checked:
# kubernetes-sigs/azuredisk-csi-driver docs/driver-parameters.md, fetched 2026-12).
DISK_CSI = "disk.csi.azure.com"
INTERNAL_LB = {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}
# AKS taints every spot node (checked: learn.microsoft.com "Add an Azure Spot node pool to an AKS
# cluster", fetched 2026-12); GPU pods and daemons tolerate it so spot GPU pools get used.
SPOT_TAINT = {"key": "kubernetes.azure.com/scalesetpriority", "value": "spot", "effect": "NoSchedule"}
SPOT_TOLERATION = {**SPOT_TAINT, "operator": "Equal"}


def build_azure(spec: AzurePlatformSpec) -> CloudPlatform[AzurePlatformSpec]:
    env, loc, region = spec.name, spec.region, AZURE_REGIONS[spec.region]
    tags = spec.tags.resource_tags()
    zones = spec.availability_zones
    # One explicit provider pinned to the spec's location; every component inherits it.
    provider = azure_native.Provider(f"{env}-azure", location=loc)
    opts = pulumi.ResourceOptions(providers=[provider])
    client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(provider=provider))
    subscription, tenant = client.subscription_id, client.tenant_id
    cluster_name = f"sahab-{env}"

    groups = c.ResourceGroups(f"{env}-rg", c.ResourceGroupsArgs(environment=env, location=loc, tags=tags), opts)
    deployer = spec.azure.deployer
    net = c.Network(
        f"{env}-net",
        c.NetworkArgs(
            environment=env,
            resource_group=groups.platform,
            location=loc,
            cidr=spec.network.cidr,
            tags=tags,
            deployer_vnet_id=deployer.vnet_id if deployer else None,
            deployer_cidrs=deployer.cidrs if deployer else (),
            peer_deployer=deployer.peer if deployer else False,
        ),
        opts,
    )
    subnets, dns = net.subnet_ids, net.dns_zone_ids
    keys = c.KeyVault(
        f"{env}-keys",
        c.KeyVaultArgs(
            environment=env,
            resource_group=groups.data,
            location=loc,
            tenant_id=tenant,
            subscription_id=subscription,
            endpoint_subnet_id=subnets["endpoints"],
            dns_zone_id=dns["vault"],
            rotation_days=spec.encryption.rotation_days,
            rbac_propagation_seconds=spec.azure.rbac_propagation_seconds,
            tags=tags,
        ),
        opts,
    )
    logs = c.LogAnalytics(
        f"{env}-logs", c.LogAnalyticsArgs(resource_group=groups.platform, location=loc, retention_days=spec.azure.log_retention_days, tags=tags), opts
    )
    storage = c.Storage(
        f"{env}-storage",
        c.StorageArgs(
            environment=env,
            resource_group=groups.data,
            location=loc,
            replication=spec.storage.replication or ("ZRS" if region.zones else "LRS"),
            vault_uri=keys.vault_uri,
            key_name=keys.key_names["storage"],
            cmk_identity_id=keys.cmk_identity_id,
            endpoint_subnet_id=subnets["endpoints"],
            blob_zone_id=dns["blob"],
            dfs_zone_id=dns["dfs"],
            audit_retention_days=spec.storage.audit_retention_days,
            lock_audit_immutability=spec.storage.lock_audit_immutability,
            noncurrent_version_days=spec.storage.noncurrent_version_days,
            infrequent_access_days=spec.storage.infrequent_access_days,
            tags=tags,
        ),
        opts,
    )
    cluster = c.AksCluster(
        f"{env}-cluster",
        c.AksClusterArgs(
            cluster_name=cluster_name,
            resource_group=groups.platform,
            node_resource_group=f"sahab-{env}-nodes",
            location=loc,
            zones=zones,
            kubernetes_version=spec.cluster.kubernetes_version,
            tenant_id=tenant,
            subscription_id=subscription,
            admin_group_object_ids=spec.azure.admin_group_object_ids,
            node_subnet_id=subnets["nodes"],
            apiserver_subnet_id=subnets["apiserver"],
            vault_id=keys.vault_id,
            kms_key_id=keys.cluster_key_versioned_id,
            disk_encryption_set_id=keys.disk_encryption_set_id,
            log_analytics_id=logs.workspace_id,
            system_vm_size=spec.azure.system_vm_size,
            kubeconfig_login=spec.azure.kubeconfig_login,
            deployer_vnet_id=deployer.vnet_id if deployer else None,
            deployer_ready=net.deployer_ready,
            rbac_propagation_seconds=spec.azure.rbac_propagation_seconds,
            tags=tags,
        ),
        opts,
    )
    for pool in spec.gpu_pools:
        c.AksGpuNodePool(f"{env}-{pool.name}", _pool_args(spec, pool, cluster, groups, subnets, tags, gpu=True), opts)
    for tier in spec.inference_tiers:
        c.AksCpuNodePool(f"{env}-{tier.name}", _pool_args(spec, tier, cluster, groups, subnets, tags, gpu=False), opts)
    registry = c.AcrRegistry(
        f"{env}-registry",
        c.AcrRegistryArgs(
            environment=env,
            resource_group=groups.platform,
            location=loc,
            zone_redundant=bool(region.zones),
            subscription_id=subscription,
            key_id=keys.key_ids["registry"],
            cmk_identity_id=keys.cmk_identity_id,
            cmk_identity_client_id=keys.cmk_identity_client_id,
            kubelet_object_id=cluster.kubelet_object_id,
            endpoint_subnet_id=subnets["endpoints"],
            dns_zone_id=dns["registry"],
            tags=tags,
        ),
        opts,
    )
    db_spec, cache_spec = spec.databases.registry, spec.databases.online_store
    # Both data services: in the data resource group, their secrets in the platform's vault, encrypted by the CMK identity.
    db = c.PostgresServer(
        f"{env}-registry-db",
        c.PostgresServerArgs(
            environment=env,
            resource_group=groups.data,
            location=loc,
            vault_name=keys.vault_name,
            cmk_identity_id=keys.cmk_identity_id,
            tags=tags,
            key_id=keys.key_ids["database"],
            subnet_id=subnets["data"],
            dns_zone_id=dns["postgres"],
            tenant_id=tenant,
            sku_name=db_spec.sku,
            storage_gib=max(32, db_spec.allocated_storage_gib),
            version=db_spec.engine_version,
            zone_redundant=db_spec.multi_az and bool(region.zones),
            backup_retention_days=max(7, db_spec.backup_retention_days),
        ),
        opts,
    )
    cache = c.ManagedRedis(
        f"{env}-online-store",
        c.ManagedRedisArgs(
            environment=env,
            resource_group=groups.data,
            location=loc,
            vault_name=keys.vault_name,
            cmk_identity_id=keys.cmk_identity_id,
            tags=tags,
            key_id=keys.versioned_key_ids["cache"],  # Azure Managed Redis takes a versioned key URL only
            endpoint_subnet_id=subnets["endpoints"],
            dns_zone_id=dns["redisEnterprise"],
            sku_name=cache_spec.sku,
            high_availability=cache_spec.replicas > 0,
        ),
        opts,
    )
    # One identity per shared workload and per project role, each scoped to its own prefixes (ABAC conditions).
    workloads = platform_workloads((b.name, b.team or b.load().spec.team) for b in spec.kubernetes.projects)
    identity = c.AzureWorkloadIdentity(
        f"{env}-identity",
        c.AzureWorkloadIdentityArgs(
            resource_group=groups.platform,
            location=loc,
            subscription_id=subscription,
            oidc_issuer_url=cluster.oidc_issuer_url,
            workloads=workloads,
            container_ids=storage.container_ids,
            # Each workload's Key Vault role is scoped to one secret, an extension of that secret: it
            # can be created only once the secret exists.
            vault_id=pulumi.Output.all(keys.vault_id, db.secret_id, cache.secret_id).apply(lambda v: v[0]),
            secret_names={"registry-db": "registry-db", "online-store": "online-store"},
            key_ids={"tokenisation": keys.key_resource_ids["tokenisation"]},
            tags=tags,
        ),
        opts,
    )
    c.AuditDiagnostics(
        f"{env}-audit",
        c.AuditDiagnosticsArgs(
            targets={
                "vault": keys.vault_id,
                "aks": cluster.id,
                "registry": registry.registry_id,
                "postgres": db.server_id,
                "data-blobs": pulumi.Output.format("{0}/blobServices/default", storage.data_account_id),
            },
            workspace_id=logs.workspace_id,
            audit_account_id=storage.audit_account_id,
        ),
        opts,
    )
    adapter = AksAdapter(
        cluster=ClusterCloud(
            name="aks",
            storage_provisioner=DISK_CSI,
            # Premium SSD, locally redundant and zonal: WaitForFirstConsumer puts each volume in its pod's zone.
            storage_parameters={"skuName": "Premium_LRS", "cachingMode": "ReadOnly"},
            storage_key_parameter="diskEncryptionSetID",
            internal_lb_annotations=INTERNAL_LB,
            public_lb_annotations={},
            region_variables=("AZURE_LOCATION",),
            service_account_annotations={w.service_account: {WORKLOAD_IDENTITY_CLIENT_ID: identity.client_id_outputs[w.name]} for w in workloads},
            pod_labels=WORKLOAD_IDENTITY_USE,
            workload_env={"AZURE_STORAGE_ACCOUNT_NAME": storage.data_account_name},
            # Entra ID tokens carry group object ids: the platform's RoleBindings name those.
            kubernetes_groups={role: group for role, group in spec.azure.access_groups.items()},
            gpu_node_tolerations=(SPOT_TOLERATION,) if any(p.capacity == "spot" for p in spec.gpu_pools) else (),
            # Azure Managed Redis listens on its database's port, reached through the private endpoint in the
            # endpoints subnet (inside spec.network.cidr, which the workloads' Redis egress rules name).
            redis_port=REDIS_PORT,
            redis_secret_field="password",  # the Key Vault secret is {"password": <access key>}
            feast_mode="azure",
            # The vault's own tokenisation key (versionless: the wrapped object records the version it used).
            privacy_wrapping={"SAHAB_PRIVACY_VAULT_KEY": keys.key_ids.apply(lambda k: k["tokenisation"])},
            https_outside_vpc=True,  # Entra ID's token endpoint (workload identity) has no address in the VNet
            # Azure CNI powered by Cilium (components/azure/cluster.py network_dataplane): the API server and the
            # kubelets are Cilium entities, never an ipBlock (components/kubernetes/api_access.py).
            cilium=True,
            api_server_port=443,
        ),
        account_name=storage.data_account_name,
        container_names=storage.container_names,
    )
    return CloudPlatform(
        cluster_name=cluster.name,
        kubeconfig=cluster.kubeconfig,
        bucket_names=storage.container_names,
        keys=pulumi.Output.all(keys.key_ids, keys.disk_encryption_set_id).apply(lambda kd: {**kd[0], "data": kd[1]}),
        registry_urls=registry.login_server.apply(lambda host: {w: f"{host}/sahab/{w}" for w in WORKLOAD_REPOSITORIES}),
        registry_host=registry.login_server,
        database_endpoint=db.endpoint,
        database_secret=db.secret_id,
        cache_endpoint=cache.endpoint,
        cache_secret=cache.secret_id,
        identities=identity.client_ids,
        region=loc,
        account_id=subscription,
        provider=provider,
        adapter=adapter,
    )


def _pool_args(
    spec: AzurePlatformSpec, pool: AksGpuPoolSpec | AksTierSpec, cluster: c.AksCluster, groups: c.ResourceGroups, subnets, tags: dict[str, str], *, gpu: bool
) -> c.AksNodePoolArgs:
    name = f"{spec.name}-{pool.name}"
    capacity = pool.capacity if isinstance(pool, AksGpuPoolSpec) else "on-demand"
    labels = {
        "sahab.ae/pool": name,
        "sahab.ae/capacity": capacity,
        **({"sahab.ae/accelerator": "nvidia"} if gpu else {}),
        **pool.labels,
    }
    return c.AksNodePoolArgs(
        cluster_name=cluster.name,
        resource_group=groups.platform,
        pool_name=pool.name,
        vm_size=pool.vm_size,
        min_count=pool.min_size,
        max_count=pool.max_size,
        zones=spec.availability_zones,
        node_subnet_id=subnets["nodes"],
        disk_gib=pool.disk_gib,
        spot=capacity == "spot",
        labels=labels,
        taints=tuple(t.model_dump() for t in pool.taints) + ((SPOT_TAINT,) if capacity == "spot" else ()),
        tags=tags,
    )


@dataclass(frozen=True)
class AksAdapter:
    """The AKS answers of `stacks.cloud.CloudAdapter`: abfss URIs on the data account, Azure Disk
    storage with the disk encryption set, workload identity on the service accounts, VM size
    capacities with AKS's reservations; cluster access and node autoscaling are AKS's own (Entra ID
    groups on the cluster, the managed cluster autoscaler, which exports no interruption metrics)."""

    cluster: ClusterCloud
    account_name: pulumi.Output[str]
    container_names: pulumi.Output[dict[str, str]]

    def object_uri(self, purpose: str, prefix: str) -> pulumi.Output[str]:
        return pulumi.Output.all(self.account_name, self.container_names).apply(lambda ac: f"abfss://{ac[1][purpose]}@{ac[0]}.dfs.core.windows.net/{prefix}")

    def cluster_access(self, spec: AzurePlatformSpec) -> None:
        # Admins are aadProfile.adminGroupObjectIDs on the cluster; the platform's roles are bound to
        # azure.access_groups by Tenancy (ClusterCloud.kubernetes_groups). Nothing to register here.
        return None

    def node_autoscaling(self, spec: AzurePlatformSpec, k8s_opts: pulumi.ResourceOptions) -> None:
        # AKS runs the cluster autoscaler itself on every pool with enable_auto_scaling (node_pools.py).
        return None

    def interruption_metrics(self, spec: AzurePlatformSpec) -> bool:
        return False

    def node_allocatable(self, machine_type: str | None) -> Allocatable | None:
        # The pools' maxPods is AKS's default for Azure CNI overlay (azure_offerings.AKS_MAX_PODS).
        if machine_type is None or machine_type not in VM_CAPACITY:
            return None
        return Allocatable(*aks_allocatable(machine_type))
