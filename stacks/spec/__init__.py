"""The environment spec (`sahab:platform`): one model per cloud over shared parts, discriminated on
`cloud` (aws when absent).

  common     what every cloud shares: name, region, residency, tags, budget, network, GPU pools, the
             Kubernetes layer (`PlatformSpecBase`), and what both clouds share (`CloudPlatformSpecBase`)
  cloud      the shared building blocks in neutral words (network, pools, storage, keys, databases)
  kubernetes the platform layer on the cluster (teams, projects, serving, training, monitoring)
  aws        `AwsPlatformSpec`: EC2 instance types, RDS/ElastiCache, EKS endpoint and IAM access
  azure      `AzurePlatformSpec`: `azure:`, one VM size per AKS pool, flexible server / Managed Redis SKUs
  onprem     `KubernetesPlatformSpec`: `onprem:`, an existing cluster
  platform   the union `PlatformSpec`, `load_spec` and `SpecError`

Every model is re-exported here: `from stacks.spec import ...`."""

from stacks.spec.aws import (
    AccessSpec,
    AwsDatabasesSpec,
    AwsEncryptionSpec,
    AwsNetworkSpec,
    AwsPlatformSpec,
    AwsStorageSpec,
    DeployerSpec,
    EksClusterSpec,
    EksGpuPoolSpec,
    EksKubernetesSpec,
    EksTierSpec,
    ElastiCacheSpec,
    RdsSpec,
)
from stacks.spec.azure import (
    AksGpuPoolSpec,
    AksKubernetesSpec,
    AksTierSpec,
    AzureDatabasesSpec,
    AzureNetworkSpec,
    AzurePlatformSpec,
    AzureSpec,
    AzureStorageSpec,
    ManagedRedisSpec,
    PostgresSpec,
)
from stacks.spec.cloud import (
    GPU_TAINT,
    CacheSpec,
    CloudGpuPoolSpec,
    ClusterSpec,
    DatabaseSpec,
    EncryptionSpec,
    GpuNodePoolSpec,
    InferenceTierSpec,
    NetworkSpec,
    NodePoolSpec,
    StorageSpec,
    TaintSpec,
    ZonedNetworkSpec,
)
from stacks.spec.common import (
    HEALTH_RETENTION_DAYS,
    BudgetSpec,
    CloudPlatformSpecBase,
    DatabasesSpec,
    PlatformSpecBase,
    ResidencySpec,
    TagsSpec,
)
from stacks.spec.kubernetes import (
    DeployedProject,
    KubernetesSpec,
    MonitoringSpec,
    ProjectBinding,
    ProjectServingOverrides,
    ProjectTrainingOverrides,
    ServingSpec,
    TeamSpec,
    TrainingSpec,
    deploy,
)
from stacks.spec.onprem import DataServicesSpec, HardwareSpec, KubernetesPlatformSpec, OnPremSpec
from stacks.spec.platform import MODELS, PLATFORM_SPEC, PlatformSpec, SpecError, load_spec

__all__ = [
    "GPU_TAINT",
    "HEALTH_RETENTION_DAYS",
    "MODELS",
    "PLATFORM_SPEC",
    "AccessSpec",
    "AksGpuPoolSpec",
    "AksKubernetesSpec",
    "AksTierSpec",
    "AwsDatabasesSpec",
    "AwsEncryptionSpec",
    "AwsNetworkSpec",
    "AwsPlatformSpec",
    "AwsStorageSpec",
    "AzureDatabasesSpec",
    "AzureNetworkSpec",
    "AzurePlatformSpec",
    "AzureSpec",
    "AzureStorageSpec",
    "BudgetSpec",
    "CacheSpec",
    "CloudGpuPoolSpec",
    "CloudPlatformSpecBase",
    "ClusterSpec",
    "DataServicesSpec",
    "DatabaseSpec",
    "DatabasesSpec",
    "DeployedProject",
    "DeployerSpec",
    "EksClusterSpec",
    "EksGpuPoolSpec",
    "EksKubernetesSpec",
    "EksTierSpec",
    "ElastiCacheSpec",
    "EncryptionSpec",
    "GpuNodePoolSpec",
    "HardwareSpec",
    "InferenceTierSpec",
    "KubernetesPlatformSpec",
    "KubernetesSpec",
    "ManagedRedisSpec",
    "MonitoringSpec",
    "NetworkSpec",
    "NodePoolSpec",
    "OnPremSpec",
    "PlatformSpec",
    "PlatformSpecBase",
    "PostgresSpec",
    "ProjectBinding",
    "ProjectServingOverrides",
    "ProjectTrainingOverrides",
    "RdsSpec",
    "ResidencySpec",
    "ServingSpec",
    "SpecError",
    "StorageSpec",
    "TagsSpec",
    "TaintSpec",
    "TeamSpec",
    "TrainingSpec",
    "ZonedNetworkSpec",
    "deploy",
    "load_spec",
]
