"""The program: read `sahab:platform`, validate it, build the cloud layer, export what workloads need.

The cloud layer is chosen by `spec.cloud` (each cloud's spec model: stacks/spec/); each returns the
same `CloudPlatform` shape, so the Kubernetes platform layer and the stack outputs do not care which
cloud built the cluster. The outputs speak neutral words too (`keys`, `workload_identities`, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pulumi

from stacks.cloud import CloudPlatform
from stacks.kubernetes import build_kubernetes
from stacks.onprem import build_onprem
from stacks.spec import AwsPlatformSpec, AzurePlatformSpec, PlatformSpec, SpecError, load_spec

# Each cloud's Pulumi SDK is an extra (pyproject.toml): module, distribution, extra that installs it.
SDKS = {
    "aws": ("pulumi_aws", "pulumi-aws", "aws-deploy"),
    "azure": ("pulumi_azure_native", "pulumi-azure-native", "azure-deploy"),
}


@contextmanager
def cloud_sdk(cloud: str) -> Iterator[None]:
    """Stop the run naming the extra to install when the cloud layer's SDK is missing."""
    module, distribution, extra = SDKS[cloud]
    try:
        yield
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] != module:
            raise
        raise pulumi.RunError(
            f"sahab:platform.cloud: {cloud!r} needs the {distribution} SDK, which is not installed. "
            f"Fix: pip install 'sahab[{extra}]' (scripts/setup.sh installs every extra)"
        ) from None


# The cloud layers are imported on use: an AWS plan never loads pulumi-azure-native, an Azure plan
# never loads pulumi-aws, and `cloud: kubernetes` needs neither (tests/stacks/test_cloud_sdk_extras.py).
def build_aws(spec: AwsPlatformSpec) -> CloudPlatform[AwsPlatformSpec]:
    with cloud_sdk("aws"):
        from stacks.aws import build_aws as build

    return build(spec)


def build_azure(spec: AzurePlatformSpec) -> CloudPlatform[AzurePlatformSpec]:
    with cloud_sdk("azure"):
        from stacks.azure import build_azure as build

    return build(spec)


# Each builder takes its own cloud's spec model; `build` hands it the one `spec.cloud` names.
CLOUDS: dict[str, Callable[[Any], CloudPlatform[Any]]] = {"aws": build_aws, "azure": build_azure, "kubernetes": build_onprem}


def read_spec() -> PlatformSpec:
    """The validated spec, or stop the run (nothing registered) with one line per bad field."""
    raw = pulumi.Config("sahab").get_object("platform")
    if raw is None:
        raise pulumi.RunError("missing stack config `sahab:platform`; see environments/uae-central/Pulumi.uae-central.yaml for an example")
    try:
        return load_spec(raw)
    except SpecError as e:
        raise pulumi.RunError(str(e)) from None


def build(spec: PlatformSpec) -> CloudPlatform[Any]:
    if spec.cloud not in CLOUDS:
        raise pulumi.RunError(f"sahab:platform.cloud: {spec.cloud!r} is not implemented in this release; available: {sorted(CLOUDS)}")
    cloud = CLOUDS[spec.cloud](spec)
    build_kubernetes(spec, cloud)
    export(spec, cloud)
    return cloud


def export(spec: PlatformSpec, cloud: CloudPlatform[Any]) -> None:
    """Stack outputs: the names workloads read as environment variables (never hard-coded)."""
    pulumi.export("environment", spec.name)
    pulumi.export("region", cloud.region)
    pulumi.export("data_classification", spec.tags.data_classification)
    pulumi.export("cluster_name", cloud.cluster_name)
    pulumi.export("kubeconfig", pulumi.Output.secret(cloud.kubeconfig))
    pulumi.export("bucket_names", cloud.bucket_names)
    pulumi.export("keys", cloud.keys)
    pulumi.export("registry_urls", cloud.registry_urls)
    pulumi.export("registry_database_endpoint", cloud.database_endpoint)
    pulumi.export("registry_database_secret", cloud.database_secret)
    pulumi.export("online_store_endpoint", cloud.cache_endpoint)
    pulumi.export("online_store_secret", cloud.cache_secret)
    pulumi.export("workload_identities", cloud.identities)


def main() -> None:
    build(read_spec())
