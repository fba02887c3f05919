"""`cloud: kubernetes`: an existing conformant cluster (k3s on a server in the customer's premises is
the reference). Only what the platform layer needs is asked for: no cluster, node pools, storage,
keys or databases of a cloud (those keys are refused); `onprem:` describes the cluster.

Nothing is created outside the cluster: PostgreSQL, Redis and the S3-compatible object store run
in it on volumes of its storage class, and every image comes from the registry the customer names.
`minimum` is the hardware the platform needs; `sahab preflight` checks it against the kubeconfig's
cluster before a long install starts, and the gate's scheduling check sizes the pods against it.
With `cloud: kubernetes`, `network.cidr` is the cluster's pod network (k3s: 10.42.0.0/16): the network
policies allow the in-cluster services there. GPU nodes are the customer's, listed as `gpu_pools`
(name, node count, labels) so training can select and tolerate them.

`onprem.api_server` and `onprem.node_cidrs` are where the cluster's own endpoints live, as its network
policies judge them: k3s's kube-router applies a pod's egress policy after kube-proxy has rewritten the
`kubernetes` Service's ClusterIP:443 to a server's node IP:6443, so the policies that let the platform's
controllers reach the API name that address and port; Prometheus scrapes the kubelets on the node
addresses (:10250). Read them from the cluster:

    kubectl get endpoints kubernetes -n default    # ENDPOINTS 10.0.0.10:6443 -> api_server {address, port}
    kubectl get nodes -o wide                      # INTERNAL-IP of every node -> node_cidrs covers them
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from components.constants import ON_PREMISES
from stacks.spec._base import Model
from stacks.spec.common import PlatformSpecBase

# Where a customer's images must not come from: public registries move code in and telemetry out.
PUBLIC_REGISTRIES = (
    "docker.io",
    "registry-1.docker.io",
    "ghcr.io",
    "quay.io",
    "registry.k8s.io",
    "k8s.gcr.io",
    "gcr.io",
    "nvcr.io",
    "public.ecr.aws",
    "mcr.microsoft.com",
)
_HOST = re.compile(r"^(?=.{1,253}(:|$))([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:\d{1,5})?$")
_PROVISIONER = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(/[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?)?$")


class HardwareSpec(Model):
    """The least the cluster must offer (allocatable, over all its nodes) for the platform to install and run."""

    nodes: int = Field(default=1, ge=1, le=1000, description="Schedulable nodes.")
    cpu_cores: int = Field(default=8, ge=4, le=100_000, description="Allocatable CPU cores, all nodes together.")
    memory_gib: int = Field(default=32, ge=16, le=1_000_000, description="Allocatable memory (GiB), all nodes together.")
    disk_gib: int = Field(default=250, ge=50, le=10_000_000, description="Ephemeral storage (GiB) the nodes report; volumes come on top.")
    gpus: int = Field(default=0, ge=0, le=1024, description="nvidia.com/gpu the nodes advertise (0: CPU-only serving and training).")


class DataServicesSpec(Model):
    """The in-cluster data services, each on a volume of the storage class."""

    postgres_storage_gib: int = Field(default=20, ge=1, le=65536, description="PostgreSQL (MLflow tracking and registry).")
    redis_storage_gib: int = Field(default=5, ge=1, le=4096, description="Redis (Feast online store), append-only file.")
    object_store_storage_gib: int = Field(default=100, ge=5, le=1_000_000, description="The S3-compatible store (data lake, features, models, audit).")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address; give the address `kubectl get endpoints kubernetes -n default` lists (e.g. 10.0.0.10)") from None
    if addr.is_loopback or addr.is_unspecified or addr.is_link_local or addr.is_multicast:
        raise ValueError(
            f"{text} is not an address pods can reach the API server at; give the server node's address from `kubectl get endpoints kubernetes -n default`"
        )
    return addr


class ApiServerSpec(Model):
    """The Kubernetes API server as pods reach it once the `kubernetes` Service is resolved: an
    endpoint of `kubectl get endpoints kubernetes -n default` (k3s: the server node's IP, port 6443)."""

    address: str = Field(description="IP address of the API server endpoint (k3s: the server node's INTERNAL-IP).")
    port: int = Field(default=6443, ge=1, le=65535, description="Port of that endpoint (k3s: 6443, or its --https-listen-port).")

    @field_validator("address")
    @classmethod
    def _ip(cls, value: str) -> str:
        return str(_address(value.strip()))


def _node_cidr(text: str) -> str:
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not a CIDR; write the nodes' addresses as CIDRs, e.g. 10.0.0.0/24 or 10.0.0.11/32") from None
    if net.prefixlen < (8 if net.version == 4 else 32):
        raise ValueError(f"{text} is wider than any node network; name the range the nodes' INTERNAL-IPs (kubectl get nodes -o wide) are in")
    if net.is_loopback or net.is_link_local or net.is_multicast:
        raise ValueError(f"{text} cannot hold the nodes' addresses; use the range of their INTERNAL-IPs (kubectl get nodes -o wide)")
    return str(net)


class OnPremSpec(Model):
    """An existing conformant cluster the platform layer is installed on."""

    kubeconfig: str = Field(default="~/.kube/config", min_length=1, description="Kubeconfig file of the cluster (k3s: /etc/rancher/k3s/k3s.yaml, copied).")
    context: str | None = Field(default=None, description="Context in the kubeconfig; default: its current-context.")
    kubernetes_version: str = Field(default="1.33", pattern=r"^1\.(2[89]|3[0-9])$", description="Minor version of the cluster (schemas, preflight minimum).")
    storage_provisioner: str = Field(
        default="rancher.io/local-path",
        description="Provisioner of the platform's StorageClass (k3s: rancher.io/local-path). Encryption at rest is the nodes' disks' (LUKS): say so in disks_encrypted.",
    )
    disks_encrypted: bool = Field(default=False, validate_default=True, description="The nodes' data disks are encrypted at rest (LUKS, SED); required: true.")
    registry_host: str = Field(description="The customer's registry, host[:port], every image is pulled from (mirrors of the charts' images too).")
    api_server: ApiServerSpec = Field(
        description="The API server endpoint pods reach once the `kubernetes` Service is resolved (kubectl get endpoints kubernetes -n default)."
    )
    node_cidrs: tuple[str, ...] = Field(
        max_length=16, description="CIDRs covering every node's INTERNAL-IP (kubectl get nodes -o wide): where the kubelets listen (:10250)."
    )
    minimum: HardwareSpec = Field(default_factory=HardwareSpec)
    data_services: DataServicesSpec = Field(default_factory=DataServicesSpec)

    @field_validator("node_cidrs")
    @classmethod
    def _node_cidrs(cls, cidrs: tuple[str, ...]) -> tuple[str, ...]:
        if not cidrs:
            raise ValueError("list at least one CIDR covering the nodes' INTERNAL-IPs (kubectl get nodes -o wide), e.g. [10.0.0.0/24]")
        return tuple(_node_cidr(c) for c in cidrs)

    @field_validator("registry_host")
    @classmethod
    def _customer_registry(cls, host: str) -> str:
        if not _HOST.match(host):
            raise ValueError("use host[:port] of your registry, e.g. registry.example.ae or 10.0.0.5:5000 (no scheme, no path)")
        name = host.split(":", 1)[0]
        if name in PUBLIC_REGISTRIES or any(name.endswith("." + p) for p in PUBLIC_REGISTRIES):
            raise ValueError(f"{name} is a public registry; name your own registry (mirror the images there, see components/kubernetes/IMAGES.md)")
        return host

    @field_validator("storage_provisioner")
    @classmethod
    def _provisioner(cls, name: str) -> str:
        if not _PROVISIONER.match(name):
            raise ValueError("a provisioner name looks like rancher.io/local-path or driver.longhorn.io")
        return name

    @field_validator("disks_encrypted")
    @classmethod
    def _encrypted(cls, value: bool) -> bool:
        if not value:
            raise ValueError("the platform keeps data at rest on the nodes' disks: encrypt them (LUKS or self-encrypting drives) and set disks_encrypted: true")
        return value


_ACCESS = (
    "IAM roles map to groups through EKS access entries; on your own cluster bind your users to the groups "
    "sahab:platform-admins / sahab:ml-engineers / sahab:auditors in its own authentication (client certificates, OIDC) instead"
)


class KubernetesPlatformSpec(PlatformSpecBase):
    """`cloud: kubernetes`: the platform layer on a cluster the customer already runs."""

    unknown_key_hints: ClassVar[dict[str, str]] = {
        "kubernetes.access": _ACCESS,
        "kubernetes.autoscaler": "an existing cluster's nodes are the customer's; nothing here scales them (remove it)",
        "cluster": "the cluster is yours: describe it under onprem: (kubeconfig, kubernetes_version); cluster admins are whoever holds the kubeconfig",
        "inference_tiers": "an existing cluster brings its own nodes; serving runs on any Linux node (remove it)",
        "gpu_pools[].instance_types": "GPU nodes are yours: list the pool's name, max_size (nodes) and labels",
    }
    missing_key_hints: ClassVar[dict[str, str]] = {
        "onprem": "cloud: kubernetes needs `onprem:` (kubeconfig, storage_class, registry_host, api_server, node_cidrs; see environments/smb-onprem)",
        "onprem.api_server": "give the API server endpoint pods reach: `kubectl get endpoints kubernetes -n default` (k3s: {address: <server node IP>, port: 6443})",
        "onprem.node_cidrs": "list CIDRs covering the nodes' INTERNAL-IPs (`kubectl get nodes -o wide`), e.g. [10.0.0.0/24]",
    }

    cloud: Literal["kubernetes"]
    onprem: OnPremSpec = Field(description="The existing cluster: kubeconfig, storage provisioner, registry, minimum hardware.")

    @field_validator("region")
    @classmethod
    def _on_premises(cls, region: str) -> str:
        if region != ON_PREMISES:
            raise ValueError(f"cloud: kubernetes runs on the customer's own cluster, not in a cloud region; allowed for kubernetes: {[ON_PREMISES]}")
        return region

    @property
    def inference_tiers(self) -> tuple[()]:
        """None: an existing cluster brings its own nodes."""
        return ()

    def problems(self) -> Iterator[str]:
        yield from super().problems()
        pods = ipaddress.ip_network(self.network.cidr, strict=False)
        for i, cidr in enumerate(self.onprem.node_cidrs):
            if ipaddress.ip_network(cidr).overlaps(pods):
                yield f"onprem.node_cidrs[{i}]: {cidr} overlaps network.cidr {self.network.cidr}, the pod network; name the nodes' own addresses (kubectl get nodes -o wide)"
        api = ipaddress.ip_address(self.onprem.api_server.address)
        if api in pods:
            yield (
                f"onprem.api_server.address: {api} is in the pod network {self.network.cidr}; give the endpoint "
                "`kubectl get endpoints kubernetes -n default` lists (k3s: the server node's address), not a pod or the Service's ClusterIP"
            )
        if self.gpu_pools and self.onprem.minimum.gpus == 0:
            yield "onprem.minimum.gpus: gpu_pools lists GPU nodes but the minimum hardware has 0 GPUs; set the GPUs the node advertises"
