"""The Azure cloud layer (pulumi-azure-native v3): one ComponentResource per concern."""

from components.azure.cluster import AksCluster, AksClusterArgs
from components.azure.data_services import ManagedRedis, ManagedRedisArgs, PostgresServer, PostgresServerArgs
from components.azure.encryption import KeyVault, KeyVaultArgs
from components.azure.identity import AzureWorkloadIdentity, AzureWorkloadIdentityArgs
from components.azure.monitoring import AuditDiagnostics, AuditDiagnosticsArgs, LogAnalytics, LogAnalyticsArgs
from components.azure.network import Network, NetworkArgs
from components.azure.node_pools import AksCpuNodePool, AksGpuNodePool, AksNodePoolArgs
from components.azure.registry import AcrRegistry, AcrRegistryArgs
from components.azure.resource_groups import ResourceGroups, ResourceGroupsArgs
from components.azure.storage import Storage, StorageArgs

__all__ = [
    "AcrRegistry",
    "AcrRegistryArgs",
    "AksCluster",
    "AksClusterArgs",
    "AksCpuNodePool",
    "AksGpuNodePool",
    "AksNodePoolArgs",
    "AuditDiagnostics",
    "AuditDiagnosticsArgs",
    "AzureWorkloadIdentity",
    "AzureWorkloadIdentityArgs",
    "KeyVault",
    "KeyVaultArgs",
    "LogAnalytics",
    "LogAnalyticsArgs",
    "ManagedRedis",
    "ManagedRedisArgs",
    "Network",
    "NetworkArgs",
    "PostgresServer",
    "PostgresServerArgs",
    "ResourceGroups",
    "ResourceGroupsArgs",
    "Storage",
    "StorageArgs",
]
