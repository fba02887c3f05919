"""The AWS cloud layer: one ComponentResource per concern."""

from components.aws.audit import AuditTrail, AuditTrailArgs
from components.aws.cluster import Cluster, ClusterArgs
from components.aws.data_services import OnlineStoreCache, OnlineStoreCacheArgs, RegistryDatabase, RegistryDatabaseArgs
from components.aws.encryption import Encryption, EncryptionArgs
from components.aws.identity import WorkloadIdentity, WorkloadIdentityArgs
from components.aws.network import Network, NetworkArgs
from components.aws.node_pools import GpuNodePool, InferenceNodePool, NodePoolArgs
from components.aws.registry import Registry, RegistryArgs
from components.aws.storage import Storage, StorageArgs

__all__ = [
    "AuditTrail",
    "AuditTrailArgs",
    "Cluster",
    "ClusterArgs",
    "Encryption",
    "EncryptionArgs",
    "GpuNodePool",
    "InferenceNodePool",
    "NodePoolArgs",
    "Network",
    "NetworkArgs",
    "OnlineStoreCache",
    "OnlineStoreCacheArgs",
    "Registry",
    "RegistryArgs",
    "RegistryDatabase",
    "RegistryDatabaseArgs",
    "Storage",
    "StorageArgs",
    "WorkloadIdentity",
    "WorkloadIdentityArgs",
]
