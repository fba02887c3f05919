"""The Kubernetes platform layer: one ComponentResource per concern, on any cluster's provider."""

from components.kubernetes.autoscaling import AutoscalingArgs, GpuPoolSpec, NodeAutoscaling
from components.kubernetes.drift import DriftMonitor, DriftMonitorArgs
from components.kubernetes.feast import FeatureStore, FeatureStoreArgs
from components.kubernetes.gpu import GpuSupport, GpuSupportArgs
from components.kubernetes.mlflow import Mlflow, MlflowArgs
from components.kubernetes.monitoring import Monitoring, MonitoringArgs
from components.kubernetes.project import ProjectRef
from components.kubernetes.serving import Serving, ServingArgs
from components.kubernetes.tenancy import NamespaceSpec, Tenancy, TenancyArgs
from components.kubernetes.training import Training, TrainingArgs

__all__ = [
    "AutoscalingArgs",
    "DriftMonitor",
    "DriftMonitorArgs",
    "FeatureStore",
    "FeatureStoreArgs",
    "GpuPoolSpec",
    "GpuSupport",
    "GpuSupportArgs",
    "Mlflow",
    "MlflowArgs",
    "Monitoring",
    "MonitoringArgs",
    "NamespaceSpec",
    "NodeAutoscaling",
    "ProjectRef",
    "Serving",
    "ServingArgs",
    "Tenancy",
    "TenancyArgs",
    "Training",
    "TrainingArgs",
]
