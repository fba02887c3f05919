"""AKS: a private cluster whose API server is projected into its own delegated subnet (API Server VNet
Integration, which KMS with a private key vault requires), Entra ID authentication with Kubernetes
RBAC and local accounts off, workload identity with the OIDC issuer, Azure CNI overlay with Cilium
network policy, etcd secrets encrypted with a Key Vault key (KMS, private vault), node disks with the
disk encryption set, Container Insights through a data collection rule (the workspace takes no shared
keys), and the system pool tainted `CriticalAddonsOnly` over the zones. User pools (GPU, CPU) are
node_pools.py; AKS runs the cluster autoscaler on them.

The control-plane identity holds, before the cluster is created (and after a wait for Azure RBAC to
propagate): Network Contributor on the node and API server subnets, Key Vault Crypto User and Key
Vault Contributor on the vault (KMS; AKS creates the private link to a private vault), Contributor on
the disk encryption set (it reads the set for OS disks and, since the storage class names the set,
writes data disks with it). The kubeconfig logs in with kubelogin's non-interactive mode the spec
names, never the device code AKS answers with."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import yaml
from pulumi_azure_native import containerservice as cs
from pulumi_azure_native import managedidentity, monitor, privatedns

from components.azure._common import RBAC_PROPAGATION_SECONDS, assign, propagated
from components.azure.network import DNS_SERVICE_IP, POD_CIDR, SERVICE_CIDR
from components.azure.node_pools import NODE_HARDENING

SYSTEM_TAINT = "CriticalAddonsOnly=true:NoSchedule"
# kubelogin's non-interactive login modes (checked: Azure/kubelogin pkg/internal/converter/convert.go
# at 327ae3d: each of these keeps only `get-token --login <mode> --server-id <id>`; the client and
# tenant come from the environment: az login, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_FEDERATED_TOKEN_FILE,
# or the runner's managed identity). AKS itself answers with `--login devicecode`, which waits for a
# person at a browser: no `pulumi up` can finish that way.
KUBECONFIG_LOGINS = ("azurecli", "workloadidentity", "msi")
# The AKS Microsoft Entra server application, the audience of every AKS token (the same in every tenant).
AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"
# Container Insights with managed-identity auth: a data collection rule with the ContainerInsights
# extension and its association with the cluster (checked: microsoft/Docker-Provider
# scripts/onboarding/aks/onboarding-msi-terraform/main.tf and variables.tf; the addon's `useAADAuth`
# sends nothing without them, and the workspace takes no shared keys).
INSIGHTS_STREAMS = (
    "Microsoft-ContainerLog",
    "Microsoft-ContainerLogV2",
    "Microsoft-KubeEvents",
    "Microsoft-KubePodInventory",
    "Microsoft-KubeNodeInventory",
    "Microsoft-KubePVInventory",
    "Microsoft-KubeServices",
    "Microsoft-KubeMonAgentEvents",
    "Microsoft-InsightsMetrics",
    "Microsoft-ContainerInventory",
    "Microsoft-ContainerNodeInventory",
    "Microsoft-Perf",
)


def kubelet_object_id(identity_profile: Mapping[str, cs.outputs.UserAssignedIdentityManagedClusterResponse] | None) -> str:
    """The object id of the kubelet's identity (the one that pulls images), from the cluster's `identityProfile`."""
    kubelet = (identity_profile or {}).get("kubeletidentity")
    if kubelet is None or kubelet.object_id is None:
        raise ValueError(f"identityProfile: AKS reported no kubelet identity object id (got {identity_profile!r}); the registry's AcrPull needs it")
    return kubelet.object_id


def use_login(kubeconfig: str, login: str) -> str:
    """The kubeconfig with every kubelogin user switched to `login` (what `kubelogin convert-kubeconfig -l
    <login>` writes)."""
    doc: dict[str, Any] = yaml.safe_load(kubeconfig) or {}
    for user in doc.get("users") or []:
        exec_ = (user.get("user") or {}).get("exec") or {}
        if "kubelogin" not in str(exec_.get("command", "")):
            continue
        args = [str(a) for a in exec_.get("args") or []]
        server = args[args.index("--server-id") + 1] if "--server-id" in args[:-1] else AKS_SERVER_ID
        exec_["args"] = ["get-token", "--login", login, "--server-id", server]
    return yaml.safe_dump(doc, sort_keys=False)


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
    apiserver_subnet_id: pulumi.Input[str]
    """Subnet delegated to AKS for the API server (VNet Integration), at least a /28."""
    vault_id: pulumi.Input[str]
    """Key Vault of the KMS key."""
    kms_key_id: pulumi.Input[str]
    """KMS key id, with its version (AKS KMS pins one: a new version reaches it through `pulumi up`)."""
    disk_encryption_set_id: pulumi.Input[str]
    """Disk encryption set of node OS disks and persistent volumes (its own key grant already propagated)."""
    log_analytics_id: pulumi.Input[str]
    """Workspace of Container Insights."""
    system_vm_size: str = "Standard_D4ds_v5"
    """VM size of the system pool."""
    kubeconfig_login: str = "azurecli"
    """kubelogin login mode of the kubeconfig `pulumi up` uses: azurecli, workloadidentity or msi."""
    deployer_vnet_id: str | None = None
    """VNet `pulumi up` runs from: linked to the API server's private DNS zone."""
    deployer_ready: pulumi.Input[str] | None = None
    """Resolves once the deployer's network reaches the VNet (peering): the kubeconfig waits for it."""
    rbac_propagation_seconds: int = RBAC_PROPAGATION_SECONDS
    """Wait after the control plane's grants before the cluster is created."""
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
        if args.kubeconfig_login not in KUBECONFIG_LOGINS:
            raise ValueError(
                f"kubeconfig_login: {args.kubeconfig_login!r} is not a non-interactive kubelogin mode; use one of {KUBECONFIG_LOGINS} "
                "(devicecode waits for a person at a browser)"
            )
        child = pulumi.ResourceOptions(parent=self)
        rg, loc = args.resource_group, args.location
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_name_=f"{args.cluster_name}-control-plane", resource_group_name=rg, location=loc, tags=args.tags, opts=child
        )
        # (checked: MicrosoftDocs/azure-aks-docs articles/aks/api-server-vnet-integration.md "The cluster
        # identity needs permissions to both the API server subnet and the node subnet";
        # use-kms-etcd-encryption.md "Key Vault Crypto User" and, for private key vaults, "the Key Vault
        # Contributor role is required to create a private link"; azure-disk-customer-managed-keys.md:
        # the cluster identity reads the disk encryption set, and needs Contributor on it for data disks;
        # all fetched 2026-12)
        grants = (
            ("subnet", "Network Contributor", args.node_subnet_id),
            ("apiserver-subnet", "Network Contributor", args.apiserver_subnet_id),
            ("kms", "Key Vault Crypto User", args.vault_id),
            ("kms-private-link", "Key Vault Contributor", args.vault_id),
            ("disk-encryption-set", "Contributor", args.disk_encryption_set_id),
        )
        roles = [
            assign(f"{name}-{key}", subscription_id=args.subscription_id, role=role, principal_id=identity.principal_id, scope=scope, opts=child)
            for key, role, scope in grants
        ]
        roles_ready = propagated(f"{name}-rbac-propagation", roles, args.rbac_propagation_seconds, child)
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
            identity=cs.ManagedClusterIdentityArgs(type=cs.ResourceIdentityType.USER_ASSIGNED, user_assigned_identities=[identity.id]),
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
                # KMS with a private key vault works only through API Server VNet Integration
                # (use-kms-etcd-encryption.md, "Limitations"); chosen at creation, it cannot be undone.
                enable_vnet_integration=True,
                subnet_id=args.apiserver_subnet_id,
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
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*roles, roles_ready]),
        )
        dcr = monitor.DataCollectionRule(
            f"{name}-insights",
            data_collection_rule_name=f"MSCI-{loc}-{args.cluster_name}",
            resource_group_name=rg,
            location=loc,
            description="Container Insights of the cluster",
            data_sources=monitor.DataCollectionRuleDataSourcesArgs(
                extensions=[
                    monitor.ExtensionDataSourceArgs(
                        name="ContainerInsightsExtension",
                        extension_name="ContainerInsights",
                        streams=list(INSIGHTS_STREAMS),
                        extension_settings={"dataCollectionSettings": {"interval": "1m", "namespaceFilteringMode": "Off", "enableContainerLogV2": True}},
                    )
                ]
            ),
            destinations=monitor.DataCollectionRuleDestinationsArgs(
                log_analytics=[monitor.LogAnalyticsDestinationArgs(name="ciworkspace", workspace_resource_id=args.log_analytics_id)]
            ),
            data_flows=[monitor.DataFlowArgs(streams=list(INSIGHTS_STREAMS), destinations=["ciworkspace"])],
            tags=args.tags,
            opts=child,
        )
        monitor.DataCollectionRuleAssociation(
            f"{name}-insights-association",
            association_name="ContainerInsightsExtension",
            resource_uri=cluster.id,
            data_collection_rule_id=dcr.id,
            description="Container Insights of the cluster: deleting it stops the collection.",
            opts=child,
        )
        # The deployer resolves the private API server through the zone AKS creates in the node resource
        # group (`<guid>.privatelink.<region>.azmk8s.io`, the private FQDN less its first label): link its
        # VNet there (checked: private-clusters.md, "private DNS zone (2) ... linked only to the VNet that
        # the cluster nodes are attached to (3)"; a peered VNet needs its own link).
        ready: list[pulumi.Input[str]] = [args.deployer_ready] if args.deployer_ready is not None else []
        if args.deployer_vnet_id:
            link = privatedns.VirtualNetworkLink(
                f"{name}-deployer-dns",
                virtual_network_link_name=f"{args.cluster_name}-deployer",
                private_zone_name=cluster.private_fqdn.apply(lambda fqdn: fqdn.split(".", 1)[1]),
                resource_group_name=args.node_resource_group,
                location="global",
                registration_enabled=False,
                virtual_network=privatedns.SubResourceArgs(id=args.deployer_vnet_id),
                tags=args.tags,
                opts=child,
            )
            ready.append(link.id)
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
        self.kubelet_object_id = cluster.identity_profile.apply(kubelet_object_id)
        login = args.kubeconfig_login
        answered = creds.kubeconfigs.apply(lambda ks: base64.b64decode(ks[0].value).decode())
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(answered, *ready).apply(lambda a: use_login(a[0], login)))
        self.register_outputs({"name": self.name, "oidc_issuer_url": self.oidc_issuer_url, "kubelet_object_id": self.kubelet_object_id})
