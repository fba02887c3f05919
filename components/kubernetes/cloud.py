"""What the platform layer needs to know about the cloud under the cluster, in one value.

The stack's cloud adapter (stacks/cloud.py) builds a `ClusterCloud` and hands it to the components,
which never branch on the cloud themselves: the storage class's CSI driver and its key parameter,
the load balancer's annotations, the environment variables naming the region, the workload
identity wiring (service-account annotations and pod labels), the online store's Redis port and
secret field, and Feast's store mode (`aws`: s3://, `azure`: abfss://). Every component takes it as a
required argument: none assumes a cloud, so a forgotten one fails instead of rendering another
cloud's settings. `EKS` is the EKS adapter's value (stacks/aws.py); AKS's and an existing cluster's
are built by their adapters (stacks/azure.py, stacks/onprem.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi

AB_REDIS_PREFIX = "sahab:ab:"
"""Prefix of every A/B state key in the platform's Redis; a project's keys continue with `<project>:` (ab_state_env)."""


@dataclass(frozen=True, kw_only=True)
class ClusterCloud:
    name: str
    """`eks`, `aks` or `kubernetes` (an existing cluster)."""
    storage_provisioner: str
    """CSI driver of the encrypted default storage class."""
    storage_parameters: Mapping[str, str]
    """StorageClass parameters other than the key."""
    storage_key_parameter: str | None
    """Parameter that takes the volume key (`kmsKeyId`, `diskEncryptionSetID`); None: the driver has none."""
    internal_lb_annotations: Mapping[str, str]
    """Service annotations that make a LoadBalancer internal."""
    public_lb_annotations: Mapping[str, str]
    """Service annotations of an explicitly public LoadBalancer."""
    region_variables: tuple[str, ...]
    """Environment variables set to the region in every workload container (SDK defaults)."""
    service_account_annotations: Mapping[str, Mapping[str, pulumi.Input[str]]] = field(default_factory=dict)
    """Per service account name: annotations binding it to its cloud identity (Azure: client id)."""
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels on every workload pod that uses a cloud identity (Azure: `azure.workload.identity/use`)."""
    workload_env: Mapping[str, Any] = field(default_factory=dict)
    """More environment of every workload container (values, or `{"valueFrom": ...}` Secret keys): an existing
    cluster's in-cluster object store endpoint and credentials; AKS: the data account's name. Empty on EKS."""
    kubernetes_groups: Mapping[str, str] = field(default_factory=dict)
    """Kubernetes group per platform role (`platform-admin`, ...) where the cloud's identities name
    their own groups (AKS with Entra ID: the group's object id). Empty: the platform's group names,
    which EKS access entries map IAM roles to."""
    gpu_node_tolerations: tuple[dict[str, str], ...] = ()
    """Tolerations, beyond the GPU taint, of pods that must run on GPU nodes (AKS spot pools carry
    `kubernetes.azure.com/scalesetpriority=spot:NoSchedule`). Empty on EKS."""
    redis_port: int = 6379
    """Port of the online store's Redis (TLS): ElastiCache and the in-cluster Redis 6379, Azure Managed
    Redis 10000 (components/azure/data_services.py REDIS_PORT)."""
    redis_secret_field: str = "value"
    """Field of the online store's secret that holds the Redis password, as scripts/with_secrets.py names
    it: `value` for a plain-string secret (Secrets Manager, in-cluster), `password` for the JSON one
    components/azure/data_services.py writes to Key Vault."""
    https_outside_vpc: bool = False
    """Whether workloads need HTTPS to addresses outside the VPC that no CIDR names (S3's gateway endpoint,
    Entra ID's token endpoint): a notebook's egress then keeps HTTPS to any address but IMDS (notebooks.py)."""
    pod_identity_agent: bool = False
    """Whether pods get their cloud credentials from the EKS Pod Identity agent (a link-local address)."""
    api_server_cidrs: tuple[str, ...] = ()
    """Where the network policies see the Kubernetes API server, with `api_server_port`: after the `kubernetes`
    Service's DNAT, as kube-router judges egress (an existing k3s cluster: the server node's IP/32, port 6443).
    Empty: the baseline's HTTPS to any address reaches it (EKS: the control plane's ENIs in the VPC, 443), or,
    with `cilium`, a CiliumNetworkPolicy does."""
    api_server_port: int = 443
    """Port of the API server's endpoint (k3s 6443; EKS, and AKS's VNet-integrated API server, 443)."""
    node_cidrs: tuple[str, ...] = ()
    """Where the kubelets listen (Prometheus scrapes them on 10250): an existing cluster's `onprem.node_cidrs`.
    Empty: the VPC's CIDR (the nodes' subnets are in it)."""
    cilium: bool = False
    """Cilium enforces the network policies (AKS: Azure CNI powered by Cilium). Its `ipBlock` never matches the
    API server or a node, so those flows are CiliumNetworkPolicies with `toEntities` (components/kubernetes/api_access.py)."""
    feast_mode: Literal["aws", "azure"] = "aws"
    """`SAHAB_FEAST_MODE` of the features workload (workloads/settings.py FeatureStoreSettings): `aws` reads
    an s3:// offline store (EKS, and an existing cluster's S3-compatible store), `azure` an abfss:// one."""
    privacy_wrapping: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """The key that wraps the environment's tokenisation key, as workloads/privacy/keys.py PrivacySettings reads
    it: EKS `SAHAB_PRIVACY_KMS_KEY` (the data key), AKS `SAHAB_PRIVACY_VAULT_KEY` (the vault's tokenisation key
    URL). Empty (an existing cluster): no SAHAB_PRIVACY_* at all, the workloads keep SAHAB_HOME's key file."""

    def storage_class_parameters(self, key: pulumi.Input[str] | None) -> dict[str, pulumi.Input[str]]:
        params: dict[str, pulumi.Input[str]] = dict(self.storage_parameters)
        if self.storage_key_parameter:
            if key is None:
                raise ValueError(f"volume_key: the {self.name} storage class needs a key for `{self.storage_key_parameter}`")
            params[self.storage_key_parameter] = key
        return params

    def region_env(self, region: str) -> dict[str, Any]:
        """The environment every workload container gets from the cloud: the region variables and `workload_env`."""
        return {**{variable: region for variable in self.region_variables}, **self.workload_env}

    def ab_state_env(self, project: str, redis_secret: pulumi.Input[str], redis_endpoint: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
        """Where a project's A/B experiment state lives in the platform's Redis, for serving, its retrain
        Job, its pipeline and its monitoring job alike: the project's key prefix (one project's
        experiments apart from another's; ids hash the model name too) and the Redis URL that
        with_secrets.py builds from the cache secret (`redis_secret_field`) at start."""
        return {
            "SAHAB_SERVING_AB_REDIS_PREFIX": f"{AB_REDIS_PREFIX}{project}:",
            "SAHAB_SECRET_ENV": pulumi.Output.json_dumps(
                {
                    "SAHAB_SERVING_AB_REDIS_URL": {
                        "arn": redis_secret,
                        "template": pulumi.Output.format("rediss://:{{" + self.redis_secret_field + "_url}}@{0}:{1}/0", redis_endpoint, self.redis_port),
                    }
                }
            ),
        }

    def privacy_env(self, key_uri: pulumi.Input[str], environment: str) -> dict[str, pulumi.Input[str]]:
        """Where a project's pods find the environment's tokenisation key: one wrapped object per environment
        (`key_uri`), the key that wraps it and the environment's name (in the encryption context). Nothing
        where the cloud has no wrapping key (`privacy_wrapping` empty): a remote object needs one."""
        if not self.privacy_wrapping:
            return {}
        return {"SAHAB_PRIVACY_KEY_URI": key_uri, "SAHAB_PRIVACY_ENVIRONMENT": environment, **self.privacy_wrapping}

    def account_annotations(self, account: str) -> dict[str, pulumi.Input[str]]:
        return dict(self.service_account_annotations.get(account, {}))

    def feast_env(self, offline_uri: pulumi.Input[str], region: str) -> dict[str, pulumi.Input[str]]:
        """The features workload's store mode and offline store URI: aws mode keeps the old spelling
        `SAHAB_FEAST_S3_URI` (EKS and on-prem render what they always did), azure mode `SAHAB_FEAST_URI`
        and the region too (FeatureStoreSettings' default region is an AWS one)."""
        if self.feast_mode == "aws":
            return {"SAHAB_FEAST_MODE": "aws", "SAHAB_FEAST_S3_URI": offline_uri}
        return {"SAHAB_FEAST_MODE": self.feast_mode, "SAHAB_FEAST_URI": offline_uri, "SAHAB_FEAST_REGION": region}


EKS = ClusterCloud(
    name="eks",
    storage_provisioner="ebs.csi.aws.com",
    storage_parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
    storage_key_parameter="kmsKeyId",
    internal_lb_annotations={
        # In-tree controller (Classic LB) and AWS Load Balancer Controller (NLB) spellings of "internal".
        "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    },
    public_lb_annotations={"service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"},
    # EKS Pod Identity binds roles to service accounts on the AWS side: nothing to annotate.
    region_variables=("AWS_REGION", "AWS_DEFAULT_REGION"),
    https_outside_vpc=True,
    pod_identity_agent=True,
)
