"""The program: read `sahab:platform`, validate it, build the cloud layer, export what workloads need.

The cloud layer is chosen by `spec.cloud`; each returns the same `CloudPlatform` shape, so the
Kubernetes platform layer and the stack outputs do not care which cloud built the cluster.
"""

from __future__ import annotations

import pulumi

from stacks.aws import build_aws
from stacks.cloud import CloudPlatform
from stacks.kubernetes import build_kubernetes
from stacks.onprem import build_onprem
from stacks.spec import PlatformSpec, SpecError, load_spec


def build_azure(spec: PlatformSpec) -> CloudPlatform:
    # Imported on use: pulumi-azure-native's modules are large, and AWS plans never need them.
    from stacks.azure import build_azure as build

    return build(spec)


CLOUDS = {"aws": build_aws, "azure": build_azure, "kubernetes": build_onprem}


def read_spec() -> PlatformSpec:
    """The validated spec, or stop the run (nothing registered) with one line per bad field."""
    raw = pulumi.Config("sahab").get_object("platform")
    if raw is None:
        raise pulumi.RunError("missing stack config `sahab:platform`; see environments/uae-central/Pulumi.uae-central.yaml for an example")
    try:
        return load_spec(raw)
    except SpecError as e:
        raise pulumi.RunError(str(e)) from None


def build(spec: PlatformSpec) -> CloudPlatform:
    if spec.cloud not in CLOUDS:
        raise pulumi.RunError(f"sahab:platform.cloud: {spec.cloud!r} is not implemented in this release; available: {sorted(CLOUDS)}")
    cloud = CLOUDS[spec.cloud](spec)
    build_kubernetes(spec, cloud)
    export(spec, cloud)
    return cloud


def export(spec: PlatformSpec, cloud: CloudPlatform) -> None:
    """Stack outputs: the names workloads read as environment variables (never hard-coded)."""
    pulumi.export("environment", spec.name)
    pulumi.export("region", cloud.region)
    pulumi.export("data_classification", spec.tags.data_classification)
    pulumi.export("cluster_name", cloud.cluster_name)
    pulumi.export("kubeconfig", pulumi.Output.secret(cloud.kubeconfig))
    pulumi.export("bucket_names", cloud.bucket_names)
    pulumi.export("key_arns", cloud.key_arns)
    pulumi.export("registry_urls", cloud.registry_urls)
    pulumi.export("registry_database_endpoint", cloud.database_endpoint)
    pulumi.export("registry_database_secret_arn", cloud.database_secret_arn)
    pulumi.export("online_store_endpoint", cloud.cache_endpoint)
    pulumi.export("online_store_secret_arn", cloud.cache_secret_arn)
    pulumi.export("workload_role_arns", cloud.role_arns)


def main() -> None:
    build(read_spec())
