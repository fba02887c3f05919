"""The neutral shape every cloud layer returns, and the adapter the Kubernetes layer asks for
everything cloud-specific.

A cloud module (`stacks/aws.py`, `stacks/azure.py`, an existing-cluster module for
`cloud: kubernetes`) builds its half of the platform and returns a `CloudPlatform`. The Kubernetes
layer (`stacks/kubernetes.py`) and the stack outputs (`stacks/platform.py`) read only this shape;
whatever differs between clusters comes from `CloudPlatform.adapter`, a `CloudAdapter`:

| concern                    | EKS (stacks/aws.py)                       | AKS (stacks/azure.py)                            |
|----------------------------|-------------------------------------------|--------------------------------------------------|
| storage class              | ebs.csi.aws.com, gp3, `kmsKeyId`          | disk.csi.azure.com, Premium, `diskEncryptionSetID` |
| load balancer annotations  | aws-load-balancer-scheme internal         | azure-load-balancer-internal                     |
| region variables           | AWS_REGION, AWS_DEFAULT_REGION            | AZURE_LOCATION                                   |
| workload identity          | EKS Pod Identity (AWS side, nothing on SA)| SA annotation client-id, pod label `use: "true"` |
| node autoscaling           | Karpenter (or cluster-autoscaler) + IAM   | AKS's managed cluster autoscaler on the pools    |
| spot interruption metrics  | with Karpenter                            | none                                             |
| cluster access             | EKS access entries for IAM roles          | Entra ID groups (cloud side, AKS `aadProfile`)   |
| node allocatable           | EC2 capacity, EKS AMI formula (offerings) | VM size capacity, AKS formula (azure_offerings)  |
| registry host              | <account>.dkr.ecr.<region>.amazonaws.com  | <name>.azurecr.io                                |
| object-store URI           | s3://<bucket>/<prefix>                    | abfss://<container>@<account>.dfs.core.windows.net/<prefix> |
| secret source              | Secrets Manager ARN                       | Key Vault secret id                              |

`cloud: kubernetes` (stacks/onprem.py, an existing cluster): the customer's storage provisioner, no
load-balancer annotations, `env:` secret sources filled from in-cluster Secrets, `s3://` URIs on the
in-cluster S3-compatible store (`ClusterCloud.workload_env` names its endpoint), the customer's
registry, no node autoscaling and no cloud identities, nodes sized by the declared hardware
(`onprem.minimum`); its data services run in the cluster (`CloudPlatform.in_cluster`).

Nothing outside an adapter asks which cloud it is: a new cloud is a new adapter, and nothing in
`components/kubernetes` or stacks/kubernetes.py changes for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import pulumi

from components.kubernetes.cloud import ClusterCloud
from stacks.capacity import Allocatable

if TYPE_CHECKING:
    from stacks.spec import PlatformSpec

SpecT = TypeVar("SpecT", bound="PlatformSpec", contravariant=True)
"""The spec model of one cloud (`AwsPlatformSpec`, ...): its adapter reads only that cloud's fields."""


class CloudAdapter(Protocol[SpecT]):
    """What the Kubernetes layer asks the cloud for. Implementations are small frozen dataclasses, each
    for its own cloud's spec (`EksAdapter` is a `CloudAdapter[AwsPlatformSpec]`)."""

    @property
    def cluster(self) -> ClusterCloud:
        """The components' view: storage class, load balancer annotations, region variables, identity wiring."""
        ...

    def object_uri(self, purpose: str, prefix: str) -> pulumi.Output[str]:
        """URI of `prefix` in the object store of `purpose` (a `components.workloads` bucket purpose)."""
        ...

    def cluster_access(self, spec: SpecT) -> None:
        """Map the spec's cloud identities to the platform's Kubernetes groups (may register cloud resources)."""
        ...

    def node_autoscaling(self, spec: SpecT, k8s_opts: pulumi.ResourceOptions) -> None:
        """Whatever scales the nodes: cloud-side identity plus in-cluster controller, or nothing in-cluster
        where the cloud runs the autoscaler itself (AKS)."""
        ...

    def interruption_metrics(self, spec: SpecT) -> bool:
        """Whether what `node_autoscaling` installs exports spot-interruption metrics (the spot alerts need them)."""
        ...

    def node_allocatable(self, machine_type: str | None) -> Allocatable | None:
        """What pods may request on one node of `machine_type` (None: any node of the cluster), after
        kube-reserved and eviction thresholds as the cloud configures its kubelets; None when unknown."""
        ...


@dataclass(frozen=True)
class CloudPlatform(Generic[SpecT]):
    """What the platform layer and the stack outputs need from a cloud layer (AWS, Azure, a cluster),
    in neutral words; the values are the cloud's own references (ARNs on AWS, resource / Key Vault
    ids and client ids on Azure, `env:` sources and in-cluster names on an existing cluster)."""

    cluster_name: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    bucket_names: pulumi.Output[dict[str, str]]
    """Bucket (AWS) or container (Azure) per purpose."""
    keys: pulumi.Output[dict[str, str]]
    """Customer-managed key per purpose (`data` encrypts volumes: KMS ARN / disk encryption set id)."""
    registry_urls: pulumi.Output[dict[str, str]]
    registry_host: pulumi.Output[str]
    database_endpoint: pulumi.Output[str]
    database_secret: pulumi.Output[str]
    """Where the registry database's credentials are read (Secrets Manager ARN / Key Vault secret id / `env:`)."""
    cache_endpoint: pulumi.Output[str]
    cache_secret: pulumi.Output[str]
    """Where the online store's password is read (as `database_secret`)."""
    identities: pulumi.Output[dict[str, str]]
    """Cloud identity per workload (IAM role ARN / user-assigned identity client id); none on an existing cluster."""
    region: str
    account_id: pulumi.Output[str]
    """AWS account id / Azure subscription id."""
    provider: pulumi.ProviderResource | None
    """The cloud layer's provider (region-pinned, default tags): later layers reuse it. None without a cloud."""
    adapter: CloudAdapter[SpecT]
    """Everything cloud-specific the Kubernetes layer needs."""
    kube_context: str | None = None
    """Context of `kubeconfig` to use (an existing cluster's kubeconfig may hold several); None: its current one."""
    in_cluster: tuple[Callable[[SpecT, pulumi.ResourceOptions], None], ...] = ()
    """What the cloud layer runs inside the cluster once the platform namespaces exist (called with the
    Kubernetes provider, after tenancy): an existing cluster's PostgreSQL, Redis and object store. Empty on EKS/AKS."""
