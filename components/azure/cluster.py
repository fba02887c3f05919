"""AKS: a private cluster (API server on a private endpoint only), Entra ID authentication with
Kubernetes RBAC and local accounts off, workload identity with the OIDC issuer, Azure CNI overlay
with Cilium network policy, etcd secrets encrypted with a Key Vault key (KMS, private vault), node
disks with the disk encryption set, and the system pool tainted `CriticalAddonsOnly` over the
zones. User pools (GPU, CPU) are node_pools.py; AKS runs the cluster autoscaler on them."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import containerservice as cs
from pulumi_azure_native import managedidentity

from components.azure._common import assign
from components.azure.network import DNS_SERVICE_IP, POD_CIDR, SERVICE_CIDR
from components.azure.node_pools import NODE_HARDENING

SYSTEM_TAINT = "CriticalAddonsOnly=true:NoSchedule"


@dataclass(frozen=True, kw_only=True)
class AksClusterArgs:
    cluster_name: str
    """Cluster (and DNS prefix) name."""
    resource_group: pulumi.Input[str]
    """Platform resource group."""
    node_resource_group: str
    """Resource group AKS creates for the nodes."""
    location: str
    """UAE location."""
    zones: tuple[str, ...]
    """Availability zones (none in uaecentral)."""
    kubernetes_version: str
    """Kubernetes minor version (AKS picks the latest patch)."""
    tenant_id: pulumi.Input[str]
    """Entra ID tenant."""
    subscription_id: pulumi.Input[str]
    """Subscription (role definition ids)."""
    admin_group_object_ids: tuple[str, ...]
    """Entra ID groups given cluster-admin; at least one, since local accounts are off."""
    node_subnet_id: pulumi.Input[str]
    """Subnet of the nodes."""
    vault_id: pulumi.Input[str]
    """Key Vault of the KMS key."""
    kms_key_id: pulumi.Input[str]
    """KMS key id, with its version (AKS KMS pins one)."""
    disk_encryption_set_id: pulumi.Input[str]
    """Disk encryption set of node OS disks."""
    log_analytics_id: pulumi.Input[str]
    """Workspace of Container Insights."""
    system_vm_size: str = "Standard_D4ds_v5"
    """VM size of the system pool."""
    tags: dict[str, str]
    """Tags of every taggable child."""


class AksCluster(pulumi.ComponentResource):
    name: pulumi.Output[str]
    oidc_issuer_url: pulumi.Output[str]
    kubelet_object_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, args: AksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sahab:azure:AksCluster", name, None, opts)
        if not args.admin_group_object_ids:
            raise ValueError("admin_group_object_ids: local accounts are off, so at least one Entra ID admin group is needed")
        child = pulumi.ResourceOptions(parent=self)
        rg, loc = args.resource_group, args.location
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_name_=f"{args.cluster_name}-control-plane", resource_group_name=rg, location=loc, tags=args.tags, opts=child
        )
        roles = [
            assign(
                f"{name}-subnet",
                subscription_id=args.subscription_id,
                role="Network Contributor",
                principal_id=identity.principal_id,
                scope=args.node_subnet_id,
                opts=child,
            ),
            assign(
                f"{name}-kms",
                subscription_id=args.subscription_id,
                role="Key Vault Crypto User",
                principal_id=identity.principal_id,
                scope=args.vault_id,
                opts=child,
            ),
        ]
        zones = list(args.zones) or None
        cluster = cs.ManagedCluster(
            f"{name}-aks",
            resource_name_=args.cluster_name,
            resource_group_name=rg,
            location=loc,
            dns_prefix=args.cluster_name,
            kubernetes_version=args.kubernetes_version,
            node_resource_group=args.node_resource_group,
            sku=cs.ManagedClusterSKUArgs(name="Base", tier="Standard"),
            identity=cs.ManagedClusterIdentityArgs(type="UserAssigned", user_assigned_identities=[identity.id]),
            enable_rbac=True,
            disable_local_accounts=True,
            aad_profile=cs.ManagedClusterAADProfileArgs(
                managed=True, enable_azure_rbac=False, admin_group_object_ids=list(args.admin_group_object_ids), tenant_id=args.tenant_id
            ),
            api_server_access_profile=cs.ManagedClusterAPIServerAccessProfileArgs(
                enable_private_cluster=True,
                private_dns_zone="system",
                enable_private_cluster_public_fqdn=False,
                disable_run_command=True,
            ),
            oidc_issuer_profile=cs.ManagedClusterOIDCIssuerProfileArgs(enabled=True),
            security_profile=cs.ManagedClusterSecurityProfileArgs(
                workload_identity=cs.ManagedClusterSecurityProfileWorkloadIdentityArgs(enabled=True),
                azure_key_vault_kms=cs.AzureKeyVaultKmsArgs(
                    enabled=True, key_id=args.kms_key_id, key_vault_network_access="Private", key_vault_resource_id=args.vault_id
                ),
                image_cleaner=cs.ManagedClusterSecurityProfileImageCleanerArgs(enabled=True, interval_hours=48),
            ),
            network_profile=cs.ContainerServiceNetworkProfileArgs(
                network_plugin="azure",
                network_plugin_mode="overlay",
                network_dataplane="cilium",
                network_policy="cilium",
                pod_cidr=POD_CIDR,
                service_cidr=SERVICE_CIDR,
                dns_service_ip=DNS_SERVICE_IP,
                load_balancer_sku="standard",
                outbound_type="loadBalancer",
            ),
            disk_encryption_set_id=args.disk_encryption_set_id,
            agent_pool_profiles=[
                cs.ManagedClusterAgentPoolProfileArgs(
                    name="system",
                    mode="System",
                    vm_size=args.system_vm_size,
                    count=3,
                    enable_auto_scaling=True,
                    min_count=3,
                    max_count=5,
                    availability_zones=zones,
                    vnet_subnet_id=args.node_subnet_id,
                    node_taints=[SYSTEM_TAINT],
                    **NODE_HARDENING,
                    os_sku="AzureLinux",
                    upgrade_settings=cs.AgentPoolUpgradeSettingsArgs(max_surge="33%"),
                )
            ],
            auto_scaler_profile=cs.ManagedClusterPropertiesAutoScalerProfileArgs(
                expander="least-waste", balance_similar_node_groups="true", scale_down_unneeded_time="10m"
            ),
            auto_upgrade_profile=cs.ManagedClusterAutoUpgradeProfileArgs(upgrade_channel="patch", node_os_upgrade_channel="NodeImage"),
            storage_profile=cs.ManagedClusterStorageProfileArgs(
                disk_csi_driver=cs.ManagedClusterStorageProfileDiskCSIDriverArgs(enabled=True),
                snapshot_controller=cs.ManagedClusterStorageProfileSnapshotControllerArgs(enabled=True),
                blob_csi_driver=cs.ManagedClusterStorageProfileBlobCSIDriverArgs(enabled=False),
                file_csi_driver=cs.ManagedClusterStorageProfileFileCSIDriverArgs(enabled=False),
            ),
            addon_profiles={
                # Secrets (database password, Redis key) reach pods from Key Vault through the CSI driver.
                "azureKeyvaultSecretsProvider": cs.ManagedClusterAddonProfileArgs(
                    enabled=True, config={"enableSecretRotation": "true", "rotationPollInterval": "2m"}
                ),
                "omsagent": cs.ManagedClusterAddonProfileArgs(
                    enabled=True, config={"logAnalyticsWorkspaceResourceID": args.log_analytics_id, "useAADAuth": "true"}
                ),
                "azurepolicy": cs.ManagedClusterAddonProfileArgs(enabled=True),
            },
            support_plan="KubernetesOfficial",
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=roles),
        )
        creds = cs.list_managed_cluster_user_credentials_output(
            resource_group_name=rg,
            resource_name=cluster.name,
            format="exec",
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        self.name = cluster.name
        self.id = cluster.id
        self.control_plane_principal_id = identity.principal_id
        self.oidc_issuer_url = cluster.oidc_issuer_profile.apply(lambda p: p.issuer_url if p else "")
        self.kubelet_object_id = cluster.identity_profile.apply(lambda p: (p or {})["kubeletidentity"].object_id)
        self.kubeconfig = pulumi.Output.secret(creds.kubeconfigs.apply(lambda ks: base64.b64decode(ks[0].value).decode()))
        self.register_outputs({"name": self.name, "oidc_issuer_url": self.oidc_issuer_url, "kubelet_object_id": self.kubelet_object_id})
