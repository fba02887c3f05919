"""The environment spec (`sahab:platform`), split by concern: `platform` (the root, residency, tags,
cross-field rules, `load_spec`), `cloud` (network, cluster, node pools, storage, keys, databases),
`kubernetes` (the platform layer). Every model is re-exported here: `from stacks.spec import ...`."""

from stacks.spec.azure import AzureSpec
from stacks.spec.cloud import (
    GPU_TAINT,
    CacheSpec,
    ClusterSpec,
    DatabaseSpec,
    DatabasesSpec,
    DeployerSpec,
    EncryptionSpec,
    GpuNodePoolSpec,
    InferenceTierSpec,
    NetworkSpec,
    NodePoolSpec,
    StorageSpec,
    TaintSpec,
)
from stacks.spec.kubernetes import AccessSpec, KubernetesSpec, MonitoringSpec, ServingSpec, TeamSpec, TrainingSpec
from stacks.spec.onprem import BudgetSpec, DataServicesSpec, HardwareSpec, OnPremSpec
from stacks.spec.platform import HEALTH_RETENTION_DAYS, PlatformSpec, ResidencySpec, SpecError, TagsSpec, load_spec

__all__ = [
    "GPU_TAINT",
    "HEALTH_RETENTION_DAYS",
    "AccessSpec",
    "AzureSpec",
    "BudgetSpec",
    "CacheSpec",
    "ClusterSpec",
    "DatabaseSpec",
    "DatabasesSpec",
    "DeployerSpec",
    "DataServicesSpec",
    "EncryptionSpec",
    "GpuNodePoolSpec",
    "HardwareSpec",
    "InferenceTierSpec",
    "KubernetesSpec",
    "MonitoringSpec",
    "NetworkSpec",
    "NodePoolSpec",
    "OnPremSpec",
    "PlatformSpec",
    "ResidencySpec",
    "ServingSpec",
    "SpecError",
    "StorageSpec",
    "TagsSpec",
    "TaintSpec",
    "TeamSpec",
    "TrainingSpec",
    "load_spec",
]
